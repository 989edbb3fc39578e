"""The vfs layer without the kernel, on a real engine `file` file system:
how many remote calls the common operations cost (each is an engine round
trip; `tar x` of many small files is bound by them)."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import pytest
import trio
import trio.testing

from tests.conftest import Runner
from xenonfs.backends.engine import EngineRemote
from xenonfs.vfs.cache import FileCache
from xenonfs.vfs.core import FRESH_FOR_OPEN, Vfs
from xenonfs.vfs.inodes import ROOT_INODE
from xenonfs.vfs.listing import LIST_AFTER
from xenonfs.vfs.upload import LOGGED_FROM


class CountingRemote:
    """Passes every call to a real remote, counting them by name."""

    def __init__(self, real: EngineRemote) -> None:
        self._real = real
        self.counts: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._real, name)
        if not callable(attr):
            return attr

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.counts[name] = self.counts.get(name, 0) + 1
            return await attr(*args, **kwargs)
        return counted


@asynccontextmanager
async def engine_vfs(engine: Runner, backing: Path, cache_dir: Path,
                     attr_timeout: float = 60) -> AsyncIterator[tuple[Vfs, CountingRemote, Any]]:
    """Yields: a vfs over ``backing`` through the engine's `file` adaptor,
    its counting remote, and the nursery of the vfs (cancel it to end)."""
    client = engine.client
    fs = await client.create_file_system("file", "/")
    description = await client.get_file_system_adaptor_description("file")
    remote = CountingRemote(EngineRemote(client, fs, str(backing), description))
    cache = FileCache(cache_dir, 1 << 30)
    cache.load()
    try:
        async with trio.open_nursery() as nursery:
            yield (Vfs(remote, cache, nursery, attr_timeout=attr_timeout,  # type: ignore[arg-type]
                       dir_timeout=60), remote, nursery)
    finally:
        await fs.close()


def test_a_written_file_and_its_chmod_need_no_extra_remote_stat(engine: Runner,
                                                                 tmp_path: Path) -> None:
    backing = tmp_path / "remote"
    backing.mkdir()

    async def main() -> tuple[dict[str, int], int, int, int]:
        async with engine_vfs(engine, backing, tmp_path / "cache") as (vfs, remote, nursery):
            fh, attr = await vfs.create(ROOT_INODE, "f.txt", 0o644, os.O_WRONLY)
            await vfs.write(fh, 0, b"hello world\n")
            await vfs.flush(fh)
            await vfs.release(fh)
            remote.counts.clear()
            # What the kernel and tar ask after close: getattr, chmod, getattr.
            size = (await vfs.getattr(attr.ino)).size
            await vfs.setattr(attr.ino, mode=0o600)
            mode = stat.S_IMODE((await vfs.getattr(attr.ino)).mode)
            counts = dict(remote.counts)
            # A change made elsewhere is seen once the attributes are dropped.
            os.chmod(backing / "f.txt", 0o640)
            vfs.forget_path("/f.txt")
            seen = stat.S_IMODE((await vfs.getattr(attr.ino)).mode)
            nursery.cancel_scope.cancel()
        return counts, size, mode, seen

    counts, size, mode, seen = engine(main)
    assert size == 12
    assert mode == 0o600
    assert stat.S_IMODE((backing / "f.txt").stat().st_mode) == 0o640  # changed by us, above
    assert seen == 0o640
    # One call: the chmod itself. No stat: the upload's own check of the remote
    # size gave fresh attributes, and a chmod changes nothing else.
    assert counts == {"chmod": 1}, counts


def test_a_tree_made_as_tar_does_needs_no_stat_for_names_not_there(engine: Runner,
                                                                    tmp_path: Path) -> None:
    # tar x: a directory 0700, its files (create, write, utimens, chmod,
    # close), a subdirectory, its files; every lookup before a mkdir or
    # create is of a name that is not there, answered from the names known
    # (those of the root: listed first). The root itself is no name in it.
    backing = tmp_path / "remote"
    backing.mkdir()

    async def main() -> int:
        async with engine_vfs(engine, backing, tmp_path / "cache") as (vfs, remote, nursery):
            await vfs.readdir(ROOT_INODE)
            remote.counts.clear()
            parent = ROOT_INODE
            for depth in range(3):
                with pytest.raises(OSError):
                    await vfs.lookup(parent, f"d{depth}")
                d = await vfs.mkdir(parent, f"d{depth}", stat.S_IFDIR | 0o700)
                for i in range(3):
                    with pytest.raises(OSError):
                        await vfs.lookup(d.ino, f"f{i}")
                    fh, attr = await vfs.create(d.ino, f"f{i}", 0o100600, os.O_WRONLY)
                    await vfs.write(fh, 0, b"x" * 100)
                    await vfs.setattr(attr.ino, mtime_ns=10**18, fh=fh)
                    await vfs.setattr(attr.ino, mode=0o644, fh=fh)
                    await vfs.flush(fh)
                    await vfs.release(fh)
                parent = d.ino
            vfs._attrs.pop("/", None)  # as after attr_timeout
            assert (await vfs.getattr(ROOT_INODE)).mode & stat.S_IFDIR
            nursery.cancel_scope.cancel()
        return remote.counts.get("stat", 0)

    stats = engine(main)
    assert (backing / "d0" / "d1" / "d2" / "f2").read_bytes() == b"x" * 100
    # The mkdirs' own stats (3), the uploads' checks (9), the root's, and
    # the first lookup in the root (its names came from the server, where
    # others may have added one): none for the 11 names looked up in
    # directories made here before they were made.
    assert stats <= 14, stats


def test_names_stat_ed_one_by_one_list_their_directory_once(engine: Runner,
                                                            tmp_path: Path) -> None:
    # What a second `rsync -a` (and make, git status) does: a stat of every
    # name of a tree, one at a time. It cost a round trip per name.
    backing = tmp_path / "remote"
    (backing / "d").mkdir(parents=True)
    names = [f"f{i:02d}" for i in range(30)]
    for i, name in enumerate(names):
        (backing / "d" / name).write_bytes(b"x" * i)

    async def main() -> tuple[dict[str, int], dict[str, int], dict[str, int], list[int]]:
        async with engine_vfs(engine, backing, tmp_path / "cache") as (vfs, remote, nursery):
            d = await vfs.lookup(ROOT_INODE, "d")
            remote.counts.clear()
            for name in names[:LIST_AFTER - 1]:
                await vfs.lookup(d.ino, name)
            few = dict(remote.counts)
            await vfs.lookup(d.ino, names[LIST_AFTER - 1])
            await trio.testing.wait_all_tasks_blocked()  # the listing it started, under way
            started = dict(remote.counts)
            await (await vfs.open_listing(d.ino)).wait_done()  # the one under way
            sizes = [(await vfs.lookup(d.ino, name)).size for name in names]
            counts = dict(remote.counts)
            nursery.cancel_scope.cancel()
        return few, started, counts, sizes

    few, started, counts, sizes = engine(main)
    assert few == {"stat": LIST_AFTER - 1}
    assert started == {"stat": LIST_AFTER, "listdir": 1}
    assert counts == {"stat": LIST_AFTER, "listdir": 1}
    assert sizes == list(range(30))


def test_names_not_found_and_opens_list_nothing(engine: Runner, tmp_path: Path) -> None:
    # `tar x` into a directory that exists (every name looked up is new) and
    # a file opened again and again: a listing would answer none of them.
    backing = tmp_path / "remote"
    (backing / "e").mkdir(parents=True)
    (backing / "e" / "f").write_bytes(b"x")

    async def main() -> dict[str, int]:
        async with engine_vfs(engine, backing, tmp_path / "cache") as (vfs, remote, nursery):
            e = await vfs.lookup(ROOT_INODE, "e")
            f = await vfs.lookup(e.ino, "f")
            await trio.sleep(FRESH_FOR_OPEN)  # the first open's own stat counts too
            remote.counts.clear()
            for i in range(3 * LIST_AFTER):
                with pytest.raises(FileNotFoundError):
                    await vfs.lookup(e.ino, f"new{i}")
                fh, _ = await vfs.open(f.ino, os.O_RDONLY)
                await vfs.release(fh)
            await trio.testing.wait_all_tasks_blocked()
            counts = dict(remote.counts)
            nursery.cancel_scope.cancel()
        return counts

    counts = engine(main)
    assert "listdir" not in counts and counts["stat"] == 6 * LIST_AFTER


def test_an_open_right_after_a_lookup_asks_the_server_once(engine: Runner,
                                                            tmp_path: Path) -> None:
    # cat of a file: the kernel's lookup, then the open. The lookup's stat
    # is as fresh as open's own would be; an open after a close, or later
    # than FRESH_FOR_OPEN, asks the server again and sees its change.
    backing = tmp_path / "remote"
    backing.mkdir()
    (backing / "f").write_bytes(b"one")

    async def main() -> tuple[list[int], bytes, bytes]:
        async with engine_vfs(engine, backing, tmp_path / "cache",
                              attr_timeout=1) as (vfs, remote, nursery):
            stats = []
            remote.counts.clear()
            f = await vfs.lookup(ROOT_INODE, "f")
            fh, _ = await vfs.open(f.ino, os.O_RDONLY)
            stats.append(remote.counts.get("stat", 0))
            first = await vfs.read(fh, 0, 100)
            await vfs.release(fh)
            (backing / "f").write_bytes(b"two!")  # changed on the server
            remote.counts.clear()
            await vfs.getattr(f.ino)  # cached: no close-to-open stat yet
            fh, _ = await vfs.open(f.ino, os.O_RDONLY)  # after a close: asks again
            stats.append(remote.counts.get("stat", 0))
            second = await vfs.read(fh, 0, 100)
            vfs._attrs.pop("/f")  # as after attr_timeout
            await vfs.getattr(f.ino)
            await trio.sleep(FRESH_FOR_OPEN)
            remote.counts.clear()
            fh2, _ = await vfs.open(f.ino, os.O_RDONLY)  # too long after that stat
            stats.append(remote.counts.get("stat", 0))
            await vfs.release(fh)
            await vfs.release(fh2)
            nursery.cancel_scope.cancel()
        return stats, first, second

    stats, first, second = engine(main)
    assert (first, second) == (b"one", b"two!")
    assert stats == [1, 1, 1]


class GatedRemote(CountingRemote):
    """A counting remote whose listings, once they have their answer, wait
    for ``gate`` (if there is one) before they return it."""

    gate: trio.Event | None = None

    def __getattr__(self, name: str) -> Any:
        counted = super().__getattr__(name)
        if name != "listdir":
            return counted

        async def gated(*args: Any, **kwargs: Any) -> Any:
            got = await counted(*args, **kwargs)
            if self.gate is not None:
                await self.gate.wait()
            return got
        return gated


def _tree_of(tmp_path: Path) -> Path:
    """Returns: the backing directory, with d/f0.. (LIST_AFTER files of 1 byte)."""
    backing = tmp_path / "remote"
    (backing / "d").mkdir(parents=True)
    for i in range(LIST_AFTER):
        (backing / "d" / f"f{i}").write_bytes(b"x")
    return backing


async def _listing_held(vfs: Vfs, remote: CountingRemote) -> tuple[trio.Event, Any]:
    """Look up every name of /d (which lists it), its listing held back.

    Returns: the event that lets the listing return, and the last name's attributes."""
    gated = GatedRemote(remote._real)
    gate = gated.gate = trio.Event()
    vfs.remote = gated  # type: ignore[assignment]
    d = await vfs.lookup(ROOT_INODE, "d")
    for i in range(LIST_AFTER):
        last = await vfs.lookup(d.ino, f"f{i}")  # the last starts a listing of /d
    return gate, last


