"""What we say to Slurm's tools and what we read from them (no I/O here).

Built for the output of Slurm 22.05 and kept to formats that have been stable
since Slurm 17: ``squeue -O`` with our own separators, ``sacct -P``,
``sinfo -o``. Nothing parses ``scontrol show`` (its layout changed between
versions: that is one of the ways the engine's slurm adaptor breaks).
"""

from __future__ import annotations

import errno
import posixpath
import re
import shlex
import signal
from typing import Any, Iterator

from ..vfs.jobs import JobState

#: ``squeue -O``: fields ending in "|" (no width: no padding, no truncation).
SQUEUE_FORMAT = "JobID:|,State:|,exit_code:|,Reason:|"
#: ``sacct -o`` (for jobs that have left slurmctld's memory).
SACCT_FIELDS = "JobIDRaw,State,ExitCode,Reason"
#: ``sinfo -o``: partition (default marked "*"), availability, time limit,
#: nodes allocated/idle/other/total.
SINFO_FORMAT = "%P|%a|%l|%F"

PENDING = {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED",
           "RESV_DEL_HOLD", "SUSPENDED", "STOPPED", "SPECIAL_EXIT", "RESIZING"}
RUNNING = {"RUNNING", "COMPLETING", "SIGNALING", "STAGE_OUT"}
#: Done states in which the job was ended from outside: no exit code to report.
ENDED = {"CANCELLED": "cancelled",
         "TIMEOUT": "ran out of time (max_runtime)",
         "OUT_OF_MEMORY": "ran out of memory (max_memory)",
         "NODE_FAIL": "its node failed",
         "BOOT_FAIL": "its node failed to boot",
         "DEADLINE": "its deadline passed",
         "PREEMPTED": "preempted by another job",
         "REVOKED": "revoked (it ran on another cluster)"}
#: Reasons that say nothing beyond the state.
PLAIN_REASONS = {"", "None", "NonZeroExitCode"}
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _pattern(path: str) -> str:
    """Returns: ``path`` for sbatch's --output/--error/--input, where "%" starts
    a substitution (%j: the job id) and "%%" is a literal "%"."""
    return path.replace("%", "%%")


def _absolute(spec: dict[str, Any], key: str) -> str | None:
    value = spec.get(key)
    if not value:
        return None
    return posixpath.normpath(posixpath.join(spec["working_directory"], value))


def resource_options(spec: dict[str, Any]) -> list[str]:
    """Args: spec: a filled-in job spec.

    Returns:
        The options sbatch and srun share: name, partition, time, tasks, memory.
    """
    opts = [f"--job-name={spec.get('name') or 'xenonfs'}"]
    for key, option, unit in (("queue_name", "--partition", ""),
                              ("max_runtime", "--time", ""),  # minutes
                              ("tasks", "--ntasks", ""),
                              ("cores_per_task", "--cpus-per-task", ""),
                              ("tasks_per_node", "--ntasks-per-node", ""),
                              ("max_memory", "--mem", "M"),
                              ("temp_space", "--tmp", "M"),
                              ("start_time", "--begin", "")):
        value = spec.get(key)
        if value:
            opts.append(f"{option}={value}{unit}")
    return opts


def check_environment(spec: dict[str, Any]) -> None:
    """Raises: OSError EINVAL naming a variable a shell cannot set."""
    for name in spec.get("environment") or {}:
        if not _NAME_RE.fullmatch(name):
            raise OSError(errno.EINVAL, f"environment: {name!r} is not a valid variable name")


def sbatch_argv(spec: dict[str, Any]) -> list[str]:
    """Args: spec: a filled-in batch job spec.

    Returns:
        The sbatch command (the script goes to its stdin). Options are given on
        the command line, not as ``#SBATCH`` lines, so paths with spaces or
        quotes reach sbatch intact; the spec's ``scheduler_arguments`` come last
        and so win over ours.
    """
    argv = ["sbatch", "--parsable", f"--chdir={spec['working_directory']}",
            *resource_options(spec)]
    for key, option in (("stdout", "--output"), ("stderr", "--error"), ("stdin", "--input")):
        path = _absolute(spec, key)
        argv.append(f"{option}={_pattern(path) if path else '/dev/null'}")
    return argv + list(spec.get("scheduler_arguments") or [])


def batch_script(spec: dict[str, Any]) -> str:
    """Args: spec: a filled-in batch job spec.

    Returns:
        The job's shell script: its environment, then its program (``exec``, so
        the job's exit code is the program's; under srun once per task when
        ``start_per_task``).
    """
    check_environment(spec)
    lines = ["#!/bin/sh"]
    for name, value in (spec.get("environment") or {}).items():
        lines.append(f"export {name}={shlex.quote(value)}")
    command = [spec["executable"], *(spec.get("arguments") or [])]
    launcher = "srun " if spec.get("start_per_task") else ""
    lines.append(f"exec {launcher}{shlex.join(command)}")
    return "\n".join(lines) + "\n"


def srun_argv(spec: dict[str, Any], comment: str) -> list[str]:
    """Args: spec: a filled-in interactive job spec; comment: the Slurm job's
    comment (how we find the job to cancel it: srun does not print its id).

    Returns:
        The srun command that runs it with our stdin/stdout/stderr (unbuffered,
        so output arrives as the program writes it; quiet, so srun's own
        progress lines do not mix into the job's stderr).
    """
    check_environment(spec)
    return ["srun", "--quiet", "--unbuffered", f"--comment={comment}", *resource_options(spec),
            *(spec.get("scheduler_arguments") or []),
            spec["executable"], *(spec.get("arguments") or [])]


