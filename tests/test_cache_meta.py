"""The cache's persisted metadata (no mount needed): what a restart finds,
an older version's per-file metadata taken over, saves that make no files."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

from tests.test_cache_full import small_cache  # noqa: F401 (a fixture)
from xenonfs.vfs.cache import FileCache, _key
from xenonfs.vfs.metastore import BATCH, NAME


def _dirty(cache: FileCache, path: str, data: bytes) -> None:
    entry = cache.entry(path)
    entry.data.write_bytes(data)
    entry.complete, entry.dirty, entry.remote_size = True, True, 7
    cache.save(entry)


def test_a_restart_finds_dirty_entries_and_not_forgotten_ones(tmp_path: Path) -> None:
    cache = FileCache(tmp_path / "c", 1 << 30)
    _dirty(cache, "/a", b"aaa")
    _dirty(cache, "/b", b"bbb")
    _dirty(cache, "/gone", b"ggg")
    cache.forget(cache.entries["/b"])
    cache.entries["/gone"].data.unlink()  # data gone: its metadata is dropped
    again = FileCache(tmp_path / "c", 1 << 30)
    dirty = again.load()
    assert [e.path for e in dirty] == ["/a"]
    assert dirty[0].remote_size == 7 and dirty[0].data.read_bytes() == b"aaa"
    assert sorted(again.entries) == ["/a"]
    assert [e.path for e in FileCache(tmp_path / "c", 1 << 30).load()] == ["/a"]


def test_an_older_versions_metadata_files_are_taken_over(tmp_path: Path) -> None:
    # What earlier versions left: meta/KEY.json beside data/KEY. An upgrade
    # that ignored them would never upload the dirty file.
    directory = tmp_path / "c"
    key = _key("/old dirty")
    for sub in ("data", "meta"):
        (directory / sub).mkdir(parents=True)
    (directory / "data" / key).write_bytes(b"not yet uploaded")
    (directory / "meta" / f"{key}.json").write_text(json.dumps(
        {"path": "/old dirty", "remote_size": 3, "remote_mtime_ns": 5, "dirty": True}))
    (directory / "meta" / "left.tmp").write_text("{")
    dirty = FileCache(directory, 1 << 30).load()
    assert [(e.path, e.remote_size, e.remote_mtime_ns) for e in dirty] == [("/old dirty", 3, 5)]
    assert not (directory / "meta").exists() and (directory / NAME).exists()
    assert [e.path for e in FileCache(directory, 1 << 30).load()] == ["/old dirty"]


def test_saves_make_no_new_files(tmp_path: Path) -> None:
    # Each save used to write a new file and rename it over the old one: a
    # new inode per save, which costs up to a millisecond of kernel time on
    # ext4 without a journal (see vfs.metastore).
    cache = FileCache(tmp_path / "c", 1 << 30)
    _dirty(cache, "/f", b"x")

    def inodes() -> set[tuple[str, int, int]]:
        # A directory's mtime changes with every name made or renamed in it.
        return {(str(p), os.stat(p).st_ino, os.stat(p).st_mtime_ns if p.is_dir() else 0)
                for p in (tmp_path / "c").rglob("*")}
    before = inodes()
    entry = cache.entries["/f"]
    for i in range(20):
        entry.dirty, entry.remote_size = bool(i % 2), i
        cache.save(entry)
    assert inodes() == before
    assert [e.remote_size for e in FileCache(tmp_path / "c", 1 << 30).load()] == [19]


def test_a_corrupt_database_is_an_error_that_names_it(tmp_path: Path) -> None:
    directory = tmp_path / "c"
    directory.mkdir()
    (directory / NAME).write_bytes(b"this is not a database" * 100)
    try:
        FileCache(directory, 1 << 30).load()
    except OSError as exc:
        assert str(directory / NAME) in str(exc)
    else:
        raise AssertionError("a corrupt metadata database went unnoticed")


def test_metadata_is_deleted_on_a_full_disk_after_making_room(small_cache: Path) -> None:
    # A delete is written too: on a full disk it fails until room is made
    # (else an unlinked-while-open dirty file would come back after a crash).
    cache = FileCache(small_cache, 1 << 30)
    clean = cache.entry("/clean")
    clean.data.write_bytes(b"c" * (2 << 20))
    clean.complete = True
    cache.save(clean)
    _dirty(cache, "/gone", b"g")
    with open(small_cache / "filler", "wb") as f:
        try:
            while True:
                f.write(b"f" * 65536)
                f.flush()
        except OSError:
            pass
    gone = cache.entries.pop("/gone")
    cache.forget(gone)
    assert "/clean" not in cache.entries  # evicted to make the room
    assert [e.path for e in FileCache(small_cache, 1 << 30).load()] == []


def test_a_kill_while_a_rename_moves_the_bytes_loses_no_dirty_entry(
        tmp_path: Path, monkeypatch) -> None:
    # Killed just after the bytes moved to the new name: the old row's bytes
    # are gone (dropped by the next load), so only a row saved before the
    # move keeps the entry, which holds what was never uploaded.
    import xenonfs.vfs.cache as cache_module
    cache = FileCache(tmp_path / "c", 1 << 30)
    _dirty(cache, "/a", b"not uploaded yet")
    real = os.replace

    def moved_then_killed(a: object, b: object) -> None:
        real(a, b)
        raise KeyboardInterrupt("killed")
    monkeypatch.setattr(cache_module.os, "replace", moved_then_killed)
    try:
        cache.rename("/a", "/b")
    except KeyboardInterrupt:
        pass
    monkeypatch.setattr(cache_module.os, "replace", real)
    dirty = FileCache(tmp_path / "c", 1 << 30).load()
    assert [(e.path, e.data.read_bytes()) for e in dirty] == [("/b", b"not uploaded yet")]


def test_a_rename_keeps_the_entry_and_its_row(tmp_path: Path) -> None:
    cache = FileCache(tmp_path / "c", 1 << 30)
    _dirty(cache, "/d/a", b"aaa")
    cache.rename("/d", "/e")
    assert sorted(cache.entries) == ["/e/a"]
    dirty = FileCache(tmp_path / "c", 1 << 30).load()
    assert [(e.path, e.data.read_bytes()) for e in dirty] == [("/e/a", b"aaa")]


def _rows(directory: Path) -> list[str]:
    with sqlite3.connect(directory / NAME) as db:
        return sorted(key for (key,) in db.execute("SELECT key FROM entries"))


def test_dropped_entries_rows_go_in_batches_and_a_kill_between_brings_none_back(
        tmp_path: Path) -> None:
    # rm -r of cached files: each drop deletes the data file at once and its
    # row with others (a commit per BATCH drops, not per file). A kill in
    # between leaves rows whose data is gone: the next load drops them. A
    # new entry under a dropped key keeps its row.
    directory = tmp_path / "c"
    cache = FileCache(directory, 1 << 30)
    for i in range(5):
        _dirty(cache, f"/f{i}", b"x")
        cache.entries[f"/f{i}"].dirty = False
        cache.save(cache.entries[f"/f{i}"])
    for i in range(5):
        cache.drop(f"/f{i}")
    assert len(_rows(directory)) == 5  # held back
    _dirty(cache, "/f0", b"new")  # made again: its row is no delete's to take
    # Killed here (no flush): a restart brings back only what has data.
    again = FileCache(directory, 1 << 30)
    assert [e.path for e in again.load()] == ["/f0"]
    assert _rows(directory) == [_key("/f0")]
    for i in range(1, BATCH + 1):
        _dirty(again, f"/g{i}", b"y")
        again.drop(f"/g{i}")
    assert _rows(directory) == [_key("/f0")]  # BATCH drops: deleted together
    again.drop("/f0")
    again.save_pending()  # at unmount
    assert _rows(directory) == []


def test_a_new_entry_under_a_dropped_key_leaves_no_old_row_for_its_bytes(tmp_path: Path) -> None:
    # Dropped (its row held back), then made anew: the new bytes are on disk
    # before the new entry's first save. A kill then must not let the next
    # load take the old row (dirty, with its sizes) for the new bytes.
    directory = tmp_path / "c"
    cache = FileCache(directory, 1 << 30)
    _dirty(cache, "/f", b"old")
    cache.drop("/f")
    cache.entry("/f").data.write_bytes(b"new, not saved yet")
    # Killed here.
    assert FileCache(directory, 1 << 30).load() == []
    assert _rows(directory) == []
