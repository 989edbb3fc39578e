"""The daemon program: one engine, every mount, the control socket, systemd.

Named long-lived tasks in one nursery: ``engine`` (the supervised JVM),
``control`` (the socket), ``signals``, ``watchdog``, ``status``, and one
``mount NAME`` per mount (each following its worker process).
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

import grpc
import trio

from .. import __version__, paths
from .._proto import xenonfs_pb2 as pb
from ..config import Config, ConfigError, MountConfig, load
from ..engine.process import Engine, EngineError, EngineSettings
from ..logs import register_secret, setup_logging
from ..notify import Notifier, watchdog_task
from ..source import MountOptions, SourceError, parse_source
from . import control
from .control import ControlError
from .mountinfo import DeadMountError, recover_dead_mount
from .workers import RESTART_STABLE, MountFailed, MountWorker, UnmountRefused, restart_delay

log = logging.getLogger("xenonfs.daemon")

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
          "error": logging.ERROR}


class DaemonError(Exception):
    """The daemon cannot start (another one runs, bad config, ...)."""


def options_dict(options: MountOptions) -> dict[str, Any]:
    """Returns: the options as sent to a worker (the secret travels separately)."""
    data = dataclasses.asdict(options)
    data.pop("secret", None)
    return data


class Daemon:
    """The long-running xenonfs process.

    Args:
        config_path: the config file (None: the XDG default).
        verbose: -v count from the command line (overrides the config's level).
    """

    def __init__(self, config_path: Path | None = None, verbose: int = 0) -> None:
        self.config_path = config_path
        self.verbose = verbose
        self.log_level = logging.INFO
        self.engine: Engine | None = None
        self.mounts: dict[str, MountWorker] = {}
        self.notifier = Notifier()
        self._stop = trio.Event()
        self._nursery: trio.Nursery | None = None
        self._lock_fd: int | None = None
        self._changed = trio.Event()
        self._jobs_running = 0

    # -- start-up ------------------------------------------------------------------
    def _lock(self) -> None:
        lock_path = paths.runtime_dir() / "daemon.lock"
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 32, 0).decode().strip() or "?"
            os.close(fd)
            raise DaemonError(f"a xenonfs daemon is already running (pid {pid}); its control "
                              f"socket is {control.socket_path()}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._lock_fd = fd

    def _load_config(self) -> Config:
        try:
            return load(self.config_path)
        except ConfigError as exc:
            raise DaemonError(f"config: {exc}") from None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run until `stop` (or SIGTERM/SIGINT): then flush, unmount, stop the engine.

        Raises:
            DaemonError: another daemon runs, or the config is bad.
        """
        self._lock()
        config = self._load_config()
        self.log_level = (logging.DEBUG if self.verbose > 1 else logging.INFO if self.verbose
                          else LEVELS.get(config.daemon.log_level, logging.INFO))
        setup_logging(self.log_level)
        settings = EngineSettings(verbosity=max(self.verbose - 1, 0))
        settings.restart_delay, settings.restart_delay_max = restart_backoff(os.environ)
        if config.daemon.engine_heap:
            settings.heap = config.daemon.engine_heap
        if config.daemon.engine_ca_file:
            settings.trusted_ca = os.path.expanduser(config.daemon.engine_ca_file)
        self.engine = Engine(settings)
        async with trio.open_nursery() as outer:
            await outer.start(self.engine.run, name="engine")
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                sock = await nursery.start(control.serve, self, name="control")
                # Before READY: a SIGTERM right after it must find our handler
                # (it found Python's default once, and the daemon died silently).
                await nursery.start(self._signals, name="signals")
                nursery.start_soon(watchdog_task, self.notifier, name="watchdog")
                await self._apply_config(config)
                log.info("daemon ready: pid %d, control socket %s", os.getpid(), sock)
                self.notifier.ready(self._status_line())
                task_status.started()
                nursery.start_soon(self._status_task, name="status")
                await self._stop.wait()
                self.notifier.stopping()
                log.info("stopping: unmounting %d mount(s)", len(self.mounts))
                await self._unmount_all()
                nursery.cancel_scope.cancel()
            self.engine.stop()
        log.info("daemon stopped")

    # -- signals, status ---------------------------------------------------------------
    async def _signals(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                       ) -> None:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as sigs:
            task_status.started()
            async for signum in sigs:
                if signum == signal.SIGHUP:
                    self.notifier.reloading()
                    await self.reload()
                    self.notifier.ready(self._status_line())
                else:
                    log.info("%s: stopping", signal.Signals(signum).name)
                    self._stop.set()

    def _status_line(self) -> str:
        mounted = sum(1 for w in self.mounts.values() if w.state == "mounted")
        return (f"{mounted} of {len(self.mounts)} mount(s) up; {self._jobs_running} job(s) "
                f"running; engine {self.engine.state.value}")

    async def _status_task(self) -> None:
        while True:
            jobs = [j for _, reply in await self._ask_all("jobs", 10) for j in reply["jobs"]]
            self._jobs_running = sum(1 for j in jobs if not j["done"])
            self.notifier.status(self._status_line())
            with trio.move_on_after(30):
                await self._changed.wait()
            await trio.sleep(0.5)

    def _touch(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    # -- mounts ------------------------------------------------------------------------
    async def reload(self) -> None:
        """Re-read the config: mount what was added, unmount what was removed or changed."""
        try:
            config = load(self.config_path)
        except ConfigError as exc:
            log.error("reload: the config is not valid, keeping the current mounts: %s", exc)
            return
        await self._apply_config(config)

    @staticmethod
    def _config_key(mc: MountConfig) -> str:
        return json.dumps([mc.source.url, options_dict(mc.options), mc.scheduler], sort_keys=True)

    async def _apply_config(self, config: Config) -> None:
        wanted = {str(mc.mountpoint): mc for mc in config.mounts.values()}
        for key, worker in list(self.mounts.items()):
            mc = wanted.get(key)
            if worker.from_config and (mc is None or worker.config_key != self._config_key(mc)):
                log.info("config: unmounting %s", worker.name, extra={"MOUNT": worker.name})
                await self._unmount_logged(worker)
        for key, mc in wanted.items():
            if key in self.mounts:
                continue
            try:
                mc.resolve_secret()
                if mc.options.secret:
                    register_secret(mc.options.secret)
                await trio.to_thread.run_sync(recover_dead_mount, mc.mountpoint)
                mc.mountpoint.mkdir(parents=True, exist_ok=True)
                worker = MountWorker(mc.name, mc.source.url, mc.mountpoint,
                                     options_dict(mc.options), mc.options.secret,
                                     mc.scheduler, from_config=True)
                worker.config_key = self._config_key(mc)
                await self._start(worker)
            except (ConfigError, ControlError, OSError, DeadMountError) as exc:
                log.error("config mount %s: %s", mc.name, exc, extra={"MOUNT": mc.name})

    async def _start(self, worker: MountWorker) -> None:
        key = str(worker.mountpoint)
        if key in self.mounts:
            raise ControlError(f"{key} is already mounted by this daemon "
                               f"({self.mounts[key].source})", grpc.StatusCode.ALREADY_EXISTS)
        self.mounts[key] = worker
        self._touch()
        failed: BaseException | None = None
        try:
            await self._nursery.start(self._follow, worker, name=f"mount {worker.name}")
        except* MountFailed as group:
            failed = group
        # Raised out here: Python 3.11 before 3.11.4 (Debian 12 has 3.11.2) wraps
        # an exception raised inside `except*` in a group (CPython gh-103590),
        # which the control server would not know as ours.
        if failed is not None:
            self.mounts.pop(key, None)
            self._touch()
            while isinstance(failed, BaseExceptionGroup):
                failed = failed.exceptions[0]
            raise ControlError(f"cannot mount {worker.source} on {key}: {failed}") from None
        log.info("mounted %s on %s", worker.source, key, extra={"MOUNT": worker.name})

    async def _follow(self, worker: MountWorker, *,
                      task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the mount's worker; start it again, with backoff, whenever it dies
        after it had mounted, until it is unmounted or the daemon stops."""
        started = False

        class Started:
            @staticmethod
            def started(value: Any = None) -> None:
                nonlocal started
                started = True
                task_status.started(value)

        key = str(worker.mountpoint)
        in_row = 0
        try:
            while True:
                try:
                    # A restart reports nothing: the mount request was answered.
                    await worker.run(self.engine, self.log_level,
                                     task_status=trio.TASK_STATUS_IGNORED if started
                                     else Started())
                except Exception as exc:  # noqa: BLE001 - one mount must not take the daemon down
                    if not started:
                        raise
                    log.error("%s: %s", worker.name, exc, extra={"MOUNT": worker.name})
                if not (worker.wanted and worker.state == "failed" and
                        self.mounts.get(key) is worker and not self._stop.is_set()):
                    break
                # Died (killed, crashed) or could not mount again: its mount point
                # was cleaned (`_reap`); its dirty files are in its cache, which
                # the next worker uploads first.
                lived = (trio.current_time() - worker.mounted_at
                         if worker.mounted_at is not None else 0.0)
                in_row = 1 if lived >= RESTART_STABLE else in_row + 1
                delay = restart_delay(in_row)
                worker.restarts += 1
                worker.state = "restarting"
                self._touch()
                log.warning("%s: starting its worker again in %.1f s (restart %d): %s",
                            worker.name, delay, worker.restarts, worker.last_error,
                            extra={"MOUNT": worker.name})
                with trio.move_on_after(delay):
                    await self._stop.wait()
                if not worker.wanted or self.mounts.get(key) is not worker or \
                        self._stop.is_set():
                    break
                # The new worker clears the dead mount just before it mounts.
        finally:
            if started:  # not run again: its dead mount, if any, goes
                with trio.CancelScope(shield=True):
                    try:
                        await trio.to_thread.run_sync(recover_dead_mount, worker.mountpoint)
                    except DeadMountError as exc:
                        log.error("%s: %s", worker.name, exc, extra={"MOUNT": worker.name})
            # Unmounted from outside (fusermount3 -u) or unmounted: it is gone.
            if self.mounts.get(key) is worker and started:
                self.mounts.pop(key, None)
                if worker.still_dirty:
                    log.error("%s: %d file(s) not uploaded, kept in the cache: %s", worker.name,
                              len(worker.still_dirty), ", ".join(worker.still_dirty),
                              extra={"MOUNT": worker.name})
            self._touch()

    def _find(self, ref: str) -> MountWorker:
        if ref in self.mounts:
            return self.mounts[ref]
        resolved = str(Path(ref).resolve()) if ref.startswith("/") else None
        for key, worker in self.mounts.items():
            if worker.name == ref or key == resolved:
                return worker
        known = ", ".join(f"{w.name} ({k})" for k, w in self.mounts.items()) or "none"
        raise ControlError(f"no mount {ref!r} in this daemon; mounts: {known}",
                           grpc.StatusCode.NOT_FOUND)

    async def _unmount(self, worker: MountWorker, how: str = "force") -> list[str] | None:
        """Returns: paths still dirty, None when detached lazily (`_follow`
        forgets it when it ends). Raises: as `MountWorker.unmount`."""
        try:
            return await worker.unmount(how)
        finally:
            if worker.state not in ("mounted", "detached") and \
                    self.mounts.get(str(worker.mountpoint)) is worker:
                self.mounts.pop(str(worker.mountpoint), None)
            self._touch()

    async def _unmount_logged(self, worker: MountWorker) -> None:
        """Unmount lazily (stop, config change); a failure is logged, not raised,
        so the other mounts are unmounted all the same."""
        try:
            await self._unmount(worker)
        except MountFailed as exc:
            log.error("%s", exc, extra={"MOUNT": worker.name})

    async def _unmount_all(self) -> None:
        async with trio.open_nursery() as nursery:
            for worker in list(self.mounts.values()):
                nursery.start_soon(self._unmount_logged, worker, name=f"unmount {worker.name}")

    # -- control calls (see proto/xenonfs.proto) ---------------------------------------
    async def version(self, request: Any) -> Any:
        return control.reply_version(__version__)

    async def mount(self, request: Any) -> Any:
        mountpoint = Path(request.mountpoint)
        if not mountpoint.is_absolute():
            raise ControlError(f"mountpoint {request.mountpoint!r} must be an absolute path",
                               grpc.StatusCode.INVALID_ARGUMENT)
        try:
            source = parse_source(request.source)
            options = MountOptions.parse(list(request.options))
        except SourceError as exc:
            raise ControlError(str(exc), grpc.StatusCode.INVALID_ARGUMENT) from None
        if request.secret:
            register_secret(request.secret)
        name = request.name or mountpoint.name or "root"
        worker = MountWorker(name, source.url, mountpoint, options_dict(options),
                             request.secret or None, request.scheduler or None, from_config=False)
        await self._start(worker)
        return await self._info(worker)

    async def _info(self, worker: MountWorker) -> Any:
        status = await worker.status()
        return pb.MountInfo(
            name=worker.name, source=worker.source, mountpoint=str(worker.mountpoint),
            state=worker.state, cache_bytes=int(status.get("cache_bytes", 0)),
            dirty_files=len(status.get("dirty_paths", [])), dirty_paths=status.get("dirty_paths", []),
            errors=status.get("errors", []), worker_pid=worker.pid or 0,
            from_config=worker.from_config, scheduler=worker.scheduler or "",
            backend=str(status.get("backend", "")), restarts=worker.restarts)

    async def unmount(self, request: Any) -> Any:
        worker = self._find(request.mountpoint)
        try:
            still_dirty = await self._unmount(worker, "lazy" if request.lazy else "now")
        except UnmountRefused as exc:
            raise ControlError(str(exc), grpc.StatusCode.FAILED_PRECONDITION) from None
        except MountFailed as exc:
            raise ControlError(str(exc)) from None
        return pb.UnmountReply(still_dirty=still_dirty or [], detached=still_dirty is None)

    async def list_mounts(self, request: Any) -> Any:
        return pb.MountList(mounts=[await self._info(w) for w in list(self.mounts.values())])

    async def _ask_all(self, op: str, timeout: float) -> list[tuple[MountWorker, dict[str, Any]]]:
        """Returns: (worker, reply) of every mounted worker that answered ``op``
        (one that cannot, e.g. a mount without a scheduler for "jobs", is left out)."""
        answers = []
        for worker in list(self.mounts.values()):
            if not worker.serving:
                continue
            try:
                answers.append((worker, await worker.request(op, timeout=timeout)))
            except (MountFailed, trio.TooSlowError):
                continue
        return answers

    async def transfers(self, request: Any) -> Any:
        result = []
        for worker, reply in await self._ask_all("transfers", 10):
            result += [pb.Transfer(mount=worker.name, path=t["path"], direction=t["direction"],
                                   bytes_done=t["done"], bytes_total=t["total"], rate=t["rate"])
                       for t in reply["transfers"]]
        return pb.TransferList(transfers=result)

    async def forget(self, request: Any) -> Any:
        await self._request(self._find(request.mountpoint), "forget", path=request.path or "/")
        return pb.Empty()

    async def _request(self, worker: MountWorker, op: str, **fields: Any) -> dict[str, Any]:
        try:
            return await worker.request(op, **fields)
        except MountFailed as exc:
            raise ControlError(str(exc)) from None

    async def flush(self, request: Any) -> Any:
        workers = [self._find(request.mountpoint)] if request.mountpoint else \
            list(self.mounts.values())
        still_dirty: list[str] = []
        for worker in workers:
            reply = await self._request(worker, "flush")
            still_dirty += [f"{worker.mountpoint}{p}" for p in reply["still_dirty"]]
        return pb.FlushReply(still_dirty=still_dirty)

    @staticmethod
    def _job_info(worker: MountWorker, job: dict[str, Any]) -> Any:
        code = job.get("exit_code")
        return pb.JobInfo(
            mount=worker.name, name=job["name"], job_id=job["job_id"],
            scheduler=job["scheduler"], state=job["state"], running=job["running"],
            done=job["done"], has_exit_code=isinstance(code, int), exit_code=code
            if isinstance(code, int) else 0, error=job.get("error") or "",
            submitted_at=job.get("submitted_at") or 0, finished_at=job.get("finished_at") or 0)

    async def list_jobs(self, request: Any) -> Any:
        result = []
        for worker, reply in await self._ask_all("jobs", 30):
            result += [self._job_info(worker, j) for j in reply["jobs"]]
        return pb.JobList(jobs=result)

    async def submit_job(self, request: Any) -> Any:
        worker = self._find(request.mount)
        reply = await self._request(worker, "submit", name=request.name,
                                    spec=request.spec.decode(errors="replace"),
                                    format=request.format or "toml")
        return self._job_info(worker, reply["jobs"][0])

    async def cancel_job(self, request: Any) -> Any:
        worker = self._find(request.mount)
        reply = await self._request(worker, "cancel", name=request.name)
        return self._job_info(worker, reply["jobs"][0])

    async def engine_status(self, request: Any) -> Any:
        engine = self.engine
        return pb.EngineInfo(state=engine.state.value, pid=engine.pid or 0, port=engine.port or 0,
                             restarts=engine.restarts, generation=engine.generation,
                             last_error=engine.last_error or "",
                             retry_in=engine.retry_in() or 0.0)

    async def stop(self, request: Any) -> Any:
        self._stop.set()
        return pb.Empty()


def run_daemon(config_path: Path | None, verbose: int) -> int:
    """Run the daemon in the foreground. Returns: exit code."""
    try:
        trio.run(Daemon(config_path, verbose).run)
    except (DaemonError, EngineError) as exc:
        print(f"xenonfs daemon: {exc}", file=sys.stderr)
        return 1
    return 0


#: Environment variables that set the engine's restart backoff (seconds):
#: the first delay, doubled per crash in a row up to the largest.
RESTART_DELAY_ENV = "XENONFS_ENGINE_RESTART_DELAY"
RESTART_DELAY_MAX_ENV = "XENONFS_ENGINE_RESTART_DELAY_MAX"


def restart_backoff(environ: Any) -> tuple[float, float]:
    """Args: environ: the daemon's environment. Returns: (first, largest)
    restart delay in seconds (`EngineSettings` defaults where unset).

    Raises:
        DaemonError: a value is not a finite number > 0, or first > largest.
    """
    defaults = EngineSettings()
    values = []
    for name, default in ((RESTART_DELAY_ENV, defaults.restart_delay),
                          (RESTART_DELAY_MAX_ENV, defaults.restart_delay_max)):
        text = environ.get(name)
        try:
            value = default if text is None else float(text)
        except ValueError:
            value = float("nan")
        if not 0 < value < float("inf"):
            raise DaemonError(f"{name}={text!r}: give a number of seconds > 0")
        values.append(value)
    first, largest = values
    if first > largest:
        raise DaemonError(f"{RESTART_DELAY_ENV}={first:g} is more than "
                          f"{RESTART_DELAY_MAX_ENV}={largest:g}")
    return first, largest
