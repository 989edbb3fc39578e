"""Upload while writing, on real sftp (OpenSSH on loopback), the vfs without
the kernel: a file written in order reaches the server before close; any
other change stops that upload and close() still leaves exactly the local
bytes on the server."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any, Awaitable, Callable

import pytest
import trio

from tests.conftest import SFTP_PROPS, Runner
from tests.servers.sshd import SshServer
from tests.test_vfs_calls import CountingRemote
from xenonfs.client import PasswordCredential
from xenonfs.backends.engine import EngineRemote
from xenonfs.backends.sftp import SftpRemote
from xenonfs.vfs.cache import FileCache
from xenonfs.vfs.core import Vfs
from xenonfs.vfs.inodes import ROOT_INODE

MiB = 1 << 20


class Writer:
    """Writes through the vfs and into a reference copy at once."""

    def __init__(self, vfs: Vfs, fh: int, ref: bytearray) -> None:
        self.vfs, self.fh, self.ref = vfs, fh, ref

    async def at(self, offset: int, data: bytes) -> None:
        assert await self.vfs.write(self.fh, offset, data) == len(data)
        self.ref[len(self.ref):offset] = bytes(max(0, offset - len(self.ref)))
        self.ref[offset:offset + len(data)] = data

    async def append(self, nbytes: int) -> None:
        """Write ``nbytes`` of fresh random data at the end, 1 MiB at a time."""
        while nbytes > 0:
            n = min(nbytes, MiB)
            await self.at(len(self.ref), os.urandom(n))
            nbytes -= n
            await trio.sleep(0)


async def on_server(path: Path, pred: Callable[[int | None], bool], what: str) -> None:
    """Wait (10 s at most) until ``pred`` holds for the server file's size."""
    with trio.move_on_after(10):
        while True:
            size = path.stat().st_size if path.exists() else None
            if pred(size):
                return
            await trio.sleep(0.01)
    raise AssertionError(f"{path}: {what} (size now {size})")


def sends(remote: CountingRemote) -> int:
    """Returns: uploads of a whole file, and sends of its changed ranges."""
    return remote.counts.get("upload", 0) + remote.counts.get("write_ranges", 0)


Body = Callable[[Vfs, CountingRemote, Path], Awaitable[Any]]


@pytest.fixture(params=["engine", "native"])
def run(request: pytest.FixtureRequest, engine: Runner, sshd: SshServer,
        tmp_path: Path) -> Callable[[Body], Any]:
    """Runs ``body(vfs, remote, server_dir)`` on a vfs over a fresh directory
    on the sftp server (the engine's or the native backend), uploading while
    writing after 1 MiB."""
    server_dir = sshd.home / f"early-{uuid.uuid4().hex[:8]}"

    def runner(body: Body) -> Any:
        async def main() -> Any:
            client = engine.client
            fs = await client.create_file_system("sftp", sshd.location, SFTP_PROPS,
                                                 PasswordCredential(sshd.user, sshd.password))
            await fs.create_directory(str(server_dir))
            description = await client.get_file_system_adaptor_description("sftp")
            real: Any = EngineRemote(client, fs, str(server_dir), description)
            if request.param == "native":
                real = await SftpRemote.connect("127.0.0.1", sshd.port, sshd.user,
                                                str(server_dir), sshd.password, strict=False)
            remote = CountingRemote(real)
            cache = FileCache(tmp_path / "cache", 1 << 30)
            cache.load()
            try:
                async with trio.open_nursery() as nursery:
                    vfs = Vfs(remote, cache, nursery, attr_timeout=60, dir_timeout=60,  # type: ignore[arg-type]
                              early_after=MiB)
                    result = await body(vfs, remote, server_dir)
                    nursery.cancel_scope.cancel()
                    return result
            finally:
                await real.close()
                await fs.delete(str(server_dir), recursive=True)
                await fs.close()
        return engine(main)
    return runner


async def start(vfs: Vfs, name: str, server_dir: Path, nbytes: int) -> tuple[Writer, Any]:
    """Create ``name``, write ``nbytes`` in order, and wait until its upload
    while writing has bytes on the server (the file is still open).

    Returns: (the writer, the cache entry)."""
    fh, _ = await vfs.create(ROOT_INODE, name, 0o644, os.O_WRONLY)
    writer = Writer(vfs, fh, bytearray())
    await writer.append(nbytes)
    entry = vfs.cache.entries["/" + name]
    assert entry.early is not None, "no upload while writing started"
    await on_server(server_dir / name, lambda size: bool(size), "no bytes before close")
    return writer, entry


async def close(vfs: Vfs, writer: Writer) -> None:
    await vfs.flush(writer.fh)
    await vfs.release(writer.fh)


def test_a_file_written_in_order_is_on_the_server_before_close(run) -> None:
    async def body(vfs: Vfs, remote: CountingRemote, server_dir: Path) -> None:
        writer, entry = await start(vfs, "f.bin", server_dir, 24 * MiB)
        await writer.append(40 * MiB)
        await close(vfs, writer)
        assert (server_dir / "f.bin").read_bytes() == writer.ref
        assert not entry.dirty and entry.early is None
        # The upload begun while writing was the only one: close() sent no second.
        assert sends(remote) == 1, remote.counts
    run(body)


