"""The native sftp backend against sshfs and the engine backend, side by side
in one run on the same sshd, rounds in turns (each tool first in turn).

Run by hand from the repository root, as root (`apt-get install sshfs`):

    python benchmarks/native.py [--size-mib 1024] [--files 2000] [--entries 10000] [--rounds 3]

Per round, on fresh files for each tool (so every read is cold): sequential
read of one file (page cache dropped), sequential write of one file until
close returns, `tar x` of many small files, `rm -r` of them, `ls -l` of a
large directory, `cat` of every small file again (cached). Prints the medians
and each round's own ratio to sshfs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Callable, Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.mount import drop_caches, read_all, settle, sshfs_mount  # noqa: E402
from tests.mounts import mounted  # noqa: E402
from tests.servers.sshd import SshServer  # noqa: E402

MB = 1e6
TOOLS = ("native", "sshfs", "engine")


@contextmanager
def mount_of(tool: str, sshd: SshServer, remote: Path, mnt: Path, cache: Path) -> Iterator[Path]:
    """Mount ``remote`` on ``mnt`` with ``tool``; unmounted at the end."""
    if tool == "sshfs":
        sshfs_mount(sshd, mnt, remote)
        try:
            yield mnt
        finally:
            subprocess.run(["fusermount3", "-u", str(mnt)], check=False)
        return
    source = f"sftp://{sshd.user}@127.0.0.1:{sshd.port}{remote}"
    opts = ["password_env=XENONFS_BENCH_PW", "strict_host_key_checking=no",
            f"backend={tool}"]
    with mounted(source, mnt, opts, {"XENONFS_BENCH_PW": sshd.password}, cache) as m:
        yield m


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def one_round(tool: str, sshd: SshServer, m: Path, work: Path, args: argparse.Namespace,
              big: Path, tree_tar: Path) -> dict[str, float]:
    """Returns: seconds of each measurement for ``tool`` mounted at ``m``."""
    tag = uuid.uuid4().hex[:6]
    remote = sshd.home / "bench"
    result: dict[str, float] = {}
    # Read: a file put on the server directly (not in any cache).
    name = f"r-{tag}.bin"
    shutil.copyfile(big, remote / name)
    drop_caches()
    result["read"] = timed(lambda: read_all(m / name))
    (remote / name).unlink()
    settle()
    result["write"] = timed(lambda: subprocess.run(["cp", str(big), str(m / f"w-{tag}.bin")],
                                                   check=True))
    os.unlink(m / f"w-{tag}.bin")
    (m / f"t-{tag}").mkdir()
    result["tar x"] = timed(lambda: subprocess.run(
        ["tar", "xf", str(tree_tar), "--no-same-owner", "-C", str(m / f"t-{tag}")],
        check=True))
    files = sorted((m / f"t-{tag}").rglob("*.txt"))
    result["cat cached"] = timed(lambda: subprocess.run(
        ["cat", *map(str, files)], check=True, stdout=subprocess.DEVNULL))
    result["rm -r"] = timed(lambda: shutil.rmtree(m / f"t-{tag}"))
    listing = remote / f"l-{tag}"
    listing.mkdir()
    for i in range(args.entries):
        (listing / f"e{i:05d}").touch()
    shutil.chown(listing, sshd.user, sshd.user)
    result["ls -l"] = timed(lambda: subprocess.run(["ls", "-l", str(m / listing.name)],
                                                   check=True, capture_output=True))
    shutil.rmtree(listing)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--entries", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tools", default=",".join(TOOLS))
    args = parser.parse_args()
    tools = args.tools.split(",")
    work = Path(tempfile.mkdtemp(prefix="xenonfs-native-bench-"))
    sshd = SshServer().start()
    try:
        big = work / "big.bin"
        with open(big, "wb") as f:
            for _ in range(args.size_mib):
                f.write(os.urandom(1 << 20))
        tree = work / "tree"
        for i in range(args.files):
            d = tree / f"d{i % 20}"
            d.mkdir(parents=True, exist_ok=True)
            (d / f"f{i}.txt").write_bytes(os.urandom(1024 + (i * 7919) % 7168))
        tree_tar = work / "tree.tar"
        with tarfile.open(tree_tar, "w") as tar:
            tar.add(tree, arcname="tree")
        remote = sshd.home / "bench"
        remote.mkdir(exist_ok=True)
        shutil.chown(remote, sshd.user, sshd.user)
        rounds: list[dict[str, dict[str, float]]] = []
        with ExitStack() as stack:
            mounts = {tool: stack.enter_context(mount_of(tool, sshd, remote, work / f"m-{tool}",
                                                         work / f"c-{tool}"))
                      for tool in tools}
            for r in range(args.rounds):
                order = tools[r % len(tools):] + tools[:r % len(tools)]
                rounds.append({tool: one_round(tool, sshd, mounts[tool], work, args, big,
                                               tree_tar) for tool in order})
                print(f"round {r + 1}: " + "; ".join(
                    f"{tool} " + ", ".join(f"{k} {v:.2f}s" for k, v in rounds[-1][tool].items())
                    for tool in order), flush=True)
        report(rounds, tools, args)
    finally:
        sshd.stop()
        shutil.rmtree(work, ignore_errors=True)


def report(rounds: list[dict[str, dict[str, float]]], tools: list[str],
           args: argparse.Namespace) -> None:
    size = args.size_mib * (1 << 20)
    keys = list(rounds[0][tools[0]])
    print(f"\n{args.size_mib} MiB file, {args.files} small files, {args.entries} entries, "
          f"{len(rounds)} rounds; medians (MB/s for read/write, else seconds)")
    print("| measurement | " + " | ".join(tools) + " | native / sshfs (per round) |")
    print("|---|" + "---|" * len(tools) + "---|")
    for key in keys:
        cells = []
        for tool in tools:
            secs = statistics.median(r[tool][key] for r in rounds)
            cells.append(f"{size / MB / secs:.0f} MB/s" if key in ("read", "write")
                         else f"{secs:.2f} s")
        ratio = ""
        if "native" in tools and "sshfs" in tools:
            per = [r["sshfs"][key] / r["native"][key] if key in ("read", "write")
                   else r["native"][key] / r["sshfs"][key] for r in rounds]
            ratio = (f"{statistics.median(per):.2f}x ("
                     + ", ".join(f"{p:.2f}" for p in per) + ")")
        print(f"| {key} | " + " | ".join(cells) + f" | {ratio} |")
    print("(read/write ratios: native speed / sshfs speed; others: native time / sshfs time)")


if __name__ == "__main__":
    main()
