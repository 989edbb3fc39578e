"""A xenonfs sftp mount against the engine's own copy and listing, in one run on
the same sshd and files (the engine-era benchmark; `benchmarks/mount.py`
compares the backends with sshfs and rclone).

Run by hand from the repository root, as root:

    python benchmarks/engine_mount.py [--size-mib 1024] [--entries 10000] [--rounds 5]

Measures: sequential read and write of one file through the mount vs the
engine's own copy (writes in turns, each first in every other round), re-read
of a cached file vs a local disk read, and a cold ``ls -l`` of a large
directory vs the engine's bare listing (the floor of any engine-based mount).
``--backend engine`` (the default) measures the mount on the engine, so the
ratios are xenonfs's own overhead; ``--backend native`` the asyncssh backend.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (MB, cp, drop_caches, engine_copy_any, ls_l,  # noqa: E402
                               private_xdg, read_all, settle, timed, write_seed)
from tests.mounts import mounted  # noqa: E402
from tests.servers.sshd import SshServer  # noqa: E402
from xenonfs._proto import xenon_pb2 as pb  # noqa: E402
from xenonfs.client import PasswordCredential, open_client  # noqa: E402

PROPS = {"xenon.adaptors.filesystems.sftp.strictHostKeyChecking": "false"}
PAIRED = "xenonfs write / engine copy, median of the rounds' own ratios"


def engine_list(sshd: SshServer, remote: str) -> tuple[float, float]:
    """Returns: seconds for the engine's own listing of ``remote`` through a
    bare synchronous gRPC loop (no xenonfs code: the floor for a cold ``ls -l``
    through any engine-based mount), and through the xenonfs client; both
    after two warm-up listings."""
    async def main() -> tuple[float, float]:
        async with open_client() as client:
            fs = await client.create_file_system("sftp", sshd.location, PROPS,
                                                 PasswordCredential(sshd.user, sshd.password))
            for _ in range(2):
                await fs.list_all(remote)
            stubs = await client.connection.stubs()
            handle = await fs.remote_handle()

            def bare() -> float:
                t = time.perf_counter()
                for _ in stubs.fs.list(pb.ListRequest(filesystem=handle,
                                                      dir=pb.Path(path=remote, separator="/"))):
                    pass
                return time.perf_counter() - t
            raw = await trio.to_thread.run_sync(bare)
            t = time.perf_counter()
            await fs.list_all(remote)
            return raw, time.perf_counter() - t
    return trio.run(main)


def measure(args: argparse.Namespace, sshd: SshServer, work: Path, remote: Path
            ) -> tuple[list[tuple[str, float, str]], list[str]]:
    """Returns: (rows of (measurement, value, unit), notes on each round)."""
    size = args.size_mib << 20
    cred = PasswordCredential(sshd.user, sshd.password)
    rows: list[tuple[str, float, str]] = []
    notes: list[str] = []
    src = work / "src.bin"
    write_seed(src, args.size_mib)
    _, down = engine_copy_any("sftp", sshd.location, PROPS, cred, src, str(remote / "engine.bin"))
    rows.append(("engine copy sftp->file", size / MB / down, "MB/s"))
    source = f"sftp://{sshd.user}@127.0.0.1:{sshd.port}{remote}"
    opts = ["password_env=XB_PW", "strict_host_key_checking=no", f"backend={args.backend}",
            f"cache_dir={work / 'cache'}"]
    with mounted(source, work / "x", opts, {"XB_PW": sshd.password}) as xm:
        # This shared machine's upload speed swings by a third between
        # minutes: the engine's copy and ours take turns (ABBA), and each
        # round's pair gives one ratio.
        ups: list[float] = []
        writes: list[float] = []
        for r in range(args.rounds):
            def engine_up() -> None:
                ups.append(size / MB / engine_copy_any("sftp", sshd.location, PROPS, cred, src,
                                                       str(remote / "engine.bin"), down=False)[0])

            def ours(r: int = r) -> None:
                settle()
                writes.append(size / MB / timed(lambda: cp(src, xm / f"w{r}.bin")))
                os.unlink(xm / f"w{r}.bin")
            for step in ((engine_up, ours) if r % 2 == 0 else (ours, engine_up)):
                step()
        rows.append(("engine copy file->sftp", statistics.median(ups), "MB/s"))
        rows.append(("xenonfs write (cp in, until close returns)", statistics.median(writes),
                     "MB/s"))
        rows.append((PAIRED, statistics.median(w / u for u, w in zip(ups, writes)), "x"))
        notes.append("write rounds (MB/s), engine copy up / xenonfs write (ratio): "
                     + ", ".join(f"{u:.1f} / {w:.1f} ({w / u:.2f})" for u, w in zip(ups, writes)))
        shutil.copyfile(src, remote / "r.bin")
        drop_caches()
        rows.append(("xenonfs read (first, downloads)",
                     size / MB / timed(lambda: read_all(xm / "r.bin")), "MB/s"))
        drop_caches()
        rows.append(("xenonfs re-read (cached, cold page cache)",
                     size / MB / timed(lambda: read_all(xm / "r.bin")), "MB/s"))
        rows.append(("xenonfs re-read (cached, warm page cache)",
                     size / MB / timed(lambda: read_all(xm / "r.bin")), "MB/s"))
        drop_caches()
        rows.append(("local disk read (cold page cache)",
                     size / MB / timed(lambda: read_all(src)), "MB/s"))
        # A fresh directory per round: each ls -l is cold.
        dirs = [f"dir{r}" for r in range(args.rounds)]
        for name in dirs:
            (remote / name).mkdir()
            for i in range(args.entries):
                (remote / name / f"f{i:05d}").write_bytes(b"")
        bare, through_client = engine_list(sshd, str(remote / "dir0"))
        rows.append((f"engine list {args.entries} entries (bare gRPC loop)", bare, "s"))
        rows.append((f"engine list {args.entries} entries (xenonfs client)", through_client, "s"))
        times = [ls_l(xm / name) for name in dirs]
        rows.append((f"xenonfs ls -l {args.entries} entries", statistics.median(times), "s"))
        notes.append("xenonfs ls -l rounds (s): " + ", ".join(f"{t:.3f}" for t in times))
        rows.append((f"xenonfs ls -l {args.entries} entries again (cached)",
                     ls_l(xm / "dir0"), "s"))
    return rows, notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--entries", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=5,
                        help="turns of engine copy vs xenonfs write, and cold ls -l dirs")
    parser.add_argument("--backend", choices=("engine", "native"), default="engine")
    args = parser.parse_args()
    with private_xdg("xenonfs-ebench-run-"):
        sshd = SshServer().start()
        work = Path(tempfile.mkdtemp(prefix="xenonfs-ebench-"))
        remote = sshd.home / f"ebench-{work.name}"
        remote.mkdir()
        shutil.chown(remote, sshd.user, sshd.user)
        try:
            rows, notes = measure(args, sshd, work, remote)
        finally:
            sshd.stop()
            shutil.rmtree(remote, ignore_errors=True)
            shutil.rmtree(work, ignore_errors=True)
    values = {name: value for name, value, _ in rows}

    def ratio(a: str, b: str) -> str:
        return f"{values[a] / values[b]:.2f}" if a in values and b in values else "-"

    e = args.entries
    print(f"\n{args.size_mib} MiB file, backend={args.backend}; sftp = OpenSSH on loopback\n")
    print("| measurement | value | unit |")
    print("|---|---|---|")
    for name, value, unit in rows:
        print(f"| {name} | {value:.2f} | {unit} |")
    print("\n| ratio | value | target |")
    print("|---|---|---|")
    print("| xenonfs read / engine copy sftp->file | "
          f"{ratio('xenonfs read (first, downloads)', 'engine copy sftp->file')} | >= 0.9 |")
    print("| xenonfs write / engine copy file->sftp (median of paired rounds) | "
          f"{values[PAIRED]:.2f} | >= 0.9 |")
    print("| cached re-read / local read (cold) | "
          f"{ratio('xenonfs re-read (cached, cold page cache)', 'local disk read (cold page cache)')}"
          " | >= 0.9 |")
    print("| xenonfs ls -l time / the engine's bare listing (the floor) | "
          f"{ratio(f'xenonfs ls -l {e} entries', f'engine list {e} entries (bare gRPC loop)')}"
          " | - |")
    print(f"\nMedians of {args.rounds} rounds above; each round:")
    for note in notes:
        print(f"- {note}")


if __name__ == "__main__":
    main()
