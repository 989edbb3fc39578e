"""Directory listings stream: the vfs hands out the first entries of a big
directory while the engine is still sending the rest (real engine, `file`
file system, no kernel), and the result is whole and cached afterwards."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Awaitable, Callable

import pytest
import trio

from tests.conftest import Runner
from xenonfs.backends.engine import EngineRemote
from xenonfs.client import XenonClient
from xenonfs.vfs.cache import FileCache
from xenonfs.vfs.core import Vfs
from xenonfs.vfs.inodes import ROOT_INODE

N = 20_000


def test_a_big_listing_is_usable_before_it_is_complete(engine: Runner, tmp_path: Path) -> None:
    backing = tmp_path / "remote"
    (backing / "big").mkdir(parents=True)
    for i in range(N):
        (backing / "big" / f"f{i:05d}").write_bytes(b"x" * (i % 7))

    async def body(vfs: Vfs) -> None:
        big = await vfs.lookup(ROOT_INODE, "big")
        listing = await vfs.open_listing(big.ino)
        early = len(listing.entries)
        assert 0 < early < N and not listing.done
        # A second opener shares the listing under way.
        assert await vfs.open_listing(big.ino) is listing
        entries = await listing.wait_done()
        assert sorted(name for name, _ in entries) == sorted(os.listdir(backing / "big"))
        sizes = {name: a.size for name, a in entries}
        assert all(sizes[f"f{i:05d}"] == i % 7 for i in range(N))
        # Cached now: complete at once, with the same inodes.
        again = await vfs.open_listing(big.ino)
        assert again.done and [(n, a.ino) for n, a in again.entries] == \
            [(n, a.ino) for n, a in entries]
        with pytest.raises(OSError) as info:
            await vfs.open_listing(vfs.inodes.ino("/missing"))
        assert info.value.errno == 2

    engine(on_engine_file, engine.client, backing, tmp_path / "cache", body, 60)


async def on_engine_file(client: XenonClient, root: Path, cache_dir: Path,
                         body: Callable[[Vfs], Awaitable[Any]], timeout: float = 0) -> Any:
    """Returns: what ``body(vfs)`` does on a vfs over ``root`` through the
    engine's file adaptor (run it with the ``engine`` fixture and its
    ``client``), its cache in ``cache_dir`` and ``timeout`` for its
    attributes and listings."""
    fs = await client.create_file_system("file", "/")
    try:
        remote = EngineRemote(client, fs, str(root),
                              await client.get_file_system_adaptor_description("file"))
        cache = FileCache(cache_dir, 1 << 30)
        cache.load()
        async with trio.open_nursery() as nursery:
            vfs = Vfs(remote, cache, nursery, attr_timeout=timeout, dir_timeout=timeout)
            result = await body(vfs)
            nursery.cancel_scope.cancel()
            return result
    finally:
        await fs.close()
