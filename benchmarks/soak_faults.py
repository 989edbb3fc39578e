"""The faults of `benchmarks/soak.py`, each injected by PID, and the check that
the mounts came back from one.

Faults (in turns): ``engine`` kill -9 of the engine's JVM; ``worker`` kill -9
of one mount's worker process (the mounts in turns); ``sshd`` the test sshd
stopped by its PID with every session it serves killed (a server reboot),
down for a few seconds, then started again on the same port; ``idle`` no
operation at all for a gap, in the middle of which the server side of every
SSH connection is killed (what a server's idle timeout does to a session, as
the engine's own ~10 minute idle timeout does, without waiting 10 minutes).
Not in the default turns: ``freeze``, the sshd and its sessions SIGSTOPped for
a while (no RST), then SIGCONT; operations meanwhile must fail in bounded time.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from tests.mounts import XENONFS, alive
from tests.servers.common import read_pid, stop_pid
from tests.servers.sshd import SshServer

KINDS = ("engine", "worker", "sshd", "idle")
#: Also known, not in the default turns: the server frozen (issue 16, item 4).
EXTRA = ("freeze",)
CHUNK = 128 * 1024


@dataclass
class Fault:
    """One injected fault and what came of it."""

    kind: str
    at: float  #: seconds since the soak started
    target: str = ""
    #: "recovered", "recovered by remount" or "not recovered".
    outcome: str = "not recovered"
    recover_s: float = 0.0
    detail: str = ""


@dataclass
class MountRef:
    """What a fault or a remount needs of one mount."""

    name: str
    mountpoint: Path
    source: str
    options: list[str]
    env: dict[str, str] = field(default_factory=dict)


def status() -> dict[str, Any]:
    """Returns: ``xenonfs status --json`` of our daemon (the XDG dirs in our
    environment).

    Raises:
        RuntimeError: it failed or took over 30 s.
    """
    try:
        out = subprocess.run([sys.executable, "-m", "xenonfs.cli", "status", "--json"],
                             capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        raise RuntimeError("xenonfs status took over 30 s") from None
    if out.returncode != 0:
        raise RuntimeError(f"xenonfs status: {out.stderr.strip()[-300:]}")
    return json.loads(out.stdout)


def mount_status(st: dict[str, Any], mnt: Path) -> dict[str, Any] | None:
    """Returns: the status entry of the mount on ``mnt``, or None."""
    return next((m for m in st["mounts"] if m["mountpoint"] == str(mnt)), None)


def kind_of(e: BaseException) -> str:
    """Returns: an error's kind for the report (errno name, or the type)."""
    if isinstance(e, OSError) and e.errno is not None:
        return errno.errorcode.get(e.errno, str(e.errno))
    return type(e).__name__


def with_deadline(fn: Callable[[], object], seconds: float) -> str | None:
    """Run ``fn`` in a thread of its own for at most ``seconds`` (a call into a
    hung mount may never return; the thread is then left behind).

    Returns: None when it returned, else what went wrong ("hung", or the error).
    """
    outcome: list[str | None] = []

    def run() -> None:
        try:
            fn()
            outcome.append(None)
        except Exception as e:  # reported, not raised: the caller retries
            outcome.append(f"{type(e).__name__}: {e}")
    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    return outcome[0] if outcome else f"hung over {seconds:.0f} s"


def descendants(root: int) -> list[int]:
    """Returns: the pids of every process below ``root`` (by /proc's ppid)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def kill_pids(pids: list[int]) -> int:
    """SIGKILL each of ``pids`` (processes of our own sshd). Returns: how many were alive."""
    n = 0
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
            n += 1
        except ProcessLookupError:
            pass
    return n


def sshd_pid(sshd: SshServer) -> int:
    """Returns: the listening sshd's pid (its PidFile)."""
    assert sshd.workdir is not None
    pid = read_pid(sshd.workdir / "sshd.pid")
    if pid is None:
        raise RuntimeError("the test sshd wrote no pid file")
    return pid


def cut_sessions(sshd: SshServer) -> int:
    """Kill the server side of every SSH connection of our sshd, not the
    listener. Returns: processes killed."""
    return kill_pids(descendants(sshd_pid(sshd)))


def restart_sshd(sshd: SshServer, down: float) -> str:
    """Stop our sshd by its PID and kill its sessions (taken before the
    listener goes: they are then re-parented), wait ``down`` s, start it
    again on the same port. Returns: what was done."""
    listener = sshd_pid(sshd)
    sessions = descendants(listener)
    stop_pid(listener)
    killed = kill_pids(sessions)
    time.sleep(down)
    sshd.resume()
    return f"sshd {listener} stopped, {killed} session processes killed, down {down:.0f} s"


