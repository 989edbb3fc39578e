"""The engine: one xenon-grpc JVM, started with mutual TLS and supervised.

`Engine.run` is a long-lived trio task. It starts the JVM, reports ready once
the server has said it listens and accepts TCP connections, routes its output
into logging, restarts it when it dies unexpectedly, and stops it (and removes
its keys) when the task ends.

Why the JVM is forked from the trio thread via ``setpriv --pdeathsig``: the
kernel sends the parent-death signal when the *thread* that forked the child
ends, so the fork must happen in the thread that lives as long as the engine.
That also means a SIGKILLed Python process never leaves an orphaned JVM.
"""

from __future__ import annotations

import enum
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import trio

from .. import paths
from .compat import CLASSES_DIR
from .locate import find_jar, find_java
from . import truststore
from .tls import TlsFiles

log = logging.getLogger("xenonfs.engine")
jvm_log = logging.getLogger("xenonfs.engine.jvm")

MAIN_CLASS = "nl.esciencecenter.xenon.grpc.XenonServerWrapper"
#: Guice 3.0 (inside the jar, used by jclouds for s3) reflects into java.lang,
#: which Java 17+ refuses unless the module is opened to the class path.
OPEN_JAVA_LANG = "--add-opens=java.base/java.lang=ALL-UNNAMED"
#: Seconds the child that makes the TLS files is given (it takes ~0.3 s).
CERTS_TIMEOUT = 60.0
_READY = re.compile(r"Server started, listening on port (\d+)")
# logback pattern of the engine: "08:07:42.790 [main] ERROR n.e.x.g.Class - message"
_LOGBACK = re.compile(r"^\d\d:\d\d:\d\d\.\d+ \[[^\]]*\] (TRACE|DEBUG|INFO|WARN|ERROR) (.*)$")
_LEVELS = {"TRACE": logging.DEBUG, "DEBUG": logging.DEBUG, "INFO": logging.INFO,
           "WARN": logging.WARNING, "ERROR": logging.ERROR}


class EngineError(RuntimeError):
    """The engine could not be started or is gone for good."""


class EngineState(enum.Enum):
    """Life cycle of the supervised JVM."""

    STARTING = "starting"
    READY = "ready"
    RESTARTING = "restarting"
    STOPPED = "stopped"
    FAILED = "failed"


@dataclass
class EngineSettings:
    """How to run the engine.

    Attributes:
        java: java executable (default: found by `find_java`).
        jar: xenon-grpc jar (default: found by `find_jar`).
        heap: maximum JVM heap (-Xmx). Bounded because every read of a large
            file goes through `copy`, which streams with a small buffer.
        jvm_args: extra JVM options, before the class path.
        classpath_prepend: directories/jars placed before the engine jar (and
            before xenonfs's own compatibility classes, which always are).
        verbosity: the engine's own -v count.
        cwd: the JVM's working directory (the `file` adaptor and the `local`
            scheduler resolve relative paths against it).
        start_timeout: seconds to wait for the server to listen.
        restart_delay: seconds before the first restart after a crash; each
            further crash in a row doubles it, up to `restart_delay_max`. It
            never gives up: the mounts need an engine, and a crash loop costs
            one attempt per `restart_delay_max` seconds.
        restart_delay_max: see `restart_delay`.
        stable_after: seconds a generation must stay up for its crash to
            count as the first of a new row (the delay starts over).
        runtime_dir: parent of the private directory for keys (default XDG).
        trusted_ca: PEM file of CAs to trust beside the JVM's own (https
            servers with self-signed or site certificates).
    """

    java: str | None = None
    jar: str | None = None
    heap: str = "512m"
    jvm_args: tuple[str, ...] = ()
    classpath_prepend: tuple[str, ...] = ()
    verbosity: int = 0
    cwd: str | None = None
    start_timeout: float = 60.0
    restart_delay: float = 0.5
    restart_delay_max: float = 30.0
    stable_after: float = 60.0
    runtime_dir: Path | None = None
    trusted_ca: str | None = None


