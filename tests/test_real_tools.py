"""Real tools inside a native sftp mount (OpenSSH on loopback): what users
run there, checked by its own result (git fsck, rsync's statistics, mtimes
on the server)."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import tarfile
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from tests.mounts import mounted
from tests.servers.sshd import SshServer


@pytest.fixture
def sftp_mount(sshd: SshServer, tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """(mount point, the server directory it shows), native backend."""
    backing = sshd.home / f"t-{uuid.uuid4().hex[:8]}"
    backing.mkdir()
    shutil.chown(backing, sshd.user, sshd.user)
    source = f"sftp://{sshd.user}@127.0.0.1:{sshd.port}{backing}"
    try:
        with mounted(source, tmp_path / "mnt", ["password_env=XENONFS_TEST_PW",
                                               "strict_host_key_checking=no"],
                     {"XENONFS_TEST_PW": sshd.password}, tmp_path / "cache") as m:
            yield m, backing
    finally:
        shutil.rmtree(backing, ignore_errors=True)


def _tree(root: Path, files: int) -> None:
    for i in range(files):
        d = root / f"d{i % 10}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i}.txt").write_bytes(os.urandom(100 + i))
        os.utime(d / f"f{i}.txt", (1_600_000_000 + i, 1_600_000_000 + i))


def test_tar_x_keeps_mtimes_and_modes(sftp_mount: tuple[Path, Path], tmp_path: Path) -> None:
    m, backing = sftp_mount
    src = tmp_path / "src"
    _tree(src, 40)
    (src / "run.sh").write_text("#!/bin/sh\n")
    (src / "run.sh").chmod(0o755)
    with tarfile.open(tmp_path / "t.tar", "w") as tar:
        tar.add(src, arcname="src")
    out = subprocess.run(["tar", "xf", str(tmp_path / "t.tar"), "-C", str(m)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert os.stat(backing / "src" / "d3" / "f13.txt").st_mtime == 1_600_000_013
    assert stat.S_IMODE(os.stat(backing / "src" / "run.sh").st_mode) == 0o755


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_clone_and_fsck(sftp_mount: tuple[Path, Path], tmp_path: Path) -> None:
    m, _ = sftp_mount
    origin = tmp_path / "origin"
    origin.mkdir()
    git = ["git", "-c", "user.email=t@example.org", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q", str(origin)], check=True)
    _tree(origin, 60)
    (origin / "tool.sh").write_text("#!/bin/sh\necho tool\n")
    (origin / "tool.sh").chmod(0o755)
    subprocess.run([*git, "-C", str(origin), "add", "-A"], check=True)
    subprocess.run([*git, "-C", str(origin), "commit", "-q", "-m", "one"], check=True)
    subprocess.run([*git, "clone", "-q", str(origin), str(m / "clone")], check=True)
    fsck = subprocess.run([*git, "-C", str(m / "clone"), "fsck", "--full"],
                          capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stderr
    # Executables are checked out as such: the tree is clean right after the clone.
    status = subprocess.run([*git, "-C", str(m / "clone"), "status", "--porcelain"],
                            capture_output=True, text=True, check=True)
    assert status.stdout == ""


@pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync is not installed")
def test_a_second_rsync_sends_no_file_data(sftp_mount: tuple[Path, Path],
                                           tmp_path: Path) -> None:
    m, _ = sftp_mount
    src = tmp_path / "src"
    _tree(src, 200)
    first = subprocess.run(["rsync", "-a", "--stats", f"{src}/", str(m / "dst")],
                           capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    second = subprocess.run(["rsync", "-a", "--stats", f"{src}/", str(m / "dst")],
                            capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    sent = re.search(r"Number of regular files transferred: ([\d,]+)", second.stdout)
    assert sent is not None and sent.group(1) == "0", second.stdout
