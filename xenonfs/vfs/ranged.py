"""Sparse caching for backends with ranged reads and writes (``caps.ranged``).

A file's cache entry is a sparse local file of the file's size; ``held``
records which bytes in it are real. A read fetches only what it lacks:
exactly its own blocks when the reader jumps around (random 4 KiB reads
fetch about 4 KiB each), and for a reader that goes on where its last read
ended, a window ahead of it that doubles per read up to `AHEAD_MAX`, fetched
in `CHUNK` pieces that are in flight together (read-ahead, as rclone's vfs
and the kernel do it). A write goes into the local file and is recorded in
``written``; an upload sends only those ranges, into the remote file in
place, so a 1-byte write into a 512 MiB file sends about one byte.

The rules of the cache's locking note hold; its "sparse entries" item is
about this module.
"""

from __future__ import annotations

import errno
import logging
import os
from typing import TYPE_CHECKING, Any

import trio

from .cache import CacheEntry, FileCache, disk_full
from .conflict import same_version, stamp
from .errors import err
from .ranges import RangeSet
from .remote import RemoteAttr

if TYPE_CHECKING:
    from .activity import Activity

log = logging.getLogger("xenonfs.vfs")

#: Read-ahead fetches pieces of this many bytes (aligned to it).
CHUNK = 1 << 20
#: Demand fetches of a reader that jumps around are whole blocks of this.
BLOCK = 4096
#: A sequential reader's window ahead of its last read starts at this and
#: doubles per read up to AHEAD_MAX: 16 pieces in flight at most.
AHEAD_MIN = 256 << 10
AHEAD_MAX = 16 << 20
#: Pieces in flight at once while a file is completed (`_fill_sparse`).
FILL_IN_FLIGHT = 8


def _down(x: int, unit: int) -> int:
    return x - x % unit


def _up(x: int, unit: int) -> int:
    return _down(x + unit - 1, unit)


