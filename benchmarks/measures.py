"""The measurements of `benchmarks/mount.py`, one function per row group.

Each ``m_*(bench, tool, tag)`` runs once for one tool and returns
measurement -> value; ``tag`` makes its names fresh, so no tool has seen
them (nothing is cached). Files a tool reads are put on the server's disk
directly; whatever a measurement makes, it removes again, also on failure.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from benchmarks.common import (MB, cp, drop_caches, ls_l, mount_pids, peak_rss_while, read_all,
                               settle, timed)

BLOCK = 4096


@dataclass
class Place:
    """Where one tool's files are: ``server``, the directory on the server's
    own disk; ``view``, the same directory through the tool; ``mountpoint``
    (None for the plain local directory); ``flush``, what makes the tool
    forget its directory cache (rclone only, see common.rclone)."""

    server: Path
    view: Path
    mountpoint: Path | None
    flush: Callable[[], None] | None = None


class Bench:
    """The inputs (in ``work``, made by mount.make_inputs), the server-side
    seed files (``seeds``) and each tool's Place."""

    def __init__(self, args: Any, work: Path, places: dict[str, Place], seeds: Path,
                 sshd: Any = None) -> None:
        self.args, self.work, self.places, self.seeds, self.sshd = args, work, places, seeds, sshd
        self.big = work / "big.bin"
        self.size = self.big.stat().st_size
        self.tree_tar = work / "tree.tar"
        self.tree_sizes = sizes_under(work / "tree")
        self.sync_src = work / "sync"
        self.sync_sizes = sizes_under(self.sync_src)

    def server(self, tool: str) -> Path:
        return self.places[tool].server

    def view(self, tool: str) -> Path:
        return self.places[tool].view

    def show(self, tool: str, *names: str, limit: float = 30) -> None:
        """Returns once ``names``, just put on the server behind ``tool``'s
        back, are visible through it (untimed: a user's tool would have
        found out by itself). Only rclone needs telling; the others look a
        name they have not seen up on the server."""
        flush = self.places[tool].flush
        if flush is None:
            return
        deadline = time.monotonic() + limit
        while True:
            flush()
            time.sleep(0.1)  # the flush is asynchronous in rclone
            if all((self.view(tool) / n).exists() for n in names):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{tool} never showed {names}")


def place(seed: Path, dst: Path) -> None:
    """Put ``seed``'s bytes at ``dst`` on the server: a hard link (no copy, and
    a name no tool has seen), or a copy across file systems."""
    try:
        os.link(seed, dst)
    except OSError:
        shutil.copyfile(seed, dst)


def wait_until(check: Callable[[], bool], limit: float = 300) -> None:
    """Returns once ``check()`` holds (polled every 50 ms); raises after
    ``limit`` s (an upload the tool gave up on never arrives)."""
    deadline = time.monotonic() + limit
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("the server never held what was written")
        time.sleep(0.05)


def sizes_under(root: Path) -> dict[str, int]:
    """Returns: relative path -> size of every regular file under ``root``."""
    out = {}
    for dirpath, _, names in os.walk(root):
        for n in names:
            p = Path(dirpath) / n
            if p.is_file() and not p.is_symlink():
                out[str(p.relative_to(root))] = p.stat().st_size
    return out


def make_tree(root: Path, files: int, spread: int) -> dict[str, int]:
    """Returns: sizes of ``files`` files of 1-8 KiB made in ``spread`` dirs of ``root``."""
    for i in range(files):
        d = root / f"d{i % spread}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i}.txt").write_bytes(os.urandom(1024 + (i * 7919) % 7168))
    return sizes_under(root)


