"""The sparse cache of the native backends (`xenonfs.vfs.ranged`), the vfs
without the kernel, on a real OpenSSH server (native sftp) and on a local
directory (native file): reads fetch about what they read, a sequential reader
gets read-ahead, writes send about what they wrote, and what the cache holds
survives a restart."""

from __future__ import annotations

import errno
import os
import random
import shutil
import stat
import uuid
from pathlib import Path
from typing import Any, Awaitable, Callable

import pytest
import trio

from tests.servers.sshd import SshServer
from tests.test_vfs_calls import CountingRemote
from xenonfs.backends.local import LocalRemote
from xenonfs.backends.sftp import SftpRemote
from xenonfs.vfs.cache import FileCache
from xenonfs.vfs.core import Vfs
from xenonfs.vfs.inodes import ROOT_INODE

MiB = 1 << 20


class Metered(CountingRemote):
    """Counts calls and the bytes they move (what the server was asked for)."""

    def __init__(self, real: Any) -> None:
        super().__init__(real)
        self.fetched = 0
        self.sent = 0
        #: Set to make every read_range wait for it (a slow server).
        self.gate: trio.Event | None = None

    async def read_range(self, reader: Any, offset: int, size: int) -> bytes:
        self.counts["read_range"] = self.counts.get("read_range", 0) + 1
        if self.gate is not None:
            await self.gate.wait()
        data = await self._real.read_range(reader, offset, size)
        self.fetched += len(data)
        return data

    async def write_ranges(self, local: str, path: str, ranges: list[tuple[int, int]],
                           *args: Any, **kwargs: Any) -> Any:
        self.counts["write_ranges"] = self.counts.get("write_ranges", 0) + 1
        self.sent += sum(b - a for a, b in ranges)
        return await self._real.write_ranges(local, path, ranges, *args, **kwargs)

    async def download(self, path: str, local: str, progress: Any) -> None:
        raise AssertionError("a sparse cache never downloads whole files")


Body = Callable[[Vfs, Metered, Path], Awaitable[Any]]


def native_server(request: pytest.FixtureRequest, tmp_path: Path, prefix: str
                  ) -> tuple[Path, Callable[[], Awaitable[Any]]]:
    """For a fixture with params "sftp" and "file".

    Returns: a fresh server directory (on the test sshd, removed at the end,
    or a local one), and what connects a native backend to it."""
    if request.param == "sftp":
        sshd: SshServer = request.getfixturevalue("sshd")
        server_dir = sshd.home / f"{prefix}-{uuid.uuid4().hex[:8]}"
        server_dir.mkdir()
        shutil.chown(server_dir, sshd.user, sshd.user)
        request.addfinalizer(lambda: shutil.rmtree(server_dir, ignore_errors=True))

        async def connect() -> Any:
            return await SftpRemote.connect("127.0.0.1", sshd.port, sshd.user,
                                            str(server_dir), sshd.password, strict=False)
    else:
        server_dir = tmp_path / "remote"
        server_dir.mkdir()

        async def connect() -> Any:
            return LocalRemote(str(server_dir))
    return server_dir, connect


def native_runner(request: pytest.FixtureRequest, tmp_path: Path, prefix: str,
                  wrap: Callable[[Any], Any] = lambda real: real,
                  timeout: float = 0) -> Callable[..., Any]:
    """For a fixture with params "sftp" and "file" (see `native_server`).

    Returns: ``runner(body, cache_dir=tmp_path / "cache")``, which runs
    ``body(vfs, remote, server_dir)`` on a vfs (``attr_timeout`` and
    ``dir_timeout`` = ``timeout``) over the backend, ``wrap``-ped, with a cache
    in ``cache_dir``: call it again on the same cache for a later mount. Its
    ``vfs.still_dirty`` says what that mount's first `upload_dirty` left."""
    server_dir, connect = native_server(request, tmp_path, prefix)

    def runner(body: Callable[..., Awaitable[Any]], cache_dir: Path = tmp_path / "cache"
               ) -> Any:
        async def main() -> Any:
            real = await connect()
            remote = wrap(real)
            cache = FileCache(cache_dir, 1 << 30)  # no size cap: tests of it say one
            dirty = cache.load()
            try:
                async with trio.open_nursery() as nursery:
                    vfs = Vfs(remote, cache, nursery, attr_timeout=timeout,
                              dir_timeout=timeout)
                    vfs.still_dirty = await vfs.upload_dirty() if dirty else []  # type: ignore
                    result = await body(vfs, remote, server_dir)
                    nursery.cancel_scope.cancel()
                    return result
            finally:
                await real.close()
        return trio.run(main)
    runner.kind = request.param  # type: ignore[attr-defined]
    return runner


