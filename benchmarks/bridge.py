"""The cost of calling asyncssh (asyncio) from trio through `backends.aio`.

Prints, in one run: an empty coroutine's round trip through the bridge; one
SFTP lstat through the bridge, sequential; the same lstat awaited in asyncio
directly (no bridge); and 500 lstats at once through the bridge. Needs root
(it starts the test sshd, stopped by its PID at the end).

    python benchmarks/bridge.py [--calls 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import sys
from pathlib import Path

import asyncssh
import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.servers.sshd import SshServer  # noqa: E402
from xenonfs.backends.aio import AsyncioThread  # noqa: E402


def _median_us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


async def _through_bridge(aio: AsyncioThread, server: SshServer, calls: int) -> dict[str, float]:
    async def nothing() -> None:
        return None

    empty = []
    for _ in range(calls):
        t = time.perf_counter()
        await aio.run(nothing)
        empty.append(time.perf_counter() - t)

    async def connect() -> tuple[asyncssh.SSHClientConnection, asyncssh.SFTPClient]:
        conn = await asyncssh.connect("127.0.0.1", port=server.port, username=server.user,
                                      password=server.password, known_hosts=None)
        return conn, await conn.start_sftp_client()
    conn, sftp = await aio.run(connect)
    home = str(server.home).encode()
    stats = []
    for _ in range(calls):
        t = time.perf_counter()
        await aio.run(lambda: sftp.lstat(home))
        stats.append(time.perf_counter() - t)
    t = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(500):
            nursery.start_soon(aio.run, lambda: sftp.lstat(home))
    many = time.perf_counter() - t
    async def close() -> None:
        conn.close()
        await conn.wait_closed()
    await aio.run(close)
    return {"empty": _median_us(empty), "lstat": _median_us(stats), "many": many * 1e3}


async def _in_asyncio(server: SshServer, calls: int) -> float:
    async with asyncssh.connect("127.0.0.1", port=server.port, username=server.user,
                                password=server.password, known_hosts=None) as conn:
        sftp = await conn.start_sftp_client()
        home = str(server.home).encode()
        stats = []
        for _ in range(calls):
            t = time.perf_counter()
            await sftp.lstat(home)
            stats.append(time.perf_counter() - t)
        return _median_us(stats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    server = SshServer().start()
    try:
        aio = AsyncioThread()
        bridged = trio.run(_through_bridge, aio, server, args.calls)
        aio.close()
        direct = asyncio.run(_in_asyncio(server, args.calls))
    finally:
        server.stop()
    print(f"empty coroutine through the bridge: {bridged['empty']:.0f} us (median of "
          f"{args.calls})")
    print(f"sftp lstat through the bridge:      {bridged['lstat']:.0f} us")
    print(f"sftp lstat in asyncio directly:     {direct:.0f} us")
    print(f"bridge cost per call:               {bridged['lstat'] - direct:.0f} us")
    print(f"500 lstats at once via the bridge:  {bridged['many']:.0f} ms")


if __name__ == "__main__":
    main()