class SftpReads:
    """Bytes read (rchar) by the sftp subsystem processes of one sshd, sampled
    every 50 ms in a thread of its own (mount.py's docstring says why)."""

    def __init__(self, sshd_pid: int, user: str) -> None:
        self.sshd_pid, self.user = sshd_pid, user
        self._ours: dict[int, bool] = {}
        self._first: dict[int, int] = {}
        self._last: dict[int, int] = {}
        self._lock = threading.Lock()  # total() reads what the thread writes
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def _is_sftp(self, pid: int) -> bool:
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            return False
        if not (cmd.startswith(f"sshd: {self.user}@internal-sftp".encode())
                or comm == "sftp-server"):
            return False
        for _ in range(8):  # up the parents to our listener
            try:
                pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                return False
            if pid == self.sshd_pid:
                return True
        return False

    def _scan(self, initial: bool) -> None:
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            pid = int(entry)
            if pid not in self._ours:
                self._ours[pid] = self._is_sftp(pid)
            if not self._ours[pid]:
                continue
            try:
                io = Path(f"/proc/{pid}/io").read_text()
            except OSError:
                continue  # gone: its last sample stays
            rchar = int(io.split("rchar:")[1].split()[0])
            with self._lock:
                # A session that starts during the measurement counts from 0.
                self._first.setdefault(pid, rchar if initial else 0)
                self._last[pid] = rchar

    def total(self) -> int:
        with self._lock:
            return sum(self._last[p] - self._first[p] for p in self._last)

    def start(self) -> None:
        self._scan(initial=True)

        def loop() -> None:
            while not self._done.wait(0.05):
                self._scan(initial=False)
        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()

    def stop_when_still(self, still: float = 1.5, limit: float = 120) -> int:
        """Returns: bytes read since start, once the sum stopped growing."""
        deadline = time.monotonic() + limit
        last, since = self.total(), time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - since < still:
            time.sleep(0.1)
            if self.total() != last:
                last, since = self.total(), time.monotonic()
        self.close()
        return self.total()


def m_read(b: Bench, tool: str, tag: str) -> dict[str, float]:
    name = f"r-{tag}.bin"
    place(b.seeds / "big.bin", b.server(tool) / name)
    try:
        b.show(tool, name)
        drop_caches()
        return {"read": b.size / MB / timed(lambda: read_all(b.view(tool) / name))}
    finally:
        (b.server(tool) / name).unlink()


def m_write(b: Bench, tool: str, tag: str) -> dict[str, float]:
    """Until close returns, and (for rclone, whose close returns first) until
    the server's disk holds the whole file."""
    name = f"w-{tag}.bin"
    settle()

    def write() -> None:
        cp(b.big, b.view(tool) / name)
        wait_until(lambda: (b.server(tool) / name).exists()
                   and (b.server(tool) / name).stat().st_size == b.size)
    try:
        return {"write": b.size / MB / timed(write)}
    finally:
        if (b.view(tool) / name).exists():
            os.unlink(b.view(tool) / name)
        (b.server(tool) / name).unlink(missing_ok=True)  # the tool may have failed to


def m_parallel(b: Bench, tool: str, tag: str) -> dict[str, float]:
    names = [f"p{i}-{tag}.bin" for i in range(4)]
    for i, n in enumerate(names):
        place(b.seeds / f"p{i}.bin", b.server(tool) / n)
    try:
        b.show(tool, *names)
        drop_caches()
        total = sum((b.seeds / f"p{i}.bin").stat().st_size for i in range(4))
        with ThreadPoolExecutor(4) as pool:
            # list(): a reader's exception is raised here, not lost in its thread.
            seconds = timed(lambda: list(pool.map(read_all, [b.view(tool) / n for n in names])))
        return {"parallel": total / MB / seconds}
    finally:
        for n in names:
            (b.server(tool) / n).unlink()


def m_random(b: Bench, tool: str, tag: str) -> dict[str, float]:
    """random 4 KiB reads: time to the first byte, total time, bytes fetched."""
    name = f"x-{tag}.bin"
    seed = b.seeds / "random.bin"
    place(seed, b.server(tool) / name)
    blocks = seed.stat().st_size // BLOCK
    # The same offsets for every tool and round (a fresh file name each time).
    rng = random.Random(0)
    offsets = [rng.randrange(blocks) * BLOCK for _ in range(b.args.random_reads)]
    assert b.sshd is not None
    counter = SftpReads(int((b.sshd.workdir / "sshd.pid").read_text()), b.sshd.user)
    try:
        b.show(tool, name)
        drop_caches()
        counter.start()
        t = time.perf_counter()
        fd = os.open(b.view(tool) / name, os.O_RDONLY)
        try:
            for i, off in enumerate(offsets):
                if len(os.pread(fd, BLOCK, off)) != BLOCK:
                    raise OSError(f"short read at {off}")
                if i == 0:
                    first = time.perf_counter() - t
        finally:
            os.close(fd)
        total = time.perf_counter() - t
        fetched = counter.stop_when_still()
        return {"ttfb": first * 1000, "random": total,
                "fetched": fetched / (BLOCK * len(offsets))}
    finally:
        counter.close()
        (b.server(tool) / name).unlink()


