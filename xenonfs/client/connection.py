"""One mutually-authenticated channel to the engine, kept valid across restarts.

Handles given out to callers (`Session`) stay valid when the engine JVM is
restarted: each remembers how it was created and is re-created lazily on the
first call after a restart (a new engine generation). Calls that are safe to
repeat are retried once the engine is back; the rest fail with
EngineUnavailableException, because repeating a rename or a job submission
could do it twice.
"""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable

import grpc
import grpc.experimental  # ChannelOptions (the single-threaded stream option below)
import trio

from .._proto import xenon_pb2_grpc as pbg
from ..engine.process import Endpoint, Engine, EngineError, EngineState
from .errors import (EngineUnavailableException, NoSuchCopyException, XenonException,
                     from_rpc_error)

log = logging.getLogger("xenonfs.client")

#: Largest message accepted from the engine. readFromFile answers with the
#: whole file in one message; anything bigger than this fails and the client
#: falls back to copy, so memory stays bounded.
MAX_MESSAGE = 64 * 1024 * 1024


class Stubs:
    """The two service stubs of one engine generation."""

    def __init__(self, endpoint: Endpoint) -> None:
        ca, key, cert = endpoint.tls.client_credentials()
        creds = grpc.ssl_channel_credentials(root_certificates=ca, private_key=key,
                                             certificate_chain=cert)
        self.generation = endpoint.generation
        self.channel = grpc.secure_channel(endpoint.address, creds, options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE),
            ("grpc.max_send_message_length", MAX_MESSAGE),
            # Server-streaming calls (list, readFromFile) are read on the
            # caller's thread instead of through the channel's spin thread:
            # a 10,000-entry sftp list took 0.41-0.64 s and 0.24-0.43 s of
            # our CPU with the spin thread, 0.18-0.24 s and 0.06 s without.
            (grpc.experimental.ChannelOptions.SingleThreadedUnaryStream, 1),
        ])
        self.fs = pbg.FileSystemServiceStub(self.channel)
        self.sched = pbg.SchedulerServiceStub(self.channel)


class Session:
    """A file system or scheduler handle that outlives engine restarts.

    Args:
        kind: "filesystem" or "scheduler" (for messages).
        create: makes the engine-side handle on the given stubs.
        closed_error: raised when used after `mark_closed`.
    """

    def __init__(self, kind: str, create: Callable[[Stubs], Awaitable[Any]],
                 closed_error: type[XenonException]) -> None:
        self.kind = kind
        self._create = create
        self._closed_error = closed_error
        self._remote: Any = None
        self._generation = -1
        self._lock = trio.Lock()
        self.closed = False
        self.after_recreate: list[Callable[[Stubs, Any], Awaitable[None]]] = []

    async def remote(self, stubs: Stubs) -> Any:
        """Args: stubs: current stubs. Returns: the engine-side handle message.

        Raises:
            XenonException: closed, or re-creation failed.
        """
        if self.closed:
            raise self._closed_error(f"{self.kind} is closed")
        if self._generation == stubs.generation:
            return self._remote
        async with self._lock:
            if self._generation != stubs.generation:
                first = self._remote is None
                try:
                    remote = await self._create(stubs)
                except grpc.RpcError as exc:
                    raise from_rpc_error(exc, f"{self.kind}.create") from None
                if not first:
                    log.info("re-created %s (engine restart or lost connection)", self.kind)
                    for hook in self.after_recreate:
                        await hook(stubs, remote)
                self._remote, self._generation = remote, stubs.generation
        return self._remote

    def invalidate(self) -> None:
        """Re-create the engine-side handle on next use (its connection broke)."""
        self._generation = -1

    def mark_closed(self) -> None:
        """Make later use raise the closed error."""
        self.closed = True

    @property
    def current_id(self) -> str | None:
        """Returns: the engine-side id of the current generation (for display)."""
        return getattr(self._remote, "id", None)


class Connection:
    """Engine calls with error translation and restart handling.

    Args:
        engine: a running (or about to run) `Engine`.
        restart_wait: seconds to wait for a restarted engine before giving up.
    """

    def __init__(self, engine: Engine, restart_wait: float = 60.0) -> None:
        self.engine = engine
        self.restart_wait = restart_wait
        self._stubs: Stubs | None = None

    async def stubs(self) -> Stubs:
        """Returns: stubs for the ready engine generation.

        Raises:
            EngineUnavailableException: the engine is not coming back.
        """
        try:
            endpoint = await self.engine.wait_ready(self.restart_wait)
        except EngineError as exc:
            raise EngineUnavailableException(str(exc)) from None
        if self._stubs is None or self._stubs.generation != endpoint.generation:
            if self._stubs is not None:
                self._stubs.channel.close()
            self._stubs = Stubs(endpoint)
        return self._stubs

    def close(self) -> None:
        """Close the channel."""
        if self._stubs is not None:
            self._stubs.channel.close()
            self._stubs = None

    async def call(self, name: str, fn: Callable[[Stubs], Awaitable[Any]], *,
                   idempotent: bool = True) -> Any:
        """Run ``fn(stubs)`` (which makes one engine call) with the error table.

        Args:
            name: operation name for error messages.
            fn: does the call; resolves session handles via ``stubs``.
            idempotent: retry once after an engine restart.

        Returns:
            What ``fn`` returns.

        Raises:
            XenonException: the translated engine error.
        """
        attempts = 2 if idempotent else 1
        for attempt in range(attempts):
            stubs = await self.stubs()
            try:
                return await fn(stubs)
            except grpc.RpcError as exc:
                error = from_rpc_error(exc, name)
            if isinstance(error, NoSuchCopyException):
                # We only ask about copies we started: one the engine does not
                # know ran in an engine that crashed (this call, or an earlier
                # one of the same copy, reached its successor). Not "no such
                # file" (ENOENT for a file that exists): the engine went away,
                # EIO, and the caller may start the transfer over.
                raise EngineUnavailableException(
                    f"the engine restarted during the copy ({error.engine_message})",
                    method=name, code=error.code)
            if isinstance(error, EngineUnavailableException) and attempt + 1 < attempts:
                log.warning("%s: engine unavailable, retrying after restart", name)
                await self._wait_generation_change(stubs.generation)
                continue
            if isinstance(error, EngineUnavailableException) and not idempotent:
                error = EngineUnavailableException(
                    f"engine became unavailable during {name}; it may or may not have "
                    "taken effect", method=name, code=error.code)
            raise error
        raise AssertionError("unreachable")  # pragma: no cover

    async def _wait_generation_change(self, generation: int) -> None:
        engine = self.engine
        with trio.move_on_after(self.restart_wait):
            while engine.generation == generation and \
                    engine.state not in (EngineState.FAILED, EngineState.STOPPED):
                if engine.state is EngineState.READY and engine.alive():
                    # The JVM runs: a passing refusal, not a crash. Pause briefly.
                    await trio.sleep(0.2)
                    return
                await engine.wait_changed()
