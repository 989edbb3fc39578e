"""An upload of ours that failed or was cut off part-way is not a conflict
the next time: the server's copy differs from the version we started from by
our own hand (the soak run: a worker killed mid-upload left the server a
0-byte file, and the whole edit only in a NAME.conflict-* copy). Native
file:// and sftp on real servers; the failure is the real backend's, made to
happen after it has touched the server's file."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import pytest

from tests.test_conflicts import beside, close, open_file, put
from tests.test_vfs_sparse import native_runner
from xenonfs.vfs.core import Vfs


class CutOff:
    """The real backend, whose next range upload sends the first 3 bytes of
    its first range into the server's file and then fails (as a connection
    lost mid-upload leaves it)."""

    def __init__(self, real: Any, server: list[Path]) -> None:
        self._real, self._server, self.armed = real, server, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    async def write_ranges(self, local: str, path: str, *args: Any, **kwargs: Any) -> Any:
        if self.armed:
            self.armed = False
            start = args[0][0][0]  # ranges: [(start, end), ...]
            with open(local, "rb") as ours, open(self._server[0] / path.lstrip("/"), "r+b") as f:
                f.seek(start)
                f.write(ours.read()[start:start + 3])
            raise OSError(errno.EIO, "connection lost (test)")
        return await self._real.write_ranges(local, path, *args, **kwargs)


@pytest.fixture(params=["file", "sftp"])
def cut(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    server: list[Path] = []
    wrapped: list[CutOff] = []

    def wrap(real: Any) -> CutOff:
        wrapped.append(CutOff(real, server))
        return wrapped[-1]
    runner = native_runner(request, tmp_path, "cutoff", wrap)
    return runner, server, wrapped


async def edit_cut_off(vfs: Vfs, cutoff: CutOff, server_dir: Path, name: str, first: bytes,
                       at: int, ours: bytes) -> int:
    """Read ``name`` (``first`` on the server), write ``ours`` at ``at``, and
    have the upload at flush cut off (EIO). Returns: the open handle."""
    put(server_dir, name, first)
    fh = await open_file(vfs, name)
    assert await vfs.read(fh, 0, 100) == first
    await vfs.write(fh, at, ours)
    cutoff.armed = True
    with pytest.raises(OSError) as failed:
        await vfs.flush(fh)
    assert failed.value.errno == errno.EIO
    return fh


def test_a_failed_upload_of_ours_is_no_conflict_at_the_retry(cut) -> None:
    runner, server, wrapped = cut

    async def body(vfs: Vfs, remote: Any, server_dir: Path) -> None:
        server.append(server_dir)
        fh = await edit_cut_off(vfs, wrapped[-1], server_dir, "f",
                                b"version one, long enough", 0, b"VERSION")
        assert (server_dir / "f").read_bytes() == b"VERsion one, long enough"  # cut off
        await close(vfs, fh)  # the retry: no conflict, our bytes land
        assert (server_dir / "f").read_bytes() == b"VERSION one, long enough"
        assert beside(server_dir, "f") == []
        assert vfs.status()["conflicts"] == []
    runner(body)


def test_an_upload_cut_off_by_a_crash_is_no_conflict_at_the_next_mount(cut,
                                                                       tmp_path: Path) -> None:
    """The mount stops while the upload has touched the server (no close, no
    cleanup: as a killed worker); the next mount sends the edit whole."""
    runner, server, wrapped = cut

    async def edit(vfs: Vfs, remote: Any, server_dir: Path) -> None:
        server.append(server_dir)
        await edit_cut_off(vfs, wrapped[-1], server_dir, "g", b"the first version", 4,
                           b"FIRST")  # and never closed: the mount stops here
    runner(edit)
    assert (server[0] / "g").read_bytes() == b"the FIRst version"  # cut off

    async def later(vfs: Vfs, remote: Any, server_dir: Path) -> None:
        assert vfs.still_dirty == []  # type: ignore[attr-defined]
        assert (server_dir / "g").read_bytes() == b"the FIRST version"
        assert beside(server_dir, "g") == []
    runner(later)
    assert sorted(p.name for p in server[0].iterdir()) == ["g"]
