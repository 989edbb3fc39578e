"""`python -m tests.servers up`: the zoo by hand, stopped by its PIDs on SIGTERM."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
from contextlib import contextmanager
from typing import Iterator

from tests.mounts import wait_gone


@contextmanager
def up(name: str) -> Iterator[tuple["subprocess.Popen[str]", str]]:
    """Run ``python -m tests.servers up NAME`` until "all up".

    Yields:
        The process and what it printed until then; it is killed afterwards if still running.
    """
    proc = subprocess.Popen([sys.executable, "-m", "tests.servers", "up", name],
                            stdout=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if line.startswith("all up"):
                break
        yield proc, "".join(lines)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def stop_and_check_gone(proc: "subprocess.Popen[str]", server: int) -> None:
    """SIGTERM the `up` process; it must exit 0 and have stopped ``server``."""
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    assert wait_gone(server, 10)


def children(pid: int, name: str | None = None) -> list[str]:
    """Returns: the PIDs of ``pid``'s children (named ``name``)."""
    argv = ["pgrep", "-P", str(pid)] + ([name] if name else [])
    return subprocess.run(argv, capture_output=True, text=True).stdout.split()


def test_up_starts_and_sigterm_stops() -> None:
    with up("ftpd") as (proc, text):
        port = int(re.search(r"ftp://\S+@127\.0\.0\.1:(\d+)/", text).group(1))
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            assert s.recv(3) == b"220"
        server = children(proc.pid, "vsftpd")
        assert len(server) == 1
        stop_and_check_gone(proc, int(server[0]))
    unknown = subprocess.run([sys.executable, "-m", "tests.servers", "up", "nope"],
                             capture_output=True, text=True)
    assert unknown.returncode != 0 and "unknown server 'nope'" in unknown.stderr


def test_up_s3rver_answers_and_sigterm_leaves_no_node_behind() -> None:
    """s3rver is node run directly (no npm or shell between): stopping it ends the server."""
    with up("s3rver") as (proc, text):
        port = int(re.search(r"s3\+http://S3RVER@127\.0\.0\.1:(\d+)/", text).group(1))
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"HEAD /xenonfs-test HTTP/1.0\r\n\r\n")
            assert s.recv(12).startswith(b"HTTP/1.")
        server = children(proc.pid, "node")
        assert len(server) == 1 and children(int(server[0])) == []
        stop_and_check_gone(proc, int(server[0]))
