"""Per-adaptor throughput, side by side in one run: through a xenonfs mount vs
the engine's own copy vs a dedicated FUSE client of the same server (sshfs,
s3fs, davfs2) where one is installed.

Run by hand from the repository root, as root:

    python benchmarks/adaptors.py [--size-mib 256] [--adaptors file,sftp,ftp,webdav,s3]

Each adaptor's server is started here (tests/servers), on loopback, and
stopped by its PID at the end. Prints a table of MB/s and ratios.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (MB, cp, drop_caches, engine_copy_any, read_all, settle,  # noqa: E402
                               sshfs_mount, timed)
from tests.mounts import mounted, stop_daemon  # noqa: E402
from xenonfs.client import PasswordCredential  # noqa: E402


@dataclass
class Target:
    """How to benchmark one adaptor.

    Attributes:
        start: () -> a started server (with ``stop()``), or None for none.
        engine: server -> (adaptor, location, properties, credential, remote dir).
        source: (server, remote dir) -> (mount source, options, environment).
        other: (server, remote dir, mountpoint) -> context manager mounting the
            same directory with a dedicated FUSE client, or None.
        settle_reads: seconds to wait after an upload before reading it back
            (servers with eventual visibility).
        other_landed: (server, remote dir, name, size) -> returns once the
            server holds the other client's whole file (clients that upload
            after close, like davfs2), or None.
    """

    start: Callable[[], Any]
    engine: Callable[[Any], tuple[str, str, dict[str, str], Any, str]]
    source: Callable[[Any, str], tuple[str, list[str], dict[str, str]]]
    other: Callable[[Any, str, Path], Any] | None = None
    other_name: str = ""
    settle_reads: float = 0.0
    other_landed: Callable[[Any, str, str, int], None] | None = None


class _NoServer:
    def stop(self) -> None:
        pass


def _file_target() -> Target:
    base = Path(tempfile.mkdtemp(prefix="xenonfs-abench-file-"))
    return Target(start=_NoServer,
                  engine=lambda s: ("file", "/", {}, None, str(base)),
                  source=lambda s, d: (f"file://{d}", [], {}))


def _login(server: Any) -> PasswordCredential:
    return PasswordCredential(server.user, server.password)


def _sftp_target() -> Target:
    from tests.servers.sshd import SshServer
    props = {"xenon.adaptors.filesystems.sftp.strictHostKeyChecking": "false"}

    @contextmanager
    def sshfs(server: Any, remote: str, mnt: Path) -> Iterator[Path]:
        sshfs_mount(server, mnt, Path(remote))
        try:
            yield mnt
        finally:
            subprocess.run(["fusermount3", "-u", str(mnt)], check=False)
    return Target(
        start=lambda: SshServer().start(),
        engine=lambda s: ("sftp", s.location, props, _login(s), _home_dir(s)),
        source=lambda s, d: (f"sftp://{s.user}@127.0.0.1:{s.port}{d}",
                             ["password_env=XB_PW", "strict_host_key_checking=no"],
                             {"XB_PW": s.password}),
        other=sshfs if shutil.which("sshfs") else None, other_name="sshfs")


def _ftp_target() -> Target:
    from tests.servers.ftpd import FtpServer
    return Target(
        start=lambda: FtpServer().start(),
        engine=lambda s: ("ftp", s.location, {}, _login(s), _home_dir(s)),
        source=lambda s, d: (f"ftp://{s.user}@127.0.0.1:{s.port}{d}", ["password_env=XB_PW"],
                             {"XB_PW": s.password}))


def _webdav_target() -> Target:
    from tests.servers.webdav import WebdavServer

    def share_dir(server: Any) -> str:
        """Returns: the server path (/dav/NAME) of a fresh directory in the share."""
        d = server.root / f"abench-{uuid.uuid4().hex[:8]}"
        d.mkdir()
        shutil.chown(d, server.run_as, server.run_as)
        return f"/dav/{d.name}"

    def landed(server: Any, remote: str, name: str, size: int) -> None:
        # davfs2 uploads in the background after close (delay_upload): its
        # write ends when the server's disk holds the whole file.
        path = server.root / remote.split("/")[-1] / name
        while not (path.exists() and path.stat().st_size == size):
            time.sleep(0.01)

    return Target(
        start=lambda: WebdavServer().start(),
        engine=lambda s: ("webdav", s.url, {}, _login(s), share_dir(s)),
        source=lambda s, d: (f"webdav+http://{s.user}@127.0.0.1:{s.port}{d}",
                             ["password_env=XB_PW"], {"XB_PW": s.password}),
        other=davfs2 if shutil.which("mount.davfs") else None, other_name="davfs2",
        other_landed=landed)


@contextmanager
def davfs2(server: Any, remote: str, mnt: Path) -> Iterator[Path]:
    """Mount ``remote`` of webdav ``server`` with davfs2: a private config,
    secrets file (0600) and cache; unmounted (uploads finished) at the end."""
    base = Path(tempfile.mkdtemp(prefix="xenonfs-davfs2-"))
    os.chmod(base, 0o755)  # mount.davfs drops to user davfs2 for its cache
    cache = base / "cache"
    cache.mkdir()
    shutil.chown(cache, "root", "davfs2")
    os.chmod(cache, 0o775)
    url = f"http://127.0.0.1:{server.port}{remote}"
    secrets = base / "secrets"
    fd = os.open(secrets, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"{url} {server.user} {server.password}\n")
    conf = base / "davfs2.conf"
    # delay_upload 0: upload at close, as xenonfs does (the default waits 10 s).
    conf.write_text(f"secrets {secrets}\nask_auth 0\nuse_locks 0\ndelay_upload 0\n"
                    f"cache_dir {cache}\n")
    mnt.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount.davfs", url, str(mnt), "-o", f"conf={conf}"],
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        raise RuntimeError(f"mount.davfs failed: {result.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False, capture_output=True, timeout=600)
        shutil.rmtree(base, ignore_errors=True)


def _home_dir(server: Any) -> str:
    """Returns: a fresh directory owned by the server's user, in its home."""
    d = server.home / f"abench-{uuid.uuid4().hex[:8]}"
    d.mkdir()
    shutil.chown(d, server.user, server.user)
    return str(d)