@pytest.fixture(params=["sftp", "file"])
def run(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., Any]:
    """Runs ``body(vfs, remote, server_dir)`` on a vfs over a fresh directory
    of the native sftp backend (the test sshd) or the native file backend;
    ``cache`` may be given to run again on the same cache (a restart)."""
    runner = native_runner(request, tmp_path, "sparse", Metered, timeout=60)

    def checked(body: Body, cache_dir: Path = tmp_path / "cache") -> Any:
        async def first_checked(vfs: Vfs, remote: Any, server_dir: Path) -> Any:
            assert vfs.still_dirty == []  # type: ignore[attr-defined]  (all uploaded)
            return await body(vfs, remote, server_dir)
        return runner(first_checked, cache_dir)
    return checked


def put(server_dir: Path, name: str, nbytes: int) -> bytes:
    """Returns: the random bytes of a new file ``name`` on the server."""
    data = os.urandom(nbytes)
    (server_dir / name).write_bytes(data)
    if server_dir.owner() != "root":
        shutil.chown(server_dir / name, server_dir.owner(), server_dir.group())
    return data


async def open_file(vfs: Vfs, name: str, flags: int = os.O_RDONLY) -> int:
    attr = await vfs.lookup(ROOT_INODE, name)
    fh, _ = await vfs.open(attr.ino, flags)
    return fh


async def close(vfs: Vfs, fh: int) -> None:
    await vfs.flush(fh)
    await vfs.release(fh)


def test_random_small_reads_fetch_about_what_they_read(run) -> None:
    async def body(vfs: Vfs, remote: Metered, server_dir: Path) -> None:
        data = put(server_dir, "big.bin", 64 * MiB)
        fh = await open_file(vfs, "big.bin")
        rng = random.Random(1)
        read = 0
        for _ in range(50):
            offset = rng.randrange(1, len(data) - 4096)
            got = await vfs.read(fh, offset, 4096)
            assert got == data[offset:offset + 4096]
            read += len(got)
        await vfs.release(fh)
        # Block-aligned: a read across a 4 KiB boundary costs two blocks.
        assert remote.fetched <= 2 * read, (remote.fetched, read)
    run(body)


def test_a_sequential_reader_gets_read_ahead_and_every_byte_right(run) -> None:
    async def body(vfs: Vfs, remote: Metered, server_dir: Path) -> None:
        data = put(server_dir, "seq.bin", 40 * MiB + 123)
        fh = await open_file(vfs, "seq.bin")
        got = bytearray()
        while True:
            chunk = await vfs.read(fh, len(got), 128 << 10)
            if not chunk:
                break
            got += chunk
        assert bytes(got) == data
        await vfs.release(fh)
        # Fetched in pieces of up to 1 MiB, not one per 128 KiB read.
        assert remote.counts["read_range"] <= 45, remote.counts
        assert remote.fetched == len(data)
    run(body)


def test_a_small_write_into_a_big_file_sends_about_what_was_written(run) -> None:
    async def body(vfs: Vfs, remote: Metered, server_dir: Path) -> None:
        data = bytearray(put(server_dir, "big.bin", 64 * MiB))
        fh = await open_file(vfs, "big.bin", os.O_RDWR)
        await vfs.write(fh, 40 * MiB, b"X")
        await vfs.write(fh, 64 * MiB + 10, b"tail")  # past the end: a hole of zeros
        await close(vfs, fh)
        data[40 * MiB] = ord("X")
        data += bytes(10) + b"tail"
        assert (server_dir / "big.bin").read_bytes() == data
        assert remote.sent == 5 and remote.fetched == 0, (remote.sent, remote.fetched)
        # And a read of the whole file now fetches everything but what we wrote.
        fh = await open_file(vfs, "big.bin")
        assert await vfs.read(fh, 40 * MiB - 2, 5) == bytes(data[40 * MiB - 2:40 * MiB + 3])
        await vfs.release(fh)
    run(body)


