"""The CLI's side of the control socket (plain blocking gRPC: the CLI is short-lived)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import grpc

from .. import paths
from .._proto import xenonfs_pb2 as pb
from .._proto import xenonfs_pb2_grpc as pbg
from .control import PROTOCOL_VERSION, socket_path

#: Seconds to wait for a daemon started in the background to answer.
START_WAIT = 90.0


class DaemonUnavailable(Exception):
    """No daemon answers (or it speaks another protocol version)."""


class ControlClient:
    """Calls to a running daemon.

    Args:
        path: its control socket.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or socket_path()
        self.channel = grpc.insecure_channel(f"unix:{self.path}")
        self.stub = pbg.ControlStub(self.channel)

    def version(self, timeout: float = 5.0) -> Any:
        """Returns: the daemon's Version reply. Raises: DaemonUnavailable."""
        try:
            reply = self.stub.Version(pb.Empty(), timeout=timeout)
        except grpc.RpcError as exc:
            raise DaemonUnavailable(self._why_not(exc, timeout)) from None
        if reply.protocol != PROTOCOL_VERSION:
            raise DaemonUnavailable(f"the daemon (pid {reply.pid}, xenonfs {reply.xenonfs}) speaks "
                                    f"control protocol {reply.protocol}, this command "
                                    f"{PROTOCOL_VERSION}: restart it with `xenonfs stop`")
        return reply

    def _why_not(self, exc: grpc.RpcError, timeout: float) -> str:
        """Returns: one line saying why no daemon answered (gRPC's own text is
        three lines of transport detail)."""
        start = ("start one with `xenonfs daemon`, `systemctl --user start xenonfs` "
                 "or any `xenonfs mount`")
        if exc.code() is grpc.StatusCode.DEADLINE_EXCEEDED:
            return (f"the xenonfs daemon on {self.path} did not answer within {timeout:.0f} s "
                    "(busy or hung; its log says more)")
        if not self.path.exists():
            return f"no xenonfs daemon is running ({start})"
        return f"no xenonfs daemon is running ({self.path} is left from one that ended; {start})"

    def call(self, name: str, request: Any, timeout: float | None = None) -> Any:
        """Make one call.

        Returns:
            The reply.

        Raises:
            grpc.RpcError: the daemon refused (``details()`` says why).
        """
        return getattr(self.stub, name)(request, timeout=timeout)

    def close(self) -> None:
        """Close the channel."""
        self.channel.close()


def connect(start: bool = False, verbose: int = 0,
            progress: Callable[[str], None] | None = None,
            drop_env: tuple[str, ...] = ()) -> ControlClient:
    """Connect to this user's daemon, starting one in the background if asked.

    Args:
        start: start a daemon when none answers.
        verbose: -v count for a daemon started here.
        progress: told what is going on while a daemon starts.
        drop_env: variables a daemon started here must not inherit (secrets).

    Returns:
        A client whose daemon answered `version`.

    Raises:
        DaemonUnavailable: none answers (and none could be started).
    """
    client = ControlClient()
    try:
        client.version()
        return client
    except DaemonUnavailable:
        if not start:
            raise
    log_path = paths.runtime_dir() / "daemon.log"
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        proc = subprocess.Popen([sys.executable, "-m", "xenonfs.cli", *(["-v"] * verbose),
                                 "daemon"], stdin=subprocess.DEVNULL, stdout=fd, stderr=fd,
                                start_new_session=True,
                                env={k: v for k, v in os.environ.items() if k not in drop_env})
    finally:
        os.close(fd)
    if progress:
        progress(f"started a xenonfs daemon (pid {proc.pid}); log: {log_path}")
    deadline = time.monotonic() + START_WAIT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
            raise DaemonUnavailable(f"the daemon exited (code {proc.returncode}): "
                                    + " / ".join(tail))
        try:
            client.version(timeout=1.0)
            return client
        except DaemonUnavailable:
            time.sleep(0.2)
    raise DaemonUnavailable(f"the daemon did not answer within {START_WAIT:.0f} s; see {log_path}")
