"""Debian's gridengine 8.1.9 (qmaster + execd) on this one host, for the scheduler tests.

The cell is Debian's default one (SGE_ROOT=/var/lib/gridengine, SGE_CELL=default, ports 6444/6445
from /etc/services), because users logging in over ssh must find it without any environment:
Debian's /usr/bin/q* wrappers fall back to exactly these defaults.

The daemons are started directly (never by the init scripts) and stopped by their PID files.
Several users may share them (a test run and a benchmark, or two test runs): each holds a shared
lock on LOCK while it uses the cluster (start and stop hold SETUP_LOCK), and the last one to
leave stops the daemons, but only if a fixture started them (MARKER); a cluster somebody else
started is used and left running.

Usable from a plain script: ``python -m tests.servers.gridengine [--hold]`` starts the cluster,
runs one job, prints how long that took (with --hold: keeps it until end of input), and stops it.
"""

from __future__ import annotations

import fcntl
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

from .common import read_pid, stop_pid, wait_for

SGE_ROOT = Path("/var/lib/gridengine")
CELL = "default"
COMMON = SGE_ROOT / CELL / "common"
SPOOL = Path("/var/spool/gridengine")
QMASTER_PIDFILE = SPOOL / "qmaster" / "qmaster.pid"
LOCK = Path("/run/lock/xenonfs-tests-gridengine.lock")  # shared by every user of the cluster
SETUP_LOCK = Path("/run/lock/xenonfs-tests-gridengine.setup.lock")  # start and stop, one at a time
MARKER = Path("/var/lib/xenonfs-tests/gridengine.started")
QUEUE = "all.q"
SLOTS = 2
ADMIN = "sgeadmin"

# Global configuration: root's jobs allowed (min_uid 0), accounting written at once (qacct is
# how a finished job's exit code is read), load reports every few seconds (readiness).
GLOBAL_CONF = {
    "min_uid": "0",
    "min_gid": "0",
    "load_report_time": "00:00:02",
    "reporting_params": "accounting=true reporting=false flush_time=00:00:01 "
                        "accounting_flush_time=00:00:00 joblog=false sharelog=00:00:00",
}
# Scheduler: run every second and right after submits/ends; ignore the machine's load (the
# test machine is busy: load-based placement would hold jobs back).
SCHED_CONF = {
    "schedule_interval": "0:0:1",
    "flush_submit_sec": "1",
    "flush_finish_sec": "1",
    "queue_sort_method": "seqno",
    "job_load_adjustments": "NONE",
    "load_adjustment_decay_time": "0:0:0",
}


def available() -> bool:
    """Returns: True if Debian's gridengine master, exec and client packages are installed."""
    return all(Path(p).exists() for p in ("/usr/lib/gridengine/sge_qmaster",
                                          "/usr/lib/gridengine/sge_execd",
                                          "/usr/lib/gridengine/qsub"))


def _env() -> dict[str, str]:
    return {**os.environ, "SGE_ROOT": str(SGE_ROOT), "SGE_CELL": CELL}


