"""Real kernel mounts for the tests: `xenonfs mount` in the background, always unmounted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

XENONFS = [sys.executable, "-m", "xenonfs.cli", "-v"] + (["-v"] if os.environ.get("XENONFS_TEST_DEBUG") else [])


def is_mounted(path: Path) -> bool:
    with open("/proc/mounts") as f:
        return any(line.split()[1] == str(path) for line in f)


def _mount_pid(mountpoint: Path) -> int | None:
    """Returns: the pid of the process serving ``mountpoint`` (a daemon's worker)."""
    out = subprocess.run([sys.executable, "-m", "xenonfs.cli", "status", "--json"],
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        return None
    for m in json.loads(out.stdout)["mounts"]:
        if m["mountpoint"] == str(mountpoint):
            return int(m["worker_pid"]) or None
    return None


def daemon_pid(runtime: Path) -> int | None:
    """Returns: pid of the daemon of runtime dir ``runtime`` while it runs."""
    lock = runtime / "xenonfs" / "daemon.lock"
    try:
        pid = int(lock.read_text().strip() or 0)
    except (OSError, ValueError):
        return None
    return pid if pid and alive(pid) else None


def alive(pid: int) -> bool:
    """Returns: True while ``pid`` runs (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child of ours counts as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1][0] != "Z"
    except OSError:
        return False


def wait_gone(pid: int, seconds: float) -> bool:
    """Returns: True if ``pid`` ended within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.1)
    return False


def stop_daemon(runtime: Path) -> None:
    """Stop the daemon of runtime dir ``runtime``: `xenonfs stop`, then SIGKILL by pid."""
    pid = daemon_pid(runtime)
    if pid is None:
        return
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime)}
    try:
        subprocess.run([sys.executable, "-m", "xenonfs.cli", "stop"], env=env,
                       capture_output=True, timeout=300)
    except subprocess.TimeoutExpired:
        pass
    if not wait_gone(pid, 30):
        os.kill(pid, 9)
        wait_gone(pid, 10)


@contextmanager
def mounted(source: str, mountpoint: Path, options: list[str] = (), env: dict | None = None,
            cache_dir: Path | None = None) -> Iterator[Path]:
    """Mount ``source`` on ``mountpoint`` for the duration of the block.

    The mount is made by the session's daemon (started by the first mount).
    Teardown unmounts even when the block fails, and kills the mount's worker
    process by its PID if it does not end by itself.
    """
    mountpoint.mkdir(parents=True, exist_ok=True)
    opts = list(options)
    if cache_dir is not None:
        opts.append(f"cache_dir={cache_dir}")
    cmd = [*XENONFS, "mount", source, str(mountpoint)]
    for o in opts:
        cmd += ["-o", o]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                            env={**os.environ, **(env or {})})
    if result.returncode != 0:
        raise RuntimeError(f"mount failed: {result.stderr.strip()}")
    pid = _mount_pid(mountpoint)
    try:
        yield mountpoint
    finally:
        if is_mounted(mountpoint):
            try:
                subprocess.run([*XENONFS, "umount", str(mountpoint)], capture_output=True,
                               timeout=600)
            except subprocess.TimeoutExpired:
                pass
        if is_mounted(mountpoint):
            subprocess.run(["fusermount3", "-u", "-z", str(mountpoint)], capture_output=True)
        if pid and not wait_gone(pid, 30):
            os.kill(pid, 9)
