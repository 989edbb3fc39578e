"""Never overwrite what we did not see (`xenonfs.vfs.conflict`), and refresh:
the vfs without the kernel on a real OpenSSH server (native sftp) and a local
directory (native file://), the server's file changed on its disk behind the
mount."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path
from typing import Any, Awaitable, Callable

import pytest

from tests.conftest import Runner
from tests.test_daemon import DaemonRun, _dirs, daemon  # noqa: F401 (a fixture)
from tests.test_vfs_listing import on_engine_file
from tests.test_vfs_sparse import native_runner
from xenonfs.vfs.core import Vfs
from xenonfs.vfs.inodes import ROOT_INODE

Body = Callable[[Vfs, Path], Awaitable[Any]]


@pytest.fixture(params=["file", "sftp"])
def run(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., Any]:
    """Runs ``body(vfs, server_dir)`` on a vfs over a fresh server directory
    (native file:// or native sftp on the test sshd); ``cache`` may be given
    to run again on the same cache (a later mount)."""
    runner = native_runner(request, tmp_path, "conflict")

    def run(body: Body, cache_dir: Path = tmp_path / "cache") -> Any:
        async def without_remote(vfs: Vfs, remote: Any, server_dir: Path) -> Any:
            return await body(vfs, server_dir)
        return runner(without_remote, cache_dir)
    run.kind = runner.kind  # type: ignore[attr-defined]
    return run


def put(server_dir: Path, name: str, data: bytes) -> None:
    """Write ``name`` on the server's disk, behind the mount (as its owner)."""
    (server_dir / name).write_bytes(data)
    if server_dir.owner() != "root":
        shutil.chown(server_dir / name, server_dir.owner(), server_dir.group())


async def open_file(vfs: Vfs, name: str, flags: int = os.O_RDWR) -> int:
    attr = await vfs.lookup(ROOT_INODE, name)
    fh, _ = await vfs.open(attr.ino, flags)
    return fh


async def read_all(vfs: Vfs, name: str) -> bytes:
    fh = await open_file(vfs, name, os.O_RDONLY)
    try:
        return await vfs.read(fh, 0, 1 << 24)
    finally:
        await vfs.release(fh)


async def close(vfs: Vfs, fh: int) -> None:
    """flush then release, as close(2) does; release even when flush fails."""
    try:
        await vfs.flush(fh)
    finally:
        await vfs.release(fh)


def beside(server_dir: Path, name: str) -> list[Path]:
    return sorted(server_dir.glob(f"{name}.conflict-*"))


def test_a_change_on_the_server_under_an_edit_is_kept_and_ours_beside_it(run) -> None:
    async def body(vfs: Vfs, server_dir: Path) -> None:
        put(server_dir, "f.txt", b"original text\n")
        fh = await open_file(vfs, "f.txt")
        assert await vfs.read(fh, 0, 100) == b"original text\n"
        await vfs.write(fh, 0, b"OURS")
        put(server_dir, "f.txt", b"theirs, longer than ours\n")  # someone else, meanwhile
        with pytest.raises(OSError) as failed:
            await close(vfs, fh)
        assert failed.value.errno == errno.EBUSY
        assert "conflict" in str(failed.value)
        assert (server_dir / "f.txt").read_bytes() == b"theirs, longer than ours\n"
        kept = beside(server_dir, "f.txt")
        assert [p.read_bytes() for p in kept] == [b"OURSinal text\n"]
        status = vfs.status()
        assert any("f.txt" in c and kept[0].name in c for c in status["conflicts"])
        assert any("conflict" in e for e in status["errors"])  # xenonfs status: last error
        assert status["dirty_paths"] == []
        # The next open reads the server's version, and a new edit of it uploads.
        assert await read_all(vfs, "f.txt") == b"theirs, longer than ours\n"
        fh = await open_file(vfs, "f.txt")
        await vfs.write(fh, 0, b"T")
        await close(vfs, fh)
        assert (server_dir / "f.txt").read_bytes() == b"Theirs, longer than ours\n"
    run(body)


@pytest.mark.parametrize("later_ns", [0, 2_000_000_000], ids=["same-ns", "two-s-later"])
def test_a_same_size_change_is_seen(run, later_ns: int) -> None:
    """Same size, mtime set back to ours (to the nanosecond) or 2 s later.
    file:// gives ctime in nanoseconds, so even the first is seen; OpenSSH's
    SFTP has whole-second mtimes and no ctime: there the version is "racy"
    (seen within its second), so the bytes not written here are compared."""

    async def body(vfs: Vfs, server_dir: Path) -> None:
        put(server_dir, "g", b"aaaa")
        st = (server_dir / "g").stat()
        fh = await open_file(vfs, "g")
        assert await vfs.read(fh, 0, 10) == b"aaaa"
        await vfs.write(fh, 3, b"!")
        put(server_dir, "g", b"bbbb")
        os.utime(server_dir / "g", ns=(st.st_atime_ns, st.st_mtime_ns + later_ns))
        with pytest.raises(OSError) as failed:
            await close(vfs, fh)
        assert failed.value.errno == errno.EBUSY
        assert (server_dir / "g").read_bytes() == b"bbbb"
        assert [p.read_bytes() for p in beside(server_dir, "g")] == [b"aaa!"]
    run(body)


def test_a_partly_read_copy_is_kept_in_lost_and_found_not_sent(run, tmp_path: Path) -> None:
    """A sparse copy with holes cannot stand for our version on the server:
    it is kept in lost+found with the list of its real bytes."""
    async def body(vfs: Vfs, server_dir: Path) -> None:
        old = os.urandom(4 << 20)
        put(server_dir, "big", old)
        fh = await open_file(vfs, "big")
        await vfs.write(fh, 100, b"ours")  # nothing read: the rest are holes
        new = os.urandom(3 << 20)
        put(server_dir, "big", new)
        with pytest.raises(OSError) as failed:
            await close(vfs, fh)
        assert failed.value.errno == errno.EBUSY
        assert (server_dir / "big").read_bytes() == new
        assert beside(server_dir, "big") == []
        lost = vfs.cache.lost_dir
        kept = [p for p in lost.iterdir() if not p.name.endswith(".ranges.json")]
        assert len(kept) == 1 and kept[0].name.startswith("big.conflict-")
        assert kept[0].read_bytes()[100:104] == b"ours"
        assert (lost / f"{kept[0].name}.ranges.json").exists()
        assert vfs.status()["lost_found"] == [kept[0].name]
    run(body)


def test_a_conflict_found_by_a_later_mount_keeps_both(run, tmp_path: Path) -> None:
    """Dirty bytes left by a stop (no close) are checked before the next
    mount uploads them."""
    server: list[Path] = []

    async def edit(vfs: Vfs, server_dir: Path) -> None:
        server.append(server_dir)
        put(server_dir, "k", b"version 1")
        fh = await open_file(vfs, "k")
        assert await vfs.read(fh, 0, 100) == b"version 1"
        await vfs.write(fh, 0, b"V")  # and never closed: the mount stops here
    run(edit)
    put(server[0], "k", b"version 2 from elsewhere")

    async def later(vfs: Vfs, server_dir: Path) -> None:
        assert vfs.still_dirty == []  # type: ignore[attr-defined]  (nothing left dirty)
        assert (server_dir / "k").read_bytes() == b"version 2 from elsewhere"
        assert [p.read_bytes() for p in beside(server_dir, "k")] == [b"Version 1"]
        assert any("conflict" in c for c in vfs.status()["conflicts"])
    run(later)


def test_our_own_changes_are_no_conflict(run) -> None:
    """Edits in turn, a chmod, a rename and times set between them, and an
    O_TRUNC over a file changed on the server since we cached it (cp over it:
    what it replaces is what is there at its open)."""
    async def body(vfs: Vfs, server_dir: Path) -> None:
        put(server_dir, "a", b"first")
        for i in range(3):
            fh = await open_file(vfs, "a")
            await vfs.read(fh, 0, 100)
            await vfs.write(fh, 0, str(i).encode())
            await close(vfs, fh)
            ino = (await vfs.lookup(ROOT_INODE, "a")).ino
            await vfs.setattr(ino, mode=0o600 + i)
            await vfs.setattr(ino, mtime_ns=1_700_000_000_000_000_000 + i * 10**9,
                              atime_ns=1_700_000_000_000_000_000)
        assert (server_dir / "a").read_bytes() == b"2irst"
        await vfs.rename(ROOT_INODE, "a", ROOT_INODE, "b")
        fh = await open_file(vfs, "b")
        await vfs.write(fh, 0, b"B")
        await close(vfs, fh)
        assert (server_dir / "b").read_bytes() == b"Birst"
        assert await read_all(vfs, "b") == b"Birst"
        put(server_dir, "b", b"changed there")
        fh = await open_file(vfs, "b", os.O_WRONLY | os.O_TRUNC)
        await vfs.write(fh, 0, b"replaced")
        await close(vfs, fh)
        assert (server_dir / "b").read_bytes() == b"replaced"
        assert vfs.status()["conflicts"] == [] and beside(server_dir, "b") == []
    run(body)


def test_refresh_drops_cached_data_but_never_dirty_data(run) -> None:
    """A same-size change within the same second is not seen on sftp (whole
    seconds, no ctime): refresh makes the next read fetch the server's copy."""
    async def body(vfs: Vfs, server_dir: Path) -> None:
        put(server_dir, "r", b"old!")
        st = (server_dir / "r").stat()
        assert await read_all(vfs, "r") == b"old!"
        put(server_dir, "r", b"new!")
        os.utime(server_dir / "r", ns=(st.st_atime_ns, st.st_mtime_ns))
        if run.kind == "sftp":
            assert await read_all(vfs, "r") == b"old!"  # what refresh is for
        assert vfs.refresh("/r") == ["/r"]
        assert await read_all(vfs, "r") == b"new!"
        # Dirty: refused with the reason, and nothing dropped.
        put(server_dir, "d", b"server")
        fh = await open_file(vfs, "d")
        await vfs.read(fh, 0, 10)
        await vfs.write(fh, 0, b"S")
        with pytest.raises(OSError) as refused:
            vfs.refresh("/")
        assert refused.value.errno == errno.EBUSY
        assert "/d" in str(refused.value) and "flush" in str(refused.value)
        assert "/r" in vfs.cache.entries and vfs.cache.entries["/d"].dirty
        await close(vfs, fh)
        assert (server_dir / "d").read_bytes() == b"Server"
        assert sorted(vfs.refresh("/")) == ["/d", "/r"]
        assert vfs.cache.entries == {}
    run(body)


def test_through_a_mount_close_gets_ebusy_status_says_it_and_refresh_refuses_dirty(
        daemon: DaemonRun, tmp_path: Path) -> None:
    """The same through the kernel and the daemon (native file://)."""
    backing, mnt = _dirs(tmp_path, "c")
    daemon.mountpoints.append(mnt)
    daemon.start()
    mounted = daemon.cli("mount", f"file://{backing}", str(mnt), "-o",
                         f"cache_dir={tmp_path / 'cache'}")
    try:
        assert mounted.returncode == 0, mounted.stderr
        (backing / "f").write_bytes(b"theirs 1")
        fd = os.open(mnt / "f", os.O_RDWR)
        try:
            assert os.read(fd, 100) == b"theirs 1"
            os.pwrite(fd, b"O", 0)
            # Open for writing (the kernel may hold writes we have not seen):
            # refresh refuses it, saying why. (The CLI's exec closes its
            # inherited copy of fd: that flush uploads the "O".)
            out = daemon.cli("refresh", str(mnt / "f"))
            assert out.returncode != 0 and "not uploaded" in out.stderr and "/f" in out.stderr
            (backing / "f").write_bytes(b"theirs 2, meanwhile")
            os.pwrite(fd, b"X", 1)
        finally:
            with pytest.raises(OSError) as closed:
                os.close(fd)
        assert closed.value.errno == errno.EBUSY
        assert (backing / "f").read_bytes() == b"theirs 2, meanwhile"
        assert [p.read_bytes() for p in beside(backing, "f")] == [b"OXeirs 1"]
        mount = daemon.status()["mounts"][0]
        assert "conflict" in mount["errors"][-1] and mount["dirty_paths"] == []
        assert "conflict" in daemon.cli("status").stdout  # its last error column
        assert (mnt / "f").read_bytes() == b"theirs 2, meanwhile"
        # Clean: refresh drops the cached copy too.
        assert daemon.cli("refresh", str(mnt)).returncode == 0
    finally:
        assert daemon.cli("umount", str(mnt)).returncode == 0


def test_whole_file_uploads_of_the_engine_check_too(engine: Runner, tmp_path: Path) -> None:
    """The engine backend (file adaptor): whole-file downloads and uploads,
    millisecond mtimes."""
    server_dir = tmp_path / "remote"
    server_dir.mkdir()
    put(server_dir, "e", b"engine's original")

    async def body(vfs: Vfs) -> None:
        fh = await open_file(vfs, "e")
        assert await vfs.read(fh, 0, 100) == b"engine's original"
        await vfs.write(fh, 0, b"E")
        put(server_dir, "e", b"changed by someone else")
        with pytest.raises(OSError) as failed:
            await close(vfs, fh)
        assert failed.value.errno == errno.EBUSY
        assert (server_dir / "e").read_bytes() == b"changed by someone else"
        assert [p.read_bytes() for p in beside(server_dir, "e")] == [b"Engine's original"]
        # Our own edits in turn are no conflict.
        for i in range(2):
            fh = await open_file(vfs, "e")
            await vfs.read(fh, 0, 100)
            await vfs.write(fh, 0, str(i).encode())
            await close(vfs, fh)
        assert (server_dir / "e").read_bytes() == b"1hanged by someone else"
    engine(on_engine_file, engine.client, server_dir, tmp_path / "cache", body)
