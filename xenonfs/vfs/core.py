"""The vfs operations: what the FUSE layer calls, in paths, attributes and bytes.

Errors are OSError with an errno throughout; the FUSE layer turns them into
replies in one place.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import time
from dataclasses import dataclass, replace

import trio

from .activity import Activity
from .cache import CacheEntry, FileCache, disk_full
from .conflict import stamp
from .download import DownloadMixin
from .errors import err
from .inodes import ROOT_INODE, InodeTable, join
from .listing import Listing, ListingMixin
from .ranged import RangedMixin
from .remote import Remote, RemoteAttr
from .setattr import SetattrMixin
from .upload import EARLY_AFTER, UploadMixin

log = logging.getLogger("xenonfs.vfs")


#: Longest name a directory entry may have (bytes), as on Linux file systems.
NAME_MAX = 255

#: Seconds a stat from the server stays as good as open's own (close-to-open)
#: one, when no handle of the file was closed since: the kernel's lookup right
#: before an open (cat, cp, an editor) then costs the only round trip, not one
#: of two. A change on the server within this window is the same race as one
#: just after the open.
FRESH_FOR_OPEN = 0.05


@dataclass(frozen=True)
class Attr:
    """What getattr reports for one inode."""

    ino: int
    mode: int
    size: int
    mtime_ns: int
    nlink: int
    atime_ns: int | None = None
    ctime_ns: int | None = None


@dataclass(eq=False)
class Handle:
    """An open file: reads and writes go to the cache entry's local copy."""

    entry: CacheEntry
    writable: bool
    append: bool
    fd: int | None = None
    wrote: bool = False
    #: Where its last read ended, and its read-ahead window (`vfs.ranged`).
    next_offset: int = -1
    ahead: int = 0