def ids_with_comment(text: str, comment: str) -> list[str]:
    """Args: text: output of ``squeue -h -o %A|%k``; comment: a job comment.

    Returns:
        The ids of the jobs with that comment.
    """
    return [job_id for job_id, found in _rows(text, 2) if found == comment]


def submitted_id(stdout: str) -> str:
    """Returns: the job id from ``sbatch --parsable`` ("ID" or "ID;CLUSTER").

    Raises:
        OSError: EIO when there is none.
    """
    first = stdout.strip().splitlines()[-1:] or [""]
    job_id = first[0].split(";")[0].strip()
    if not job_id.isdigit():
        raise OSError(errno.EIO, f"sbatch printed no job id: {stdout.strip()[:200]!r}")
    return job_id


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def job_state(state: str, code: int | None, signo: int, reason: str) -> JobState:
    """Args: state: Slurm's job state ("CANCELLED by 0" is fine); code: the
    exit code; signo: the signal that ended it (0: none); reason: Slurm's reason.

    Returns:
        The vfs's view of it (a killed job has no exit code; the error says why).
    """
    state = (state.split() or ["UNKNOWN"])[0].upper().rstrip("+")
    if state in PENDING:
        return JobState(state, False, False)
    if state in RUNNING:
        return JobState(state, True, False)
    note = "" if reason in PLAIN_REASONS else f" (slurm: {reason})"
    if state in ENDED:
        return JobState(state, False, True, None, ENDED[state] + note)
    if state in ("COMPLETED", "FAILED"):
        if not signo:
            return JobState(state, False, True, code, f"failed{note}" if note else None)
        if signo == 1 and note:  # Slurm's own failures (BadConstraints ...) say "signal 1"
            return JobState(state, False, True, None, f"failed{note}")
        # (a batch script killed by a signal has reason JobLaunchFailure in 22.05)
        return JobState(state, False, True, None, f"killed by {_signal_name(signo)} ({signo})")
    return JobState(state, False, False, None, f"slurm state {state}{note}")


def _rows(text: str, width: int) -> Iterator[list[str]]:
    """Yields: the first ``width`` "|"-separated fields of each line that has them."""
    for line in text.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) >= width and parts[0]:
            yield parts[:width]


def parse_squeue(text: str) -> dict[str, JobState]:
    """Args: text: output of ``squeue -h -O SQUEUE_FORMAT``.

    Returns:
        Job id -> state (exit_code there is a wait status: code << 8 | signal).
    """
    found = {}
    for job_id, state, raw, reason in _rows(text, 4):
        status = int(raw) if raw.isdigit() else 0
        found[job_id] = job_state(state, status >> 8, status & 0x7F, reason)
    return found


def parse_sacct(text: str) -> dict[str, JobState]:
    """Args: text: output of ``sacct -n -P -X -o SACCT_FIELDS``.

    Returns:
        Job id -> state (ExitCode there is "CODE:SIGNAL").
    """
    found = {}
    for job_id, state, exit_code, reason in _rows(text, 4):
        code, _, signo = exit_code.partition(":")
        found[job_id] = job_state(state, int(code) if code.isdigit() else None,
                                  int(signo) if signo.isdigit() else 0, reason)
    return found


def parse_sinfo(text: str) -> list[dict[str, Any]]:
    """Args: text: output of ``sinfo -h -o SINFO_FORMAT``.

    Returns:
        Queues as in queues.json, in sinfo's order, once each.
    """
    queues: dict[str, dict[str, Any]] = {}
    for name, avail, limit, nodes in _rows(text, 4):
        default = name.endswith("*")
        name = name.rstrip("*")
        counts = dict(zip(("allocated", "idle", "other", "total"), nodes.split("/")))
        queues.setdefault(name, {
            "name": name, "default": default,
            "error": None if avail == "up" else f"partition is {avail}",
            "info": {"state": avail, "time_limit": limit,
                     **{f"nodes_{k}": v for k, v in counts.items()}}})
    return list(queues.values())


def unknown_queue(stderr: str) -> bool:
    """Returns: True when sbatch/srun refused the job for its partition."""
    return "invalid partition" in stderr.lower()


#: sbatch errors that are about reaching Slurm, not about the job.
_TRANSIENT = ("unable to contact", "socket timed out", "connection refused",
              "zero bytes were transmitted", "communication connection failure",
              "slurm_persist_conn", "munge")


def submit_error(stderr: str, code: int) -> OSError:
    """Args: stderr: sbatch's error output; code: its exit code.

    Returns:
        EINVAL with sbatch's words when it refused the job (a bad spec), EIO
        when it could not reach Slurm.
    """
    lines = [l for l in stderr.strip().splitlines() if l.strip() and not l.startswith("Try ")]
    message = "; ".join(l.replace("sbatch: error: ", "").replace("sbatch: ", "")
                        for l in lines[-3:]) or f"sbatch exited {code}"
    transient = any(word in stderr.lower() for word in _TRANSIENT)
    if "--begin" in message:  # name the spec's key, not sbatch's option
        message = f"start_time (sbatch --begin): {message}"
    return OSError(errno.EIO if transient else errno.EINVAL, f"sbatch: {message}")
