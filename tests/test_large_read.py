"""A 3 GiB file read through the client with bounded memory (slow)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GIB = 1024 ** 3


@pytest.mark.slow
def test_three_gib_read_keeps_python_under_200_mb(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    block = os.urandom(1024 * 1024)
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        for i in range(3 * 1024):
            # Each MiB differs, so a reordered or repeated chunk changes the hash.
            data = i.to_bytes(8, "little") + block[8:]
            f.write(data)
            digest.update(data)
    try:
        result = subprocess.run([sys.executable, "-m", "tests.large_read_probe", str(path)],
                                capture_output=True, text=True, timeout=900, cwd=ROOT)
        assert result.returncode == 0, result.stderr[-3000:]
        sha, py_kb, jvm_kb, seconds, via_copy = result.stdout.split()
        print(f"3 GiB read: {seconds} s, python peak RSS {int(py_kb)//1024} MiB, "
              f"JVM peak RSS {int(jvm_kb)//1024} MiB (heap 256m)")
        assert sha == digest.hexdigest()
        assert via_copy == "True"
        assert int(py_kb) < 200 * 1024
        # Heap is capped at 256 MiB; RSS adds metaspace, threads and code cache.
        assert int(jvm_kb) < 700 * 1024
    finally:
        path.unlink()