class Vfs(ListingMixin, DownloadMixin, UploadMixin, SetattrMixin, RangedMixin):
    """One mounted remote file system.

    Args:
        remote: the remote side.
        cache: this mount's file cache.
        nursery: runs background downloads.
        attr_timeout: seconds attributes (and negative entries) are trusted.
        dir_timeout: seconds directory listings are trusted.
        read_only: refuse every change with EROFS.
        early_after: bytes written at the end of an emptied file before it
            starts uploading while written (None: never; see `vfs.upload`).
    """

    def __init__(self, remote: Remote, cache: FileCache, nursery: trio.Nursery,
                 attr_timeout: float = 1.0, dir_timeout: float = 5.0,
                 read_only: bool = False, early_after: int | None = EARLY_AFTER) -> None:
        self.remote = remote
        self.cache = cache
        self.nursery = nursery
        self.attr_timeout = attr_timeout
        self.dir_timeout = dir_timeout
        self.read_only = read_only
        self.early_after = early_after
        self.inodes = InodeTable()
        self.activity = Activity()
        self._attrs: dict[str, tuple[RemoteAttr | None, float]] = {}
        #: Names of a directory listed (or made) here, until a deadline; kept
        #: up to date by our own changes, so a lookup of a name not in it
        #: needs no remote stat (tar x: one round trip less per file).
        self._dirs: dict[str, tuple[dict[str, None], float]] = {}
        #: Changes we made in a directory, counted: a listing that was under
        #: way meanwhile may not have them, so it is not kept.
        self._dir_changes: dict[str, int] = {}
        #: Directories made here whose names in `_dirs` are all there is (a
        #: listing from the server may miss what others made since: a lookup
        #: asks the server then).
        self._own_dirs: set[str] = set()
        self._stats_in_flight: dict[str, trio.Event] = {}
        #: The last stat answers from the server, by path: (attributes, when;
        #: monotonic), for `open` (`FRESH_FOR_OPEN`); cleared when it grows.
        self._fetched: dict[str, tuple[RemoteAttr | None, float]] = {}
        #: Names of a directory found by remote stats since (monotonic; None:
        #: it was listed then): enough of them and it is listed (`_found_in`).
        self._misses: dict[str, tuple[set[str] | None, float]] = {}
        self._listings: dict[str, Listing] = {}
        self._handles: dict[int, Handle] = {}
        #: Files unlinked while open, by inode: usable through their handles
        #: until the last one is closed (their bytes are in the cache).
        self._orphans: dict[int, CacheEntry] = {}
        self._next_fh = 1
        self.conflicts: list[str] = []
        self.uid, self.gid = os.getuid(), os.getgid()

    # -- attributes ---------------------------------------------------------
    def _named(self, path: str, exists: bool | None = None) -> None:
        """After ``path`` was made (``exists``), removed (not ``exists``) or
        changed in a way not known (None: its directory is listed again)."""
        self._attrs.pop(path, None)
        parent = os.path.dirname(path) or "/"
        self._dir_changes[parent] = self._dir_changes.get(parent, 0) + 1
        listing = self._dirs.get(parent)
        if listing is not None:
            if exists is None:
                del self._dirs[parent]
            elif exists:
                listing[0][os.path.basename(path)] = None
            else:
                listing[0].pop(os.path.basename(path), None)
        cached = self._attrs.get(parent)
        if cached is not None and cached[0] is not None:
            # Its names changed, so did its mtime and ctime: now, by our clock,
            # until the next stat (a stat per create would double tar's calls).
            now = time.time_ns()
            self._attrs[parent] = (replace(cached[0], mtime_ns=now, ctime_ns=now), cached[1])

    def _own_change(self, path: str) -> None:
        """We changed ``path``'s attributes (upload, chmod, times, size): a
        listing of its directory under way may hold the ones from before."""
        parent = os.path.dirname(path) or "/"
        self._dir_changes[parent] = self._dir_changes.get(parent, 0) + 1

    def _stop_listings_under(self, path: str) -> None:
        """``path`` (a directory) was removed, moved, made anew or refreshed:
        what listings of it or below that are under way say is kept nowhere."""
        prefix = path.rstrip("/") + "/"
        for p in [p for p in self._listings if p == path or p.startswith(prefix) or path == "/"]:
            self._dir_changes[p] = self._dir_changes.get(p, 0) + 1

    def _ours_to_write(self, path: str) -> bool:
        """Returns: whether ``path``'s directory was made here, its names are
        known (``path`` is not one) and its owner may write to it: a create
        there cannot fail but for the server's own trouble (full disk, a lost
        connection), which the upload after it reports (`Remote.create_empty`)."""
        parent = os.path.dirname(path) or "/"
        listing = self._dirs.get(parent)
        cached = self._attrs.get(parent)
        wx = stat.S_IWUSR | stat.S_IXUSR
        return (parent in self._own_dirs and listing is not None
                and listing[1] > time.monotonic() and os.path.basename(path) not in listing[0]
                and cached is not None and cached[0] is not None
                and cached[0].mode is not None and cached[0].mode & wx == wx)

    def _child(self, parent: int, name: str) -> str:
        """Returns: the path of ``name`` in directory ``parent``.

        Raises:
            OSError: ENAMETOOLONG for a name over NAME_MAX bytes (the server's
                own answer to it is a vague failure, EIO).
        """
        if len(os.fsencode(name)) > NAME_MAX:
            raise err(errno.ENAMETOOLONG, name[:40] + "...")
        return join(self.inodes.path(parent), name)

    async def _stat(self, path: str, revalidate: bool = False) -> RemoteAttr | None:
        """Returns: ``path``'s attributes (None: not there), cached or asked
        for; ``revalidate``: open's own stat, which `_found_in` does not count."""
        while True:
            cached = self._attrs.get(path)
            if cached is not None and cached[1] > time.monotonic():
                return cached[0]
            pending = self._stats_in_flight.get(path)
            if pending is None:
                break
            await pending.wait()  # one remote stat per path at a time; reuse its answer
        parent = os.path.dirname(path) or "/"
        listing = self._dirs.get(parent) if parent in self._own_dirs and path != "/" else None
        if listing is not None and listing[1] > time.monotonic():
            if os.path.basename(path) not in listing[0]:
                return None  # made here, its names are known, and it is not one
        elif parent in self._own_dirs:
            self._own_dirs.discard(parent)  # its names are no longer known
        done = self._stats_in_flight[path] = trio.Event()
        try:
            attr = await self.remote.stat(path)
            now = time.monotonic()
            # Valid a little past the timeout's start, so waiters see it even at 0.
            self._attrs[path] = (attr, now + max(self.attr_timeout, 0.01))
            if len(self._fetched) > 4096:
                self._fetched.clear()
            self._fetched[path] = (attr, now)
        finally:
            del self._stats_in_flight[path]
            done.set()
        if attr is not None and path != "/" and not revalidate:
            self._found_in(parent, os.path.basename(path))
        return attr

    def _attr(self, ino: int, path: str, remote: RemoteAttr) -> Attr:
        size, mtime = remote.size, remote.mtime_ns
        entry = self.cache.get(path) if remote.kind == stat.S_IFREG else None
        if entry is not None and entry.dirty and entry.complete:
            # Local bytes the remote side has not got yet. A clean copy's own
            # mtime is when it was fetched: showing it would make a file's
            # mtime change when it is first read (tar: "file changed as we read it").
            st = os.stat(entry.data)
            size, mtime = st.st_size, st.st_mtime_ns
        if remote.mode is not None:
            perm = remote.mode
        else:
            perm = 0o755 if remote.is_dir else 0o644
        if self.read_only:
            perm &= ~0o222
        nlink = remote.nlink or (2 if remote.is_dir else 1)
        return Attr(ino, remote.kind | perm, size, mtime, nlink, remote.atime_ns,
                    remote.ctime_ns if mtime == remote.mtime_ns else mtime)

    async def _must_stat(self, path: str, revalidate: bool = False) -> RemoteAttr:
        attr = await self._stat(path, revalidate)
        if attr is None:
            raise err(errno.ENOENT, path)
        return attr

    async def lookup(self, parent: int, name: str) -> Attr:
        """Returns: attributes of ``name`` in directory ``parent`` (a kernel lookup)."""
        path = self._child(parent, name)
        if name == ".jobs" and parent == ROOT_INODE:
            raise err(errno.ENOENT, path)  # reserved for the jobs directory
        attr = await self._must_stat(path)
        return self._attr(self.inodes.ino(path), path, attr)

    async def getattr(self, ino: int) -> Attr:
        """Returns: attributes of ``ino``."""
        orphan = self._orphans.get(ino)
        if orphan is not None:  # unlinked while open: fstat still works
            st = os.stat(orphan.data)
            return Attr(ino, stat.S_IFREG | stat.S_IMODE(st.st_mode), st.st_size,
                        st.st_mtime_ns, 0, st.st_atime_ns, st.st_ctime_ns)
        path = self.inodes.path(ino)
        return self._attr(ino, path, await self._must_stat(path))

    def parent_ino(self, ino: int) -> int:
        """Returns: the inode of ``ino``'s directory (the root's is the root)."""
        parent = os.path.dirname(self.inodes.path(ino)) or "/"
        return self.inodes.peek(parent) or ROOT_INODE

    def forget(self, ino: int, count: int) -> None:
        """The kernel dropped ``count`` lookups of ``ino``."""
        self.inodes.forget(ino, count)

    def _writable(self, path: str) -> None:
        if self.read_only:
            raise err(errno.EROFS, path)

    async def mkdir(self, parent: int, name: str, mode: int) -> Attr:
        """Returns: attributes of the new directory, which has ``mode`` (the
        kernel applied the caller's umask) where the backend can set modes."""
        path = self._child(parent, name)
        self._writable(path)
        perm = stat.S_IMODE(mode)
        caps = self.remote.caps
        await self.remote.mkdir(path, perm)
        if not caps.create_mode and caps.set_permissions and perm != 0o755:
            await self.remote.chmod(path, perm)  # the server's default is 0755 less its umask
        self._named(path, True)
        self._stop_listings_under(path)
        self._dirs[path] = ({}, time.monotonic() + self.dir_timeout)  # new, so empty
        self._own_dirs.add(path)
        return await self.lookup(parent, name)

    async def rmdir(self, parent: int, name: str) -> None:
        """Remove an empty directory (ENOTEMPTY otherwise)."""
        path = self._child(parent, name)
        self._writable(path)
        await self.remote.rmdir(path)
        self._named(path, False)
        self._stop_listings_under(path)
        self._dirs.pop(path, None)
        self.inodes.remove(path)

    async def unlink(self, parent: int, name: str) -> None:
        """Remove a file or link (its open handles keep their local copy)."""
        path = self._child(parent, name)
        self._writable(path)
        attr = await self._must_stat(path)
        if attr.is_dir:
            raise err(errno.EISDIR, path)
        await self._stop_early(self.cache.entries.get(path))
        entry = self.cache.get(path)
        if entry is not None and entry.opens:
            await self._fill_sparse(entry)  # its handles read on, from the cache alone
        try:
            await self.remote.unlink(path)
        except OSError as exc:
            # Not on the server: it exists only here (its create reached the
            # server never, as its close said); removing it is ours to do,
            # or the writeback retry would bring back what was deleted.
            if exc.errno != errno.ENOENT or entry is None or not entry.dirty:
                raise
            log.info("%s: removed before it ever reached the server", path)
        self._named(path, False)
        if entry is not None and not entry.opens:
            self.cache.drop(path)
        elif entry is not None:
            # Open handles keep the local copy and go on using it, as POSIX
            # has it; nothing of it is uploaded any more.
            self.cache.entries.pop(path, None)
            entry.dirty = False
            self.cache.forget(entry)  # not brought back by a restart
            ino = self.inodes.peek(path)
            if ino is not None and entry.complete:
                self._orphans[ino] = entry
        self.inodes.remove(path)

    async def rename(self, parent: int, name: str, new_parent: int, new_name: str,
                     noreplace: bool = False) -> None:
        """Rename, replacing a file or empty directory at the target as POSIX says.

        Raises:
            OSError: EXDEV for a directory where the adaptor cannot rename
                (mv then copies; files are copied and deleted here),
                ENOTEMPTY, EISDIR, ENOTDIR, EEXIST (noreplace).
        """
        old = self._child(parent, name)
        new = self._child(new_parent, new_name)
        self._writable(old)
        source = await self._must_stat(old)
        if not self.remote.caps.rename and source.is_dir:
            # Not object by object inside one rename() call (no progress, a
            # half-moved tree on failure): mv copies it, visibly, on EXDEV.
            raise err(errno.EXDEV, f"{old}: this adaptor cannot rename directories")
        target = await self._stat(new)
        if target is not None:
            if noreplace:
                raise err(errno.EEXIST, new)
            if target.is_dir and not source.is_dir:
                raise err(errno.EISDIR, new)
            if source.is_dir and not target.is_dir:
                raise err(errno.ENOTDIR, new)
        for p in (old, new):  # nothing may go on uploading under either name
            if source.is_dir:
                await self._stop_early_under(p)
            else:
                await self._stop_early(self.cache.entries.get(p))
        if target is not None:
            if target.is_dir:
                await self.remote.rmdir(new)  # ENOTEMPTY if it has entries
            else:
                await self.remote.unlink(new)
            self.cache.drop(new)
        entry = self.cache.get(old)
        copied: RemoteAttr | None = None
        if entry is not None:
            async with entry.lock:  # not while it uploads under the old name
                await self._move(old, new)
                if not self.remote.caps.rename and entry.remote_mtime_ns is not None:
                    # A copy is a new version (s3: a new mtime, a second later
                    # or not): the bytes here are now based on it.
                    copied = await self.remote.stat(new)
        else:
            await self._move(old, new)
        self.cache.rename(old, new, source.is_dir)
        moved = self.cache.entries.get(new)
        if moved is not None:
            self._drop_reader(moved)  # opened by the old name
            self._own_ctime_change(moved)  # the rename changed its ctime
            if copied is not None and moved is entry:
                stamp(moved, copied)
                if moved.complete:
                    self.cache.save(moved)  # a restart checks against it too
        self.inodes.rename(old, new, source.is_dir)
        attrs = self._attrs.get(old)
        self._named(old, False)
        self._named(new, True)
        if attrs is not None and attrs[0] is not None and self.remote.caps.rename:
            self._attrs[new] = attrs  # the same file (mv then stat: no round trip)
        if source.is_dir:  # a file has nothing below it: no walk over every path
            prefix = old.rstrip("/") + "/"
            for p in [p for p in self._attrs if p.startswith(prefix)]:
                del self._attrs[p]
            for p in [p for p in self._dirs if p == old or p.startswith(prefix)]:
                del self._dirs[p]
        else:
            self._dirs.pop(old, None)
        self._stop_listings_under(old)
        self._stop_listings_under(new)

    async def _move(self, old: str, new: str) -> None:
        """Rename a file remotely; where the adaptor cannot (s3), copy then delete
        (not atomic, but editors, rsync and git rename temporary files into place
        without an EXDEV fallback; a failure in between leaves both names)."""
        if self.remote.caps.rename:
            await self.remote.rename(old, new)
        else:
            await self.remote.copy(old, new)
            await self.remote.unlink(old)

    async def symlink(self, parent: int, name: str, target: str) -> Attr:
        """Returns: attributes of the new link (ENOTSUP where the adaptor cannot)."""
        path = self._child(parent, name)
        self._writable(path)
        if not self.remote.caps.create_symlinks:
            raise err(errno.ENOTSUP, f"{path}: this adaptor cannot create symlinks")
        await self.remote.symlink(path, target)
        self._named(path, True)
        return await self.lookup(parent, name)

    async def readlink(self, ino: int) -> str:
        """Returns: the link target."""
        path = self.inodes.path(ino)
        if not self.remote.caps.read_symlinks:
            raise err(errno.ENOTSUP, f"{path}: this adaptor cannot read symlinks")
        return await self.remote.readlink(path)

    # -- file data ----------------------------------------------------------
    async def _mark_dirty(self, entry: CacheEntry) -> None:
        if self.cache.entries.get(entry.path) is not entry:
            return  # unlinked while open: its bytes are for its handles only
        if not entry.dirty:
            entry.dirty = True
            try:
                self.cache.save(entry)
            except OSError:
                entry.dirty = False  # nothing written yet: the caller's call fails
                raise

    def _new_handle(self, entry: CacheEntry, writable: bool, append: bool) -> int:
        fh = self._next_fh
        self._next_fh += 1
        entry.opens += 1
        self._handles[fh] = Handle(entry, writable, append)
        return fh

    async def open(self, ino: int, flags: int) -> tuple[int, bool]:
        """Open a file.

        Returns:
            (handle, keep_cache): keep_cache when the local copy was valid, so
            the kernel's page cache may be kept too.
        """
        path = self.inodes.path(ino)
        writable = (flags & os.O_ACCMODE) != os.O_RDONLY
        if writable:
            self._writable(path)
        if not self._fresh(path):
            self._attrs.pop(path, None)  # validate against the remote side on open
        remote = await self._must_stat(path, revalidate=True)
        if remote.is_dir:
            raise err(errno.EISDIR, path)
        entry = self.cache.entry(path)
        keep = entry.complete and not self._download_wanted(entry, remote)
        if self._sparse:
            keep = self._sparse_valid(entry, remote)
            if not keep:
                self._reset_sparse(entry, remote)
        if flags & os.O_TRUNC:
            self._writable(path)
            await self._stop_early(entry)
            await self._ready_for_write(entry, path, truncate=True)
            os.truncate(entry.data, 0)
            stamp(entry, remote)  # what it replaces is what was there at this open
            if self._sparse:
                self._emptied_sparse(entry, 0)
            self._emptied(entry)
            await self._mark_dirty(entry)
            keep = False
        elif self._download_wanted(entry, remote):
            self._start_download(entry, remote)
            await trio.lowlevel.checkpoint()
        fh = self._new_handle(entry, writable, bool(flags & os.O_APPEND))
        if flags & os.O_TRUNC:
            self._handles[fh].wrote = True
        return fh, keep

    def _fresh(self, path: str) -> bool:
        """Returns: whether ``path``'s cached attributes are a stat from the
        server of the last `FRESH_FOR_OPEN` seconds, with no close of it since."""
        cached, fetched = self._attrs.get(path), self._fetched.get(path)
        return (cached is not None and fetched is not None and cached[0] is fetched[0]
                and time.monotonic() - fetched[1] < FRESH_FOR_OPEN)

    async def create(self, parent: int, name: str, mode: int, flags: int) -> tuple[int, Attr]:
        """Create (or truncate) a file and open it.

        Returns:
            (handle, attributes).
        """
        path = self._child(parent, name)
        self._writable(path)
        # At once (s3 too: createFile needs no size): it exists while written.
        await self._stop_early(self.cache.entries.get(path))
        await self.remote.create_empty(path, stat.S_IMODE(mode), defer=self._ours_to_write(path))
        self.cache.drop(path)
        entry = self.cache.entry(path)
        try:
            entry.data.write_bytes(b"")
        except OSError as exc:  # no inode left: make room once
            if not disk_full(exc) or not self.cache.make_room(1 << 20):
                raise
            entry.data.write_bytes(b"")
        entry.complete = True
        if self._sparse:
            self._emptied_sparse(entry, None)
            # What the server has: its upload then needs no truncate, and a
            # restart nothing fetched under what is written (`_persist_held`).
            entry.remote_size = 0
        entry.mode = stat.S_IMODE(mode)  # kept across uploads (`_upload`)
        self._emptied(entry)
        await self._mark_dirty(entry)
        self._named(path, True)
        fh = self._new_handle(entry, True, bool(flags & os.O_APPEND))
        self._handles[fh].wrote = True
        now = time.time_ns()
        perm = stat.S_IMODE(mode) if self.remote.caps.set_permissions else None
        self._attrs[path] = (RemoteAttr(stat.S_IFREG, 0, now, perm),
                             time.monotonic() + self.attr_timeout)
        return fh, self._attr(self.inodes.ino(path), path, self._attrs[path][0])  # type: ignore

    def _fd(self, handle: Handle) -> int:
        if handle.fd is None:
            entry = handle.entry
            flags = os.O_RDWR if handle.writable else os.O_RDONLY
            # A finished download renames part -> data (same inode): try both.
            targets = (entry.data,) if entry.complete else (entry.part, entry.data)
            for target in targets:
                try:
                    handle.fd = os.open(target, flags)
                    break
                except FileNotFoundError:
                    continue
            else:
                raise err(errno.EIO, f"{entry.path}: local copy vanished")
        return handle.fd

    async def read(self, fh: int, offset: int, size: int) -> bytes:
        """Read, waiting only until the requested range has arrived."""
        handle = self._handle(fh)
        entry = handle.entry
        if entry.held is not None:
            return await self._read_sparse(handle, self._fd(handle), offset, size)
        while not entry.complete:
            if entry.download_error is not None and not entry.downloading:
                raise err(entry.download_error.errno or errno.EIO, entry.path)
            if entry.part.exists() and entry.local_size() >= offset + size:
                break
            with trio.move_on_after(0.05):  # progress events are coarse: also poll
                await entry.changed.wait()
        if handle.fd is None and not entry.complete and not entry.part.exists():
            raise err(errno.EIO, entry.path)
        return os.pread(self._fd(handle), size, offset)

    async def write(self, fh: int, offset: int, data: bytes) -> int:
        """Write into the local copy (made whole first); uploaded on flush/close."""
        handle = self._handle(fh)
        if not handle.writable:
            raise err(errno.EBADF, handle.entry.path)
        if not handle.entry.complete or handle.entry.downloading:
            await self._ready_for_write(handle.entry, handle.entry.path)
            if handle.fd is not None:
                os.close(handle.fd)
                handle.fd = None
        entry = handle.entry
        if entry.lost is not None:
            raise err(entry.lost_errno, f"{entry.path}: {entry.lost}")
        await self._mark_dirty(entry)
        handle.wrote = True
        fd = self._fd(handle)
        before = os.fstat(fd).st_size
        if handle.append:
            offset = before
        if offset != entry.appended:  # not at the end of a file written in order
            await self._stop_early(entry)
        try:
            try:
                written = os.pwrite(fd, data, offset)
            except OSError as exc:
                if not disk_full(exc) or not self.cache.make_room(len(data) + (1 << 20)):
                    raise
                written = os.pwrite(fd, data, offset)  # room was made: once more
            self._wrote_sparse(entry, offset, written, before)
        except OSError as exc:
            # Not what the user wrote: never uploaded as if it were (kept aside).
            await self._stop_early(entry)
            if self.cache.entries.get(entry.path) is entry:
                self.lose_written(entry, exc)
            raise err(exc.errno or errno.EIO, f"{entry.path}: writing the local copy "
                      f"failed: {exc.strerror or exc}") from None
        self._changed(entry, written)
        return written

    def _handle(self, fh: int) -> Handle:
        try:
            return self._handles[fh]
        except KeyError:
            raise err(errno.EBADF, f"handle {fh}") from None

    async def release(self, fh: int) -> None:
        """Close a handle (after flush)."""
        handle = self._handles.pop(fh, None)
        if handle is None:
            return
        if handle.fd is not None:
            os.close(handle.fd)
        handle.entry.opens -= 1
        self._fetched.pop(handle.entry.path, None)  # the next open asks the server again
        if handle.entry.opens == 0:
            self._drop_reader(handle.entry)
            if handle.entry.unsaved and self.cache.entries.get(handle.entry.path) is handle.entry:
                self.cache.save_lazily(handle.entry)
            for ino in [i for i, e in self._orphans.items() if e is handle.entry]:
                del self._orphans[ino]  # its last user closed it: the bytes go
                handle.entry.data.unlink(missing_ok=True)
                self.cache.forget(handle.entry)
            self.cache.evict()

    # -- for the daemon ---------------------------------------------------------
    def forget_path(self, path: str) -> None:
        """Drop cached metadata of ``path`` and below ("/" drops all), so the next
        access asks the remote side (file data is still validated on open)."""
        prefix = path.rstrip("/") + "/"
        self._stop_listings_under(path)
        for table in (self._attrs, self._dirs):
            for key in [k for k in table if k == path or k.startswith(prefix) or path == "/"]:
                del table[key]

    def status(self) -> dict[str, object]:
        """Returns: cache use, dirty paths and recent errors (JSON-able)."""
        used, _ = self.cache.usage()
        return {"cache_bytes": used,
                "dirty_paths": sorted(e.path for e in self.cache.entries.values() if e.dirty),
                "errors": list(self.activity.errors),
                # Kept versions (`vfs.conflict`): what happened since this
                # mount started, and what lost+found holds (across mounts).
                "conflicts": list(self.conflicts[-20:]),
                "lost_found": self.cache.lost_files()}
