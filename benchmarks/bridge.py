"""The cost of calling asyncssh (asyncio) from trio through `backends.aio`.

Prints, in one run, for both hosts of the asyncio loop (stepped in trio's
thread, the default; a thread of its own, ``XENONFS_ASYNCIO=thread``), in
turns: an empty coroutine's round trip through the bridge; one SFTP lstat
through the bridge, sequential; and 500 lstats at once through the bridge;
and the same lstat awaited in asyncio directly (no bridge). Medians over the
rounds. Needs root (it starts the test sshd, stopped by its PID at the end).

    python benchmarks/bridge.py [--calls 2000] [--rounds 3]
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
from xenonfs.backends.aio import AsyncioInTrio, AsyncioThread  # noqa: E402


def _median_us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


async def _through_bridge(host: type[AsyncioThread], server: SshServer,
                          calls: int) -> dict[str, float]:
    aio = host()
    try:
        return await _measure(aio, server, calls)
    finally:
        aio.close()


async def _measure(aio: AsyncioThread, server: SshServer, calls: int) -> dict[str, float]:
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
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    hosts = {"in trio's thread": AsyncioInTrio, "in a thread of its own": AsyncioThread}
    results: dict[str, list[dict[str, float]]] = {name: [] for name in hosts}
    direct = []
    server = SshServer().start()
    try:
        for _ in range(args.rounds):
            for name, host in hosts.items():
                results[name].append(trio.run(_through_bridge, host, server, args.calls))
            direct.append(asyncio.run(_in_asyncio(server, args.calls)))
    finally:
        server.stop()
    plain = statistics.median(direct)
    print(f"sftp lstat in asyncio directly: {plain:.0f} us (median of {args.calls}, "
          f"median of {args.rounds} rounds)")
    for name, rounds in results.items():
        def med(key: str) -> float:
            return statistics.median(r[key] for r in rounds)
        print(f"loop {name}: empty call {med('empty'):.0f} us, lstat {med('lstat'):.0f} us "
              f"(bridge {med('lstat') - plain:.0f} us), 500 lstats at once {med('many'):.0f} ms;"
              f" lstat per round: " + ", ".join(f"{r['lstat']:.0f}" for r in rounds))


if __name__ == "__main__":
    main()
