"""Whole-file downloads into the cache (backends without ranged reads), what a
full cache disk does to them, and ``xenonfs refresh``: the part of `Vfs` that
fetches the server's copy.

Cache disk full: a failed download whose disk has less room than the file
needs is ENOSPC (the engine's own copy says "Stream copy failed", which was
EIO); the cache then makes room (`FileCache.make_room`: clean copies and
stale ``.part`` files, never dirty bytes) and tries once more, so reads work
again without a remount when room can be made.
"""

from __future__ import annotations

import errno
import logging
import os
from typing import TYPE_CHECKING, Any

from .cache import CacheEntry, FileCache, disk_full
from .conflict import same_version, stamp
from .errors import err
from .remote import RemoteAttr

if TYPE_CHECKING:
    import trio

    from .activity import Activity

log = logging.getLogger("xenonfs.vfs")


def _as_disk_full(exc: OSError, cache: FileCache, needed: int) -> OSError:
    """Returns: ``exc``, or ENOSPC when the cache disk has less room than
    ``needed`` bytes (what a copy into it failed of, whatever it said)."""
    if disk_full(exc):
        return exc
    try:
        full = cache.free_bytes() < max(needed, 1)
    except OSError:
        full = False
    if not full:
        return exc
    return err(errno.ENOSPC, f"the cache disk ({cache.directory}) is full ({exc})")


class DownloadMixin:
    """Uses the `Vfs` attributes declared below."""

    remote: Any
    cache: FileCache
    nursery: trio.Nursery
    activity: Activity
    _attrs: dict[str, tuple[RemoteAttr | None, float]]
    _dirs: dict[str, Any]
    _handles: dict[int, Any]

    if TYPE_CHECKING:
        @property
        def _sparse(self) -> bool: ...

        async def _stat(self, path: str) -> RemoteAttr | None: ...

        async def _must_stat(self, path: str) -> RemoteAttr: ...

        def _sparse_valid(self, entry: CacheEntry, remote: RemoteAttr) -> bool: ...

        def _reset_sparse(self, entry: CacheEntry, remote: RemoteAttr) -> None: ...

        def forget_path(self, path: str) -> None: ...

    def _download_wanted(self, entry: CacheEntry, remote: RemoteAttr) -> bool:
        if self._sparse:
            return False  # fetched by range as it is read
        if entry.dirty or entry.downloading:
            return False
        return not (entry.complete and same_version(entry, remote) and not entry.stale)

    def _start_download(self, entry: CacheEntry, remote: RemoteAttr) -> None:
        # Marked before the task runs, so concurrent opens start one download
        # and a read right after the open waits for it (not the old bytes).
        entry.downloading, entry.download_error = True, None
        entry.complete = False
        self.nursery.start_soon(self._download, entry, remote)

    async def _download(self, entry: CacheEntry, remote: RemoteAttr) -> None:
        async with entry.lock:
            entry.downloading, entry.download_error = True, None
            entry.complete, entry.appended = False, None
            entry.data.unlink(missing_ok=True)
            entry.part.unlink(missing_ok=True)
            self.cache.forget(entry)
            key = self.activity.start(entry.path, "download", remote.size)

            def progress(done: int) -> None:
                self.activity.progress(key, done)
                entry.notify()
            try:
                for attempt in (1, 2):
                    try:
                        await self.remote.download(entry.path, str(entry.part), progress)
                        break
                    except OSError as exc:
                        entry.part.unlink(missing_ok=True)  # never left behind, stale
                        failure = _as_disk_full(exc, self.cache, remote.size)
                        if attempt == 2 or not disk_full(failure) or \
                                not self.cache.make_room(remote.size):
                            raise failure from None
                        log.warning("download of %s: the cache disk is full; made room, "
                                    "trying again", entry.path, extra={"PATH": entry.path})
                os.replace(entry.part, entry.data)
                stamp(entry, remote)
                entry.stale = False
                entry.complete = True
                self.cache.save(entry)
            except OSError as exc:
                log.error("download of %s failed: %s", entry.path, exc,
                          extra={"PATH": entry.path})
                self.activity.error(f"download of {entry.path} failed: {exc}")
                entry.download_error = exc
            finally:
                self.activity.finish(key)
                entry.downloading = False
                entry.notify()
        self.cache.evict()

    async def _ready_for_write(self, entry: CacheEntry, path: str, truncate: bool = False) -> None:
        """Make the local copy whole before it is changed (a sparse one: there)."""
        if self._sparse:
            if not entry.dirty and not entry.opens:  # a truncate by path
                remote = await self._must_stat(path)
                if not self._sparse_valid(entry, remote):
                    self._reset_sparse(entry, remote)
            return
        if truncate and not entry.downloading and not entry.dirty:
            remote = await self._stat(path)
            async with entry.lock:
                entry.data.write_bytes(b"")
                entry.complete = True
                if remote is not None:  # what a truncate by path replaces
                    stamp(entry, remote)
            return
        while True:
            if entry.complete and not entry.downloading:
                remote = await self._stat(path)
                if entry.dirty or remote is None or not self._download_wanted(entry, remote):
                    return
            if entry.downloading:
                await entry.changed.wait()
                continue
            if entry.download_error is not None and not entry.complete:
                raise err(entry.download_error.errno or errno.EIO, path)
            remote = await self._stat(path)
            if remote is None:
                entry.data.write_bytes(b"")
                entry.complete = True
                return
            entry.downloading = True
            await self._download(entry, remote)
            if entry.download_error is not None:
                raise err(entry.download_error.errno or errno.EIO, path)

    def refresh(self, path: str) -> list[str]:
        """``xenonfs refresh``: forget metadata and cached data of ``path`` and
        below, so the next access fetches the server's copy. Files open now
        keep the version they have until their last close; the open after it
        fetches again.

        Returns: the paths whose data was dropped or marked to be fetched again.

        Raises:
            OSError: EBUSY, with nothing dropped, when a file there has local
                changes not uploaded yet (dropping them would lose them).
        """
        prefix = path.rstrip("/") + "/"
        below = [e for p, e in self.cache.entries.items()
                 if p == path or p.startswith(prefix) or path == "/"]
        # Open for writing counts: the kernel's write-back cache may hold
        # writes the cache has not seen yet.
        writing = {h.entry for h in self._handles.values() if h.writable}
        dirty = sorted(e.path for e in below if e.dirty or e.early is not None or e in writing)
        if dirty:
            raise err(errno.EBUSY, f"not refreshed: {len(dirty)} file(s) have changes not "
                                   f"uploaded yet or are open for writing (close them, "
                                   f"run `xenonfs flush`, then refresh): "
                                   + ", ".join(dirty[:10]) + (" ..." if len(dirty) > 10 else ""))
        self.forget_path(path)
        for entry in below:
            if FileCache.evictable(entry):
                self.cache.drop(entry.path)
            else:  # in use (read): the first open after its last close fetches
                entry.stale = True
        log.info("refresh %s: %d cached file(s) dropped", path, len(below))
        return sorted(e.path for e in below)
