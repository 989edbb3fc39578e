"""The README's main job: ``xenonfs demo`` on the embedded default."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path


def test_demo_runs_a_job_through_file_and_local(tmp_path: Path) -> None:
    beside = Path(sys.executable).parent / "xenonfs"
    exe = str(beside) if beside.exists() else shutil.which("xenonfs")
    assert exe, "the xenonfs command is not installed"
    result = subprocess.run([exe, "demo", "--dir", str(tmp_path)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "exit code 0" in result.stdout
    assert (tmp_path / "result.txt").read_text().startswith("Hello from ")
    assert "mutual TLS" in result.stdout


def test_status_without_a_daemon_is_one_line(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(tmp_path)}
    for command in ("status", "jobs", "stop"):
        result = subprocess.run([sys.executable, "-m", "xenonfs.cli", command], env=env,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 1
        # One sentence saying what is wrong and how to start one, not gRPC's transport text.
        assert result.stderr.splitlines() == [
            "xenonfs: no xenonfs daemon is running (start one with `xenonfs daemon`, "
            "`systemctl --user start xenonfs` or any `xenonfs mount`)"]
