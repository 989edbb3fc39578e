"""`xenonfs umount` follows umount(8): a mount in use is refused with EBUSY
naming who uses it, `--lazy` detaches it anyway, and only xenonfs mounts are
touched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.mounts import is_mounted, mounted

CLI = [sys.executable, "-m", "xenonfs.cli"]


def test_a_busy_mount_is_refused_and_lazy_detaches_it(tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    remote.mkdir()
    (remote / "f").write_text("data")
    with mounted(f"file://{remote}", tmp_path / "mnt") as m:
        user = subprocess.Popen(["sleep", "300"], cwd=m)
        reader = open(m / "f")
        try:
            refused = subprocess.run([*CLI, "umount", str(m)], capture_output=True, text=True,
                                     timeout=120)
            assert refused.returncode == 1
            assert f"cannot unmount {m}: it is busy (EBUSY" in refused.stderr
            # Both users are named: this test's open file and the process working in it.
            assert f"pid {user.pid} (sleep): working directory" in refused.stderr
            assert f"pid {os.getpid()} " in refused.stderr and f"open file {m}/f" in refused.stderr
            assert "--lazy" in refused.stderr
            # Nothing changed: still mounted and usable.
            assert is_mounted(m) and (m / "f").read_text() == "data"
            lazy = subprocess.run([*CLI, "umount", "--lazy", str(m)], capture_output=True,
                                  text=True, timeout=120)
            assert lazy.returncode == 0, lazy.stderr
            assert "detached" in lazy.stderr
            assert not is_mounted(m)
            # As umount -l: its users keep what they had open, served until they leave.
            assert reader.read() == "data"
            assert _state(m) == "detached"
        finally:
            reader.close()
            user.kill()
            user.wait()
        # The last user gone, the mount ends by itself.
        deadline = time.monotonic() + 60
        while _state(m) is not None:
            assert time.monotonic() < deadline, "the detached mount did not end"
            time.sleep(0.2)


def _state(mountpoint: Path) -> str | None:
    """Returns: the daemon's state of the mount at ``mountpoint``, None if it has none."""
    report = json.loads(subprocess.run([*CLI, "status", "--json"], capture_output=True,
                                       text=True, check=True, timeout=60).stdout)
    return next((mount["state"] for mount in report["mounts"]
                 if mount["mountpoint"] == str(mountpoint)), None)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_umount_leaves_mounts_that_are_not_xenonfs_alone(tmp_path: Path) -> None:
    target = tmp_path / "tmpfs"
    target.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(target)], check=True)
    try:
        result = subprocess.run([*CLI, "umount", str(target)], capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 1
        assert result.stderr.strip() == (f"xenonfs: {target} is not a xenonfs mount: the file "
                                         "system mounted there is tmpfs")
        assert is_mounted(target)
    finally:
        subprocess.run(["umount", str(target)], check=False)
