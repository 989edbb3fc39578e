"""Never overwrite what we did not see: before an upload, the remote file must
still be the version the local edit started from.

A cache entry's version stamp (``remote_size``, ``remote_mtime_ns``, and
``remote_ctime_ns``/``remote_ino`` where the backend reports them) is the
server's version its clean bytes equal: set when it is fetched, at an open
with O_TRUNC (what the user replaces is what was there then), and after each
upload. An upload first stats the file; when the server's version differs,
the server's copy stays, ours is kept (`keep_ours`), the user is told (log,
``xenonfs status``) and the close that waited gets EBUSY.

How fine the comparison is depends on the backend: file:// (native) gives
mtime and ctime in nanoseconds, so any change is seen. OpenSSH's SFTP
(protocol 3) gives size and mtime in whole seconds and no ctime: a change of
the same size within the second of the version we saw would look the same, so
when that version is that recent ("racy", as git calls it: its mtime within
`RACY_SECONDS` of when we saw it), the bytes of it we hold and did not change
are read back from the server and compared (the first `RACY_COMPARE` bytes
of them, in `RACY_RANGES` ranges at most). What is left unseen there: a
same-size, same-second change only inside bytes we wrote over ourselves, or
past what is compared, or after a restart (the ranges we wrote are not
persisted). The engine gives milliseconds, no ctime,
and no ranged reads: a same-size change within the millisecond is not seen.
Between the stat and the upload (one round trip) a change is not seen either.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import time
from typing import TYPE_CHECKING, Any

from .cache import CacheEntry, FileCache
from .errors import err
from .remote import RemoteAttr

if TYPE_CHECKING:
    from .activity import Activity

log = logging.getLogger("xenonfs.vfs")

#: A version whose whole-second mtime is this close to when we saw it may
#: hide a change made in the same second (clocks of both sides assumed close).
RACY_SECONDS = 2.0
#: Bytes, and ranges, compared with the server's for a racy version, at most
#: (a file appended to and closed again and again re-reads this per close).
RACY_COMPARE = 1 << 20
RACY_RANGES = 16


def stamp(entry: CacheEntry, remote: RemoteAttr) -> None:
    """Record ``remote`` as the version ``entry``'s bytes equal (not persisted)."""
    entry.remote_size, entry.remote_mtime_ns = remote.size, remote.mtime_ns
    entry.remote_ctime_ns, entry.remote_ino = remote.ctime_ns, remote.ino
    entry.stamped_at = time.time()
    entry.uploading = False  # a version seen anew: nothing of ours half-sent over it


def racy(entry: CacheEntry, remote: RemoteAttr) -> bool:
    """Returns: whether ``remote`` (the same version as ``entry``'s stamp, by
    its attributes) might hide a change of the same size in the same second:
    whole-second mtime, no ctime, and seen within `RACY_SECONDS` of it."""
    return (remote.ctime_ns is None and remote.mtime_ns % 1_000_000_000 == 0
            and entry.stamped_at is not None
            and abs(entry.stamped_at - remote.mtime_ns / 1e9) < RACY_SECONDS)


def same_version(entry: CacheEntry, remote: RemoteAttr) -> bool:
    """Returns: whether ``remote`` is the version ``entry`` was stamped with
    (ctime and inode compared where both sides have them)."""
    if (entry.remote_size, entry.remote_mtime_ns) != (remote.size, remote.mtime_ns):
        return False
    for ours, theirs in ((entry.remote_ctime_ns, remote.ctime_ns),
                         (entry.remote_ino, remote.ino)):
        if ours is not None and theirs is not None and ours != theirs:
            return False
    return True


def conflict_name(path: str, when: float | None = None) -> str:
    """Returns: the name ours is kept under beside ``path`` on the server:
    ``NAME.conflict-HOST-YYYYmmddTHHMMSSZ``."""
    host = socket.gethostname().split(".")[0] or "host"
    return f"{path}.conflict-{host}-" + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(when))


