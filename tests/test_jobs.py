"""The `.jobs/` directory on real mounts with real schedulers (local; ssh on
the test sshd)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.mounts import mounted, stop_daemon
from tests.servers.atd import AtDaemon
from tests.servers.sshd import SshServer


def _submit(mnt: Path, name: str, spec: str, ext: str = "toml") -> None:
    with open(mnt / ".jobs" / f"{name}.{ext}", "w") as f:
        f.write(spec)


def _status(mnt: Path, name: str) -> dict:
    return json.loads((mnt / ".jobs" / name / "status.json").read_text())


def _wait_done(mnt: Path, name: str, seconds: float = 60) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        st = _status(mnt, name)
        if st["done"]:
            return st
        assert time.monotonic() < deadline, f"job {name} not done: {st}"
        time.sleep(0.2)


def _wait_running(mnt: Path, name: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not (st := _status(mnt, name))["running"]:
        assert not st["done"], f"job {name} ended before it was seen running: {st}"
        assert time.monotonic() < deadline, f"job {name} did not start: {st}"
        time.sleep(0.2)


@pytest.fixture
def local_mount(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    backing = tmp_path / "backing"
    backing.mkdir()
    with mounted(f"file://{backing}", tmp_path / "mnt", ["job_poll_interval=0.5"],
                 cache_dir=tmp_path / "cache") as mnt:
        yield backing, mnt


def test_batch_job_output_status_and_spec(local_mount: tuple[Path, Path]) -> None:
    backing, mnt = local_mount
    assert ".jobs" in os.listdir(mnt)
    _submit(mnt, "hello", 'executable = "/bin/sh"\n'
                          'arguments = ["-c", "echo hi from $PWD; echo oops >&2"]\n')
    st = _wait_done(mnt, "hello")
    assert st["exit_code"] == 0 and st["error"] is None and st["scheduler"] == "local"
    assert st["finished_at"] >= st["submitted_at"] > 0
    assert (mnt / ".jobs" / "hello" / "stdout").read_text() == f"hi from {backing}\n"
    assert (mnt / ".jobs" / "hello" / "stderr").read_text() == "oops\n"
    assert (mnt / ".jobs" / "hello" / "id").read_text().strip() == st["job_id"]
    spec = (mnt / ".jobs" / "hello" / "spec.toml").read_text()
    assert f'working_directory = "{backing}"' in spec and 'stdout = ".xenonfs-jobs/hello-' in spec
    assert sorted(os.listdir(mnt / ".jobs" / "hello")) == sorted(
        ["spec.toml", "id", "status.json", "stdout", "stderr", "ctl"])
    listing = subprocess.run([sys.executable, "-m", "xenonfs.cli", "jobs"], capture_output=True,
                             text=True, timeout=60)
    assert listing.returncode == 0, listing.stderr
    row = next(l.split("\t") for l in listing.stdout.splitlines() if "\thello\t" in l)
    assert row[2:5] == [st["job_id"], st["state"], "0"]
    # Output lands remotely, in the working directory; nothing named .jobs does.
    assert any(p.suffix == ".out" for p in (backing / ".xenonfs-jobs").iterdir())
    assert not (backing / ".jobs").exists()


def test_exit_codes_and_json_specs(local_mount: tuple[Path, Path]) -> None:
    _, mnt = local_mount
    _submit(mnt, "three", json.dumps({"executable": "/bin/sh", "arguments": ["-c", "sleep 1; exit 3"]}),
            "json")
    # `xenonfs jobs wait` follows it and exits with its exit code.
    waited = subprocess.run([sys.executable, "-m", "xenonfs.cli", "jobs", "wait", "three"],
                            capture_output=True, text=True, timeout=120)
    assert waited.returncode == 3, waited.stderr
    assert "exit code 3" in waited.stdout
    assert _wait_done(mnt, "three")["exit_code"] == 3
    missing = subprocess.run([sys.executable, "-m", "xenonfs.cli", "jobs", "wait", "nosuchjob"],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1 and "no job 'nosuchjob'" in missing.stderr


@pytest.mark.parametrize("spec, words", [
    ('executable = "/bin/true"\nbogus = 1\n', ["bogus"]),
    ('executable = "/bin/true"\narguments = "not a list"\n', ["arguments", "list"]),
    ('arguments = ["x"]\n', ["executable"]),
    ('executable = "/bin/true"\nx = = 1\n', ["TOML", "line 2"]),
])
def test_a_bad_spec_fails_close_and_explains(local_mount: tuple[Path, Path], spec: str,
                                             words: list[str]) -> None:
    _, mnt = local_mount
    with pytest.raises(OSError) as info:
        _submit(mnt, "bad", spec)
    assert info.value.errno == errno.EINVAL
    explanation = (mnt / ".jobs" / "bad.error").read_text()
    assert len(explanation.strip().splitlines()) <= 2
    for word in words:
        assert word in explanation
    assert not (mnt / ".jobs" / "bad").exists()  # nothing was submitted
    os.unlink(mnt / ".jobs" / "bad.error")
    assert "bad.error" not in os.listdir(mnt / ".jobs")


def test_cancel_through_ctl_and_rm_r(local_mount: tuple[Path, Path]) -> None:
    _, mnt = local_mount
    _submit(mnt, "sleeper", 'executable = "/bin/sleep"\narguments = ["600"]\n'
                            'queue_name = "multi"\n')
    _submit(mnt, "sleeper2", 'executable = "/bin/sleep"\narguments = ["600"]\n'
                             'queue_name = "multi"\n')
    _wait_running(mnt, "sleeper")
    (mnt / ".jobs" / "sleeper" / "ctl").write_text("cancel\n")
    st = _wait_done(mnt, "sleeper", 30)
    assert st["state"] in ("KILLED", "CANCELLED") and st["exit_code"] is None
    assert "cancel" in st["error"].lower()
    with pytest.raises(OSError) as info:
        (mnt / ".jobs" / "sleeper" / "ctl").write_text("explode\n")
    assert info.value.errno == errno.EINVAL
    cancelled = subprocess.run([sys.executable, "-m", "xenonfs.cli", "jobs", "cancel", "sleeper2"],
                               capture_output=True, text=True, timeout=60)
    assert cancelled.returncode == 0, cancelled.stderr
    assert _wait_done(mnt, "sleeper2", 30)["exit_code"] is None
    shutil.rmtree(mnt / ".jobs" / "sleeper2")
    assert "sleeper2" not in os.listdir(mnt / ".jobs")
    # rm -r of a running job cancels it (its process goes) and forgets it.
    _submit(mnt, "sleeper3", 'executable = "/bin/sleep"\narguments = ["613"]\n'
                             'queue_name = "multi"\n')
    _wait_running(mnt, "sleeper3")
    assert subprocess.run(["pgrep", "-f", "sleep 613"], capture_output=True).returncode == 0
    shutil.rmtree(mnt / ".jobs" / "sleeper3")
    assert "sleeper3" not in os.listdir(mnt / ".jobs")
    deadline = time.monotonic() + 30
    while subprocess.run(["pgrep", "-f", "sleep 613"], capture_output=True).returncode == 0:
        assert time.monotonic() < deadline, "rm -r did not cancel the job"
        time.sleep(0.2)


def test_queues_json(local_mount: tuple[Path, Path]) -> None:
    _, mnt = local_mount
    queues = json.loads((mnt / ".jobs" / "queues.json").read_text())
    names = {q["name"] for q in queues}
    assert {"single", "multi", "unlimited"} <= names
    assert [q["name"] for q in queues if q["default"]] == ["single"]


def test_only_specs_can_be_created(local_mount: tuple[Path, Path]) -> None:
    _, mnt = local_mount
    for bad in ("notes.txt", "a b.toml"):
        with pytest.raises(OSError) as info:
            (mnt / ".jobs" / bad).write_text("x")
        assert info.value.errno == errno.EACCES
    with pytest.raises(OSError) as info:
        (mnt / ".jobs" / "dir").mkdir()
    assert info.value.errno == errno.EPERM


def test_jobs_survive_a_remount(tmp_path: Path) -> None:
    backing = tmp_path / "backing"
    backing.mkdir()
    args = (f"file://{backing}", tmp_path / "mnt", ["job_poll_interval=0.5"])
    with mounted(*args, cache_dir=tmp_path / "cache") as mnt:
        _submit(mnt, "kept", 'executable = "/bin/echo"\narguments = ["still here"]\n')
        first = _wait_done(mnt, "kept")
    with mounted(*args, cache_dir=tmp_path / "cache") as mnt:
        assert _status(mnt, "kept") == first
        assert (mnt / ".jobs" / "kept" / "stdout").read_text() == "still here\n"
        shutil.rmtree(mnt / ".jobs" / "kept")
    with mounted(*args, cache_dir=tmp_path / "cache") as mnt:
        assert "kept" not in os.listdir(mnt / ".jobs")


def test_ssh_scheduler_on_an_sftp_mount(sshd: SshServer, tmp_path: Path) -> None:
    remote = sshd.home / "jobs-ssh"
    shutil.rmtree(remote, ignore_errors=True)
    remote.mkdir()
    shutil.chown(remote, sshd.user, sshd.user)
    source = f"sftp://{sshd.user}@127.0.0.1:{sshd.port}{remote}"
    with mounted(source, tmp_path / "mnt", ["password_env=XJ_PW", "strict_host_key_checking=no",
                                            "job_poll_interval=0.5"],
                 {"XJ_PW": sshd.password}, cache_dir=tmp_path / "cache") as mnt:
        (mnt / "input.txt").write_text("from the mount\n")
        _submit(mnt, "cat", 'executable = "/bin/sh"\narguments = ["-c", "cat input.txt; whoami; '
                            'exit 4"]\n')
        st = _wait_done(mnt, "cat", 60)
        assert st["exit_code"] == 4 and st["scheduler"].startswith("ssh:")
        assert (mnt / ".jobs" / "cat" / "stdout").read_text() == f"from the mount\n{sshd.user}\n"
        # Many at once (the engine's ssh adaptor failed or hung one of two started
        # together when it copied their output itself), with stdin and arguments
        # that a shell would mangle.
        odd = ["a b", "$HOME", "'q'", '"dq"', ";", "*", "<x>"]
        for i in range(6):
            _submit(mnt, f"many{i}", json.dumps({
                "executable": "/bin/sh", "arguments": ["-c", f'cat; printf "%s|" "$@"; exit {i}',
                                                       "sh", *odd],
                "stdin": "input.txt"}), ext="json")
        for i in range(6):
            st = _wait_done(mnt, f"many{i}", 120)
            assert (st["state"], st["exit_code"], st["attempts"]) == ("DONE", i, 1), st
            assert (mnt / ".jobs" / f"many{i}" / "stdout").read_text() == \
                "from the mount\n" + "".join(f"{a}|" for a in odd)
        # An output file that exists is refused at submission (close() fails).
        with pytest.raises(OSError) as info:
            _submit(mnt, "clash", 'executable = "/bin/true"\nstdout = "input.txt"\n')
        assert info.value.errno == errno.EEXIST
        assert "input.txt" in (mnt / ".jobs" / "clash.error").read_text()
        assert (mnt / "input.txt").read_text() == "from the mount\n"


def test_interactive_rot13_through_files(local_mount: tuple[Path, Path]) -> None:
    _, mnt = local_mount
    _submit(mnt, "rot", 'executable = "/usr/bin/tr"\narguments = ["A-Za-z", "N-ZA-Mn-za-m"]\n'
                        'interactive = true\n')
    job = mnt / ".jobs" / "rot"
    assert "stdin" in os.listdir(job)
    subprocess.run(f"echo 'Hello World' > {job / 'stdin'}", shell=True, check=True, timeout=60)
    out = subprocess.run(["head", "-1", str(job / "stdout")], capture_output=True, timeout=60)
    assert out.stdout == b"Uryyb Jbeyq\n"
    assert _wait_done(mnt, "rot")["exit_code"] == 0
    with pytest.raises(OSError) as info:
        (job / "stdin").write_text("too late\n")
    assert info.value.errno == errno.EPIPE


def test_interactive_stdout_is_a_pipe(local_mount: tuple[Path, Path]) -> None:
    _, mnt = local_mount
    _submit(mnt, "upper", 'executable = "/usr/bin/python3"\narguments = ["-u", "-c", '
                          '"import sys\\nfor l in sys.stdin: print(l.upper(), end=\'\')"]\n'
                          'interactive = true\nqueue_name = "multi"\n')
    job = mnt / ".jobs" / "upper"
    stdin = open(job / "stdin", "wb", buffering=0)
    stdout = open(job / "stdout", "rb", buffering=0)
    try:
        stdin.write(b"one\n")
        assert stdout.read(4) == b"ONE\n"  # arrives while stdin is still open
        assert not _status(mnt, "upper")["done"]
        stdin.write(b"two\n")
        assert stdout.read(4) == b"TWO\n"
        stdin.close()  # end of input: the job ends, the pipe reaches its end
        assert stdout.read(100) == b""
    finally:
        stdin.close()
        stdout.close()
    assert _wait_done(mnt, "upper")["exit_code"] == 0
    assert (job / "stdout").read_bytes() == b"ONE\nTWO\n"


def test_a_job_that_failed_to_start_is_submitted_again(local_mount: tuple[Path, Path]) -> None:
    """The local scheduler fails a job before running it when its output file
    exists (state ERROR); the second submission gets fresh output names."""
    backing, mnt = local_mount
    outputs = backing / ".xenonfs-jobs"
    outputs.mkdir()
    now = time.time()
    # The names `fill` will choose (NAME-TIMESTAMP.out), for the next seconds.
    taken = [outputs / f"again-{time.strftime('%Y%m%dT%H%M%S', time.localtime(now + s))}.out"
             for s in range(-1, 10)]
    for path in taken:
        path.write_text("not the job's\n")
    _submit(mnt, "again", 'executable = "/bin/sh"\narguments = ["-c", "echo ran"]\n')
    st = _wait_done(mnt, "again")
    assert (st["state"], st["exit_code"], st["error"], st["attempts"]) == ("DONE", 0, None, 2), st
    assert (mnt / ".jobs" / "again" / "stdout").read_text() == "ran\n"
    assert '-2.out"' in (mnt / ".jobs" / "again" / "spec.toml").read_text()
    assert all(p.read_text() == "not the job's\n" for p in taken)


def test_a_job_that_cannot_start_ends_in_error_with_no_exit_code(
        local_mount: tuple[Path, Path]) -> None:
    backing, mnt = local_mount
    (backing / "mine.txt").write_text("keep me\n")
    _submit(mnt, "clash", 'executable = "/bin/echo"\narguments = ["x"]\nstdout = "mine.txt"\n')
    st = _wait_done(mnt, "clash")
    assert (st["state"], st["exit_code"], st["attempts"]) == ("ERROR", None, 3), st
    assert "already exists" in st["error"], st
    assert (backing / "mine.txt").read_text() == "keep me\n"


def test_many_specs_in_a_loop(local_mount: tuple[Path, Path]) -> None:
    backing, mnt = local_mount
    n = 1000
    for i in range(n):
        _submit(mnt, f"m{i:04d}", 'executable = "/bin/sh"\narguments = ["-c", "echo $0 >> runs.txt", '
                                 f'"m{i:04d}"]\nqueue_name = "multi"\n')
    names = [f"m{i:04d}" for i in range(n)]
    # "local-N.RUN": N counts the engine run's submissions.
    ids = [int((mnt / ".jobs" / name / "id").read_text().split(".")[0].split("-")[-1])
           for name in names]
    assert ids == sorted(ids) and len(set(ids)) == n  # submitted in order of close, once each
    for name in names:
        _wait_done(mnt, name, 300)
    runs = (backing / "runs.txt").read_text().split()
    assert sorted(runs) == names  # every job ran exactly once


def test_at_scheduler_says_unknown_for_exit_codes(atd: AtDaemon, tmp_path: Path) -> None:
    backing = tmp_path / "backing"
    backing.mkdir()
    with mounted(f"file://{backing}", tmp_path / "mnt", ["scheduler=at://",
                                                          "job_poll_interval=0.5"],
                 cache_dir=tmp_path / "cache") as mnt:
        _submit(mnt, "late", 'executable = "/bin/sh"\narguments = ["-c", "echo from at; exit 5"]\n')
        st = _wait_done(mnt, "late", 120)
        # at reports 0 whatever the job did: status.json says so instead of lying.
        assert st["exit_code"] == "unknown" and st["scheduler"].startswith("at")
        assert (mnt / ".jobs" / "late" / "stdout").read_text() == "from at\n"
        queues = json.loads((mnt / ".jobs" / "queues.json").read_text())
        assert "a" in {q["name"] for q in queues}
        with pytest.raises(OSError) as info:  # at has no interactive jobs
            _submit(mnt, "chat", 'executable = "/bin/cat"\ninteractive = true\n')
        assert info.value.errno in (errno.EINVAL, errno.ENOTSUP, errno.EPERM, errno.EIO)
        assert "chat" in (mnt / ".jobs" / "chat.error").read_text()


def test_a_job_survives_a_daemon_restart(atd: AtDaemon, tmp_path: Path,
                                         private_daemon_dirs: Path) -> None:
    backing = tmp_path / "backing"
    backing.mkdir()
    args = (f"file://{backing}", tmp_path / "mnt", ["scheduler=at://", "job_poll_interval=0.5"])
    with mounted(*args, cache_dir=tmp_path / "cache") as mnt:
        # It runs until the test lets it end (a fixed sleep races a slow restart).
        _submit(mnt, "slow", 'executable = "/bin/sh"\narguments = ["-c", '
                             '"while [ ! -e go ]; do sleep 0.2; done; echo finished"]\n')
        assert not _status(mnt, "slow")["done"]
    stop_daemon(private_daemon_dirs)  # daemon, engine and all; the job runs on in atd
    with mounted(*args, cache_dir=tmp_path / "cache") as mnt:
        # The new engine finds it in at's queue; until its first poll answers (slow
        # under load: CI once saw the record as the old daemon left it) it says so.
        _wait_running(mnt, "slow", 60)
        (backing / "go").touch()
        st = _wait_done(mnt, "slow", 120)
        assert st["state"] != "UNKNOWN" and st["error"] is None
        assert (mnt / ".jobs" / "slow" / "stdout").read_text() == "finished\n"


def test_the_readme_idiom_reports_a_refused_spec(local_mount: tuple[Path, Path],
                                                 tmp_path: Path) -> None:
    """README writes specs with cp (tee, /usr/bin/printf), which report a
    failed close(), unlike the shell's own printf ... > FILE."""
    _, mnt = local_mount
    bad = tmp_path / "bad.toml"
    bad.write_text("executable = 5\n")
    runs = [subprocess.run(["cp", str(bad), str(mnt / ".jobs" / "bad1.toml")],
                           capture_output=True, text=True),
            subprocess.run(["tee", str(mnt / ".jobs" / "bad2.toml")], input="executable = 5\n",
                           capture_output=True, text=True)]
    runs.append(subprocess.run(["sh", "-c", '/usr/bin/printf "executable = 5\\n" > "$0"',
                                str(mnt / ".jobs" / "bad3.toml")], capture_output=True, text=True))
    for run in runs:
        assert run.returncode == 1 and "Invalid argument" in run.stderr, (run.args, run.stderr)
    for n in (1, 2, 3):
        assert "expected a string" in (mnt / ".jobs" / f"bad{n}.error").read_text()
