"""gridengine beyond the shared `.jobs/` matrix: what qacct 8.1.9 says about signalled
jobs, held jobs, and the spec fields our runner maps to qsub, on the real cluster
(tests/servers/gridengine.py); plus the reading of that exact tool output."""

from __future__ import annotations

import errno
import shutil
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.mounts import mounted, stop_daemon
from tests.servers.gridengine import GridEngine
from tests.test_jobs import _status, _submit, _wait_done
from xenonfs.hpc.gridengine_output import (error_reasons, parse_qacct, parse_qstat_xml,
                                           parse_queue_summary, state_from_accounting)


@pytest.fixture
def sge_mount(gridengine: GridEngine, tmp_path: Path) -> Iterator[Path]:
    """A file:// mount whose `.jobs/` runs on gridengine as root."""
    backing = tmp_path / "backing"
    backing.mkdir()
    try:
        with mounted(f"file://{backing}", tmp_path / "mnt",
                     ["scheduler=gridengine://", "job_poll_interval=0.5"],
                     cache_dir=tmp_path / "cache") as mnt:
            yield mnt
    finally:
        shutil.rmtree(backing, ignore_errors=True)


def test_a_signalled_job_has_no_exit_code_and_names_the_signal(sge_mount: Path) -> None:
    # qacct 8.1.9 prints "exit_status 137 (Killed)" for both; only the first was a signal.
    _submit(sge_mount, "killed", 'executable = "/bin/sh"\narguments = ["-c", "kill -KILL $$"]\n')
    _submit(sge_mount, "exits137", 'executable = "/bin/sh"\narguments = ["-c", "exit 137"]\n')
    killed, exits = _wait_done(sge_mount, "killed", 120), _wait_done(sge_mount, "exits137", 120)
    assert killed["exit_code"] is None and killed["state"] == "KILLED", killed
    assert "SIGKILL" in killed["error"] and "cancelled" not in killed["error"], killed
    assert (exits["exit_code"], exits["error"]) == (137, None), exits


def test_cancel_of_a_held_job_needs_no_accounting(sge_mount: Path) -> None:
    # A job deleted before it ran leaves qstat and never gets a qacct record.
    _submit(sge_mount, "held", 'executable = "/bin/true"\nscheduler_arguments = ["-h"]\n')
    deadline = time.monotonic() + 30
    while _status(sge_mount, "held")["state"] != "HELD":  # qstat's hqw
        assert time.monotonic() < deadline, _status(sge_mount, "held")
        time.sleep(0.2)
    (sge_mount / ".jobs" / "held" / "ctl").write_text("cancel\n")
    st = _wait_done(sge_mount, "held", 10)
    assert (st["state"], st["exit_code"], st["error"]) == ("KILLED", None, "cancelled"), st


def test_environment_stdin_name_and_memory_limit(sge_mount: Path) -> None:
    (sge_mount / "input.txt").write_text("from stdin\n")
    # A comma and a blank in a value (qsub -v would cut at the comma); a name qsub
    # refuses as given (it starts with a digit).
    _submit(sge_mount, "1env", 'executable = "/bin/sh"\n'
            'arguments = ["-c", "echo \\"$GREETING\\"; cat; echo \\"$JOB_NAME\\""]\n'
            'environment = { GREETING = "hello, world" }\nstdin = "input.txt"\n')
    st = _wait_done(sge_mount, "1env", 120)
    assert st["exit_code"] == 0, st
    assert (sge_mount / ".jobs" / "1env" / "stdout").read_text() == \
        "hello, world\nfrom stdin\nj1env\n"
    # max_memory is a hard limit (h_vmem): 300 MiB do not fit into 100.
    _submit(sge_mount, "big", 'executable = "python3"\n'
            'arguments = ["-c", "bytearray(300 * 2**20)"]\nmax_memory = 100\n')
    big = _wait_done(sge_mount, "big", 120)
    assert big["exit_code"] == 1, big
    assert "MemoryError" in (sge_mount / ".jobs" / "big" / "stderr").read_text()


def test_a_job_survives_a_daemon_restart(gridengine: GridEngine, tmp_path: Path,
                                         private_daemon_dirs: Path) -> None:
    # The job lives in gridengine, not in the engine: a new daemon finds it in qstat
    # or qacct by its id, with its real exit code.
    backing = tmp_path / "backing"
    backing.mkdir()
    args = (f"file://{backing}", tmp_path / "mnt",
            ["scheduler=gridengine://", "job_poll_interval=0.5"])
    with mounted(*args, cache_dir=tmp_path / "cache") as mnt:
        _submit(mnt, "slow", 'executable = "/bin/sh"\n'
                'arguments = ["-c", "sleep 10; echo finished; exit 4"]\n')
        assert not _status(mnt, "slow")["done"]
    stop_daemon(private_daemon_dirs)  # daemon, engine and all; the job runs on
    with mounted(*args, cache_dir=tmp_path / "cache") as mnt:
        st = _wait_done(mnt, "slow", 120)
        assert (st["state"], st["exit_code"], st["error"]) == ("FAILED", 4, None), st
        assert (mnt / ".jobs" / "slow" / "stdout").read_text() == "finished\n"