def test_a_listing_under_way_says_nothing_of_a_directory_moved_and_made_anew(
        engine: Runner, tmp_path: Path) -> None:
    backing = _tree_of(tmp_path)

    async def main() -> tuple[list[str], bool]:
        async with engine_vfs(engine, backing, tmp_path / "cache") as (vfs, remote, nursery):
            gate, _ = await _listing_held(vfs, remote)
            await vfs.rename(ROOT_INODE, "d", ROOT_INODE, "d.old")
            new = await vfs.mkdir(ROOT_INODE, "d", stat.S_IFDIR | 0o755)
            gate.set()  # the listing of the old /d returns now
            await trio.testing.wait_all_tasks_blocked()
            names = [name for name, _ in await vfs.readdir(new.ino)]
            try:
                await vfs.lookup(new.ino, "f0")
                found = True
            except FileNotFoundError:
                found = False
            nursery.cancel_scope.cancel()
        return names, found

    names, found = engine(main)
    assert names == [] and not found


def test_a_listing_under_way_does_not_undo_our_own_change_of_a_file(
        engine: Runner, tmp_path: Path) -> None:
    backing = _tree_of(tmp_path)

    async def main() -> int:
        async with engine_vfs(engine, backing, tmp_path / "cache") as (vfs, remote, nursery):
            gate, last = await _listing_held(vfs, remote)
            await vfs.setattr(last.ino, size=999)  # uploaded: the server has 999 bytes
            gate.set()  # the listing, from before, returns now
            await trio.testing.wait_all_tasks_blocked()
            size = (await vfs.getattr(last.ino)).size
            nursery.cancel_scope.cancel()
        return size

    assert engine(main) == 999