def sge(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a gridengine command (``qconf``, ``qstat``, ...) as the caller.

    Raises:
        RuntimeError: naming the command and its output, when ``check`` and it fails.
    """
    out = subprocess.run(argv, capture_output=True, text=True, env=_env(), timeout=60)
    if check and out.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({out.returncode}): "
                           f"{(out.stderr or out.stdout).strip()}")
    return out


def _running(pidfile: Path, name: str) -> int | None:
    """Returns: the pid in ``pidfile`` if a process named ``name`` has it (not a stale file)."""
    pid = read_pid(pidfile)
    if not pid:
        return None
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None
    return pid if comm == name else None


class GridEngine:
    """The single-node cluster: `start` (idempotent setup, readiness wait), `stop`."""

    def __init__(self) -> None:
        self.host = socket.gethostname().split(".")[0]
        self.queue = QUEUE
        self._lock: IO[str] | None = None

    @staticmethod
    def _execd_pid() -> int | None:
        """Returns: the pid of the running exec daemon, if any. Its spool directory is named
        as the daemon resolves its host (``localhost`` here), so every one is looked at."""
        for pidfile in sorted((SPOOL / "execd").glob("*/execd.pid")):
            pid = _running(pidfile, "sge_execd")
            if pid:
                return pid
        return None

    def __enter__(self) -> "GridEngine":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> "GridEngine":
        """Configure the cell and start both daemons unless they run; wait until the queue
        instance takes jobs.

        Raises:
            RuntimeError: when the packages are missing or a daemon does not come up.
        """
        if not available():
            raise RuntimeError("gridengine is not installed: apt-get install gridengine-master "
                               "gridengine-exec gridengine-client (see .ci/run)")
        LOCK.parent.mkdir(parents=True, exist_ok=True)
        with open(SETUP_LOCK, "a+") as setup:
            fcntl.flock(setup, fcntl.LOCK_EX)  # one user sets up or tears down at a time
            self._lock = open(LOCK, "a+")
            fcntl.flock(self._lock, fcntl.LOCK_SH)  # in use, together with others
            try:
                self._start_locked()
            except BaseException:
                self._lock.close()
                self._lock = None
                self._stop_if_last()  # what this start began, unless others use it
                raise
        return self

    def _start_locked(self) -> None:
        if _running(QMASTER_PIDFILE, "sge_qmaster") and not MARKER.exists():
            # Somebody else's cluster: used as it is, never reconfigured nor stopped.
            wait_for(self._queue_ready, 90, f"gridengine queue {QUEUE}@{self.host}")
            return
        # From here on the daemons are ours (whoever of the fixture's users stops last).
        MARKER.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        MARKER.touch()
        # The qmaster resolves 127.0.0.1 to "localhost": without the alias every qconf from
        # this host is "access denied". It is read at qmaster start, so it is written first.
        aliases = COMMON / "host_aliases"
        line = f"{self.host} localhost\n"
        if not aliases.exists() or line not in aliases.read_text():
            aliases.write_text(line)
        if not _running(QMASTER_PIDFILE, "sge_qmaster"):
            sge("/usr/sbin/sge_qmaster")  # daemonizes, drops to sgeadmin, writes its PID file
            wait_for(lambda: sge("qconf", "-sh", check=False).returncode == 0, 60, "sge_qmaster")
            # Jobs a previous run left in the spool (stuck in "t" once their execd was gone)
            # would hold the slots: nobody uses a cluster we just started, so they go.
            sge("qdel", "-f", "-u", "*", check=False)
        self._configure()
        if not self._execd_pid():
            # The exec daemon reads the configuration at start: it comes after _configure.
            (SPOOL / "execd").mkdir(parents=True, exist_ok=True)
            subprocess.run(["chown", f"{ADMIN}:{ADMIN}", str(SPOOL / "execd")], check=True)
            sge("/usr/sbin/sge_execd")
        wait_for(self._queue_ready, 90, f"gridengine queue {QUEUE}@{self.host}", interval=0.5)

    def _configure(self) -> None:
        """Bring hosts, queue and configurations to the wanted state (whatever a previous run
        left behind)."""
        for flag in ("-ah", "-as"):  # administrative and submit host; "already exists" is fine
            sge("qconf", flag, self.host, check=False)
        with tempfile.TemporaryDirectory(prefix="xenonfs-sge-") as tmp:
            d = Path(tmp)
            self._put(d / "exechost", "-se", self.host, "-Ae", "-Me", {
                "hostname": self.host, "load_scaling": "NONE", "complex_values": "NONE",
                "user_lists": "NONE", "xuser_lists": "NONE", "projects": "NONE",
                "xprojects": "NONE", "usage_scaling": "NONE", "report_variables": "NONE"})
            self._put(d / "hostgroup", "-shgrp", "@allhosts", "-Ahgrp", "-Mhgrp",
                      {"group_name": "@allhosts", "hostlist": self.host})
            self._put(d / "queue", "-sq", QUEUE, "-Aq", "-Mq", queue_config(QUEUE))
            conf = parse_config(sge("qconf", "-sconf", "global").stdout)
            conf.update(GLOBAL_CONF)
            # -Mconf takes the configuration's name from the file's name.
            _write(d / "global", conf)
            sge("qconf", "-Mconf", str(d / "global"))
            sconf = parse_config(sge("qconf", "-ssconf").stdout)
            sconf.update(SCHED_CONF)
            _write(d / "sched", sconf)
            sge("qconf", "-Msconf", str(d / "sched"))

    @staticmethod
    def _put(path: Path, show: str, name: str, add: str, modify: str,
             config: dict[str, str]) -> None:
        _write(path, config)
        exists = sge("qconf", show, name, check=False).returncode == 0
        sge("qconf", modify if exists else add, str(path))

    def _queue_ready(self) -> bool:
        """Returns: True when the queue instance is known, has its load values from the exec
        daemon and is in no state (no a/u/E/d/s flag)."""
        out = sge("qstat", "-f", "-q", QUEUE, check=False).stdout
        for row in out.splitlines():
            cols = row.split()
            # The instance carries the host's name as gridengine resolves it (maybe a FQDN).
            queue, _, host = cols[0].partition("@") if cols else ("", "", "")
            if queue == QUEUE and host.split(".")[0] == self.host:
                # queuename qtype resv/used/tot. load_avg arch [states]
                return len(cols) == 5 and cols[3] != "-NA-"
        return False

    def stop(self) -> None:
        """Leave the cluster; the last user stops the daemons a fixture started (by their PID
        files), and waits for them to be gone."""
        if self._lock is None:
            return
        self._lock.close()  # leave, then see whether anybody else still uses it
        self._lock = None
        with open(SETUP_LOCK, "a+") as setup:
            fcntl.flock(setup, fcntl.LOCK_EX)
            self._stop_if_last()

    def _stop_if_last(self) -> None:
        """With SETUP_LOCK held: stop the daemons if nobody uses them and a fixture
        started them."""
        with open(LOCK, "a+") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return  # still in use; its last user stops it
            if not MARKER.exists():
                return  # not started by a fixture: not ours to stop
            # execd first: a qmaster going away first makes the execd retry for a while.
            stop_pid(self._execd_pid(), timeout=30)
            stop_pid(_running(QMASTER_PIDFILE, "sge_qmaster"), timeout=30)
            MARKER.unlink(missing_ok=True)


def queue_config(name: str) -> dict[str, str]:
    """Returns: a complete queue configuration for ``name`` on @allhosts (Debian's template
    names parallel environments that do not exist, and holds jobs back on a loaded machine)."""
    conf = {
        "qname": name, "hostlist": "@allhosts", "seq_no": "0", "load_thresholds": "NONE",
        "suspend_thresholds": "NONE", "nsuspend": "1", "suspend_interval": "00:05:00",
        "priority": "0", "min_cpu_interval": "00:05:00", "processors": "UNDEFINED",
        "qtype": "BATCH INTERACTIVE", "ckpt_list": "NONE", "pe_list": "NONE", "rerun": "FALSE",
        "slots": str(SLOTS), "tmpdir": "/tmp", "shell": "/bin/sh", "prolog": "NONE",
        "epilog": "NONE", "shell_start_mode": "posix_compliant", "starter_method": "NONE",
        "suspend_method": "NONE", "resume_method": "NONE", "terminate_method": "NONE",
        "notify": "00:00:60", "owner_list": "NONE", "user_lists": "NONE",
        "xuser_lists": "NONE", "subordinate_list": "NONE", "complex_values": "NONE",
        "projects": "NONE", "xprojects": "NONE", "calendar": "NONE", "initial_state": "default",
    }
    for limit in ("rt", "cpu", "fsize", "data", "stack", "core", "rss", "vmem"):
        conf[f"s_{limit}"] = conf[f"h_{limit}"] = "INFINITY"
    return conf


def parse_config(text: str) -> dict[str, str]:
    """Returns: the ``name value`` lines of a qconf listing (continuation lines joined,
    comment lines dropped)."""
    joined = re.sub(r"\\\n\s*", " ", text)
    conf = {}
    for line in joined.splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.strip().partition(" ")
            conf[key] = value.strip()
    return conf


def _write(path: Path, conf: dict[str, str]) -> None:
    path.write_text("".join(f"{k} {v}\n" for k, v in conf.items()))


def _probe() -> float:
    """Submit one job as the caller and wait for its accounting record.

    Returns:
        Seconds from qsub to the record.
    """
    t0 = time.monotonic()
    job = sge("qsub", "-terse", "-b", "y", "-o", "/dev/null", "-e", "/dev/null",
              "/bin/true").stdout.strip()
    wait_for(lambda: sge("qacct", "-j", job, check=False).returncode == 0, 60,
             f"accounting record of job {job}", interval=0.2)
    return time.monotonic() - t0


if __name__ == "__main__":
    t_start = time.monotonic()
    with GridEngine() as cluster:
        print(f"gridengine ready on {cluster.host} in {time.monotonic() - t_start:.1f} s")
        print(f"one job, qsub to accounting record: {_probe():.1f} s")
        if "--hold" in sys.argv[1:]:
            sys.stdin.read()  # until end of input

