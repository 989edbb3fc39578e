"""The mount behaviour suite: real kernel mounts of file://, sftp:// (OpenSSH),
ftp:// (vsftpd), webdav+http:// (apache2 + mod_dav) and s3+http:// (moto and s3rver).

Adding an adaptor means adding a parameter to the `mnt` fixture (and its
expected differences to `EXPECT`).
"""

from __future__ import annotations

import errno
import hashlib
import os
import random
import shutil
import subprocess
import tarfile
import threading
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from tests.mounts import is_mounted, mounted
from tests.servers.s3 import S3Path

ROOT = Path(__file__).resolve().parent.parent


#: What each adaptor can do, from its adaptor description; the suite asserts
#: the difference (e.g. ENOTSUP for chmod on ftp) instead of skipping.
EXPECT = {
    # file:// on its native backend (plain system calls), and through the engine.
    "file": {"jobs": True, "chmod": True, "symlinks": True, "rename_dirs": True},
    "file-engine": {"jobs": True, "chmod": True, "symlinks": True, "rename_dirs": True},
    # sftp:// on its native backend (asyncssh), and through the engine.
    "sftp": {"jobs": True, "chmod": True, "symlinks": True, "rename_dirs": True},
    "sftp-engine": {"jobs": True, "chmod": True, "symlinks": True, "rename_dirs": True},
    # No default scheduler for ftp; vsftpd keeps minute mtimes (sizes still change).
    "ftp": {"jobs": False, "chmod": False, "symlinks": False, "rename_dirs": True},
    # s3 cannot rename: files are copied and deleted by the mount, directories
    # give EXDEV (mv copies them itself).
    "s3": {"jobs": False, "chmod": False, "symlinks": False, "rename_dirs": False},
    # The same adaptor on a second S3 implementation (Node.js, objects as files).
    "s3rver": {"jobs": False, "chmod": False, "symlinks": False, "rename_dirs": False},
    # apache2 + mod_dav: no permissions, links or append in the protocol; no scheduler.
    "webdav": {"jobs": False, "chmod": False, "symlinks": False, "rename_dirs": True},
}

#: The remote side of a mount, seen directly: a local directory, or a bucket prefix.
Backing = Path | S3Path


def put_sparse(backing: Backing, name: str, size: int, head: bytes, tmp: Path) -> None:
    """Put a file of ``size`` bytes starting with ``head`` (zeros after) on the remote side."""
    local = backing / name if isinstance(backing, Path) else tmp / name
    with open(local, "wb") as f:
        f.truncate(size)
        f.write(head)
    if isinstance(backing, S3Path):
        (backing / name).upload(local)
        local.unlink()


def put_file(backing: Backing, name: str, local: Path) -> None:
    """Copy a local file to the remote side directly (not through the mount)."""
    if isinstance(backing, S3Path):
        (backing / name).upload(local)
    else:
        shutil.copyfile(local, backing / name)


def same_file(local: Path, backing: Backing, name: str) -> bool:
    """Returns: True if the remote file ``name`` has the bytes of ``local``."""
    remote = backing / name
    if isinstance(remote, S3Path):
        with open(local, "rb") as f:
            return hashlib.file_digest(f, "md5").hexdigest() == remote.md5()
    return subprocess.run(["cmp", str(local), str(remote)]).returncode == 0


def expect(request: pytest.FixtureRequest) -> dict[str, bool]:
    """Returns: the EXPECT row of the adaptor the current test runs on."""
    return EXPECT[request.node.callspec.params["mnt"]]


def _owned_dir(parent: Path, owner: str) -> Path:
    """Returns: a new directory under ``parent`` owned by ``owner`` (the server's user)."""
    d = parent / f"m-{uuid.uuid4().hex[:8]}"
    d.mkdir()
    shutil.chown(d, owner, owner)
    return d