def test_a_truncate_then_writes_leave_exactly_the_local_bytes(run) -> None:
    async def body(vfs: Vfs, remote: Metered, server_dir: Path) -> None:
        data = bytearray(put(server_dir, "t.bin", 8 * MiB))
        attr = await vfs.lookup(ROOT_INODE, "t.bin")
        fh, _ = await vfs.open(attr.ino, os.O_RDWR)
        await vfs.setattr(attr.ino, size=MiB, fh=fh)
        await vfs.setattr(attr.ino, size=3 * MiB, fh=fh)  # zeros from 1 MiB on
        await vfs.write(fh, 2 * MiB, b"mid")
        await close(vfs, fh)
        expected = data[:MiB] + bytes(2 * MiB)
        expected[2 * MiB:2 * MiB + 3] = b"mid"
        assert (server_dir / "t.bin").read_bytes() == expected
        assert remote.sent == 3 and remote.fetched == 0
    run(body)


def test_a_write_during_a_fetch_of_its_range_is_not_undone_by_it(run) -> None:
    async def body(vfs: Vfs, remote: Metered, server_dir: Path) -> None:
        data = put(server_dir, "w.bin", 4 * MiB)
        fh = await open_file(vfs, "w.bin", os.O_RDWR)
        remote.gate = trio.Event()
        async with trio.open_nursery() as nursery:
            result: list[bytes] = []

            async def reader() -> None:
                result.append(await vfs.read(fh, 0, 128 << 10))  # fetches 0..1 MiB
            nursery.start_soon(reader)
            await trio.sleep(0.2)
            assert vfs.cache.entries["/w.bin"].fetching, "no fetch under way"
            await vfs.write(fh, 1000, b"mine")
            remote.gate.set()
        assert result[0] == data[:1000] + b"mine" + data[1004:128 << 10]
        assert await vfs.read(fh, 0, 2000) == data[:1000] + b"mine" + data[1004:2000]
        await close(vfs, fh)
        assert (server_dir / "w.bin").read_bytes() == data[:1000] + b"mine" + data[1004:]
    run(body)


def test_what_the_cache_holds_and_what_was_written_survive_a_restart(run, tmp_path) -> None:
    cache_dir = tmp_path / "kept-cache"

    async def first(vfs: Vfs, remote: Metered, server_dir: Path) -> bytes:
        data = put(server_dir, "k.bin", 16 * MiB)
        fh = await open_file(vfs, "k.bin")
        assert await vfs.read(fh, 0, MiB) == data[:MiB]
        await vfs.release(fh)
        return data
    data = run(first, cache_dir)

    async def second(vfs: Vfs, remote: Metered, server_dir: Path) -> None:
        fh = await open_file(vfs, "k.bin")
        assert await vfs.read(fh, 0, MiB) == data[:MiB]
        assert remote.fetched == 0, "fetched again what the cache held"
        await vfs.release(fh)
        # A write that never reached the server before a "crash": the
        # daemon is gone with its flush, the cache keeps the dirty entry.
        fh = await open_file(vfs, "k.bin", os.O_RDWR)
        await vfs.write(fh, 8 * MiB, b"unsent")
        vfs.cache.save_pending()
    run(second, cache_dir)

    async def third(vfs: Vfs, remote: Metered, server_dir: Path) -> None:
        # The fixture's upload_dirty() sent it: completed from the server
        # (what is written is not known after a restart) and sent whole.
        expected = data[:8 * MiB] + b"unsent" + data[8 * MiB + 6:]
        got = (server_dir / "k.bin").read_bytes()
        diff = next((i for i in range(len(expected)) if got[i:i + 1] != expected[i:i + 1]), None)
        assert got == expected, (len(got), len(expected), diff, remote.counts, remote.sent, remote.fetched, vfs.cache.entries["/k.bin"])
        assert not vfs.cache.entries["/k.bin"].dirty
    run(third, cache_dir)