class InFlightRemote(CountingRemote):
    """A counting remote that records the most stats in flight at once."""

    def __init__(self, real: EngineRemote) -> None:
        super().__init__(real)
        self.now = self.most = 0

    def __getattr__(self, name: str) -> Any:
        counted = super().__getattr__(name)
        if name != "stat":
            return counted

        async def tracked(*args: Any, **kwargs: Any) -> Any:
            self.now += 1
            self.most = max(self.most, self.now)
            try:
                return await counted(*args, **kwargs)
            finally:
                self.now -= 1
        return tracked


def test_a_directory_made_here_restats_its_names_together(engine: Runner,
                                                         tmp_path: Path) -> None:
    # `rm -r` of a tree this mount made: each directory it opens has known
    # names whose attributes have expired. One round trip per name, one after
    # the other, made each opendir wait for all of them.
    backing = tmp_path / "remote"
    backing.mkdir()

    async def main() -> tuple[list[str], int, dict[str, int]]:
        async with engine_vfs(engine, backing, tmp_path / "cache",
                              attr_timeout=0.2) as (vfs, remote, nursery):
            d = await vfs.mkdir(ROOT_INODE, "d", stat.S_IFDIR | 0o755)
            for i in range(8):
                fh, _ = await vfs.create(d.ino, f"f{i}", 0o100644, os.O_WRONLY)
                await vfs.write(fh, 0, b"x" * i)
                await vfs.release(fh)
            (backing / "d" / "f3").unlink()  # gone on the server meanwhile
            await trio.sleep(0.3)  # every attribute expired; the names are kept longer
            tracked = InFlightRemote(remote._real)
            vfs.remote = tracked  # type: ignore[assignment]
            got = await vfs.readdir(d.ino)
            nursery.cancel_scope.cancel()
        return [f"{name}:{attr.size}" for name, attr in got], tracked.most, tracked.counts

    names, most, counts = engine(main)
    assert names == [f"f{i}:{i}" for i in range(8) if i != 3]
    assert counts == {"stat": 8}, counts
    assert most == 8


