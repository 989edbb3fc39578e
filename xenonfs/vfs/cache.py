"""The file cache: local copies of remote files, one directory per mount.

Locking rules (all of this runs in the one trio thread of the mount, so no
two coroutines touch an entry at the same instant; these rules are about
what may interleave across an ``await``):

- ``entry.lock`` is held for a whole download or upload of that path, so
  an upload never reads a half-downloaded file and two uploads never race.
- An upload while writing (``entry.early``, see `vfs.upload`) runs without
  the lock, while the file only grows at its end. Anything else that changes
  the local bytes or the remote name (a write elsewhere, truncate, rename,
  unlink, re-create) stops it, and waits for it to end, before it acts; an
  upload at close waits for it to end before it takes the lock. It only runs
  on dirty entries, and dirty entries are never downloaded, so it never
  meets a download.
- ``entry.version`` counts changes to the local bytes: an upload marks the
  entry clean only if no write came in while it ran.
- Readers do not take the lock: they wait on ``entry.changed`` until the
  byte range they need is on disk (read while downloading).
- Dirty entries are never evicted; entries that are open or downloading
  are never evicted.
- Metadata (a row of `vfs.metastore`) is written before an entry becomes
  dirty and after it becomes clean, so a crash never loses the fact that local
  bytes are newer than the remote ones.
- ``uploading`` is persisted before an upload over a version we stamped
  changes the server's copy, and cleared by the next stamp: after a failed or
  cut-off upload (a crash too) the server's copy differs from the stamp by
  our own hand, which the upload check (`vfs.conflict`) must not call someone
  else's change. The retry sends the same ranges (or, after a restart, the
  whole file), which repairs whatever part of ours arrived.
- Sparse entries (backends with ranged reads, `vfs.ranged`): ``held`` says
  which bytes of ``data`` are real. A fetched range is written into
  ``data`` only where it is still missing when it arrives (a write may have
  come in meanwhile), then added to ``held``; both happen between two
  awaits, so no reader sees one without the other. ``held`` is persisted
  lazily after fetches (`FileCache.save_soon`): a crash can only forget
  fetched ranges, never claim bytes that are not there. After a write it is
  persisted at once unless what was saved already covers the write (or said
  the file has no holes), because a written range that ``held`` forgot would
  be fetched over after a restart. Which ranges were written is kept in
  memory only: a dirty sparse entry found after a restart is completed from
  the server and sent whole.
- An entry whose local bytes cannot be trusted any more (a local write
  failed, or the server's copy changed under a local edit: `vfs.conflict`)
  is taken out of ``entries`` and its ``data`` renamed into ``lost+found``:
  the rename needs no free space, keeps the open handles' inode, and is
  itself the persisted mark (`load` drops metadata whose data is gone), so
  no later mount uploads it. ``lost`` then says why; its handles' closes fail.
- Disk full (`make_room`): clean entries that are closed and not being
  fetched, and ``.part`` files no download is writing, are deleted to make
  room; dirty bytes never are.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from .metastore import MetaStore
from .ranges import RangeSet

log = logging.getLogger("xenonfs.cache")

#: Seconds between two looks of `FileCache.evict` at the cache's size.
EVICT_EVERY = 1.0

#: Where a mount's untrusted local bytes go (inside its cache directory, so
#: moving them there is a rename: it needs no free space).
LOST_FOUND = "lost+found"


def disk_full(exc: OSError) -> bool:
    """Returns: whether ``exc`` says the local disk (or quota) is full."""
    return exc.errno in (errno.ENOSPC, errno.EDQUOT)


@dataclass(eq=False)
class CacheEntry:
    """One remote file's local copy.

    Attributes:
        path: path relative to the mount root ("/a/b").
        data: the complete local copy.
        part: where a download in progress writes (renamed to ``data`` when done).
        remote_size, remote_mtime_ns: the remote version the clean copy equals
            (and the version a local edit started from: `vfs.conflict`).
        remote_ctime_ns, remote_ino: more of that version, where the backend
            reports them (None: not compared).
        complete: ``data`` holds the whole file.
        dirty: local bytes not yet uploaded.
        version: bumped by every change to the local bytes.
        appended: the local size while every write since the file was
            emptied landed at its end (None once one did not).
        early: the upload while writing, when one runs (`vfs.upload`).
    """

    path: str
    data: Path
    part: Path
    #: Its metadata's key in the `MetaStore` (the data file's name).
    key: str
    remote_size: int | None = None
    remote_mtime_ns: int | None = None
    remote_ctime_ns: int | None = None
    remote_ino: int | None = None
    #: An upload of ours over that version began and has not ended well: the
    #: server's copy may hold part of it, so it no longer is that version, and
    #: that is no one else's change (persisted: a crash mid-upload too).
    uploading: bool = False
    #: Why the local bytes were taken out of the cache (None: they were not).
    lost: str | None = None
    lost_errno: int = errno.EIO
    #: `xenonfs refresh` came while it was open: fetched again at the first
    #: open after its last close (its version stays, for the upload's check).
    stale: bool = False
    #: When the version stamp was taken (wall clock; None: not since start).
    stamped_at: float | None = None
    complete: bool = False
    dirty: bool = False
    downloading: bool = False
    version: int = 0
    appended: int | None = None
    early: Any = None
    #: The mode the file was created or chmod-ed with, kept across uploads
    #: by backends whose upload replaces the file (None: not known).
    mode: int | None = None
    download_error: OSError | None = None
    #: Sparse entries only (None otherwise): the bytes of ``data`` that are
    #: real, those written since the last upload (None: not known, after a
    #: restart), and the smallest size it was cut to since then.
    held: RangeSet | None = None
    written: RangeSet | None = None
    cut: int | None = None
    #: Ranges being fetched: (start, end, done); bumped `generation` makes
    #: fetches of an older version of the file drop what they got.
    fetching: list[Any] = field(default_factory=list)
    generation: int = 0
    fetch_error: OSError | None = None
    reader: Any = None
    reader_lock: trio.Lock = field(default_factory=trio.Lock)
    unsaved: bool = False
    #: What the last `FileCache.save` wrote of ``held``: a copy, and whether
    #: it covered the whole file.
    saved_held: RangeSet | None = None
    saved_full: bool = False
    opens: int = 0
    last_used: float = field(default_factory=time.monotonic)
    lock: trio.Lock = field(default_factory=trio.Lock)
    changed: trio.Event = field(default_factory=trio.Event)

    def notify(self) -> None:
        """Wake everyone waiting for progress on this entry."""
        self.changed.set()
        self.changed = trio.Event()

    def local_size(self) -> int:
        """Returns: bytes of the local copy on disk (0 if none)."""
        for p in ((self.data,) if self.complete else (self.part, self.data)):
            try:
                st = p.stat()
                # What it takes on disk: a sparse entry's holes take nothing.
                return min(st.st_size, st.st_blocks * 512)
            except FileNotFoundError:
                continue
        return 0


def _key(path: str) -> str:
    return hashlib.sha256(os.fsencode(path)).hexdigest()[:40]  # names need not be UTF-8


class FileCache:
    """Entries by path, persisted under ``directory``.

    Args:
        directory: this mount's private cache directory (created 0700).
        max_size: bytes of clean data to keep; older clean files are evicted.
    """

    def __init__(self, directory: Path, max_size: int) -> None:
        self.directory = directory
        self.max_size = max_size
        for sub in ("", "data", LOST_FOUND):
            (directory / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(directory / sub, 0o700)
        self.meta = MetaStore(directory)
        self._making_room = False
        self.entries: dict[str, CacheEntry] = {}
        self._looked = -EVICT_EVERY  # when `evict` last looked (monotonic seconds)

    def _new(self, path: str) -> CacheEntry:
        key = _key(path)
        return CacheEntry(path, self.directory / "data" / key,
                          self.directory / "data" / f"{key}.part", key)

    def load(self) -> list[CacheEntry]:
        """Read the persisted entries (after a restart).

        Returns:
            The dirty ones: local bytes that never reached the remote side.
        """
        dirty = []
        for key, info in self.meta.items():
            entry = self._new(info["path"])
            if entry.key != key or not entry.data.exists():
                try:
                    self.meta.delete(key)
                except OSError as exc:  # asked again at the next load
                    log.warning("could not drop cache metadata %s: %s", key, exc)
                continue
            entry.remote_size = info.get("remote_size")
            entry.remote_mtime_ns = info.get("remote_mtime_ns")
            entry.remote_ctime_ns = info.get("remote_ctime_ns")
            entry.remote_ino = info.get("remote_ino")
            entry.uploading = bool(info.get("uploading"))
            entry.complete = True
            entry.dirty = bool(info.get("dirty"))
            if "held" in info:
                try:
                    entry.held = RangeSet.from_list(info["held"])
                except (TypeError, ValueError):
                    entry.held = RangeSet()  # forget what it held: fetched again
                if info.get("full"):  # no holes: grown by writes since that save
                    entry.held = RangeSet([(0, entry.data.stat().st_size)])
                entry.written = None if entry.dirty else RangeSet()
            self.entries[entry.path] = entry
            if entry.dirty:
                dirty.append(entry)
        for part in (self.directory / "data").glob("*.part"):
            part.unlink(missing_ok=True)
        return dirty

    def save(self, entry: CacheEntry, data: Path | None = None) -> None:
        """Persist the entry's metadata (atomically); on a full disk, after
        making room (`make_room`). ``data``: where its bytes are for now
        (a rename, before they move), if not at ``entry.data``.

        Raises:
            OSError: ENOSPC when no room could be made.
        """
        try:
            self._save(entry, data or entry.data)
        except OSError as exc:
            if not disk_full(exc) or not self.make_room(64 << 10):
                raise
            self._save(entry, data or entry.data)

    def _save(self, entry: CacheEntry, data: Path) -> None:
        info: dict[str, Any] = {"path": entry.path, "remote_size": entry.remote_size,
                                "remote_mtime_ns": entry.remote_mtime_ns, "dirty": entry.dirty,
                                "remote_ctime_ns": entry.remote_ctime_ns,
                                "remote_ino": entry.remote_ino, "uploading": entry.uploading}
        if entry.held is not None:
            info["held"] = entry.held.to_list()
            try:
                info["full"] = entry.held.covers(0, data.stat().st_size)
            except FileNotFoundError:
                info["full"] = False
        self.meta.put(entry.key, info)
        entry.unsaved = False
        if entry.held is not None:
            entry.saved_held, entry.saved_full = entry.held.copy(), info["full"]

    def forget(self, entry: CacheEntry, key: str | None = None, soon: bool = False) -> None:
        """Delete ``entry``'s persisted metadata (``key``: its row under an
        earlier name): a restart does not bring it back. On a full disk,
        after making room once (a delete is written too); a failure is
        logged, not raised: the caller let go already. ``soon``: with
        others, later (`MetaStore.delete`; its data file is gone)."""
        key = key or entry.key
        try:
            self.meta.delete(key, soon)
            return
        except OSError as exc:
            error = exc
        if disk_full(error) and not self._making_room:
            self._making_room = True  # its drops forget too: no room made within
            try:
                freed = self.make_room(64 << 10)
            finally:
                self._making_room = False
            if freed:
                try:
                    self.meta.delete(key)
                    return
                except OSError as exc:
                    error = exc
        log.error("%s: its cache metadata could not be deleted (%s); a restart may bring "
                  "back what it says", entry.path, error, extra={"PATH": entry.path})

    def save_soon(self, entry: CacheEntry) -> None:
        """Note that ``entry`` holds more than its metadata says (saved at its
        last close, at eviction or by `save_pending`)."""
        entry.unsaved = True

    def save_lazily(self, entry: CacheEntry) -> None:
        """Persist what `save_soon` noted, if the disk lets us: a failure only
        forgets fetched ranges (fetched again), so it is logged, not raised."""
        try:
            self.save(entry)
        except OSError as exc:
            log.warning("could not note the ranges %s holds (%s); they are fetched again "
                        "after a restart", entry.path, exc, extra={"PATH": entry.path})

    def save_pending(self) -> None:
        """Persist every entry `save_soon` noted, and do the deletes held back
        (before unmount)."""
        for entry in self.entries.values():
            if entry.unsaved and entry.complete:
                self.save_lazily(entry)
        self.meta.flush()

    def get(self, path: str) -> CacheEntry | None:
        """Returns: the entry for ``path`` if there is one."""
        entry = self.entries.get(path)
        if entry is not None:
            entry.last_used = time.monotonic()
        return entry

    def entry(self, path: str) -> CacheEntry:
        """Returns: the entry for ``path``, created empty if needed."""
        entry = self.get(path)
        if entry is None:
            entry = self.entries[path] = self._new(path)
            # A row held back for deletion under this key must not outlive
            # the bytes the new entry writes before its own first save.
            self.meta.settle(entry.key)
        return entry

    def drop(self, path: str) -> None:
        """Forget ``path`` and delete its local bytes (the remote file is gone)."""
        entry = self.entries.pop(path, None)
        if entry is not None:
            for p in (entry.data, entry.part):
                p.unlink(missing_ok=True)
            self.forget(entry, soon=True)

    def rename(self, old: str, new: str, is_dir: bool = True) -> None:
        """Move entries of ``old`` (a file, or everything below a directory) to
        ``new``; not ``is_dir``: ``old`` alone (rsync renames each file it
        sends: a walk over every entry per rename was quadratic)."""
        prefix = old.rstrip("/") + "/"
        paths = ([p for p in self.entries if p == old or p.startswith(prefix)] if is_dir
                 else [old] if old in self.entries else [])
        for path in paths:
            entry = self.entries.pop(path)
            moved = self._new(new + path[len(old):])
            self.drop(moved.path)
            was = (entry.data, entry.part, entry.key)
            entry.path, entry.data, entry.part, entry.key = \
                moved.path, moved.data, moved.part, moved.key
            self.entries[entry.path] = entry
            # The new row before the bytes move, the old one after: a kill
            # at any point leaves a row beside the bytes (`load` drops the
            # one whose bytes are not there), so a dirty entry is never lost.
            if entry.complete:
                self.save(entry, data=was[0])
            for a, b in ((was[0], entry.data), (was[1], entry.part)):
                if a.exists():
                    os.replace(a, b)
            if was[2] != entry.key:
                self.forget(entry, key=was[2], soon=True)  # its bytes have moved

    def usage(self) -> tuple[int, int]:
        """Returns: (bytes cached, number of dirty files)."""
        total = sum(e.local_size() for e in self.entries.values())
        return total, sum(1 for e in self.entries.values() if e.dirty)

    def evict(self) -> None:
        """Delete least recently used clean, closed files until under ``max_size``.

        Looks at most once per `EVICT_EVERY` seconds: a look stats every cached
        file, and it follows every close, which made `cat` of 2,000 cached
        files cost 4 million stats. The cap is exceeded for that long at most.
        """
        now = time.monotonic()
        if now - self._looked < EVICT_EVERY:
            return
        self._looked = now
        sizes = {p: e.local_size() for p, e in self.entries.items()}
        total = sum(sizes.values())
        if total <= self.max_size:
            return
        for entry in sorted(self.entries.values(), key=lambda e: e.last_used):
            if total <= self.max_size:
                break
            if not self.evictable(entry):
                continue
            total -= sizes[entry.path]
            self.drop(entry.path)

    @staticmethod
    def evictable(entry: CacheEntry) -> bool:
        return not (entry.dirty or entry.opens or entry.downloading or entry.fetching
                    or entry.lock.locked())

    def free_bytes(self) -> int:
        """Returns: bytes the cache's disk has free for us."""
        st = os.statvfs(self.directory)
        return st.f_bavail * st.f_frsize

    def make_room(self, needed: int) -> bool:
        """The disk is full: delete ``.part`` files no download writes, then
        least recently used clean, closed entries, until ``needed`` bytes are
        free or nothing more may go (dirty bytes never go).

        Returns: whether anything was deleted (so a retry may succeed).
        """
        freed = False
        writing = {e.part for e in self.entries.values() if e.downloading}
        for part in (self.directory / "data").glob("*.part"):
            if part not in writing:
                log.info("cache disk full: deleting %s, left by a failed download", part.name)
                part.unlink(missing_ok=True)
                freed = True
        for entry in sorted(self.entries.values(), key=lambda e: e.last_used):
            if self.free_bytes() >= needed:
                break
            if self.evictable(entry) and entry.local_size() > 0:
                log.info("cache disk full: evicting the clean copy of %s", entry.path,
                         extra={"PATH": entry.path})
                self.drop(entry.path)
                freed = True
        self._looked = time.monotonic()
        if not freed:
            kept = self.lost_files()
            log.warning("cache disk full and nothing may be evicted (dirty or open files%s)",
                        f"; {len(kept)} file(s) kept in {self.lost_dir} take room: copy out "
                        "what you need and delete them" if kept else "")
        return freed

    @property
    def lost_dir(self) -> Path:
        """Returns: this mount's lost+found (untrusted local bytes, kept)."""
        return self.directory / LOST_FOUND

    def lose(self, entry: CacheEntry, why: str, tag: str, code: int = errno.EIO) -> Path | None:
        """Take ``entry`` out of the cache, its bytes renamed into lost+found
        (see the locking note): never uploaded, never read as the file again.

        Args:
            entry: the entry (its open handles keep working on the same inode).
            why: for the log and ``entry.lost``.
            tag: goes into the kept file's name (e.g. "write-failed").
            code: the errno its handles' closes get.

        Returns: where the bytes are now (None: there were none).
        """
        entry.lost, entry.lost_errno = why, code
        entry.dirty = False
        entry.appended = None
        if self.entries.get(entry.path) is entry:
            del self.entries[entry.path]
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        name = os.fsencode(entry.path.strip("/")).replace(b"/", b"%")[-180:]
        kept = self.lost_dir / os.fsdecode(name + f".{tag}-{stamp}-{entry.data.name[:8]}".encode())
        where: Path | None = kept
        try:
            os.replace(entry.data, kept)
        except FileNotFoundError:
            where = None
        self.forget(entry)
        entry.part.unlink(missing_ok=True)
        if where is not None and entry.held is not None:
            # Which bytes of the kept file are real (the rest are holes).
            try:
                Path(f"{kept}.ranges.json").write_text(json.dumps(
                    {"path": entry.path, "held": entry.held.to_list()}))
            except OSError as exc:
                log.warning("could not note the held ranges of %s: %s", kept, exc)
        log.error("%s: %s; its local bytes are kept in %s and will not be uploaded",
                  entry.path, why, where, extra={"PATH": entry.path})
        return where

    def lost_files(self) -> list[str]:
        """Returns: names in lost+found (for `xenonfs status`)."""
        try:
            return sorted(p.name for p in self.lost_dir.iterdir()
                          if not p.name.endswith(".ranges.json"))
        except OSError:
            return []