@pytest.mark.parametrize("spec, key", [
    ('tasks = 2\n', "tasks"),
    ('start_time = "12:00"\n', "start_time"),
    ('environment = { "NOT-A-NAME" = "x" }\n', "environment"),
    ('stdout = "a:b.out"\n', "stdout"),
])
def test_fields_the_runner_cannot_honour_are_a_bad_spec(sge_mount: Path, spec: str,
                                                        key: str) -> None:
    with pytest.raises(OSError) as info:
        _submit(sge_mount, "bad", 'executable = "/bin/true"\n' + spec)
    assert info.value.errno == errno.EINVAL
    assert key in (sge_mount / ".jobs" / "bad.error").read_text()
    assert not (sge_mount / ".jobs" / "bad").exists()


# -- the tools' output, as Debian's gridengine 8.1.9 prints it ------------------------------

QACCT = """==============================================================
qname        all.q
jobnumber    16
failed       100 : assumedly after job
exit_status  137                  (Killed)
==============================================================
jobnumber    26
failed       37  : qmaster enforced h_rt, h_cpu, or h_vmem limit
exit_status  137                  (Killed)
==============================================================
jobnumber    18
failed       28  : changing into working directory
exit_status  0
==============================================================
jobnumber    20
failed       0
exit_status  137                  (Killed)
==============================================================
jobnumber    21
failed       0
exit_status  3
"""


def test_qacct_records() -> None:
    records = parse_qacct(QACCT)
    states = {j: state_from_accounting(r, cancelled=False) for j, r in records.items()}
    assert (states["16"].state, states["16"].exit_code) == ("KILLED", None)
    assert "SIGKILL (Killed)" in states["16"].error
    assert "h_rt" in states["26"].error and "SIGKILL" in states["26"].error
    assert states["26"].exit_code is None
    assert states["18"].exit_code is None and "working directory" in states["18"].error
    assert (states["20"].exit_code, states["20"].error) == (137, None)  # `exit 137`
    assert (states["21"].state, states["21"].exit_code) == ("FAILED", 3)
    assert state_from_accounting(records["16"], cancelled=True).error == "cancelled"
    with pytest.raises(ValueError, match="job 9.*exit_status"):
        parse_qacct("jobnumber 9\nfailed 0\nexit_status lots\n")


def test_qstat_outputs() -> None:
    xml = """<?xml version='1.0'?>
<job_info  xmlns:xsd="http://arc.liv.ac.uk/repos/darcs/sge/source/dist/util/resources/schemas/qstat/qstat.xsd">
  <queue_info>
    <job_list state="running">
      <JB_job_number>9</JB_job_number><state>r</state><queue_name>all.q@vm</queue_name>
    </job_list>
  </queue_info>
  <job_info>
    <job_list state="pending"><JB_job_number>36</JB_job_number><state>hqw</state></job_list>
    <job_list state="pending"><JB_job_number>18</JB_job_number><state>Eqw</state></job_list>
  </job_info>
</job_info>"""
    assert parse_qstat_xml(xml) == {"9": "r", "36": "hqw", "18": "Eqw"}
    with pytest.raises(ValueError, match="no XML"):
        parse_qstat_xml("error: commlib error: got select error (Connection refused)")
    summary = """CLUSTER QUEUE                   CQLOAD   USED    RES  AVAIL  TOTAL aoACDS  cdsuE
--------------------------------------------------------------------------------
all.q                             1.49      0      0      2      2      0      0
broken.q                          1.49      0      0      0      1      0      1
"""
    queues = parse_queue_summary(summary)
    assert [q["name"] for q in queues] == ["all.q", "broken.q"]
    assert queues[0]["error"] is None and queues[0]["info"]["TOTAL"] == "2"
    assert "1 of 1" in queues[1]["error"]
    shown = ("job_number:                 18\n"
             "error reason          1:      11/24/2026 14:41:04 [0:24966]: error: can't chdir "
             "to /nonexistent: No such file or directory\n")
    assert error_reasons(shown) == {
        "18": "error: can't chdir to /nonexistent: No such file or directory"}
