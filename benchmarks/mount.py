"""Issue 15's benchmark: the native sftp backend against sshfs, rclone mount and
the engine backend, in one run on the same test sshd, and the file:// native
backend against the plain local directory.

Run by hand from the repository root, as root (`apt-get install sshfs rclone`):

    python benchmarks/mount.py [--size-mib 1024] [--files 2000] [--entries 10000]
        [--stream-gib 10] [--rounds 3] [--tools native,sshfs,rclone,engine,file]

Smoke run: ``--size-mib 64 --files 200 --entries 1000 --stream-gib 0.25 --rounds 1``.

Rounds in turns: in round r every measurement runs for each tool, the tool
list rotated by r (each tool first in turn). Each tool mounts a directory of
its own; every file read is put on the server directly (a hard link of a seed
file under a fresh name, page cache dropped), so no cache of any tool holds
it (rclone, which caches listings for minutes, is sent SIGHUP to forget them,
untimed). Writes end when close returns; for rclone (whose close returns before its
upload) when the server's disk holds the whole file/tree, and the same check
runs after every tool's writes. Prints medians, each round's native/sshfs
ratio, the issue's goal and met / not met.

Bytes fetched (random reads): the test sshd runs ``Subsystem sftp
internal-sftp``, so each SFTP session is a process of its own, ``sshd:
USER@internal-sftp``, a child of our sshd's session process. Its rchar in
/proc/PID/io counts what it read(): the file bytes it served plus the small
requests from its pipe (~30 B per READ). Those processes of our sshd (found
by ancestry, so other sshds of the test user do not count) are sampled every
50 ms from before open() until their sum has not grown for 1.5 s after
close() (so read-ahead that arrives late counts, up to 120 s); only one tool
works at a time. Checked: an 8 MiB read through sshfs added 8,396,236 B.

Peak RSS (streaming; xenonfs tools, after the rounds): VmRSS of the daemon plus the mount's
worker, summed, sampled every 50 ms while one sparse file of --stream-gib is
read through the mount (the engine's JVM, used by the engine backend and by
.jobs/, not counted).

file://: the reference is the plain local directory (no FUSE at all, the
strictest one), and libfuse's passthrough_ll example (its source ships in
libfuse3-dev; built here when a compiler is there) as a second one.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tarfile
import tempfile
import time
import uuid
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Callable, Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (build_passthrough, passthrough, private_xdg, rclone,  # noqa: E402
                               sshfs, write_seed)
from benchmarks.measures import (FILE_MEASURES, SFTP_MEASURES, Bench, Place,  # noqa: E402
                                 make_tree, m_stream)
from benchmarks.report import Metric, Rounds, print_tables  # noqa: E402
from tests.mounts import mounted  # noqa: E402
from tests.servers.sshd import SshServer  # noqa: E402

TOOLS = ("native", "sshfs", "rclone", "engine")
#: The tools whose daemon + worker RSS is measured while streaming.
XENONFS = ("native", "engine", "file-native")


@contextmanager
def mount_of(tool: str, sshd: SshServer, remote: Path, mnt: Path, work: Path) -> Iterator[Place]:
    """Mount ``remote`` on ``mnt`` with ``tool``; unmounted at the end."""
    if tool == "sshfs":
        with sshfs(sshd, mnt, remote):
            yield Place(remote, mnt, mnt)
    elif tool == "rclone":
        with rclone(sshd, mnt, remote, work / "rclone") as flush:
            yield Place(remote, mnt, mnt, flush)
    else:
        source = f"sftp://{sshd.user}@127.0.0.1:{sshd.port}{remote}"
        opts = ["password_env=XENONFS_BENCH_PW", "strict_host_key_checking=no",
                f"backend={tool}"]
        with mounted(source, mnt, opts, {"XENONFS_BENCH_PW": sshd.password},
                     work / f"cache-{tool}"):
            yield Place(remote, mnt, mnt)


def run_rounds(b: Bench, tools: list[str], measures: tuple[Callable[..., dict[str, float]], ...],
               rounds: int, failures: list[str]) -> Rounds:
    """Returns: per round, tool -> measurement -> value; each measurement
    for every tool in turn, the order rotated by one each round."""
    out = []
    for r in range(rounds):
        order = tools[r % len(tools):] + tools[:r % len(tools)]
        results: dict[str, dict[str, float]] = {tool: {} for tool in order}
        for measure in measures:
            for tool in order:
                tag = uuid.uuid4().hex[:8]
                try:
                    got = measure(b, tool, tag)
                except Exception as e:  # one tool failing must not lose the run
                    failures.append(f"round {r + 1}, {measure.__name__[2:]}, {tool}: {e!r}")
                    print(f"  FAILED: {failures[-1]}", file=sys.stderr, flush=True)
                    continue
                results[tool].update(got)
                print(f"round {r + 1} {tool}: " + ", ".join(f"{k} {v:.3g}" for k, v in got.items()),
                      flush=True)
        out.append(results)
    return out


def streams(b: Bench, tools: list[str], failures: list[str]) -> dict[str, dict[str, float]]:
    """Returns: tool -> the streaming values, for the xenonfs tools (once each)."""
    out = {}
    for tool in tools:
        if tool in XENONFS and b.args.stream_gib > 0:
            try:
                out[tool] = m_stream(b, tool)
            except Exception as e:
                failures.append(f"stream, {tool}: {e!r}")
                continue
            print(f"stream {tool}: " + ", ".join(f"{k} {v:.3g}" for k, v in out[tool].items()),
                  flush=True)
    return out


def metrics(args: argparse.Namespace) -> list[Metric]:
    """The issue's measurements and goals (ratios are native / sshfs per round)."""
    size_mib = args.size_mib
    return [
        Metric("read", f"sequential read {size_mib} MiB (cold)", "MB/s", ">=", 1.0),
        Metric("write", f"sequential write {size_mib} MiB (cp, until close)", "MB/s", ">=", 1.0),
        Metric("parallel", f"4 parallel readers, 4 files of {max(1, size_mib // 4)} MiB (cold)",
               "MB/s", ">=", 1.0),
        Metric("ttfb", f"random 4 KiB reads ({args.random_mib} MiB file): first byte", "ms",
               "<", 50, on="value"),
        Metric("fetched", "random 4 KiB reads: bytes fetched / bytes read", "x", "<=", 4,
               on="value"),
        Metric("random", f"random 4 KiB reads: all {args.random_reads}", "s"),
        Metric("tar", f"`tar x` {args.files} small files", "s", "<=", 1.2),
        Metric("cat", "`cat` of them, cached", "s", "<=", 1.0),
        Metric("rm", "`rm -r` of them", "s", "<=", 1.2),
        Metric("ls", f"`ls -l` {args.entries} entries, cold", "s", "<=", 1.0),
        Metric("rsync1", f"`rsync -a` {args.rsync_files} files, first", "s"),
        Metric("rsync2", "`rsync -a` again, unchanged", "s", "<=", 2.0),
        Metric("rsync_files", "`rsync -a` again: files sent, literal data", "sent", "==", 0,
               on="value"),
        Metric("rss", f"streaming {args.stream_gib:g} GiB: daemon + worker peak RSS", "MB", "<=",
               150, on="value"),
        Metric("rss_daemon", "streaming: the daemon's own peak RSS", "MB"),
        Metric("rss_worker", "streaming: the mount worker's own peak RSS", "MB"),
        Metric("stream", f"streaming {args.stream_gib:g} GiB", "MB/s"),
    ]