def test_an_open_file_unlinked_can_still_be_read_whole(run) -> None:
    async def body(vfs: Vfs, remote: Metered, server_dir: Path) -> None:
        data = put(server_dir, "u.bin", 6 * MiB)
        fh = await open_file(vfs, "u.bin")
        assert await vfs.read(fh, 0, 10) == data[:10]
        await vfs.unlink(ROOT_INODE, "u.bin")
        assert not (server_dir / "u.bin").exists()
        assert await vfs.read(fh, 5 * MiB, MiB) == data[5 * MiB:]
        await vfs.release(fh)
    run(body)


def test_a_changed_server_file_is_read_anew_at_the_next_open(run) -> None:
    async def body(vfs: Vfs, remote: Metered, server_dir: Path) -> None:
        put(server_dir, "c.bin", MiB)
        fh = await open_file(vfs, "c.bin")
        await vfs.read(fh, 0, MiB)
        await vfs.release(fh)
        new = put(server_dir, "c.bin", 2 * MiB)
        vfs.forget_path("/c.bin")
        fh = await open_file(vfs, "c.bin")
        assert await vfs.read(fh, 0, 2 * MiB) == new
        await vfs.release(fh)
    run(body)


def test_random_operations_on_a_partly_cached_file_keep_it_identical(run) -> None:
    """fsx on a file that exists on the server and is cached only where it
    was read or written; now and then the cache forgets it (holes again)."""
    async def body(vfs: Vfs, remote: Metered, server_dir: Path) -> None:
        rng = random.Random(20261202)
        ref = bytearray(put(server_dir, "fsx.bin", 3 * MiB + 77))
        limit = 4 * MiB
        fh = await open_file(vfs, "fsx.bin", os.O_RDWR)
        ino = (await vfs.lookup(ROOT_INODE, "fsx.bin")).ino
        for step in range(600):
            op = rng.choices(["write", "read", "truncate", "reopen", "forget"],
                             weights=[40, 40, 8, 8, 4])[0]
            if op == "write":
                off = rng.randrange(0, limit)
                data = rng.randbytes(rng.randrange(1, 20000))
                await vfs.write(fh, off, data)
                ref[len(ref):off] = bytes(max(0, off - len(ref)))
                ref[off:off + len(data)] = data
            elif op == "read":
                off = rng.randrange(0, len(ref) + 1)
                n = rng.randrange(1, 300000)
                assert await vfs.read(fh, off, n) == bytes(ref[off:off + n]), f"step {step}"
            elif op == "truncate":
                new = rng.randrange(0, limit)
                await vfs.setattr(ino, size=new, fh=fh)
                ref[new:] = b""
                ref[len(ref):new] = bytes(new - len(ref))
            else:
                await close(vfs, fh)
                assert (server_dir / "fsx.bin").read_bytes() == ref, f"step {step}: server"
                if op == "forget":
                    vfs.cache.drop("/fsx.bin")
                vfs.forget_path("/fsx.bin")
                fh = await open_file(vfs, "fsx.bin", os.O_RDWR)
        await close(vfs, fh)
        assert (server_dir / "fsx.bin").read_bytes() == ref
    run(body)


def test_readers_that_open_and_read_together_all_get_every_byte(run) -> None:
    # The kernel's readers of one file at once: opens that race each other,
    # then 128 KiB reads from each, interleaved (a mount's 8 `cat`s).
    async def body(vfs: Vfs, remote: Metered, server_dir: Path) -> None:
        data = put(server_dir, "shared.bin", 3 * MiB)
        got: list[bytes] = []

        async def reader() -> None:
            fh = await open_file(vfs, "shared.bin")
            parts = []
            for offset in range(0, len(data), 128 << 10):
                parts.append(await vfs.read(fh, offset, 128 << 10))
            await close(vfs, fh)
            got.append(b"".join(parts))

        async with trio.open_nursery() as nursery:
            for _ in range(8):
                nursery.start_soon(reader)
        assert len(got) == 8
        for one in got:
            assert one == data
    run(body)


