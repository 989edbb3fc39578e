"""The daemon's side of a mount worker process (see `worker`)."""

from __future__ import annotations

import collections
import contextlib
import itertools
import re
import signal
import logging
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterable

import trio

from ..engine.process import Engine
from ..engine.shared import describe
from ..logs import log_location
from .mountinfo import DeadMountError, is_xenonfs_mount, recover_dead_mount
from .pipe import Pipe, PipeClosed

log = logging.getLogger("xenonfs.daemon")

#: How our own log records start on stderr ("2026-12-02 04:41:55,616 name LEVEL: ...").
_LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ ")

#: Seconds a worker may take to exit after it reported being unmounted.
EXIT_GRACE = 30.0
#: A dead worker is started again after RESTART_DELAY s, doubled for each
#: death in a row up to RESTART_DELAY_MAX; a worker that served this long
#: starts the row over.
RESTART_DELAY = 0.5
RESTART_DELAY_MAX = 30.0
RESTART_STABLE = 60.0


def _last_words(lines: Iterable[str]) -> str | None:
    """Returns: the line of a dying process's output that says why: Python's
    "Fatal Python error: ..." (faulthandler), else the last line that is not
    part of a stack dump (a traceback's exception line, libfuse's words)."""
    lines = [line.strip() for line in lines]
    fatal = [line for line in lines if line.startswith("Fatal Python error")]
    if fatal:
        return fatal[-1]
    stack = ("Traceback", "File ", "Extension modules", "Thread 0x", "Current thread 0x",
             "<no Python frame>")
    rest = [line for line in lines if line and not line.startswith(stack)]
    return rest[-1] if rest else None


def restart_delay(in_row: int) -> float:
    """Args: in_row: deaths in a row (>= 1). Returns: seconds before the next start."""
    return min(RESTART_DELAY * 2 ** (in_row - 1), RESTART_DELAY_MAX)


class MountFailed(Exception):
    """A mount could not be made (the message says why)."""


class UnmountRefused(MountFailed):
    """The worker refused to unmount: the mount is busy (the message names who)."""


