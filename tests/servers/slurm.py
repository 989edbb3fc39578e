"""A single-node Slurm cluster for the tests: private munged, slurmctld and slurmd.

Everything lives in one world-readable temp dir (the config, munge's socket, the
daemons' state, spool and logs), so jobs can be submitted both as root and as
the ssh test user. Nothing system-wide is used: munged gets its own key, socket
and pid file (slurm finds the socket through ``AuthInfo=socket=``), the daemons
listen on free ports and run in the foreground as our children, stopped by PID.

Slurm commands find the private config through ``SLURM_CONF`` (see `env`).
By hand: ``python -m tests.servers up slurm``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from .common import free_port, stop_child, wait_for

#: The partitions of the cluster: the first is the default.
PARTITIONS = ("debug", "long")


class SlurmCluster:
    """Debian's slurm-wlm (22.05) on this machine, as one node.

    Args:
        workdir: where to put everything (created, made world-readable); a new
            temp dir if None. ``conf`` is always ``workdir/slurm.conf``.
    """

    def __init__(self, workdir: Path | None = None) -> None:
        self._own_dir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="xenonfs-slurm-"))
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.node = ""
        self.partitions = PARTITIONS

    @property
    def conf(self) -> Path:
        """Returns: the cluster's slurm.conf."""
        return self.workdir / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        """Returns: what a slurm command needs in its environment to use this cluster."""
        return {"SLURM_CONF": str(self.conf)}

    @staticmethod
    def available() -> bool:
        """Returns: True if slurm-wlm and munge are installed."""
        return all(shutil.which(c) or Path(f"/usr/sbin/{c}").exists()
                   for c in ("slurmctld", "slurmd", "munged", "sbatch"))

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a slurm command against this cluster (as the current user)."""
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=check,
                              env={**os.environ, **self.env})

    # -- start ---------------------------------------------------------------------------
    def start(self) -> "SlurmCluster":
        """Start munged, slurmctld and slurmd; return when the node is idle.

        Raises:
            RuntimeError: not installed, or a daemon exited (its log is quoted).
            TimeoutError: the node did not become idle.
        """
        if not self.available():
            raise RuntimeError("slurm is not installed: apt-get install slurm-wlm munge")
        try:
            self._prepare()
            self._start_munged()
            self._write_conf()
            self._spawn("slurmctld", ["slurmctld", "-D"])
            wait_for(lambda: self._alive("slurmctld") and
                     self.run("scontrol", "ping", check=False).stdout.count("is UP"),
                     30, "slurmctld", interval=0.2)
            self._spawn("slurmd", ["slurmd", "-D"])
            wait_for(lambda: self._alive("slurmd") and self._alive("slurmctld") and
                     self.run("sinfo", "-h", "-o", "%T", check=False).stdout.split() == ["idle"],
                     60, "the slurm node", interval=0.2)
        except BaseException:
            self.stop()
            raise
        return self

    def _prepare(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        # Traversable by every user: jobs of the ssh test user read the config
        # and talk to munged's socket too.
        self.workdir.chmod(0o755)
        for sub in ("state", "spool", "log"):
            (self.workdir / sub).mkdir(mode=0o755, exist_ok=True)

    def _start_munged(self) -> None:
        """munged as user munge with its own key and socket in ``workdir``."""
        private = self.workdir / "munge"        # key, seed, pid: munge's only
        sock_dir = self.workdir / "munge-sock"  # the socket: everyone's
        for path, mode in ((private, 0o700), (sock_dir, 0o755)):
            path.mkdir(mode=mode, exist_ok=True)
            shutil.chown(path, "munge", "munge")
            path.chmod(mode)
        key = private / "munge.key"
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(os.urandom(128))
        shutil.chown(key, "munge", "munge")
        self.socket = sock_dir / "munge.socket"
        self._spawn("munged", ["munged", "-F", f"--socket={self.socket}", f"--key-file={key}",
                               f"--pid-file={private}/munged.pid",
                               f"--seed-file={private}/munged.seed",
                               f"--log-file={self.workdir}/log/munged.log"], user="munge")
        wait_for(lambda: self._alive("munged") and self.socket.exists(), 15, "munged")

    def _write_conf(self) -> None:
        # Addresses given: the machine's name need not resolve (loopback only).
        host = socket.gethostname().split(".")[0]
        # `slurmd -C` prints this machine's node line (CPUs, sockets, RealMemory).
        probe = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True)
        node_line = next(l for l in probe.stdout.splitlines() if l.startswith("NodeName="))
        self.node = node_line.split()[0].split("=", 1)[1]
        d = self.workdir
        partitions = "\n".join(
            f"PartitionName={p} Nodes={self.node} Default={'YES' if i == 0 else 'NO'} "
            f"MaxTime=INFINITE State=UP" for i, p in enumerate(PARTITIONS))
        self.conf.write_text(f"""# xenonfs test cluster (tests/servers/slurm.py)
ClusterName=xenonfs
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.socket}
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd.log
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,sched_interval=1,bf_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
# Without accounting a finished job is only known to slurmctld for MinJobAge s.
MinJobAge=3600
{node_line} NodeAddr=127.0.0.1 State=UNKNOWN
{partitions}
""")
        self.conf.chmod(0o644)

    def _spawn(self, name: str, argv: list[str], user: str | None = None) -> None:
        log = open(self.workdir / "log" / f"{name}.out", "wb")
        with log:
            self.procs[name] = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, **self.env}, user=user, group=user,
                extra_groups=[] if user else None, start_new_session=True)

    def _alive(self, name: str) -> bool:
        proc = self.procs[name]
        if proc.poll() is None:
            return True
        logs = [self.workdir / "log" / f"{name}.out", self.workdir / "log" / f"{name}.log"]
        text = "".join(p.read_text(errors="replace")[-2000:] for p in logs if p.exists())
        raise RuntimeError(f"{name} exited with {proc.returncode}:\n{text}")

    # -- stop ----------------------------------------------------------------------------
    def cancel_all(self, wait: float = 20) -> None:
        """Cancel every job of the cluster and wait until none is left running.

        A job's processes belong to slurmstepd, not to slurmd: stopping the
        daemons alone would leave them running.
        """
        if "slurmctld" not in self.procs or self.procs["slurmctld"].poll() is not None:
            return
        ids = self.run("squeue", "-h", "-o", "%A", check=False).stdout.split()
        if ids:
            self.run("scancel", *ids, check=False)
        try:
            wait_for(lambda: not self.run("squeue", "-h", "-o", "%A", check=False).stdout.split(),
                     wait, "the end of the cluster's jobs", interval=0.2)
        except TimeoutError:
            pass

    def stop(self) -> None:
        """Cancel the jobs, stop the daemons by PID, remove a temp dir we made."""
        try:
            self.cancel_all()
        finally:
            for name in ("slurmd", "slurmctld", "munged"):
                stop_child(self.procs.pop(name, None))
            if self._own_dir:
                shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> "SlurmCluster":
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