def make_inputs(args: argparse.Namespace, work: Path) -> None:
    """The local files every tool gets the same of."""
    write_seed(work / "big.bin", args.size_mib)
    make_tree(work / "tree", args.files, 20)
    with tarfile.open(work / "tree.tar", "w") as tar:
        tar.add(work / "tree", arcname="tree")
    make_tree(work / "sync", args.rsync_files, 40)


def sftp_part(args: argparse.Namespace, tools: list[str], work: Path,
              failures: list[str]) -> None:
    sshd = SshServer()
    base = None
    try:
        sshd.start()
        base = sshd.home / f"mbench-{uuid.uuid4().hex[:8]}"
        seeds = base / "seed"
        seeds.mkdir(parents=True)
        shutil.copyfile(work / "big.bin", seeds / "big.bin")
        for i in range(4):
            write_seed(seeds / f"p{i}.bin", max(1, args.size_mib // 4))
        write_seed(seeds / "random.bin", args.random_mib)
        for p in (base, *base.rglob("*")):
            shutil.chown(p, sshd.user, sshd.user)
        with ExitStack() as stack:
            places = {}
            for tool in tools:
                (base / tool).mkdir()
                shutil.chown(base / tool, sshd.user, sshd.user)
                try:
                    places[tool] = stack.enter_context(
                        mount_of(tool, sshd, base / tool, work / f"m-{tool}", work))
                except Exception as e:  # the others still run
                    failures.append(f"mount, {tool}: {e!r}")
            tools = [t for t in tools if t in places]
            b = Bench(args, work, places, seeds, sshd)
            rounds = run_rounds(b, tools, SFTP_MEASURES, args.rounds, failures)
            rounds.append(streams(b, tools, failures))  # a "round" of the stream values only
        print(f"\n## sftp: one sshd (OpenSSH, loopback); {args.rounds} rounds; medians\n")
        print_tables(metrics(args), rounds, tools, "native", "sshfs",
                     [(t, "sshfs") for t in tools if t != "sshfs"])
    finally:
        sshd.stop()
        if base is not None:
            shutil.rmtree(base, ignore_errors=True)


def file_part(args: argparse.Namespace, work: Path, failures: list[str]) -> None:
    backing = work / "backing"
    backing.mkdir()
    seeds = work / "file-seeds"
    seeds.mkdir()
    os.link(work / "big.bin", seeds / "big.bin")
    binary = build_passthrough(work)
    tools = ["file-native", "local"] + (["passthrough"] if binary else [])
    for tool in tools:
        (backing / tool).mkdir()
    with ExitStack() as stack:
        m = stack.enter_context(mounted(f"file://{backing}", work / "m-file", ["backend=native"],
                                        cache_dir=work / "cache-file"))
        places = {"file-native": Place(backing / "file-native", m / "file-native", m),
                  "local": Place(backing / "local", backing / "local", None)}
        if binary:
            pt = stack.enter_context(passthrough(binary, backing, work / "m-passthrough"))
            places["passthrough"] = Place(backing / "passthrough", pt / "passthrough", pt)
        b = Bench(args, work, places, seeds)
        rounds = run_rounds(b, tools, FILE_MEASURES, args.rounds, failures)
        rounds.append(streams(b, tools, failures))
    print("\n## file://: native backend vs the plain local directory"
          + (" and libfuse's passthrough_ll" if binary else "") + f"; {args.rounds} rounds;"
          " medians\n")
    ms = [Metric("read", f"sequential read {args.size_mib} MiB (cold)", "MB/s", ">=", 0.8),
          Metric("write", f"sequential write {args.size_mib} MiB (cp, until close)", "MB/s",
                 ">=", 0.8),
          *[m for m in metrics(args) if m.key.startswith(("rss", "stream"))]]
    print_tables(ms, rounds, tools, "file-native", "local",
                 [("file-native", "passthrough"), ("passthrough", "local")] if binary else [])


def keep_daemon_log(xdg: Path, failures: list[str]) -> None:
    """Copy the daemon's log out of ``xdg`` (removed at the end) and say where."""
    log = xdg / "runtime" / "xenonfs" / "daemon.log"
    if log.exists():
        fd, kept = tempfile.mkstemp(prefix="xenonfs-mbench-daemon-", suffix=".log")
        os.close(fd)
        shutil.copyfile(log, kept)
        failures.append(f"(the xenonfs daemon's log: {kept})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="sequential file (1024)")
    parser.add_argument("--files", type=int, default=2000, help="small files for tar x (2000)")
    parser.add_argument("--entries", type=int, default=10000, help="entries for ls -l (10000)")
    parser.add_argument("--rsync-files", type=int, help="files for rsync (2 x --files)")
    parser.add_argument("--random-mib", type=int, help="file of the random reads (2 x --size-mib)")
    parser.add_argument("--random-reads", type=int, default=256, help="random 4 KiB reads (256)")
    parser.add_argument("--stream-gib", type=float, default=10, help="streamed file (10; 0: none)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tools", default=",".join((*TOOLS, "file")),
                        help="of native,sshfs,rclone,engine, and file (the file:// part)")
    args = parser.parse_args()
    args.rsync_files = args.rsync_files or 2 * args.files
    args.random_mib = args.random_mib or 2 * args.size_mib
    if min(args.size_mib, args.files, args.entries, args.random_reads, args.rounds) < 1:
        parser.error("sizes, counts and --rounds must be at least 1")
    wanted = [t for t in args.tools.split(",") if t]
    unknown = set(wanted) - {*TOOLS, "file"}
    if unknown:
        parser.error(f"unknown tools {sorted(unknown)}")
    tools = [t for t in wanted if t in TOOLS]
    for tool in ("sshfs", "rclone"):
        if tool in tools and not shutil.which(tool):
            print(f"{tool} not installed (apt-get install {tool}): left out", file=sys.stderr)
            tools.remove(tool)
    # SIGTERM unwinds like Ctrl-C: every mount unmounted, every server stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    failures: list[str] = []
    started = time.monotonic()
    try:
        with private_xdg("xenonfs-mbench-run-") as xdg:
            work = Path(tempfile.mkdtemp(prefix="xenonfs-mbench-"))
            try:
                make_inputs(args, work)
                if tools:
                    sftp_part(args, tools, work, failures)
                if "file" in wanted:
                    file_part(args, work, failures)
            finally:
                shutil.rmtree(work, ignore_errors=True)
                if failures:
                    keep_daemon_log(xdg, failures)
    except KeyboardInterrupt:  # the cleanup above has run
        sys.exit("interrupted; every mount unmounted, every server stopped")
    if failures:
        print("\nFailed (left out of the tables):")
        for f in failures:
            print(f"- {f}")
    print(f"\nTook {(time.monotonic() - started) / 60:.1f} min.")


if __name__ == "__main__":
    main()
