"""Our own parts crash (issue 16, items 8-10): the engine JVM or a mount
worker killed by PID. Each costs a retry, never a mount, and never a wrong
answer (ENOENT for a file that exists)."""

from __future__ import annotations

import errno
import hashlib
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from tests.mounts import alive, is_mounted, wait_gone
from tests.test_daemon import DaemonRun, daemon  # noqa: F401 - the fixture


def _dirs(tmp_path: Path, name: str) -> tuple[Path, Path]:
    backing, mnt = tmp_path / f"{name}-backing", tmp_path / f"{name}-mnt"
    backing.mkdir()
    mnt.mkdir()
    return backing, mnt


def _mount(daemon: DaemonRun, source: str, mnt: Path, *options: str) -> None:
    daemon.mountpoints.append(mnt)
    out = daemon.cli("mount", source, str(mnt), *[a for o in options for a in ("-o", o)])
    assert out.returncode == 0, out.stderr


def _big_file(path: Path, mib: int) -> str:
    """Writes ``mib`` MiB that do not compress or dedupe. Returns: its sha256."""
    digest = hashlib.sha256()
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for i in range(mib):
            chunk = i.to_bytes(8, "little") + block[8:]
            digest.update(chunk)
            f.write(chunk)
    return digest.hexdigest()


def _read_in_thread(path: Path) -> tuple[threading.Thread, dict[str, Any]]:
    box: dict[str, Any] = {}

    def read() -> None:
        digest = hashlib.sha256()
        try:
            with open(path, "rb") as f:
                while data := f.read(1 << 20):
                    digest.update(data)
            box["sha"] = digest.hexdigest()
        except OSError as exc:
            box["errno"] = exc.errno
    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread, box


def _cache_growing(cache: Path) -> bool:
    """Returns: some file in the cache holds data (a download is under way)."""
    for root, _, files in os.walk(cache):
        for name in files:
            try:
                if os.path.getsize(os.path.join(root, name)) > 0:
                    return True
            except OSError:
                pass
    return False


def test_engine_killed_during_a_read_gives_eio_or_the_data_never_enoent(
        daemon: DaemonRun, tmp_path: Path) -> None:
    backing, mnt = _dirs(tmp_path, "k")
    cache = tmp_path / "c"
    sha = _big_file(backing / "big", 160)
    daemon.start()
    _mount(daemon, f"file://{backing}", mnt, f"cache_dir={cache}", "backend=engine")
    engine = daemon.status()["engine"]
    thread, box = _read_in_thread(mnt / "big")
    deadline = time.monotonic() + 30
    while not _cache_growing(cache):
        assert time.monotonic() < deadline and thread.is_alive(), f"no download seen: {box}"
        time.sleep(0.01)
    os.kill(engine["pid"], signal.SIGKILL)
    thread.join(120)
    assert not thread.is_alive(), "the read hangs after the engine's crash"
    assert box.get("errno") in (None, errno.EIO), f"read failed with {errno.errorcode[box['errno']]}"
    if "sha" in box:
        assert box["sha"] == sha
    # The engine is back, and so is the file, whole.
    daemon.wait_for(lambda st: st["engine"]["state"] == "ready" and
                    st["engine"]["pid"] != engine["pid"], 120)
    thread, box = _read_in_thread(mnt / "big")
    thread.join(120)
    assert box.get("sha") == sha, box
