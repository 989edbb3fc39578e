"""The vfs's `Remote` over an engine file system (the wiring layer: this
module knows both the client and the vfs's protocol)."""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import os
import posixpath
import stat
from typing import Any, Awaitable, Callable, TypeVar

import trio

from ..client import CopyMode, FileSystem, FileSystemAdaptorDescription, XenonClient
from ..client import errors, rpc
from ..client.types import PathAttributes, mode_to_permissions
from ..vfs.remote import Capabilities, RemoteAttr

T = TypeVar("T")
log = logging.getLogger("xenonfs.remote")
#: Files up to this size are fetched with one readFromFile message.
SMALL = 1024 * 1024
#: The s3 adaptor's directory marker object (``DIR/___not__empty___``): made by
#: its createDirectory, hidden from its listings; a file of that name would
#: vanish from view, so the name is refused.
S3_MARKER = "___not__empty___"


def _oserror(fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """Turn engine exceptions into OSError with the table's errno; after a lost
    connection, reconnect once and retry (the server may be back)."""
    @functools.wraps(fn)
    async def wrapper(self: "EngineRemote", *args: Any, **kwargs: Any) -> T:
        try:
            try:
                return await fn(self, *args, **kwargs)
            except errors.NotConnectedException as exc:
                log.warning("%s: %s; reconnecting", self.fs.adaptor, exc)
                async with self.calls:
                    await self.fs.reconnect()
                if self._transfer_fs is not None:
                    async with self.transfers:
                        await self._transfer_fs.reconnect()
                return await fn(self, *args, **kwargs)
        except errors.InvalidCredentialException as exc:
            # This credential logged in when the mount was made: a login that
            # fails now (a reconnect, the transfer connection) is a server that
            # does not answer in time (the SSH adaptors say "authentication
            # failed" for a login that timed out), not a refused credential.
            log.warning("%s: a new connection failed: %s", self.fs.adaptor, exc)
            raise OSError(errno.EIO, f"{self.fs.adaptor}: could not connect to the server "
                                     "again: no answer in time (it accepted this login when "
                                     "the mount was made)") from exc
        except errors.XenonException as exc:
            raise OSError(exc.errno, str(exc)) from exc
    return wrapper


def _overwrite(source: str, target: str, progress: Callable[[int], None],
               chunk: int = 8 << 20) -> None:
    """Write ``source``'s bytes into ``target`` in place (same inode, so open
    descriptors see them) and cut it to ``source``'s size. Runs in a thread;
    ``progress`` is called back in trio with the bytes written so far."""
    with open(source, "rb") as src, open(target, "r+b") as dst:
        done = 0
        while data := src.read(chunk):
            dst.write(data)
            dst.flush()
            done += len(data)
            trio.from_thread.run_sync(progress, done)
        dst.truncate(done)


async def _watched_copy(source_fs: FileSystem, source: str, target_fs: FileSystem, target: str,
                        progress: Callable[[int], None] | None, interval: float) -> None:
    """`FileSystem.copy_and_wait` (REPLACE) that fails once the copy makes no
    progress for the idle deadline (`rpc.DEADLINES`): a frozen server stalls a
    copy inside the engine, whose status then says "not done" forever.

    Raises:
        EngineTimeoutException: no progress in time (the copy is cancelled).
        XenonException: the copy failed.
    """
    idle = rpc.DEADLINES.idle
    last = [trio.current_time(), -1]  # time of the last change, bytes copied then

    def report(status: Any) -> None:
        if status.bytes_copied != last[1]:
            last[0], last[1] = trio.current_time(), status.bytes_copied
        if progress is not None:
            progress(status.bytes_copied)

    stalled = False
    failure: BaseException | None = None
    async with trio.open_nursery() as nursery:
        async def watch() -> None:
            nonlocal stalled
            while True:
                await trio.sleep(min(1.0, idle / 4))
                if trio.current_time() - last[0] > idle:
                    stalled = True
                    nursery.cancel_scope.cancel()  # copy_and_wait cancels the copy
                    return
        nursery.start_soon(watch)
        try:
            await source_fs.copy_and_wait(source, target_fs, target, CopyMode.REPLACE,
                                          progress=report, interval=interval)
        except errors.XenonException as exc:  # raised outside: not in an ExceptionGroup
            failure = exc
        nursery.cancel_scope.cancel()
    if failure is not None:
        raise failure
    if stalled:
        raise errors.EngineTimeoutException(
            f"copy of {source} made no progress for {idle:g} s (the server does not answer; "
            "deadline: the engine_timeout option)", method=f"{source_fs.adaptor}.copy")


def remote_attr(a: PathAttributes, read_permissions: bool) -> RemoteAttr:
    """Args: a: engine attributes; read_permissions: the adaptor reports modes.
    Returns: the vfs's view."""
    if a.is_symbolic_link:
        kind = stat.S_IFLNK
    elif a.is_directory:
        kind = stat.S_IFDIR
    else:
        kind = stat.S_IFREG
    # s3 puts Last-Modified into last_access_time and leaves last_modified_time 0.
    ms = a.last_modified_time or a.last_access_time
    size = 0 if kind == stat.S_IFDIR and a.size >= 2 ** 63 else a.size
    mode = a.mode if read_permissions and a.permissions else None
    return RemoteAttr(kind, size, ms * 1_000_000, mode)


class EngineRemote:
    """Remote operations on ``root`` of an engine file system.

    Args:
        client: the engine client (for the local end of copies).
        fs: the remote file system.
        root: remote directory that is the mount's "/".
        description: the adaptor's capabilities.
        list_top: lists ``root`` itself, for a root the adaptor cannot list or
            stat (an s3 bucket's top level, see `s3top`); the root is then
            shown as a directory without asking the engine.
    """

    def __init__(self, client: XenonClient, fs: FileSystem, root: str,
                 description: FileSystemAdaptorDescription,
                 list_top: Callable[[], Awaitable[list[tuple[str, RemoteAttr]]]] | None = None
                 ) -> None:
        self.client = client
        self.fs = fs
        self.root = root
        self._list_top = list_top
        # The engine's sftp adaptor fails concurrent calls on one connection
        # ("Failed to retrieve attributes"), and its ftp adaptor answers a
        # stat by a cwd and a listing on its one control connection, so two at
        # once mix their replies (ENOENT, "Unknown parser type"): one call at
        # a time there. Copies run inside the engine and only their start
        # holds the slot.
        one_at_a_time = fs.adaptor in ("sftp", "ftp")
        self.calls = trio.CapacityLimiter(1 if one_at_a_time else 8)
        # ... which includes the engine's own calls during a copy: those
        # transfers get a second connection, one transfer at a time, so
        # metadata calls never run beside a copy on the same connection.
        self._separate_transfers = one_at_a_time
        self.transfers = trio.CapacityLimiter(1 if self._separate_transfers else 8)
        self._transfer_fs: FileSystem | None = None
        d = description
        # The s3 and webdav adaptors hand a write's bytes to a thread of their
        # own that PUTs them (webdav drops that thread's errors), and report
        # done before the server has the file: uploads and copies there wait
        # until it shows with its full size.
        self._puts_lag = fs.adaptor in ("s3", "webdav")
        self._reserved = S3_MARKER if fs.adaptor == "s3" else None
        self.caps = Capabilities(
            rename=d.supports_rename, append=d.can_append,
            create_symlinks=d.can_create_symboliclinks, read_symlinks=d.can_read_symboliclinks,
            set_permissions=d.supports_setting_posix_permissions,
            read_permissions=d.supports_reading_posix_permissions,
            needs_size=d.needs_size_beforehand,
            # The engine's copy reads a local file up to its end whatever its
            # size was at the start; sftp is where uploads are slow enough to
            # gain from starting early, and where a cancelled copy was seen to
            # leave the connection working (s3 needs the size up front; webdav
            # and ftp were not tried).
            upload_while_writing=fs.adaptor == "sftp")

    def _p(self, path: str) -> str:
        return posixpath.normpath(posixpath.join(self.root, path.lstrip("/")))

    def _is_reserved(self, path: str) -> bool:
        return self._reserved is not None and posixpath.basename(path) == self._reserved

    def _check_name(self, path: str) -> None:
        """Raises: OSError(EINVAL) for a name the adaptor keeps for itself."""
        if self._is_reserved(path):
            raise OSError(errno.EINVAL, f"{path}: the {self.fs.adaptor} adaptor reserves "
                                        f"the name {self._reserved}")

    async def _await_visible(self, remote: str, size: int) -> None:
        """Poll until ``remote`` exists with ``size`` bytes (see `_puts_lag`).

        Gives up quietly after a while that grows with the size: the caller's
        own check then reports what is missing.
        """
        deadline = trio.current_time() + 15 + size / 10e6
        delay = 0.02
        while True:
            try:
                async with self.calls:
                    attrs = await self.fs.get_attributes(remote)
                if attrs.size == size:
                    return
            except errors.NoSuchPathException:
                pass
            if trio.current_time() > deadline:
                log.warning("%s: still not visible with %d bytes after the upload", remote, size)
                return
            await trio.sleep(delay)
            delay = min(delay * 2, 0.5)

    @_oserror
    async def stat(self, path: str) -> RemoteAttr | None:
        if self._is_reserved(path):
            return None
        if self._list_top is not None and self._p(path) == self.root:
            return RemoteAttr(stat.S_IFDIR, 0, 0, None)
        try:
            async with self.calls:
                attrs = await self.fs.get_attributes(self._p(path))
        except errors.NoSuchPathException:
            return None
        return remote_attr(attrs, self.caps.read_permissions)

    @_oserror
    async def listdir(self, path: str, on_chunk: Callable[[list[tuple[str, RemoteAttr]]], None]
                      | None = None) -> list[tuple[str, RemoteAttr]]:
        if self._list_top is not None and self._p(path) == self.root:
            result = await self._list_top()
            if on_chunk is not None:
                on_chunk(result)
            return result
        perms, reserved = self.caps.read_permissions, self._reserved
        result: list[tuple[str, RemoteAttr]] = []
        seen = 0

        def add(entries: list[PathAttributes]) -> None:
            nonlocal seen
            seen += len(entries)
            start = len(result)
            for a in entries:
                name = a.path.name
                if name != reserved:
                    result.append((name, remote_attr(a, perms)))
            if on_chunk is not None and len(result) > start:
                on_chunk(result[start:])

        async with self.calls:
            entries = await self.fs.list_all(self._p(path), on_batch=add)
        if seen != len(entries):  # retried after an engine restart: reported only at its end
            result.clear()
            add(entries)  # on_chunk sees some names twice; the vfs keeps the first
        return result

    @_oserror
    async def download(self, path: str, local: str, progress: Callable[[int], None]) -> None:
        remote = self._p(path)
        async with self.calls:
            attrs = await self.fs.get_attributes(remote)
        if attrs.size <= SMALL:
            async with self.calls:
                data = await self.fs.read_bytes(remote)
            with open(local, "wb") as f:
                f.write(data)
            progress(len(data))
            return
        if os.path.exists(local):
            # A first attempt wrote part of it (the engine crashed, `_oserror`
            # retries) and a reader may hold it open: the engine's copy would
            # replace it by a new file that reader never sees (it read a short
            # file). Fetched beside it, then written into the same file.
            aside = f"{local}.retry.part"  # a stale one is cleaned as any .part
            try:
                await self._copy_down(remote, aside, lambda done: None)
                await trio.to_thread.run_sync(_overwrite, aside, local, progress,
                                              abandon_on_cancel=False)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(aside)
            return
        await self._copy_down(remote, local, progress)

    async def _copy_down(self, remote: str, local: str, progress: Callable[[int], None]) -> None:
        """The engine copies ``remote`` to the new file ``local`` (replaced if there)."""
        async with self.transfers:
            fs = await self._data_fs()
            await _watched_copy(fs, remote, await self.client.local_fs(), local, progress, 0.05)

    async def _data_fs(self) -> FileSystem:
        """Returns: the file system transfers run on (see `transfers`)."""
        if not self._separate_transfers:
            return self.fs
        if self._transfer_fs is None or self._transfer_fs.closed:
            self._transfer_fs = await self.fs.clone()
        return self._transfer_fs

    @_oserror
    async def upload(self, local: str, path: str, size: int | None,
                     progress: Callable[[int], None] | None = None, growth: Any = None) -> None:
        # The engine's copy reads to the end there is and stops (`growth` unused).
        self._check_name(path)
        if size is None and not self.caps.upload_while_writing:
            raise ValueError(f"{self.fs.adaptor}: no upload of a file still being written")
        if size == 0 and self.caps.needs_size:
            # s3 takes no size-0 upload (0 means "unknown" there); an empty file
            # is what createFile makes, at once.
            await self.create_empty(path)
            return
        local_fs = await self.client.local_fs()
        async with self.transfers:
            fs = await self._data_fs()
            await _watched_copy(local_fs, local, fs, self._p(path), progress, 0.5)
        if self._puts_lag and size is not None:
            await self._await_visible(self._p(path), size)

    @_oserror
    async def copy(self, old: str, new: str) -> None:
        self._check_name(new)
        source, target = self._p(old), self._p(new)
        async with self.calls:
            size = (await self.fs.get_attributes(source)).size
        async with self.transfers:
            fs = await self._data_fs()
            await _watched_copy(fs, source, fs, target, None, 0.5)
        if self._puts_lag:
            await self._await_visible(target, size)

    async def close(self) -> None:
        """Close the transfer connection (the main one belongs to the mount)."""
        if self._transfer_fs is not None:
            await self._transfer_fs.close()

    @_oserror
    async def create_empty(self, path: str, mode: int | None = None,
                           defer: bool = False) -> None:
        self._check_name(path)
        remote = self._p(path)
        async with self.calls:
            try:
                await self.fs.create_file(remote)
            except errors.PathAlreadyExistsException:
                await self.fs.delete(remote)
                await self.fs.create_file(remote)

    @_oserror
    async def mkdir(self, path: str, mode: int | None = None) -> None:
        self._check_name(path)
        async with self.calls:
            await self.fs.create_directory(self._p(path))

    @_oserror
    async def rmdir(self, path: str) -> None:
        remote = self._p(path)
        async with self.calls:
            if not (await self.fs.get_attributes(remote)).is_directory:
                raise errors.InvalidPathException(f"not a directory: {remote}", errno=20)
            await self.fs.delete(remote, recursive=False)
        if self._reserved is not None:
            await self._keep_ancestors(remote)

    async def _keep_ancestors(self, remote: str) -> None:
        """Recreate the s3 directories that vanished with ``remote``'s marker.

        On s3 a directory is whatever has keys under it. Deleting a file puts a
        marker into its directory, but deleting a directory only removes its
        own marker: when that was the last key under the parent, the parent
        (and maybe its parents, up to the mount's root) is gone too, e.g.
        ``mkdir -p d/s; touch d/f; rm d/f; rmdir d/s`` would lose ``d``.
        """
        missing: list[str] = []
        parent = posixpath.dirname(remote)
        while parent != "/":  # the bucket's top level is no directory to keep
            try:
                async with self.calls:
                    await self.fs.get_attributes(parent)
                break
            except errors.NoSuchPathException:
                missing.append(parent)
                parent = posixpath.dirname(parent)
        for path in reversed(missing):
            log.debug("%s vanished with the last key under it: marker put back", path)
            try:
                async with self.calls:
                    await self.fs.create_directory(path)
            except errors.PathAlreadyExistsException:
                pass  # something was put there meanwhile

    @_oserror
    async def unlink(self, path: str) -> None:
        async with self.calls:
            await self.fs.delete(self._p(path))

    @_oserror
    async def rename(self, old: str, new: str) -> None:
        async with self.calls:
            await self.fs.rename(self._p(old), self._p(new))

    @_oserror
    async def symlink(self, path: str, target: str) -> None:
        async with self.calls:
            await self.fs.create_symbolic_link(self._p(path), target)

    @_oserror
    async def readlink(self, path: str) -> str:
        async with self.calls:
            return str(await self.fs.read_symbolic_link(self._p(path)))

    @_oserror
    async def chmod(self, path: str, mode: int) -> None:
        async with self.calls:
            await self.fs.set_posix_file_permissions(self._p(path), mode_to_permissions(mode))
