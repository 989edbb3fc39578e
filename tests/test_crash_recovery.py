"""Our own parts crash (issue 16, items 8-10): the engine JVM or a mount
worker killed by PID. Each costs a retry, never a mount, and never a wrong
answer (ENOENT for a file that exists)."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.mounts import alive, is_mounted, wait_gone
from tests.servers.sshd import SshServer
from tests.test_daemon import XENONFS, DaemonRun, daemon  # noqa: F401 - the fixture
from xenonfs.engine.process import Engine, EngineSettings, EngineState


def _dirs(tmp_path: Path, name: str) -> tuple[Path, Path]:
    backing, mnt = tmp_path / f"{name}-backing", tmp_path / f"{name}-mnt"
    backing.mkdir()
    mnt.mkdir()
    return backing, mnt


def _mount(daemon: DaemonRun, source: str, mnt: Path, *options: str) -> None:
    daemon.mountpoints.append(mnt)
    out = daemon.cli("mount", source, str(mnt), *[a for o in options for a in ("-o", o)])
    assert out.returncode == 0, out.stderr


def _big_file(path: Path, mib: int) -> str:
    """Writes ``mib`` MiB that do not compress or dedupe. Returns: its sha256."""
    digest = hashlib.sha256()
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for i in range(mib):
            chunk = i.to_bytes(8, "little") + block[8:]
            digest.update(chunk)
            f.write(chunk)
    return digest.hexdigest()


def _read_in_thread(path: Path) -> tuple[threading.Thread, dict[str, Any]]:
    box: dict[str, Any] = {}

    def read() -> None:
        digest = hashlib.sha256()
        try:
            with open(path, "rb") as f:
                while data := f.read(1 << 20):
                    digest.update(data)
            box["sha"] = digest.hexdigest()
        except OSError as exc:
            box["errno"] = exc.errno
    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread, box


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def _new_child(parent: int, name: str, old: list[int], seconds: float = 60) -> int:
    """Returns: the pid of a child of ``parent`` named ``name`` not in ``old``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for pid in _children(parent):
            try:
                comm = Path(f"/proc/{pid}/comm").read_text().strip()
            except OSError:
                continue
            if comm == name and pid not in old and alive(pid):
                return pid
        time.sleep(0.01)
    raise AssertionError(f"no new {name} child of {parent} within {seconds} s")


def _cache_growing(cache: Path) -> bool:
    """Returns: some file in the cache holds data (a download is under way)."""
    for root, _, files in os.walk(cache):
        for name in files:
            try:
                if os.path.getsize(os.path.join(root, name)) > 0:
                    return True
            except OSError:
                pass
    return False


def test_engine_killed_during_a_read_gives_eio_or_the_data_never_enoent(
        daemon: DaemonRun, tmp_path: Path) -> None:
    backing, mnt = _dirs(tmp_path, "k")
    cache = tmp_path / "c"
    sha = _big_file(backing / "big", 160)
    daemon.start()
    _mount(daemon, f"file://{backing}", mnt, f"cache_dir={cache}", "backend=engine")
    engine = daemon.status()["engine"]
    thread, box = _read_in_thread(mnt / "big")
    deadline = time.monotonic() + 30
    while not _cache_growing(cache):
        assert time.monotonic() < deadline and thread.is_alive(), f"no download seen: {box}"
        time.sleep(0.01)
    os.kill(engine["pid"], signal.SIGKILL)
    thread.join(120)
    assert not thread.is_alive(), "the read hangs after the engine's crash"
    assert box.get("errno") in (None, errno.EIO), f"read failed with {errno.errorcode[box['errno']]}"
    if "sha" in box:
        assert box["sha"] == sha
    # The engine is back, and so is the file, whole.
    daemon.wait_for(lambda st: st["engine"]["state"] == "ready" and
                    st["engine"]["pid"] != engine["pid"], 120)
    thread, box = _read_in_thread(mnt / "big")
    thread.join(120)
    assert box.get("sha") == sha, box


def test_engine_restart_backoff_doubles_to_its_cap_and_never_gives_up() -> None:
    engine = Engine(EngineSettings(restart_delay=0.5, restart_delay_max=30.0))
    delays = [engine._crashed(start_failed=True) for _ in range(10)]
    assert delays == [0.5, 1, 2, 4, 8, 16, 30, 30, 30, 30]
    assert engine.restarts == 10 and engine.state is not EngineState.FAILED
    # A generation that stayed up a while starts the row over.
    engine._last_started = time.monotonic() - engine.settings.stable_after - 1
    assert engine._crashed(start_failed=False) == 0.5


