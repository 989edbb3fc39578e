"""The base of xenonfs's own batch scheduler runners (slurm, gridengine).

A runner drives the scheduler's command-line tools (sbatch, squeue, qsub ...)
through a `CommandRunner`, and implements the vfs's `JobRunner` protocol.
Subclasses say how to submit, poll (one command for all jobs per poll),
cancel and list queues; this class holds what they share: output files on
the mount's file system, interactive jobs started through the engine, and
closing.
"""

from __future__ import annotations

import errno
import logging
import posixpath
from typing import Any, Awaitable, Callable, TypeVar

import trio

from ..client import FileSystem, errors
from ..client.scheduler import InteractiveJob
from ..client.types import JobStatus
from ..vfs.jobs import JobState
from .commands import CommandError, CommandRunner

T = TypeVar("T")
log = logging.getLogger("xenonfs.jobs")
#: Prefix of the ids of interactive jobs (engine jobs, not the batch system's).
INTERACTIVE = "interactive:"
#: An interactive job of a connection to the host that has been made again since.
GONE = ("the connection to the scheduler's host that ran this job was lost and made again; "
        "the engine knew the job only on that connection")


async def on_fs(fs: FileSystem, calls: trio.CapacityLimiter,
                op: Callable[[], Awaitable[T]]) -> T:
    """Run ``op`` (one call on ``fs``) under ``calls``; when it fails because
    ``fs``'s connection was closed (the engine's SSH library closes one idle
    for 10 minutes and never opens it again: "client is closed"), make the
    connection again and run ``op`` once more.

    Returns:
        What ``op`` returns.

    Raises:
        XenonException: what ``op`` raised (the second time, after a reconnect).
    """
    try:
        async with calls:
            return await op()
    except (errors.NoSuchPathException, errors.PathAlreadyExistsException):
        raise  # answers, not failures
    except errors.XenonException as exc:
        async with calls:
            try:
                still_open = await fs.is_open()
            except errors.XenonException:
                still_open = False  # the engine cannot tell: a new one can
            if still_open:
                raise exc from None
            log.warning("%s: %s; connecting again", fs.adaptor, exc)
            await fs.reconnect()
    async with calls:
        return await op()


async def read_output(fs: FileSystem, calls: trio.CapacityLimiter, path: str) -> bytes:
    """Args: fs: the mount's file system; calls: its call limiter; path: remote file.

    Returns:
        The file's content so far (b"" if it does not exist yet).

    Raises:
        OSError: the engine's error, with its errno.
    """
    try:
        return await on_fs(fs, calls, lambda: fs.read_bytes(path))
    except errors.NoSuchPathException:
        return b""
    except errors.XenonException as exc:
        raise OSError(exc.errno, str(exc)) from None


