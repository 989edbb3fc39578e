"""A server that dies under a write: close() fails, nothing is lost, the mount recovers."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import pty
import re
import signal
import sqlite3
import struct
import subprocess
import sys
import termios
import threading
import time
import uuid
from pathlib import Path

import pytest

from tests.mounts import mounted
from tests.test_crash_recovery import _descendants
from tests.servers.sshd import SshServer

#: The CLI without -v (its log lines would go to the terminal under test).
PLAIN_CLI = [sys.executable, "-m", "xenonfs.cli"]
SFTP_OPTS = ["password_env=XENONFS_TEST_PW", "strict_host_key_checking=no"]


WRITER = """
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, open(sys.argv[2], "rb").read())
print("written", flush=True)
sys.stdin.readline()
try:
    os.close(fd)
    print("closed", flush=True)
except OSError as exc:
    print("error", exc.errno, flush=True)
"""


@pytest.fixture
def own_sshd():
    """An sshd of its own (with its own user), so cutting it off hurts no other test."""
    server = SshServer(user="xenonfs-fail").start()
    try:
        yield server
    finally:
        server.stop()



def _persisted(cache: Path) -> list[dict]:
    """Returns: the cache metadata the mounts under ``cache`` persisted."""
    out = []
    for db in cache.glob("*/meta.sqlite"):
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            out += [json.loads(info) for (info,) in conn.execute("SELECT info FROM entries")]
        finally:
            conn.close()
    return out

@pytest.mark.parametrize("mib", [2, 64], ids=["small", "uploading-while-written"])
def test_server_lost_during_write(own_sshd: SshServer, tmp_path: Path, mib: int) -> None:
    """2 MiB: lost before close's upload; 64 MiB: also under the upload that
    began while the file was written (it starts at 32 MiB)."""
    srv = own_sshd
    cache = tmp_path / "cache"
    payload = os.urandom(mib << 20)
    source = f"sftp://{srv.user}@127.0.0.1:{srv.port}{srv.home}"
    with mounted(source, tmp_path / "mnt", SFTP_OPTS, {"XENONFS_TEST_PW": srv.password}, cache) as m:
        (m / "before.txt").write_text("ok")
        name = _fail_a_close(srv, m, tmp_path, payload)
        # The bytes are in the cache, marked dirty (persisted: survives a restart).
        dirty = [meta for meta in _persisted(cache) if meta["dirty"]]
        assert [meta["path"] for meta in dirty] == [f"/{name}"]
        cached = [p for p in cache.glob("*/data/*") if p.read_bytes() == payload]
        assert len(cached) == 1
        srv.resume()
        # The mount works again: reads and new writes.
        assert (m / "before.txt").read_text() == "ok"
        (m / "after.txt").write_text("after")
        assert (srv.home / "after.txt").read_text() == "after"
    # Unmounting uploaded what close() could not.
    assert (srv.home / name).read_bytes() == payload
    for p in (name, "before.txt", "after.txt"):
        (srv.home / p).unlink()


def _run_on_a_terminal(cmd: list[str], env: dict[str, str]) -> tuple[subprocess.Popen, list[bytes]]:
    """Start ``cmd`` with a 120x40 pseudo-terminal as stdin/stdout/stderr.

    Returns:
        The process, and the list its output is appended to (by a thread).
    """
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    output: list[bytes] = []

    def read() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the terminal's last user is gone
                data = b""
            if not data:
                os.close(master)
                return
            output.append(data)
    threading.Thread(target=read, daemon=True).start()
    return proc, output


def _fail_a_close(srv: SshServer, m: Path, tmp_path: Path, payload: bytes) -> str:
    """Write ``payload`` to a new file in mount ``m`` and cut sshd off before
    close, whose upload then fails with EIO: the file is dirty in the cache.
    sshd stays down (`srv.resume()` brings it back).

    Returns:
        The file's name.
    """
    # The writer is its own process: every fork of a process that holds
    # the file open closes a copy of the descriptor, which the kernel
    # passes on as a flush (an upload) - the test's own forks included.
    name = f"w-{uuid.uuid4().hex[:8]}.bin"
    src = tmp_path / "payload"
    src.write_bytes(payload)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(m / name), str(src)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "written"
    srv.interrupt()
    writer.stdin.write("close\n")
    writer.stdin.flush()
    assert writer.stdout.readline().strip() == f"error {errno.EIO}"
    writer.wait(30)
    return name


def _upload_status(report: dict) -> list[tuple[str, int, int, str]]:
    """Returns: (path, bytes done, bytes total, mount state) of each upload in a
    `status --json` report."""
    states = {mount["name"]: mount["state"] for mount in report["mounts"]}
    return [(t["path"], int(t.get("bytes_done", 0)), int(t["bytes_total"]), states.get(t["mount"], "?"))
            for t in report["transfers"] if t["direction"] == "upload"]


def test_umount_shows_the_upload_it_waits_for(own_sshd: SshServer, tmp_path: Path) -> None:
    """A file whose upload failed at close is uploaded at unmount: the bar moves
    (bytes done of total) and `xenonfs status` lists the upload meanwhile."""
    srv = own_sshd
    source = f"sftp://{srv.user}@127.0.0.1:{srv.port}{srv.home}"
    with mounted(source, tmp_path / "mnt", SFTP_OPTS, {"XENONFS_TEST_PW": srv.password},
                 tmp_path / "cache") as m:
        # Big enough that the native backend's upload outlasts several status
        # calls (each a CLI start, ~0.5 s here): 256 MiB took about one.
        payload = os.urandom(768 << 20)
        name = _fail_a_close(srv, m, tmp_path, payload)
        srv.resume()
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
        umount, output = _run_on_a_terminal([*PLAIN_CLI, "umount", str(m)], env)
        seen = []
        while umount.poll() is None:
            status = subprocess.run([*PLAIN_CLI, "status", "--json"], capture_output=True,
                                    text=True, timeout=60)
            if status.returncode == 0:
                seen += _upload_status(json.loads(status.stdout))
            time.sleep(0.3)
        assert umount.wait(30) == 0
    assert (srv.home / name).read_bytes() == payload
    (srv.home / name).unlink()
    # Status listed the upload, under way, of the whole size, on the unmounting
    # mount (the writeback retry may have begun it just before the unmount).
    assert {(p, total) for p, _, total, _ in seen} == {(f"/{name}", len(payload))}
    assert "unmounting" in {state for *_, state in seen}
    assert {state for *_, state in seen} <= {"mounted", "unmounting"}
    assert len({done for _, done, _, _ in seen if 0 < done < len(payload)}) >= 2
    # The terminal showed a bar that moved: bytes done of the total, more than one value.
    shown = re.findall(rb"(\d+\.\d)/(\d+\.\d) MB", b"".join(output))
    assert {total for _, total in shown} == {b"%.1f" % (len(payload) / 1e6)}
    assert len({done for done, _ in shown}) >= 2


def test_umount_fails_when_the_worker_dies_under_its_upload(own_sshd: SshServer,
                                                            tmp_path: Path) -> None:
    """A worker killed while unmount uploads: umount says so (exit 1), never 0,
    and the bytes stay in the cache for the next mount."""
    srv = own_sshd
    source = f"sftp://{srv.user}@127.0.0.1:{srv.port}{srv.home}"
    cache = tmp_path / "cache"
    with mounted(source, tmp_path / "mnt", SFTP_OPTS, {"XENONFS_TEST_PW": srv.password},
                 cache) as m:
        # Big enough that an upload the writeback task begins as the server
        # comes back is still going when umount arrives (at 256 MiB one in
        # nine runs had it done by then).
        payload = os.urandom(640 << 20)
        name = _fail_a_close(srv, m, tmp_path, payload)
        pid = next(int(mount["worker_pid"]) for mount in json.loads(subprocess.run(
            [*PLAIN_CLI, "status", "--json"], capture_output=True, text=True,
            check=True).stdout)["mounts"] if mount["mountpoint"] == str(m))
        srv.resume()
        umount = subprocess.Popen([*PLAIN_CLI, "umount", str(m)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        # An upload under way while the mount is unmounting: the writeback task
        # may have begun it before umount asked, and then only the state says
        # that the unmount waits for it.
        while not any(done > 0 and state == "unmounting" for _, done, _, state in _upload_status(
                json.loads(subprocess.run(
                [*PLAIN_CLI, "status", "--json"], capture_output=True, text=True).stdout))):
            assert time.monotonic() < deadline and umount.poll() is None, "no upload seen"
            time.sleep(0.1)
        # Freeze the server first: an upload this fast (100-300 MB/s)
        # could otherwise end between the status seen and the kill, and then
        # umount's 0 would be honest (CI once saw exactly that).
        master = int((srv.workdir / "sshd.pid").read_text())
        frozen = [master, *_descendants(master)]
        for stopped in frozen:
            os.kill(stopped, signal.SIGSTOP)
        try:
            os.kill(pid, signal.SIGKILL)
            _, err = umount.communicate(timeout=120)
        finally:
            for stopped in frozen:
                os.kill(stopped, signal.SIGCONT)
        assert umount.returncode == 1
        assert "while unmounting, the mount worker" in err and "was killed by SIGKILL" in err
        assert "stay in its cache" in err
    assert [meta["path"] for meta in _persisted(cache) if meta["dirty"]] == [f"/{name}"]
    # The next mount uploads it.
    with mounted(source, tmp_path / "mnt", SFTP_OPTS, {"XENONFS_TEST_PW": srv.password}, cache):
        pass
    assert (srv.home / name).read_bytes() == payload
    (srv.home / name).unlink()
