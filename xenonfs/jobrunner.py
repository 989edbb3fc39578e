"""The `.jobs/` directory's scheduler over the engine (wiring: knows the client
and the vfs's `JobRunner` protocol)."""

from __future__ import annotations

import errno
import posixpath
from typing import Any
from urllib.parse import urlsplit

import trio

from .client import FileSystem, JobDescription, Scheduler, XenonClient, errors
from .client.scheduler import InteractiveJob
from .client.types import Credential, JobStatus
from .engine.process import EngineError
from .hpc import RUNNERS
from .hpc.commands import CommandRunner
from .hpc.scripted import read_output
from .source import Source
from .vfs.jobs import JobState

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

#: A local or ssh job of an engine run that has ended: that engine knew it only in memory.
_GONE_WITH_ITS_ENGINE = JobState("UNKNOWN", False, True, None,
                                 "the engine that ran this job has restarted since, and it "
                                 "kept the job in memory only")


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

    def _qualify(self, engine_id: str) -> str:
        """Returns: the id shown to users and kept: ``local-0.9f2c1a`` for a job
        of engine run 9f2c1a, where the engine's own id alone (``local-0``)
        comes back in every run and would name two jobs, or ask a new engine
        about an unrelated job."""
        if not self._run_scoped:
            return engine_id
        return f"{engine_id}.{self.client.engine.endpoint().run_id}"

    async def _engine_ids(self, job_ids: list[str]) -> tuple[list[str | None], str]:
        """Returns: the engine's id of each job we gave an id, or None where the
        engine run that knew it has ended (it cannot know it any more); and the
        current run (see `_same_run`).

        Raises:
            OSError: EIO, the engine is not back within `ENGINE_WAIT` (asking a
                restarting one blindly could name another run's job).
        """
        if not self._run_scoped:
            return list(job_ids), ""
        try:
            current = (await self.client.engine.wait_ready(ENGINE_WAIT)).run_id
        except EngineError as exc:
            raise OSError(errno.EIO, str(exc)) from None
        result: list[str | None] = []
        for job_id in job_ids:
            engine_id, dot, run = job_id.rpartition(".")
            if not dot:  # kept before ids carried their run
                result.append(job_id)
            else:
                result.append(engine_id if run == current else None)
        return result, current

    def _same_run(self, run: str) -> None:
        """Raises: OSError (EIO) when the engine is no longer run ``run``: a call
        retried after a restart was answered by the new run, about its jobs."""
        if not self._run_scoped:
            return
        try:
            now = self.client.engine.endpoint().run_id
        except EngineError as exc:
            raise OSError(errno.EIO, str(exc)) from None
        if now != run:
            raise OSError(errno.EIO, "the engine restarted during the call; asking again")

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
        ssh_props = _props(properties, "ssh")
        if adaptor in RUNNERS:
            host = location[len("ssh://"):] if location.startswith("ssh://") else ""
            commands = await CommandRunner.create(client, host, ssh_props,
                                                  credential if host else None)
            return RUNNERS[adaptor](commands, fs, description, calls)
        props = ssh_props if adaptor == "ssh" else _props(properties, adaptor)
        sched = await client.create_scheduler(adaptor, location, props,
                                              credential if adaptor != "local" else None)
        return cls(client, sched, fs, description, calls)

    async def submit_interactive(self, spec: dict[str, Any]) -> tuple[str, InteractiveJob]:
        fields = {k: v for k, v in spec.items() if k not in ("interactive", "stdout", "stderr",
                                                               "stdin")}
        if not fields.get("queue_name") and self.adaptor in ("local", "ssh"):
            # Their default queue runs one job at a time: a second interactive
            # job would wait (minutes, then fail) behind the first one's stdin.
            fields["queue_name"] = "unlimited"
        try:
            job = await self.sched.submit_interactive_job(JobDescription(**fields))
        except errors.NoSuchQueueException:
            raise await self._unknown_queue(fields.get("queue_name")) from None
        except errors.XenonException as exc:
            raise OSError(exc.errno, str(exc)) from None
        return self._qualify(job.job.id), job

    async def submit(self, spec: dict[str, Any]) -> str:
        fields = {k: v for k, v in spec.items() if k != "interactive"}
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
            job = await self.sched.submit_batch_job(JobDescription(**fields))
        except errors.NoSuchQueueException:
            raise await self._unknown_queue(fields.get("queue_name")) from None
        except errors.XenonException as exc:
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
        async with self.calls:
            return await self.fs.exists(path)

    async def _mkdirs(self, path: str) -> None:
        try:
            async with self.calls:
                await self.fs.create_directories(path)
        except errors.PathAlreadyExistsException:
            pass

    async def statuses(self, job_ids: list[str]) -> list[JobState]:
        engine_ids, run = await self._engine_ids(job_ids)
        asked = [e for e in engine_ids if e is not None]
        try:
            found = iter(await self.sched.get_job_statuses(asked) if asked else [])
        except errors.XenonException as exc:
            raise OSError(exc.errno, str(exc)) from None
        self._same_run(run)
        result = []
        for engine_id in engine_ids:
            if engine_id is None:
                result.append(_GONE_WITH_ITS_ENGINE)
                continue
            status = next(found)
            if status.error_type is JobStatus.ErrorType.NOT_FOUND and not status.done:
                if self.scheduler.startswith("at:"):
                    # An at job leaves the queue when it has run; an engine that
                    # did not submit it (after a restart) then says "not found".
                    result.append(JobState("DONE", False, True, None, None))
                    continue
                # local/ssh forget a job after its first done status; if we
                # never saw that status (we were not running), we cannot know.
                result.append(JobState("UNKNOWN", False, True, None,
                                       "the scheduler no longer knows this job"))
            else:
                result.append(_state(status, self.adaptor))
        return result

    async def cancel(self, job_id: str) -> JobState:
        [engine_id], run = await self._engine_ids([job_id])
        if engine_id is None:
            return _GONE_WITH_ITS_ENGINE
        try:
            state = _state(await self.sched.cancel_job(engine_id))
            self._same_run(run)
            return state
        except errors.NoSuchJobException:
            return JobState("UNKNOWN", False, True, None, "the scheduler no longer knows this job")
        except errors.XenonException as exc:
            raise OSError(exc.errno, str(exc)) from None

    async def queues(self) -> list[dict[str, Any]]:
        try:
            statuses = await self.sched.get_queue_statuses()
            default = await self.sched.get_default_queue_name()
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
