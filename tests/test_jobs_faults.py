"""`.jobs/` over ssh against faults and odd input (issue 16, items 1-3 and 14),
on a private sshd configured as a default one (no AcceptEnv)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.mounts import mounted
from tests.servers.sshd import SshServer


@pytest.fixture(scope="module")
def plain_sshd(slurm_home: Path) -> Iterator[SshServer]:
    """An sshd without AcceptEnv: it refuses every variable a client sends
    (its sessions see the test Slurm cluster, as `sshd`'s do)."""
    server = SshServer(accept_env=None, env={"SLURM_CONF": os.environ["SLURM_CONF"]}).start()
    try:
        yield server
    finally:
        server.stop()


def _submit(mnt: Path, name: str, spec: str, ext: str = "toml") -> None:
    with open(mnt / ".jobs" / f"{name}.{ext}", "w") as f:
        f.write(spec)


def _wait_done(mnt: Path, name: str, seconds: float = 60) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        st = json.loads((mnt / ".jobs" / name / "status.json").read_text())
        if st["done"]:
            return st
        assert time.monotonic() < deadline, f"job {name} not done: {st}"
        time.sleep(0.2)


def _remote_dir(server: SshServer, name: str) -> Path:
    remote = server.home / name
    shutil.rmtree(remote, ignore_errors=True)
    remote.mkdir()
    shutil.chown(remote, server.user, server.user)
    return remote


def _ssh_mount(server: SshServer, tmp_path: Path, remote: Path,
               extra: tuple[str, ...] = ()) -> "mounted":
    source = f"sftp://{server.user}@127.0.0.1:{server.port}{remote}"
    return mounted(source, tmp_path / "mnt", ["password_env=XJ_PW", "strict_host_key_checking=no",
                                              "job_poll_interval=0.5", *extra],
                   {"XJ_PW": server.password}, cache_dir=tmp_path / "cache")


def _session_pids(server: SshServer) -> list[int]:
    """Returns: the sshd processes serving connections (the listening sshd's
    children, found by its PID, and theirs: the unprivileged child holds the
    socket)."""
    assert server.workdir is not None
    parents = {int((server.workdir / "sshd.pid").read_text())}
    children: dict[int, int] = {}
    for proc in Path("/proc").iterdir():
        try:
            stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            children[int(proc.name)] = int(stat[1])
        except (OSError, IndexError, ValueError):
            continue
    found: list[int] = []
    while True:
        more = [pid for pid, ppid in children.items() if ppid in parents and pid not in found]
        if not more:
            return found
        found += more
        parents = set(more)


def test_a_lost_scheduler_connection_is_recreated(plain_sshd: SshServer,
                                                  tmp_path: Path) -> None:
    """What idle loss does (the engine's SSH library closes its connection
    after 10 minutes), done by killing the server side of every connection."""
    remote = _remote_dir(plain_sshd, "jobs-lost")
    with _ssh_mount(plain_sshd, tmp_path, remote) as mnt:
        _submit(mnt, "before", 'executable = "/bin/echo"\narguments = ["before"]\n')
        assert _wait_done(mnt, "before")["exit_code"] == 0
        killed = _session_pids(plain_sshd)
        assert killed
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
        # The engine sees the connection end, as it ends one idle for 10 minutes.
        time.sleep(2)
        for attempt in ("after", "again"):
            _submit(mnt, attempt, f'executable = "/bin/echo"\narguments = ["{attempt}"]\n')
            st = _wait_done(mnt, attempt)
            assert (st["state"], st["exit_code"]) == ("DONE", 0), str(st)
            assert (mnt / ".jobs" / attempt / "stdout").read_text() == f"{attempt}\n"
        queues = json.loads((mnt / ".jobs" / "queues.json").read_text())
        assert "unlimited" in {q["name"] for q in queues}


def test_a_lost_connection_of_the_slurm_runner_is_recreated(
        plain_sshd: SshServer, slurm: object, tmp_path: Path) -> None:
    """Our own batch system runners run their commands over the engine's ssh
    scheduler too: after its connection is lost, the next command makes it again."""
    remote = _remote_dir(plain_sshd, "jobs-lost-slurm")
    scheduler = f"scheduler=slurm+ssh://{plain_sshd.user}@127.0.0.1:{plain_sshd.port}"
    with _ssh_mount(plain_sshd, tmp_path, remote, (scheduler,)) as mnt:
        _submit(mnt, "before", 'executable = "/bin/echo"\narguments = ["before"]\n'
                               'environment = {WORD = "a b $c"}\n')
        assert _wait_done(mnt, "before", 120)["exit_code"] == 0
        for pid in _session_pids(plain_sshd):
            os.kill(pid, signal.SIGKILL)
        time.sleep(2)
        _submit(mnt, "after", 'executable = "/bin/sh"\narguments = ["-c", "echo \\"$WORD\\""]\n'
                              'environment = {WORD = "a b $c"}\n')
        st = _wait_done(mnt, "after", 120)
        assert (st["state"], st["exit_code"]) == ("COMPLETED", 0) or st["exit_code"] == 0, str(st)
        assert (mnt / ".jobs" / "after" / "stdout").read_text() == "a b $c\n"


def test_odd_specs_do_not_poison_the_session(plain_sshd: SshServer, tmp_path: Path) -> None:
    remote = _remote_dir(plain_sshd, "jobs-odd")
    with _ssh_mount(plain_sshd, tmp_path, remote) as mnt:
        with pytest.raises(OSError) as info:
            _submit(mnt, "nul", json.dumps({"executable": "/bin/echo",
                                            "arguments": ["a\u0000b"]}), "json")
        assert info.value.errno == errno.EINVAL
        explanation = (mnt / ".jobs" / "nul.error").read_text()
        assert "arguments" in explanation and "NUL" in explanation
        with pytest.raises(OSError) as info:
            _submit(mnt, "nulenv", 'executable = "/bin/true"\nenvironment = {A = "x\\u0000"}\n')
        assert "environment" in (mnt / ".jobs" / "nulenv.error").read_text()
        big = "x" * (300 * 1024)
        with pytest.raises(OSError) as info:
            _submit(mnt, "big", f'executable = "/bin/echo"\narguments = ["{big}"]\n')
        assert info.value.errno == errno.EINVAL
        explanation = (mnt / ".jobs" / "big.error").read_text()
        assert "bytes" in explanation and len(explanation) < 1000
        # A command line just under the limit runs, and so does the next job.
        fits = "y" * (100 * 1024)
        _submit(mnt, "fits", f'executable = "/bin/sh"\narguments = ["-c", "echo ${{#0}}", "{fits}"]\n')
        st = _wait_done(mnt, "fits")
        assert st["exit_code"] == 0, st
        assert (mnt / ".jobs" / "fits" / "stdout").read_text() == f"{len(fits)}\n"
        _submit(mnt, "normal", 'executable = "/bin/echo"\narguments = ["fine"]\n')
        assert _wait_done(mnt, "normal")["exit_code"] == 0
        assert (mnt / ".jobs" / "normal" / "stdout").read_text() == "fine\n"


def test_environment_reaches_a_job_on_a_default_sshd(plain_sshd: SshServer,
                                                     tmp_path: Path) -> None:
    remote = _remote_dir(plain_sshd, "jobs-env")
    odd = "a b $HOME `x` 'q' \"dq\" ; * \\ end"
    with _ssh_mount(plain_sshd, tmp_path, remote) as mnt:
        _submit(mnt, "env", json.dumps({
            "executable": "/bin/sh", "arguments": ["-c", 'printf "%s|%s" "$GREETING" "$_Other1"'],
            "environment": {"GREETING": odd, "_Other1": ""}}), "json")
        st = _wait_done(mnt, "env")
        assert st["exit_code"] == 0, st
        assert (mnt / ".jobs" / "env" / "stdout").read_text() == f"{odd}|"
        # An interactive job gets it too.
        _submit(mnt, "chat", json.dumps({
            "executable": "/bin/sh", "arguments": ["-c", 'printf "%s" "$GREETING"'],
            "environment": {"GREETING": odd}, "interactive": True}), "json")
        assert _wait_done(mnt, "chat")["exit_code"] == 0
        assert (mnt / ".jobs" / "chat" / "stdout").read_text() == odd


@pytest.mark.parametrize("scheduler", [None, "at+ssh"])
def test_no_strict_host_key_checking_never_writes_known_hosts(
        plain_sshd: SshServer, tmp_path: Path, request: pytest.FixtureRequest,
        scheduler: str | None) -> None:
    """The engine's SSH library (file system and scheduler) added and replaced
    keys in ~/.ssh/known_hosts when told not to check them; at (and torque)
    over ssh checked strictly whatever the mount said."""
    extra: tuple[str, ...] = ()
    if scheduler:
        request.getfixturevalue("atd")
        extra = (f"scheduler={scheduler}://{plain_sshd.user}@127.0.0.1:{plain_sshd.port}",)
    known = Path(os.path.expanduser("~/.ssh/known_hosts"))
    saved = known.read_bytes() if known.exists() else None
    made_dir = not known.parent.exists()
    known.parent.mkdir(mode=0o700, exist_ok=True)
    # A wrong key for the test host (it is another server's key).
    wrong = (tmp_path / "wrong")
    os.system(f"ssh-keygen -q -t ed25519 -N '' -f {wrong}")
    line = f"[127.0.0.1]:{plain_sshd.port} " + " ".join(
        wrong.with_suffix(".pub").read_text().split()[:2]) + "\n"
    content = (saved or b"") + line.encode()
    known.write_bytes(content)
    try:
        remote = _remote_dir(plain_sshd, "jobs-known")
        with _ssh_mount(plain_sshd, tmp_path, remote, extra) as mnt:
            (mnt / "f.txt").write_text("x\n")
            assert (mnt / ".jobs").is_dir()  # the scheduler accepted the wrong key
            _submit(mnt, "k", 'executable = "/bin/cat"\narguments = ["f.txt"]\n')
            # at keeps no exit codes
            assert _wait_done(mnt, "k", 120)["exit_code"] == ("unknown" if scheduler else 0)
            assert (mnt / ".jobs" / "k" / "stdout").read_text() == "x\n"
        assert known.read_bytes() == content
    finally:
        if saved is None:
            known.unlink(missing_ok=True)
            if made_dir:
                shutil.rmtree(known.parent, ignore_errors=True)
        else:
            known.write_bytes(saved)