def m_small(b: Bench, tool: str, tag: str) -> dict[str, float]:
    """tar x of the small files, cat of them (cached), rm -r of them."""
    d = f"t-{tag}"
    (b.view(tool) / d).mkdir()
    result = {}
    try:
        def untar() -> None:
            subprocess.run(["tar", "xf", str(b.tree_tar), "--no-same-owner", "-C",
                            str(b.view(tool) / d)], check=True)
            wait_until(lambda: sizes_under(b.server(tool) / d / "tree") == b.tree_sizes)
        result["tar"] = timed(untar)
        files = sorted(map(str, (b.view(tool) / d).rglob("*.txt")))
        result["cat"] = timed(lambda: subprocess.run(["cat", *files], check=True,
                                                     stdout=subprocess.DEVNULL))

        def rm() -> None:
            shutil.rmtree(b.view(tool) / d)
            wait_until(lambda: not (b.server(tool) / d).exists())
        result["rm"] = timed(rm)
    finally:
        shutil.rmtree(b.server(tool) / d, ignore_errors=True)
    return result


def m_ls(b: Bench, tool: str, tag: str) -> dict[str, float]:
    listing = b.server(tool) / f"l-{tag}"
    listing.mkdir()
    try:
        for i in range(b.args.entries):
            (listing / f"e{i:05d}").touch()
        if b.sshd is not None:
            shutil.chown(listing, b.sshd.user, b.sshd.user)
        b.show(tool, listing.name)
        return {"ls": ls_l(b.view(tool) / listing.name)}
    finally:
        shutil.rmtree(listing)


def rsync(src: Path, dst: Path) -> str:
    """Returns: the --stats output of ``rsync -a`` (no owner/group: as root,
    rsync -a would chown, which a mount of the test user refuses)."""
    return subprocess.run(["rsync", "-a", "--no-o", "--no-g", "--stats", f"{src}/", f"{dst}/"],
                          check=True, capture_output=True, text=True,
                          env={**os.environ, "LC_ALL": "C"}).stdout


def stat_of(stats: str, what: str) -> float:
    m = re.search(rf"{what}: ([\d,]+)", stats)
    if m is None:
        raise ValueError(f"no {what!r} in rsync --stats")
    return float(m.group(1).replace(",", ""))


def m_rsync(b: Bench, tool: str, tag: str) -> dict[str, float]:
    """A first ``rsync -a`` of the tree, then a second one of it unchanged."""
    d = f"s-{tag}"
    try:
        def first() -> None:
            rsync(b.sync_src, b.view(tool) / d)
            wait_until(lambda: sizes_under(b.server(tool) / d) == b.sync_sizes)
        result = {"rsync1": timed(first)}
        t = time.perf_counter()
        stats = rsync(b.sync_src, b.view(tool) / d)
        result["rsync2"] = time.perf_counter() - t
        result["rsync_files"] = stat_of(stats, "Number of regular files transferred")
        result["rsync_literal"] = stat_of(stats, "Literal data")
        return result
    finally:
        shutil.rmtree(b.server(tool) / d, ignore_errors=True)


def m_stream(b: Bench, tool: str) -> dict[str, float]:
    """Peak RSS of daemon + worker while reading a sparse file through ``tool``
    (each one's own peak too, to see which one grows)."""
    size = int(b.args.stream_gib * (1 << 30))
    path = b.server(tool) / "stream.bin"
    with open(path, "wb") as f:
        f.truncate(size)
    try:
        mountpoint = b.places[tool].mountpoint
        assert mountpoint is not None
        daemon, worker = mount_pids(mountpoint)
        drop_caches()
        seconds, peak, each = peak_rss_while([daemon, worker],
                                             lambda: read_all(b.view(tool) / "stream.bin"))
        return {"rss": peak * 1024 / MB, "rss_daemon": each[0] * 1024 / MB,
                "rss_worker": each[1] * 1024 / MB, "stream": size / MB / seconds}
    finally:
        path.unlink()


SFTP_MEASURES = (m_read, m_write, m_parallel, m_random, m_small, m_ls, m_rsync)
FILE_MEASURES = (m_read, m_write)
