"""The `.jobs/` directory's scheduler over the engine (wiring: knows the client
and the vfs's `JobRunner` protocol)."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import posixpath
from typing import Any, Awaitable, Callable, TypeVar
from urllib.parse import urlsplit

import trio

from .client import FileSystem, JobDescription, Scheduler, XenonClient, errors
from .client.scheduler import InteractiveJob
from .client.types import Credential, JobStatus
from .engine.process import EngineError
from .hpc import RUNNERS
from .hpc.commands import LOST, CommandRunner
from .hpc.scripted import on_fs, read_output
from .source import Source
from .vfs.jobs import JobState

log = logging.getLogger("xenonfs.jobs")
T = TypeVar("T")

#: Scheduler URL schemes -> (adaptor, runs over ssh).
SCHEMES = {"local": ("local", False), "ssh": ("ssh", True), "at": ("at", False),
           "at+ssh": ("at", True), "slurm": ("slurm", False), "slurm+ssh": ("slurm", True),
           "gridengine": ("gridengine", False), "gridengine+ssh": ("gridengine", True),
           "torque": ("torque", False), "torque+ssh": ("torque", True)}


#: Interactive jobs at once over one SSH connection (see `EngineJobRunner`).
SSH_INTERACTIVE = 8

#: An ssh batch job's streams, opened by its own shell (``sh -c`` with the
#: files, then the command, as arguments; ``set -C``: never over a file).
_REDIRECT = 'out=$1 err=$2 in=$3; shift 3; set -C; exec "$@" <"$in" >"$out" 2>"$err"'


#: Sets the job's environment in its own shell, then runs it: ``sh -c`` with
#: the number of variables, the NAME=value words, then the command, as
#: arguments. The engine's ssh adaptor sends the environment as SSH "env"
#: requests, which a default sshd (no AcceptEnv) refuses, and at and torque
#: write it into their scripts inside double quotes ($, ` and " mangled).
_ENVIRONMENT = ('n=$1; shift; while [ "$n" -gt 0 ]; do export "$1"; shift; n=$((n-1)); done; '
                'exec "$@"')


def with_environment(fields: dict[str, Any]) -> dict[str, Any]:
    """Args: fields: a job description's fields (names checked by `jobspec.parse`).

    Returns: the same job with its ``environment`` set by a shell started
    first (the variables reach the job on every scheduler and server).
    """
    environment = fields.get("environment") or {}
    fields = {k: v for k, v in fields.items() if k != "environment"}
    if not environment:
        return fields
    fields["arguments"] = ["-c", _ENVIRONMENT, "xenonfs-job", str(len(environment)),
                           *(f"{k}={v}" for k, v in environment.items()),
                           fields["executable"], *fields.get("arguments", [])]
    fields["executable"] = "/bin/sh"
    return fields


def _check_start_time(adaptor: str, fields: dict[str, Any]) -> None:
    """Raises: OSError (EINVAL) for a ``start_time`` the scheduler would
    ignore: local and ssh start every job at once."""
    start = fields.get("start_time")
    if adaptor in ("local", "ssh") and start not in (None, "now"):
        raise OSError(errno.EINVAL, f"start_time: the {adaptor} scheduler starts a job at "
                      f"once and cannot start it at {start!r} (leave start_time out, or use "
                      "scheduler=at:// or slurm://)")


def redirected(fields: dict[str, Any]) -> dict[str, Any]:
    """Args: fields: a batch job description's fields.

    Returns: the same job with its stdin/stdout/stderr opened by the job's
    shell instead of by the engine. The engine's ssh adaptor copies them over
    its one sftp channel, which is not safe for concurrent use: a job that
    started while the previous one's output was being closed failed ("Failed
    to retrieve attributes") or never ended.
    """
    fields = dict(fields)
    streams = [fields.pop(k, None) or "/dev/null" for k in ("stdout", "stderr", "stdin")]
    fields["arguments"] = ["-c", _REDIRECT, "xenonfs-job", *streams, fields["executable"],
                           *fields.get("arguments", [])]
    fields["executable"] = "/bin/sh"
    return fields


def scheduler_for(source: Source, url: str | None) -> tuple[str, str]:
    """Args: source: the mount's source; url: the ``scheduler=`` option.

    Returns:
        (adaptor, location) for `XenonClient.create_scheduler`.

    Raises:
        ValueError: unknown scheme, or no default for this kind of mount.
    """
    if not url:
        if source.adaptor == "file":
            return "local", ""
        if source.adaptor == "sftp":
            return "ssh", source.location  # same host and port, same credential
        raise ValueError(f"{source.adaptor} mounts have no default scheduler: give "
                         "-o scheduler=URL (e.g. ssh://host)")
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ValueError(f"scheduler {url!r}: unknown scheme {parts.scheme!r} "
                         f"(known: {', '.join(SCHEMES)})")
    adaptor, over_ssh = SCHEMES[parts.scheme]
    host = parts.hostname or ""
    if adaptor == "ssh":
        return adaptor, f"{host}:{parts.port}" if parts.port else host
    if over_ssh:
        return adaptor, f"ssh://{host}:{parts.port}" if parts.port else f"ssh://{host}"
    return adaptor, "local://" if adaptor in ("at", "slurm", "gridengine", "torque") else ""


def _props(properties: dict[str, str], adaptor: str) -> dict[str, str]:
    """Returns: the engine properties for scheduler ``adaptor`` (for ssh also
    the sftp ones of the mount, renamed: one login, one set of settings)."""
    return {k.replace(".filesystems.sftp.", ".schedulers.ssh."): v
            for k, v in properties.items()
            if k.startswith(f"xenon.adaptors.schedulers.{adaptor}.")
            or (adaptor == "ssh" and k.startswith("xenon.adaptors.filesystems.sftp."))}


def _ssh_props(properties: dict[str, str]) -> dict[str, str]:
    """Returns: the ssh scheduler's properties (see `_props`); without strict
    host key checking, known_hosts is not loaded either: the engine's SSH
    library otherwise adds (and replaces) the server's key in
    ~/.ssh/known_hosts, which later strict mounts and OpenSSH then trust."""
    props = _props(properties, "ssh")
    if props.get("xenon.adaptors.schedulers.ssh.strictHostKeyChecking", "true") == "false":
        props["xenon.adaptors.schedulers.ssh.loadKnownHosts"] = "false"
    return props


def _sched_key(engine_id: str | None) -> str:
    """Returns: a short name for engine scheduler ``engine_id`` (its own ids
    are long: ``ssh://user@host:22#338409102``)."""
    return hashlib.sha1((engine_id or "").encode()).hexdigest()[:6]


def _state(status: JobStatus, adaptor: str = "") -> JobState:
    error = status.error_message or None
    exit_code = status.exit_code
    if status.error_type is JobStatus.ErrorType.CANCELLED:
        # The engine says 0 for a killed job; it did not exit 0.
        exit_code, error = None, error or "cancelled"
    elif status.error_type is not JobStatus.ErrorType.NONE and exit_code == 0:
        exit_code = None  # 0 is what the message carries when the job has no exit code
    # local/ssh enter ERROR only when the process could not be started (the
    # engine's JobExecutor); a job that ran ends DONE or KILLED.
    never_started = adaptor in ("local", "ssh") and status.state == "ERROR"
    return JobState(status.state, status.running, status.done, exit_code, error, never_started)


#: Seconds a status poll or cancel waits for a restarting engine.
ENGINE_WAIT = 60.0

#: A local or ssh job of an engine run (or scheduler connection) that has
#: ended: the engine knew it only in memory.
_GONE_WITH_ITS_ENGINE = JobState("UNKNOWN", False, True, None,
                                 "the engine that ran this job, or its connection to the "
                                 "scheduler, has been restarted since, and it kept the job in "
                                 "memory only")


class EngineJobRunner:
    """Runs a mount's jobs on an engine scheduler.

    Args:
        client: the engine client.
        scheduler: the engine scheduler.
        fs: the mount's file system (for output directories and files).
        description: ``adaptor:location`` shown in status.json.
        calls: the mount's limiter for calls on ``fs``.
    """

    def __init__(self, client: XenonClient, scheduler: Scheduler, fs: FileSystem,
                 description: str, calls: trio.CapacityLimiter) -> None:
        self.client = client
        # The mount's own limiter for calls on ``fs`` (sftp: one at a time).
        self.calls = calls
        self.sched = scheduler
        self.fs = fs
        self.scheduler = description
        self.exit_code_known = not description.startswith("at:")
        self.adaptor = description.split(":", 1)[0]
        # local and ssh jobs live in the engine's memory, numbered afresh by
        # every JVM run: their ids carry the run (`_qualify`).
        self._run_scoped = self.adaptor in ("local", "ssh")
        # Over ssh each interactive job is a session of one SSH connection, and
        # sshd refuses more than MaxSessions (10 by default): we keep 2 spare.
        self.max_interactive = SSH_INTERACTIVE if description.startswith("ssh:") else None
        # Engine schedulers of this run that earlier workers of the mount
        # opened (by `_sched_key`; None: closed), asked about their own jobs.
        self._earlier: dict[str, Scheduler | None] = {}
        self._reopen_lock = trio.Lock()
        #: The connection was seen closed: re-create it before the next call.
        self._stale = False

    async def _fresh(self) -> None:
        """Re-create the scheduler when its connection was seen closed (see
        `_note`). The engine's SSH library closes one idle for 10 minutes, and
        a server may drop it; the engine never opens it again, and its
        ``isOpen`` still says true.

        Raises:
            OSError: EIO, it cannot be re-created (the message says why).
        """
        if not self._stale:
            return
        async with self._reopen_lock:
            if not self._stale:
                return
            try:
                await self.sched.reconnect()
            except errors.XenonException as exc:
                raise OSError(exc.errno or errno.EIO, "the scheduler's connection was closed "
                              f"and could not be made again: {exc}") from None
            self._stale = False
            log.warning("%s: the scheduler's connection was closed; made it again",
                        self.scheduler)

    def _note(self, message: str | None) -> bool:
        """Args: message: an engine error (of a call, or of a job that did not start).

        Returns: True when it says the connection is closed (the scheduler is
        then re-created before its next use)."""
        if self.adaptor != "local" and message and LOST.search(message):
            self._stale = True
        return self._stale

    async def _call(self, op: Callable[[], Awaitable[T]]) -> T:
        """Run ``op`` (a call that did nothing when it failed: a submission that
        could not start, a question) on a fresh scheduler; when its error says
        the connection is closed, again once on a re-created one.

        Raises:
            XenonException: what ``op`` raised; OSError: see `_fresh`.
        """
        await self._fresh()
        try:
            return await op()
        except errors.XenonException as exc:
            if not self._note(str(exc)):
                raise
            log.warning("%s: %s", self.scheduler, exc)
        await self._fresh()
        return await op()

    def _run_key(self, run_id: str) -> str:
        """Returns: what a run-scoped id carries: the engine run, and which of
        its schedulers ran the job (one made again after its connection closed,
        or by the next worker of the mount, numbers its jobs from 0 again)."""
        return f"{run_id}-{_sched_key(self.sched.engine_id)}"

    def _qualify(self, engine_id: str) -> str:
        """Returns: the id shown to users and kept: ``local-0.9f2c1a-4be01c`` for
        a job of engine run 9f2c1a on its scheduler 4be01c, where the engine's
        own id alone (``local-0``) comes back in every run and would name two
        jobs, or ask a new engine about an unrelated job."""
        if not self._run_scoped:
            return engine_id
        return f"{engine_id}.{self._run_key(self.client.engine.endpoint().run_id)}"

    async def _engine_ids(self, job_ids: list[str]
                          ) -> tuple[list[tuple[Scheduler, str] | None], str]:
        """Returns: for each job we gave an id, the engine scheduler that runs
        it and its id there, or None where that scheduler or the engine run
        has ended (its memory was the only record); and the current run key
        (see `_same_run`).

        Raises:
            OSError: EIO, the engine is not back within `ENGINE_WAIT` (asking a
                restarting one blindly could name another run's job), or
                the scheduler cannot be made again.
        """
        if not self._run_scoped:
            return [(self.sched, job_id) for job_id in job_ids], ""
        try:
            run = (await self.client.engine.wait_ready(ENGINE_WAIT)).run_id
            await self.sched.remote_handle()  # made again after a restart: its id is in the key
        except EngineError as exc:
            raise OSError(errno.EIO, str(exc)) from None
        except errors.XenonException as exc:
            self._note(str(exc))
            raise OSError(exc.errno, str(exc)) from None
        current = self._run_key(run)
        result: list[tuple[Scheduler, str] | None] = []
        for job_id in job_ids:
            engine_id, dot, tail = job_id.rpartition(".")
            job_run, dash, key = tail.partition("-")
            if not dot or (job_run == run and not dash):  # kept before ids carried these
                result.append((self.sched, engine_id or job_id))
            elif tail == current:
                result.append((self.sched, engine_id))
            elif job_run == run and (sched := await self._earlier_scheduler(key)):
                result.append((sched, engine_id))
            else:
                result.append(None)
        return result, current

    async def _earlier_scheduler(self, key: str) -> Scheduler | None:
        """Returns: the engine scheduler `_sched_key` ``key`` of this engine run
        that an earlier worker of this mount opened (killed, it left it open,
        and its jobs running in it), or None when the engine has closed it.

        Raises:
            OSError: the engine cannot list its schedulers.
        """
        if key not in self._earlier:
            try:
                open_ids = await self.client.list_schedulers()
            except errors.XenonException as exc:
                raise OSError(exc.errno, str(exc)) from None
            found = [i for i in open_ids if _sched_key(i) == key and i != self.sched.engine_id]
            self._earlier[key] = (self.client.attach_scheduler(found[0], self.adaptor)
                                  if found else None)
            if found:
                log.info("%s: asking the scheduler an earlier worker of this mount opened (%s) "
                         "about its jobs", self.scheduler, found[0])
        return self._earlier[key]

    async def _close_earlier(self, sched: Scheduler) -> None:
        """Close an earlier worker's scheduler: none of our jobs on it runs, or
        it lost its connection (and they with it)."""
        for key, known in self._earlier.items():
            if known is sched:
                self._earlier[key] = None
        with contextlib.suppress(errors.XenonException):
            await sched.close()
        log.info("%s: closed the scheduler of an earlier worker (%s)", self.scheduler,
                 sched.location)

    def _same_run(self, run: str) -> None:
        """Raises: OSError (EIO) when the engine is no longer run ``run`` or its
        scheduler was made again: a call retried after a restart was answered
        by the new one, about its jobs."""
        if not self._run_scoped:
            return
        try:
            now = self._run_key(self.client.engine.endpoint().run_id)
        except EngineError as exc:
            raise OSError(errno.EIO, str(exc)) from None
        if now != run:
            raise OSError(errno.EIO, "the engine or its scheduler restarted during the call; "
                          "asking again")

    @classmethod
    async def create(cls, client: XenonClient, source: Source, url: str | None,
                     properties: dict[str, str], credential: Credential | None,
                     fs: FileSystem, calls: trio.CapacityLimiter) -> Any:
        """Returns: a runner for the mount (its scheduler connected): ours for
        the batch systems in `hpc.RUNNERS`, else one over the engine's adaptor.

        Raises:
            ValueError: a bad scheduler URL; XenonException: it cannot connect.
        """
        adaptor, location = scheduler_for(source, url)
        description = f"{adaptor}:{location}" if location else adaptor
        ssh_props = _ssh_props(properties)
        if adaptor in RUNNERS:
            host = location[len("ssh://"):] if location.startswith("ssh://") else ""
            commands = await CommandRunner.create(client, host, ssh_props,
                                                  credential if host else None)
            return RUNNERS[adaptor](commands, fs, description, calls)
        props = _props(properties, adaptor)
        if adaptor == "ssh" or location.startswith("ssh://"):
            # at/torque over ssh hand the engine's ssh scheduler the ssh.*
            # properties (ScriptingUtils merges them): the host key rule too.
            props.update(ssh_props)
        sched = await client.create_scheduler(adaptor, location, props,
                                              credential if adaptor != "local" else None)
        return cls(client, sched, fs, description, calls)

    async def submit_interactive(self, spec: dict[str, Any]) -> tuple[str, InteractiveJob]:
        fields = {k: v for k, v in spec.items() if k not in ("interactive", "stdout", "stderr",
                                                               "stdin")}
        _check_start_time(self.adaptor, fields)
        if self.adaptor != "local":
            fields = with_environment(fields)
        if not fields.get("queue_name") and self.adaptor in ("local", "ssh"):
            # Their default queue runs one job at a time: a second interactive
            # job would wait (minutes, then fail) behind the first one's stdin.
            fields["queue_name"] = "unlimited"
        try:
            description = JobDescription(**fields)
            job = await self._call(lambda: self.sched.submit_interactive_job(description))
        except errors.NoSuchQueueException:
            raise await self._unknown_queue(fields.get("queue_name")) from None
        except errors.XenonException as exc:
            raise OSError(exc.errno, str(exc)) from None
        return self._qualify(job.job.id), job

    async def submit(self, spec: dict[str, Any]) -> str:
        fields = {k: v for k, v in spec.items() if k != "interactive"}
        _check_start_time(self.adaptor, fields)
        if self.adaptor != "local":  # the local one passes it to the process itself
            fields = with_environment(fields)
        try:
            for stream in ("stdout", "stderr"):
                if fields.get(stream):
                    target = posixpath.join(fields["working_directory"], fields[stream])
                    await self._mkdirs(posixpath.dirname(target))
                    if self.adaptor == "ssh" and await self._calls_exists(target):
                        # What the engine says for the other adaptors, before submitting.
                        raise OSError(errno.EEXIST, f"{stream}: {target} exists (a job does "
                                                    "not write over a file)")
            if self.adaptor == "ssh":
                fields = redirected(fields)
            description = JobDescription(**fields)
            job = await self._call(lambda: self.sched.submit_batch_job(description))
        except errors.NoSuchQueueException:
            raise await self._unknown_queue(fields.get("queue_name")) from None
        except errors.XenonException as exc:
            if "start time" in str(exc):  # at: "Failed to parse start time: ..."
                raise OSError(errno.EINVAL, f"start_time: {exc}") from None
            raise OSError(exc.errno, str(exc)) from None
        return self._qualify(job.id)

    async def _unknown_queue(self, name: str | None) -> OSError:
        """Returns: the EINVAL a spec naming a queue the scheduler lacks gets."""
        try:
            known = ", ".join(await self.sched.get_queue_names())
        except errors.XenonException:
            known = "?"
        return OSError(errno.EINVAL, f"queue_name: no queue {name!r} (queues: {known})")

    async def _calls_exists(self, path: str) -> bool:
        return await on_fs(self.fs, self.calls, lambda: self.fs.exists(path))

    async def _mkdirs(self, path: str) -> None:
        try:
            await on_fs(self.fs, self.calls, lambda: self.fs.create_directories(path))
        except errors.PathAlreadyExistsException:
            pass

    async def statuses(self, job_ids: list[str]) -> list[JobState]:
        await self._fresh()
        where, run = await self._engine_ids(job_ids)
        result = [_GONE_WITH_ITS_ENGINE] * len(job_ids)
        groups: dict[Scheduler, list[tuple[int, str]]] = {}
        for index, found in enumerate(where):
            if found is not None:
                groups.setdefault(found[0], []).append((index, found[1]))
        for sched, jobs in groups.items():
            indexes = [index for index, _ in jobs]
            try:
                answers = await sched.get_job_statuses([engine_id for _, engine_id in jobs])
            except errors.XenonException as exc:
                if sched is self.sched:
                    self._note(str(exc))  # re-created before the next poll
                elif isinstance(exc, errors.SchedulerClosedException) or LOST.search(str(exc)):
                    await self._close_earlier(sched)  # its jobs ended with its connection
                    continue
                raise OSError(exc.errno, str(exc)) from None
            for index, status in zip(indexes, answers):
                result[index] = self._job_state(status, sched is self.sched)
            if sched is not self.sched and all(result[i].done for i in indexes):
                await self._close_earlier(sched)
        self._same_run(run)
        return result

    def _job_state(self, status: JobStatus, ours: bool) -> JobState:
        """Returns: what ``status`` says of a job (``ours``: on our scheduler,
        not an earlier worker's)."""
        if status.error_type is JobStatus.ErrorType.NOT_FOUND and not status.done:
            if self.scheduler.startswith("at:"):
                # An at job leaves the queue when it has run; an engine that
                # did not submit it (after a restart) then says "not found".
                return JobState("DONE", False, True, None, None)
            # local/ssh forget a job after its first done status; if we
            # never saw that status (we were not running), we cannot know.
            return JobState("UNKNOWN", False, True, None, "the scheduler no longer knows this job")
        state = _state(status, self.adaptor)
        if state.never_started and ours:
            self._note(state.error)  # re-created before it is submitted again
        return state

    async def cancel(self, job_id: str) -> JobState:
        await self._fresh()
        [found], run = await self._engine_ids([job_id])
        if found is None:
            return _GONE_WITH_ITS_ENGINE
        sched, engine_id = found
        try:
            state = _state(await sched.cancel_job(engine_id))
            self._same_run(run)
            return state
        except errors.NoSuchJobException:
            return JobState("UNKNOWN", False, True, None, "the scheduler no longer knows this job")
        except errors.XenonException as exc:
            if sched is self.sched:
                self._note(str(exc))
            raise OSError(exc.errno, str(exc)) from None

    async def queues(self) -> list[dict[str, Any]]:
        try:
            statuses = await self._call(self.sched.get_queue_statuses)
            default = await self._call(self.sched.get_default_queue_name)
        except errors.XenonException as exc:
            raise OSError(exc.errno, str(exc)) from None
        return [{"name": q.name, "default": q.name == default, "error": q.error_message or None,
                 "info": dict(q.scheduler_specific_information)} for q in statuses]

    async def read_output(self, path: str) -> bytes:
        return await read_output(self.fs, self.calls, path)

    async def close(self) -> None:
        """Close the engine scheduler."""
        try:
            await self.sched.close()
        except errors.XenonException:
            pass
