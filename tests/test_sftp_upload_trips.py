"""The native sftp backend's small-file path on a real sshd: a small file's
bytes, times, stat and close go out together (one round trip), what goes out
behind writes still lands after them (times, size) for files of any size, and
a create in a directory made here does not wait for the server (its failure
is reported by the close)."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator

import pytest
import trio

from tests.servers.sshd import SshServer
from tests.test_crash_recovery import _descendants
from xenonfs.backends.sftp import SftpRemote
from xenonfs.vfs.cache import FileCache
from xenonfs.vfs.core import Vfs
from xenonfs.vfs.inodes import ROOT_INODE

MTIME_NS = 1_500_000_000 * 10**9  # 2017: far from now, so a later write would show


def _record(remote: SftpRemote, events: list[str]) -> None:
    """Log each SFTP request sent ("S") and answer read ("R") on the
    backend's connection (asyncssh's client handler, patched on the
    instance)."""
    handler: Any = remote._sftp._handler  # type: ignore[union-attr]
    send, process = handler._send_request, handler._process_packet

    def sent(*args: Any) -> Any:
        events.append("S")
        return send(*args)

    async def answered(*args: Any) -> Any:
        events.append("R")
        return await process(*args)
    handler._send_request, handler._process_packet = sent, answered


@contextmanager
def _frozen(sshd: SshServer) -> Iterator[None]:
    """The test sshd and its sessions SIGSTOPped (by PID) for the block:
    requests are taken by the kernel and not answered until it ends."""
    master = int((sshd.workdir / "sshd.pid").read_text())
    pids = [master, *_descendants(master)]
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


def _vfs_run(sshd: SshServer, tmp_path: Path, server_dir: Path,
             body: Callable[[Vfs, SftpRemote], Awaitable[Any]]) -> Any:
    """Returns: what ``body(vfs, remote)`` returned, on a vfs over
    ``server_dir`` through the native backend."""
    async def main() -> Any:
        remote = await SftpRemote.connect("127.0.0.1", sshd.port, sshd.user, str(server_dir),
                                          sshd.password, strict=False)
        cache = FileCache(tmp_path / "cache", 1 << 30)
        cache.load()
        try:
            async with trio.open_nursery() as nursery:
                vfs = Vfs(remote, cache, nursery, attr_timeout=60, dir_timeout=60)
                result = await body(vfs, remote)
                nursery.cancel_scope.cancel()
                return result
        finally:
            await remote.close()
    return trio.run(main)


def _server_dir(sshd: SshServer) -> Path:
    server_dir = sshd.home / f"trips-{uuid.uuid4().hex[:8]}"
    server_dir.mkdir()
    shutil.chown(server_dir, sshd.user, sshd.user)
    return server_dir


def _upload(sshd: SshServer, tmp_path: Path, data: bytes, events: list[str]) -> os.stat_result:
    """Write ``data`` to a new file through a vfs over the native backend, set
    its mtime before the close (as tar does), close it; ``events`` gets the
    requests and answers from the setattr on.

    Returns: the file's stat on the server's disk."""
    server_dir = _server_dir(sshd)

    async def body(vfs: Vfs, remote: SftpRemote) -> None:
        fh, attr = await vfs.create(ROOT_INODE, "f.bin", 0o644, os.O_WRONLY)
        for off in range(0, len(data), 1 << 20):
            await vfs.write(fh, off, data[off:off + (1 << 20)])
        _record(remote, events)
        await vfs.setattr(attr.ino, fh=fh, mtime_ns=MTIME_NS)
        await vfs.flush(fh)
        await vfs.release(fh)
    _vfs_run(sshd, tmp_path, server_dir, body)
    try:
        assert (server_dir / "f.bin").read_bytes() == data
        return (server_dir / "f.bin").stat()
    finally:
        shutil.rmtree(server_dir, ignore_errors=True)


def test_a_small_file_is_uploaded_in_one_round_trip(sshd: SshServer, tmp_path: Path) -> None:
    events: list[str] = []
    st = _upload(sshd, tmp_path, os.urandom(3000), events)
    assert st.st_mtime_ns == MTIME_NS
    first = events.index("S")
    # write, setstat (times), fstat, close: all sent before the first answer.
    sends = events[first:].count("S")
    assert sends >= 4, events
    assert events[first:first + sends] == ["S"] * sends, events


def test_a_create_sends_its_mode_in_its_open(sshd: SshServer, tmp_path: Path) -> None:
    # The open carries the mode: no chmod of its own (a request less per
    # file for tar x), and the file has its mode from the start (0600: never
    # world-readable, not even before the upload).
    server_dir = _server_dir(sshd)
    events: list[str] = []

    async def body(vfs: Vfs, remote: SftpRemote) -> int:
        _record(remote, events)
        fh, _ = await vfs.create(ROOT_INODE, "key", 0o600, os.O_WRONLY)
        mode = (server_dir / "key").stat().st_mode & 0o7777
        await vfs.write(fh, 0, b"secret\n")
        await vfs.flush(fh)
        await vfs.release(fh)
        return mode
    try:
        mode = _vfs_run(sshd, tmp_path, server_dir, body)
        assert mode == 0o600
        assert (server_dir / "key").stat().st_mode & 0o7777 == 0o600
        # The open and its fstat (the atime as created), then write, fstat, close.
        assert events.count("S") == 5, events
    finally:
        shutil.rmtree(server_dir, ignore_errors=True)


@pytest.mark.parametrize("mib", [1, 40])
def test_what_follows_the_writes_lands_after_them(sshd: SshServer, tmp_path: Path,
                                                  mib: int) -> None:
    # 40 MiB: more writes than are in flight at once (64 of 255 KiB).
    data = os.urandom(mib << 20)
    st = _upload(sshd, tmp_path, data, [])
    assert st.st_size == len(data)
    assert st.st_mtime_ns == MTIME_NS


def test_a_create_in_a_directory_made_here_does_not_wait_for_the_server(
        sshd: SshServer, tmp_path: Path) -> None:
    server_dir = _server_dir(sshd)

    async def body(vfs: Vfs, remote: SftpRemote) -> None:
        d = await vfs.mkdir(ROOT_INODE, "d", 0o755)
        with _frozen(sshd), trio.fail_after(5):  # it would wait until the server is back
            fh, _ = await vfs.create(d.ino, "f.txt", 0o600, os.O_WRONLY)
        await vfs.write(fh, 0, b"made here\n")
        await vfs.flush(fh)
        await vfs.release(fh)
    try:
        _vfs_run(sshd, tmp_path, server_dir, body)
        f = server_dir / "d" / "f.txt"
        assert f.read_bytes() == b"made here\n"
        assert f.stat().st_mode & 0o777 == 0o600
    finally:
        shutil.rmtree(server_dir, ignore_errors=True)


def test_a_create_that_the_server_refuses_later_fails_at_close(sshd: SshServer,
                                                                tmp_path: Path) -> None:
    server_dir = _server_dir(sshd)

    async def body(vfs: Vfs, remote: SftpRemote) -> tuple[int | None, bytes]:
        d = await vfs.mkdir(ROOT_INODE, "d", 0o755)
        os.chmod(server_dir / "d", 0o555)  # behind the mount's back
        fh, _ = await vfs.create(d.ino, "f.txt", 0o644, os.O_WRONLY)
        await vfs.write(fh, 0, b"keep me\n")
        try:
            await vfs.flush(fh)
        except OSError as exc:
            code = exc.errno
        else:
            code = None
        await vfs.release(fh)
        entry = vfs.cache.entries["/d/f.txt"]
        return code, entry.data.read_bytes() if entry.dirty else b""
    try:
        code, kept = _vfs_run(sshd, tmp_path, server_dir, body)
        assert code == errno.EACCES
        assert kept == b"keep me\n"  # still dirty in the cache
        assert not (server_dir / "d" / "f.txt").exists()
    finally:
        os.chmod(server_dir / "d", 0o755)
        shutil.rmtree(server_dir, ignore_errors=True)


def test_a_chmod_right_after_a_create_here_is_not_undone_by_its_mode(sshd: SshServer,
                                                                     tmp_path: Path) -> None:
    # install(1), ssh-keygen, mktemp: create 0644, then fchmod 0600 at once.
    # The server is frozen meanwhile, so the chmod goes out before the open
    # is answered (the create's own mode must not be sent after it).
    server_dir = _server_dir(sshd)

    async def body(vfs: Vfs, remote: SftpRemote) -> None:
        d = await vfs.mkdir(ROOT_INODE, "d", 0o755)
        async with trio.open_nursery() as nursery:
            with _frozen(sshd):
                with trio.fail_after(5):
                    fh, attr = await vfs.create(d.ino, "key", 0o644, os.O_WRONLY)
                nursery.start_soon(lambda: vfs.setattr(attr.ino, mode=0o600, fh=fh))
                await trio.sleep(0.5)  # the chmod is sent, not answered
        await vfs.write(fh, 0, b"secret\n")
        await vfs.flush(fh)
        await vfs.release(fh)
    try:
        _vfs_run(sshd, tmp_path, server_dir, body)
        assert (server_dir / "d" / "key").stat().st_mode & 0o777 == 0o600
    finally:
        shutil.rmtree(server_dir, ignore_errors=True)


def test_the_create_mode_holds_when_the_server_file_lost_it_before_the_upload(
        sshd: SshServer, tmp_path: Path) -> None:
    # As when the upload had to create the file itself (its create's open
    # failed, or its connection was replaced): the server's default mode.
    server_dir = _server_dir(sshd)

    async def body(vfs: Vfs, remote: SftpRemote) -> None:
        fh, _ = await vfs.create(ROOT_INODE, "key", 0o600, os.O_WRONLY)
        await vfs.write(fh, 0, b"secret\n")
        os.chmod(server_dir / "key", 0o644)  # behind the mount's back
        await vfs.flush(fh)
        await vfs.release(fh)
    try:
        _vfs_run(sshd, tmp_path, server_dir, body)
        assert (server_dir / "key").stat().st_mode & 0o777 == 0o600
    finally:
        shutil.rmtree(server_dir, ignore_errors=True)


def test_a_file_that_never_reached_the_server_can_be_removed_and_stays_removed(
        sshd: SshServer, tmp_path: Path) -> None:
    server_dir = _server_dir(sshd)

    async def body(vfs: Vfs, remote: SftpRemote) -> tuple[list[str], bool]:
        d = await vfs.mkdir(ROOT_INODE, "d", 0o755)
        os.chmod(server_dir / "d", 0o555)  # behind the mount's back: the create fails there
        fh, _ = await vfs.create(d.ino, "f.txt", 0o644, os.O_WRONLY)
        await vfs.write(fh, 0, b"x\n")
        with pytest.raises(OSError):
            await vfs.flush(fh)  # the close says so
        await vfs.release(fh)
        await vfs.unlink(d.ino, "f.txt")  # was ENOENT, and the file stayed dirty
        os.chmod(server_dir / "d", 0o755)
        return await vfs.upload_closed_dirty(), "/d/f.txt" in vfs.cache.entries
    try:
        still_dirty, cached = _vfs_run(sshd, tmp_path, server_dir, body)
        assert still_dirty == [] and not cached
        assert not (server_dir / "d" / "f.txt").exists()  # not brought back by a retry
    finally:
        os.chmod(server_dir / "d", 0o755)
        shutil.rmtree(server_dir, ignore_errors=True)


@pytest.fixture
def full_server_dir(sshd: SshServer) -> Iterator[Path]:
    """A 256 KiB tmpfs as a directory of the test user on the server
    (unmounted at the end)."""
    where = _server_dir(sshd)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(where)], check=True)
    try:
        shutil.chown(where, sshd.user, sshd.user)
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)
        shutil.rmtree(where, ignore_errors=True)


def test_a_failed_write_does_not_get_the_times_of_the_finished_file(
        sshd: SshServer, tmp_path: Path, full_server_dir: Path) -> None:
    # The times go out behind the writes; on a full server disk the writes
    # fail and the times would not: a short file with the original mtime.
    async def body(vfs: Vfs, remote: SftpRemote) -> int | None:
        fh, attr = await vfs.create(ROOT_INODE, "big.bin", 0o644, os.O_WRONLY)
        await vfs.write(fh, 0, os.urandom(1 << 20))
        try:
            # tar sets the times before the close: the bytes go out with them.
            await vfs.setattr(attr.ino, fh=fh, mtime_ns=MTIME_NS)
            await vfs.flush(fh)
        except OSError as exc:
            return exc.errno
        finally:
            with contextlib.suppress(OSError):  # it tries again, in vain
                await vfs.release(fh)
        return None
    code = _vfs_run(sshd, tmp_path, full_server_dir, body)
    assert code in (errno.ENOSPC, errno.EIO)  # OpenSSH says only "Failure"
    assert (full_server_dir / "big.bin").stat().st_mtime_ns != MTIME_NS
