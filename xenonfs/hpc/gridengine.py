"""`gridengine://` and `gridengine+ssh://host`: a mount's jobs on (Sun/Son of) Grid Engine.

Drives qsub, qstat, qacct and qdel through a `CommandRunner` (this machine or a
login shell over ssh), so it needs nothing on the cluster but the tools a user
has after ``ssh host``; tested against Debian's gridengine 8.1.9. The engine's
own gridengine adaptor is not used: it refuses 8.1.9 unless told to ignore the
version, and cannot read the exit status qacct 8.1.9 prints for a job ended by a
signal (``137 (Killed)``).

One poll is one ``qstat -xml`` for all of a mount's jobs; only jobs that have left
qstat are looked up in the accounting (one ``qacct`` command line for all of them).
"""

from __future__ import annotations

import errno
import posixpath
import re
import shlex
import time
from typing import Any

from ..vfs.jobs import JobState
from .gridengine_output import (error_reasons, parse_qacct, parse_qstat_xml,
                                parse_queue_summary, state_from_accounting, state_from_qstat)
from .scripted import ScriptedJobRunner

#: Seconds a job that has left qstat may take to show up in qacct (gridengine
#: writes accounting every ``flush_time``, 15 s by default) before we give up on it.
ACCOUNTING_GRACE = 90.0
#: Runs ``qacct -j`` once per argument, in one command line.
QACCT_EACH = ["/bin/sh", "-c", 'for j do qacct -j "$j"; done', "qacct-each"]
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _bad(key: str, why: str) -> OSError:
    return OSError(errno.EINVAL, f"{key}: {why}")


