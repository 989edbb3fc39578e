"""POSIX in the mounts, item by item as local disks have it, on the native
backends and (for what the vfs does itself) on the engine backend.

Each test names the mounts it holds for: `NATIVE` (what needs the backend's
own calls: times, hard links, verbatim symlinks, all 12 mode bits) or `ALL`
(what the vfs does: modes kept, mtime untouched by reads, unlinked-open files,
directory times, mkdir's mode, "." and "..", name errors).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from tests.mounts import mounted

NATIVE = ["file", "sftp"]
ALL = ["file", "file-engine", "sftp", "sftp-engine"]


@pytest.fixture
def mnt(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """(mount point, the directory it shows)."""
    opts = ["backend=engine"] if request.param.endswith("-engine") else []
    env: dict[str, str] = {}
    if request.param.startswith("file"):
        backing = tmp_path / "remote"
        backing.mkdir()
        source = f"file://{backing}"
    else:
        sshd = request.getfixturevalue("sshd")
        backing = sshd.home / f"p-{uuid.uuid4().hex[:8]}"
        backing.mkdir()
        shutil.chown(backing, sshd.user, sshd.user)
        source = f"sftp://{sshd.user}@127.0.0.1:{sshd.port}{backing}"
        opts += ["password_env=XENONFS_TEST_PW", "strict_host_key_checking=no"]
        env = {"XENONFS_TEST_PW": sshd.password}
    try:
        with mounted(source, tmp_path / "mnt", opts, env, tmp_path / "cache") as m:
            status = json.loads(subprocess.run([sys.executable, "-m", "xenonfs.cli", "status",
                                                "--json"], capture_output=True, text=True,
                                               check=True).stdout)
            [mine] = [s for s in status["mounts"] if s["mountpoint"] == str(m)]
            assert mine["backend"] == ("engine" if opts[:1] == ["backend=engine"] else "native")
            yield m, backing
    finally:
        shutil.rmtree(backing, ignore_errors=True)


@pytest.mark.parametrize("mnt", NATIVE, indirect=True)
def test_relative_symlinks_stay_relative(mnt: tuple[Path, Path]) -> None:
    m, backing = mnt
    (m / "f").write_text("target")
    os.symlink("f", m / "l")
    os.symlink("../x/./y", m / "odd")
    assert os.readlink(backing / "l") == "f" and os.readlink(m / "l") == "f"
    assert os.readlink(m / "odd") == "../x/./y"
    assert (m / "l").read_text() == "target"


@pytest.mark.parametrize("mnt", NATIVE, indirect=True)
def test_times_are_set(mnt: tuple[Path, Path], tmp_path: Path,
                       request: pytest.FixtureRequest) -> None:
    m, backing = mnt
    (m / "f").write_text("x")
    os.utime(m / "f", ns=(1_000_000_000_123, 2_000_000_000_456))
    # SFTP version 3 (OpenSSH's) carries whole seconds.
    sftp = request.node.callspec.params["mnt"].startswith("sftp")
    want = 2_000_000_000_000 if sftp else 2_000_000_000_456
    assert os.stat(backing / "f").st_mtime_ns == want
    assert os.stat(m / "f").st_mtime_ns == want
    # cp -p and tar keep times: the time is set after the bytes are written.
    src = tmp_path / "src"
    src.write_text("data")
    os.utime(src, (1e9, 1.5e9))
    subprocess.run(["cp", "-p", str(src), str(m / "copied")], check=True)
    assert os.stat(backing / "copied").st_mtime == 1.5e9
    assert (backing / "copied").read_text() == "data"


@pytest.mark.parametrize("mnt", ALL, indirect=True)
def test_mkdir_honours_mode_and_umask(mnt: tuple[Path, Path]) -> None:
    m, backing = mnt
    old = os.umask(0o077)
    try:
        (m / "private").mkdir()
        (m / "shared").mkdir(mode=0o775)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(backing / "private").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(m / "private").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(backing / "shared").st_mode) == 0o700  # 0775 & ~077


@pytest.mark.parametrize("mnt", NATIVE, indirect=True)
def test_chmod_keeps_all_twelve_bits(mnt: tuple[Path, Path]) -> None:
    m, backing = mnt
    (m / "f").write_text("x")
    os.chmod(m / "f", 0o4755)
    (m / "d").mkdir()
    os.chmod(m / "d", 0o3775)
    assert stat.S_IMODE(os.stat(backing / "f").st_mode) == 0o4755
    assert stat.S_IMODE(os.stat(m / "d").st_mode) == 0o3775


@pytest.mark.parametrize("mnt", ALL, indirect=True)
def test_chown_to_another_owner_is_refused(mnt: tuple[Path, Path]) -> None:
    m, _ = mnt
    (m / "f").write_text("x")
    os.chown(m / "f", os.getuid(), os.getgid())  # no change: fine
    with pytest.raises(PermissionError):
        os.chown(m / "f", 12345, 12345)


@pytest.mark.parametrize("mnt", ALL, indirect=True)
def test_modes_are_kept_as_created_and_across_uploads(mnt: tuple[Path, Path],
                                                     tmp_path: Path) -> None:
    m, backing = mnt
    script = tmp_path / "run.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o755)
    subprocess.run(["cp", str(script), str(m / "run.sh")], check=True)
    assert stat.S_IMODE(os.stat(backing / "run.sh").st_mode) == 0o755
    fd = os.open(m / "secret", os.O_CREAT | os.O_WRONLY, 0o600)
    os.write(fd, b"x")
    os.close(fd)
    assert stat.S_IMODE(os.stat(backing / "secret").st_mode) == 0o600
    os.chmod(m / "secret", 0o640)
    with open(m / "secret", "a") as f:  # another upload
        f.write("more")
    assert stat.S_IMODE(os.stat(backing / "secret").st_mode) == 0o640


@pytest.mark.parametrize("mnt", ALL, indirect=True)
def test_reading_never_changes_mtime(mnt: tuple[Path, Path], tmp_path: Path) -> None:
    m, backing = mnt
    (backing / "old.txt").write_text("from before")
    os.utime(backing / "old.txt", (1e9, 1e9))
    before = os.stat(m / "old.txt").st_mtime
    with open(m / "old.txt") as f:
        assert f.read() == "from before"
        assert os.fstat(f.fileno()).st_mtime == before == 1e9
    assert os.stat(m / "old.txt").st_mtime == 1e9
    # tar c reads and stats each file: it must not say "file changed as we read it".
    out = subprocess.run(["tar", "cf", str(tmp_path / "a.tar"), "-C", str(m), "old.txt"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("mnt", ALL, indirect=True)
def test_unlinked_open_files_stay_usable(mnt: tuple[Path, Path]) -> None:
    m, backing = mnt
    fd = os.open(m / "scratch", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        os.write(fd, b"hello")
        os.unlink(m / "scratch")
        assert not (backing / "scratch").exists() and not (m / "scratch").exists()
        assert os.fstat(fd).st_size == 5
        assert os.pread(fd, 5, 0) == b"hello"
        os.pwrite(fd, b" world", 5)
        os.ftruncate(fd, 11)
        assert os.pread(fd, 11, 0) == b"hello world"
    finally:
        os.close(fd)
    time.sleep(0.5)
    assert not (backing / "scratch").exists()  # nothing came back at close


@pytest.mark.parametrize("mnt", ALL, indirect=True)
def test_directory_times_follow_our_own_changes(mnt: tuple[Path, Path]) -> None:
    m, _ = mnt
    (m / "d").mkdir()
    first = os.stat(m / "d").st_mtime_ns
    time.sleep(0.05)
    (m / "d" / "f").write_text("x")
    second = os.stat(m / "d").st_mtime_ns
    assert second > first
    time.sleep(0.05)
    (m / "d" / "f").unlink()
    assert os.stat(m / "d").st_mtime_ns > second


@pytest.mark.parametrize("mnt", ALL, indirect=True)
def test_dot_entries_and_long_names(mnt: tuple[Path, Path]) -> None:
    m, _ = mnt
    (m / "d").mkdir()
    listed = subprocess.run(["ls", "-a", str(m / "d")], capture_output=True, text=True,
                            check=True).stdout.split()
    assert listed == [".", ".."]
    for make in (lambda p: p.write_text("x"), lambda p: p.mkdir()):
        with pytest.raises(OSError) as info:
            make(m / ("n" * 256))
        assert info.value.errno == errno.ENAMETOOLONG
    (m / ("n" * 255)).write_text("the longest name there may be")


@pytest.mark.parametrize("mnt", NATIVE, indirect=True)
def test_names_that_are_not_utf8_round_trip(mnt: tuple[Path, Path]) -> None:
    m, backing = mnt
    name = b"caf\xe9-latin1"
    with open(os.path.join(os.fsencode(backing), name), "wb") as f:
        f.write(b"made on the server")
    assert name in os.listdir(os.fsencode(m))
    with open(os.path.join(os.fsencode(m), name), "rb") as f:
        assert f.read() == b"made on the server"
    os.unlink(os.path.join(os.fsencode(m), name))
    assert name not in os.listdir(os.fsencode(backing))


@pytest.mark.parametrize("mnt", NATIVE, indirect=True)
def test_statfs_is_the_servers(mnt: tuple[Path, Path]) -> None:
    m, backing = mnt
    ours, theirs = os.statvfs(m), os.statvfs(backing)
    assert (ours.f_blocks, ours.f_frsize) == (theirs.f_blocks, theirs.f_frsize)


def test_an_unknown_host_key_is_called_that(sshd, tmp_path: Path) -> None:
    """Strict host key checking (the default) with a known_hosts that lacks the
    server: the mount fails saying so, not as a refused password; with
    strict_host_key_checking=no it mounts and known_hosts stays as it was."""
    from tests.test_daemon import DaemonRun
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    known = home / ".ssh" / "known_hosts"
    known.write_text("")
    daemon = DaemonRun(tmp_path, {"HOME": str(home), "XENONFS_TEST_PW": sshd.password})
    daemon.start()
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    daemon.mountpoints.append(mnt)
    try:
        source = f"sftp://{sshd.user}@127.0.0.1:{sshd.port}{sshd.home}"
        out = daemon.cli("mount", source, str(mnt), "-o", "password_env=XENONFS_TEST_PW")
        assert out.returncode == 1
        assert "host key of 127.0.0.1 is not trusted" in out.stderr, out.stderr
        assert "login refused" not in out.stderr and "authentication" not in out.stderr
        out = daemon.cli("mount", source, str(mnt), "-o",
                         "password_env=XENONFS_TEST_PW,strict_host_key_checking=no,backend=native")
        assert out.returncode == 0, out.stderr
        assert (mnt / ".bashrc").exists()
        assert daemon.cli("umount", str(mnt)).returncode == 0
    finally:
        daemon.stop()
    assert known.read_text() == ""  # nothing written by the native backend
