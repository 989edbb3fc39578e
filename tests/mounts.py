"""Real kernel mounts for the tests: `xenonfs mount` in the background, always unmounted."""

from __future__ import annotations

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
    out = subprocess.run(["pgrep", "-f", f"xenonfs.cli.*mount.* {mountpoint} "],
                         capture_output=True, text=True).stdout.split()
    return int(out[0]) if out else None


@contextmanager
def mounted(source: str, mountpoint: Path, options: list[str] = (), env: dict | None = None,
            cache_dir: Path | None = None) -> Iterator[Path]:
    """Mount ``source`` on ``mountpoint`` for the duration of the block.

    Teardown unmounts even when the block fails, and stops the mount process
    by its PID if it does not end by itself.
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
        if pid:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
            else:
                os.kill(pid, 9)