def job_name(name: str) -> str:
    """Returns: ``name`` as gridengine takes it (letters, digits, ``._-``, not
    starting with a digit: qsub refuses "1abc" and names with blanks)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", name) or "xenonfs"
    return cleaned if cleaned[0].isalpha() else f"j{cleaned}"


def _file_option(spec: dict[str, Any], key: str) -> str:
    """Returns: the absolute path of a spec's stdin/stdout/stderr file for qsub.

    Raises:
        OSError: EINVAL for a path qsub would misread (``host:path,...`` lists).
    """
    path = posixpath.normpath(posixpath.join(spec["working_directory"], spec[key]))
    if ":" in path or "," in path:
        raise _bad(key, f"gridengine cannot take a path with ':' or ',' ({path!r})")
    return path


def _check_unsupported(spec: dict[str, Any]) -> None:
    """Raises: OSError EINVAL for fields this runner cannot honour (named, with
    what to write instead)."""
    extra = spec.get("scheduler_arguments") or []
    parallel = any((spec.get(k) or 1) > 1 for k in ("tasks", "cores_per_task", "tasks_per_node"))
    if parallel and "-pe" not in extra:
        raise _bad("tasks/cores_per_task", "more than one slot needs a parallel environment "
                   'of the cluster: add scheduler_arguments = ["-pe", "NAME", "SLOTS"]')
    if spec.get("start_per_task"):
        raise _bad("start_per_task", "not supported for gridengine (start the tasks "
                   "yourself, e.g. with mpirun, in a job with -pe)")
    if spec.get("start_time") not in (None, "", "now"):
        raise _bad("start_time", 'not supported for gridengine: use scheduler_arguments = '
                   '["-a", "[[CC]YY]MMDDhhmm"]')
    if spec.get("temp_space"):
        raise _bad("temp_space", "gridengine has no standard resource for it: ask for your "
                   'cluster\'s one with scheduler_arguments = ["-l", "NAME=SIZE"]')
    for key in spec.get("environment") or {}:
        if not ENV_NAME.fullmatch(key):
            raise _bad("environment", f"{key!r} is not a variable name")


def qsub_argv(spec: dict[str, Any]) -> list[str]:
    """Args: spec: a filled-in batch job spec (`vfs.jobspec.fill`).

    Returns:
        The qsub command (the job script goes on its stdin, see `job_script`).

    Raises:
        OSError: EINVAL for a spec gridengine cannot run as given (the key is named).
    """
    _check_unsupported(spec)
    argv = ["qsub", "-terse", "-S", "/bin/sh", "-N", job_name(spec.get("name") or ""),
            "-wd", spec["working_directory"]]
    out = _file_option(spec, "stdout") if spec.get("stdout") else "/dev/null"
    err = _file_option(spec, "stderr") if spec.get("stderr") else "/dev/null"
    if out == err and out != "/dev/null":
        argv += ["-j", "y", "-o", out]  # one file opened twice would overwrite itself
    else:
        argv += ["-o", out, "-e", err]
    if spec.get("stdin"):
        argv += ["-i", _file_option(spec, "stdin")]
    if spec.get("queue_name"):
        argv += ["-q", spec["queue_name"]]
    if spec.get("max_runtime"):
        argv += ["-l", f"h_rt={spec['max_runtime'] * 60}"]  # minutes -> seconds
    if spec.get("max_memory"):
        # A hard limit (the job is stopped beyond it), as "max" says; in MiB.
        argv += ["-l", f"h_vmem={spec['max_memory']}M"]
    return argv + list(spec.get("scheduler_arguments") or [])


def job_script(spec: dict[str, Any]) -> str:
    """Returns: the job script: the environment set by the shell (``-v`` would cut
    values at commas), then the program in place of the shell (its exit status
    is the job's)."""
    lines = ["#!/bin/sh"]
    lines += [f"export {k}={shlex.quote(v)}" for k, v in (spec.get("environment") or {}).items()]
    lines.append("exec " + shlex.join([spec["executable"], *(spec.get("arguments") or [])]))
    return "\n".join(lines) + "\n"


class GridEngineRunner(ScriptedJobRunner):
    """A mount's jobs on gridengine (see the module's doc)."""

    system = "gridengine"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._cancelled: set[str] = set()  # qdel'd by us: a signal death is "cancelled"
        self._gone_since: dict[str, float] = {}  # left qstat, no accounting record yet
        # Final states once known: a poll that raced a cancel must not answer differently.
        self._final: dict[str, JobState] = {}

    async def submit(self, spec: dict[str, Any]) -> str:
        """Returns: the gridengine job id. Raises: OSError (EINVAL: refused spec, named)."""
        argv = qsub_argv(spec)
        await self.mkdirs_for(spec)
        result = await self.run(argv, stdin=job_script(spec), check=False)
        if result.exit_code != 0:
            raise await self._refused(spec, (result.stderr or result.stdout).strip())
        job_id = result.stdout.strip().split(".")[0]  # -terse: "ID" (array jobs: "ID.1-9:1")
        if not job_id.isdigit():
            raise OSError(errno.EIO, f"qsub printed no job id: {result.stdout.strip()[:200]!r}")
        return job_id

    async def _refused(self, spec: dict[str, Any], message: str) -> OSError:
        """Returns: the error for a failed qsub: EINVAL when gridengine refused the
        job (unknown queue named with the known ones, a denied option), else EIO."""
        message = " ".join(line for line in message.splitlines() if line.strip() != "Exiting.")
        if "unknown queue" in message and spec.get("queue_name"):
            try:
                known = ", ".join(q["name"] for q in await self.queues())
            except OSError:
                known = "?"
            return _bad("queue_name", f"no queue {spec['queue_name']!r} (queues: {known})")
        if re.search(r"rejected|denied|invalid option|unknown option|unknown resource", message):
            return OSError(errno.EINVAL, f"qsub refused the job: {message}")
        return OSError(errno.EIO, f"qsub failed: {message}")

    async def _statuses(self, job_ids: list[str]) -> list[JobState]:
        found = {j: self._final[j] for j in job_ids if j in self._final}
        asked = [j for j in job_ids if j not in found]
        if asked:
            found.update(await self._query(asked))
        for job_id, state in found.items():
            if state.done:
                self._final[job_id] = state
        return [found[j] for j in job_ids]

    async def _query(self, job_ids: list[str]) -> dict[str, JobState]:
        """Returns: states from one qstat, plus qacct for jobs no longer in it."""
        listed = parse_qstat_xml((await self.run(["qstat", "-xml"])).stdout)
        found: dict[str, JobState] = {}
        in_error = [j for j in job_ids if "E" in listed.get(j, "")]
        for job_id in job_ids:
            if job_id in listed and job_id not in in_error:
                found[job_id] = state_from_qstat(listed[job_id])
        if in_error:
            found.update(await self._end_errored(in_error))
        gone = [j for j in job_ids if j not in listed]
        if gone:
            found.update(await self._finished(gone))
        return found

    async def _end_errored(self, job_ids: list[str]) -> dict[str, JobState]:
        """A job in error state (e.g. its working directory was missing on the node)
        waits for an administrator forever: report why, and delete it."""
        shown = await self.run(["qstat", "-j", ",".join(job_ids)], check=False)
        reasons = error_reasons(shown.stdout)
        await self.run(["qdel", *job_ids], check=False)
        return {j: JobState("ERROR", False, True, None,
                            f"gridengine put the job in error state "
                            f"({reasons.get(j, 'no reason given')}); xenonfs deleted it")
                for j in job_ids}

    async def _finished(self, job_ids: list[str]) -> dict[str, JobState]:
        """States of jobs that have left qstat, from their accounting records."""
        result = await self.run([*QACCT_EACH, *job_ids], check=False)
        try:
            records = parse_qacct(result.stdout)
        except ValueError as exc:
            raise OSError(errno.EIO, f"qacct: {exc}") from None
        found: dict[str, JobState] = {}
        now = time.monotonic()
        for job_id in job_ids:
            if job_id in records:
                found[job_id] = state_from_accounting(records[job_id], job_id in self._cancelled)
            elif job_id in self._cancelled:  # deleted before it ran: no record is written
                found[job_id] = JobState("KILLED", False, True, None, "cancelled")
            elif now - self._gone_since.setdefault(job_id, now) > ACCOUNTING_GRACE:
                found[job_id] = JobState(
                    "UNKNOWN", False, True, None,
                    f"job {job_id} left qstat but qacct has no record of it after "
                    f"{ACCOUNTING_GRACE:.0f} s (deleted before it ran, or accounting is off)")
            else:  # ended; the accounting file is written every flush_time
                found[job_id] = JobState("COMPLETING", False, False)
            if found[job_id].done:
                self._gone_since.pop(job_id, None)
        return found

    async def _cancel(self, job_id: str) -> JobState:
        """qdel the job; a job that has already ended keeps its own final state."""
        deleted = await self.run(["qdel", job_id], check=False)
        if deleted.exit_code == 0:
            self._cancelled.add(job_id)
        return (await self._statuses([job_id]))[0]

    async def queues(self) -> list[dict[str, Any]]:
        """Returns: the cluster queues (``qstat -g c``); gridengine has no default
        queue (a job goes to any queue that fits it), so only a lone queue is
        marked default."""
        queues = parse_queue_summary((await self.run(["qstat", "-g", "c"])).stdout)
        for queue in queues:
            queue["default"] = len(queues) == 1
        return [{"name": q["name"], "default": q["default"], "error": q["error"],
                 "info": q["info"]} for q in queues]

    def interactive_argv(self, spec: dict[str, Any]) -> list[str]:
        """Raises: OSError ENOTSUP: interactive gridengine jobs are not offered."""
        raise OSError(errno.ENOTSUP, "gridengine jobs cannot be interactive in xenonfs "
                      "(qrsh needs the cluster's interactive login set up); submit a batch "
                      "job and read .jobs/NAME/stdout")


__all__ = ["GridEngineRunner", "qsub_argv", "job_script", "job_name"]