def test_daemon_lives_through_seven_engine_crashes(tmp_path: Path) -> None:
    """The old rule gave up at the 6th crash within 300 s: the daemon exited
    with a traceback and left dead mounts behind."""
    run = DaemonRun(tmp_path, {"XENONFS_ENGINE_RESTART_DELAY": "0.05",
                               "XENONFS_ENGINE_RESTART_DELAY_MAX": "0.4"})
    try:
        backing, mnt = _dirs(tmp_path, "e")
        (backing / "f.txt").write_text("before")
        run.start()
        _mount(run, f"file://{backing}", mnt, f"cache_dir={tmp_path / 'c'}", "backend=engine",
               "attr_timeout=0", "dir_timeout=0")
        seen: list[int] = []
        for i in range(7):
            # Each JVM as soon as it is there, started or not: a crash loop.
            seen.append(_new_child(run.proc.pid, "java", seen))
            os.kill(seen[-1], signal.SIGKILL)
            if i == 3:
                # Meanwhile requests get the data (restarted in time) or EIO,
                # never ENOENT or ECONNABORTED.
                try:
                    os.stat(mnt / "f.txt")
                except OSError as exc:
                    assert exc.errno == errno.EIO, exc
            assert run.proc.poll() is None, run.log.read_text()[-3000:]
        st = run.wait_for(lambda st: st["engine"]["state"] == "ready" and
                          st["engine"]["pid"] not in seen, 120)
        assert st["engine"]["restarts"] >= 7
        assert "exited with code -9" in st["engine"]["last_error"]
        assert (mnt / "f.txt").read_text() == "before"
        (mnt / "g.txt").write_text("after")
        assert (backing / "g.txt").read_text() == "after"
        assert [m["state"] for m in st["mounts"]] == ["mounted"]
        human = " ".join(run.cli("status").stdout.split())  # rich wraps long lines
        assert f"{st['engine']['restarts']} restart(s); last error: engine" in human, human
        assert "Traceback" not in run.log.read_text()
    finally:
        run.stop()