def test_small_quick_uploads_are_logged_at_debug_level(engine: Runner, tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    # A line per file of a `tar x` at info level cost 3% of its time; an
    # upload of LOGGED_FROM bytes or more still shows at info.
    backing = tmp_path / "remote"
    backing.mkdir()

    async def main() -> None:
        async with engine_vfs(engine, backing, tmp_path / "cache") as (vfs, remote, nursery):
            for name, size in (("small", 10), ("big", LOGGED_FROM)):
                fh, _ = await vfs.create(ROOT_INODE, name, 0o644, os.O_WRONLY)
                await vfs.write(fh, 0, b"x" * size)
                await vfs.flush(fh)
                await vfs.release(fh)
            nursery.cancel_scope.cancel()

    with caplog.at_level(logging.DEBUG, logger="xenonfs.vfs"):
        engine(main)
    levels = {r.getMessage().split()[1]: r.levelno for r in caplog.records
              if r.getMessage().startswith("uploaded ")}
    assert levels == {"/small:": logging.DEBUG, "/big:": logging.INFO}, levels


class _Watched(dict):  # type: ignore[type-arg]
    """A dict that counts walks over it."""

    walks = 0

    def __iter__(self) -> Any:
        _Watched.walks += 1
        return super().__iter__()


def test_a_file_rename_walks_none_of_the_mounts_tables(engine: Runner, tmp_path: Path) -> None:
    # rsync renames every file it sends: a walk over every cached entry,
    # inode and attribute per rename made a tree of N files cost N^2.
    backing = tmp_path / "remote"
    backing.mkdir()

    async def main() -> tuple[int, bool, bool]:
        async with engine_vfs(engine, backing, tmp_path / "cache") as (vfs, remote, nursery):
            for name in ("a", "b", "c"):
                fh, _ = await vfs.create(ROOT_INODE, f".{name}.tmp", 0o644, os.O_WRONLY)
                await vfs.write(fh, 0, name.encode())
                await vfs.flush(fh)
                await vfs.release(fh)
            vfs.cache.entries = _Watched(vfs.cache.entries)
            vfs.inodes._ino = _Watched(vfs.inodes._ino)
            vfs._attrs = _Watched(vfs._attrs)
            vfs._dirs = _Watched(vfs._dirs)
            _Watched.walks = 0
            await vfs.rename(ROOT_INODE, ".a.tmp", ROOT_INODE, "a")
            await vfs.rename(ROOT_INODE, ".b.tmp", ROOT_INODE, "c")
            await vfs.rename(ROOT_INODE, ".c.tmp", ROOT_INODE, "c")  # replaces
            walks = _Watched.walks
            a = await vfs.lookup(ROOT_INODE, "a")
            fh, _ = await vfs.open(a.ino, os.O_RDONLY)
            cached = vfs._handles[fh].entry is vfs.cache.entries.get("/a")
            await vfs.release(fh)
            nursery.cancel_scope.cancel()
        return walks, cached, "/.a.tmp" in vfs.cache.entries

    walks, cached, old_left = engine(main)
    assert walks == 0
    assert cached and not old_left
    assert sorted(p.name for p in backing.iterdir()) == ["a", "c"]
    assert (backing / "a").read_bytes() == b"a" and (backing / "c").read_bytes() == b"c"
