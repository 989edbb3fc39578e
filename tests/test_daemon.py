"""The daemon: mounts through the control socket, config, signals, systemd
notify, single instance, peer-uid check, secrets. Real daemons, real mounts."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.mounts import is_mounted, stop_daemon, wait_gone
from tests.servers.sshd import SshServer

XENONFS = [sys.executable, "-m", "xenonfs.cli"]


class DaemonRun:
    """A `xenonfs daemon` in its own runtime and config dirs (so each test has
    its own daemon), stopped by its PID in teardown."""

    def __init__(self, base: Path, extra_env: dict[str, str] | None = None) -> None:
        self.runtime = base / "run"
        self.config_home = base / "config"
        self.runtime.mkdir(mode=0o700, exist_ok=True)
        (self.config_home / "xenonfs").mkdir(parents=True, exist_ok=True)
        self.config = self.config_home / "xenonfs" / "config.toml"
        self.log = base / "daemon.log"
        self.env = {**os.environ, "XDG_RUNTIME_DIR": str(self.runtime),
                    "XDG_CONFIG_HOME": str(self.config_home), **(extra_env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.mountpoints: list[Path] = []

    def start(self, wait: bool = True, prefix: tuple[str, ...] = ()) -> "DaemonRun":
        """Args: prefix: a command that runs the daemon (e.g. in a namespace)."""
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([*prefix, *XENONFS, "-v", "daemon"], env=self.env,
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        if wait:
            deadline = time.monotonic() + 120
            while self.cli("status").returncode != 0:
                assert self.proc.poll() is None, f"daemon exited: {self.log.read_text()}"
                assert time.monotonic() < deadline, "daemon did not answer"
                time.sleep(0.2)
        return self

    def cli(self, *args: str, timeout: float = 300, **kw: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*XENONFS, *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout, **kw)  # type: ignore[arg-type]

    def popen_cli(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([*XENONFS, *args], env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def status(self) -> dict:
        out = self.cli("status", "--json")
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    def wait_for(self, predicate, seconds: float = 120) -> dict:
        deadline = time.monotonic() + seconds
        while True:
            st = self.status()
            if predicate(st):
                return st
            assert time.monotonic() < deadline, f"timed out; last status {st}"
            time.sleep(0.3)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        stop_daemon(self.runtime)  # one that `xenonfs mount` started by itself
        for mp in self.mountpoints:
            if is_mounted(mp):
                subprocess.run(["fusermount3", "-u", "-z", str(mp)], capture_output=True)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[DaemonRun]:
    run = DaemonRun(tmp_path)
    try:
        yield run
    finally:
        run.stop()


def _dirs(tmp_path: Path, name: str) -> tuple[Path, Path]:
    backing, mnt = tmp_path / f"{name}-backing", tmp_path / f"{name}-mnt"
    backing.mkdir()
    mnt.mkdir()
    return backing, mnt


def test_mount_status_umount_through_the_daemon(daemon: DaemonRun, tmp_path: Path) -> None:
    backing, mnt = _dirs(tmp_path, "a")
    daemon.mountpoints.append(mnt)
    # No daemon runs yet: `xenonfs mount` starts one in the background.
    out = daemon.cli("mount", f"file://{backing}", str(mnt), "-o", f"cache_dir={tmp_path / 'c'}")
    assert out.returncode == 0, out.stderr
    assert is_mounted(mnt)
    (mnt / "hello.txt").write_text("hi\n")
    assert (backing / "hello.txt").read_text() == "hi\n"
    st = daemon.status()
    [m] = st["mounts"]
    assert m["mountpoint"] == str(mnt) and m["state"] == "mounted" and m["worker_pid"] > 0
    assert st["engine"]["state"] == "ready" and st["engine"]["pid"] > 0
    human = daemon.cli("status")
    assert str(mnt) in human.stdout and "mounted" in human.stdout
    out = daemon.cli("umount", str(mnt))
    assert out.returncode == 0, out.stderr
    assert not is_mounted(mnt)
    assert daemon.status()["mounts"] == []
    # The daemon started in the background is stopped by `xenonfs stop`.
    pid = st["daemon"]["pid"]
    assert daemon.cli("stop").returncode == 0
    assert wait_gone(pid, 60)


def test_bad_mount_requests_name_the_problem(daemon: DaemonRun, tmp_path: Path) -> None:
    daemon.start()
    backing, mnt = _dirs(tmp_path, "b")
    out = daemon.cli("mount", f"file://{backing}", str(mnt), "-o", "bogus=1")
    assert out.returncode != 0 and "bogus" in out.stderr
    out = daemon.cli("mount", f"file://{tmp_path}/missing", str(mnt))
    assert out.returncode != 0 and "missing" in out.stderr
    assert not is_mounted(mnt)
    assert daemon.status()["mounts"] == []


def test_second_daemon_refuses_and_says_where(daemon: DaemonRun) -> None:
    daemon.start()
    second = daemon.cli("daemon", timeout=60)
    assert second.returncode == 1
    assert f"pid {daemon.proc.pid}" in second.stderr and "control.sock" in second.stderr


def test_socket_and_directory_modes(daemon: DaemonRun) -> None:
    daemon.start()
    d = daemon.runtime / "xenonfs"
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    sock = d / "control.sock"
    assert stat.S_ISSOCK(sock.stat().st_mode)
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600


@pytest.fixture
def daemon_in_tmp() -> Iterator[DaemonRun]:
    """A daemon whose directories another user could reach if their modes
    allowed it (pytest's own tmp dirs are 0700 all the way up)."""
    base = Path(tempfile.mkdtemp(prefix="xenonfs-uid-"))
    os.chmod(base, 0o755)
    run = DaemonRun(base)
    try:
        yield run
    finally:
        run.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_other_uid_is_refused(daemon_in_tmp: DaemonRun) -> None:
    daemon = daemon_in_tmp
    daemon.start()
    sock = daemon.runtime / "xenonfs" / "control.sock"
    probe = textwrap.dedent(f"""
        import socket, sys
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect({str(sock)!r})
        except OSError as exc:
            print("connect-refused", exc.errno); sys.exit(0)
        s.settimeout(10)
        try:  # the guard may close before, during or after this
            s.sendall(b"PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n")
            print("closed" if s.recv(100) == b"" else "answered")
        except (ConnectionResetError, BrokenPipeError):
            print("closed")
    """)
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                 sys.executable, "-c", probe]
    # As the modes stand, another user cannot even reach the socket.
    out = subprocess.run(as_nobody, capture_output=True, text=True, timeout=30)
    assert out.stdout.startswith("connect-refused"), out.stdout + out.stderr
    # Open the modes up: the peer-uid check must still turn it away.
    os.chmod(daemon.runtime, 0o755)
    os.chmod(sock.parent, 0o755)
    os.chmod(sock, 0o666)
    out = subprocess.run(as_nobody, capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "closed", out.stdout + out.stderr
    assert "refused a control connection from uid 65534" in daemon.log.read_text()
    assert daemon.cli("status").returncode == 0  # our own uid still gets in


def test_sighup_adds_a_mount_from_the_config(daemon: DaemonRun, tmp_path: Path) -> None:
    backing_a, mnt_a = _dirs(tmp_path, "ha")
    backing_b, mnt_b = _dirs(tmp_path, "hb")
    daemon.mountpoints += [mnt_a, mnt_b]
    entry = 'source = "file://{}"\nmountpoint = "{}"\noptions = {{ cache_dir = "{}" }}\n'
    daemon.config.write_text("[mounts.a]\n" + entry.format(backing_a, mnt_a, tmp_path / "ca"))
    daemon.start()
    daemon.wait_for(lambda st: [m["state"] for m in st["mounts"]] == ["mounted"])
    assert is_mounted(mnt_a)
    daemon.config.write_text(daemon.config.read_text() + "[mounts.b]\n"
                             + entry.format(backing_b, mnt_b, tmp_path / "cb"))
    daemon.proc.send_signal(signal.SIGHUP)
    st = daemon.wait_for(lambda st: len(st["mounts"]) == 2 and
                         all(m["state"] == "mounted" for m in st["mounts"]))
    assert {m["name"] for m in st["mounts"]} == {"a", "b"}
    assert all(m["from_config"] for m in st["mounts"])
    (mnt_b / "x").write_text("b")
    assert (backing_b / "x").read_text() == "b"
    # Removing a mount from the config and reloading unmounts it.
    daemon.config.write_text("[mounts.b]\n" + entry.format(backing_b, mnt_b, tmp_path / "cb"))
    daemon.proc.send_signal(signal.SIGHUP)
    daemon.wait_for(lambda st: [m["name"] for m in st["mounts"]] == ["b"])
    assert not is_mounted(mnt_a)


def test_sigterm_uploads_a_dirty_file_before_exit(daemon: DaemonRun, tmp_path: Path) -> None:
    backing, mnt = _dirs(tmp_path, "t")
    daemon.mountpoints.append(mnt)
    daemon.start()
    out = daemon.cli("mount", f"file://{backing}", str(mnt), "-o", f"cache_dir={tmp_path / 'c'}")
    assert out.returncode == 0, out.stderr
    # A writer in its own process keeps the file open: written, never closed,
    # so at SIGTERM the data exists only in the mount's cache (dirty).
    data = os.urandom(3 << 20)
    (tmp_path / "data.bin").write_bytes(data)
    writer = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        f = open({str(mnt / 'dirty.bin')!r}, "wb")
        f.write(open({str(tmp_path / 'data.bin')!r}, "rb").read()); f.flush()
        print("written", flush=True)
        time.sleep(600)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "written"
        assert daemon.status()["mounts"][0]["dirty_files"] == 1
        assert (backing / "dirty.bin").stat().st_size == 0  # not uploaded yet
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(120) == 0
    finally:
        writer.kill()
        writer.wait()
    assert (backing / "dirty.bin").read_bytes() == data
    assert not is_mounted(mnt)


def test_notify_protocol_ready_watchdog_stopping(tmp_path: Path) -> None:
    notify = tmp_path / "notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(notify))
    listener.settimeout(120)
    run = DaemonRun(tmp_path, {"NOTIFY_SOCKET": str(notify), "WATCHDOG_USEC": "1000000"})
    try:
        run.start(wait=False)
        seen: list[str] = []

        def receive_until(wanted: str) -> None:
            while not any(line == wanted for msg in seen for line in msg.split("\n")):
                seen.append(listener.recv(4096).decode())

        receive_until("READY=1")
        ready_at = len(seen)
        receive_until("WATCHDOG=1")
        assert len(seen) > ready_at - 1
        run.proc.send_signal(signal.SIGTERM)
        receive_until("STOPPING=1")
        assert run.proc.wait(120) == 0
        lines = [line for msg in seen for line in msg.split("\n")]
        ready = lines.index("READY=1")
        assert "WATCHDOG=1" in lines[ready:]
        assert lines.index("STOPPING=1") > ready
        assert any(line.startswith("STATUS=") for line in lines)
    finally:
        run.stop()
        listener.close()


def test_password_never_in_argv_or_logs(daemon: DaemonRun, sshd: SshServer,
                                        tmp_path: Path) -> None:
    mnt = tmp_path / "s-mnt"
    mnt.mkdir()
    daemon.mountpoints.append(mnt)
    remote = sshd.home / "daemon-secret"
    remote.mkdir(exist_ok=True)
    shutil.chown(remote, sshd.user, sshd.user)
    env = {**daemon.env, "XS_PW": sshd.password}
    out = subprocess.run([*XENONFS, "-v", "mount", f"sftp://{sshd.user}@127.0.0.1:{sshd.port}{remote}",
                          str(mnt), "-o", "password_env=XS_PW,strict_host_key_checking=no",
                          "-o", f"cache_dir={tmp_path / 'c'}"], env=env, capture_output=True,
                         text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    (mnt / "f.txt").write_text("x")
    assert (remote / "f.txt").read_text() == "x"
    pids = [daemon.status()["daemon"]["pid"], daemon.status()["mounts"][0]["worker_pid"]]
    for pid in pids:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        assert sshd.password not in cmdline
        environ = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
        assert sshd.password not in environ
    logs = (daemon.runtime / "xenonfs" / "daemon.log").read_text()
    assert "mounted" in logs
    assert sshd.password not in logs + out.stderr + out.stdout
    assert daemon.cli("umount", str(mnt)).returncode == 0


def test_refresh_and_flush(daemon: DaemonRun, tmp_path: Path) -> None:
    backing, mnt = _dirs(tmp_path, "r")
    daemon.mountpoints.append(mnt)
    daemon.start()
    out = daemon.cli("mount", f"file://{backing}", str(mnt), "-o",
                     f"cache_dir={tmp_path / 'c'},dir_timeout=3600,attr_timeout=3600")
    assert out.returncode == 0, out.stderr
    (backing / "sub").mkdir()
    assert os.listdir(mnt / "sub") == []
    (backing / "sub" / "new.txt").write_text("n")
    assert os.listdir(mnt / "sub") == []  # the listing is cached for an hour
    out = daemon.cli("refresh", str(mnt / "sub"))
    assert out.returncode == 0, out.stderr
    assert os.listdir(mnt / "sub") == ["new.txt"]
    assert daemon.cli("refresh", str(tmp_path)).returncode != 0  # not in a mount
    # flush uploads a file that is still open for writing.
    writer = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        f = open({str(mnt / 'open.txt')!r}, "w"); f.write("still open"); f.flush()
        print("written", flush=True); time.sleep(600)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "written"
        assert (backing / "open.txt").read_text() == ""
        assert daemon.status()["mounts"][0]["dirty_files"] == 1
        out = daemon.cli("flush", str(mnt))
        assert out.returncode == 0, out.stderr
        assert (backing / "open.txt").read_text() == "still open"
        assert daemon.status()["mounts"][0]["dirty_files"] == 0
    finally:
        writer.kill()
        writer.wait()


def test_mounts_survive_an_engine_crash(daemon: DaemonRun, tmp_path: Path) -> None:
    backing, mnt = _dirs(tmp_path, "e")
    daemon.mountpoints.append(mnt)
    daemon.start()
    out = daemon.cli("mount", f"file://{backing}", str(mnt), "-o", f"cache_dir={tmp_path / 'c'}")
    assert out.returncode == 0, out.stderr
    (mnt / "before.txt").write_text("1")
    engine = daemon.status()["engine"]
    os.kill(engine["pid"], signal.SIGKILL)
    st = daemon.wait_for(lambda st: st["engine"]["state"] == "ready" and
                         st["engine"]["pid"] != engine["pid"])
    assert st["engine"]["restarts"] >= 1
    # The worker learnt the new engine's address: the mount works on.
    (mnt / "after.txt").write_text("2")
    assert (backing / "after.txt").read_text() == "2"
    assert (mnt / "before.txt").read_text() == "1"
    assert st["mounts"][0]["state"] == "mounted"


def test_job_ids_stay_unique_across_engine_runs(daemon: DaemonRun, tmp_path: Path) -> None:
    """The engine numbers local jobs afresh in every run ("local-0" again): the
    ids xenonfs shows carry the run, and a job of a run that ended is never
    taken for the new run's job of the same number."""
    backing, mnt = _dirs(tmp_path, "j")
    daemon.mountpoints.append(mnt)
    daemon.start()
    out = daemon.cli("mount", f"file://{backing}", str(mnt), "-o",
                     f"cache_dir={tmp_path / 'c'},job_poll_interval=0.3")
    assert out.returncode == 0, out.stderr

    def submit(name: str, spec: str) -> dict:
        (mnt / ".jobs" / f"{name}.toml").write_text(spec)
        deadline = time.monotonic() + 60
        while True:
            st = json.loads((mnt / ".jobs" / name / "status.json").read_text())
            if st["running"] or st["done"]:
                return st
            assert time.monotonic() < deadline, st
            time.sleep(0.2)

    first = submit("first", 'executable = "/bin/sleep"\narguments = ["120"]\n')
    engine = daemon.status()["engine"]
    os.kill(engine["pid"], signal.SIGKILL)
    daemon.wait_for(lambda st: st["engine"]["state"] == "ready" and
                    st["engine"]["pid"] != engine["pid"])
    second = submit("second", 'executable = "/bin/sleep"\narguments = ["120"]\n')
    assert first["job_id"].startswith("local-0.") and second["job_id"].startswith("local-0.")
    assert first["job_id"] != second["job_id"]
    # The first job died with its engine: it is not reported as the second one's twin.
    deadline = time.monotonic() + 60
    while not (st := json.loads((mnt / ".jobs" / "first" / "status.json").read_text()))["done"]:
        assert time.monotonic() < deadline, st
        time.sleep(0.2)
    assert (st["state"], st["exit_code"]) == ("UNKNOWN", None)
    assert "restarted" in st["error"]
    listed = daemon.cli("jobs").stdout
    assert first["job_id"] in listed and second["job_id"] in listed