def test_killed_worker_is_restarted_with_its_dirty_file(daemon: DaemonRun,
                                                        tmp_path: Path) -> None:
    backing, mnt = _dirs(tmp_path, "w")
    (backing / "old.txt").write_text("old")
    daemon.start()
    _mount(daemon, f"file://{backing}", mnt, f"cache_dir={tmp_path / 'c'}")
    [m] = daemon.status()["mounts"]
    # Written, not closed: only in the worker's cache when it dies.
    fd = os.open(mnt / "dirty.txt", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.write(fd, b"not uploaded yet")
        assert not (backing / "dirty.txt").exists() or \
            (backing / "dirty.txt").read_bytes() != b"not uploaded yet"
        os.kill(m["worker_pid"], signal.SIGKILL)
        assert wait_gone(m["worker_pid"], 30)
        st = daemon.wait_for(lambda st: [x["state"] for x in st["mounts"]] == ["mounted"] and
                             st["mounts"][0]["worker_pid"] != m["worker_pid"], 60)
    finally:
        try:
            os.close(fd)
        except OSError:
            pass  # its mount died under it
    [again] = st["mounts"]
    assert again["restarts"] == 1 and again["mountpoint"] == str(mnt)
    assert "SIGKILL" in " ".join(again["errors"])
    # The new worker uploaded what the dead one held, and serves the mount.
    deadline = time.monotonic() + 30
    while not ((backing / "dirty.txt").exists() and
               (backing / "dirty.txt").read_bytes() == b"not uploaded yet"):
        assert time.monotonic() < deadline, "the dirty file was not uploaded"
        time.sleep(0.1)
    assert (mnt / "old.txt").read_text() == "old"
    (mnt / "new.txt").write_text("new")
    assert (backing / "new.txt").read_text() == "new"
    human = " ".join(daemon.cli("status").stdout.split())
    assert "mounted (restarted 1 times)" in human, human
    assert daemon.cli("umount", str(mnt)).returncode == 0
    assert not is_mounted(mnt)


def test_while_a_killed_worker_is_replaced_nothing_reaches_the_directory_under_it(
        daemon: DaemonRun, tmp_path: Path) -> None:
    """Between a worker's death and its successor's mount, access fails
    (ENOTCONN, or ECONNABORTED for a request in flight): a file that exists is never ENOENT, and a write never lands in
    the local directory under the mount point, where it would be lost."""
    backing, mnt = _dirs(tmp_path, "g")
    (backing / "old.txt").write_text("old")
    daemon.start()
    _mount(daemon, f"file://{backing}", mnt, f"cache_dir={tmp_path / 'c'}")
    [m] = daemon.status()["mounts"]
    os.kill(m["worker_pid"], signal.SIGKILL)
    assert wait_gone(m["worker_pid"], 30)
    seen: list[str] = []
    deadline = time.monotonic() + 60
    turn = 0
    while True:
        turn += 1
        try:
            with open(mnt / f"during-{turn}.txt", "w") as f:
                f.write("written while the worker was replaced")
            assert (mnt / "old.txt").read_text() == "old"
        except OSError as exc:
            seen.append(errno.errorcode.get(exc.errno, str(exc.errno)))
        else:
            st = daemon.status()
            if st["mounts"][0]["worker_pid"] != m["worker_pid"] and \
                    st["mounts"][0]["state"] == "mounted":
                break
        assert time.monotonic() < deadline, f"no new worker; errors seen: {set(seen)}"
        time.sleep(0.05)
    # ECONNABORTED: a request in flight as the worker died (the kernel's answer).
    assert "ENOTCONN" in seen and set(seen) <= {"ENOTCONN", "ECONNABORTED"}, seen
    assert daemon.cli("umount", str(mnt)).returncode == 0
    assert not is_mounted(mnt)
    assert os.listdir(mnt) == []


def test_mount_on_a_dead_mount_point_recovers_it(daemon: DaemonRun, tmp_path: Path) -> None:
    backing, mnt = _dirs(tmp_path, "d")
    (backing / "f.txt").write_text("here")
    daemon.mountpoints.append(mnt)
    # A foreground mount killed by SIGKILL leaves the kernel's mount behind.
    fg = subprocess.Popen([*XENONFS, "mount", "-f", f"file://{backing}", str(mnt),
                           "-o", f"cache_dir={tmp_path / 'fc'}"], env=daemon.env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not is_mounted(mnt):
            assert fg.poll() is None and time.monotonic() < deadline, "no foreground mount"
            time.sleep(0.1)
    finally:
        fg.kill()
        fg.wait(30)
    try:
        os.stat(mnt)
    except OSError as exc:
        assert exc.errno == errno.ENOTCONN
    else:
        raise AssertionError("the killed mount still answers")
    out = daemon.cli("mount", f"file://{backing}", str(mnt), "-o", f"cache_dir={tmp_path / 'c'}")
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    assert "was a dead xenonfs mount" in out.stderr
    assert (mnt / "f.txt").read_text() == "here"
    assert daemon.cli("umount", str(mnt)).returncode == 0


def _descendants(pid: int) -> list[int]:
    found = []
    for child in _children(pid):
        found += [child, *_descendants(child)]
    return found


def _timed(fn: Any, limit: float = 60) -> tuple[float, OSError | None]:
    """Returns: how long ``fn()`` took, and the OSError it raised (if any).
    Fails when it still blocks after ``limit`` s (it is left to end by itself)."""
    box: dict[str, Any] = {}

    def call() -> None:
        try:
            fn()
        except OSError as exc:
            box["error"] = exc
    start = time.monotonic()
    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(limit)
    assert not thread.is_alive(), f"still blocked after {limit:.0f} s"
    return time.monotonic() - start, box.get("error")


def test_frozen_sshd_gives_eio_within_the_deadline_then_works_again(
        daemon: DaemonRun, sshd: SshServer, tmp_path: Path) -> None:
    """Issue 16 item 4 on the engine path: a server that stops answering
    (SIGSTOP, no RST) made close() block ~14 min, then fail "authentication
    failed"."""
    remote = sshd.home / "frozen-engine"
    if remote.exists():
        shutil.rmtree(remote)
    remote.mkdir()
    sha = _big_file(remote / "big.bin", 4)
    for p in (remote, remote / "big.bin"):
        shutil.chown(p, sshd.user, sshd.user)
    mnt, other_src, other = tmp_path / "s-mnt", tmp_path / "o-src", tmp_path / "o-mnt"
    for p in (mnt, other_src, other):
        p.mkdir()
    daemon.start()
    daemon.mountpoints += [mnt, other]
    out = subprocess.run(
        [*XENONFS, "mount", f"sftp://{sshd.user}@127.0.0.1:{sshd.port}{remote}", str(mnt),
         "-o", "password_env=XS_PW,strict_host_key_checking=no,backend=engine,engine_timeout=4",
         "-o", f"cache_dir={tmp_path / 'c'}"], env={**daemon.env, "XS_PW": sshd.password},
        capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    _mount(daemon, f"file://{other_src}", other, f"cache_dir={tmp_path / 'oc'}",
           "backend=engine", "engine_timeout=3")
    assert "big.bin" in os.listdir(mnt)
    writer = open(mnt / "w.txt", "wb")
    writer.write(b"x" * (1 << 20))
    writer.flush()
    master = int((sshd.workdir / "sshd.pid").read_text())
    frozen = [master, *_descendants(master)]
    for pid in frozen:
        os.kill(pid, signal.SIGSTOP)
    try:
        took, error = _timed(writer.close)
        print(f"close: {took:.1f} s, {error}")
        assert error is not None and error.errno == errno.EIO, error
        assert took < 45, f"close() took {took:.0f} s"
        took, error = _timed(lambda: (mnt / "big.bin").read_bytes())
        print(f"read: {took:.1f} s, {error}")
        assert error is not None and error.errno == errno.EIO, error
        assert took < 45, f"read took {took:.0f} s"
        # The other mount shares the engine and works on meanwhile.
        took, error = _timed(lambda: (other / "o.txt").write_text("other"))
        assert error is None and took < 10, (took, error)
        assert (other_src / "o.txt").read_text() == "other"
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
    # The server answers again: so does the mount, and nobody said "authentication".
    deadline = time.monotonic() + 60
    while True:
        took, error = _timed(lambda: (mnt / "after.txt").write_text("after"))
        if error is None:
            break
        assert error.errno == errno.EIO and time.monotonic() < deadline, error
        time.sleep(1)
    assert (remote / "after.txt").read_text() == "after"
    assert hashlib.sha256((mnt / "big.bin").read_bytes()).hexdigest() == sha
    [m] = [m for m in daemon.status()["mounts"] if m["mountpoint"] == str(mnt)]
    assert not [e for e in m["errors"] if "authentication" in e.lower()], m["errors"]
    assert daemon.cli("umount", str(mnt)).returncode == 0


def _job_status(mnt: Path, name: str) -> dict:
    return json.loads((mnt / ".jobs" / name / "status.json").read_text())


@pytest.mark.parametrize("scheduler", ["local", "ssh"])
def test_a_job_runs_on_across_a_killed_worker(daemon: DaemonRun, tmp_path: Path,
                                              request: pytest.FixtureRequest,
                                              scheduler: str) -> None:
    """local and ssh jobs live in the engine scheduler the worker opened; a
    killed worker leaves it open with the job running in it, and the next
    worker asks it (it reported UNKNOWN: "the scheduler no longer knows this
    job"), then closes it."""
    mnt = tmp_path / "j-mnt"
    mnt.mkdir()
    daemon.start()
    daemon.mountpoints.append(mnt)
    options = [f"cache_dir={tmp_path / 'c'}", "job_poll_interval=0.5"]
    env = daemon.env
    if scheduler == "local":
        backing = tmp_path / "j-backing"
        backing.mkdir()
        source = f"file://{backing}"
    else:
        sshd: SshServer = request.getfixturevalue("sshd")
        backing = sshd.home / f"killed-{os.getpid()}"
        shutil.rmtree(backing, ignore_errors=True)
        backing.mkdir()
        shutil.chown(backing, sshd.user, sshd.user)
        source = f"sftp://{sshd.user}@127.0.0.1:{sshd.port}{backing}"
        options.append("password_env=XS_PW,strict_host_key_checking=no")
        env = {**daemon.env, "XS_PW": sshd.password}
    out = subprocess.run([*XENONFS, "mount", source, str(mnt),
                          *[a for o in options for a in ("-o", o)]],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    [m] = daemon.status()["mounts"]
    with open(mnt / ".jobs" / "slow.toml", "w") as f:
        f.write('executable = "/bin/sh"\n'
                'arguments = ["-c", "while [ ! -e go ]; do sleep 0.2; done; echo finished"]\n')
    deadline = time.monotonic() + 60
    while not (st := _job_status(mnt, "slow"))["running"]:
        assert not st["done"] and time.monotonic() < deadline, st
        time.sleep(0.2)
    os.kill(m["worker_pid"], signal.SIGKILL)
    assert wait_gone(m["worker_pid"], 30)
    daemon.wait_for(lambda st: [x["state"] for x in st["mounts"]] == ["mounted"] and
                    st["mounts"][0]["worker_pid"] != m["worker_pid"], 120)
    # The new worker's first polls: the job is still running, not UNKNOWN.
    time.sleep(2)
    st = _job_status(mnt, "slow")
    assert st["running"] and not st["done"], st
    (backing / "go").touch()
    deadline = time.monotonic() + 60
    while not (st := _job_status(mnt, "slow"))["done"]:
        assert time.monotonic() < deadline, st
        time.sleep(0.2)
    assert st["state"] == "DONE" and st["exit_code"] == 0 and st["error"] is None, st
    assert (mnt / ".jobs" / "slow" / "stdout").read_text() == "finished\n"
    log = (tmp_path / "daemon.log").read_text()
    assert "an earlier worker of this mount opened" in log
    assert "closed the scheduler of an earlier worker" in log  # not left open in the engine
    assert daemon.cli("umount", str(mnt)).returncode == 0