def freeze_sshd(sshd: SshServer, seconds: float) -> str:
    """SIGSTOP our sshd and every session it serves (a frozen server: no
    RST, nothing answers) for ``seconds``, then SIGCONT. Returns: what was done."""
    pids = [sshd_pid(sshd), *descendants(sshd_pid(sshd))]
    for sig in (signal.SIGSTOP, signal.SIGCONT):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        if sig == signal.SIGSTOP:
            time.sleep(seconds)
    return f"sshd and {len(pids) - 1} session processes frozen {seconds:.0f} s"


def set_sshd_idle_timeout(sshd: SshServer, seconds: int) -> None:
    """Make our sshd close what is idle after ``seconds`` (OpenSSH 9.2:
    ChannelTimeout for sessions, including sftp's, and UnusedConnectionTimeout
    for a connection left with no channel), then restart it to read that."""
    assert sshd.workdir is not None
    conf = sshd.workdir / "sshd_config"
    conf.write_text(conf.read_text() + f"ChannelTimeout session:*={seconds}\n"
                    f"UnusedConnectionTimeout {seconds}\n")
    stop_pid(sshd_pid(sshd))
    sshd.resume()


def remount(ref: MountRef) -> str | None:
    """``xenonfs mount`` again on a mount point whose mount did not come back
    (the issue's recovery path). Returns: None, or its error."""
    cmd = [*XENONFS, "mount", ref.source, str(ref.mountpoint)]
    for o in ref.options:
        cmd += ["-o", o]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                             env={**os.environ, **ref.env})
    except subprocess.TimeoutExpired:
        return "xenonfs mount took over 120 s"
    return None if out.returncode == 0 else out.stderr.strip()[-300:]


def write_file(path: Path, data: bytes, flags: int) -> None:
    """Write ``data`` to ``path`` opened with ``flags`` and close it; raises
    OSError from any step, close() included (a failed close is not success)."""
    fd = os.open(path, os.O_WRONLY | flags, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view[:CHUNK]):]
    except BaseException:
        try:
            os.close(fd)
        except OSError:
            pass
        raise
    os.close(fd)


def probe(ref: MountRef) -> None:
    """Raises unless a small file can be written, read back and removed on ``ref``."""
    p = ref.mountpoint / f".soak-probe-{uuid.uuid4().hex[:8]}"
    data = os.urandom(1000)
    write_file(p, data, os.O_CREAT | os.O_TRUNC)
    if p.read_bytes() != data:
        raise RuntimeError(f"probe {p} read back other bytes")
    p.unlink()


def settle(refs: list[MountRef], limit: float) -> str:
    """Wait (at most ``limit`` s) until no mount has dirty files. Returns: how it went."""
    deadline, last = time.monotonic() + limit, ""
    while time.monotonic() < deadline:
        try:
            st = status()
            dirty = {r.name: int((mount_status(st, r.mountpoint) or {}).get("dirty_files", -1))
                     for r in refs}
        except RuntimeError as e:
            last = str(e)
        else:
            last = ", ".join(f"{k} {v} dirty" for k, v in dirty.items())
            if all(v == 0 for v in dirty.values()):
                return f"settled: {last}"
        time.sleep(2)
    return f"not settled after {limit:.0f} s: {last}"


