"""Read a large file through the client and report memory (run as a subprocess).

Usage: python -m tests.large_read_probe PATH SIZE_MIB
Prints one line: "<sha256> <python VmHWM kB> <jvm VmHWM kB> <seconds> <via_copy>".
"""

from __future__ import annotations

import hashlib
import sys
import time

import trio

from xenonfs.client import open_client
from xenonfs.engine.process import EngineSettings


def _hwm(pid: int | str) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")


async def main(path: str) -> None:
    async with open_client(EngineSettings(heap="256m")) as client:
        fs = await client.create_file_system("file", "/")
        digest = hashlib.sha256()
        start = time.monotonic()
        reader = fs.read_from_file(path)
        async with reader:
            async for chunk in reader:
                digest.update(chunk)
        seconds = time.monotonic() - start
        jvm = _hwm(client.engine.pid)
    print(digest.hexdigest(), _hwm("self"), jvm, f"{seconds:.1f}", reader.via_copy)


if __name__ == "__main__":
    trio.run(main, sys.argv[1])