@pytest.fixture(params=list(EXPECT))
def mnt(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Path, Backing]]:
    """A mounted file system and the backing directory it shows (to check the remote side)."""
    backing: Backing
    opts = ["password_env=XENONFS_TEST_PW"]
    if request.param in ("file", "file-engine"):
        backing = tmp_path / "remote"
        backing.mkdir()
        source, env = f"file://{backing}", {}
        opts = ["backend=engine"] if request.param == "file-engine" else []
    elif request.param == "ftp":
        ftpd = request.getfixturevalue("ftpd")
        backing = _owned_dir(ftpd.home, ftpd.user)
        source = f"ftp://{ftpd.user}@127.0.0.1:{ftpd.port}{backing}"
        env = {"XENONFS_TEST_PW": ftpd.password}
    elif request.param in ("s3", "s3rver"):
        s3 = request.getfixturevalue(request.param)
        prefix = f"m-{uuid.uuid4().hex[:8]}"
        backing = s3.path(prefix)
        backing.mkdir()
        source = s3.url(prefix)  # the access key is the user; the secret goes by env
        env = {"XENONFS_TEST_PW": s3.secret}
    elif request.param == "webdav":
        dav = request.getfixturevalue("webdav")
        backing = _owned_dir(dav.root, dav.run_as)  # apache's workers write as run_as
        source = f"webdav+http://{dav.user}@127.0.0.1:{dav.port}/dav/{backing.name}"
        env = {"XENONFS_TEST_PW": dav.password}
    else:
        sshd = request.getfixturevalue("sshd")
        backing = _owned_dir(sshd.home, sshd.user)
        source = f"sftp://{sshd.user}@127.0.0.1:{sshd.port}{backing}"
        opts.append("strict_host_key_checking=no")
        if request.param == "sftp-engine":
            opts.append("backend=engine")
        env = {"XENONFS_TEST_PW": sshd.password}
    try:
        with mounted(source, tmp_path / "mnt", opts, env, tmp_path / "cache") as m:
            yield m, backing
    finally:
        if isinstance(backing, S3Path):
            backing.rmtree()
        else:
            shutil.rmtree(backing, ignore_errors=True)
        # The cache holds a copy of every file the test touched (6 GiB after the
        # 3 GiB test); a failed test's log and mount point are what remain.
        shutil.rmtree(tmp_path / "cache", ignore_errors=True)


def test_mount_is_listed_and_root_is_empty(mnt, request: pytest.FixtureRequest) -> None:
    m, backing = mnt
    assert is_mounted(m)
    # The jobs directory (where there is a scheduler): virtual, not on the remote side.
    assert os.listdir(m) == ([".jobs"] if expect(request)["jobs"] else [])
    assert not (backing / ".jobs").exists()
    st = os.stat(m)
    assert st.st_uid == os.getuid()


def test_create_read_overwrite_append_truncate(mnt) -> None:
    m, backing = mnt
    f = m / "a.txt"
    f.write_bytes(b"hello")
    assert (backing / "a.txt").read_bytes() == b"hello"
    assert f.read_bytes() == b"hello"
    f.write_bytes(b"bye")
    assert (backing / "a.txt").read_bytes() == b"bye"
    with open(f, "ab") as fh:
        fh.write(b"+more")
    assert (backing / "a.txt").read_bytes() == b"bye+more"
    os.truncate(f, 2)
    assert (backing / "a.txt").read_bytes() == b"by"
    assert f.stat().st_size == 2
    with open(f, "r+b") as fh:
        fh.truncate(5)
    assert (backing / "a.txt").read_bytes() == b"by\0\0\0"
    (m / "empty").touch()
    assert (backing / "empty").exists() and (backing / "empty").stat().st_size == 0


def test_remote_changes_are_seen_after_the_attribute_timeout(mnt) -> None:
    m, backing = mnt
    (backing / "r.txt").write_bytes(b"v1")
    time.sleep(1.2)
    assert (m / "r.txt").read_bytes() == b"v1"
    time.sleep(1.1)  # mtime resolution of sftp is one second
    (backing / "r.txt").write_bytes(b"version2")
    time.sleep(1.2)
    assert (m / "r.txt").read_bytes() == b"version2"


