"""Issue 16's soak run: two mounts in mixed use, a job every few seconds,
and faults in turns; then every acknowledged byte checked on the server.

Run by hand from the repository root, as root (not in CI):

    python benchmarks/soak.py [--minutes 30] [--fault-every 60] [--job-every 5]
        [--faults engine,worker,sshd,idle] [--second sftp|file] [--settle 120]
        [--idle-gap 20 | --idle-timeout S]

It runs the code it is next to (the daemon and workers inherit PYTHONPATH):
to soak what is committed while a checkout is being edited, run it from a
copy, e.g. ``git archive HEAD | tar -x -C /tmp/t; cd /tmp/t; PYTHONPATH=/tmp/t
python benchmarks/soak.py``.

It starts the test sshd (tests/servers) and a xenonfs daemon of its own
(private XDG dirs under a temp dir) and mounts a directory of the test
user's home twice: ``native`` (sftp, native backend) and ``engine`` (sftp
through the engine; ``--second file``: a local directory, file:// through
the engine). One thread per mount runs random operations in a directory of
its own: create/write of random sizes with known content, append, rename,
unlink, mkdir/rmdir, read back and compare, ls. Another writes a spec into
``.jobs/`` of the mounts in turns every ``--job-every`` s and follows each
job to its end, checking its stdout. Every ``--fault-every`` s a fault
(benchmarks/soak_faults.py), in turns, and a wait for recovery (engine
ready, each mount served by a live worker, a write and read-back on each)
of at most ``--recover-limit`` s; past it, ``xenonfs mount`` again on what is
not served, as a user would ("recovered by remount", or "not recovered").

The ledger holds what each file must be: its content after the last
operation that succeeded (close() returned 0, rename/unlink returned 0),
or that it is gone. An operation that failed makes the file uncertain (the
server may hold the old or the new bytes) until a later one succeeds on
it. At the end (no faults for ``--settle`` s at most, until no mount has
dirty files) every certain file is compared with the server's disk, read
directly. Lost bytes: acknowledged bytes that are not there (missing,
other bytes). Lost jobs: submitted (close() of the spec returned 0) but
with no end by the end, or gone, or ended "done" with the wrong output.
An error during a fault is allowed when it is reported (it is counted by
kind); a wrong byte read back counts as lost too. Exit status 1 when
anything was lost, 0 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import private_xdg  # noqa: E402
from benchmarks.soak_faults import (EXTRA, KINDS, Fault, Injector, MountRef,  # noqa: E402
                                    kind_of, probe, set_sshd_idle_timeout, settle,
                                    with_deadline, write_file)
from tests.mounts import mounted  # noqa: E402
from tests.servers.sshd import SshServer  # noqa: E402

#: At most this many files per mount, so contents fit in memory.
FILES = 40
DIRS = 4


def random_size(rng: random.Random) -> int:
    """Returns: a size, mostly small: 0, up to 4 KiB, up to 256 KiB, up to 2 MiB."""
    r = rng.random()
    if r < 0.05:
        return 0
    if r < 0.55:
        return rng.randint(1, 4096)
    if r < 0.9:
        return rng.randint(4097, 256 * 1024)
    return rng.randint(256 * 1024, 2 * 1024 * 1024)


@dataclass
class Ledger:
    """What each file of one mount's directory must hold (None: gone), which
    are uncertain, and which dirs exist."""

    files: dict[str, bytes | None] = field(default_factory=dict)
    uncertain: set[str] = field(default_factory=set)
    dirs: dict[str, bool] = field(default_factory=dict)
    acked_bytes: int = 0

    def known(self, name: str, data: bytes, acked: int) -> None:
        """``name`` holds ``data`` now, ``acked`` bytes of it just acknowledged."""
        self.files[name] = data
        self.uncertain.discard(name)
        self.acked_bytes += acked

    def unsure(self, *names: str) -> None:
        for n in names:
            self.uncertain.add(n)
            self.files.pop(n, None)

    def present(self) -> list[str]:
        return [n for n, d in self.files.items() if d is not None]


class Workload(threading.Thread):
    """Random file operations on one mount, in ``mountpoint/dirname``; the
    ledger says what the server must end up with."""

    OPS = ("write", "write", "append", "rename", "unlink", "mkdir", "rmdir", "read", "read",
           "ls")

    def __init__(self, ref: MountRef, dirname: str, gate: threading.Event, stop: threading.Event,
                 seed: int) -> None:
        super().__init__(name=f"workload {ref.name}", daemon=True)
        self.ref, self.gate, self.stop = ref, gate, stop
        self.root = ref.mountpoint / dirname
        self.rng = random.Random(seed)
        self.ledger = Ledger()
        self.ops: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.wrong_reads: list[str] = []
        self.slow: list[str] = []
        self.current: tuple[str, float] | None = None
        self.window = 0  #: index of the last fault before the current operation
        self.errors_in_window: Counter[int] = Counter()

    def run(self) -> None:
        while not self.stop.is_set():
            self.gate.wait()
            op = self.rng.choice(self.OPS)
            started = time.monotonic()
            self.current = (op, started)
            try:
                # False: nothing to do it on (e.g. no file to rename): not counted.
                if getattr(self, f"op_{op}")() is not False:
                    self.ops[op] += 1
            except Exception as e:  # counted by kind; the soak goes on
                self.errors[f"{op} {kind_of(e)}"] += 1
                self.errors_in_window[self.window] += 1
                # A dead mount fails at once: without a pause, error counts
                # would say only how fast a loop spins.
                time.sleep(0.2)
            took = time.monotonic() - started
            if took > 30:
                self.slow.append(f"{self.ref.name} {op} took {took:.0f} s (fault {self.window})")
            self.current = None

    def _pick(self) -> str:
        return f"f{self.rng.randrange(FILES):03d}"

    def op_write(self) -> bool | None:
        name, data = self._pick(), self.rng.randbytes(random_size(self.rng))
        try:
            write_file(self.root / name, data, os.O_CREAT | os.O_TRUNC)
        except OSError:
            self.ledger.unsure(name)
            raise
        self.ledger.known(name, data, len(data))

    def op_append(self) -> bool | None:
        present = self.ledger.present()
        if not present:
            return False
        name = self.rng.choice(present)
        old = self.ledger.files[name] or b""
        more = self.rng.randbytes(self.rng.randint(1, 64 * 1024))
        if len(old) + len(more) > 4 * 1024 * 1024:
            return False
        try:
            write_file(self.root / name, more, os.O_APPEND)
        except OSError:
            self.ledger.unsure(name)
            raise
        self.ledger.known(name, old + more, len(more))

    def op_rename(self) -> bool | None:
        present = self.ledger.present()
        if not present:
            return False
        src, dst = self.rng.choice(present), self._pick()
        if src == dst:
            return False
        try:
            os.rename(self.root / src, self.root / dst)
        except OSError:
            self.ledger.unsure(src, dst)
            raise
        data = self.ledger.files[src]
        self.ledger.files[dst] = data
        self.ledger.uncertain.discard(dst)
        self.ledger.files[src] = None

    def op_unlink(self) -> bool | None:
        present = self.ledger.present()
        if not present:
            return False
        name = self.rng.choice(present)
        try:
            os.unlink(self.root / name)
        except OSError:
            self.ledger.unsure(name)
            raise
        self.ledger.files[name] = None

    def op_mkdir(self) -> bool | None:
        name = f"d{self.rng.randrange(DIRS)}"
        if self.ledger.dirs.get(name):
            return False
        if name in self.ledger.uncertain and (self.root / name).is_dir():
            self._dir(name, True)  # a failed mkdir made it after all
            return False
        return self._dir(name, True, lambda: os.mkdir(self.root / name))

    def op_rmdir(self) -> bool | None:
        made = [n for n, there in self.ledger.dirs.items() if there]
        if not made:
            return False
        name = self.rng.choice(made)
        return self._dir(name, False, lambda: os.rmdir(self.root / name))

    def _dir(self, name: str, there: bool, change: Callable[[], None] = lambda: None) -> None:
        """``change()``; then the ledger says whether dir ``name`` is ``there``,
        or (it failed) that it is uncertain."""
        try:
            change()
        except OSError:
            self.ledger.dirs.pop(name, None)
            self.ledger.uncertain.add(name)
            raise
        self.ledger.dirs[name] = there
        self.ledger.uncertain.discard(name)

    def op_read(self) -> bool | None:
        present = self.ledger.present()
        if not present:
            return False
        name = self.rng.choice(present)
        want = self.ledger.files[name]
        with open(self.root / name, "rb") as f:
            got = f.read()
        if got != want:
            self.wrong_reads.append(f"{self.ref.name}/{name}: read {len(got)} B, "
                                    f"ledger {len(want or b'')} B")

    def op_ls(self) -> bool | None:
        names = set(os.listdir(self.root))
        missing = [n for n in self.ledger.present() if n not in names]
        extra = [n for n, d in self.ledger.files.items() if d is None and n in names]
        if missing or extra:
            self.errors[f"ls disagreed (missing {len(missing)}, extra {len(extra)})"] += 1


@dataclass
class Job:
    name: str
    mount: str
    expect: str
    window: int
    outcome: str = "pending"  #: pending, done, failed, wrong output, gone
    detail: str = ""


class Jobs(threading.Thread):
    """Submits a job every ``every`` s through ``.jobs/`` of the mounts in
    turns, and follows each one to its end."""

    def __init__(self, refs: list[MountRef], every: float, gate: threading.Event,
                 stop: threading.Event, tag: str) -> None:
        super().__init__(name="jobs", daemon=True)
        self.refs, self.every, self.gate, self.stop, self.tag = refs, every, gate, stop, tag
        self.jobs: list[Job] = []
        self.refused: Counter[str] = Counter()
        self.refused_in_window: Counter[int] = Counter()
        self.poll_errors: Counter[str] = Counter()
        self.window = 0
        self.current: tuple[str, float] | None = None

    def run(self) -> None:
        n, next_at = 0, time.monotonic()
        while not self.stop.is_set():
            self.gate.wait()
            if time.monotonic() >= next_at:
                self.submit(n)
                n, next_at = n + 1, time.monotonic() + self.every
            self.poll()
            time.sleep(0.5)

    def submit(self, n: int) -> None:
        ref = self.refs[n % len(self.refs)]
        name = f"soak-{self.tag}-{n:05d}"
        expect = f"{name} {n * 7}"
        spec = (f'executable = "/bin/sh"\n'
                f'arguments = ["-c", "echo {name} $(({n} * 7))"]\n')
        self.current = ("submit", time.monotonic())
        try:
            write_file(ref.mountpoint / ".jobs" / f"{name}.toml", spec.encode(),
                       os.O_CREAT | os.O_TRUNC)
        except OSError as e:
            self.refused[f"{ref.name} {kind_of(e)}"] += 1
            self.refused_in_window[self.window] += 1
            return
        finally:
            self.current = None
        self.jobs.append(Job(name, ref.name, expect, self.window))

    def poll(self) -> None:
        """Read the status of every unfinished job once."""
        for job in [j for j in self.jobs if j.outcome == "pending"]:
            ref = next(r for r in self.refs if r.name == job.mount)
            self.current = ("status", time.monotonic())
            try:
                self.check(job, ref.mountpoint / ".jobs" / job.name)
            except OSError as e:
                if isinstance(e, FileNotFoundError) and self.stop.is_set():
                    job.outcome, job.detail = "gone", str(e)
                self.poll_errors[f"{job.mount} {kind_of(e)}"] += 1
            except ValueError as e:  # a status.json that is not JSON
                self.poll_errors[f"{job.mount} bad status.json"] += 1
                job.detail = str(e)
            finally:
                self.current = None

    @staticmethod
    def check(job: Job, d: Path) -> None:
        st = json.loads((d / "status.json").read_text())
        if not st.get("done"):
            return
        if st.get("exit_code") == 0 and not st.get("error"):
            out = (d / "stdout").read_text().strip()
            job.outcome = "done" if out == job.expect else "wrong output"
            job.detail = "" if out == job.expect else f"stdout {out[:80]!r}"
        else:
            job.outcome = "failed"
            job.detail = f"{st.get('state')}: {str(st.get('error'))[:120]}"


@dataclass
class Verdict:
    files: int = 0
    bytes_ok: int = 0
    bytes_lost: int = 0
    lost: list[str] = field(default_factory=list)
    resurrected: list[str] = field(default_factory=list)
    dirs_wrong: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    lost_found: list[str] = field(default_factory=list)
    under_mount: list[str] = field(default_factory=list)


def verify(w: Workload, server_dir: Path, v: Verdict) -> None:
    """Compare ``w``'s ledger with the server's own disk (``server_dir``)."""
    led = w.ledger
    for name, data in sorted(led.files.items()):
        p = server_dir / name
        if data is None:
            if p.exists():
                v.resurrected.append(f"{w.ref.name}/{name}")
            continue
        v.files += 1
        try:
            got = p.read_bytes()
        except OSError as e:
            got, why = None, kind_of(e)
        else:
            why = f"{len(got)} B, other bytes" if got != data else ""
        if got == data:
            v.bytes_ok += len(data)
        else:
            v.bytes_lost += len(data)
            v.lost.append(f"{w.ref.name}/{name} ({len(data)} B): {why}")
    for name, there in sorted(led.dirs.items()):
        if (server_dir / name).is_dir() != there:
            v.dirs_wrong.append(f"{w.ref.name}/{name} should {'' if there else 'not '}exist")
    known = set(led.files) | led.uncertain | set(led.dirs)
    for p in sorted(server_dir.iterdir()):
        if p.name in known:
            continue
        what = f"{w.ref.name}/{p.name} ({p.stat().st_size} B)"
        base = server_dir / p.name.split(".conflict-")[0]
        if base != p and base.is_file() and base.read_bytes() == p.read_bytes():
            what += f", the same bytes as {base.name} now"
        v.unexpected.append(what)


def report(args: argparse.Namespace, minutes: float, loads: list[Workload], jobs: Jobs,
           faults: list[Fault], v: Verdict, settled: str, stuck: list[str]) -> bool:
    """Print the figures. Returns: True when nothing was lost."""
    print(f"\n## soak: {minutes:.1f} min, faults every {args.fault_every:g} s "
          f"({','.join(args.faults)}), a job every {args.job_every:g} s; {settled}\n")
    ops = sum((w.ops for w in loads), Counter())
    print(f"operations done: {sum(ops.values())} ({', '.join(f'{k} {n}' for k, n in sorted(ops.items()))})")
    for w in loads:
        print(f"  {w.ref.name}: {sum(w.ops.values())} ok, {sum(w.errors.values())} failed, "
              f"{len(w.ledger.uncertain)} files uncertain at the end")
    print(f"bytes acknowledged by close(): {sum(w.ledger.acked_bytes for w in loads)}")
    print(f"files verified on the server: {v.files}, bytes verified {v.bytes_ok}, "
          f"bytes lost {v.bytes_lost}")
    by = Counter(j.outcome for j in jobs.jobs)
    print(f"jobs submitted {len(jobs.jobs)}: done {by['done']}, ended with a reported error "
          f"{by['failed']}, lost {by['pending'] + by['gone'] + by['wrong output']} (no end "
          f"{by['pending']}, gone {by['gone']}, wrong output {by['wrong output']}); "
          f"refused at submission {sum(jobs.refused.values())}")
    survived = Counter((f.kind, f.outcome) for f in faults)
    print(f"faults injected: {len(faults)}, survived (recovered by themselves within "
          f"{args.recover_limit:g} s) {sum(f.outcome == 'recovered' for f in faults)}: " + ", ".join(
        f"{k} {o} {n}" for (k, o), n in sorted(survived.items())))
    print("\n| # | at (s) | fault | outcome | recovery (s) | jobs after it ok/failed/lost"
          "/refused | op errors after it | detail |\n|---|---|---|---|---|---|---|---|")
    for i, f in enumerate(faults, 1):
        after = Counter(j.outcome for j in jobs.jobs if j.window == i)
        errs = sum(w.errors_in_window[i] for w in loads)
        lost_after = after["pending"] + after["gone"] + after["wrong output"]
        print(f"| {i} | {f.at:.0f} | {f.kind}: {f.target} | {f.outcome} | {f.recover_s:.1f} | "
              f"{after['done']}/{after['failed']}/{lost_after}/{jobs.refused_in_window[i]} | {errs} | {f.detail[:200]} |")
    errors = sum((w.errors for w in loads), Counter())
    errors.update({f"job spec refused {k}": n for k, n in jobs.refused.items()})
    errors.update({f"job status read {k}": n for k, n in jobs.poll_errors.items()})
    fails = Counter(f"{j.mount} {j.detail.split(':')[0]}" for j in jobs.jobs
                    if j.outcome == "failed")
    errors.update({f"job failed {k}": n for k, n in fails.items()})
    print("\nerrors seen, by kind:" + ("" if errors else " none"))
    for k, n in errors.most_common():
        print(f"  {n:6d}  {k}")
    bad = [("LOST BYTES", v.lost), ("WRONG BYTES READ", sum((w.wrong_reads for w in loads), [])),
           ("LOST JOBS", [f"{j.mount} {j.name}: {j.outcome} {j.detail}" for j in jobs.jobs
                          if j.outcome in ("pending", "gone", "wrong output")]),
           ("deleted files back on the server", v.resurrected),
           ("directories wrong on the server", v.dirs_wrong),
           ("files on the server nobody made (conflict copies?)", v.unexpected),
           ("files kept in a cache's lost+found", v.lost_found),
           ("written under a mount point while it had no mount", v.under_mount),
           ("stuck at the end", stuck),
           ("slow operations (> 30 s)", sum((w.slow for w in loads), [])),
           ("job errors (first 10)", [f"{j.mount} {j.name}: {j.detail}" for j in jobs.jobs
                                      if j.outcome == "failed"][:10])]
    for title, items in bad:
        if items:
            print(f"\n{title}: {len(items)}")
            for item in items[:30]:
                print(f"  {item}")
    lost = v.bytes_lost or any(bad[i][1] for i in range(3))
    print(f"\nresult: {'LOST DATA OR JOBS' if lost else 'nothing lost'}")
    return not lost


def run(args: argparse.Namespace, work: Path) -> bool:
    """The soak itself. Returns: True when nothing was lost."""
    tag = uuid.uuid4().hex[:6]
    sshd = SshServer().start()
    base = sshd.home / f"soak-{tag}"
    try:
        if args.idle_timeout is not None:
            set_sshd_idle_timeout(sshd, args.idle_timeout)
        refs, server_dirs = [], {}
        common = ["password_env=XENONFS_SOAK_PW", "strict_host_key_checking=no",
                  f"job_poll_interval={args.job_poll}"]
        env = {"XENONFS_SOAK_PW": sshd.password}
        for name in ("native", "engine"):
            remote = base / name
            if name == "engine" and args.second == "file":
                remote = work / "file-backing"
                remote.mkdir()
                refs.append(MountRef(name, work / f"m-{name}", f"file://{remote}",
                                     ["backend=engine", f"job_poll_interval={args.job_poll}",
                                      f"cache_dir={work / f'cache-{name}'}"]))
            else:
                remote.mkdir(parents=True, exist_ok=True)
                shutil.chown(base, sshd.user, sshd.user)
                shutil.chown(remote, sshd.user, sshd.user)
                refs.append(MountRef(name, work / f"m-{name}",
                                     f"sftp://{sshd.user}@127.0.0.1:{sshd.port}{remote}",
                                     [*common, f"backend={name}",
                                      f"cache_dir={work / f'cache-{name}'}"], env))
            server_dirs[name] = remote / f"soak-{tag}"
        gate, stop = threading.Event(), threading.Event()
        gate.set()
        with ExitStack() as stack:
            under = {}  # mount name -> fd of the directory under it (listed at the end)
            for ref in refs:
                ref.mountpoint.mkdir(parents=True)
                under[ref.name] = os.open(ref.mountpoint, os.O_RDONLY | os.O_DIRECTORY)
                stack.callback(os.close, under[ref.name])
                stack.enter_context(mounted(ref.source, ref.mountpoint, ref.options, ref.env))
            loads = [Workload(r, f"soak-{tag}", gate, stop, args.seed + i)
                     for i, r in enumerate(refs)]
            jobs = Jobs(refs, args.job_every, gate, stop, tag)
            injector = Injector(sshd, refs, probe, lambda p: gate.clear() if p else gate.set(),
                                args.recover_limit, args.idle_gap, args.sshd_down,
                                args.idle_timeout)
            injector.freeze = args.freeze
            for w in loads:
                w.root.mkdir()
            for t in (*loads, jobs):
                t.start()
            t0 = time.monotonic()
            end = t0 + args.minutes * 60
            next_fault, turn = t0 + args.fault_every, 0
            while time.monotonic() < end:
                time.sleep(max(0.0, min(next_fault, end) - time.monotonic()))
                if time.monotonic() >= end:
                    break
                kind = args.faults[turn % len(args.faults)]
                turn += 1
                for t in (*loads, jobs):
                    t.window = len(injector.faults) + 1
                f = injector.inject(kind, time.monotonic() - t0)
                print(f"[{f.at:6.0f} s] {f.kind}: {f.target} -> {f.outcome} "
                      f"({f.recover_s:.1f} s) {f.detail}", flush=True)
                next_fault = time.monotonic() + args.fault_every
            minutes = (time.monotonic() - t0) / 60
            stop.set()
            gate.set()
            stuck = []
            for t in loads:
                t.join(60)
                if t.is_alive():
                    stuck.append(f"{t.name}: {t.current}")
            print("faults over; settling", flush=True)
            settled = settle(refs, args.settle)
            # Jobs submitted before the end get until the settle limit to end.
            deadline = time.monotonic() + args.settle
            while any(j.outcome == "pending" for j in jobs.jobs) and time.monotonic() < deadline:
                err = with_deadline(jobs.poll, 60)
                if err:
                    stuck.append(f"jobs poll: {err}")
                    break
                time.sleep(1)
            jobs.join(30)
            if jobs.is_alive():
                stuck.append(f"{jobs.name}: {jobs.current}")
            v = Verdict()
            for w in loads:
                verify(w, server_dirs[w.ref.name], v)
            v.lost_found = [str(p.relative_to(work)) for d in work.glob("cache-*/**/lost+found")
                            for p in d.iterdir()]
            # What is in the directory under a mount went to the local disk while
            # no mount was on it (a worker's restart), not to the server.
            v.under_mount = [f"{name}: {n}" for name, fd in under.items() for n in os.listdir(fd)]
            return report(args, minutes, loads, jobs, injector.faults, v, settled, stuck)
    finally:
        sshd.stop()
        shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.splitlines()[:2]))
    parser.add_argument("--minutes", type=float, default=30, help="duration of the faults (30)")
    parser.add_argument("--fault-every", type=float, default=60, help="seconds between faults (60)")
    parser.add_argument("--faults", default=",".join(KINDS),
                        help=f"in turns ({','.join(KINDS)}; also: {','.join(EXTRA)})")
    parser.add_argument("--freeze", type=float, default=40, help="freeze fault's length (40)")
    parser.add_argument("--job-every", type=float, default=5, help="seconds between jobs (5)")
    parser.add_argument("--job-poll", type=float, default=1, help="job_poll_interval (1)")
    parser.add_argument("--second", choices=("sftp", "file"), default="sftp",
                        help="the engine mount: sftp on the test sshd, or file:// (sftp)")
    parser.add_argument("--settle", type=float, default=120,
                        help="seconds at most for uploads and jobs to end after the faults (120)")
    parser.add_argument("--recover-limit", type=float, default=90,
                        help="seconds a fault may take to be recovered from (90)")
    parser.add_argument("--idle-gap", type=float, default=20, help="idle fault's gap in s (20)")
    parser.add_argument("--idle-timeout", type=int,
                        help="give sshd this idle timeout (ChannelTimeout, "
                             "UnusedConnectionTimeout) and let it cut idle sessions itself")
    parser.add_argument("--sshd-down", type=float, default=5, help="seconds sshd is down (5)")
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args()
    args.faults = [k for k in args.faults.split(",") if k]
    unknown = set(args.faults) - set(KINDS + EXTRA)
    if unknown:
        parser.error(f"unknown faults {sorted(unknown)}; known: {', '.join(KINDS + EXTRA)}")
    if args.minutes <= 0 or args.fault_every <= 0 or args.job_every <= 0:
        parser.error("--minutes, --fault-every and --job-every must be above 0")
    if not args.faults:
        args.fault_every = float("inf")
    # SIGTERM unwinds like Ctrl-C: every mount unmounted, every server stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ok = False
    try:
        with private_xdg("xenonfs-soak-run-") as xdg:
            work = Path(tempfile.mkdtemp(prefix="xenonfs-soak-"))
            try:
                ok = run(args, work)
            finally:
                log = xdg / "runtime" / "xenonfs" / "daemon.log"
                if log.exists():
                    kept = Path(tempfile.mkstemp(prefix="xenonfs-soak-daemon-",
                                                 suffix=".log")[1])
                    shutil.copyfile(log, kept)
                    print(f"(the daemon's log: {kept})")
                shutil.rmtree(work, ignore_errors=True)
    except KeyboardInterrupt:
        sys.exit("interrupted; every mount unmounted, every server stopped")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
