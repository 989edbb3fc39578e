"""atd for the `at` scheduler tests: the machine's own if one runs, else one
started here in the foreground and stopped by its PID."""

from __future__ import annotations

import shutil
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
        if subprocess.run(["pgrep", "-x", "atd"], capture_output=True).returncode == 0:
            return self  # a running atd serves the tests; it is not ours to stop
        # -f: foreground, so it is our child; -l 100: do not hold jobs back
        # because the (shared, busy) machine's load average is high.
        self.proc = subprocess.Popen(["/usr/sbin/atd", "-f", "-l", "100"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for(lambda: self.proc.poll() is not None or read_pid(PIDFILE) == self.proc.pid,
                 10, "atd")
        if self.proc.poll() is not None:
            raise RuntimeError(f"atd exited: {self.proc.stderr.read().decode()}")
        return self

    def stop(self) -> None:
        stop_child(self.proc)
        self.proc = None