class RangedMixin:
    """The sparse-cache part of `Vfs`. Uses the `Vfs` attributes declared below."""

    remote: Any
    cache: FileCache
    nursery: trio.Nursery
    activity: Activity

    @property
    def _sparse(self) -> bool:
        return bool(self.remote.caps.ranged)

    # -- the entry's version ------------------------------------------------------
    def _reset_sparse(self, entry: CacheEntry, remote: RemoteAttr) -> None:
        """Make ``entry`` an empty sparse copy of the remote version ``remote``."""
        entry.generation += 1  # fetches of the old version drop what they get
        self._drop_reader(entry)
        # First: should the save below fail (disk full), no metadata may go
        # on claiming bytes of the old version for the emptied file.
        self.cache.forget(entry)
        with open(entry.data, "wb") as f:
            f.truncate(remote.size)
        entry.held, entry.written, entry.cut = RangeSet(), RangeSet(), None
        entry.fetch_error = None
        stamp(entry, remote)
        entry.stale = False
        entry.complete, entry.dirty, entry.appended = True, False, None
        self.cache.save(entry)

    def _emptied_sparse(self, entry: CacheEntry, cut: int | None) -> None:
        """``entry``'s local file was just made empty; ``cut``: the remote file
        must be cut to this at the next upload (None: it is empty already)."""
        entry.generation += 1
        entry.held, entry.written, entry.cut = RangeSet(), RangeSet(), cut
        entry.complete = True

    def _sparse_valid(self, entry: CacheEntry, remote: RemoteAttr) -> bool:
        """Returns: whether ``entry`` may go on serving reads of ``remote``."""
        if not entry.complete:
            return False
        if entry.held is None:  # a whole copy (from before sparse caching)
            entry.held = RangeSet([(0, os.stat(entry.data).st_size)])
            entry.written = None if entry.dirty else RangeSet()
        if entry.dirty or entry.opens:
            # Local changes are newer; open handles go on with the version
            # they opened (the next open after the last close sees the new one).
            return True
        # ctime too: a same-second change is seen where the backend has it.
        return same_version(entry, remote) and not entry.stale

    # -- reads --------------------------------------------------------------------
    async def _read_sparse(self, handle: Any, fd: int, offset: int, size: int) -> bytes:
        entry = handle.entry
        length = os.fstat(fd).st_size
        end = min(offset + size, length)
        if offset >= end:
            return b""
        sequential = offset == handle.next_offset or offset == 0
        handle.next_offset = end
        if entry.held is not None:
            if sequential:
                handle.ahead = min(max(handle.ahead * 2, AHEAD_MIN), AHEAD_MAX)
                ahead_end = min(end + handle.ahead, length)
                self._start_fetches(entry, end, ahead_end, CHUNK, length)
                if not entry.held.covers(offset, end):
                    await self._fetch(entry, offset, end, CHUNK, length)
            else:
                handle.ahead = 0
                if not entry.held.covers(offset, end):
                    await self._fetch(entry, offset, end, BLOCK, length)
        return os.pread(fd, size, offset)

    def _start_fetches(self, entry: CacheEntry, start: int, end: int, unit: int,
                       limit: int) -> None:
        """Start fetching what ``entry`` lacks in ``[start, end)`` and nobody
        fetches yet, in pieces of at most `CHUNK`, widened to ``unit``
        boundaries but not past ``limit`` (the local file's size)."""
        assert entry.held is not None
        # What is on its way already is left out, and only that: a piece that
        # skipped a whole chunk for a 4 KiB fetch inside it left a hole that
        # a reader then read as the local file's zeros.
        on_its_way = RangeSet([(a, b) for a, b, _ in entry.fetching])
        for gap_start, gap_end in entry.held.missing(start, end):
            gap_start, gap_end = _down(gap_start, unit), min(_up(gap_end, unit), limit)
            for pos, todo_end in on_its_way.missing(gap_start, gap_end):
                while pos < todo_end:
                    piece_end = min(_down(pos, CHUNK) + CHUNK, todo_end)
                    piece = (pos, piece_end, trio.Event())
                    entry.fetching.append(piece)
                    on_its_way.add(pos, piece_end)
                    self.nursery.start_soon(self._fetch_piece, entry, piece, entry.generation)
                    pos = piece_end

    async def _fetch(self, entry: CacheEntry, start: int, end: int, unit: int,
                     limit: int) -> None:
        """Wait until ``entry`` holds ``[start, end)``, fetching what it lacks.

        Raises:
            OSError: EIO (or the server's errno) when a fetch failed.
        """
        assert entry.held is not None
        generation = entry.generation
        while not entry.held.covers(start, end):
            if entry.generation != generation:
                raise err(errno.EIO, f"{entry.path}: the cached copy was replaced")
            entry.fetch_error = None
            self._start_fetches(entry, start, end, unit, limit)
            waits = [done for a, b, done in entry.fetching if a < end and start < b]
            if not waits:  # never serve the local file's zeros as the server's bytes
                raise err(errno.EIO, f"{entry.path}: [{start}, {end}) neither held nor fetched")
            await waits[0].wait()
            if entry.fetch_error is not None and not entry.held.covers(start, end):
                exc = entry.fetch_error
                raise err(exc.errno or errno.EIO, f"{entry.path}: {exc.strerror or exc}")

    async def _fetch_piece(self, entry: CacheEntry, piece: tuple[int, int, trio.Event],
                           generation: int) -> None:
        start, end, done = piece
        try:
            reader = await self._reader(entry)
            data = await self.remote.read_range(reader, start, end - start)
            if entry.generation != generation or entry.held is None:
                return
            got = start + len(data)
            try:
                self._put(entry, data, start, got)
            except OSError as exc:
                # Cache disk full: make room (clean copies, never dirty ones), once.
                if not disk_full(exc) or not self.cache.make_room(len(data) + CHUNK):
                    raise
                self._put(entry, data, start, got)
            entry.held.add(start, got)
            if got < end:
                # The server's file is shorter than when it was opened: what
                # is past its end reads as the local file's zeros.
                log.info("%s: shorter on the server than its size said (%d < %d)",
                         entry.path, got, end)
                entry.held.add(got, end)
            self.cache.save_soon(entry)
        except OSError as exc:
            if entry.generation == generation:
                entry.fetch_error = exc
                log.warning("reading %s at %d failed: %s", entry.path, start, exc,
                            extra={"PATH": entry.path})
        finally:
            entry.fetching.remove(piece)
            done.set()
            entry.notify()

    @staticmethod
    def _put(entry: CacheEntry, data: bytes, start: int, got: int) -> None:
        """Write fetched ``data`` (at ``start``, up to ``got``) into ``entry``'s file."""
        assert entry.held is not None
        fd = os.open(entry.data, os.O_WRONLY | os.O_CLOEXEC)
        try:
            # Only into what is still missing: a write may have come in.
            for a, b in entry.held.missing(start, got):
                while a < b:  # a full disk writes short first, then fails
                    a += os.pwrite(fd, memoryview(data)[a - start:b - start], a)
        finally:
            os.close(fd)

    async def _reader(self, entry: CacheEntry) -> Any:
        async with entry.reader_lock:
            if entry.reader is None:
                entry.reader = await self.remote.open_read(entry.path)
            return entry.reader

    def _drop_reader(self, entry: CacheEntry) -> None:
        """Close ``entry``'s reader once its fetches are done (in the background)."""
        reader, entry.reader = entry.reader, None
        if reader is not None:
            self.nursery.start_soon(self._close_reader, entry, reader)

    async def _close_reader(self, entry: CacheEntry, reader: Any) -> None:
        while entry.fetching:
            await entry.changed.wait()
        try:
            with trio.move_on_after(30):
                await self.remote.close_read(reader)
        except OSError as exc:
            log.debug("closing the reader of %s: %s", entry.path, exc)

    async def _fill_sparse(self, entry: CacheEntry) -> None:
        """Fetch every byte ``entry`` lacks (before its remote file goes away,
        or before it is sent whole)."""
        if entry.held is None:
            return
        length = os.stat(entry.data).st_size
        while not entry.held.covers(0, length):
            gaps = entry.held.missing(0, length)
            window_end = min(gaps[0][0] + FILL_IN_FLIGHT * CHUNK, length)
            await self._fetch(entry, gaps[0][0], window_end, CHUNK, length)

    # -- writes -------------------------------------------------------------------
    def _wrote_sparse(self, entry: CacheEntry, offset: int, written: int, before: int) -> None:
        """Record a write of ``written`` bytes at ``offset`` into a file of
        ``before`` bytes."""
        if entry.held is None:
            return
        start, end = min(offset, before), offset + written
        entry.held.add(start, end)  # a gap it made is zeros
        if entry.written is not None:
            entry.written.add(offset, end)
        self._persist_held(entry, start, end, max(before, end))

    def _persist_held(self, entry: CacheEntry, start: int, end: int, size: int) -> None:
        """Save ``entry`` unless what was saved covers ``[start, end)`` already
        (see the cache's locking note: a forgotten written range would be
        fetched over after a restart)."""
        assert entry.held is not None
        if entry.remote_size is not None and start >= entry.remote_size:
            return  # past the server's end: a restart fetches nothing there
        if entry.saved_full and entry.held.covers(0, size):
            return
        if entry.saved_held is not None and entry.saved_held.covers(start, end):
            return
        if self.cache.entries.get(entry.path) is entry:
            self.cache.save(entry)

    def _truncated_sparse(self, entry: CacheEntry, before: int, size: int) -> None:
        if entry.held is None:
            return
        if size < before:
            entry.held.cut(size)
            if entry.written is not None:
                entry.written.cut(size)
            entry.cut = size if entry.cut is None else min(entry.cut, size)
        else:
            entry.held.add(before, size)  # zeros: set on the server by the size
            self._persist_held(entry, before, size, size)

    async def _send_sparse(self, entry: CacheEntry, size: int, progress: Any,
                           sync: bool, times: tuple[int | None, int | None] | None = None
                           ) -> RemoteAttr | None:
        """Send what changed in ``entry`` (a file of ``size`` bytes) in place;
        ``times``: then set its (atime, mtime) (None in it: keep that one).

        Returns: the remote file's attributes after it, where the backend
        learnt them on the way (None: not known)."""
        if entry.written is None:  # after a restart: not known, so all of it
            await self._fill_sparse(entry)
            ranges, cut = [(0, size)], None
        else:
            ranges = [(a, min(b, size)) for a, b in entry.written if a < size]
            cut = entry.cut
        after = cut if cut is not None else entry.remote_size
        if after is not None and ranges:
            after = max(after, ranges[-1][1])
        extra = {"times": times} if times is not None else {}
        return await self.remote.write_ranges(str(entry.data), entry.path, ranges, cut,
                                              None if after == size else size, progress, sync,
                                              **extra)

    def _sent_sparse(self, entry: CacheEntry) -> None:
        """The upload was whole and nothing was written meanwhile."""
        if entry.held is not None:
            entry.written, entry.cut = RangeSet(), None