def test_random_writes_match_a_reference_file(mnt, tmp_path: Path) -> None:
    m, backing = mnt
    rng = random.Random(7)
    ref = tmp_path / "ref.bin"
    data = bytearray(rng.randbytes(300_000))
    ref.write_bytes(data)
    shutil.copyfile(ref, m / "r.bin")
    with open(m / "r.bin", "r+b") as fh:
        for _ in range(200):
            off = rng.randrange(0, 400_000)
            chunk = rng.randbytes(rng.randrange(1, 5000))
            fh.seek(off)
            fh.write(chunk)
            if off > len(data):
                data.extend(b"\0" * (off - len(data)))
            data[off:off + len(chunk)] = chunk
    assert (m / "r.bin").read_bytes() == bytes(data)
    assert (backing / "r.bin").read_bytes() == bytes(data)


def test_trees_mkdir_p_mv_rm_r(mnt, request: pytest.FixtureRequest) -> None:
    m, backing = mnt
    (m / "a" / "b" / "c").mkdir(parents=True)
    for i in range(5):
        (m / "a" / "b" / f"f{i}").write_text(str(i))
    subprocess.run(["mv", str(m / "a"), str(m / "z")], check=True)
    assert (backing / "z" / "b" / "f3").read_text() == "3"
    assert not (backing / "a").exists()
    assert sorted(os.listdir(m / "z" / "b")) == ["c", "f0", "f1", "f2", "f3", "f4"]
    assert (m / "z").stat().st_size < 1 << 32  # webdav reports 2^64-1 for a directory
    with pytest.raises(OSError) as info:
        os.rmdir(m / "z")
    assert info.value.errno == errno.ENOTEMPTY
    subprocess.run(["rm", "-r", str(m / "z")], check=True)
    assert not (backing / "z").exists()
    assert os.listdir(m) == ([".jobs"] if expect(request)["jobs"] else [])


def test_rename_over_existing_targets(mnt, request: pytest.FixtureRequest) -> None:
    m, backing = mnt
    (m / "x").write_text("x")
    (m / "y").write_text("y")
    os.rename(m / "x", m / "y")
    assert (m / "y").read_text() == "x" and not (m / "x").exists()
    assert (backing / "y").read_text() == "x" and not (backing / "x").exists()
    os.rename(m / "y", m / "new")
    assert (backing / "new").read_text() == "x" and not (backing / "y").exists()
    (m / "d1").mkdir()
    (m / "d2").mkdir()
    (m / "d2" / "f").write_text("f")
    with pytest.raises(OSError) as info:
        os.rename(m / "d1", m / "d2")
    if expect(request)["rename_dirs"]:
        assert info.value.errno == errno.ENOTEMPTY
    else:
        assert info.value.errno == errno.EXDEV
        with pytest.raises(OSError) as info:
            os.rename(m / "d2", m / "d3")
        assert info.value.errno == errno.EXDEV
        assert (backing / "d2" / "f").read_text() == "f" and not (backing / "d3").exists()
        shutil.move(m / "d2", m / "d3")  # what mv does: copy, then delete
        assert (backing / "d3" / "f").read_text() == "f" and not (backing / "d2").exists()
    os.rmdir(m / "d1")


