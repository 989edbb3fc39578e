"""`python -m tests.servers up`: the zoo by hand, stopped by its PIDs on SIGTERM."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys

from tests.mounts import wait_gone


def test_up_starts_and_sigterm_stops() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "tests.servers", "up", "ftpd"],
                            stdout=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("all up"):
                break
        port = int(re.search(r"ftp://\S+@127\.0\.0\.1:(\d+)/", "".join(lines)).group(1))
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            assert s.recv(3) == b"220"
        server = subprocess.run(["pgrep", "-P", str(proc.pid), "vsftpd"], capture_output=True,
                                text=True).stdout.split()
        assert len(server) == 1
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert wait_gone(int(server[0]), 10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    unknown = subprocess.run([sys.executable, "-m", "tests.servers", "up", "nope"],
                             capture_output=True, text=True)
    assert unknown.returncode != 0 and "unknown server 'nope'" in unknown.stderr
