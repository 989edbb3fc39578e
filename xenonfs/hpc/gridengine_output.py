"""Reading the output of gridengine's tools (qstat -xml, qacct -j, qstat -g c, qstat -j).

Pure functions over text, so they are tested on the exact output of Debian's
gridengine 8.1.9 without a cluster; the runner (`hpc.gridengine`) calls them.
"""

from __future__ import annotations

import re
import signal
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from ..vfs.jobs import JobState

#: qacct's ``failed`` code for a job ended by a signal ("100 : assumedly after job").
FAILED_SIGNALLED = 100
#: qacct's ``failed`` code for a job the qmaster killed for exceeding a hard limit.
FAILED_LIMIT = 37


@dataclass(frozen=True)
class Accounting:
    """One job's qacct record.

    Attributes:
        job_id: ``jobnumber``.
        failed: the ``failed`` code (0: gridengine ran the job to its end).
        failed_text: what gridengine says about it ("qmaster enforced h_rt ... limit").
        exit_status: ``exit_status`` without its annotation.
        annotation: the signal name qacct 8.x puts after an exit status > 128
            ("Killed"), else "".
    """

    job_id: str
    failed: int
    failed_text: str
    exit_status: int
    annotation: str


def parse_qstat_xml(text: str) -> dict[str, str]:
    """Args: text: the output of ``qstat -xml``.

    Returns:
        Job id -> state letters (``r``, ``qw``, ``hqw``, ``Eqw``, ``dr`` ...),
        running and pending jobs alike.

    Raises:
        ValueError: the output is not qstat's XML.
    """
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ValueError(f"qstat -xml printed no XML ({exc}): {text.strip()[:200]!r}") from None
    states = {}
    for job in root.iter("job_list"):
        number, state = job.findtext("JB_job_number"), job.findtext("state")
        if number:
            states[number.strip()] = (state or "").strip()
    return states


def state_from_qstat(letters: str) -> JobState:
    """Args: letters: a job's qstat state (e.g. ``hqw``, ``r``, ``dr``, ``Eqw``).

    Returns:
        The state of a job gridengine still lists (an ``E`` job is handled by the
        runner: it never runs unless somebody clears it).
    """
    if "d" in letters:
        return JobState("DELETING", "r" in letters, False)
    if "s" in letters.lower() or "T" in letters:
        return JobState("SUSPENDED", False, False)
    if "r" in letters or "t" in letters:
        return JobState("RUNNING", True, False)
    if "h" in letters:
        return JobState("HELD", False, False)
    return JobState("PENDING", False, False)


def parse_qacct(text: str) -> dict[str, Accounting]:
    """Args: text: the output of one or more ``qacct -j ID`` (records separated by
    lines of ``=``).

    Returns:
        Job id -> its LAST record (a job that was re-run has several).

    Raises:
        ValueError: a record lacks ``failed`` or ``exit_status``, or has a value
            that is not a number (named).
    """
    found: dict[str, Accounting] = {}
    for block in re.split(r"^=+\s*$", text, flags=re.M):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            key, _, value = line.strip().partition(" ")
            if key:
                fields[key] = value.strip()
        if "jobnumber" not in fields:
            continue
        job_id = fields["jobnumber"]
        try:
            failed_code, _, failed_text = fields["failed"].partition(":")
            status = re.fullmatch(r"(-?\d+)\s*(?:\((.*)\))?", fields["exit_status"])
            if status is None:
                raise ValueError(f"exit_status {fields['exit_status']!r}")
            found[job_id] = Accounting(job_id, int(failed_code), failed_text.strip(),
                                       int(status.group(1)), (status.group(2) or "").strip())
        except KeyError as exc:
            raise ValueError(f"qacct record of job {job_id} has no {exc.args[0]!r}") from None
        except ValueError as exc:
            raise ValueError(f"qacct record of job {job_id}: cannot read {exc}") from None
    return found


def _signal_name(number: int, annotation: str) -> str:
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = f"signal {number}"
    return f"{name} ({annotation})" if annotation else name


def state_from_accounting(record: Accounting, cancelled: bool) -> JobState:
    """Args: record: the job's qacct record; cancelled: we cancelled it (qdel).

    Returns:
        The final state. A job ended by a signal has no exit code (qacct's
        ``137 (Killed)`` is 128 + SIGKILL, not something the job returned); the
        error names the signal, or says "cancelled".
    """
    signalled = record.failed in (FAILED_SIGNALLED, FAILED_LIMIT) and record.exit_status > 128
    if signalled:
        sig = _signal_name(record.exit_status - 128, record.annotation)
        if cancelled:
            return JobState("KILLED", False, True, None, "cancelled")
        if record.failed == FAILED_LIMIT:
            return JobState("KILLED", False, True, None,
                            f"gridengine killed it with {sig}: {record.failed_text}")
        return JobState("KILLED", False, True, None, f"killed by signal {sig}")
    if record.failed:
        # gridengine could not run it (e.g. 28: changing into working directory);
        # exit_status then is not the program's.
        return JobState("FAILED", False, True, None,
                        f"gridengine failed the job: {record.failed} {record.failed_text}".strip())
    state = "DONE" if record.exit_status == 0 else "FAILED"
    return JobState(state, False, True, record.exit_status, None)


def parse_queue_summary(text: str) -> list[dict[str, Any]]:
    """Args: text: the output of ``qstat -g c`` (cluster queue summary).

    Returns:
        Per queue: ``{"name", "error", "info"}``; ``error`` says how many of its
        instances are disabled, suspended, unknown or in error (None if none).
    """
    lines = text.splitlines()
    header = next((i for i, line in enumerate(lines) if line.startswith("CLUSTER QUEUE")), None)
    if header is None:
        return []
    keys = lines[header].replace("CLUSTER QUEUE", "", 1).split()
    queues = []
    for line in lines[header + 1:]:
        cols = line.split()
        if not cols or set(line.strip()) <= {"-"}:
            continue
        info = dict(zip(keys, cols[1:]))
        broken = info.get("cdsuE", "0")
        error = None
        if broken.isdigit() and int(broken):
            error = (f"{broken} of {info.get('TOTAL', '?')} queue instances are disabled, "
                     "suspended, unknown or in error")
        queues.append({"name": cols[0], "error": error, "info": info})
    return queues


def error_reasons(text: str) -> dict[str, str]:
    """Args: text: the output of ``qstat -j ID[,ID...]``.

    Returns:
        Job id -> the ``error reason`` of a job in error state.
    """
    reasons: dict[str, str] = {}
    job_id = ""
    for line in text.splitlines():
        if line.startswith("job_number:"):
            job_id = line.split(":", 1)[1].strip()
        elif line.startswith("error reason") and job_id:
            # "error reason    1:      11/24/2026 14:41:04 [0:24966]: error: can't chdir ..."
            match = re.match(r"error reason\s+\d+:\s+\S+ \S+ \[[^]]*\]:\s*(.*)", line)
            reason = match.group(1) if match else line.split(":", 1)[1]
            reasons.setdefault(job_id, reason.strip())
    return reasons
