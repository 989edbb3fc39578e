"""A server that dies under a write: close() fails, nothing is lost, the mount recovers."""

from __future__ import annotations

import errno
import json
import os
import uuid
from pathlib import Path

import subprocess
import sys

import pytest

from tests.mounts import mounted
from tests.servers.sshd import SshServer


WRITER = """
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, open(sys.argv[2], "rb").read())
print("written", flush=True)
sys.stdin.readline()
try:
    os.close(fd)
    print("closed", flush=True)
except OSError as exc:
    print("error", exc.errno, flush=True)
"""


@pytest.fixture
def own_sshd():
    """An sshd of its own (with its own user), so cutting it off hurts no other test."""
    server = SshServer(user="xenonfs-fail").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("mib", [2, 64], ids=["small", "uploading-while-written"])
def test_server_lost_during_write(own_sshd: SshServer, tmp_path: Path, mib: int) -> None:
    """2 MiB: lost before close's upload; 64 MiB: also under the upload that
    began while the file was written (it starts at 32 MiB)."""
    srv = own_sshd
    cache = tmp_path / "cache"
    name = f"w-{uuid.uuid4().hex[:8]}.bin"
    payload = os.urandom(mib << 20)
    source = f"sftp://{srv.user}@127.0.0.1:{srv.port}{srv.home}"
    opts = ["password_env=XENONFS_TEST_PW", "strict_host_key_checking=no"]
    with mounted(source, tmp_path / "mnt", opts, {"XENONFS_TEST_PW": srv.password}, cache) as m:
        (m / "before.txt").write_text("ok")
        # The writer is its own process: every fork of a process that holds
        # the file open closes a copy of the descriptor, which the kernel
        # passes on as a flush (an upload) - the test's own forks included.
        src = tmp_path / "payload"
        src.write_bytes(payload)
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(m / name), str(src)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert writer.stdout.readline().strip() == "written"
        srv.interrupt()
        writer.stdin.write("close\n")
        writer.stdin.flush()
        assert writer.stdout.readline().strip() == f"error {errno.EIO}"
        writer.wait(30)
        # The bytes are in the cache, marked dirty (persisted: survives a restart).
        metas = [json.loads(p.read_text()) for p in cache.glob("*/meta/*.json")]
        dirty = [meta for meta in metas if meta["dirty"]]
        assert [meta["path"] for meta in dirty] == [f"/{name}"]
        cached = [p for p in cache.glob("*/data/*") if p.read_bytes() == payload]
        assert len(cached) == 1
        srv.resume()
        # The mount works again: reads and new writes.
        assert (m / "before.txt").read_text() == "ok"
        (m / "after.txt").write_text("after")
        assert (srv.home / "after.txt").read_text() == "after"
    # Unmounting uploaded what close() could not.
    assert (srv.home / name).read_bytes() == payload
    for p in (name, "before.txt", "after.txt"):
        (srv.home / p).unlink()