@dataclass(frozen=True)
class Endpoint:
    """How to reach one running generation of the engine."""

    address: str
    tls: TlsFiles
    generation: int
    pid: int
    #: Names this JVM run among all (generations restart at 1 with the daemon,
    #: pids are reused): what the engine keeps in memory, e.g. local and ssh
    #: job ids ("local-0" again in every run), is only meaningful with it.
    run_id: str = ""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def _make_tls_files(directory: Path) -> TlsFiles:
    """Make the engine run's TLS files in ``directory``, in a child process:
    cryptography would stay in this one (a daemon: for months) for a moment's use.

    Raises:
        EngineError: the child failed or did not end within `CERTS_TIMEOUT`.
    """
    cmd = [sys.executable, "-m", "xenonfs.engine.certs", str(directory)]
    try:
        with trio.fail_after(CERTS_TIMEOUT):
            done = await trio.run_process(cmd, capture_stdout=True, capture_stderr=True,
                                          check=False)
    except trio.TooSlowError:
        raise EngineError(f"making the engine's TLS certificates took over {CERTS_TIMEOUT:.0f} s"
                          ) from None
    if done.returncode != 0:
        last = (done.stderr.decode(errors="replace").strip().splitlines() or ["no output"])[-1]
        raise EngineError(f"could not make the engine's TLS certificates: {last}")
    return TlsFiles.in_directory(directory)


def _remove_stale(base: Path) -> None:
    """Remove key directories of engines whose owning process is gone (SIGKILL)."""
    for entry in base.glob("engine-*"):
        m = re.match(r"engine-(\d+)-", entry.name)
        if m and not _pid_alive(int(m.group(1))):
            shutil.rmtree(entry, ignore_errors=True)


@dataclass
class _Run:
    proc: subprocess.Popen[bytes]
    port: int
    started: float
    run_id: str = field(default_factory=lambda: secrets.token_hex(3))
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=30))


