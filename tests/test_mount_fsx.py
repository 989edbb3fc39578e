"""fsx-style integrity: thousands of random operations on one file in the mount
and on a local reference file, compared after every step."""

from __future__ import annotations

import os
import random
from pathlib import Path

from tests.test_mount_behaviour import mnt  # noqa: F401 - the same mount fixture

OPS = 2000
MAX_SIZE = 256 * 1024


def test_random_operations_keep_the_file_identical(mnt, tmp_path: Path) -> None:  # noqa: F811
    m, backing = mnt
    rng = random.Random(20261124)
    target = m / "fsx.bin"
    ref_path = tmp_path / "fsx.ref"
    target.write_bytes(b"")
    ref_path.write_bytes(b"")
    fd = os.open(target, os.O_RDWR)
    ref = os.open(ref_path, os.O_RDWR)
    reopens = 0
    try:
        for step in range(OPS):
            op = rng.choices(["write", "read", "truncate", "reopen", "append"],
                             weights=[45, 30, 10, 5, 10])[0]
            size = os.fstat(ref).st_size
            if op == "write":
                off = rng.randrange(0, MAX_SIZE)
                data = rng.randbytes(rng.randrange(1, 8192))
                assert os.pwrite(fd, data, off) == os.pwrite(ref, data, off)
            elif op == "append":
                data = rng.randbytes(rng.randrange(1, 4096))
                os.pwrite(fd, data, size)
                os.pwrite(ref, data, size)
            elif op == "truncate":
                new = rng.randrange(0, MAX_SIZE)
                os.ftruncate(fd, new)
                os.ftruncate(ref, new)
            elif op == "read":
                off = rng.randrange(0, max(size, 1))
                n = rng.randrange(1, 16384)
                assert os.pread(fd, n, off) == os.pread(ref, n, off), f"step {step}: read"
            else:  # close (uploads) and open again (re-validates against the remote)
                os.close(fd)
                fd = os.open(target, os.O_RDWR)
                reopens += 1
            assert os.fstat(fd).st_size == os.fstat(ref).st_size, f"step {step} ({op}): size"
        os.close(fd)
        fd = -1
        expected = ref_path.read_bytes()
        assert target.read_bytes() == expected
        assert (backing / "fsx.bin").read_bytes() == expected
        assert reopens > 50
    finally:
        if fd >= 0:
            os.close(fd)
        os.close(ref)
