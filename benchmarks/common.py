"""Helpers the benchmarks share: timing, cold caches, the other FUSE clients
(sshfs, rclone, libfuse's passthrough_ll), the engine's own copy, private XDG
dirs for a daemon of our own, and peak RSS of processes.

Every mount made here is unmounted and every process started here is stopped
by its PID, also when the block fails.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.mounts import is_mounted, stop_daemon  # noqa: E402
from xenonfs.client import CopyMode, errors, open_client  # noqa: E402

MB = 1e6
#: libfuse's own example of a FUSE passthrough (source in libfuse3-dev).
PASSTHROUGH_SRC = Path("/usr/share/doc/libfuse3-dev/examples/passthrough_ll.c")


def timed(fn: Callable[[], object]) -> float:
    """Returns: seconds ``fn()`` took."""
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def drop_caches() -> None:
    """Empty the page cache (root), so the next read comes from disk or server."""
    subprocess.run(["sync"], check=False)
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


def settle() -> None:
    """Before a timed write: earlier writes' pending writeback slows the next
    one by up to 20% on this disk, whichever tool comes second."""
    subprocess.run(["sync"], check=False)
    time.sleep(2)


def cp(src: Path, dst: Path) -> None:
    """Copy like a user does (coreutils cp sizes its writes by st_blksize)."""
    subprocess.run(["cp", str(src), str(dst)], check=True)


def read_all(path: Path) -> None:
    """Read ``path`` sequentially in 1 MiB reads, unbuffered."""
    with open(path, "rb", buffering=0) as f:
        while f.read(1 << 20):
            pass


def write_seed(path: Path, mib: int) -> None:
    """``mib`` MiB of distinct 1 MiB blocks (cheap: one random block, numbered)."""
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for i in range(mib):
            f.write(i.to_bytes(8, "little") + block[8:])


def ls_l(path: Path) -> float:
    """Returns: seconds of ``ls -l path`` (output captured)."""
    return timed(lambda: subprocess.run(["ls", "-l", str(path)], check=True, capture_output=True))


def unmount(mnt: Path) -> None:
    """fusermount3 -u ``mnt``; lazily if it is busy."""
    if is_mounted(mnt):
        subprocess.run(["fusermount3", "-u", str(mnt)], check=False, capture_output=True)
    if is_mounted(mnt):
        subprocess.run(["fusermount3", "-u", "-z", str(mnt)], check=False, capture_output=True)


def stop_process(proc: subprocess.Popen[Any], seconds: float = 30) -> None:
    """End ``proc`` (ours) by its PID: wait, then SIGTERM, then SIGKILL."""
    for sig in (None, signal.SIGTERM, signal.SIGKILL):
        if sig is not None and proc.poll() is None:
            proc.send_signal(sig)
        try:
            proc.wait(seconds)
            return
        except subprocess.TimeoutExpired:
            pass


def wait_mounted(mnt: Path, proc: subprocess.Popen[Any] | None, seconds: float = 60) -> None:
    """Returns once ``mnt`` is in /proc/mounts; raises if ``proc`` died first."""
    deadline = time.monotonic() + seconds
    while not is_mounted(mnt):
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode} before mounting")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{mnt} not mounted after {seconds} s")
        time.sleep(0.05)


def sshfs_args(sshd: Any, mnt: Path, remote_dir: Path) -> list[str]:
    """Returns: the sshfs command line that mounts ``remote_dir`` of ``sshd``
    on ``mnt``, reading the password from stdin (never in argv)."""
    return ["sshfs", f"{sshd.user}@127.0.0.1:{remote_dir}", str(mnt), "-p", str(sshd.port),
            "-o", "password_stdin,StrictHostKeyChecking=no,UserKnownHostsFile=/dev/null"]


def sshfs_mount(sshd: Any, mnt: Path, remote_dir: Path) -> None:
    """Mount ``remote_dir`` of ``sshd`` with sshfs, which goes to the background
    (the caller unmounts; sshfs then exits)."""
    mnt.mkdir(parents=True, exist_ok=True)
    subprocess.run(sshfs_args(sshd, mnt, remote_dir), input=sshd.password + "\n", text=True,
                   check=True, capture_output=True)


@contextmanager
def sshfs(sshd: Any, mnt: Path, remote_dir: Path) -> Iterator[Path]:
    """An sshfs mount for the block, in the foreground (``-f``) so that it is
    ours to stop by its PID; unmounted at the end."""
    with foreground([*sshfs_args(sshd, mnt, remote_dir), "-f"], mnt,
                    stdin_text=sshd.password + "\n"):
        yield mnt


@contextmanager
def foreground(cmd: list[str], mnt: Path, env: dict[str, str] | None = None,
               log: Path | None = None, stdin_text: str | None = None
               ) -> Iterator[subprocess.Popen[Any]]:
    """Run ``cmd``, a FUSE client that serves ``mnt`` in the foreground, for
    the block (``stdin_text`` on its stdin, output to ``log`` or nowhere);
    yields it once ``mnt`` is mounted. At the end ``mnt`` is unmounted and
    the process stopped by its PID."""
    mnt.mkdir(parents=True, exist_ok=True)
    with open(log or os.devnull, "wb") as out:
        # A session of its own: Ctrl-C reaches only us, and our cleanup
        # unmounts and stops it (it would otherwise race that, unmounting itself).
        proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=out, stderr=out,
                                start_new_session=True)
        try:
            assert proc.stdin is not None
            with proc.stdin:
                proc.stdin.write((stdin_text or "").encode())
            wait_mounted(mnt, proc)
            yield proc
        finally:
            unmount(mnt)
            stop_process(proc)


@contextmanager
def rclone(sshd: Any, mnt: Path, remote_dir: Path, work: Path) -> Iterator[Callable[[], None]]:
    """``rclone mount`` of ``remote_dir`` over sftp with ``--vfs-cache-mode
    writes``; yields a function that makes it forget its directory cache.

    The remote is defined by RCLONE_CONFIG_XB_* variables (the password
    obscured by ``rclone obscure -`` from stdin), next to an empty private
    config file, so neither the password nor a user's config is involved.
    ``--vfs-write-back 1s``: uploads start 1 s after close, not 5 s (rclone's
    close returns before the upload; callers wait for the server
    themselves). Not 0 s: rsync renames its temporary file and tar and rsync
    set the mtime right after close, and an upload already under way then
    fails ("no such file or directory", "source file is being updated";
    rclone 1.60), so the server never gets the file. ``--local-no-check-updated``
    for the mtime, should an upload start first on a loaded machine.

    rclone keeps directory listings for ``--dir-cache-time`` (5 min), and
    sftp tells it of no changes: files put on the server behind its back stay
    invisible until it is sent SIGHUP, which flushes those caches (rclone
    mount's documented way). The yielded function sends it.
    """
    work.mkdir(parents=True, exist_ok=True)
    conf = work / "rclone.conf"
    conf.write_text("")
    obscured = subprocess.run(["rclone", "obscure", "-"], input=sshd.password, text=True,
                              capture_output=True, check=True).stdout.strip()
    env = {**os.environ, "RCLONE_CONFIG": str(conf), "RCLONE_CONFIG_XB_TYPE": "sftp",
           "RCLONE_CONFIG_XB_HOST": "127.0.0.1", "RCLONE_CONFIG_XB_PORT": str(sshd.port),
           "RCLONE_CONFIG_XB_USER": sshd.user, "RCLONE_CONFIG_XB_PASS": obscured}
    cmd = ["rclone", "mount", f"XB:{remote_dir}", str(mnt), "--vfs-cache-mode", "writes",
           "--vfs-write-back", "1s", "--local-no-check-updated", "--cache-dir",
           str(work / "cache")]
    with foreground(cmd, mnt, env, work / "rclone.log") as proc:
        yield lambda: proc.send_signal(signal.SIGHUP)


def build_passthrough(work: Path) -> Path | None:
    """Returns: libfuse's passthrough_ll example built into ``work``, or None
    (no source, compiler or fuse3 headers on this machine)."""
    if not (PASSTHROUGH_SRC.exists() and shutil.which("cc") and shutil.which("pkg-config")):
        return None
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "fuse3"], capture_output=True,
                           text=True)
    if flags.returncode != 0:
        return None
    out = work / "passthrough_ll"
    built = subprocess.run(["cc", "-O2", str(PASSTHROUGH_SRC), *flags.stdout.split(), "-o",
                            str(out)], capture_output=True)
    return out if built.returncode == 0 else None


@contextmanager
def passthrough(binary: Path, source: Path, mnt: Path) -> Iterator[Path]:
    """``source`` mounted on ``mnt`` through passthrough_ll (its default options)."""
    with foreground([str(binary), "-f", "-o", f"source={source}", str(mnt)], mnt):
        yield mnt


@contextmanager
def private_xdg(prefix: str) -> Iterator[Path]:
    """XDG runtime/config/state/cache dirs of our own for the block, as the
    tests have them: the first mount starts a daemon there, which is stopped
    (by PID if need be) at the end, and the dirs are removed.

    The block runs in ``base`` as its working directory, which that daemon
    inherits: a pytest session of this checkout SIGTERMs, when it ends, every
    daemon started meanwhile whose working directory is the checkout
    (tests/conftest.py, no_daemon_left_behind), which stopped a benchmark's
    daemon mid-run beside a test run."""
    base = Path(tempfile.mkdtemp(prefix=prefix))
    names = ("XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME")
    saved = {n: os.environ.get(n) for n in names}
    cwd = os.getcwd()
    for n in names:
        d = base / n.split("_")[1].lower()
        d.mkdir(mode=0o700)
        os.environ[n] = str(d)
    try:
        os.chdir(base)
        yield base
    finally:
        stop_daemon(base / "runtime")
        os.chdir(cwd)
        for n, v in saved.items():
            if v is None:
                os.environ.pop(n, None)
            else:
                os.environ[n] = v
        shutil.rmtree(base, ignore_errors=True)


def mount_pids(mnt: Path) -> tuple[int, int]:
    """Returns: (daemon pid, pid of the worker serving ``mnt``)."""
    out = subprocess.run([sys.executable, "-m", "xenonfs.cli", "status", "--json"],
                         capture_output=True, text=True, check=True)
    st = json.loads(out.stdout)
    worker = next(m["worker_pid"] for m in st["mounts"] if m["mountpoint"] == str(mnt))
    return st["daemon"]["pid"], worker


def peak_rss_while(pids: list[int], fn: Callable[[], object]) -> tuple[float, int, list[int]]:
    """Returns: (seconds ``fn`` took, peak of the summed VmRSS of ``pids`` in
    KiB, each pid's own peak in KiB), sampled every 50 ms."""
    peak = 0
    each = [0] * len(pids)
    done = threading.Event()

    def rss(pid: int) -> int:
        try:
            for line in open(f"/proc/{pid}/status"):
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except FileNotFoundError:
            pass
        return 0

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            now = [rss(p) for p in pids]
            peak = max(peak, sum(now))
            for i, v in enumerate(now):
                each[i] = max(each[i], v)
            time.sleep(0.05)

    t = threading.Thread(target=sample)
    t.start()
    try:
        seconds = timed(fn)
    finally:
        done.set()
        t.join()
    return seconds, peak, each


def engine_copy_any(adaptor: str, location: str, props: dict[str, str], credential: object,
                    local: Path, remote: str, down: bool = True) -> tuple[float, float]:
    """Returns: (seconds up, seconds down) of the engine's own copy of ``local``
    to ``remote`` on any file system, and back (down 0 when not ``down``)."""
    async def main() -> tuple[float, float]:
        async with open_client() as client:
            fs = await client.create_file_system(adaptor, location, props, credential)
            lfs = await client.local_fs()
            settle()
            t = time.perf_counter()
            await lfs.copy_and_wait(str(local), fs, remote, CopyMode.REPLACE)
            # webdav's copy is "done" before its PUT has landed: up ends when
            # the server shows the whole file (one stat elsewhere).
            size = local.stat().st_size
            while True:
                try:
                    if (await fs.get_attributes(remote)).size == size:
                        break
                except errors.NoSuchPathException:
                    pass
                await trio.sleep(0.01)
            up = time.perf_counter() - t
            if not down:
                await fs.delete(remote)
                return up, 0.0
            drop_caches()
            t = time.perf_counter()
            await fs.copy_and_wait(remote, lfs, str(local) + ".down", CopyMode.REPLACE)
            seconds_down = time.perf_counter() - t
            os.unlink(str(local) + ".down")
            await fs.delete(remote)
            return up, seconds_down
    return trio.run(main)