def test_untar_then_diff(mnt, tmp_path: Path) -> None:
    m, backing = mnt
    tarball = tmp_path / "src.tar"
    with tarfile.open(tarball, "w") as tar:
        tar.add(ROOT / "xenonfs", arcname="xenonfs",
                filter=lambda t: None if "__pycache__" in t.name else t)
    subprocess.run(["tar", "xf", str(tarball), "-C", str(m)], check=True)
    original = tmp_path / "orig"
    original.mkdir()
    subprocess.run(["tar", "xf", str(tarball), "-C", str(original)], check=True)
    result = subprocess.run(["diff", "-r", str(original / "xenonfs"), str(m / "xenonfs")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[:2000]
    assert (original / "xenonfs" / "cli.py").read_bytes() == \
        (backing / "xenonfs" / "cli.py").read_bytes()


def test_two_opens_and_concurrent_readers(mnt) -> None:
    m, backing = mnt
    payload = os.urandom(3 * 1024 * 1024)
    (backing / "shared.bin").write_bytes(payload)
    results: list[bytes] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def reader() -> None:
        start.wait()  # all open at once, before any download has begun
        try:
            with open(m / "shared.bin", "rb") as fh:
                results.append(fh.read())
        except OSError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert results == [payload] * 8
    with open(m / "two.txt", "w+b") as w, open(m / "two.txt", "rb") as r:
        w.write(b"seen by the other")
        w.flush()
        assert r.read() == b"seen by the other"


def test_unsupported_operations_give_errno(mnt, request: pytest.FixtureRequest) -> None:
    m, backing = mnt
    (m / "f").write_text("f")
    if request.node.callspec.params["mnt"] in ("file", "sftp"):  # native: hard links
        os.link(m / "f", m / "hard")
        assert os.stat(backing / "hard").st_ino == os.stat(backing / "f").st_ino
    else:
        with pytest.raises(OSError) as info:
            os.link(m / "f", m / "hard")
        assert info.value.errno in (errno.ENOTSUP, errno.EPERM)
    with pytest.raises(OSError) as info:
        os.mkfifo(m / "fifo")
    assert info.value.errno in (errno.ENOTSUP, errno.EPERM)
    with pytest.raises(FileNotFoundError):
        (m / "missing").read_text()
    (m / "d").mkdir()
    with pytest.raises(IsADirectoryError):
        os.unlink(m / "d")


def test_permissions_and_symlinks(mnt, request: pytest.FixtureRequest) -> None:
    m, backing = mnt
    (m / "p").write_text("p")
    if not expect(request)["chmod"]:
        with pytest.raises(OSError) as info:
            os.chmod(m / "p", 0o600)
        assert info.value.errno == errno.ENOTSUP
        os.chmod(m / "p", (m / "p").stat().st_mode)  # no change: fine (tar does this)
        with pytest.raises(OSError) as info:
            os.symlink("p", m / "link")
        assert info.value.errno == errno.ENOTSUP
        assert not (backing / "link").exists()
        return
    os.chmod(m / "p", 0o600)
    assert (backing / "p").stat().st_mode & 0o777 == 0o600
    time.sleep(1.1)
    assert (m / "p").stat().st_mode & 0o777 == 0o600
    os.symlink("p", m / "link")
    assert (backing / "link").is_symlink()
    assert os.readlink(m / "link").endswith("p")


def test_read_while_downloading(mnt, tmp_path: Path) -> None:
    m, backing = mnt
    size = 512 * 1024 * 1024
    put_sparse(backing, "huge.bin", size, b"START" + b"x" * 95, tmp_path)
    t = time.monotonic()
    head = subprocess.run(["head", "-c", "100", str(m / "huge.bin")], capture_output=True,
                          timeout=120).stdout
    first = time.monotonic() - t
    assert head == b"START" + b"x" * 95
    t = time.monotonic()
    with open(m / "huge.bin", "rb") as fh:
        fh.seek(size - 10)
        tail = fh.read()
    whole = first + time.monotonic() - t
    assert tail == b"\0" * 10
    print(f"first 100 bytes after {first:.2f} s; whole file after {whole:.2f} s")
    if "sftp" in str(m.parent):
        assert first < whole / 3


@pytest.mark.slow
def test_three_gib_copy_in_and_out(mnt, tmp_path: Path) -> None:
    m, backing = mnt
    src = tmp_path / "big.src"
    block = os.urandom(1 << 20)
    with open(src, "wb") as f:
        for i in range(3 * 1024):
            f.write(i.to_bytes(8, "little") + block[8:])
    try:
        subprocess.run(["cp", str(src), str(m / "big.bin")], check=True, timeout=1200)
        assert same_file(src, backing, "big.bin")
        # Through the mount, so its 3 GiB cache copy goes too (disk stays at ~12 GiB).
        os.unlink(m / "big.bin")
        assert not (backing / "big.bin").exists()
        # Out: a file put on the remote side directly, so it is not in the cache.
        put_file(backing, "big2.bin", src)
        subprocess.run(["cp", str(m / "big2.bin"), str(tmp_path / "big.out")], check=True,
                       timeout=1200)
        assert subprocess.run(["cmp", str(src), str(tmp_path / "big.out")]).returncode == 0
    finally:
        for p in (src, tmp_path / "big.out"):
            p.unlink(missing_ok=True)
