"""The file cache's eviction (no mount needed): clean closed files go, least
recently used first, dirty and open ones stay; it looks at most once a second."""

from __future__ import annotations

from pathlib import Path

import pytest

from xenonfs.vfs import cache as cache_module
from xenonfs.vfs.cache import FileCache


def _fill(cache: FileCache, name: str, size: int) -> None:
    entry = cache.entry(f"/{name}")
    entry.data.write_bytes(b"x" * size)
    entry.complete = True


def test_eviction_keeps_dirty_and_open_files_and_looks_once_a_second(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(cache_module.time, "monotonic", lambda: clock[0])
    cache = FileCache(tmp_path / "c", max_size=3000)
    for name in ("old", "dirty", "open", "new"):
        _fill(cache, name, 1000)
        clock[0] += 0.01
    cache.entries["/dirty"].dirty = True
    cache.entries["/open"].opens = 1
    cache.evict()
    assert sorted(cache.entries) == ["/dirty", "/new", "/open"]  # the oldest clean one went
    _fill(cache, "more", 1000)
    cache.evict()  # a look again at once: not yet
    assert "/more" in cache.entries and "/new" in cache.entries
    new_data = cache.entries["/new"].data
    clock[0] += cache_module.EVICT_EVERY
    cache.evict()
    assert sorted(cache.entries) == ["/dirty", "/more", "/open"]
    assert not new_data.exists()  # its bytes went with it