class MountWorker:
    """One mount, served by its own worker process.

    Args:
        name: the mount's name (config name, or derived from the mountpoint).
        source: the source URL as given.
        mountpoint: absolute mountpoint.
        options: the parsed mount options as a dict (`main.options_dict`).
        secret: resolved password (sent to the worker over the pipe only).
        scheduler: scheduler URL for jobs, if any.
        from_config: made from the config file (SIGHUP may remove it).
    """

    def __init__(self, name: str, source: str, mountpoint: Path, options: dict[str, Any],
                 secret: str | None, scheduler: str | None, from_config: bool) -> None:
        self.name = name
        self.source = source
        self.mountpoint = mountpoint
        self.options = options
        self._secret = secret
        self.scheduler = scheduler
        self.from_config = from_config
        #: What the config said (to see whether a reload changed this mount).
        self.config_key = ""
        self.state = "starting"
        self.errors: list[str] = []
        #: The last error as said (no timestamp), for messages.
        self.last_error = ""
        #: The worker's last lines on stderr that were not our log records.
        # Enough for a faulthandler dump of every thread (its first line says why).
        self._output: collections.deque[str] = collections.deque(maxlen=400)
        self._stderr_closed = trio.Event()
        self.pid: int | None = None
        self.still_dirty: list[str] = []
        self._pipe: Pipe | None = None
        self._ids = itertools.count(1)
        self._waiting: dict[int, tuple[trio.Event, list[dict[str, Any]]]] = {}
        self._done = trio.Event()
        #: Times its worker died after mounting and was started again.
        self.restarts = 0
        #: False once an unmount was asked for: a worker that ends then is not restarted.
        self.wanted = True
        #: trio time the current worker reported mounted (None: not mounted yet).
        self.mounted_at: float | None = None

    def _error(self, message: str) -> None:
        """Record what went wrong: `last_error` as said, `errors` (for status) timestamped."""
        self.last_error = message
        self.errors = (self.errors + [f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}"])[-20:]

    async def _pump_stderr(self, stream: trio.abc.ReceiveStream) -> None:
        """Pass the worker's stderr on to ours (the daemon's log) and keep its
        last lines that are not our own log records: what libfuse, Python's
        faulthandler or a traceback said before a crash."""
        try:
            await self._read_stderr(stream)
        finally:
            self._stderr_closed.set()

    async def _read_stderr(self, stream: trio.abc.ReceiveStream) -> None:
        buffered = b""
        async for data in stream:
            sys.stderr.buffer.write(data)
            sys.stderr.buffer.flush()
            *lines, buffered = (buffered + data).split(b"\n")
            for line in lines:
                text = line.decode(errors="replace").rstrip()
                if text.strip() and not _LOG_RECORD.match(text):
                    self._output.append(text)

    def _death(self, proc: trio.Process) -> str:
        """Returns: one sentence on how the worker ended, its last words, and
        where the log is."""
        code = proc.returncode
        how = (f"was killed by {signal.Signals(-code).name}" if code is not None and code < 0
               else f"exited with code {code}")
        said = _last_words(self._output)
        last = f" after: {said}" if said else ""
        return f"the mount worker (pid {proc.pid}) {how}{last}; log: {log_location()}"

    async def run(self, engine: Engine, log_level: int, *,
                  task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Start the worker, report it mounted via ``task_status``, and follow it
        until it ends.

        Raises:
            MountFailed: before ``task_status.started``: the mount failed.
        """
        # A restart runs the same mount again: a new worker, fresh per-run state.
        self._done, self._waiting, self._stderr_closed = trio.Event(), {}, trio.Event()
        self._output.clear()
        self.state, self.mounted_at, self.pid = "starting", None, None
        ours, theirs = socket.socketpair()
        try:
            proc = await trio.lowlevel.open_process(
                [sys.executable, "-m", "xenonfs.daemon.worker", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
        finally:
            theirs.close()
        async with trio.open_nursery() as outer:
            # Outlives `_serve`: the worker may write until it exits, and its
            # last words say why it died.
            outer.start_soon(self._pump_stderr, proc.stderr, name=f"stderr {self.name}")
            await self._serve(proc, ours, engine, log_level, task_status)

    async def _serve(self, proc: trio.Process, ours: socket.socket, engine: Engine,
                      log_level: int, task_status: trio.TaskStatus[None]) -> None:
        self.pid = proc.pid
        self._pipe = pipe = Pipe(ours)
        started = False
        try:
            await pipe.send({"op": "start", "name": self.name, "source": self.source,
                             "mountpoint": str(self.mountpoint), "options": self.options,
                             "secret": self._secret or "", "engine": describe(engine),
                             "log_level": log_level,
                             "trusted_ca": engine.settings.trusted_ca})
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._forward_engine, engine, name=f"engine->{self.name}")
                while True:
                    try:
                        message = await pipe.receive()
                    except PipeClosed:
                        break
                    event = message.get("event")
                    if event == "mounted":
                        self.state = "mounted"
                        self.mounted_at = trio.current_time()
                        started = True
                        task_status.started()
                    elif event == "failed":
                        self.state = "failed"
                        self._error(message.get("error") or "mount failed")
                        break
                    elif event == "unmounted":
                        self.state = "stopped"
                        self.still_dirty = list(message.get("still_dirty", []))
                    elif "id" in message and message["id"] in self._waiting:
                        done, box = self._waiting.pop(message["id"])
                        box.append(message)
                        done.set()
                nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                await self._reap(proc, started)
                for done, _ in self._waiting.values():
                    done.set()
                self._done.set()
        if not started:
            raise MountFailed(self.last_error or self._death(proc))

    async def _reap(self, proc: trio.Process, started: bool) -> None:
        with trio.move_on_after(EXIT_GRACE):
            await proc.wait()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        with trio.move_on_after(2):  # its last words, before they are quoted
            await self._stderr_closed.wait()
        if self.state not in ("stopped", "failed"):
            self.state = "failed"
            self._error(self._death(proc))
            log.error("%s: %s", self.name, self.last_error, extra={"MOUNT": self.name})
        if started and not self.wanted and is_xenonfs_mount(self.mountpoint):
            # A dead worker leaves "transport endpoint is not connected" behind
            # (and as root fusermount3 would unmount whatever is on top). One
            # that is restarted keeps it until its successor mounts: until then
            # access fails, and never reaches the directory under the mount.
            await trio.run_process(["fusermount3", "-u", "-z", str(self.mountpoint)],
                                   check=False, capture_stdout=True, capture_stderr=True)

    async def _forward_engine(self, engine: Engine) -> None:
        while True:
            await engine.wait_changed()
            try:
                await self._pipe.send({"op": "engine", "engine": describe(engine)})  # type: ignore
            except PipeClosed:
                return

    async def request(self, op: str, timeout: float | None = None, **fields: Any) -> dict[str, Any]:
        """Ask the worker something.

        Args:
            op: status | transfers | flush | forget | unmount.
            timeout: seconds, None to wait as long as it takes.

        Returns:
            The reply.

        Raises:
            MountFailed: the worker is gone or answered with an error.
        """
        if self._pipe is None or self._done.is_set():
            raise MountFailed(f"{self.name} is not running ({self.state})")
        ident = next(self._ids)
        done, box = trio.Event(), []
        self._waiting[ident] = (done, box)
        try:
            await self._pipe.send({"op": op, "id": ident, **fields})
        except PipeClosed:
            raise MountFailed(f"{self.name}: the mount worker went away") from None
        with trio.fail_after(timeout if timeout is not None else float("inf")):
            await done.wait()
        if not box:
            if op == "unmount":
                return {"still_dirty": self.still_dirty}
            raise MountFailed(f"{self.name}: the mount worker went away")
        if box[0].get("busy"):
            raise UnmountRefused(box[0]["error"])
        if "error" in box[0]:
            raise MountFailed(f"{self.name}: {box[0]['error']}")
        return box[0]

    async def unmount(self, how: str = "force") -> list[str] | None:
        """Unmount, upload dirty files, and wait for the worker to end.

        Args:
            how: "now": as umount(8), refused while the mount is in use;
                "lazy": as umount -l, detached at once, and the worker ends by
                itself when the last user leaves; "force": end the session now,
                whoever uses it (a daemon that stops must).

        Returns:
            Paths still dirty (kept in the cache); None when detached lazily.

        Raises:
            UnmountRefused: "now", and the mount is busy (it stays mounted).
            MountFailed: the worker died meanwhile; or lazily, fusermount3 failed.
        """
        self.wanted = False
        if not self._done.is_set():
            before, self.state = self.state, "unmounting"
            try:
                reply = await self.request("unmount", how=how)
            except UnmountRefused:
                self.state, self.wanted = before, True
                raise
            except MountFailed:
                if how == "lazy":
                    self.state, self.wanted = before, True
                    raise
            else:
                if reply.get("detached"):
                    self.state = "detached"
                    return None
                self.still_dirty = list(reply.get("still_dirty", []))
            await self._done.wait()
        if self.state in ("failed", "restarting"):
            # Its dead mount stayed for a successor that will not come now.
            with contextlib.suppress(DeadMountError):
                await trio.to_thread.run_sync(recover_dead_mount, self.mountpoint)
            # It ended without saying what it uploaded: never report success then.
            raise MountFailed(f"{self.name}: while unmounting, {self.last_error or 'it failed'}; "
                              "files it had not uploaded stay in its cache and are uploaded "
                              "at the next mount")
        return self.still_dirty

    @property
    def serving(self) -> bool:
        """Whether the worker answers requests: mounted, or unmounting (then
        it is uploading what is dirty, which status and transfers show)."""
        return self.state in ("mounted", "unmounting", "detached") and not self._done.is_set()

    async def status(self) -> dict[str, Any]:
        """Returns: the worker's status (cache use, dirty paths, errors), or an
        empty one when it is not running."""
        status: dict[str, Any] = {"cache_bytes": 0, "dirty_paths": list(self.still_dirty),
                                  "errors": []}
        if self.serving:
            try:
                status = (await self.request("status", timeout=10))["status"]
            except (MountFailed, trio.TooSlowError) as exc:
                status["errors"] = [str(exc)]
        status["errors"] = self.errors + list(status.get("errors", []))
        return status
