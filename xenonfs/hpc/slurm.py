"""Slurm for `.jobs/` (``scheduler=slurm://`` and ``slurm+ssh://host``).

xenonfs drives Slurm's own tools (sbatch, squeue, sacct, scancel, sinfo,
srun) through the engine's `local` or `ssh` scheduler instead of using the
engine's slurm adaptor, which supports Slurm <= 17 only (README "Slurm").
"""

from __future__ import annotations

import errno
import secrets
from typing import Any

import trio

from ..vfs.jobs import JobState
from . import slurm_text as text
from .scripted import INTERACTIVE, ScriptedJobRunner

#: How long `cancel` waits for Slurm to report the job ended (scancel only asks).
CANCEL_WAIT = 5.0
GONE = ("the scheduler no longer knows this job (it left squeue and sacct has no "
        "record: Slurm without accounting keeps finished jobs for MinJobAge only)")


class SlurmRunner(ScriptedJobRunner):
    """A mount's jobs on Slurm. See `ScriptedJobRunner` for the arguments."""

    system = "slurm"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Interactive job id -> the comment of its Slurm job.
        self._comments: dict[str, str] = {}

    async def submit(self, spec: dict[str, Any]) -> str:
        """Submit a batch job with ``sbatch --parsable`` (the script on its stdin).

        Returns:
            Slurm's job id.

        Raises:
            OSError: EINVAL for a job Slurm refuses (an unknown queue names the
                known ones), EIO when Slurm cannot be reached.
        """
        script = text.batch_script(spec)
        await self.mkdirs_for(spec)  # sbatch does not create output directories
        result = await self.run(text.sbatch_argv(spec), stdin=script, check=False)
        if result.exit_code != 0:
            if text.unknown_queue(result.stderr):
                raise await self._unknown_queue(spec.get("queue_name"))
            raise text.submit_error(result.stderr, result.exit_code)
        return text.submitted_id(result.stdout)

    async def _unknown_queue(self, name: str | None) -> OSError:
        try:
            known = ", ".join(q["name"] for q in await self.queues())
        except OSError:
            known = "?"
        return OSError(errno.EINVAL, f"queue_name: no queue {name!r} (queues: {known})")

    async def _statuses(self, job_ids: list[str]) -> list[JobState]:
        """One ``squeue`` for all jobs; ``sacct`` only for jobs it no longer has."""
        result = await self.run(["squeue", "-h", "-t", "all", "-j", ",".join(job_ids),
                                 "-O", text.SQUEUE_FORMAT], check=False)
        if result.exit_code == 0:
            found = text.parse_squeue(result.stdout)
        elif "invalid job id" in result.stderr.lower():
            found = {}  # none of them is known any more
        else:
            raise OSError(errno.EIO, f"squeue exited {result.exit_code}: "
                          f"{result.stderr.strip()[-300:]}")
        missing = [j for j in job_ids if j not in found]
        if missing:
            found.update(await self._accounted(missing))
        return [found.get(j) or JobState("UNKNOWN", False, True, None, GONE) for j in job_ids]

    async def _accounted(self, job_ids: list[str]) -> dict[str, JobState]:
        """Returns: states from Slurm's accounting (empty where it is disabled)."""
        result = await self.run(["sacct", "-n", "-P", "-X", "-j", ",".join(job_ids),
                                 "-o", text.SACCT_FIELDS], check=False)
        return text.parse_sacct(result.stdout) if result.exit_code == 0 else {}

    async def _cancel(self, job_id: str) -> JobState:
        """``scancel``, then wait (briefly) for Slurm to say the job ended."""
        result = await self.run(["scancel", job_id], check=False)
        if result.exit_code != 0 and "already completing or completed" not in result.stderr \
                and "invalid job id" not in result.stderr.lower():
            raise OSError(errno.EIO, f"scancel {job_id} exited {result.exit_code}: "
                          f"{result.stderr.strip()[-300:]}")
        with trio.move_on_after(CANCEL_WAIT):
            while True:
                state = (await self._statuses([job_id]))[0]
                if state.done:
                    return state
                await trio.sleep(0.3)
        return state

    async def queues(self) -> list[dict[str, Any]]:
        """Returns: the partitions ``sinfo`` shows (its default one marked)."""
        result = await self.run(["sinfo", "-h", "-o", text.SINFO_FORMAT])
        return text.parse_sinfo(result.stdout)

    async def submit_interactive(self, spec: dict[str, Any]) -> tuple[str, Any]:
        """Start an interactive job under srun.

        Returns:
            (job id, its streams).

        Raises:
            OSError: EINVAL for an unknown queue (checked first: srun would only
                say so in the job's stderr).
        """
        queue = spec.get("queue_name")
        if queue and queue not in [q["name"] for q in await self.queues()]:
            raise await self._unknown_queue(queue)
        comment = f"xenonfs-{secrets.token_hex(8)}"
        job = await self.commands.start(text.srun_argv(spec, comment),
                                        spec.get("working_directory"),
                                        spec.get("environment") or None)
        job_id = INTERACTIVE + self.commands.job_key(job.job.id)
        self._comments[job_id] = comment
        return job_id, job

    async def cancel(self, job_id: str) -> JobState:
        """Cancel a job; an interactive one in Slurm first (scancel by its
        comment), then its srun: over ssh, ending the engine's job only closes
        the channel, and srun with its Slurm job would run on."""
        comment = self._comments.pop(job_id, None)
        if comment:
            found = await self.run(["squeue", "-h", "-o", "%A|%k"], check=False)
            ids = text.ids_with_comment(found.stdout, comment)
            if ids:
                await self.run(["scancel", *ids], check=False)
        return await super().cancel(job_id)
