"""The control socket: gRPC (proto/xenonfs.proto) behind a peer-uid guard.

grpcio cannot tell a servicer who is on the other end of a UNIX socket, so
grpc listens on a socket inside a private directory and the public socket
is served by a small guard: it accepts a connection, checks SO_PEERCRED
(the peer's uid must be ours), and only then relays bytes to grpc. Both
sockets are 0600 inside 0700 directories; the uid check also turns away
root and anything that got hold of the path some other way.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
from concurrent import futures
from pathlib import Path
from typing import Any, Awaitable, Callable

import grpc
import trio

from .._proto import xenonfs_pb2 as pb
from .._proto import xenonfs_pb2_grpc as pbg
from .. import paths

log = logging.getLogger("xenonfs.daemon")

PROTOCOL_VERSION = 1


def socket_path() -> Path:
    """Returns: the public control socket of this user's daemon."""
    return paths.runtime_dir() / "control.sock"


def peer_uid(sock: socket.socket) -> tuple[int, int]:
    """Args: sock: a connected UNIX socket. Returns: (pid, uid) of the peer."""
    data = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, _gid = struct.unpack("3i", data)
    return pid, uid


class ControlError(Exception):
    """A request the daemon refuses; ``code`` is the gRPC status to answer with."""

    def __init__(self, message: str, code: grpc.StatusCode = grpc.StatusCode.FAILED_PRECONDITION):
        super().__init__(message)
        self.code = code


class _Servicer(pbg.ControlServicer):
    """Runs each call in trio (the daemon's thread) and maps errors once."""

    def __init__(self, handlers: Any, token: trio.lowlevel.TrioToken) -> None:
        self._handlers = handlers
        self._token = token

    def _run(self, fn: Callable[..., Awaitable[Any]], request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return trio.from_thread.run(fn, request, trio_token=self._token)
        except ControlError as exc:
            context.abort(exc.code, str(exc))
        except trio.RunFinishedError:
            context.abort(grpc.StatusCode.UNAVAILABLE, "the daemon is stopping")

    def Version(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._run(self._handlers.version, request, context)

    def Mount(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._run(self._handlers.mount, request, context)

    def Unmount(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._run(self._handlers.unmount, request, context)

    def ListMounts(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._run(self._handlers.list_mounts, request, context)

    def Transfers(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._run(self._handlers.transfers, request, context)

    def Forget(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._run(self._handlers.forget, request, context)

    def Flush(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._run(self._handlers.flush, request, context)

    def ListJobs(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._run(self._handlers.list_jobs, request, context)

    def SubmitJob(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._run(self._handlers.submit_job, request, context)

    def CancelJob(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._run(self._handlers.cancel_job, request, context)

    def EngineStatus(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._run(self._handlers.engine_status, request, context)

    def Stop(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._run(self._handlers.stop, request, context)


async def _relay(source: trio.SocketStream, sink: trio.SocketStream) -> None:
    try:
        while data := await source.receive_some(65536):
            await sink.send_all(data)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    finally:
        try:
            await sink.send_eof()
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass


async def serve(handlers: Any, public: Path | None = None, *,
                task_status: trio.TaskStatus[Path] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve the control protocol until cancelled.

    Args:
        handlers: object with async methods named like the calls (``version``,
            ``mount``, ...), each taking the request message.
        public: the public socket path (default `socket_path`).

    Returns via task_status: the public socket path, once it accepts.
    """
    public = public or socket_path()
    inner_dir = paths.private_dir(public.parent / f"grpc-{os.getpid()}")
    inner = inner_dir / "control.sock"
    inner.unlink(missing_ok=True)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="control"))
    pbg.add_ControlServicer_to_server(_Servicer(handlers, trio.lowlevel.current_trio_token()),
                                      server)
    server.add_insecure_port(f"unix:{inner}")
    server.start()
    os.chmod(inner, 0o600)
    listener = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    public.unlink(missing_ok=True)
    old_umask = os.umask(0o177)  # the socket is born 0600, no window at 0755
    try:
        await listener.bind(str(public))
    finally:
        os.umask(old_umask)
    listener.listen(64)
    try:
        async with trio.open_nursery() as nursery:
            task_status.started(public)
            while True:
                conn, _ = await listener.accept()
                pid, uid = peer_uid(conn)  # type: ignore[arg-type]
                if uid != os.getuid():
                    log.warning("refused a control connection from uid %d (pid %d): only uid %d "
                                "may use this daemon", uid, pid, os.getuid())
                    conn.close()
                    continue
                nursery.start_soon(_pipe_to_grpc, conn, inner, name=f"control peer {pid}")
    finally:
        listener.close()
        public.unlink(missing_ok=True)
        server.stop(grace=1)
        inner.unlink(missing_ok=True)
        try:
            inner_dir.rmdir()
        except OSError:
            pass


async def _pipe_to_grpc(conn: trio.socket.SocketType, inner: Path) -> None:
    client = trio.SocketStream(conn)
    try:
        upstream = await trio.open_unix_socket(str(inner))
    except OSError as exc:
        log.error("control: cannot reach the grpc server: %s", exc)
        await client.aclose()
        return
    async with client, upstream:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_relay, client, upstream)
            nursery.start_soon(_relay, upstream, client)


def reply_version(xenonfs_version: str) -> Any:
    """Returns: the Version reply of this daemon."""
    return pb.VersionReply(protocol=PROTOCOL_VERSION, xenonfs=xenonfs_version, pid=os.getpid())
