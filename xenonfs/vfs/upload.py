"""Uploads: at flush, fsync and close (and at unmount), and while a file is
being written.

Upload while writing: a file written from empty, always at its end (cp, dd,
a program's output), starts uploading once it has ``early_after`` bytes. The
engine copies the growing cache file itself, reading up to its end, so
close() waits only for the tail. Its reason is the slow sftp path: 1 GiB over
sftp on the 2-CPU test machine, copied while written vs written then copied,
5 rounds in turns: 3-16% less time, every round.

It is right only while no byte the copy may have read changes, so anything
else (a write not at the end, a truncate, rename, unlink or re-create) stops
it first. The engine cancels its copy; close() then replaces the remote file
whole, as it would have anyway. close() also uploads whole unless the copy
ended cleanly with exactly the local size on the remote side.
"""

from __future__ import annotations

import errno
import logging
import os
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import trio

from .cache import CacheEntry, FileCache
from .conflict import ConflictMixin, stamp
from .errors import err
from .remote import RemoteAttr

if TYPE_CHECKING:
    from .activity import Activity

log = logging.getLogger("xenonfs.vfs")

#: Uploads of this many bytes and more (or of a second and more) are logged
#: at info level, the others at debug.
LOGGED_FROM = 1 << 20

#: Bytes written at the end before an upload while writing starts: small
#: files (a tar of sources) never start one.
EARLY_AFTER = 32 << 20


@dataclass(eq=False)
class EarlyUpload:
    """One upload while writing: the engine's copy of the growing file."""

    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    done: trio.Event = field(default_factory=trio.Event)
    finished: bool = False  # the copy ended without error (short, if it caught up)
    copied: int = 0  # bytes the copy read and sent, as the engine reports them
    started: float = field(default_factory=time.monotonic)
    #: The file's final size once it is closed (None while it may grow): a
    #: backend that can wait at the end of the file for more (native sftp)
    #: follows it until then instead of stopping short at the end.
    growth: Growth = field(default_factory=lambda: Growth())


@dataclass
class Growth:
    """How far a file uploaded while written grows. Written by the vfs (the
    trio thread), read by a backend's transfer (maybe in another thread)."""

    final: int | None = None


