"""Upload while writing (xenonfs/vfs/writeahead.py) on a real sftp mount (OpenSSH).

A big file written in order reaches the server before close(); every way of
breaking that order (seek back, truncate, rename, unlink, another transfer
taking the connection) still ends with the server holding exactly the bytes
written, compared with a local reference.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.mounts import mounted
from tests.servers.sshd import SshServer
from tests.test_mount_behaviour import _owned_dir
from xenonfs.vfs.writeahead import THRESHOLD

MiB = 1 << 20


@pytest.fixture
def sftp_mnt(sshd: SshServer, tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    backing = _owned_dir(sshd.home, sshd.user)
    source = f"sftp://{sshd.user}@127.0.0.1:{sshd.port}{backing}"
    opts = ["password_env=XENONFS_TEST_PW", "strict_host_key_checking=no"]
    with mounted(source, tmp_path / "mnt", opts, {"XENONFS_TEST_PW": sshd.password},
                 tmp_path / "cache") as mnt:
        yield mnt, backing


def _wait_size(path: Path, at_least: int, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    size = 0
    while time.monotonic() < deadline:
        size = path.stat().st_size if path.exists() else 0
        if size >= at_least:
            break
        time.sleep(0.05)
    return size


def test_a_big_file_written_in_order_reaches_the_server_before_close(
        sftp_mnt: tuple[Path, Path]) -> None:
    mnt, backing = sftp_mnt
    data = os.urandom(THRESHOLD + 24 * MiB)
    head = THRESHOLD + 16 * MiB
    with open(mnt / "big.bin", "wb") as f:
        for off in range(0, head, MiB):
            f.write(data[off:off + MiB])
        f.flush()
        # Still open: with the upload at close only, the server would have 0 bytes.
        arrived = _wait_size(backing / "big.bin", 8 * MiB, 60)
        assert arrived >= 8 * MiB, f"only {arrived} bytes on the server before close"
        f.write(data[head:])
    assert (backing / "big.bin").read_bytes() == data


def test_breaking_the_order_still_leaves_exactly_the_written_bytes(
        sftp_mnt: tuple[Path, Path]) -> None:
    mnt, backing = sftp_mnt
    data = os.urandom(THRESHOLD + 8 * MiB)
    # A write back into what was already sent.
    with open(mnt / "seek.bin", "wb") as f:
        f.write(data)
        f.seek(5)
        f.write(b"XYZ")
        f.seek(0, os.SEEK_END)
        f.write(b"tail")
    assert (backing / "seek.bin").read_bytes() == data[:5] + b"XYZ" + data[8:] + b"tail"
    # A truncate while it streams.
    with open(mnt / "trunc.bin", "wb") as f:
        f.write(data)
        f.flush()
        f.truncate(3 * MiB)
        f.seek(0, os.SEEK_END)
        f.write(b"end")
    assert (backing / "trunc.bin").read_bytes() == data[:3 * MiB] + b"end"
    # A rename while it streams: the new name gets the whole file, the old none.
    with open(mnt / "old.bin", "wb") as f:
        f.write(data[:THRESHOLD + MiB])
        os.rename(mnt / "old.bin", mnt / "new.bin")
        f.write(data[THRESHOLD + MiB:])
    assert (backing / "new.bin").read_bytes() == data
    assert not (backing / "old.bin").exists()
    # An unlink while it streams: nothing is left on the server.
    with open(mnt / "gone.bin", "wb") as f:
        f.write(data[:THRESHOLD + MiB])
        os.unlink(mnt / "gone.bin")
        f.write(data[THRESHOLD + MiB:])
    time.sleep(0.5)
    assert not (backing / "gone.bin").exists()


def test_another_transfer_takes_the_connection_and_both_files_arrive(
        sftp_mnt: tuple[Path, Path]) -> None:
    mnt, backing = sftp_mnt
    other = os.urandom(3 * MiB)
    (backing / "other.bin").write_bytes(other)
    data = os.urandom(THRESHOLD + 8 * MiB)
    with open(mnt / "w.bin", "wb") as f:
        f.write(data[:THRESHOLD + MiB])
        f.flush()
        # Reading another file needs the one sftp transfer slot the stream holds;
        # a writer that waited for it here would wait for itself.
        assert (mnt / "other.bin").read_bytes() == other
        f.write(data[THRESHOLD + MiB:])
    assert (backing / "w.bin").read_bytes() == data
