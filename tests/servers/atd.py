"""atd for the `at` scheduler tests: the machine's own if one runs, else one
started here in the foreground and stopped by its PID."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

from .common import stop_child, read_pid, wait_for

PIDFILE = Path("/run/atd.pid")


class AtDaemon:
    """atd (Debian's `at` package)."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        """Returns: True if `at` and `atd` are installed."""
        return bool(shutil.which("at")) and Path("/usr/sbin/atd").exists()

    def start(self) -> "AtDaemon":
        running = read_pid(PIDFILE)
        if running and Path(f"/proc/{running}").exists():
            return self  # a running atd serves the tests; it is not ours to stop
        # (Not `pgrep atd`: a job still running from an earlier atd is a
        # process named atd too, with no daemon behind it.)
        # -f: foreground, so it is our child; -l 100: do not hold jobs back
        # because the (shared, busy) machine's load average is high; its own
        # session, so its jobs (forked atd processes) can be stopped with it.
        self.proc = subprocess.Popen(["/usr/sbin/atd", "-f", "-l", "100"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     start_new_session=True)
        wait_for(lambda: self.proc.poll() is not None or read_pid(PIDFILE) == self.proc.pid,
                 10, "atd")
        if self.proc.poll() is not None:
            raise RuntimeError(f"atd exited: {self.proc.stderr.read().decode()}")
        return self

    def stop(self) -> None:
        """Stop our atd and any job of it still running (e.g. one the at
        adaptor "cancelled": atrm does not end a job that has started)."""
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL if self.proc.poll() is not None
                          else signal.SIGTERM)
            except ProcessLookupError:
                pass
        stop_child(self.proc)
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # jobs that outlived SIGTERM
            except ProcessLookupError:
                pass
        self.proc = None