def _s3_target() -> Target:
    from benchmarks.s3 import s3fs_mount
    from tests.servers.s3 import MotoServer

    def prefix_dir(server: Any) -> str:
        """Returns: the engine path of a fresh prefix (its marker made, as mkdir does)."""
        name = f"abench-{uuid.uuid4().hex[:8]}"
        server.path(name).mkdir()
        return f"/{name}"

    @contextmanager
    def s3fs(server: Any, remote: str, mnt: Path) -> Iterator[Path]:
        work = Path(tempfile.mkdtemp(prefix="xenonfs-s3fs-"))
        s3fs_mount(server, mnt, work)
        try:
            yield mnt / remote.strip("/")
        finally:
            subprocess.run(["fusermount3", "-u", str(mnt)], check=False)
            shutil.rmtree(work, ignore_errors=True)
    return Target(
        start=lambda: MotoServer().start(),
        engine=lambda s: ("s3", s.location, {}, PasswordCredential(s.access_key, s.secret),
                          prefix_dir(s)),
        source=lambda s, d: (s.url(d), ["password_env=XB_PW"], {"XB_PW": s.secret}),
        other=s3fs if shutil.which("s3fs") else None, other_name="s3fs")


#: Adaptor -> its target factory (extended by the adaptor fixtures that exist).
TARGETS: dict[str, Callable[[], Target]] = {
    "file": _file_target, "sftp": _sftp_target, "ftp": _ftp_target, "webdav": _webdav_target,
    "s3": _s3_target,
}


