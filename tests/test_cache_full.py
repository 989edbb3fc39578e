"""A full cache disk (a small tmpfs as the cache directory), the vfs without
the kernel: a file whose local write failed is never uploaded (its bytes go
to lost+found), reads get ENOSPC rather than EIO, and clean copies and a
failed download's ``.part`` are evicted to make room, never dirty bytes."""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator

import pytest

from tests.conftest import Runner
from tests.test_conflicts import close, open_file, put, read_all
from tests.test_vfs_listing import on_engine_file
from tests.test_vfs_sparse import native_runner
from xenonfs.vfs.core import Vfs
from xenonfs.vfs.inodes import ROOT_INODE

MiB = 1 << 20
Body = Callable[[Vfs, Path], Awaitable[Any]]


@pytest.fixture
def small_cache(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs to be the cache directory (unmounted at the end)."""
    where = tmp_path / "tmpfs"
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(where)],
                   check=True)
    try:
        yield where / "cache"
    finally:
        if subprocess.run(["umount", str(where)], check=False).returncode:
            # Busy: a test that stops a mount without closing (a crash) leaves
            # its files open until the interpreter lets go of them.
            subprocess.run(["umount", "-l", str(where)], check=True)


@pytest.fixture(params=["file", "sftp"])
def run(request: pytest.FixtureRequest, tmp_path: Path, small_cache: Path) -> Callable[..., Any]:
    """Runs ``body(vfs, server_dir)`` on a native backend (file://, sftp) with
    its cache on the small tmpfs; each call is a new mount on that cache."""
    runner = native_runner(request, tmp_path, "full")

    def run(body: Body) -> Any:
        async def checked(vfs: Vfs, remote: Any, server_dir: Path) -> Any:
            assert vfs.still_dirty == []  # type: ignore[attr-defined]
            return await body(vfs, server_dir)
        return runner(checked, small_cache)
    return run


async def fill(vfs: Vfs, fh: int, offset: int = 0) -> OSError:
    """Write 1 MiB pieces until the cache disk is full. Returns: the error."""
    while offset < 64 * MiB:
        try:
            offset += await vfs.write(fh, offset, os.urandom(MiB))
        except OSError as exc:
            return exc
    raise AssertionError("64 MiB went into an 8 MiB cache")


def test_a_file_whose_local_write_failed_is_never_uploaded(run) -> None:
    original = os.urandom(MiB)

    async def body(vfs: Vfs, server_dir: Path) -> None:
        put(server_dir, "f", original)
        fh = await open_file(vfs, "f")
        failed = await fill(vfs, fh, 512 << 10)
        assert failed.errno == errno.ENOSPC
        with pytest.raises(OSError) as closed:
            await close(vfs, fh)
        assert closed.value.errno == errno.ENOSPC
        assert (server_dir / "f").read_bytes() == original
        assert vfs.status()["dirty_paths"] == []
        assert any("local write failed" in c for c in vfs.status()["conflicts"])
        # The kept bytes fill the disk until the user takes them out; then the
        # next read is the server's copy.
        kept = [vfs.cache.lost_dir / n for n in vfs.status()["lost_found"]]
        assert len(kept) == 1 and kept[0].name.startswith("f.write-failed-")
        kept[0].unlink()
        assert await read_all(vfs, "f") == original
    run(body)

    async def later(vfs: Vfs, server_dir: Path) -> None:  # the next mount
        assert (server_dir / "f").read_bytes() == original
    run(later)


def test_a_write_that_failed_before_close_is_not_uploaded_by_the_next_mount(run) -> None:
    """The mount stops (no close) after the failed write: what it persisted
    must not make the next mount upload the partial file."""
    original = os.urandom(MiB)

    async def body(vfs: Vfs, server_dir: Path) -> None:
        put(server_dir, "g", original)
        fh = await open_file(vfs, "g")
        assert (await fill(vfs, fh)).errno == errno.ENOSPC
    run(body)

    async def later(vfs: Vfs, server_dir: Path) -> None:
        assert (server_dir / "g").read_bytes() == original
        assert vfs.status()["dirty_paths"] == []
        assert [n for n in vfs.status()["lost_found"] if n.startswith("g.write-failed-")]
    run(later)


def test_reads_and_creates_make_room_by_evicting_clean_copies_never_dirty_ones(run) -> None:
    async def body(vfs: Vfs, server_dir: Path) -> None:
        files = {f"r{i}": os.urandom(3 * MiB) for i in range(4)}
        for name, data in files.items():
            put(server_dir, name, data)
        # Dirty bytes the server has not got: never evicted.
        fh_dirty, _ = await vfs.create(ROOT_INODE, "mine", 0o644, os.O_WRONLY)
        mine = os.urandom(2 * MiB)
        assert await vfs.write(fh_dirty, 0, mine) == len(mine)
        for _ in range(2):  # 12 MiB of clean copies through an 8 MiB disk, twice
            for name, data in files.items():
                assert await read_all(vfs, name) == data
        fh, _ = await vfs.create(ROOT_INODE, "new", 0o644, os.O_WRONLY)
        assert await vfs.write(fh, 0, os.urandom(2 * MiB)) == 2 * MiB
        await close(vfs, fh)
        assert vfs.cache.entries["/mine"].dirty
        await close(vfs, fh_dirty)
        assert (server_dir / "mine").read_bytes() == mine
    run(body)


def test_a_read_with_no_room_to_make_is_enospc(run) -> None:
    async def body(vfs: Vfs, server_dir: Path) -> None:
        put(server_dir, "r", os.urandom(4 * MiB))
        fh_dirty, _ = await vfs.create(ROOT_INODE, "mine", 0o644, os.O_WRONLY)
        offset = 0
        while offset < 6 * MiB:  # dirty: 6 of the 8 MiB, kept
            offset += await vfs.write(fh_dirty, offset, os.urandom(MiB))
        fh = await open_file(vfs, "r", os.O_RDONLY)
        with pytest.raises(OSError) as failed:
            await vfs.read(fh, 0, 4 * MiB)
        assert failed.value.errno == errno.ENOSPC
        await vfs.release(fh)
        assert vfs.cache.entries["/mine"].dirty
        await close(vfs, fh_dirty)
    run(body)


def test_engine_download_into_a_full_cache_is_enospc_and_its_part_is_evicted(
        engine: Runner, tmp_path: Path, small_cache: Path) -> None:
    """Whole-file downloads (the engine's copy: "Stream copy failed"): ENOSPC,
    and what the failed download left does not keep later reads failing."""
    server_dir = tmp_path / "remote"
    server_dir.mkdir()
    big, small = os.urandom(12 * MiB), os.urandom(3 * MiB)
    put(server_dir, "big", big)
    put(server_dir, "small", small)

    async def body(vfs: Vfs) -> None:
        fh = await open_file(vfs, "big", os.O_RDONLY)
        with pytest.raises(OSError) as failed:
            await vfs.read(fh, 12 * MiB - 10, 10)
        assert failed.value.errno == errno.ENOSPC, failed.value
        await vfs.release(fh)
        assert list((small_cache / "data").glob("*.part")) == []
        assert await read_all(vfs, "small") == small
    engine(on_engine_file, engine.client, server_dir, small_cache, body)
