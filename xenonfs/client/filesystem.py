"""Async file system handle over the engine's FileSystemService."""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, Iterable

import grpc
import trio

from .._proto import xenon_pb2 as pb
from . import rpc
from .connection import Session, Stubs
from .errors import InvalidPathException, XenonException, from_copy_status, from_rpc_error
from .types import (CopyMode, CopyOperation, CopyStatus, Credential, Path, PathAttributes,
                    PathLike, PosixFilePermission, credential_from_pb, to_pb_path)

if TYPE_CHECKING:
    from .client import XenonClient

#: Files up to this size are read with one readFromFile call (one message);
#: larger ones are copied to a local temporary file and streamed from it.
SMALL_READ = 1024 * 1024
CHUNK = 1024 * 1024
#: Longest single wait call: long waits are several calls, so an engine
#: restart or a cancelled task is noticed within this many seconds.
WAIT_SLICE = 30.0


class MappedStream:
    """An engine response stream with each message converted and errors translated."""

    def __init__(self, stream: rpc.ResponseStream, convert: Callable[[Any], Any], name: str) -> None:
        self._stream = stream
        self._convert = convert
        self._name = name

    def __aiter__(self) -> "MappedStream":
        return self

    async def __anext__(self) -> Any:
        try:
            return self._convert(await self._stream.__anext__())
        except grpc.RpcError as exc:
            raise from_rpc_error(exc, self._name) from None

    async def batch(self, gather: float = 0.001) -> list[Any]:
        """Args: gather: see `rpc.ResponseStream.batch`.

        Returns: every converted message that has arrived (at least one).

        Raises:
            StopAsyncIteration: the stream ended; XenonException: it failed.
        """
        try:
            return [self._convert(msg) for msg in await self._stream.batch(gather)]
        except grpc.RpcError as exc:
            raise from_rpc_error(exc, self._name) from None

    async def aclose(self) -> None:
        """Stop the stream."""
        await self._stream.aclose()

    async def __aenter__(self) -> "MappedStream":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class FileSystem:
    """A file system in the engine (sftp, s3, ftp, webdav, file).

    Obtain one from `XenonClient.create_file_system`. It stays valid across
    engine restarts (it is re-created on first use after one).
    """

    def __init__(self, client: "XenonClient", session: Session, adaptor: str, location: str) -> None:
        self._client = client
        self._session = session
        self.adaptor = adaptor
        self.location = location
        self._cwd: str | None = None
        self._create_args: tuple[Any, ...] | None = None
        session.after_recreate.append(self._restore_cwd)

    async def _restore_cwd(self, stubs: Stubs, remote: Any) -> None:
        if self._cwd is not None:
            await rpc.unary(stubs.fs.setWorkingDirectory,
                            pb.PathRequest(filesystem=remote, path=to_pb_path(self._cwd)))

    def __repr__(self) -> str:
        return f"<FileSystem {self.adaptor}:{self.location!r} id={self._session.current_id}>"

    @property
    def closed(self) -> bool:
        """Returns: True after `close`."""
        return self._session.closed

    async def _unary(self, name: str, build: Callable[[Any], Any], *, idempotent: bool = True,
                     timeout: float | None = None) -> Any:
        async def go(stubs: Stubs) -> Any:
            remote = await self._session.remote(stubs)
            return await rpc.unary(getattr(stubs.fs, name), build(remote), timeout)
        return await self._client.connection.call(f"{self.adaptor}.{name}", go,
                                                  idempotent=idempotent)

    async def _unary_on(self, paths: tuple[PathLike, ...], name: str,
                        build: Callable[[Any], Any], *, idempotent: bool = True) -> Any:
        """`_unary` whose errors always name the path(s): some adaptors' messages do not."""
        try:
            return await self._unary(name, build, idempotent=idempotent)
        except XenonException as exc:
            missing = [str(p) for p in paths if str(p) not in exc.engine_message]
            if missing:
                exc.engine_message += ": " + " -> ".join(missing)
            raise

    async def _path_call(self, name: str, path: PathLike, *, idempotent: bool = True) -> Any:
        return await self._unary_on((path,), name, lambda fs: pb.PathRequest(
            filesystem=fs, path=to_pb_path(path)), idempotent=idempotent)

    async def _stream(self, name: str, build: Callable[[Any], Any],
                      convert: Callable[[Any], Any]) -> MappedStream:
        async def go(stubs: Stubs) -> MappedStream:
            remote = await self._session.remote(stubs)
            return MappedStream(rpc.server_stream(getattr(stubs.fs, name), build(remote)),
                                convert, f"{self.adaptor}.{name}")
        return await self._client.connection.call(f"{self.adaptor}.{name}", go)

    async def clone(self) -> "FileSystem":
        """Returns: a second file system with the same settings (its own connection).

        Raises:
            XenonException: it could not be created; RuntimeError for handles
                that were not made by `XenonClient.create_file_system`.
        """
        if self._create_args is None:
            raise RuntimeError(f"{self!r} cannot be cloned")
        return await self._client.create_file_system(*self._create_args)

    async def reconnect(self) -> None:
        """Drop the engine-side file system (its connection is gone) and make a
        new one with the same settings; the old one is closed if possible."""
        stale = self._session._remote
        self._session.invalidate()
        await self.remote_handle()
        if stale is not None:
            async def close_old(stubs: Stubs) -> Any:
                return await rpc.unary(stubs.fs.close, stale)
            try:
                await self._client.connection.call("close", close_old, idempotent=False)
            except XenonException:
                pass

    async def remote_handle(self) -> Any:
        """Returns: the engine's FileSystem message of the current generation."""
        return await self._session.remote(await self._client.connection.stubs())

    # -- information -------------------------------------------------------
    async def get_adaptor_name(self) -> str:
        """Returns: the adaptor name the engine reports."""
        return (await self._unary("getAdaptorName", lambda fs: fs)).name

    async def get_location(self) -> str:
        """Returns: the location the engine reports."""
        return (await self._unary("getLocation", lambda fs: fs)).location

    async def get_credential(self) -> Credential | None:
        """Returns: the credential it was created with (None: the default)."""
        return credential_from_pb(await self._unary("getCredential", lambda fs: fs))

    async def get_properties(self) -> dict[str, str]:
        """Returns: the properties the file system was created with."""
        return dict((await self._unary("getProperties", lambda fs: fs)).properties)

    async def get_path_separator(self) -> str:
        """Returns: the separator ('/')."""
        return (await self._unary("getPathSeparator", lambda fs: fs)).separator

    async def is_open(self) -> bool:
        """Returns: True if the connection of this file system is open."""
        if self.closed:
            return False
        return (await self._unary("isOpen", lambda fs: fs)).value

    async def get_working_directory(self) -> Path:
        """Returns: the working directory relative paths resolve against."""
        return Path((await self._unary("getWorkingDirectory", lambda fs: fs)).path)

    async def set_working_directory(self, path: PathLike) -> None:
        """Args: path: new working directory (must exist). Raises: NoSuchPathException."""
        await self._path_call("setWorkingDirectory", path)
        self._cwd = str(path)

    # -- namespace ---------------------------------------------------------
    async def exists(self, path: PathLike) -> bool:
        """Args: path: any path. Returns: whether it exists."""
        return (await self._path_call("exists", path)).value

    async def get_attributes(self, path: PathLike) -> PathAttributes:
        """Args: path: existing path. Returns: its attributes. Raises: NoSuchPathException."""
        return PathAttributes.from_pb(await self._path_call("getAttributes", path))

    async def list(self, dir: PathLike, recursive: bool = False) -> MappedStream:
        """List a directory as a stream of `PathAttributes`.

        Args:
            dir: the directory.
            recursive: include everything below it.

        Returns:
            An async iterator (use ``async with`` to stop early).
        """
        return await self._stream(
            "list", lambda fs: pb.ListRequest(filesystem=fs, dir=to_pb_path(dir),
                                              recursive=recursive), PathAttributes.from_pb)

    async def list_all(self, dir: PathLike, recursive: bool = False,
                       on_batch: Callable[[list[PathAttributes]], None] | None = None
                       ) -> list[PathAttributes]:
        """Args: dir, recursive: as `list`; on_batch: sees the entries in runs
        as they arrive (see `rpc.server_stream_all`). Returns: all entries."""
        attempts = 0

        async def go(stubs: Stubs) -> list[PathAttributes]:
            nonlocal attempts
            attempts += 1
            request = pb.ListRequest(filesystem=await self._session.remote(stubs),
                                     dir=to_pb_path(dir), recursive=recursive)
            # A retry (after an engine restart) shows nothing to on_batch: it
            # may have seen part of the first attempt; the result is whole.
            return await rpc.server_stream_all(stubs.fs.list, request, PathAttributes.from_pb,
                                               on_batch=on_batch if attempts == 1 else None)
        return await self._client.connection.call(f"{self.adaptor}.list", go)

    async def create_directory(self, path: PathLike) -> None:
        """Args: path: new directory. Raises: PathAlreadyExistsException, NoSuchPathException."""
        await self._path_call("createDirectory", path, idempotent=False)

    async def create_directories(self, path: PathLike) -> None:
        """Args: path: new directory and missing parents. Raises: PathAlreadyExistsException."""
        await self._path_call("createDirectories", path, idempotent=False)

    async def create_file(self, path: PathLike) -> None:
        """Args: path: new empty file. Raises: PathAlreadyExistsException."""
        await self._path_call("createFile", path, idempotent=False)

    async def create_symbolic_link(self, link: PathLike, target: PathLike) -> None:
        """Args: link: the new link; target: what it points at."""
        await self._unary_on((link,), "createSymbolicLink", lambda fs: pb.CreateSymbolicLinkRequest(
            filesystem=fs, link=to_pb_path(link), target=to_pb_path(target)), idempotent=False)

    async def read_symbolic_link(self, path: PathLike) -> Path:
        """Args: path: a link. Returns: its target."""
        return Path((await self._path_call("readSymbolicLink", path)).path)

    async def rename(self, source: PathLike, target: PathLike) -> None:
        """Args: source: existing path; target: non-existing path."""
        await self._unary_on((source, target), "rename", lambda fs: pb.RenameRequest(
            filesystem=fs, source=to_pb_path(source), target=to_pb_path(target)),
            idempotent=False)

    async def delete(self, path: PathLike, recursive: bool = False) -> None:
        """Args: path: what to delete; recursive: also a non-empty directory.

        Raises:
            DirectoryNotEmptyException: a non-empty directory without ``recursive``.
        """
        await self._unary_on((path,), "delete", lambda fs: pb.DeleteRequest(
            filesystem=fs, path=to_pb_path(path), recursive=recursive), idempotent=False)

    async def set_posix_file_permissions(self, path: PathLike,
                                         permissions: Iterable[PosixFilePermission]) -> None:
        """Args: path: any path; permissions: the complete new set."""
        perms = [int(p) for p in permissions]
        await self._unary_on((path,), "setPosixFilePermissions", lambda fs: pb.SetPosixFilePermissionsRequest(
            filesystem=fs, path=to_pb_path(path), permissions=perms))

    # -- data --------------------------------------------------------------
    def read_from_file(self, path: PathLike) -> "FileReader":
        """Stream a file's content with bounded memory, whatever its size.

        Small files come in one engine message; larger ones are copied by the
        engine into a private local temporary file and streamed from it while
        the copy runs (the first bytes arrive before the copy ends).

        Args:
            path: a regular file.

        Returns:
            A `FileReader`: async iterator of bytes chunks, and async context
            manager (leave it to stop early and clean up).
        """
        return FileReader(self, path)

    async def read_bytes(self, path: PathLike) -> bytes:
        """Args: path: a (small) file. Returns: its whole content."""
        async with self.read_from_file(path) as reader:
            return b"".join([chunk async for chunk in reader])

    async def write_to_file(self, path: PathLike, data: Any, size: int | None = None) -> None:
        """Create ``path`` with the given content (it must not exist).

        Args:
            path: the new file.
            data: bytes, an iterable of bytes (may block: it is read in a grpc
                thread) or an async iterable of bytes.
            size: total size, required by adaptors that need it beforehand (s3).

        Raises:
            PathAlreadyExistsException: the file exists.
        """
        async def go(stubs: Stubs) -> Any:
            remote = await self._session.remote(stubs)
            first = pb.WriteToFileRequest(filesystem=remote, path=to_pb_path(path),
                                          size=size or 0)
            return await rpc.stream_unary_from(stubs.fs.writeToFile, first, data,
                                               lambda b: pb.WriteToFileRequest(buffer=b))
        await self._client.connection.call(f"{self.adaptor}.writeToFile", go, idempotent=False)

    async def append_to_file(self, path: PathLike, data: Any) -> None:
        """Append to an existing file (where the adaptor can append).

        Args:
            path: existing file.
            data: as for `write_to_file`.
        """
        async def go(stubs: Stubs) -> Any:
            remote = await self._session.remote(stubs)
            first = pb.AppendToFileRequest(filesystem=remote, path=to_pb_path(path))
            return await rpc.stream_unary_from(stubs.fs.appendToFile, first, data,
                                               lambda b: pb.AppendToFileRequest(buffer=b))
        await self._client.connection.call(f"{self.adaptor}.appendToFile", go, idempotent=False)

    # -- copies ------------------------------------------------------------
    async def copy(self, source: PathLike, destination_filesystem: "FileSystem",
                   destination: PathLike, mode: CopyMode = CopyMode.CREATE,
                   recursive: bool = False) -> CopyOperation:
        """Start an asynchronous copy inside the engine (streams, bounded memory).

        Args:
            source: path on this file system.
            destination_filesystem: target file system (same engine).
            destination: target path.
            mode: what to do if the target exists.
            recursive: copy directories.

        Returns:
            The operation; wait on it with this file system's `wait_until_done`.
        """
        async def go(stubs: Stubs) -> Any:
            remote = await self._session.remote(stubs)
            dest = await destination_filesystem._session.remote(stubs)
            return await rpc.unary(stubs.fs.copy, pb.CopyRequest(
                filesystem=remote, source=to_pb_path(source), destination_filesystem=dest,
                destination=to_pb_path(destination), mode=int(mode), recursive=recursive))
        op = await self._client.connection.call(f"{self.adaptor}.copy", go, idempotent=False)
        return CopyOperation(op.id)

    async def get_status(self, copy_operation: CopyOperation) -> CopyStatus:
        """Args: copy_operation: from `copy`. Returns: its status."""
        return CopyStatus.from_pb(await self._unary("getStatus", lambda fs: pb.CopyOperationRequest(
            filesystem=fs, copy_operation=pb.CopyOperation(id=copy_operation.id))))

    async def cancel(self, copy_operation: CopyOperation) -> CopyStatus:
        """Args: copy_operation: from `copy`. Returns: its status after cancelling."""
        return CopyStatus.from_pb(await self._unary("cancel", lambda fs: pb.CopyOperationRequest(
            filesystem=fs, copy_operation=pb.CopyOperation(id=copy_operation.id))))

    async def wait_until_done(self, copy_operation: CopyOperation,
                              timeout: float | None = None) -> CopyStatus:
        """Wait for a copy.

        Args:
            copy_operation: from `copy`.
            timeout: seconds; None waits until done.

        Returns:
            The status (not done if the timeout passed). A failed copy is
            reported in the status, not raised; see `copy_and_wait`.
        """
        # The engine treats 0 as "do not wait" for copies: wait in slices.
        deadline = None if timeout is None else trio.current_time() + timeout
        while True:
            left = WAIT_SLICE if deadline is None else min(WAIT_SLICE, deadline - trio.current_time())
            ms = max(1, int(left * 1000))
            status = CopyStatus.from_pb(await self._unary(
                "waitUntilDone", lambda fs: pb.WaitUntilDoneRequest(
                    filesystem=fs, copy_operation=pb.CopyOperation(id=copy_operation.id),
                    timeout=ms)))
            if status.done or (deadline is not None and trio.current_time() >= deadline):
                return status

    async def copy_and_wait(self, source: PathLike, destination_filesystem: "FileSystem",
                            destination: PathLike, mode: CopyMode = CopyMode.CREATE,
                            recursive: bool = False,
                            progress: Callable[[CopyStatus], None] | None = None,
                            interval: float = 0.5) -> CopyStatus:
        """Copy and wait, reporting progress; raise if the copy failed.

        Args:
            source, destination_filesystem, destination, mode, recursive: as `copy`.
            progress: called with each status (about every ``interval`` s).
            interval: seconds between progress reports.

        Returns:
            The final status.

        Raises:
            XenonException: the copy failed (class from its error type).
        """
        op = await self.copy(source, destination_filesystem, destination, mode, recursive)
        try:
            while True:
                status = await self.wait_until_done(op, interval)
                if progress is not None:
                    progress(status)
                if status.done:
                    break
        except BaseException:
            with trio.CancelScope(shield=True):
                try:
                    await self.cancel(op)
                except XenonException:
                    pass
            raise
        if status.has_error:
            raise from_copy_status(int(status.error_type), status.error_message,
                                   f"{self.adaptor}.copy {source}")
        return status

    async def close(self) -> None:
        """Close the file system; later use raises FileSystemClosedException."""
        if self.closed:
            return
        try:
            await self._unary("close", lambda fs: fs, idempotent=False)
        finally:
            self._session.mark_closed()
            self._client._forget(self)

    async def __aenter__(self) -> "FileSystem":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class FileReader:
    """Content of one file as an async iterator of chunks (see `FileSystem.read_from_file`)."""

    def __init__(self, fs: FileSystem, path: PathLike, chunk: int = CHUNK) -> None:
        self._fs = fs
        self._path = path
        self._chunk = chunk
        self._gen: AsyncIterator[bytes] | None = None
        self._tmpdir: str | None = None
        self._op: CopyOperation | None = None
        self.via_copy = False

    def __aiter__(self) -> "FileReader":
        return self

    async def __anext__(self) -> bytes:
        if self._gen is None:
            self._gen = self._produce()
        return await self._gen.__anext__()

    async def __aenter__(self) -> "FileReader":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop reading: cancel a running copy and remove the temporary file."""
        if self._gen is not None:
            await self._gen.aclose()  # type: ignore[attr-defined]
            self._gen = None
        await self._cleanup()

    async def _cleanup(self) -> None:
        with trio.CancelScope(shield=True):
            if self._op is not None:
                op, self._op = self._op, None
                try:
                    await self._fs.cancel(op)
                except XenonException:
                    pass
            if self._tmpdir is not None:
                shutil.rmtree(self._tmpdir, ignore_errors=True)
                self._tmpdir = None

    async def _produce(self) -> AsyncIterator[bytes]:
        attrs = await self._fs.get_attributes(self._path)
        if attrs.is_directory:
            raise InvalidPathException(f"Path is not a file: {self._path}",
                                       method=f"{self._fs.adaptor}.read_from_file", errno=21)
        if attrs.size <= SMALL_READ:
            stream = await self._fs._stream(
                "readFromFile", lambda fs: pb.PathRequest(filesystem=fs,
                                                          path=to_pb_path(self._path)),
                lambda msg: msg.buffer)
            chunks: list[bytes] = []
            try:
                async with stream:
                    async for buf in stream:
                        chunks.append(buf)
            except XenonException as exc:
                # Grew past the message limit since the stat: use the copy path.
                if exc.code != "RESOURCE_EXHAUSTED":
                    raise
            else:
                for buf in chunks:
                    if buf:
                        yield buf
                return
        self.via_copy = True
        async for buf in self._via_copy():
            yield buf

    async def _via_copy(self) -> AsyncIterator[bytes]:
        local = await self._fs._client.local_fs()
        self._tmpdir = tempfile.mkdtemp(prefix="xenonfs-read-")  # 0700
        target = os.path.join(self._tmpdir, "data")
        try:
            self._op = await self._fs.copy(self._path, local, target, CopyMode.CREATE)
            done = False
            f = None
            try:
                while True:
                    if f is None and os.path.exists(target):
                        f = await trio.open_file(target, "rb")
                    data = await f.read(self._chunk) if f is not None else b""
                    if data:
                        yield data
                        continue
                    if done:
                        break
                    status = await self._fs.wait_until_done(self._op, 0.05)
                    if status.done:
                        self._op = None
                        if status.has_error:
                            raise from_copy_status(int(status.error_type), status.error_message,
                                                   f"{self._fs.adaptor}.read_from_file")
                        done = True
                        if f is None:
                            f = await trio.open_file(target, "rb")
            finally:
                if f is not None:
                    await f.aclose()
        finally:
            await self._cleanup()
