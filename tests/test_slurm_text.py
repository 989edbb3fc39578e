"""What we send to Slurm's tools and read back, on output captured from Slurm 22.05.
(The runner itself is tested against a real cluster in test_jobs_matrix / test_jobs_slurm.)"""

from __future__ import annotations

import errno

from xenonfs.hpc import slurm_text as text

# `squeue -h -t all -j 1,2,3,4,5 -O JobID:|,State:|,exit_code:|,Reason:|` on Slurm 22.05.8.
SQUEUE = """1|CANCELLED|15|None|
2|FAILED|1|BadConstraints|
3|FAILED|9|JobLaunchFailure|
4|FAILED|768|NonZeroExitCode|
5|COMPLETED|0|None|
6|RUNNING|0|None|
7|PENDING|0|Resources|
"""


def test_squeue_states_exit_codes_and_signals() -> None:
    found = text.parse_squeue(SQUEUE)
    assert (found["1"].state, found["1"].done, found["1"].exit_code) == ("CANCELLED", True, None)
    assert found["1"].error == "cancelled"
    assert (found["2"].exit_code, found["2"].error) == (None, "failed (slurm: BadConstraints)")
    assert (found["3"].exit_code, found["3"].error) == (None, "killed by SIGKILL (9)")
    killed = text.parse_squeue("8|FAILED|9|None|\n")["8"]
    assert (killed.exit_code, killed.error) == (None, "killed by SIGKILL (9)")
    assert (found["4"].exit_code, found["4"].error) == (3, None)
    assert (found["5"].exit_code, found["5"].error, found["5"].done) == (0, None, True)
    assert (found["6"].running, found["6"].done) == (True, False)
    assert (found["7"].running, found["7"].done) == (False, False)


def test_sacct_exit_code_pairs() -> None:
    found = text.parse_sacct("11|COMPLETED|0:0|None\n12|FAILED|2:0|NonZeroExitCode\n"
                             "13|CANCELLED by 0|0:15|None\n14|TIMEOUT|0:0|TimeLimit\n")
    assert [found[i].exit_code for i in ("11", "12", "13", "14")] == [0, 2, None, None]
    assert found["13"].state == "CANCELLED" and "time" in found["14"].error


def test_sinfo_marks_the_default_partition() -> None:
    queues = text.parse_sinfo("debug*|up|infinite|0/1/0/1\nlong|down|1-00:00:00|0/1/0/1\n")
    assert [(q["name"], q["default"], q["error"]) for q in queues] == [
        ("debug", True, None), ("long", False, "partition is down")]
    assert queues[1]["info"]["time_limit"] == "1-00:00:00"


def test_sbatch_command_and_script() -> None:
    spec = {"executable": "/bin/echo", "arguments": ["a b", "$HOME"], "name": "j",
            "working_directory": "/w d", "stdout": "out/100%.txt", "stderr": "e.txt",
            "queue_name": "long", "max_runtime": 5, "max_memory": 100, "tasks": 2,
            "environment": {"X": "it's"}, "scheduler_arguments": ["--exclusive"]}
    argv = text.sbatch_argv(spec)
    assert argv[:3] == ["sbatch", "--parsable", "--chdir=/w d"]
    for option in ("--partition=long", "--time=5", "--mem=100M", "--ntasks=2", "--job-name=j",
                   "--output=/w d/out/100%%.txt", "--error=/w d/e.txt", "--input=/dev/null"):
        assert option in argv
    assert argv[-1] == "--exclusive"  # the user's own arguments come last: they win
    script = text.batch_script(spec)
    assert script.startswith("#!/bin/sh\n")
    assert "export X='it'\"'\"'s'\n" in script and "exec /bin/echo 'a b' '$HOME'" in script
    assert "exec srun /bin/echo" in text.batch_script({**spec, "start_per_task": True})


def test_bad_input_is_named() -> None:
    try:
        text.batch_script({"executable": "x", "environment": {"A-B": "1"}})
    except OSError as exc:
        assert exc.errno == errno.EINVAL and "A-B" in str(exc)
    else:
        raise AssertionError("a bad variable name was accepted")
    refused = text.submit_error("sbatch: error: Memory specification can not be satisfied\n"
                                "sbatch: error: Batch job submission failed: Requested node "
                                "configuration is not available\n", 1)
    assert refused.errno == errno.EINVAL and "Memory specification" in refused.strerror
    down = text.submit_error("sbatch: error: Batch job submission failed: Unable to contact "
                             "slurm controller (connect failure)\n", 1)
    assert down.errno == errno.EIO
    assert text.submitted_id("42;cluster\n") == "42"
