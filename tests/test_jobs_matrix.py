"""The `.jobs/` suite on every scheduler that can run here, real servers each.

Adding a scheduler means adding a row to `SCHEDULERS`: how to mount something
whose `.jobs/` uses it, and what it can do (asserted, not skipped).
"""

from __future__ import annotations

import errno
import json
import shutil
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.mounts import mounted
from tests.test_jobs import _status, _submit, _wait_done, _wait_running


@dataclass(frozen=True)
class Row:
    """A scheduler under test.

    Attributes:
        mount: (request, tmp_path) -> (source, options, env, backing dir).
        exit_codes: the scheduler reports real exit codes (at does not).
        interactive: interactive jobs work (else they must be refused).
        queue: a queue to submit to (None: the default).
        default_queue: the queue queues.json must mark as default.
        skip: why this scheduler cannot be tested here (a server cannot exist).
        interactive_limit: interactive jobs at once (over ssh: sshd's sessions).
    """

    mount: Callable[[pytest.FixtureRequest, Path], tuple[str, list[str], dict, Path]]
    exit_codes: bool = True
    interactive: bool = True
    queue: str | None = None
    default_queue: str | None = None
    options: list[str] = field(default_factory=list)
    skip: str | None = None
    interactive_limit: int | None = None


def _file_mount(scheduler: str | None) -> Callable:
    def make(request: pytest.FixtureRequest, tmp_path: Path):
        backing = tmp_path / "backing"
        backing.mkdir()
        opts = [f"scheduler={scheduler}"] if scheduler else []
        return f"file://{backing}", opts, {}, backing
    return make


def _sftp_mount(scheduler: Callable[[object], str] | None, key: str | None = None) -> Callable:
    """An sftp mount of a fresh directory of the test sshd's user, with
    ``scheduler(sshd)`` as its scheduler URL (None: the default, ssh), logged
    in with the password or with the user key of type ``key``."""
    def make(request: pytest.FixtureRequest, tmp_path: Path):
        sshd = request.getfixturevalue("sshd")
        backing = sshd.home / f"j-{uuid.uuid4().hex[:8]}"
        backing.mkdir()
        shutil.chown(backing, sshd.user, sshd.user)
        login = f"identity={sshd.key_files[key]}" if key else "password_env=XJ_PW"
        opts = [login, "strict_host_key_checking=no"]
        if scheduler:
            opts.append(f"scheduler={scheduler(sshd)}")
        source = f"sftp://{sshd.user}@127.0.0.1:{sshd.port}{backing}"
        return source, opts, {"XJ_PW": sshd.password}, backing
    return make


def _with_server(name: str, make: Callable) -> Callable:
    """Start session fixture ``name`` (a server) before mounting."""
    def wrapped(request: pytest.FixtureRequest, tmp_path: Path):
        request.getfixturevalue(name)
        return make(request, tmp_path)
    return wrapped


NO_TORQUE = "no Torque/PBS server is installable here (no Debian package; PyPI has only clients)"

SCHEDULERS: dict[str, Row] = {
    "local": Row(_file_mount(None), queue="multi", default_queue="single"),
    "ssh": Row(_sftp_mount(None), default_queue="single", interactive_limit=8),
    # The same, logged in with a key (the mount's sftp and its ssh scheduler).
    "ssh-key": Row(_sftp_mount(None, key="ed25519"), default_queue="single"),
    "at": Row(_with_server("atd", _file_mount("at://")), exit_codes=False, interactive=False,
              default_queue="a"),
    # Our own runner (xenonfs/hpc/gridengine.py) on Debian's gridengine 8.1.9: as root on
    # this machine, and as the test user through a login shell over ssh.
    "gridengine": Row(_with_server("gridengine", _file_mount("gridengine://")), interactive=False,
                      queue="all.q", default_queue="all.q"),
    "gridengine-ssh": Row(_with_server("gridengine", _sftp_mount(
        lambda sshd: f"gridengine+ssh://{sshd.user}@127.0.0.1:{sshd.port}")),
        interactive=False, default_queue="all.q"),
    "slurm": Row(_with_server("slurm", _file_mount("slurm://")), queue="long",
                 default_queue="debug"),
    "slurm+ssh": Row(_with_server("slurm", _sftp_mount(
        lambda sshd: f"slurm+ssh://{sshd.user}@127.0.0.1:{sshd.port}")), default_queue="debug",
        interactive_limit=8),
    "torque": Row(_file_mount("torque://"), skip=NO_TORQUE),
}


