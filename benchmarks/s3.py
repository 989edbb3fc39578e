"""s3 throughput, side by side on one moto server: xenonfs mount vs the engine's
own copy vs s3fs (Debian's s3fs-fuse, when installed).

Run by hand from the repository root, as root:

    python benchmarks/s3.py [--size-mib 256]

Write = ``cp`` of a local file into the mount, until close() returns (xenonfs
uploads at close). Read = a cold read of a file put into the bucket from
outside (not in any cache), page cache dropped first.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import cp, drop_caches, read_all, settle, timed  # noqa: E402
from tests.mounts import mounted, stop_daemon  # noqa: E402
from tests.servers.s3 import MotoServer  # noqa: E402
from xenonfs.client import CopyMode, PasswordCredential, open_client  # noqa: E402

MB = 1e6


def engine_copy(s3: MotoServer, local: Path, key: str) -> tuple[float, float]:
    """Returns: (seconds up, seconds down) of the engine's own copy, up until
    the object is visible (the s3 adaptor reports done before that)."""
    async def main() -> tuple[float, float]:
        async with open_client() as client:
            fs = await client.create_file_system("s3", s3.location, {},
                                                 PasswordCredential(s3.access_key, s3.secret))
            lfs = await client.local_fs()
            size = local.stat().st_size
            settle()
            t = time.perf_counter()
            await lfs.copy_and_wait(str(local), fs, f"/{key}", CopyMode.REPLACE)
            while True:
                try:
                    if (await fs.get_attributes(f"/{key}")).size == size:
                        break
                except Exception:
                    pass
                await trio.sleep(0.01)
            up = time.perf_counter() - t
            drop_caches()
            t = time.perf_counter()
            await fs.copy_and_wait(f"/{key}", lfs, str(local) + ".down", CopyMode.REPLACE)
            down = time.perf_counter() - t
            os.unlink(str(local) + ".down")
            await fs.delete(f"/{key}")
            return up, down
    return trio.run(main)


def s3fs_mount(s3: MotoServer, mnt: Path, work: Path) -> None:
    """Mount the bucket with s3fs (path-style requests, credentials from a 0600 file)."""
    passwd = work / "s3fs.passwd"
    fd = os.open(passwd, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"{s3.access_key}:{s3.secret}\n")
    mnt.mkdir(parents=True, exist_ok=True)
    subprocess.run(["s3fs", s3.bucket, str(mnt), "-o", f"url={s3.endpoint}",
                    "-o", "use_path_request_style", "-o", f"passwd_file={passwd}"],
                   check=True, capture_output=True, text=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=256)
    args = parser.parse_args()
    size = args.size_mib << 20
    results: dict[str, float] = {}
    work = Path(tempfile.mkdtemp(prefix="xenonfs-bench-s3-"))
    os.environ.update({"XDG_RUNTIME_DIR": str(work / "run"), "XDG_STATE_HOME": str(work / "state"),
                       "XDG_CONFIG_HOME": str(work / "config")})
    for d in ("run", "state", "config"):
        (work / d).mkdir(mode=0o700)
    src = work / "src.bin"
    with open(src, "wb") as f:
        for _ in range(args.size_mib):
            f.write(os.urandom(1 << 20))
    s3 = MotoServer().start()
    try:
        up, down = engine_copy(s3, src, "engine.bin")
        results["engine copy up MB/s"] = size / MB / up
        results["engine copy down MB/s"] = size / MB / down

        s3.path("x").mkdir()
        env = {"XENONFS_TEST_PW": s3.secret}
        with mounted(s3.url("x"), work / "mnt", ["password_env=XENONFS_TEST_PW"], env,
                     work / "cache") as m:
            settle()
            results["xenonfs write MB/s"] = size / MB / timed(lambda: cp(src, m / "w.bin"))
            s3.path("x/r.bin").upload(src)
            drop_caches()
            results["xenonfs read MB/s"] = size / MB / timed(lambda: read_all(m / "r.bin"))
        if shutil.which("s3fs"):
            mnt = work / "s3fs"
            s3fs_mount(s3, mnt, work)
            try:
                settle()
                results["s3fs write MB/s"] = size / MB / timed(lambda: cp(src, mnt / "x" / "s.bin"))
                s3.path("x/r2.bin").upload(src)
                drop_caches()
                results["s3fs read MB/s"] = size / MB / timed(lambda: read_all(mnt / "x" / "r2.bin"))
            finally:
                subprocess.run(["fusermount3", "-u", str(mnt)], check=False)
        else:
            print("s3fs not installed (apt-get install s3fs): its rows are left out")
    finally:
        stop_daemon(work / "run")
        s3.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"size_mib": args.size_mib, **{k: round(v, 1) for k, v in results.items()}},
                     indent=1))


if __name__ == "__main__":
    main()