def test_a_read_beside_a_fetch_under_way_in_its_piece_waits_for_its_own_bytes(run) -> None:
    # A random 4 KiB fetch is on its way inside the 1 MiB piece a sequential
    # reader comes to: that reader must fetch the rest of the piece, not read
    # the local file's zeros (seen with 8 `cat`s of one file in a mount).
    async def body(vfs: Vfs, remote: Metered, server_dir: Path) -> None:
        data = put(server_dir, "p.bin", 3 * MiB)
        jump_fh = await open_file(vfs, "p.bin")
        seq_fh = await open_file(vfs, "p.bin")
        await vfs.read(jump_fh, 0, 1)  # the first MiB; the next read is a jump
        remote.gate = trio.Event()
        result: dict[str, bytes] = {}
        async with trio.open_nursery() as nursery:
            async def jumper() -> None:
                result["jump"] = await vfs.read(jump_fh, MiB + (600 << 10), 4096)

            async def sequential() -> None:
                parts = [await vfs.read(seq_fh, offset, 128 << 10)
                         for offset in range(0, MiB + (256 << 10), 128 << 10)]
                result["seq"] = b"".join(parts)
            nursery.start_soon(jumper)
            await trio.sleep(0.1)
            nursery.start_soon(sequential)
            await trio.sleep(0.2)
            remote.gate.set()
        assert result["jump"] == data[MiB + (600 << 10):MiB + (600 << 10) + 4096]
        assert result["seq"] == data[:MiB + (256 << 10)]
        await close(vfs, jump_fh)
        await close(vfs, seq_fh)
    run(body)


def test_a_small_file_written_as_tar_does_costs_two_remote_calls(run) -> None:
    # tar x per file: lookup (not there), create, write, futimens, close, then
    # the kernel's getattr. The create's handle is kept for the upload, the
    # times go with the bytes, the attributes come back with them: create and
    # one write_ranges (it was 5 calls: ~10 round trips per file of a tar).
    async def body(vfs: Vfs, remote: Metered, server_dir: Path) -> None:
        for i in range(3):
            name = f"t{i}.c"
            with pytest.raises(OSError):
                await vfs.lookup(ROOT_INODE, name)
            before = dict(remote.counts)
            fh, attr = await vfs.create(ROOT_INODE, name, 0o100640, os.O_WRONLY | os.O_CREAT)
            await vfs.write(fh, 0, b"int main;\n" * 100)
            after_times = await vfs.setattr(attr.ino, atime_ns=10**18, mtime_ns=10**18, fh=fh)
            await close(vfs, fh)
            got = await vfs.getattr(attr.ino)
            calls = {k: v - before.get(k, 0) for k, v in remote.counts.items()
                     if v != before.get(k, 0)}
            assert calls == {"create_empty": 1, "write_ranges": 1}, calls
            assert got.mtime_ns == after_times.mtime_ns == 10**18
            assert got.size == 1000
            st = os.stat(server_dir / name)
            assert (st.st_size, st.st_mtime_ns, stat.S_IMODE(st.st_mode)) == (1000, 10**18, 0o640)
    run(body)


def test_times_set_after_close_keep_the_cached_copy_valid(run) -> None:
    # touch -d / cp -p after the close: one utimens, no stat after it, and the
    # next open reads the cached bytes instead of fetching them again.
    async def body(vfs: Vfs, remote: Metered, server_dir: Path) -> None:
        fh, attr = await vfs.create(ROOT_INODE, "late.txt", 0o100644, os.O_WRONLY | os.O_CREAT)
        await vfs.write(fh, 0, b"x" * 5000)
        await close(vfs, fh)
        before = dict(remote.counts)
        await vfs.setattr(attr.ino, atime_ns=2 * 10**18, mtime_ns=2 * 10**18)
        fh = await open_file(vfs, "late.txt")
        assert await vfs.read(fh, 0, 8192) == b"x" * 5000
        await close(vfs, fh)
        calls = {k: v - before.get(k, 0) for k, v in remote.counts.items()
                 if v != before.get(k, 0)}
        assert calls == {"utimens": 1, "stat": 1}, calls  # the stat: open's check
        assert remote.fetched == 0
        assert os.stat(server_dir / "late.txt").st_mtime_ns == 2 * 10**18
    run(body)