@contextmanager
def _mounted_row(request: pytest.FixtureRequest, tmp_path: Path,
                 name: str) -> Iterator[tuple[Row, Path]]:
    row = SCHEDULERS[name]
    if row.skip:
        pytest.skip(row.skip)
    source, opts, env, backing = row.mount(request, tmp_path)
    try:
        with mounted(source, tmp_path / "mnt", [*opts, "job_poll_interval=0.5"], env,
                     tmp_path / "cache") as mnt:
            assert (mnt / ".jobs").is_dir(), f"no .jobs/ on {source} with {opts}"
            yield row, mnt
    finally:
        shutil.rmtree(backing, ignore_errors=True)


@pytest.fixture(params=list(SCHEDULERS))
def jobs_mount(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Row, Path]]:
    """A mount whose `.jobs/` uses the scheduler of the row."""
    with _mounted_row(request, tmp_path, request.param) as found:
        yield found


@pytest.fixture(params=[n for n, r in SCHEDULERS.items() if r.interactive_limit])
def limited_mount(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Row, Path]]:
    """A mount whose scheduler allows only so many interactive jobs at once."""
    with _mounted_row(request, tmp_path, request.param) as found:
        yield found


def _queue_line(row: Row) -> str:
    return f'queue_name = "{row.queue}"\n' if row.queue else ""


def test_exit_codes_stdout_and_stderr(jobs_mount: tuple[Row, Path]) -> None:
    row, mnt = jobs_mount
    _submit(mnt, "ok", 'executable = "/bin/sh"\narguments = ["-c", "echo out; echo err >&2"]\n'
            + _queue_line(row))
    _submit(mnt, "three", 'executable = "/bin/sh"\narguments = ["-c", "echo before; exit 3"]\n'
            + _queue_line(row))
    ok, three = _wait_done(mnt, "ok", 180), _wait_done(mnt, "three", 180)
    if row.exit_codes:
        assert (ok["exit_code"], three["exit_code"]) == (0, 3), (ok, three)
    else:  # a scheduler that reports no exit code: status.json says so, never 0
        assert ok["exit_code"] == three["exit_code"] == "unknown"
    assert ok["error"] is None
    assert (mnt / ".jobs" / "ok" / "stdout").read_text() == "out\n"
    assert (mnt / ".jobs" / "ok" / "stderr").read_text() == "err\n"
    assert (mnt / ".jobs" / "three" / "stdout").read_text() == "before\n"


def test_cancel_a_sleeping_job(jobs_mount: tuple[Row, Path]) -> None:
    row, mnt = jobs_mount
    _submit(mnt, "sleeper", 'executable = "/bin/sleep"\narguments = ["600"]\n' + _queue_line(row))
    _wait_running(mnt, "sleeper", 120)
    (mnt / ".jobs" / "sleeper" / "ctl").write_text("cancel\n")
    st = _wait_done(mnt, "sleeper", 60)
    assert st["exit_code"] in (None, "unknown"), st  # killed: no exit code to claim
    assert st["state"].upper() in ("KILLED", "CANCELLED", "CANCELED", "DELETED"), st
    shutil.rmtree(mnt / ".jobs" / "sleeper")
    assert not (mnt / ".jobs" / "sleeper").exists()


def test_queues_are_listed(jobs_mount: tuple[Row, Path]) -> None:
    row, mnt = jobs_mount
    queues = json.loads((mnt / ".jobs" / "queues.json").read_text())
    names = [q["name"] for q in queues]
    assert names and all(isinstance(n, str) and n for n in names)
    if row.queue:
        assert row.queue in names
    assert [q["name"] for q in queues if q["default"]] == [row.default_queue]


def test_unknown_queue_is_a_bad_spec(jobs_mount: tuple[Row, Path]) -> None:
    _, mnt = jobs_mount
    with pytest.raises(OSError) as info:
        _submit(mnt, "lost", 'executable = "/bin/true"\nqueue_name = "no-such-queue"\n')
    assert info.value.errno == errno.EINVAL
    explanation = (mnt / ".jobs" / "lost.error").read_text()
    assert "no-such-queue" in explanation and len(explanation.splitlines()) <= 2
    assert "lost" not in [p.name for p in (mnt / ".jobs").iterdir() if p.is_dir()]