class UploadMixin(ConflictMixin):
    """The upload part of `Vfs` (kept here to keep that module short). Uses the
    `Vfs` attributes declared below."""

    remote: Any
    cache: FileCache
    nursery: trio.Nursery
    activity: Activity
    attr_timeout: float
    early_after: int | None
    _attrs: dict[str, tuple[RemoteAttr | None, float]]
    _handles: dict[int, Any]

    if TYPE_CHECKING:  # defined by Vfs
        def _handle(self, fh: int) -> Any: ...

        async def _send_sparse(self, entry: CacheEntry, size: int, progress: Any,
                               sync: bool) -> None: ...

        def _sent_sparse(self, entry: CacheEntry) -> None: ...

        def _own_change(self, path: str) -> None: ...

    # -- what writes tell us ---------------------------------------------------
    def _emptied(self, entry: CacheEntry) -> None:
        """The local copy was just made empty (create, O_TRUNC)."""
        entry.appended = 0
        entry.version += 1

    def _changed(self, entry: CacheEntry, written: int = 0) -> None:
        """Call after the local bytes changed (``written`` bytes at the end of
        a file still written in order; any other change called `_stop_early`
        before it)."""
        entry.version += 1
        if entry.appended is None:
            return
        entry.appended += written
        if (entry.early is None and self.early_after is not None
                and entry.appended >= self.early_after
                and self.remote.caps.upload_while_writing
                and self.cache.entries.get(entry.path) is entry):  # not unlinked
            early = entry.early = EarlyUpload()
            self.nursery.start_soon(self._run_early, entry, early)

    async def _stop_early(self, entry: CacheEntry | None) -> None:
        """Call before anything but a write at the end changes ``entry``'s bytes
        or name: stops its upload while writing (if any) and waits for its
        end; none starts again until the file is emptied."""
        if entry is None:
            return
        entry.appended = None  # e.g. after an unlink: it must not come back
        early, entry.early = entry.early, None
        if early is not None:
            early.scope.cancel()
            await early.done.wait()

    async def _stop_early_under(self, path: str) -> None:
        """`_stop_early` for ``path`` and everything below it (a rename)."""
        prefix = path.rstrip("/") + "/"
        for entry in [e for p, e in self.cache.entries.items()
                      if p == path or p.startswith(prefix)]:
            await self._stop_early(entry)

    async def _run_early(self, entry: CacheEntry, early: EarlyUpload) -> None:
        key = self.activity.start(entry.path, "upload", entry.appended or 0)

        def progress(done: int) -> None:
            early.copied = done
            self.activity.progress(key, done)
        try:
            with early.scope:
                if await self._base_changed(entry) is not None:
                    return  # close() finds it changed and keeps ours (`keep_ours`)
                # Checked: from here the server's copy is (in part) ours, so
                # the upload at close has no version of theirs to compare.
                entry.remote_mtime_ns = None
                await self.remote.upload(str(entry.data), entry.path, None, progress,
                                         early.growth)
                early.finished = True
        except OSError as exc:
            log.info("upload of %s while it was written stopped (%s); close() uploads it "
                     "whole", entry.path, exc, extra={"PATH": entry.path})
        finally:
            self.activity.finish(key)
            early.done.set()

    # -- uploads -----------------------------------------------------------------
    async def _upload(self, entry: CacheEntry, sync: bool = False,
                      times: tuple[int | None, int | None] | None = None) -> bool:
        """Send the local copy (a sparse one: what changed); on failure keep
        it dirty and raise EIO. ``sync``: and ask the server to flush it.
        ``times`` (sparse entries only): and then set (atime, mtime).

        Returns: whether ``times`` were set (else the caller sets them)."""
        early = entry.early
        if early is not None:
            if entry.appended is not None and entry.appended == os.stat(entry.data).st_size:
                early.growth.final = entry.appended  # all there is: finish the upload
            await early.done.wait()
        async with entry.lock:
            if entry.lost is not None:
                raise err(entry.lost_errno, f"{entry.path}: {entry.lost}")
            if not entry.dirty:
                return False
            version, size = entry.version, os.stat(entry.data).st_size
            if early is not None and entry.early is early:
                entry.early = None
                if early.finished and entry.appended == size == early.copied:
                    remote, why = await self._remote_now(entry.path)
                    if remote is not None and remote.size == size:
                        self._uploaded(entry, remote, version, early.started, " (while written)")
                        return False
                    log.info("upload of %s while it was written ended short (%s, %d written); "
                             "uploading it whole", entry.path, why, size)
                else:
                    log.info("upload of %s while it was written did not cover it (%d of %d "
                             "bytes); uploading it whole", entry.path, early.copied, size)
            await self._check_base(entry, size)
            if (entry.remote_size is not None and entry.remote_mtime_ns is not None
                    and not entry.uploading):
                # Before the server's copy changes: a crash from here on
                # must not make the next mount see a conflict (see `uploading`).
                entry.uploading = True
                self.cache.save(entry)
            log.debug("uploading %s (%d bytes)", entry.path, size)
            started = time.monotonic()
            key = self.activity.start(entry.path, "upload", size)
            after: RemoteAttr | None = None
            try:
                if entry.held is not None:
                    after = await self._send_sparse(
                        entry, size, lambda done: self.activity.progress(key, done), sync, times)
                else:
                    await self.remote.upload(str(entry.data), entry.path, size,
                                             lambda done: self.activity.progress(key, done))
            except OSError as exc:
                log.error("upload of %s failed, the data stays in the cache at %s: %s",
                          entry.path, entry.data, exc, extra={"PATH": entry.path})
                self.activity.error(f"upload of {entry.path} failed: {exc}")
                raise err(exc.errno if exc.errno in (errno.ENOSPC, errno.EACCES,
                                                     errno.EDQUOT) else errno.EIO,
                          f"upload of {entry.path} failed: {exc.strerror or exc}") from None
            finally:
                self.activity.finish(key)
            if after is not None and after.size == size:
                # Learnt in the upload's last round trip: no stat needed.
                remote, why = after, ""
                self._attrs.pop(entry.path, None)
            else:
                remote, why = await self._remote_now(entry.path)
            if remote is not None and remote.size == size:
                remote = await self._keep_mode(entry, remote)
            if remote is None or remote.size != size:
                # The engine's copy can report success after its connection
                # died; only the remote size proves the bytes arrived.
                log.error("upload of %s did not arrive whole (%s, expected %d); the data "
                          "stays in the cache at %s", entry.path, why, size, entry.data,
                          extra={"PATH": entry.path})
                self.activity.error(f"upload of {entry.path} incomplete: {why}")
                self._attrs.pop(entry.path, None)
                raise err(errno.EIO, f"upload of {entry.path} incomplete: {why}")
            self._uploaded(entry, remote, version, started, "")
            return times is not None and entry.held is not None

    async def _keep_mode(self, entry: CacheEntry, remote: RemoteAttr) -> RemoteAttr:
        """Returns: ``remote``, after giving the file back the mode it was
        created or chmod-ed with where the upload left another: the engine's
        upload replaces the file (the server's default mode, 0644 on
        OpenSSH); a native upload that had to create the file itself (its
        create's open had failed, or its connection was replaced) gave it the
        server's default too. Where uploads keep modes, the mode is held
        only until an upload shows it on the server."""
        caps = self.remote.caps
        if entry.mode is None or not caps.set_permissions or remote.mode is None:
            return remote
        if remote.mode == entry.mode:
            if caps.upload_keeps_mode:
                entry.mode = None  # the server has it: a later change there is theirs
            return remote
        wanted = entry.mode
        try:
            await self.remote.chmod(entry.path, wanted)
        except OSError as exc:
            log.warning("%s: could not give it back its mode %o after the upload: %s",
                        entry.path, wanted, exc, extra={"PATH": entry.path})
            return remote
        if caps.upload_keeps_mode:
            entry.mode = None
        # The chmod changed its ctime: not known now, so not compared (`vfs.conflict`).
        return replace(remote, mode=wanted, ctime_ns=None)

    async def _remote_now(self, path: str) -> tuple[RemoteAttr | None, str]:
        """Returns: the remote attributes after an upload (None if missing or
        unknown), and what they say, for the log."""
        self._attrs.pop(path, None)
        try:
            # Not `_stat`: it could hand back the answer of a stat that began
            # before the upload ended.
            remote = await self.remote.stat(path)
        except OSError as exc:
            return None, str(exc)
        return remote, "it is missing" if remote is None else f"it has {remote.size} bytes"

    def _uploaded(self, entry: CacheEntry, remote: RemoteAttr, version: int,
                  started: float, how: str) -> None:
        seconds = time.monotonic() - started
        # Small quick ones at debug: a line per file of a `tar x` cost 3% of its time.
        level = logging.INFO if remote.size >= LOGGED_FROM or seconds >= 1 else logging.DEBUG
        log.log(level, "uploaded %s%s: %d bytes in %.2f s (%.1f MB/s)", entry.path, how,
                remote.size, seconds, remote.size / 1e6 / max(seconds, 1e-6))
        stamp(entry, remote)
        # A write that came in while this upload ran is not in it.
        entry.dirty = entry.version != version
        if not entry.dirty:
            self._sent_sparse(entry)
        try:
            self.cache.save(entry)
        except OSError as exc:
            if entry.dirty:
                raise
            # Sent, so safe to forget: metadata that still said dirty, with
            # the version before it, would make a restart see a conflict.
            self.cache.forget(entry)
            log.warning("%s: uploaded, but its cache metadata could not be saved (%s); "
                        "a restart forgets the cached copy", entry.path, exc)
        self._attrs.pop(entry.path, None)  # not the listing: no name changed
        self._own_change(entry.path)
        # The stat above is the freshest there is: the getattr that follows
        # every close (and tar's utimens) needs no second one.
        self._attrs[entry.path] = (remote, time.monotonic() + self.attr_timeout)

    async def flush(self, fh: int) -> None:
        """Upload what this handle wrote (close() reports its failure)."""
        handle = self._handle(fh)
        log.debug("flush %s (wrote=%s dirty=%s)", handle.entry.path, handle.wrote,
                  handle.entry.dirty)
        self._not_lost(handle)
        if handle.wrote and handle.entry.dirty and handle.entry.path in self.cache.entries:
            await self._upload(handle.entry)

    async def fsync(self, fh: int) -> None:
        """Upload now, and where the backend can, have the server flush it to disk."""
        handle = self._handle(fh)
        entry = handle.entry
        self._not_lost(handle)
        if not (handle.wrote and entry.path in self.cache.entries):
            return
        if entry.dirty:
            await self._upload(entry, sync=True)
        elif entry.held is not None:  # sent at an earlier flush: only the flush to disk
            try:
                await self.remote.write_ranges(str(entry.data), entry.path, [], None, None,
                                               None, True)
            except OSError as exc:
                raise err(errno.EIO, f"fsync of {entry.path} failed: {exc.strerror or exc}"
                          ) from None

    @staticmethod
    def _not_lost(handle: Any) -> None:
        """Raises: OSError (EBUSY for a conflict, else the failed write's errno)
        when what this handle wrote was taken out of the cache (`FileCache.lose`)."""
        entry = handle.entry
        if handle.wrote and entry.lost is not None:
            raise err(entry.lost_errno, f"{entry.path}: {entry.lost}")

    async def upload_closed_dirty(self) -> list[str]:
        """Try again to upload the dirty files no handle has open for writing
        (a close or fsync that failed: the writeback retry, `Mount`).

        Returns:
            Paths that are still dirty.
        """
        writing = {h.entry.path for h in self._handles.values() if h.writable}
        failed = []
        for entry in [e for e in self.cache.entries.values()
                      if e.dirty and e.path not in writing]:
            try:
                await self._upload(entry)
                log.info("%s: uploaded on a retry", entry.path)
            except OSError:
                if entry.lost is None:
                    failed.append(entry.path)
        return failed

    async def upload_dirty(self) -> list[str]:
        """Try to upload every dirty file (after a restart, before unmount).

        Returns:
            Paths that are still dirty (their bytes stay in the cache).
        """
        failed = []
        for entry in [e for e in self.cache.entries.values() if e.dirty]:
            try:
                await self._upload(entry)
            except OSError:
                if entry.lost is None:  # else not dirty any more: kept, told (`keep_ours`)
                    failed.append(entry.path)
        return failed