class ScriptedJobRunner:
    """A mount's jobs on a batch system driven by its command-line tools.

    Args:
        commands: runs the tools on the scheduler's host.
        fs: the mount's file system (output directories and files).
        description: e.g. ``slurm:ssh://host`` (shown in status.json).
        calls: the mount's limiter for calls on ``fs``.
    """

    #: The batch system's name (``slurm``); set by subclasses.
    system = ""
    exit_code_known = True

    def __init__(self, commands: CommandRunner, fs: FileSystem, description: str,
                 calls: trio.CapacityLimiter) -> None:
        self.commands = commands
        self.fs = fs
        self.scheduler = description
        self.calls = calls
        # Over ssh each interactive job is a session of the runner's SSH
        # connection, as are its commands: sshd allows 10 (MaxSessions).
        self.max_interactive = 8 if commands.login else None

    # -- for subclasses ------------------------------------------------------------
    async def submit(self, spec: dict[str, Any]) -> str:
        """Args: spec: a filled-in job spec (see `vfs.jobspec.fill`).

        Returns:
            The batch system's job id.

        Raises:
            OSError: EINVAL for a spec the system refuses (named), EIO otherwise.
        """
        raise NotImplementedError

    async def _statuses(self, job_ids: list[str]) -> list[JobState]:
        """Args: job_ids: batch job ids. Returns: their states, in order (one
        command for all of them, not one per job)."""
        raise NotImplementedError

    async def _cancel(self, job_id: str) -> JobState:
        """Returns: the state after cancelling batch job ``job_id``."""
        raise NotImplementedError

    async def queues(self) -> list[dict[str, Any]]:
        """Returns: queues as ``{"name", "default", "error", "info"}``."""
        raise NotImplementedError

    def interactive_argv(self, spec: dict[str, Any]) -> list[str]:
        """Args: spec: a filled-in interactive job spec.

        Returns:
            The command that runs it attached to our streams (e.g. ``srun ...``).

        Raises:
            OSError: ENOTSUP where the system cannot (the message says why).
        """
        raise OSError(errno.ENOTSUP, f"{self.system} jobs cannot be interactive in xenonfs")

    # -- shared --------------------------------------------------------------------
    async def run(self, argv: list[str], stdin: str | None = None, check: bool = True) -> Any:
        """`CommandRunner.run`, for subclasses."""
        return await self.commands.run(argv, stdin, check)

    async def statuses(self, job_ids: list[str]) -> list[JobState]:
        """Returns: states of batch and interactive jobs, in order."""
        batch = [j for j in job_ids if not j.startswith(INTERACTIVE)]
        live = [j for j in job_ids if j.startswith(INTERACTIVE)]
        found: dict[str, JobState] = {}
        if batch:
            found.update(zip(batch, await self._statuses(batch)))
        if live:
            found.update(zip(live, await self._interactive_statuses(live)))
        return [found[j] for j in job_ids]

    async def submit_interactive(self, spec: dict[str, Any]) -> tuple[str, InteractiveJob]:
        """Returns: (job id, its streams). Raises: OSError (ENOTSUP where refused)."""
        argv = self.interactive_argv(spec)
        job = await self.commands.start(argv, spec.get("working_directory"),
                                        spec.get("environment") or None)
        return INTERACTIVE + self.commands.job_key(job.job.id), job

    async def _interactive_statuses(self, job_ids: list[str]) -> list[JobState]:
        engine_ids = [self.commands.engine_id(j[len(INTERACTIVE):]) for j in job_ids]
        try:
            found = iter(await self.commands.job_statuses([e for e in engine_ids if e]))
        except errors.XenonException as exc:
            raise OSError(exc.errno, str(exc)) from None
        result = []
        for engine_id in engine_ids:
            status = next(found) if engine_id else None
            if status is None:
                result.append(JobState("UNKNOWN", False, True, None, GONE))
            elif status.error_type is JobStatus.ErrorType.NOT_FOUND:
                # The engine forgets a job after its first done status; we keep
                # the first one we see, so this is a job from before a restart.
                result.append(JobState("UNKNOWN", False, True, None,
                                       "the scheduler no longer knows this job"))
            else:
                cancelled = status.error_type is JobStatus.ErrorType.CANCELLED
                result.append(JobState(
                    status.state, status.running, status.done,
                    None if cancelled else status.exit_code,
                    "cancelled" if cancelled else status.error_message or None))
        return result

    async def cancel(self, job_id: str) -> JobState:
        """Returns: the state after cancelling ``job_id`` (batch or interactive)."""
        if not job_id.startswith(INTERACTIVE):
            return await self._cancel(job_id)
        engine_id = self.commands.engine_id(job_id[len(INTERACTIVE):])
        if engine_id is None:
            return JobState("UNKNOWN", False, True, None, GONE)
        try:
            await self.commands.sched.cancel_job(engine_id)
        except errors.NoSuchJobException:
            pass
        except errors.XenonException as exc:
            raise OSError(exc.errno, str(exc)) from None
        return JobState("KILLED", False, True, None, "cancelled")

    async def mkdirs_for(self, spec: dict[str, Any]) -> None:
        """Create the directories of a job's stdout/stderr files (the batch
        system will not)."""
        for stream in ("stdout", "stderr"):
            if spec.get(stream):
                target = posixpath.join(spec["working_directory"], spec[stream])
                try:
                    await on_fs(self.fs, self.calls, lambda: self.fs.create_directories(
                        posixpath.dirname(target)))
                except errors.PathAlreadyExistsException:
                    pass
                except errors.XenonException as exc:
                    raise OSError(exc.errno, str(exc)) from None

    async def read_output(self, path: str) -> bytes:
        """Returns: a remote output file's content so far (b"" if missing)."""
        return await read_output(self.fs, self.calls, path)

    async def close(self) -> None:
        """Close the command runner's engine scheduler."""
        await self.commands.close()


__all__ = ["ScriptedJobRunner", "CommandError", "INTERACTIVE"]
