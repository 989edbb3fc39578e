"""The vfs layer without the kernel, on a real engine `file` file system:
how many remote calls the common operations cost (each is an engine round
trip; `tar x` of many small files is bound by them)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import trio

from tests.conftest import Runner
from xenonfs.backends.engine import EngineRemote
from xenonfs.vfs.cache import FileCache
from xenonfs.vfs.core import Vfs
from xenonfs.vfs.inodes import ROOT_INODE


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


def test_a_written_file_and_its_chmod_need_no_extra_remote_stat(engine: Runner,
                                                                 tmp_path: Path) -> None:
    backing = tmp_path / "remote"
    backing.mkdir()

    async def main() -> tuple[dict[str, int], int, int, int]:
        client = engine.client
        fs = await client.create_file_system("file", "/")
        description = await client.get_file_system_adaptor_description("file")
        remote = CountingRemote(EngineRemote(client, fs, str(backing), description))
        cache = FileCache(tmp_path / "cache", 1 << 30)
        cache.load()
        try:
            async with trio.open_nursery() as nursery:
                vfs = Vfs(remote, cache, nursery, attr_timeout=60, dir_timeout=60)  # type: ignore[arg-type]
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
        finally:
            await fs.close()
        return counts, size, mode, seen

    counts, size, mode, seen = engine(main)
    assert size == 12
    assert mode == 0o600
    assert stat.S_IMODE((backing / "f.txt").stat().st_mode) == 0o640  # changed by us, above
    assert seen == 0o640
    # One call: the chmod itself. No stat: the upload's own check of the remote
    # size gave fresh attributes, and a chmod changes nothing else.
    assert counts == {"chmod": 1}, counts
