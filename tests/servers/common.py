"""Helpers shared by the server fixtures."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    """Returns: a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, interval: float = 0.05):
    """Poll ``predicate`` until it returns a truthy value.

    Raises:
        TimeoutError: naming ``what``.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not ready after {timeout:.0f} s")
        time.sleep(interval)


def read_pid(pidfile: Path) -> int | None:
    """Returns: the pid in ``pidfile``, or None if missing/empty."""
    try:
        text = pidfile.read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text else None


def stop_pid(pid: int | None, timeout: float = 10.0) -> None:
    """SIGTERM ``pid`` and wait for it to go (SIGKILL after ``timeout``)."""
    if not pid:
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        try:  # reap if it is our child
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def ensure_user(name: str) -> str:
    """Create local user ``name`` (once) with a random password, and return it.

    The password is kept in a root-only file so that several fixtures (a test
    run and a benchmark, say) share it instead of resetting each other's. It
    goes to chpasswd on stdin, never in argv.

    Returns:
        The password.
    """
    store = Path("/var/lib/xenonfs-tests")
    store.mkdir(mode=0o700, parents=True, exist_ok=True)
    pw_file = store / f"{name}.password"
    exists = subprocess.run(["id", "-u", name], capture_output=True).returncode == 0
    if exists and pw_file.exists():
        return pw_file.read_text().strip()
    if not exists:
        subprocess.run(["useradd", "-m", "-s", "/bin/bash", name], check=True)
    password = secrets.token_urlsafe(16)
    subprocess.run(["chpasswd"], input=f"{name}:{password}\n", text=True, check=True)
    fd = os.open(pw_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(password)
    return password


def stop_child(proc: "subprocess.Popen[bytes] | None", grace: float = 10.0) -> None:
    """Stop a server we started in the foreground: SIGTERM, then SIGKILL after ``grace``."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