def test_a_write_before_the_end_stops_it_and_close_uploads_whole(run) -> None:
    async def body(vfs: Vfs, remote: CountingRemote, server_dir: Path) -> None:
        writer, entry = await start(vfs, "f.bin", server_dir, 32 * MiB)
        early = entry.early
        await writer.at(0, b"HEADER")  # as a format that fills in its header last
        assert entry.early is None and early.done.is_set()
        await writer.append(8 * MiB)
        await close(vfs, writer)
        assert (server_dir / "f.bin").read_bytes() == writer.ref
        assert sends(remote) == 2, remote.counts
    run(body)


def test_a_truncate_stops_it(run) -> None:
    async def body(vfs: Vfs, remote: CountingRemote, server_dir: Path) -> None:
        writer, entry = await start(vfs, "f.bin", server_dir, 32 * MiB)
        await vfs.setattr(vfs.inodes.ino("/f.bin"), size=10 * MiB, fh=writer.fh)
        del writer.ref[10 * MiB:]
        assert entry.early is None
        await writer.append(5 * MiB)
        await close(vfs, writer)
        assert (server_dir / "f.bin").read_bytes() == writer.ref
    run(body)


def test_a_rename_stops_it_and_the_bytes_land_under_the_new_name(run) -> None:
    async def body(vfs: Vfs, remote: CountingRemote, server_dir: Path) -> None:
        writer, entry = await start(vfs, "f.bin", server_dir, 32 * MiB)
        await vfs.rename(ROOT_INODE, "f.bin", ROOT_INODE, "g.bin")
        assert entry.early is None
        await writer.append(8 * MiB)
        await close(vfs, writer)
        assert not (server_dir / "f.bin").exists()
        assert (server_dir / "g.bin").read_bytes() == writer.ref
    run(body)


def test_an_unlink_stops_it_and_nothing_comes_back(run) -> None:
    async def body(vfs: Vfs, remote: CountingRemote, server_dir: Path) -> None:
        writer, entry = await start(vfs, "f.bin", server_dir, 32 * MiB)
        await vfs.unlink(ROOT_INODE, "f.bin")
        assert entry.early is None
        await writer.append(MiB)
        await close(vfs, writer)
        # Unlinked before it had enough to start one: none starts after.
        fh, _ = await vfs.create(ROOT_INODE, "g.bin", 0o644, os.O_WRONLY)
        writer = Writer(vfs, fh, bytearray())
        await writer.append(MiB // 2)
        g = vfs.cache.entries["/g.bin"]
        await vfs.unlink(ROOT_INODE, "g.bin")
        await writer.append(4 * MiB)
        assert g.early is None
        await close(vfs, writer)
        await trio.sleep(0.5)
        assert not (server_dir / "f.bin").exists()
        assert not (server_dir / "g.bin").exists()
    run(body)


def test_an_upload_that_caught_up_with_a_slow_writer_is_redone_whole(run, request) -> None:
    """Over an older file of the same size: a short upload must not pass for
    a whole one (the size check alone would see the old file's size). The
    native backend does not stop at the end: it waits there for the writer."""
    native = request.node.callspec.params["run"] == "native"

    async def body(vfs: Vfs, remote: CountingRemote, server_dir: Path) -> None:
        old = os.urandom(8 * MiB)
        (server_dir / "h.bin").write_bytes(old)
        owner = server_dir.stat()
        os.chown(server_dir / "h.bin", owner.st_uid, owner.st_gid)
        ino = (await vfs.lookup(ROOT_INODE, "h.bin")).ino
        fh, _ = await vfs.open(ino, os.O_WRONLY | os.O_TRUNC)
        writer = Writer(vfs, fh, bytearray())
        await writer.append(2 * MiB)
        entry = vfs.cache.entries["/h.bin"]
        early = entry.early
        assert early is not None
        if native:
            await on_server(server_dir / "h.bin", lambda size: size == 2 * MiB, "no 2 MiB")
            await trio.sleep(0.2)
            assert not early.done.is_set()  # waiting at the end for more
        else:
            await early.done.wait()  # it read to the end there: the writer was slower
            assert early.finished and early.copied == 2 * MiB
        await writer.append(6 * MiB)
        await close(vfs, writer)
        assert (server_dir / "h.bin").read_bytes() == writer.ref != old
        assert sends(remote) == (1 if native else 2), remote.counts
    run(body)


def test_a_small_file_and_one_changed_in_place_do_not_upload_while_written(run) -> None:
    async def body(vfs: Vfs, remote: CountingRemote, server_dir: Path) -> None:
        fh, attr = await vfs.create(ROOT_INODE, "small", 0o644, os.O_WRONLY)
        writer = Writer(vfs, fh, bytearray())
        await writer.append(MiB - 1)
        assert vfs.cache.entries["/small"].early is None
        await close(vfs, writer)
        # Opened without O_TRUNC and changed at its start: not in order.
        fh, _ = await vfs.open(attr.ino, os.O_WRONLY)
        writer = Writer(vfs, fh, bytearray((server_dir / "small").read_bytes()))
        await writer.at(0, b"new start")
        await writer.append(4 * MiB)
        assert vfs.cache.entries["/small"].early is None
        await close(vfs, writer)
        assert (server_dir / "small").read_bytes() == writer.ref
        assert sends(remote) == 2, remote.counts
    run(body)
