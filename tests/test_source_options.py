"""Mount sources and options: every form parses, bad input is named."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.mounts import is_mounted
from xenonfs.source import MountOptions, SourceError, parse_source


@pytest.mark.parametrize("text,adaptor,location,root,user", [
    ("file:///data/x", "file", "/", "/data/x", None),
    ("sftp://me@host:2222/scratch", "sftp", "host:2222", "/scratch", "me"),
    ("sftp://host/", "sftp", "host", "/", None),
    ("me@host:work/dir", "sftp", "host", "work/dir", "me"),
    ("host:", "sftp", "host", ".", None),
    ("ftp://u@127.0.0.1:21/pub", "ftp", "127.0.0.1:21", "/pub", "u"),
    ("s3+http://KEY@127.0.0.1:9000/bucket/pre/fix", "s3", "http://127.0.0.1:9000/bucket",
     "/pre/fix", "KEY"),
    ("s3+https://s3.example.org/bucket", "s3", "https://s3.example.org/bucket", "/", None),
    ("webdav+http://u@127.0.0.1:8080/dav/", "webdav", "http://127.0.0.1:8080/dav", "/dav", "u"),
    ("webdav+https://127.0.0.1:8443", "webdav", "https://127.0.0.1:8443/", "/", None),
])
def test_source_forms(text: str, adaptor: str, location: str, root: str, user: str | None) -> None:
    s = parse_source(text)
    assert (s.adaptor, s.location, s.root, s.user) == (adaptor, location, root, user)


@pytest.mark.parametrize("text,message", [
    ("gopher://host/x", "unknown source scheme 'gopher'"),
    ("s3+http://127.0.0.1:9000/", "names no bucket"),
    ("file://otherhost/x", "file:///absolute"),
    ("sftp:///nohost", "has no host"),
])
def test_bad_sources_are_named(text: str, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        parse_source(text)


def test_options_parse_and_reject(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    o = MountOptions.parse(["ro,attr_timeout=2.5", "cache_max_size=512M",
                            "xenon.adaptors.filesystems.sftp.bufferSize=1M",
                            "strict_host_key_checking=no"])
    assert o.ro and o.attr_timeout == 2.5 and o.cache_max_size == 512 << 20
    assert not o.strict_host_key_checking
    assert o.engine_properties == {"xenon.adaptors.filesystems.sftp.bufferSize": "1M"}
    with pytest.raises(SourceError, match="unknown mount option 'reconect'"):
        MountOptions.parse(["reconect"])
    with pytest.raises(SourceError, match="attr_timeout='soon'"):
        MountOptions.parse(["attr_timeout=soon"])
    for bad in ("nan", "inf", "-1"):  # a cache time of NaN or forever is a typo, not a wish
        with pytest.raises(SourceError, match=f"attr_timeout='{bad}'.*finite, non-negative"):
            MountOptions.parse([f"attr_timeout={bad}"])
    with pytest.raises(SourceError, match="cache_max_size"):
        MountOptions.parse(["cache_max_size=lots"])
    with pytest.raises(SourceError, match="not both"):
        MountOptions.parse(["password_file=/x,password_env=Y"])
    with pytest.raises(SourceError, match="password_file /nonexistent"):
        MountOptions.parse(["password_file=/nonexistent"]).password()
    monkeypatch.delenv("XENONFS_NO_SUCH_VAR", raising=False)
    with pytest.raises(SourceError, match="XENONFS_NO_SUCH_VAR"):
        MountOptions.parse(["password_env=XENONFS_NO_SUCH_VAR"]).password()
    pw = tmp_path / "pw"
    pw.write_text("secret\n")
    assert MountOptions.parse([f"password_file={pw}"]).password() == "secret"


def test_failed_mount_exits_nonzero_and_leaves_nothing_mounted(tmp_path: Path) -> None:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    result = subprocess.run([sys.executable, "-m", "xenonfs.cli", "mount",
                             "sftp://nobody@127.0.0.1:1/x", str(mnt), "-o",
                             "password_env=PW,strict_host_key_checking=no"],
                            capture_output=True, text=True, timeout=120, env={**os.environ, "PW": "x",
                                                                                "PATH": "/usr/bin:/bin"})
    assert result.returncode != 0
    assert "127.0.0.1:1" in result.stderr
    assert not is_mounted(mnt)
    result = subprocess.run([sys.executable, "-m", "xenonfs.cli", "mount", "file:///tmp",
                             str(mnt), "-o", "bogus"], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "bogus" in result.stderr
