"""The async client: the entry point to file systems and schedulers."""

from __future__ import annotations

import contextlib
import os
from typing import Any, AsyncIterator, Mapping

import trio

from .._proto import xenon_pb2 as pb
from ..engine.process import Engine, EngineSettings
from . import rpc
from .connection import Connection, Session, Stubs
from .errors import FileSystemClosedException, SchedulerClosedException
from .filesystem import FileSystem
from .scheduler import Scheduler
from .types import (Credential, FileSystemAdaptorDescription, SchedulerAdaptorDescription,
                    apply_credential)


class XenonClient:
    """Talks to one engine. Create it with `open_client` (which also runs the engine).

    Args:
        connection: the engine connection.
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._local_fs: FileSystem | None = None
        self._local_fs_lock = trio.Lock()
        self._open: set[FileSystem | Scheduler] = set()

    @property
    def engine(self) -> Engine:
        """Returns: the supervised engine."""
        return self.connection.engine

    def _forget(self, handle: FileSystem | Scheduler) -> None:
        self._open.discard(handle)

    async def _static(self, service: str, method: str, request: Any) -> Any:
        async def go(stubs: Stubs) -> Any:
            return await rpc.unary(getattr(getattr(stubs, service), method), request)
        return await self.connection.call(method, go)

    # -- file systems --------------------------------------------------------
    async def get_file_system_adaptor_names(self) -> list[str]:
        """Returns: names of the file system adaptors."""
        return list((await self._static("fs", "getAdaptorNames", pb.Empty())).name)

    async def get_file_system_adaptor_description(self, name: str) -> FileSystemAdaptorDescription:
        """Args: name: adaptor. Returns: its description. Raises: UnknownAdaptorException."""
        return FileSystemAdaptorDescription.from_pb(
            await self._static("fs", "getAdaptorDescription", pb.AdaptorName(name=name)))

    async def get_file_system_adaptor_descriptions(self) -> list[FileSystemAdaptorDescription]:
        """Returns: descriptions of all file system adaptors."""
        msg = await self._static("fs", "getAdaptorDescriptions", pb.Empty())
        return [FileSystemAdaptorDescription.from_pb(d) for d in msg.descriptions]

    async def create_file_system(self, adaptor: str, location: str = "",
                                 properties: Mapping[str, str] | None = None,
                                 credential: Credential | None = None) -> FileSystem:
        """Connect a file system.

        Args:
            adaptor: "file", "sftp", "ftp", "webdav" or "s3".
            location: adaptor-specific (``host:port``, ``http://host/path``, ...).
            properties: ``xenon.adaptors.filesystems.*`` settings.
            credential: a credential, or None for the adaptor's default.

        Returns:
            The file system.

        Raises:
            XenonException: e.g. UnknownAdaptorException, InvalidCredentialException.
        """
        request = pb.CreateFileSystemRequest(adaptor=adaptor, location=location,
                                             properties=dict(properties or {}))
        apply_credential(request, credential)

        async def create(stubs: Stubs) -> Any:
            return await rpc.unary(stubs.fs.create, request)
        session = Session("filesystem", create, FileSystemClosedException)
        await self.connection.call(f"{adaptor}.create",
                                   lambda stubs: session.remote(stubs), idempotent=False)
        fs = FileSystem(self, session, adaptor, location)
        fs._create_args = (adaptor, location, dict(properties or {}), credential)
        self._open.add(fs)
        return fs

    async def local_file_systems(self) -> list[FileSystem]:
        """Returns: a `file` file system per local drive (one, "/", on Linux)."""
        msg = await self._static("fs", "localFileSystems", pb.Empty())
        result = []
        for index, _ in enumerate(msg.filesystems):
            async def create(stubs: Stubs, index: int = index) -> Any:
                return (await rpc.unary(stubs.fs.localFileSystems, pb.Empty())).filesystems[index]
            fs = FileSystem(self, Session("filesystem", create, FileSystemClosedException),
                            "file", "/")
            self._open.add(fs)
            result.append(fs)
        return result

    async def list_file_systems(self) -> list[str]:
        """Returns: engine-side ids of every open file system (for diagnostics)."""
        return [f.id for f in (await self._static("fs", "listFileSystems", pb.Empty())).filesystems]

    async def local_fs(self) -> FileSystem:
        """Returns: the client's own `file` file system at "/" (the local end of copies)."""
        async with self._local_fs_lock:
            if self._local_fs is None or self._local_fs.closed:
                self._local_fs = await self.create_file_system("file", "/")
            return self._local_fs

    # -- schedulers ----------------------------------------------------------
    async def get_scheduler_adaptor_names(self) -> list[str]:
        """Returns: names of the scheduler adaptors."""
        return list((await self._static("sched", "getAdaptorNames", pb.Empty())).name)

    async def get_scheduler_adaptor_description(self, name: str) -> SchedulerAdaptorDescription:
        """Args: name: adaptor. Returns: its description."""
        return SchedulerAdaptorDescription.from_pb(
            await self._static("sched", "getAdaptorDescription", pb.AdaptorName(name=name)))

    async def get_scheduler_adaptor_descriptions(self) -> list[SchedulerAdaptorDescription]:
        """Returns: descriptions of all scheduler adaptors."""
        msg = await self._static("sched", "getAdaptorDescriptions", pb.Empty())
        return [SchedulerAdaptorDescription.from_pb(d) for d in msg.descriptions]

    async def create_scheduler(self, adaptor: str, location: str = "",
                               properties: Mapping[str, str] | None = None,
                               credential: Credential | None = None) -> Scheduler:
        """Connect a scheduler.

        Args:
            adaptor: "local", "ssh", "at", "slurm", "gridengine" or "torque".
            location: adaptor-specific ("", ``host:port``, ``ssh://host``, ...).
            properties: ``xenon.adaptors.schedulers.*`` settings.
            credential: a credential, or None for the default.

        Returns:
            The scheduler.
        """
        request = pb.CreateSchedulerRequest(adaptor=adaptor, location=location,
                                            properties=dict(properties or {}))
        apply_credential(request, credential)

        async def create(stubs: Stubs) -> Any:
            return await rpc.unary(stubs.sched.create, request)
        session = Session("scheduler", create, SchedulerClosedException)
        await self.connection.call(f"{adaptor}.create",
                                   lambda stubs: session.remote(stubs), idempotent=False)
        sched = Scheduler(self, session, adaptor, location)
        self._open.add(sched)
        return sched

    async def local_scheduler(self) -> Scheduler:
        """Returns: the engine's local scheduler (default location and properties)."""
        async def create(stubs: Stubs) -> Any:
            return await rpc.unary(stubs.sched.localScheduler, pb.Empty())
        session = Session("scheduler", create, SchedulerClosedException)
        await self.connection.call("localScheduler", lambda stubs: session.remote(stubs))
        sched = Scheduler(self, session, "local", "")
        self._open.add(sched)
        return sched

    def attach_scheduler(self, engine_id: str, adaptor: str) -> Scheduler:
        """Args: engine_id: a scheduler open in the engine (`list_schedulers`),
        e.g. one a killed mount worker made; adaptor: its adaptor.

        Returns: a handle on it. It is not made again after an engine restart
        (its jobs, kept in that engine's memory, are gone): then it is closed.
        """
        made: list[bool] = []

        async def create(stubs: Stubs) -> Any:
            if made:
                raise SchedulerClosedException(f"scheduler {engine_id} ended with its engine run")
            made.append(True)
            return pb.Scheduler(id=engine_id)
        sched = Scheduler(self, Session("scheduler", create, SchedulerClosedException),
                          adaptor, engine_id)
        self._open.add(sched)
        return sched

    async def list_schedulers(self) -> list[str]:
        """Returns: engine-side ids of every open scheduler (see `attach_scheduler`)."""
        return [s.id for s in (await self._static("sched", "listSchedulers", pb.Empty())).schedulers]

    async def _scheduler_file_system(self, sched: Scheduler) -> FileSystem:
        async def create(stubs: Stubs) -> Any:
            remote = await sched._session.remote(stubs)
            return await rpc.unary(stubs.sched.getFileSystem, remote)
        session = Session("filesystem", create, FileSystemClosedException)
        await self.connection.call("getFileSystem", lambda stubs: session.remote(stubs))
        return FileSystem(self, session, "(scheduler)", sched.location)

    async def close_all(self) -> None:
        """Close every file system and scheduler this client opened."""
        for handle in list(self._open):
            with contextlib.suppress(Exception):
                await handle.close()


@contextlib.asynccontextmanager
async def open_client(settings: EngineSettings | None = None,
                      restart_wait: float = 60.0) -> AsyncIterator[XenonClient]:
    """Start an engine and yield a client for it; stop both on exit.

    Args:
        settings: engine settings (java, jar, heap, ...).
        restart_wait: seconds calls wait for a crashed engine to come back.

    Yields:
        The client, once the engine is ready.

    Raises:
        EngineNotFound: no java or jar.
        EngineError: the engine did not start.
    """
    engine = Engine(settings or EngineSettings(cwd=os.getcwd()))
    async with trio.open_nursery() as nursery:
        await nursery.start(engine.run)
        connection = Connection(engine, restart_wait)
        client = XenonClient(connection)
        try:
            yield client
        finally:
            with trio.CancelScope(shield=True):
                with trio.move_on_after(10):
                    await client.close_all()
                connection.close()
                engine.stop()
