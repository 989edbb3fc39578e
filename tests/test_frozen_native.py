"""A frozen sftp server (SIGSTOP of the test sshd and its sessions, by PID:
no RST, TCP stays up) on the native backend (issue 16, item 4): operations
fail with EIO within the ``keepalive`` bound, not once per reconnect try
(a stat took 70 s, a write and close 130 s, with keepalives of 30 s); once
the server answers, the mount works again and a file whose close got EIO
reaches the server by itself (it was uploaded only at unmount)."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import time
from pathlib import Path

from tests.mounts import mounted
from tests.servers.sshd import SshServer
from tests.test_crash_recovery import _descendants, _timed

KEEPALIVE = 4


def test_frozen_server_gives_eio_within_keepalive_then_the_failed_close_lands(
        sshd: SshServer, tmp_path: Path) -> None:
    remote = sshd.home / "frozen-native"
    shutil.rmtree(remote, ignore_errors=True)
    remote.mkdir()
    shutil.chown(remote, sshd.user, sshd.user)
    source = f"sftp://{sshd.user}@127.0.0.1:{sshd.port}{remote}"
    options = ["password_env=XF_PW", "strict_host_key_checking=no", f"keepalive={KEEPALIVE}"]
    with mounted(source, tmp_path / "mnt", options, {"XF_PW": sshd.password},
                 tmp_path / "cache") as mnt:
        (mnt / "before.txt").write_text("before")
        writer = open(mnt / "w.txt", "wb")
        writer.write(b"w" * 100_000)
        master = int((sshd.workdir / "sshd.pid").read_text())
        frozen = [master, *_descendants(master)]
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        try:
            took, error = _timed(lambda: os.stat(mnt / "not-there"))
            assert error is not None and error.errno == errno.EIO, error
            assert took < 2 * KEEPALIVE + 3, f"stat took {took:.1f} s"
            took, error = _timed(writer.close)
            assert error is not None and error.errno == errno.EIO, error
            assert took < 2 * KEEPALIVE + 3, f"close took {took:.1f} s"
        finally:
            for pid in frozen:
                os.kill(pid, signal.SIGCONT)
        deadline = time.monotonic() + 60
        while True:  # the server is back: so is the mount, within its retry wait
            took, error = _timed(lambda: (mnt / "after.txt").write_text("after"))
            if error is None:
                break
            assert error.errno == errno.EIO and time.monotonic() < deadline, error
            time.sleep(0.5)
        # The close that got EIO: its bytes reach the server without a remount.
        while not (remote / "w.txt").exists() or (remote / "w.txt").stat().st_size < 100_000:
            assert time.monotonic() < deadline, "the failed close's file never arrived"
            time.sleep(0.5)
        assert (remote / "w.txt").read_bytes() == b"w" * 100_000
        assert (remote / "after.txt").read_text() == "after"