class ConflictMixin:
    """The version check of `Vfs`'s uploads. Uses the attributes declared below."""

    remote: Any
    cache: FileCache
    activity: Activity
    _attrs: dict[str, tuple[RemoteAttr | None, float]]
    #: What `keep_ours` did, newest last (for ``xenonfs status``).
    conflicts: list[str]

    if TYPE_CHECKING:
        def _named(self, path: str, exists: bool | None = None) -> None: ...

    async def _base_changed(self, entry: CacheEntry) -> RemoteAttr | None:
        """Returns: the server's attributes if its file is no longer the version
        ``entry``'s edit started from (None: it is, it is gone, or no version
        was seen: a file made here).

        Raises:
            OSError: EIO when the server cannot be asked.
        """
        if entry.remote_size is None or entry.remote_mtime_ns is None:
            return None
        if entry.uploading:
            # Our own upload over the stamped version failed or was cut off
            # (a crash): the server's copy differs by our hand. Calling that a
            # conflict left the server a truncated file (the soak run).
            log.info("%s: an earlier upload of ours did not end; the server's copy is "
                     "taken as ours", entry.path)
            return None
        try:
            remote = await self.remote.stat(entry.path)
        except OSError as exc:
            raise err(errno.EIO, f"upload of {entry.path}: cannot check the server's "
                                 f"copy first: {exc.strerror or exc}") from None
        if remote is None:
            return None  # removed there: uploading makes it again, overwriting nothing
        if not same_version(entry, remote):
            return remote
        if racy(entry, remote) and await self._bytes_differ(entry):
            return remote
        return None

    async def _bytes_differ(self, entry: CacheEntry) -> bool:
        """Returns: whether the bytes ``entry`` holds unchanged since its stamp
        (a sparse entry: held and not written) differ from the server's, of
        the first `RACY_COMPARE` of them (False where that is not known)."""
        if entry.held is None or entry.written is None or not self.remote.caps.ranged:
            return False
        end = entry.remote_size or 0
        if entry.cut is not None:
            end = min(end, entry.cut)
        same = entry.held.copy()
        for a, b in entry.written:
            same.remove(a, b)
        budget = RACY_COMPARE
        try:
            reader = await self.remote.open_read(entry.path)
        except OSError:
            return False  # the upload then says what is wrong
        try:
            with open(entry.data, "rb") as local:
                for a, b in list(same)[:RACY_RANGES]:
                    b = min(b, end, a + budget)
                    if a >= b:
                        continue
                    budget -= b - a
                    theirs = await self.remote.read_range(reader, a, b - a)
                    if theirs != os.pread(local.fileno(), b - a, a):
                        log.info("%s: same size and second, other bytes at [%d, %d): "
                                 "changed on the server", entry.path, a, b)
                        return True
        except OSError as exc:
            log.info("%s: comparing with the server's bytes failed: %s", entry.path, exc)
        finally:
            try:
                await self.remote.close_read(reader)
            except OSError:
                pass
        return False

    async def _check_base(self, entry: CacheEntry, size: int) -> None:
        """Before an upload of ``entry`` (``size`` bytes): see `_base_changed`.

        Raises:
            OSError: EBUSY after `keep_ours` when the server's copy changed.
        """
        remote = await self._base_changed(entry)
        if remote is not None:
            await self.keep_ours(entry, remote, size)

    async def keep_ours(self, entry: CacheEntry, remote: RemoteAttr, size: int) -> None:
        """The server's copy changed under our edit: leave it in place, keep
        ours in lost+found and, when it is whole, beside the server's as
        `conflict_name`; tell the user.

        Raises:
            OSError: EBUSY, always (saying where ours is).
        """
        path = entry.path
        what = (f"changed on the server since it was read here (size {entry.remote_size} -> "
                f"{remote.size}, mtime {entry.remote_mtime_ns} -> {remote.mtime_ns})")
        kept = self.cache.lose(entry, f"not uploaded: {what}", "conflict", errno.EBUSY)
        self._attrs.pop(path, None)
        where = str(kept)
        whole = entry.held is None or entry.held.covers(0, size)
        if kept is not None and whole:
            beside = conflict_name(path)
            n = 1
            while await self._exists(beside + ("" if n == 1 else f"-{n}")):
                n += 1
            beside += "" if n == 1 else f"-{n}"
            try:
                await self.remote.upload(str(kept), beside, size)
                self._named(beside, True)
                where = f"{beside} (on the server, beside it)"
                if not entry.opens:  # open handles go on using the kept file
                    kept.unlink(missing_ok=True)
            except OSError as exc:
                log.warning("%s: could not upload our version as %s (%s); it stays in %s",
                            path, beside, exc, kept, extra={"PATH": path})
        elif kept is not None:
            where += " (with holes where it was never read: see its .ranges.json)"
        message = f"conflict: {path} {what}; the server's copy was left as it is, ours is {where}"
        log.error("%s", message, extra={"PATH": path})
        self.activity.error(message)
        self.conflicts.append(message)
        raise err(errno.EBUSY, message)

    async def _exists(self, path: str) -> bool:
        try:
            return await self.remote.stat(path) is not None
        except OSError:
            return False

    def lose_written(self, entry: CacheEntry, exc: OSError) -> None:
        """A local write into ``entry`` failed: its bytes are not what the user
        wrote, so they are never uploaded (kept in lost+found; the server's
        copy stays as it was)."""
        why = f"a local write failed ({os.strerror(exc.errno or errno.EIO)})"
        kept = self.cache.lose(entry, f"not uploaded: {why}", "write-failed",
                               exc.errno or errno.EIO)
        self._attrs.pop(entry.path, None)
        message = (f"{entry.path}: {why}; the server's copy was left as it is, "
                   f"the local bytes are in {kept}")
        self.activity.error(message)
        self.conflicts.append(message)