class Engine:
    """A supervised xenon-grpc JVM. Use `run` as a task, then `wait_ready`."""

    def __init__(self, settings: EngineSettings | None = None) -> None:
        self.settings = settings or EngineSettings()
        self.java = find_java(self.settings.java)
        self.jar = find_jar(self.settings.jar)
        if not any(CLASSES_DIR.rglob("*.class")):
            log.warning("the engine compatibility classes are missing from %s (a broken "
                        "install?): s3 file systems will fail", CLASSES_DIR)
        self.state = EngineState.STOPPED
        self.generation = 0
        self.restarts = 0
        self.last_error: str | None = None
        self._run: _Run | None = None
        self._tls: TlsFiles | None = None
        self._dir: Path | None = None
        self._changed = trio.Event()
        self._stop = trio.Event()
        self._listening = trio.Event()
        #: Crashes (or failed restarts) in a row, for the backoff.
        self.failures_in_row = 0
        self._last_started: float | None = None
        #: trio time of the next start attempt while RESTARTING, else None.
        self.next_start: float | None = None

    # -- public view -------------------------------------------------------
    @property
    def pid(self) -> int | None:
        """Returns: the JVM's pid while it runs."""
        return self._run.proc.pid if self._run else None

    @property
    def port(self) -> int | None:
        """Returns: the TCP port of the running generation."""
        return self._run.port if self._run else None

    def endpoint(self) -> Endpoint:
        """Returns: the current endpoint.

        Raises:
            EngineError: the engine is not ready.
        """
        if self.state is not EngineState.READY or not self._run or not self._tls:
            raise EngineError(f"engine is {self.state.value}" +
                              (f": {self.last_error}" if self.last_error else ""))
        return Endpoint(f"127.0.0.1:{self._run.port}", self._tls, self.generation,
                        self._run.proc.pid, self._run.run_id)

    async def wait_ready(self, timeout: float | None = None) -> Endpoint:
        """Wait until the engine is ready.

        Args:
            timeout: seconds; None waits as long as the engine keeps trying.

        Returns:
            The endpoint of the ready generation.

        Raises:
            EngineError: the engine stopped or gave up, or the timeout passed.
        """
        with trio.move_on_after(timeout if timeout is not None else float("inf")):
            while True:
                if self.state is EngineState.READY:
                    return self.endpoint()
                if self.state in (EngineState.FAILED, EngineState.STOPPED) and self._stop.is_set():
                    break
                if self.state is EngineState.FAILED:
                    break
                await self._changed.wait()
        raise EngineError(f"engine not ready ({self.state.value})" +
                          (f": {self.last_error}" if self.last_error else ""))

    def alive(self) -> bool:
        """Returns: True while the JVM of the current generation is running."""
        return self._run is not None and self._run.proc.poll() is None

    async def wait_changed(self) -> None:
        """Wait for the next state change (start, ready, crash, stop)."""
        await self._changed.wait()

    def stop(self) -> None:
        """Ask `run` to stop the JVM and return."""
        self._stop.set()

    def _set_state(self, state: EngineState) -> None:
        self.state = state
        self._changed.set()
        self._changed = trio.Event()

    # -- supervision -------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[Endpoint] = trio.TASK_STATUS_IGNORED) -> None:
        """Run and supervise the JVM until `stop` or cancellation.

        Args:
            task_status: reports the first ready `Endpoint` to `nursery.start`.

        Raises:
            EngineError: the first start failed (the message has the JVM's last
                output lines). Later crashes and failed restarts are retried
                with backoff (see `EngineSettings.restart_delay`), never raised.
        """
        base = paths.private_dir(self.settings.runtime_dir) if self.settings.runtime_dir \
            else paths.runtime_dir()
        _remove_stale(base)
        self._dir = paths.private_dir(base / f"engine-{os.getpid()}-{id(self):x}")
        self._tls = await _make_tls_files(self._dir)
        self._trust_args: list[str] = []
        if self.settings.trusted_ca:
            try:
                self._trust_args = truststore.build(Path(self.java), Path(self.settings.trusted_ca),
                                                    self._dir)
            except truststore.TrustStoreError as exc:
                raise EngineError(str(exc)) from None
        first = True
        try:
            while not self._stop.is_set():
                self._set_state(EngineState.STARTING if first else EngineState.RESTARTING)
                failure = await self._one_run(task_status if first else None)
                if failure is not None:
                    if first:
                        self._set_state(EngineState.FAILED)
                        raise failure
                    log.error("engine restart failed: %s", failure)
                first = False
                if self._stop.is_set():
                    break
                delay = self._crashed(failure is not None)
                log.warning("engine: restart %d in %.1f s", self.restarts, delay)
                self.next_start = trio.current_time() + delay
                self._set_state(EngineState.RESTARTING)
                try:
                    with trio.move_on_after(delay):
                        await self._stop.wait()
                finally:
                    self.next_start = None
        finally:
            with trio.CancelScope(shield=True):
                if self._run is not None:
                    await self._terminate(self._run)
            if self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
            if self.state is not EngineState.FAILED:
                self._set_state(EngineState.STOPPED)
            self._stop.set()
            self._changed.set()

    async def _one_run(self, task_status: trio.TaskStatus[Endpoint] | None
                       ) -> EngineError | None:
        """Start one generation and follow it until it exits or `stop`.

        Args:
            task_status: told the endpoint once ready (the first start only).

        Returns:
            Why it could not start, or None (it ran, and exited or was stopped).
        """
        try:
            run = self._spawn()
        except OSError as exc:  # e.g. no memory to fork, java removed meanwhile
            self.last_error = f"cannot start the engine: {exc}"
            return EngineError(self.last_error)
        failure: EngineError | None = None
        # Errors are kept out of the nursery body so they are not wrapped in
        # an ExceptionGroup.
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._pump_output, run)
            try:
                await self._wait_listening(run)
            except EngineError as exc:
                failure = exc
                self.last_error = str(exc)
                await self._terminate(run)
            else:
                self.generation += 1
                self._last_started = time.monotonic()
                self._set_state(EngineState.READY)
                log.info("engine ready: pid %d, port %d, generation %d",
                         run.proc.pid, run.port, self.generation)
                if task_status is not None:
                    task_status.started(self.endpoint())
                code = await self._wait_exit_or_stop(run)
                if code is not None:
                    self.last_error = (f"engine (pid {run.proc.pid}) exited with code "
                                       f"{code}; last output: {' | '.join(run.tail)}")
                    log.error("%s", self.last_error)
            nursery.cancel_scope.cancel()
        return failure

    def _crashed(self, start_failed: bool) -> float:
        """Count a crash (or a failed restart). Returns: seconds to wait before
        the next start: capped exponential backoff over the crashes in a row."""
        s = self.settings
        lived = time.monotonic() - self._last_started if self._last_started else 0.0
        if not start_failed and lived >= s.stable_after:
            self.failures_in_row = 0
        self.restarts += 1
        self.failures_in_row += 1
        return min(s.restart_delay * 2 ** (self.failures_in_row - 1), s.restart_delay_max)

    def retry_in(self) -> float | None:
        """Returns: seconds until the next start attempt while restarting, else None."""
        if self.next_start is None:
            return None
        return max(0.0, self.next_start - trio.current_time())

    def command(self, port: int) -> list[str]:
        """Args: port: TCP port. Returns: the JVM command line (no secrets in it)."""
        assert self._tls is not None
        s = self.settings
        # Our classes come first so they replace the jar's broken ones (see
        # xenonfs.engine.compat); the flag is needed by s3 as well.
        cp = os.pathsep.join([*s.classpath_prepend, str(CLASSES_DIR), str(self.jar)])
        cmd = [str(self.java), f"-Xmx{s.heap}", "-XX:+ExitOnOutOfMemoryError", OPEN_JAVA_LANG,
               *self._trust_args, *s.jvm_args, "-cp", cp, MAIN_CLASS, "--port", str(port),
               "--server-cert-chain", str(self._tls.server_cert),
               "--server-private-key", str(self._tls.server_key),
               "--client-cert-chain", str(self._tls.ca_cert)]
        cmd += ["-v"] * s.verbosity
        return cmd

    def _spawn(self) -> _Run:
        port = _free_port()
        cmd = self.command(port)
        setpriv = shutil.which("setpriv")
        preexec = None
        if setpriv:
            cmd = [setpriv, "--pdeathsig", "KILL", "--", *cmd]
        else:  # pragma: no cover - util-linux is everywhere we run
            preexec = _pdeathsig_preexec(os.getpid())
        log.debug("starting engine: %s", " ".join(cmd))
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, cwd=self.settings.cwd,
                                preexec_fn=preexec, close_fds=True)
        self._run = _Run(proc, port, time.monotonic())
        self._listening = trio.Event()
        return self._run

    async def _pump_output(self, run: _Run) -> None:
        assert run.proc.stdout is not None
        stream = trio.lowlevel.FdStream(os.dup(run.proc.stdout.fileno()))
        run.proc.stdout.close()
        buf = b""
        async with stream:
            while True:
                try:
                    data = await stream.receive_some(65536)
                except (trio.ClosedResourceError, trio.BrokenResourceError):
                    data = b""
                if not data:
                    if buf:
                        self._log_line(run, buf.decode(errors="replace"))
                    self._listening.set()  # wake the readiness wait: it checks the process
                    return
                buf += data
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    self._log_line(run, line.decode(errors="replace").rstrip())

    def _log_line(self, run: _Run, line: str) -> None:
        if not line.strip():
            return
        if not line.startswith("WARNING:"):
            run.tail.append(line)
        m = _LOGBACK.match(line)
        ready = _READY.search(line)
        if ready:
            # The engine logs its normal start at ERROR: it is news, not an error.
            jvm_log.info("%s", ready.group(0))
            self._listening.set()
            return
        if m:
            jvm_log.log(_LEVELS[m.group(1)], "%s", m.group(2))
        elif line.startswith("WARNING:"):
            # Java 21+ warnings about netty's use of sun.misc.Unsafe: harmless noise.
            jvm_log.debug("%s", line)
        else:
            jvm_log.info("%s", line)

    async def _wait_listening(self, run: _Run) -> None:
        with trio.move_on_after(self.settings.start_timeout) as scope:
            await self._listening.wait()
        if scope.cancelled_caught:
            raise EngineError(f"engine did not listen within {self.settings.start_timeout:.0f} s; "
                              f"last output: {' | '.join(run.tail)}")
        # The log line says netty bound the port; a TCP connect proves it accepts.
        deadline = time.monotonic() + self.settings.start_timeout
        while True:
            if run.proc.poll() is not None:
                raise EngineError(f"engine exited with code {run.proc.returncode} during start; "
                                  f"last output: {' | '.join(run.tail) or '(none)'}")
            try:
                sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_STREAM)
                with sock:
                    await sock.connect(("127.0.0.1", run.port))
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise EngineError("engine said it listens but refuses connections") from None
                await trio.sleep(0.05)

    async def _wait_exited(self, run: _Run) -> int:
        try:
            pidfd = os.pidfd_open(run.proc.pid)
        except ProcessLookupError:  # already reaped by poll()
            return run.proc.wait()
        try:
            await trio.lowlevel.wait_readable(pidfd)
        finally:
            os.close(pidfd)
        return run.proc.wait()

    async def _wait_exit_or_stop(self, run: _Run) -> int | None:
        """Returns: the exit code of an unexpected exit, or None after a stop."""
        code: int | None = None
        async with trio.open_nursery() as nursery:
            async def watch_exit() -> None:
                nonlocal code
                code = await self._wait_exited(run)
                nursery.cancel_scope.cancel()

            async def watch_stop() -> None:
                await self._stop.wait()
                nursery.cancel_scope.cancel()

            nursery.start_soon(watch_exit)
            nursery.start_soon(watch_stop)
        if code is None:
            await self._terminate(run)
        self._run = None
        return code

    async def _terminate(self, run: _Run, grace: float = 10.0) -> None:
        if run.proc.poll() is None:
            run.proc.terminate()
            with trio.move_on_after(grace):
                await self._wait_exited(run)
            if run.proc.poll() is None:
                log.warning("engine pid %d ignored SIGTERM for %.0f s; killing it",
                            run.proc.pid, grace)
                run.proc.kill()
                await self._wait_exited(run)
        if self._run is run:
            self._run = None


def _pdeathsig_preexec(parent: int):  # pragma: no cover - fallback only
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    def preexec() -> None:
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:
            os._exit(1)

    return preexec
