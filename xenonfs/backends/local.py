"""The native backend of ``file://``: plain system calls on a local directory.

The engine's file adaptor cannot set times, make hard links, keep a relative
symlink relative (it stores ``l -> /f`` for ``ln -s f l``) or set more than
the 9 permission bits; here every one of those is the system call itself.

Metadata calls run in the mount's trio thread: a local stat takes
microseconds, and a trip through a worker thread would cost more than the
call. Whole-file copies (`download`, `upload`) run in a worker thread.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from typing import Callable

import trio

from ..vfs.remote import Capabilities, RemoteAttr

#: Bytes per copy_file_range call (progress is reported between them).
CHUNK = 16 << 20


def attr_of(st: os.stat_result) -> RemoteAttr:
    """Returns: the vfs's view of an lstat result."""
    kind = stat.S_IFMT(st.st_mode)
    if kind not in (stat.S_IFREG, stat.S_IFDIR, stat.S_IFLNK):
        kind = stat.S_IFREG  # fifos, sockets, devices: shown as (unreadable) files
    return RemoteAttr(kind, st.st_size if kind != stat.S_IFDIR else 0, st.st_mtime_ns,
                      stat.S_IMODE(st.st_mode), st.st_nlink, st.st_atime_ns, st.st_ctime_ns,
                      ino=st.st_ino)


def _copy(source: str, target: str, flags: int, progress: Callable[[int], None] | None,
          mode: int = 0o600) -> None:
    """Copy ``source`` into ``target`` (opened with ``flags``), in the kernel
    where it can (copy_file_range), reporting bytes done through ``progress``
    (which runs in the trio thread)."""
    src = os.open(source, os.O_RDONLY | os.O_CLOEXEC)
    try:
        dst = os.open(target, flags | os.O_CLOEXEC, mode)
        try:
            done = 0
            while True:
                try:
                    n = os.copy_file_range(src, dst, CHUNK)
                except OSError as exc:  # another file system, or no support: plain copy
                    if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP,
                                         errno.EINVAL):
                        raise
                    data = os.read(src, CHUNK)
                    n = len(data)
                    if n:
                        os.write(dst, data)
                if n == 0:
                    break
                done += n
                if progress is not None:
                    trio.from_thread.run_sync(progress, done)
        finally:
            os.close(dst)
    finally:
        os.close(src)


def _write_ranges(local: str, target: str, ranges: list[tuple[int, int]], cut: int | None,
                  size: int | None, progress: Callable[[int], None] | None,
                  sync: bool) -> None:
    """Copy ``ranges`` of ``local`` into ``target`` in place (see
    `LocalRemote.write_ranges`), in the kernel where it can."""
    src = os.open(local, os.O_RDONLY | os.O_CLOEXEC)
    try:
        dst = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            if cut is not None:
                os.ftruncate(dst, cut)
            done = 0
            for start, end in ranges:
                offset = start
                while offset < end:
                    count = min(CHUNK, end - offset)
                    try:
                        n = os.copy_file_range(src, dst, count, offset, offset)
                    except OSError as exc:
                        if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP,
                                             errno.EINVAL):
                            raise
                        data = os.pread(src, count, offset)
                        n = os.pwrite(dst, data, offset) if data else 0
                    if n == 0:
                        break  # the local file is shorter: its size is set below
                    offset += n
                    done += n
                    if progress is not None:
                        trio.from_thread.run_sync(progress, done)
            if size is not None:
                os.ftruncate(dst, size)
            if sync:
                os.fsync(dst)
        finally:
            os.close(dst)
    finally:
        os.close(src)