def bench(name: str, target: Target, src: Path, work: Path) -> list[tuple[str, float]]:
    """Returns: (measurement, MB/s) rows for adaptor ``name``."""
    size = src.stat().st_size
    rows = []
    server = target.start()
    try:
        adaptor, location, props, cred, remote = target.engine(server)
        up, down = engine_copy_any(adaptor, location, props, cred, src, f"{remote}/engine.bin")
        rows += [(f"{name}: engine copy up", size / MB / up),
                 (f"{name}: engine copy down", size / MB / down)]
        source, opts, env = target.source(server, remote)
        opts = [*opts, f"cache_dir={work / ('cache-' + name)}"]
        with mounted(source, work / f"x-{name}", opts, env) as xm:
            settle()
            rows.append((f"{name}: xenonfs write", size / MB / timed(lambda: cp(src, xm / "w.bin"))))
            time.sleep(target.settle_reads)
        # A fresh mount, so the read downloads (the first mount's cache holds the file).
        shutil.rmtree(work / f"cache-{name}", ignore_errors=True)
        with mounted(source, work / f"x-{name}", opts, env) as xm:
            drop_caches()
            rows.append((f"{name}: xenonfs read", size / MB / timed(lambda: read_all(xm / "w.bin"))))
        if target.other is not None:
            with target.other(server, remote, work / f"o-{name}") as om:
                settle()

                def write() -> None:
                    cp(src, om / "o.bin")
                    if target.other_landed is not None:
                        target.other_landed(server, remote, "o.bin", size)
                t = timed(write)
                rows.append((f"{name}: {target.other_name} write", size / MB / t))
                drop_caches()
                # A file this client has not written: clients with a file
                # cache (davfs2) would otherwise read their own copy.
                t = timed(lambda: read_all(om / "w.bin"))
                rows.append((f"{name}: {target.other_name} read", size / MB / t))
    finally:
        server.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--adaptors", default=",".join(TARGETS))
    args = parser.parse_args()
    names = [a for a in args.adaptors.split(",") if a]
    unknown = [a for a in names if a not in TARGETS]
    if unknown:
        raise SystemExit(f"unknown adaptor(s) {unknown}; known: {', '.join(TARGETS)}")
    runtime = Path(tempfile.mkdtemp(prefix="xenonfs-abench-run-"))
    os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    os.environ["XDG_CONFIG_HOME"] = str(runtime / "config")
    work = Path(tempfile.mkdtemp(prefix="xenonfs-abench-"))
    rows: list[tuple[str, float]] = []
    try:
        src = work / "src.bin"
        block = os.urandom(1 << 20)
        with open(src, "wb") as f:
            for i in range(args.size_mib):
                f.write(i.to_bytes(8, "little") + block[8:])
        for name in names:
            rows += bench(name, TARGETS[name](), src, work)
    finally:
        stop_daemon(runtime)
        shutil.rmtree(runtime, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    values = dict(rows)
    print(f"\n{args.size_mib} MiB file, servers on loopback\n")
    print("| adaptor | engine copy up | xenonfs write | ratio | engine copy down | xenonfs read "
          "| ratio | other client (write / read) |")
    print("|---|---|---|---|---|---|---|---|")
    for name in names:
        v = {k.split(": ", 1)[1]: val for k, val in values.items() if k.startswith(name + ": ")}
        other = [k for k in v if k.endswith(" write") and not k.startswith(("xenonfs", "engine"))]
        other_cell = "-"
        if other:
            tool = other[0][:-len(" write")]
            other_cell = f"{tool} {v[tool + ' write']:.1f} / {v.get(tool + ' read', 0):.1f}"
        print(f"| {name} | {v['engine copy up']:.1f} | {v['xenonfs write']:.1f} | "
              f"{v['xenonfs write'] / v['engine copy up']:.2f} | {v['engine copy down']:.1f} | "
              f"{v['xenonfs read']:.1f} | {v['xenonfs read'] / v['engine copy down']:.2f} | "
              f"{other_cell} |")


if __name__ == "__main__":
    main()
