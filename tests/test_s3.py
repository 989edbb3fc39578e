"""s3 through the engine (moto): the adaptor's quirks, and how the mount shields them.

The behaviour suite (tests/test_mount_behaviour.py) runs on s3 too; this file
holds what only s3 has.
"""

from __future__ import annotations

import errno
import os
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import Runner
from tests.mounts import mounted
from tests.servers.s3 import MARKER, MotoServer, S3Path
from xenonfs.client import PasswordCredential, errors


@pytest.fixture
def prefix(s3: MotoServer) -> Iterator[S3Path]:
    """A fresh directory (key prefix) in the bucket, removed afterwards."""
    path = s3.path(f"t-{uuid.uuid4().hex[:8]}")
    path.mkdir()
    try:
        yield path
    finally:
        path.rmtree()


def test_engine_s3_file_system_and_its_quirks(engine: Runner, s3: MotoServer,
                                              prefix: S3Path) -> None:
    """The engine's own s3 behaviour, which the mount builds on (a change here
    means the shielding in xenonfs.backends.engine must be looked at again)."""
    async def body() -> None:
        fs = await engine.client.create_file_system(
            "s3", s3.location, {}, PasswordCredential(s3.access_key, s3.secret))
        try:
            base = f"/{prefix.key}"
            await fs.create_directory(f"{base}/d")
            assert (prefix / "d" / MARKER).is_file()  # a directory is a marker object
            assert await fs.list_all(f"{base}/d") == []  # ... hidden by the adaptor
            await fs.write_to_file(f"{base}/d/f", [b"hello"], size=5)
            with pytest.raises(errors.UnsupportedOperationException):
                await fs.write_to_file(f"{base}/d/g", [b""], size=0)  # 0 = "no size"
            await fs.create_file(f"{base}/d/empty")
            attrs = {a.path.name: a for a in await fs.list_all(f"{base}/d")}
            assert sorted(attrs) == ["empty", "f"]
            # Last-Modified arrives as the access time.
            assert attrs["f"].last_modified_time == 0 and attrs["f"].last_access_time > 0
            assert await fs.read_bytes(f"{base}/d/f") == b"hello"
            with pytest.raises(errors.NoSuchPathException):
                await fs.get_attributes("/")  # the bucket's top level: see xenonfs/backends/s3top.py
            with pytest.raises(errors.UnsupportedOperationException):
                await fs.rename(f"{base}/d/f", f"{base}/d/h")
        finally:
            await fs.close()
    engine(body)


def _mount(s3: MotoServer, prefix: str, tmp_path: Path, opts: list[str] | None = None,
           env: dict[str, str] | None = None):
    return mounted(s3.url(prefix), tmp_path / "mnt", ["password_env=XENONFS_TEST_PW"]
                   if opts is None else opts,
                   {"XENONFS_TEST_PW": s3.secret} if env is None else env, tmp_path / "cache")


def test_the_bucket_root_mounts(s3: MotoServer, tmp_path: Path) -> None:
    """The bucket's top level, which the adaptor cannot list or stat, is listed by
    the mount itself (xenonfs/backends/s3top.py); everything else there goes through the engine."""
    tag = uuid.uuid4().hex[:8]
    top = s3.path()
    names = [f"outside-{tag}.txt", f"outdir-{tag}", f"mine-{tag}.txt", f"mydir-{tag}",
             f"tree-{tag}"]
    try:
        (top / names[0]).write_bytes(b"from boto3")
        (top / names[1] / "inner.txt").write_bytes(b"below")  # a directory without marker
        with _mount(s3, "", tmp_path) as m:
            assert m.is_dir()
            (m / names[2]).write_bytes(b"through the mount")
            (m / names[3]).mkdir()
            (m / names[4] / "a" / "b").mkdir(parents=True)
            (m / names[4] / "a" / "f.txt").write_bytes(b"deep")
            listing = set(os.listdir(m))
            assert set(names) <= listing and MARKER not in listing
            assert (m / names[0]).is_file() and (m / names[0]).stat().st_size == 10
            assert (m / names[0]).stat().st_mtime > 0
            assert (m / names[1]).is_dir() and (m / names[3]).is_dir()
            assert (m / names[0]).read_bytes() == b"from boto3"
            assert os.listdir(m / names[1]) == ["inner.txt"]
            assert (top / names[2]).read_bytes() == b"through the mount"
            assert (top / names[3] / MARKER).is_file()
            (m / names[2]).unlink()
            os.rmdir(m / names[3])
            subprocess.run(["rm", "-r", str(m / names[4])], check=True)
            assert not (top / names[2]).exists() and not (top / names[3]).exists()
            assert not (top / names[4]).exists()
            listing = set(os.listdir(m))
            assert names[2] not in listing and names[3] not in listing
            assert names[4] not in listing and names[0] in listing
    finally:
        for name in names:
            (top / name).rmtree()
            (top / name).unlink()


