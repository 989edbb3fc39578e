"""Slurm beyond the `.jobs/` matrix (test_jobs_matrix.py has the common suite):
the product's promise end to end on an sftp mount, jobs across a daemon
restart, signals, tasks, environment, and interactive jobs under stress and
cancel. Real Slurm 22.05 (tests/servers/slurm.py), real OpenSSH."""

from __future__ import annotations

import errno
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest
import trio

from tests.conftest import Runner
from tests.mounts import mounted, stop_daemon
from tests.servers.slurm import SlurmCluster
from tests.servers.sshd import SshServer
from tests.test_jobs import _status, _submit, _wait_done, _wait_running
from xenonfs.hpc.commands import CommandRunner
from xenonfs.hpc.slurm import SlurmRunner

ROT13 = 'executable = "/usr/bin/tr"\narguments = ["A-Za-z", "N-ZA-Mn-za-m"]\ninteractive = true\n'


@pytest.fixture
def sftp_slurm(slurm: SlurmCluster, sshd: SshServer, tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """An sftp mount of a fresh directory of the ssh test user, whose jobs go
    to Slurm over ssh as that user. Yields: (the directory, the mount point)."""
    remote = sshd.home / f"slurm-{uuid.uuid4().hex[:8]}"
    remote.mkdir()
    shutil.chown(remote, sshd.user, sshd.user)
    source = f"sftp://{sshd.user}@127.0.0.1:{sshd.port}{remote}"
    try:
        with mounted(source, tmp_path / "mnt",
                     ["password_env=XJ_PW", "strict_host_key_checking=no", "job_poll_interval=0.5",
                      f"scheduler=slurm+ssh://{sshd.user}@127.0.0.1:{sshd.port}"],
                     {"XJ_PW": sshd.password}, cache_dir=tmp_path / "cache") as mnt:
            yield remote, mnt
    finally:
        shutil.rmtree(remote, ignore_errors=True)


@pytest.fixture
def local_slurm(slurm: SlurmCluster, tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A file mount whose jobs go to Slurm on this machine (as root)."""
    backing = tmp_path / "backing"
    backing.mkdir()
    with mounted(f"file://{backing}", tmp_path / "mnt", ["scheduler=slurm://",
                                                         "job_poll_interval=0.5"],
                 cache_dir=tmp_path / "cache") as mnt:
        yield backing, mnt


def test_an_sftp_mount_runs_slurm_jobs_on_its_files(sftp_slurm: tuple[Path, Path],
                                                    sshd: SshServer) -> None:
    remote, mnt = sftp_slurm
    (mnt / "data").mkdir()
    (mnt / "data" / "input.txt").write_text("3\n1\n2\n")
    _submit(mnt, "sort", 'executable = "/bin/sh"\n'
                         'arguments = ["-c", "sort data/input.txt > data/sorted.txt; whoami; '
                         'echo $GREETING; echo $SLURM_JOB_ID"]\n'
                         'environment = { GREETING = "hello from slurm" }\n')
    st = _wait_done(mnt, "sort", 120)
    assert (st["exit_code"], st["error"], st["state"]) == (0, None, "COMPLETED"), st
    assert st["scheduler"].startswith("slurm:ssh://")
    # The output, read back through the mount, is what the job wrote remotely.
    assert (mnt / "data" / "sorted.txt").read_text() == "1\n2\n3\n"
    assert (remote / "data" / "sorted.txt").read_text() == "1\n2\n3\n"
    job_id = (mnt / ".jobs" / "sort" / "id").read_text().strip()
    assert (mnt / ".jobs" / "sort" / "stdout").read_text() == \
        f"{sshd.user}\nhello from slurm\n{job_id}\n"
    # stdin from a file of the mount; stdout to a file named in the spec.
    _submit(mnt, "count", 'executable = "/usr/bin/wc"\narguments = ["-l"]\n'
                          'stdin = "data/input.txt"\nstdout = "data/count.txt"\n')
    assert _wait_done(mnt, "count", 120)["exit_code"] == 0
    assert (mnt / "data" / "count.txt").read_text().strip() == "3"
    assert (mnt / ".jobs" / "count" / "stdout").read_text().strip() == "3"


def test_a_job_survives_a_daemon_restart(local_slurm: tuple[Path, Path],
                                         private_daemon_dirs: Path, slurm: SlurmCluster) -> None:
    backing, mnt = local_slurm
    # It runs until the test lets it end (a fixed sleep races a slow restart).
    _submit(mnt, "slow", 'executable = "/bin/sh"\narguments = ["-c", '
                         '"while [ ! -e go ]; do sleep 0.2; done; echo finished"]\n')
    _wait_running(mnt, "slow", 60)
    job_id = (mnt / ".jobs" / "slow" / "id").read_text().strip()
    stop_daemon(private_daemon_dirs)  # daemon, engine and all; Slurm runs the job on
    assert job_id in slurm.run("squeue", "-h", "-o", "%A").stdout.split()
    with mounted(f"file://{backing}", mnt, ["scheduler=slurm://", "job_poll_interval=0.5"],
                 cache_dir=mnt.parent / "cache"):
        st = _status(mnt, "slow")
        assert not st["done"], st  # the new daemon asked Slurm, which still runs it
        (backing / "go").touch()
        st = _wait_done(mnt, "slow", 120)
        assert (st["state"], st["exit_code"], st["error"]) == ("COMPLETED", 0, None), st
        assert (mnt / ".jobs" / "slow" / "stdout").read_text() == "finished\n"


def test_signals_tasks_and_bad_resources(local_slurm: tuple[Path, Path]) -> None:
    _, mnt = local_slurm
    _submit(mnt, "killed", 'executable = "/bin/sh"\narguments = ["-c", "kill -KILL $$"]\n')
    _submit(mnt, "tasks", 'executable = "/bin/sh"\narguments = ["-c", "echo task $SLURM_PROCID"]\n'
                          'tasks = 2\nstart_per_task = true\n')
    killed = _wait_done(mnt, "killed", 120)
    # A job a signal ended has no exit code; the error names the signal.
    assert killed["exit_code"] is None and "SIGKILL" in killed["error"], killed
    tasks = _wait_done(mnt, "tasks", 120)
    assert tasks["exit_code"] == 0, tasks
    assert sorted((mnt / ".jobs" / "tasks" / "stdout").read_text().splitlines()) == \
        ["task 0", "task 1"]
    # More memory than the node has: Slurm refuses the spec, and says why.
    with pytest.raises(OSError) as info:
        _submit(mnt, "huge", 'executable = "/bin/true"\nmax_memory = 99999999\n')
    assert info.value.errno == errno.EINVAL
    assert "Memory specification" in (mnt / ".jobs" / "huge.error").read_text()
    # An interactive job for an unknown queue: refused at once, the queues named.
    with pytest.raises(OSError) as info:
        _submit(mnt, "lost", ROT13 + 'queue_name = "nope"\n')
    assert info.value.errno == errno.EINVAL
    assert "'nope' (queues: debug, long)" in (mnt / ".jobs" / "lost.error").read_text()


def test_interactive_jobs_over_ssh_many_times(sftp_slurm: tuple[Path, Path],
                                              slurm: SlurmCluster) -> None:
    """The engine's slurm adaptor was flaky here (hangs, closed channels)."""
    _, mnt = sftp_slurm
    runs = 20
    started = time.monotonic()
    for i in range(runs):
        name = f"rot{i}"
        _submit(mnt, name, ROT13)
        job = mnt / ".jobs" / name
        with open(job / "stdin", "w") as f:
            f.write(f"Hello {i}\n")
        with open(job / "stdout", "rb") as f:
            assert f.read() == f"Uryyb {i}\n".encode(), f"run {i}"
        st = _wait_done(mnt, name, 60)
        assert (st["exit_code"], st["error"]) == (0, None), (i, st)
    # They ran as Slurm jobs (srun), not as plain ssh commands.
    known = slurm.run("squeue", "-h", "-t", "all", "-o", "%j").stdout.split()
    assert {f"rot{i}" for i in range(runs)} <= set(known)
    print(f"{runs} interactive slurm jobs over ssh: {(time.monotonic() - started) / runs:.2f} s each")


@pytest.mark.parametrize("mount", ["local_slurm", "sftp_slurm"])
def test_cancel_an_interactive_job_ends_its_slurm_job(mount: str, slurm: SlurmCluster,
                                                      request: pytest.FixtureRequest) -> None:
    _, mnt = request.getfixturevalue(mount)
    _submit(mnt, "chat", 'executable = "/bin/cat"\ninteractive = true\nname = "xenonfs-chat"\n')
    job = mnt / ".jobs" / "chat"
    deadline = time.monotonic() + 30
    while "xenonfs-chat" not in slurm.run("squeue", "-h", "-o", "%j").stdout.split():
        assert time.monotonic() < deadline, "the interactive job never reached Slurm"
        time.sleep(0.2)
    (job / "ctl").write_text("cancel\n")
    st = _wait_done(mnt, "chat", 30)
    assert st["exit_code"] is None and "cancel" in st["error"], st
    deadline = time.monotonic() + 30
    while "xenonfs-chat" in slurm.run("squeue", "-h", "-o", "%j").stdout.split():
        assert time.monotonic() < deadline, "cancel left the Slurm job running"
        time.sleep(0.2)
    assert subprocess.run(["pgrep", "-f", "srun .*xenonfs-chat"]).returncode == 1


def test_a_job_slurm_has_forgotten_is_unknown_and_says_why(engine: Runner,
                                                           slurm: SlurmCluster) -> None:
    """Without accounting, squeue and sacct both lose a job after MinJobAge."""
    async def body() -> None:
        commands = await CommandRunner.create(engine.client, "", {}, None)
        runner = SlurmRunner(commands, None, "slurm:local://", trio.CapacityLimiter(1))
        try:
            [state] = await runner.statuses(["999999"])
            assert (state.state, state.done, state.exit_code) == ("UNKNOWN", True, None)
            assert "MinJobAge" in state.error and "sacct" in state.error
        finally:
            await runner.close()
    engine(body)