class Injector:
    """Injects the faults in turns and waits for the mounts to come back.

    Args:
        sshd: our test sshd.
        mounts: the soak's mounts.
        probe: probe(mount) raises unless a small write and read-back on it works.
        pause: pause(True) stops the workload (idle gap), pause(False) resumes it.
        recover_limit: seconds a fault may take to be recovered from.
    """

    def __init__(self, sshd: SshServer, mounts: list[MountRef], probe: Callable[[MountRef], None],
                 pause: Callable[[bool], None], recover_limit: float, idle_gap: float,
                 sshd_down: float, idle_timeout: int | None) -> None:
        self.sshd, self.mounts, self.probe, self.pause = sshd, mounts, probe, pause
        self.recover_limit, self.idle_gap, self.sshd_down = recover_limit, idle_gap, sshd_down
        self.idle_timeout = idle_timeout
        self.freeze = 40.0  #: seconds a "freeze" fault keeps the server stopped
        self.faults: list[Fault] = []
        self._workers_killed = 0

    def inject(self, kind: str, at: float) -> Fault:
        """Inject one fault of ``kind`` and wait (bounded) for recovery. Returns: it."""
        fault = Fault(kind, at)
        self.faults.append(fault)
        before = status()
        old_engine = int(before["engine"].get("pid", 0))
        old_worker, victim = 0, None
        t0 = time.monotonic()
        if kind == "engine":
            if not old_engine or not alive(old_engine):
                fault.detail = f"no engine running (state {before['engine'].get('state')})"
                return fault
            fault.target = f"engine pid {old_engine} ({_comm(old_engine)})"
            os.kill(old_engine, signal.SIGKILL)
        elif kind == "worker":
            victim = self.mounts[self._workers_killed % len(self.mounts)]
            self._workers_killed += 1
            entry = mount_status(before, victim.mountpoint)
            old_worker = int(entry["worker_pid"]) if entry else 0
            if not old_worker:
                fault.detail = f"{victim.name} has no worker (status {entry})"
                return fault
            fault.target = f"{victim.name} worker pid {old_worker}"
            os.kill(old_worker, signal.SIGKILL)
        elif kind == "sshd":
            fault.target = restart_sshd(self.sshd, self.sshd_down)
        elif kind == "freeze":
            fault.target = freeze_sshd(self.sshd, self.freeze)
        elif kind == "idle":
            self.pause(True)
            try:
                if self.idle_timeout is None:
                    time.sleep(self.idle_gap / 2)
                    fault.target = f"idle {self.idle_gap:.0f} s, {cut_sessions(self.sshd)} " \
                                   "sshd session processes killed halfway"
                    time.sleep(self.idle_gap / 2)
                else:  # the server's own idle timeout does it
                    time.sleep(self.idle_timeout + 10)
                    fault.target = f"idle {self.idle_timeout + 10} s (sshd idle timeout " \
                                   f"{self.idle_timeout} s)"
            finally:
                self.pause(False)
        else:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(KINDS + EXTRA)}")
        if kind in ("sshd", "freeze", "idle"):
            t0 = time.monotonic()  # recovery counts from the server's return
        self._await_recovery(fault, t0, old_engine if kind == "engine" else 0,
                             victim, old_worker)
        return fault

    def _healthy(self, old_engine: int, victim: MountRef | None, old_worker: int) -> str | None:
        """Returns: None when the daemon shows a ready engine (another one after an
        engine kill) and every mount served by a live worker (another one after
        a worker kill) and each mount passes the probe; else what is not so."""
        try:
            st = status()
        except RuntimeError as e:
            return str(e)
        eng = st["engine"]
        if eng.get("state") != "ready" or (old_engine and int(eng.get("pid", 0)) == old_engine):
            return f"engine {eng.get('state')} pid {eng.get('pid')}"
        for ref in self.mounts:
            m = mount_status(st, ref.mountpoint)
            if m is None:
                return f"{ref.name} not in xenonfs status"
            pid = int(m.get("worker_pid", 0))
            if m.get("state") != "mounted" or not pid or not alive(pid) or (
                    ref is victim and pid == old_worker):
                return f"{ref.name} {m.get('state')} worker {pid}"
        for ref in self.mounts:
            err = with_deadline(lambda r=ref: self.probe(r), 60)
            if err is not None:
                return f"{ref.name} probe: {err}"
        return None

    def _await_recovery(self, fault: Fault, t0: float, old_engine: int,
                        victim: MountRef | None, old_worker: int) -> None:
        deadline = t0 + self.recover_limit
        why = None
        while time.monotonic() < deadline:
            why = self._healthy(old_engine, victim, old_worker)
            if why is None:
                fault.outcome, fault.recover_s = "recovered", time.monotonic() - t0
                return
            time.sleep(1)
        fault.detail = f"after {self.recover_limit:.0f} s: {why}"
        # What a user would do next: mount again what is not served (the
        # issue says that recovers a dead mount point).
        try:
            st = status()
        except RuntimeError as e:
            fault.detail += f"; {e}"
            return
        for ref in self.mounts:
            m = mount_status(st, ref.mountpoint) or {}
            pid = int(m.get("worker_pid", 0))
            served = m.get("state") == "mounted" and pid > 0 and alive(pid)
            if served and with_deadline(lambda r=ref: self.probe(r), 60) is None:
                continue
            err = remount(ref)
            fault.detail += f"; remount of {ref.name}: {err or 'ok'}"
        if self._healthy(0, None, 0) is None:
            fault.outcome, fault.recover_s = "recovered by remount", time.monotonic() - t0


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"