def test_mount_needs_the_access_key_and_the_secret(s3: MotoServer, prefix: S3Path,
                                                   tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="s3 needs the secret access key"):
        with _mount(s3, prefix.key, tmp_path, opts=[], env={}):
            pass
    keyless = s3.url(prefix.key).replace(f"{s3.access_key}@", "")
    with pytest.raises(RuntimeError, match="s3 needs the access key id as the user"):
        with mounted(keyless, tmp_path / "mnt", ["password_env=XENONFS_TEST_PW"],
                     {"XENONFS_TEST_PW": s3.secret}):
            pass


def test_directory_markers_are_hidden_and_their_name_reserved(s3: MotoServer, prefix: S3Path,
                                                              tmp_path: Path) -> None:
    with _mount(s3, prefix.key, tmp_path) as m:
        (m / "d").mkdir()
        assert (prefix / "d" / MARKER).is_file()
        assert os.listdir(m / "d") == [] and os.listdir(m) == ["d"]
        assert not os.path.exists(m / "d" / MARKER)
        with pytest.raises(OSError) as info:
            (m / "d" / MARKER).write_bytes(b"x")
        assert info.value.errno == errno.EINVAL
        with pytest.raises(OSError) as info:
            (m / MARKER).mkdir()
        assert info.value.errno == errno.EINVAL
        # A directory made by another S3 client (no marker, only objects below it).
        (prefix / "other" / "x.txt").write_bytes(b"from outside")
        assert (m / "other").is_dir() and os.listdir(m / "other") == ["x.txt"]
        assert (m / "other" / "x.txt").read_bytes() == b"from outside"


def test_rename_of_a_file_being_written_copies_then_deletes(s3: MotoServer, prefix: S3Path,
                                                            tmp_path: Path) -> None:
    with _mount(s3, prefix.key, tmp_path) as m:
        (m / "old").write_bytes(b"saved")
        with open(m / "old", "r+b") as fh:
            fh.write(b"UNSAVED")  # in the cache only, until close
            # The copy then gets a later mtime (whole seconds) than the
            # upload: the close's check must compare with the copy's.
            time.sleep(1.1)
            os.rename(m / "old", m / "new")
            assert not (prefix / "old").exists()
        assert (prefix / "new").read_bytes() == b"UNSAVED"
        assert (m / "new").read_bytes() == b"UNSAVED"
        # Empty files are made with createFile (a size-0 upload is refused by s3).
        (m / "empty").touch()
        os.rename(m / "empty", m / "empty2")
        assert (prefix / "empty2").stat().st_size == 0 and not (prefix / "empty").exists()


def test_rmdir_of_the_last_key_under_a_directory_keeps_the_directory(
        s3: MotoServer, prefix: S3Path, tmp_path: Path) -> None:
    """The adaptor's rmdir removes only the directory's own marker: the mount puts
    back the markers of the parents that had nothing else under them."""
    with _mount(s3, prefix.key, tmp_path) as m:
        (m / "d" / "s" / "t").mkdir(parents=True)
        (m / "d" / "f").touch()  # createFile removes d's marker ...
        (m / "d" / "s" / "g").touch()  # ... and s's
        (m / "d" / "s" / "g").unlink()  # t's marker keeps s, so none is put back
        (m / "d" / "f").unlink()
        os.rmdir(m / "d" / "s" / "t")  # the last key under d and d/s
        assert (prefix / "d" / "s").is_dir() and (prefix / "d").is_dir()
        assert os.listdir(m / "d" / "s") == [] and os.listdir(m / "d") == ["s"]
        os.rmdir(m / "d" / "s")
        os.rmdir(m / "d")
        assert os.listdir(m) == [] and not (prefix / "d").exists()


@pytest.mark.parametrize("signature", ["ab/cd/efghijklmnopqrstuvwxyz0=",
                                       "ab/cd/ef/gh/ijklmnopqrstuvwx=",
                                       "ab/cd/ef/gh/ij/klmnopqrstuvw="])
def test_the_test_server_takes_any_sigv2_signature(s3: MotoServer, signature: str) -> None:
    """jclouds signs with SigV2 ("AWS KEY:BASE64"); moto_server's dispatcher read
    one with exactly four "/" as a SigV4 scope and answered 500, seen as a random
    EIO through the mount. The fixture serves moto's S3 alone (tests/servers/moto_s3.py)."""
    request = urllib.request.Request(f"{s3.location}/no-such-key", method="HEAD", headers={
        "Authorization": f"AWS {s3.access_key}:{signature}"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=30)
    assert info.value.code == 404


def test_a_bucket_root_mount_of_a_missing_bucket_says_so(s3: MotoServer, tmp_path: Path) -> None:
    missing = s3.url("").replace(f"/{s3.bucket}", "/no-such-bucket")
    with pytest.raises(RuntimeError, match="s3 bucket no-such-bucket at .*: no such bucket"):
        with mounted(missing, tmp_path / "mnt", ["password_env=XENONFS_TEST_PW"],
                     {"XENONFS_TEST_PW": s3.secret}, tmp_path / "cache"):
            pass