def test_a_created_file_renamed_or_removed_before_its_close_ends_as_asked(run) -> None:
    # The sftp backend keeps create()'s handle for the first upload: a rename
    # or unlink in between must not send the bytes to the old name.
    async def body(vfs: Vfs, remote: Metered, server_dir: Path) -> None:
        fh, _ = await vfs.create(ROOT_INODE, "a.txt", 0o100644, os.O_WRONLY | os.O_CREAT)
        await vfs.write(fh, 0, b"moved")
        await vfs.rename(ROOT_INODE, "a.txt", ROOT_INODE, "b.txt")
        await close(vfs, fh)
        fh, _ = await vfs.create(ROOT_INODE, "c.txt", 0o100644, os.O_WRONLY | os.O_CREAT)
        await vfs.write(fh, 0, b"gone")
        await vfs.unlink(ROOT_INODE, "c.txt")
        await close(vfs, fh)
        fh, _ = await vfs.create(ROOT_INODE, "d.txt", 0o100644, os.O_WRONLY | os.O_CREAT)
        await vfs.write(fh, 0, b"first")
        await close(vfs, fh)
        fh = await open_file(vfs, "d.txt", os.O_WRONLY)
        await vfs.write(fh, 0, b"F")
        await close(vfs, fh)
        assert sorted(p.name for p in server_dir.iterdir()) == ["b.txt", "d.txt"]
        assert (server_dir / "b.txt").read_bytes() == b"moved"
        assert (server_dir / "d.txt").read_bytes() == b"First"
    run(body)


def test_lookups_in_a_directory_whose_names_are_known_need_no_stat(run) -> None:
    # tar x into a new directory: every file is first looked up (not there).
    # The names of a directory made or listed here are known, and kept up to
    # date by our own creates, renames and removes.
    async def body(vfs: Vfs, remote: Metered, server_dir: Path) -> None:
        await vfs.readdir(ROOT_INODE)  # the root's names are known
        # ... as the server said them: a name another client makes since is
        # found by a lookup (`ls`, then the new file, as a job's output).
        (server_dir / "outside").write_bytes(b"o")
        assert (await vfs.lookup(ROOT_INODE, "outside")).size == 1
        d = await vfs.mkdir(ROOT_INODE, "d", 0o40755)
        vfs._attrs.pop("/", None)  # as after attr_timeout: the root is no name in it
        assert (await vfs.getattr(ROOT_INODE)).mode & 0o40000
        before = remote.counts.get("stat", 0)
        for name in ("a", "b", "c"):
            with pytest.raises(OSError) as exc:
                await vfs.lookup(d.ino, name)
            assert exc.value.errno == errno.ENOENT
        fh, _ = await vfs.create(d.ino, "a", 0o100644, os.O_WRONLY | os.O_CREAT)
        await close(vfs, fh)
        await vfs.rename(d.ino, "a", d.ino, "b")
        assert (await vfs.lookup(d.ino, "b")).size == 0
        with pytest.raises(OSError):
            await vfs.lookup(d.ino, "a")
        await vfs.unlink(d.ino, "b")
        with pytest.raises(OSError):
            await vfs.lookup(d.ino, "b")
        assert remote.counts.get("stat", 0) == before, remote.counts
        assert [p.name for p in (server_dir / "d").iterdir()] == []
        # Made on the server by someone else: seen once the listing is
        # dropped (dir_timeout, `xenonfs refresh`, a job's end).
        (server_dir / "d" / "theirs").write_bytes(b"t")
        vfs.forget_path("/d")
        assert (await vfs.lookup(d.ino, "theirs")).size == 1
    run(body)
