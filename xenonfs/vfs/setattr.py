"""Attributes that change (mode, owner, size, times), hard links and statfs:
the part of `Vfs` where what a backend can do differs most. What it cannot do
is an error (ENOTSUP, EPERM), never a success with nothing done, but for one
exception, times on the engine backend (see `setattr`); a change to what a
file already has is no change, and succeeds anywhere (tar, cp -p and rsync
set the mode a file already has).
"""

from __future__ import annotations

import errno
import os
import stat
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .conflict import stamp
from .errors import err
from .remote import RemoteAttr

if TYPE_CHECKING:
    from .core import Attr


class SetattrMixin:
    """Uses the `Vfs` attributes declared below."""

    remote: Any
    cache: Any
    inodes: Any
    uid: int
    gid: int
    _attrs: dict[str, tuple[RemoteAttr | None, float]]
    _handles: dict[int, Any]
    _orphans: dict[int, Any]

    if TYPE_CHECKING:  # defined by Vfs and its other parts
        async def getattr(self, ino: int) -> Attr: ...

        async def lookup(self, parent: int, name: str) -> Attr: ...

        def _writable(self, path: str) -> None: ...

        def _named(self, path: str, exists: bool | None = None) -> None: ...

        def _own_change(self, path: str) -> None: ...

        def _child(self, parent: int, name: str) -> str: ...

        async def _stop_early(self, entry: Any) -> None: ...

        async def _ready_for_write(self, entry: Any, path: str, truncate: bool = False) -> None: ...

        def _changed(self, entry: Any, written: int = 0) -> None: ...

        async def _mark_dirty(self, entry: Any) -> None: ...

        async def _upload(self, entry: Any, sync: bool = False,
                          times: Any = None) -> bool: ...

        def _truncated_sparse(self, entry: Any, before: int, size: int) -> None: ...

    async def setattr(self, ino: int, mode: int | None = None, size: int | None = None,
                      fh: int | None = None, uid: int | None = None, gid: int | None = None,
                      atime_ns: int | None = None, mtime_ns: int | None = None) -> Attr:
        """Change what is given (None: leave it).

        Args:
            ino: the inode.
            mode: permission bits (all 12 where the backend has them).
            size: truncate or extend to this size.
            fh: the handle a ftruncate came through.
            uid, gid: a new owner: only the mounting user's own ids (every file
                shows as theirs) are no change; any other is EPERM.
            atime_ns, mtime_ns: times (the kernel resolved UTIME_NOW).

        Raises:
            OSError: ENOTSUP for what the backend cannot do, EPERM for an owner.
        """
        orphan = self._orphans.get(ino)
        path = self.inodes.path(ino)
        if orphan is not None:  # unlinked while open: only its local bytes are left
            if size is not None:
                os.truncate(orphan.data, size)
            return await self.getattr(ino)
        if (uid is not None and uid != self.uid) or (gid is not None and gid != self.gid):
            raise err(errno.EPERM, f"{path}: files here belong to the mounting user "
                                   f"({self.uid}:{self.gid}); no owner can be given")
        if mode is not None or size is not None or atime_ns is not None or mtime_ns is not None:
            self._own_change(path)
        if mode is not None:
            await self._chmod(ino, path, mode)
        if size is not None:
            await self._truncate(path, size, fh)
        if (atime_ns is not None or mtime_ns is not None) and self.remote.caps.set_times:
            # The engine has no call to set times. There, as before, times are
            # left as the server records them and the call succeeds: ENOTSUP
            # would fail every `touch FILE` and `tar x` (README, known limits).
            self._writable(path)
            entry = self.cache.entries.get(path)
            done = False
            if entry is not None and entry.dirty:
                # The bytes first: a later upload would give it the time of
                # that upload (tar and cp -p set times before they close).
                # Sparse entries send the times with them, in the same trip.
                done = await self._upload(
                    entry, times=(atime_ns, mtime_ns) if entry.held is not None else None)
            if not done:
                after = await self.remote.utimens(path, atime_ns, mtime_ns)
                self._attrs.pop(path, None)
                if after is not None:  # tar's utimens per file: no stat after it
                    self._attrs[path] = (after, time.monotonic() + self.attr_timeout)
                    if entry is not None and not entry.dirty and entry.complete and \
                            self.cache.entries.get(path) is entry:
                        # The cached copy is still the server's: its new time
                        # must not make the next open fetch it again.
                        stamp(entry, after)
                        self.cache.save(entry)
        return await self.getattr(ino)

    async def _chmod(self, ino: int, path: str, mode: int) -> None:
        self._writable(path)
        wanted = stat.S_IMODE(mode)
        caps = self.remote.caps
        current = stat.S_IMODE((await self.getattr(ino)).mode)
        if wanted == current:
            return
        if not caps.set_permissions:
            raise err(errno.ENOTSUP, f"{path}: this backend cannot set permissions "
                                     f"(it has {current:o}, {wanted:o} asked)")
        if wanted & 0o7000 and not caps.special_modes:
            raise err(errno.ENOTSUP, f"{path}: this backend cannot set setuid, setgid or "
                                     f"sticky bits ({wanted:o} asked)")
        await self.remote.chmod(path, wanted)
        entry = self.cache.entries.get(path)
        if entry is not None:
            entry.mode = wanted  # kept across its next upload
            self._own_ctime_change(entry)
        cached = self._attrs.get(path)
        if cached is not None and cached[0] is not None and cached[1] > time.monotonic():
            # Only the mode changed (not size, mtime or the directory's names).
            self._attrs[path] = (replace(cached[0], mode=wanted), cached[1])
        else:
            self._attrs.pop(path, None)  # its names did not change: the listing stays

    async def _truncate(self, path: str, size: int, fh: int | None) -> None:
        self._writable(path)
        handle = self._handles.get(fh) if fh is not None else None
        entry = handle.entry if handle is not None else self.cache.entry(path)
        await self._stop_early(entry)
        await self._ready_for_write(entry, path, truncate=size == 0 and handle is None)
        before = os.stat(entry.data).st_size
        os.truncate(entry.data, size)
        self._truncated_sparse(entry, before, size)
        self._changed(entry)
        await self._mark_dirty(entry)
        if handle is not None:
            handle.wrote = True  # uploaded at its close
        else:
            await self._upload(entry)

    def _own_ctime_change(self, entry: Any) -> None:
        """We changed the file's ctime (chmod, link): the version check
        (`vfs.conflict`) compares size and mtime only, until the next upload
        or fetch says the new one."""
        if entry.remote_ctime_ns is not None:
            entry.remote_ctime_ns = None
            if entry.complete and self.cache.entries.get(entry.path) is entry:
                self.cache.save(entry)

    async def _upload_first(self, path: str) -> None:
        """Upload pending bytes of ``path`` before its times are set: a later
        upload would give it the time of that upload (tar and cp -p set times
        before they close)."""
        entry = self.cache.entries.get(path)
        if entry is not None and entry.dirty:
            await self._upload(entry)

    async def link(self, ino: int, new_parent: int, new_name: str) -> Attr:
        """Make a hard link ``new_name`` in ``new_parent`` to ``ino``.

        Raises:
            OSError: ENOTSUP where the backend cannot.
        """
        path = self.inodes.path(ino)
        new = self._child(new_parent, new_name)
        self._writable(new)
        if not self.remote.caps.hard_links:
            raise err(errno.ENOTSUP, f"{new}: this backend cannot make hard links")
        await self._upload_first(path)
        await self.remote.link(path, new)
        entry = self.cache.entries.get(path)
        if entry is not None:
            self._own_ctime_change(entry)
        self._named(new, True)
        self._attrs.pop(path, None)  # its link count changed
        return await self.lookup(new_parent, new_name)

    async def statfs(self) -> dict[str, int]:
        """Returns: statvfs numbers: the server's where the backend has them,
        else the local cache disk's free space (which bounds what can be written)."""
        if self.remote.caps.statfs:
            return await self.remote.statfs()
        st = os.statvfs(self.cache.directory)
        return {"f_bsize": 4096, "f_frsize": 4096,
                "f_blocks": max(st.f_blocks * st.f_frsize // 4096, 1 << 30),
                "f_bfree": st.f_bavail * st.f_frsize // 4096,
                "f_bavail": st.f_bavail * st.f_frsize // 4096,
                "f_files": 1 << 20, "f_ffree": 1 << 20, "f_favail": 1 << 20,
                "f_namemax": 255}