def test_interactive_rot13_or_a_clear_refusal(jobs_mount: tuple[Row, Path]) -> None:
    row, mnt = jobs_mount
    spec = ('executable = "/usr/bin/tr"\narguments = ["A-Za-z", "N-ZA-Mn-za-m"]\n'
            'interactive = true\n')
    if not row.interactive:
        with pytest.raises(OSError) as info:
            _submit(mnt, "rot", spec)
        assert info.value.errno in (errno.ENOTSUP, errno.EINVAL), info.value
        assert "interactive" in (mnt / ".jobs" / "rot.error").read_text().lower()
        return
    _submit(mnt, "rot", spec)
    job = mnt / ".jobs" / "rot"
    with open(job / "stdin", "w") as f:
        f.write("Hello World\n")
    with open(job / "stdout", "rb") as f:
        assert f.readline() == b"Uryyb Jbeyq\n"
    st = _wait_done(mnt, "rot", 120)
    assert st["exit_code"] == 0, st
    assert not _status(mnt, "rot")["running"]


def test_interactive_jobs_beyond_the_ssh_session_limit_are_refused(
        limited_mount: tuple[Row, Path]) -> None:
    row, mnt = limited_mount
    limit = row.interactive_limit
    spec = 'executable = "/bin/cat"\ninteractive = true\n'  # runs until its stdin ends
    names = [f"cat{i}" for i in range(limit)]
    try:
        for name in names:
            _submit(mnt, name, spec)
        with pytest.raises(OSError) as info:
            _submit(mnt, "one-too-many", spec)
        assert info.value.errno == errno.EBUSY
        why = (mnt / ".jobs" / "one-too-many.error").read_text()
        assert f"{limit} interactive jobs are running" in why and "MaxSessions" in why
        # All of them really run: each answers on its own stdout.
        for name in names:
            with open(mnt / ".jobs" / name / "stdin", "w") as f:
                f.write(f"{name}\n")
            assert _wait_done(mnt, name, 120)["exit_code"] == 0
            assert (mnt / ".jobs" / name / "stdout").read_text() == f"{name}\n"
        # With the others ended there is room again.
        (mnt / ".jobs" / "one-too-many.error").unlink()
        _submit(mnt, "one-too-many", spec)
        with open(mnt / ".jobs" / "one-too-many" / "stdin", "w") as f:
            f.write("last\n")
        assert _wait_done(mnt, "one-too-many", 120)["exit_code"] == 0
    finally:
        for name in [*names, "one-too-many"]:
            shutil.rmtree(mnt / ".jobs" / name, ignore_errors=True)


#: A value a shell would mangle, passed through `environment`.
ODD_VALUE = "a b $HOME `x` 'q' \"dq\" ; * \\ end"


def test_environment_reaches_the_job_and_odd_values_are_refused(
        jobs_mount: tuple[Row, Path]) -> None:
    """Issue 16, items 3 and 11 on every scheduler: ``environment`` arrives
    verbatim (over ssh on a server that refuses SSH "env" requests too), and a
    start time or count that cannot be honoured fails close() with NAME.error."""
    row, mnt = jobs_mount
    _submit(mnt, "env", json.dumps({"executable": "/bin/sh",
                                    "arguments": ["-c", 'printf "%s|" "$ODD" "$SECOND"'],
                                    "environment": {"ODD": ODD_VALUE, "SECOND": "2"},
                                    **({"queue_name": row.queue} if row.queue else {})}), "json")
    st = _wait_done(mnt, "env", 180)
    assert st["error"] is None, st
    assert (mnt / ".jobs" / "env" / "stdout").read_text() == f"{ODD_VALUE}|2|"
    for name, line in (("late", 'start_time = "garbage"\n'), ("none", "tasks = 0\n"),
                       ("bad", 'environment = {"A B" = "x"}\n')):
        with pytest.raises(OSError) as info:
            _submit(mnt, name, f'executable = "/bin/true"\n{line}' + _queue_line(row))
        assert info.value.errno in (errno.EINVAL, errno.EIO), (name, info.value)
        assert line.split()[0] in (mnt / ".jobs" / f"{name}.error").read_text()
        assert not (mnt / ".jobs" / name).exists()
