"""A mount that fails or whose worker dies says why in one sentence, without
repeating itself or a timestamp, and where the log is when the worker died."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from pathlib import Path

import pytest

from tests.test_daemon import DaemonRun, daemon  # noqa: F401 - the fixture


@pytest.mark.skipif(os.geteuid() != 0, reason="a private mount namespace needs root")
def test_a_refused_fuse_mount_says_why(daemon: DaemonRun, tmp_path: Path) -> None:
    """The daemon's /dev/fuse is a plain file (its own mount namespace): the
    kernel refuses the mount, and libfuse's reason reaches the user."""
    fake = tmp_path / "not-a-fuse-device"
    fake.touch()
    daemon.start(prefix=("unshare", "--mount", "--propagation", "private", "sh", "-c",
                         f'mount --bind "{fake}" /dev/fuse && exec "$@"', "sh"))
    src, mnt = tmp_path / "src", tmp_path / "mnt"
    src.mkdir()
    mnt.mkdir()
    out = daemon.cli("mount", f"file://{src}", str(mnt), "-o", f"cache_dir={tmp_path / 'c'}")
    assert out.returncode == 1
    assert out.stderr.splitlines() == [
        f"xenonfs: cannot mount file://{src} on {mnt}: the FUSE mount was refused "
        "(fuse: mount failed: Invalid argument)"]


def test_a_worker_that_dies_while_mounting_says_how_and_where_the_log_is(
        daemon: DaemonRun, tmp_path: Path) -> None:
    """An sftp server that accepts and never speaks keeps the worker mounting;
    it is then killed by SIGSEGV, as a crash in C would."""
    silent = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(silent.accept()[0]), daemon=True).start()
    port = silent.getsockname()[1]
    daemon.start()
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    try:
        mounting = daemon.popen_cli("mount", f"sftp://nobody@127.0.0.1:{port}/x", str(mnt),
                                    "-o", "strict_host_key_checking=no")
        # The engine connected for the worker: the worker waits in create_file_system.
        deadline = time.monotonic() + 60
        while not accepted:
            assert time.monotonic() < deadline and mounting.poll() is None, "no connection"
            time.sleep(0.1)
        [m] = daemon.status()["mounts"]
        assert m["state"] == "starting"
        os.kill(m["worker_pid"], signal.SIGSEGV)
        _, err = mounting.communicate(timeout=120)
    finally:
        silent.close()
        for conn in accepted:
            conn.close()
    assert mounting.returncode == 1
    assert err.splitlines() == [
        f"xenonfs: cannot mount sftp://nobody@127.0.0.1:{port}/x on {mnt}: the mount worker "
        f"(pid {m['worker_pid']}) was killed by SIGSEGV after: Fatal Python error: "
        f"Segmentation fault; log: {daemon.log}"]
    # The daemon lives on, and says the same in its log.
    assert daemon.status()["mounts"] == []
    assert f"was killed by SIGSEGV" in daemon.log.read_text()
