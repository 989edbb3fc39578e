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
mtime and ctime in nanoseconds, so any change is seen; OpenSSH's SFTP (protocol
3) gives size and mtime in whole seconds, so a change of the same size in the
same second as the version we saw is not seen; the engine gives milliseconds.
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


def stamp(entry: CacheEntry, remote: RemoteAttr) -> None:
    """Record ``remote`` as the version ``entry``'s bytes equal (not persisted)."""
    entry.remote_size, entry.remote_mtime_ns = remote.size, remote.mtime_ns
    entry.remote_ctime_ns, entry.remote_ino = remote.ctime_ns, remote.ino


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
        try:
            remote = await self.remote.stat(entry.path)
        except OSError as exc:
            raise err(errno.EIO, f"upload of {entry.path}: cannot check the server's "
                                 f"copy first: {exc.strerror or exc}") from None
        if remote is None:
            return None  # removed there: uploading makes it again, overwriting nothing
        return None if same_version(entry, remote) else remote

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