class LocalRemote:
    """Remote operations on a local directory.

    Args:
        root: the directory that is the mount's "/".
    """

    caps = Capabilities(rename=True, append=True, create_symlinks=True, read_symlinks=True,
                        set_permissions=True, read_permissions=True, create_mode=True,
                        set_times=True, hard_links=True, statfs=True, special_modes=True,
                        upload_keeps_mode=True, ranged=True)

    def __init__(self, root: str) -> None:
        self.root = root

    def _p(self, path: str) -> str:
        return posixpath.join(self.root, path.lstrip("/")) if path != "/" else self.root

    async def stat(self, path: str) -> RemoteAttr | None:
        try:
            return attr_of(os.lstat(self._p(path)))
        except (FileNotFoundError, NotADirectoryError):  # a parent may be a file
            return None

    async def listdir(self, path: str, on_chunk: Callable[[list[tuple[str, RemoteAttr]]], None]
                      | None = None) -> list[tuple[str, RemoteAttr]]:
        result = []
        with os.scandir(self._p(path)) as it:
            for entry in it:
                try:
                    result.append((entry.name, attr_of(entry.stat(follow_symlinks=False))))
                except FileNotFoundError:  # removed meanwhile
                    continue
        if on_chunk is not None and result:
            on_chunk(result)
        return result

    async def download(self, path: str, local: str, progress: Callable[[int], None]) -> None:
        await trio.to_thread.run_sync(
            _copy, self._p(path), local, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, progress)

    async def upload(self, local: str, path: str, size: int | None,
                     progress: Callable[[int], None] | None = None, growth: object = None) -> None:
        # In place, as a program writing the file would: its inode, mode and
        # hard links stay.
        await trio.to_thread.run_sync(
            _copy, local, self._p(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, progress)

    async def open_read(self, path: str) -> int:
        return os.open(self._p(path), os.O_RDONLY | os.O_CLOEXEC)

    async def read_range(self, reader: int, offset: int, size: int) -> bytes:
        if size <= 64 << 10:  # from the page cache, quicker than a thread hop
            return os.pread(reader, size, offset)
        return await trio.to_thread.run_sync(os.pread, reader, size, offset)

    async def close_read(self, reader: int) -> None:
        os.close(reader)

    async def write_ranges(self, local: str, path: str, ranges: list[tuple[int, int]],
                           cut: int | None, size: int | None,
                           progress: Callable[[int], None] | None = None,
                           sync: bool = False,
                           times: tuple[int | None, int | None] | None = None
                           ) -> RemoteAttr | None:
        if not ranges and not sync:  # only sizes: no thread needed
            _write_ranges(local, self._p(path), ranges, cut, size, None, False)
        else:
            await trio.to_thread.run_sync(_write_ranges, local, self._p(path), ranges, cut,
                                          size, progress, sync)
        if times is not None:
            return await self.utimens(path, *times)
        return attr_of(os.lstat(self._p(path)))

    async def create_empty(self, path: str, mode: int | None = None,
                           defer: bool = False) -> None:
        target = self._p(path)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            if mode is not None:
                os.fchmod(fd, mode)  # exactly what was asked, whatever our umask
        finally:
            os.close(fd)

    async def mkdir(self, path: str, mode: int | None = None) -> None:
        target = self._p(path)
        os.mkdir(target, 0o700)
        if mode is not None:
            os.chmod(target, mode)

    async def rmdir(self, path: str) -> None:
        os.rmdir(self._p(path))

    async def unlink(self, path: str) -> None:
        os.unlink(self._p(path))

    async def rename(self, old: str, new: str) -> None:
        os.rename(self._p(old), self._p(new))

    async def copy(self, old: str, new: str) -> None:
        await trio.to_thread.run_sync(
            _copy, self._p(old), self._p(new), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, None)

    async def symlink(self, path: str, target: str) -> None:
        os.symlink(target, self._p(path))  # the target verbatim: relative stays relative

    async def readlink(self, path: str) -> str:
        return os.readlink(self._p(path))

    async def chmod(self, path: str, mode: int) -> None:
        os.chmod(self._p(path), mode)

    async def utimens(self, path: str, atime_ns: int | None,
                      mtime_ns: int | None) -> RemoteAttr | None:
        target = self._p(path)
        if atime_ns is None or mtime_ns is None:
            st = os.lstat(target)
            atime_ns = st.st_atime_ns if atime_ns is None else atime_ns
            mtime_ns = st.st_mtime_ns if mtime_ns is None else mtime_ns
        os.utime(target, ns=(atime_ns, mtime_ns), follow_symlinks=False)
        return attr_of(os.lstat(target))

    async def link(self, path: str, new: str) -> None:
        os.link(self._p(path), self._p(new), follow_symlinks=False)

    async def statfs(self) -> dict[str, int]:
        st = os.statvfs(self.root)
        return {"f_bsize": st.f_bsize, "f_frsize": st.f_frsize, "f_blocks": st.f_blocks,
                "f_bfree": st.f_bfree, "f_bavail": st.f_bavail, "f_files": st.f_files,
                "f_ffree": st.f_ffree, "f_favail": st.f_favail, "f_namemax": st.f_namemax}

    async def close(self) -> None:
        """Nothing to let go of."""
