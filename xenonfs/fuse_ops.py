"""pyfuse3 operations: a thin layer over `xenonfs.vfs`.

Errors become FUSE replies here and only here: an OSError carries its errno;
anything else is a bug, logged with its traceback, and answered with EIO.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import stat
from dataclasses import replace
from typing import Any, Awaitable, Callable, TypeVar

import pyfuse3

from .vfs.core import Attr, Vfs
from .vfs.inodes import join
from .vfs.jobs import FH_BASE as JOBS_FH_BASE
from .vfs.jobs import JobsDir
from .vfs.listing import Listing

log = logging.getLogger("xenonfs.fuse")
T = TypeVar("T")


def _replies(fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return await fn(*args, **kwargs)
        except pyfuse3.FUSEError:
            raise
        except OSError as exc:
            if exc.errno not in (errno.ENOENT,):
                log.info("%s: %s", fn.__name__, exc)
            raise pyfuse3.FUSEError(exc.errno or errno.EIO) from None
        except Exception:
            log.exception("internal error in %s", fn.__name__)
            raise pyfuse3.FUSEError(errno.EIO) from None
    return wrapper


class Operations(pyfuse3.Operations):
    """FUSE requests, answered by a `Vfs`."""

    supports_dot_lookup = False
    enable_writeback_cache = False

    def __init__(self, vfs: Vfs, jobs: JobsDir | None = None) -> None:
        super().__init__()
        self.vfs = vfs
        self.jobs = jobs
        self._dirs: dict[int, tuple[Listing, list[tuple[str, Attr]], list[tuple[str, Attr]]]] = {}
        self._next_dir = 1

    # `.jobs/` paths and handles go to the jobs directory, the rest to the vfs.
    def _jobs_path(self, ino: int, name: str | None = None) -> str | None:
        if self.jobs is None:
            return None
        path = self.vfs.inodes.path(ino)
        if name is not None:
            path = join(path, name)
        return path if self.jobs.owns(path) else None

    def _is_jobs_fh(self, fh: int) -> bool:
        return self.jobs is not None and fh >= JOBS_FH_BASE

    def _entry(self, attr: Attr) -> pyfuse3.EntryAttributes:
        e = pyfuse3.EntryAttributes()
        e.st_ino = attr.ino
        e.generation = 0
        # Job files change by themselves: the kernel must always ask.
        timeout = 0 if self._jobs_path(attr.ino) else self.vfs.attr_timeout
        e.entry_timeout = timeout
        e.attr_timeout = timeout
        e.st_mode = attr.mode
        e.st_nlink = attr.nlink
        e.st_uid = self.vfs.uid
        e.st_gid = self.vfs.gid
        e.st_rdev = 0
        e.st_size = attr.size
        e.st_blksize = 1 << 20  # cp and friends size their buffers by it: fewer FUSE requests
        e.st_blocks = (attr.size + 511) // 512
        e.st_mtime_ns = attr.mtime_ns
        e.st_atime_ns = attr.mtime_ns if attr.atime_ns is None else attr.atime_ns
        e.st_ctime_ns = attr.mtime_ns if attr.ctime_ns is None else attr.ctime_ns
        return e

    @staticmethod
    def _name(name: bytes) -> str:
        return os.fsdecode(name)

    def _not_in_jobs(self, parent: int, name: bytes) -> None:
        if self._jobs_path(parent, self._name(name)):
            raise OSError(errno.EPERM, ".jobs/ holds job specs and job directories only")

    @_replies
    async def lookup(self, parent_inode: int, name: bytes, ctx: Any = None) -> pyfuse3.EntryAttributes:
        path = self._jobs_path(parent_inode, self._name(name))
        if path:
            return self._entry(await self.jobs.getattr(path, lookup=True))  # type: ignore[union-attr]
        return self._entry(await self.vfs.lookup(parent_inode, self._name(name)))

    @_replies
    async def getattr(self, inode: int, ctx: Any = None) -> pyfuse3.EntryAttributes:
        path = self._jobs_path(inode)
        if path:
            return self._entry(await self.jobs.getattr(path))  # type: ignore[union-attr]
        return self._entry(await self.vfs.getattr(inode))

    @_replies
    async def setattr(self, inode: int, attr: Any, fields: Any, fh: int | None,
                      ctx: Any) -> pyfuse3.EntryAttributes:
        mode = attr.st_mode if fields.update_mode else None
        size = attr.st_size if fields.update_size else None
        path = self._jobs_path(inode)
        if path:
            if mode is not None:
                raise OSError(errno.EPERM, f"{path}: modes of .jobs/ files are fixed")
            if size is not None:
                self.jobs.truncate(path, size)  # type: ignore[union-attr]
            return self._entry(await self.jobs.getattr(path))  # type: ignore[union-attr]
        return self._entry(await self.vfs.setattr(
            inode, mode, size, fh,
            uid=attr.st_uid if fields.update_uid else None,
            gid=attr.st_gid if fields.update_gid else None,
            atime_ns=attr.st_atime_ns if fields.update_atime else None,
            mtime_ns=attr.st_mtime_ns if fields.update_mtime else None))

    async def forget(self, inode_list: list[tuple[int, int]]) -> None:
        for inode, count in inode_list:
            self.vfs.forget(inode, count)

    @_replies
    async def readlink(self, inode: int, ctx: Any) -> bytes:
        return os.fsencode(await self.vfs.readlink(inode))

    @_replies
    async def opendir(self, inode: int, ctx: Any) -> int:
        path = self._jobs_path(inode)
        extra: list[tuple[str, Attr]] = []
        if path:
            here = await self.jobs.getattr(path)  # type: ignore[union-attr]
            listing = Listing.complete(await self.jobs.readdir(path))  # type: ignore[union-attr]
        else:
            here = await self.vfs.getattr(inode)
            listing = await self.vfs.open_listing(inode)
            if inode == pyfuse3.ROOT_INODE and self.jobs is not None:
                extra.append((".jobs", await self.jobs.getattr("/.jobs")))
        # "." and "..", as every directory lists them (`find`, `ls -a`, some
        # archivers count on them); the kernel resolves them itself.
        parent = self.vfs.parent_ino(inode)
        dots = [(".", here), ("..", replace(here, ino=parent))]
        fh = self._next_dir
        self._next_dir += 1
        self._dirs[fh] = (listing, dots, extra)
        return fh

    @_replies
    async def readdir(self, fh: int, start_id: int, token: Any) -> None:
        # Entries go to the kernel as they arrive: a readdir waits only for
        # the next one, so `ls` works while the rest of a listing streams in.
        # Offsets: 0-1 the dots, then the listing, then `extra` once it is done.
        listing, dots, extra = self._dirs.get(fh, (Listing.complete([]), [], []))
        first = len(dots)
        await listing.wait_beyond(max(start_id - first, 0))
        entries = listing.entries
        count = len(entries)
        end = first + count + (len(extra) if listing.done else 0)
        for index in range(start_id, end):
            if index < first:
                name, attr = dots[index]
            elif index < first + count:
                name, attr = entries[index - first]
            else:
                name, attr = extra[index - first - count]
            if not pyfuse3.readdir_reply(token, os.fsencode(name), self._entry(attr), index + 1):
                break

    async def releasedir(self, fh: int) -> None:
        self._dirs.pop(fh, None)

    @_replies
    async def mkdir(self, parent_inode: int, name: bytes, mode: int, ctx: Any) -> pyfuse3.EntryAttributes:
        self._not_in_jobs(parent_inode, name)
        return self._entry(await self.vfs.mkdir(parent_inode, self._name(name), mode))

    @_replies
    async def rmdir(self, parent_inode: int, name: bytes, ctx: Any) -> None:
        path = self._jobs_path(parent_inode, self._name(name))
        if path:
            await self.jobs.rmdir(path)  # type: ignore[union-attr]
            return
        await self.vfs.rmdir(parent_inode, self._name(name))

    @_replies
    async def unlink(self, parent_inode: int, name: bytes, ctx: Any) -> None:
        path = self._jobs_path(parent_inode, self._name(name))
        if path:
            await self.jobs.unlink(path)  # type: ignore[union-attr]
            return
        await self.vfs.unlink(parent_inode, self._name(name))

    @_replies
    async def rename(self, parent_inode_old: int, name_old: bytes, parent_inode_new: int,
                     name_new: bytes, flags: int, ctx: Any) -> None:
        if flags & ~pyfuse3.RENAME_NOREPLACE:
            raise pyfuse3.FUSEError(errno.EINVAL)  # RENAME_EXCHANGE: not atomic here
        self._not_in_jobs(parent_inode_old, name_old)
        self._not_in_jobs(parent_inode_new, name_new)
        await self.vfs.rename(parent_inode_old, self._name(name_old), parent_inode_new,
                              self._name(name_new), bool(flags & pyfuse3.RENAME_NOREPLACE))

    @_replies
    async def symlink(self, parent_inode: int, name: bytes, target: bytes,
                      ctx: Any) -> pyfuse3.EntryAttributes:
        self._not_in_jobs(parent_inode, name)
        return self._entry(await self.vfs.symlink(parent_inode, self._name(name),
                                                  os.fsdecode(target)))

    @_replies
    async def link(self, inode: int, new_parent_inode: int, new_name: bytes,
                   ctx: Any) -> pyfuse3.EntryAttributes:
        self._not_in_jobs(new_parent_inode, new_name)
        if self._jobs_path(inode):
            raise OSError(errno.EPERM, ".jobs/ files cannot be linked")
        return self._entry(await self.vfs.link(inode, new_parent_inode, self._name(new_name)))

    @_replies
    async def mknod(self, parent_inode: int, name: bytes, mode: int, rdev: int, ctx: Any) -> Any:
        raise OSError(errno.ENOTSUP, "only regular files, directories and symlinks")

    @_replies
    async def open(self, inode: int, flags: int, ctx: Any) -> pyfuse3.FileInfo:
        path = self._jobs_path(inode)
        if path:
            return pyfuse3.FileInfo(fh=await self.jobs.open(path, flags),  # type: ignore[union-attr]
                                    direct_io=True)
        fh, keep = await self.vfs.open(inode, flags)
        return pyfuse3.FileInfo(fh=fh, keep_cache=keep)

    @_replies
    async def create(self, parent_inode: int, name: bytes, mode: int, flags: int,
                     ctx: Any) -> tuple[pyfuse3.FileInfo, pyfuse3.EntryAttributes]:
        path = self._jobs_path(parent_inode, self._name(name))
        if path:
            fh, attr = await self.jobs.create(path)  # type: ignore[union-attr]
            return pyfuse3.FileInfo(fh=fh, direct_io=True), self._entry(attr)
        fh, attr = await self.vfs.create(parent_inode, self._name(name), stat.S_IMODE(mode), flags)
        return pyfuse3.FileInfo(fh=fh), self._entry(attr)

    @_replies
    async def read(self, fh: int, off: int, size: int) -> bytes:
        if self._is_jobs_fh(fh):
            return await self.jobs.read(fh, off, size)  # type: ignore[union-attr]
        return await self.vfs.read(fh, off, size)

    @_replies
    async def write(self, fh: int, off: int, buf: bytes) -> int:
        if self._is_jobs_fh(fh):
            return await self.jobs.write(fh, off, buf)  # type: ignore[union-attr]
        return await self.vfs.write(fh, off, buf)

    @_replies
    async def flush(self, fh: int) -> None:
        if self._is_jobs_fh(fh):
            await self.jobs.flush(fh)  # type: ignore[union-attr]
            return
        await self.vfs.flush(fh)

    @_replies
    async def fsync(self, fh: int, datasync: bool) -> None:
        if self._is_jobs_fh(fh):
            await self.jobs.flush(fh)  # type: ignore[union-attr]
            return
        await self.vfs.fsync(fh)

    @_replies
    async def release(self, fh: int) -> None:
        if self._is_jobs_fh(fh):
            await self.jobs.release(fh)  # type: ignore[union-attr]
            return
        await self.vfs.release(fh)

    @_replies
    async def statfs(self, ctx: Any) -> pyfuse3.StatvfsData:
        data = pyfuse3.StatvfsData()
        for key, value in (await self.vfs.statfs()).items():
            setattr(data, key, value)
        return data
