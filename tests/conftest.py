"""Shared fixtures: one engine per test session, real servers on loopback."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator

import pytest

from tests.mounts import stop_daemon, wait_gone
from tests.servers.atd import AtDaemon
from tests.servers.ftpd import FtpServer
from tests.servers.gridengine import GridEngine
from tests.servers import gridengine as sge
from tests.servers import s3rver as s3rver_server
from tests.servers.s3 import MotoServer
from tests.servers.s3rver import S3rverServer
from tests.servers.slurm import SlurmCluster
from tests.servers.sshd import SshServer
from tests.servers.webdav import WebdavServer
from xenonfs.client import PasswordCredential, XenonClient
from xenonfs.engine.process import EngineSettings
from xenonfs.xenon.portal import Portal

SFTP_PROPS = {"xenon.adaptors.filesystems.sftp.strictHostKeyChecking": "false",
              "xenon.adaptors.filesystems.sftp.loadKnownHosts": "false"}
SSH_PROPS = {"xenon.adaptors.schedulers.ssh.strictHostKeyChecking": "false",
             "xenon.adaptors.schedulers.ssh.loadKnownHosts": "false"}


class Runner:
    """Runs async test bodies in the session's engine loop thread."""

    def __init__(self, portal: Portal) -> None:
        self.portal = portal

    @property
    def client(self) -> XenonClient:
        assert self.portal.client is not None
        return self.portal.client

    def __call__(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        return self.portal.run(fn, *args)


ROOT = Path(__file__).resolve().parent.parent


def _in_private_dirs(proc: Path) -> bool:
    """Returns: True for a daemon in a test session's private runtime dir (see
    `private_daemon_dirs`): that session stops it. Sessions run side by side
    in one checkout, and one must not stop another's daemon mid-test."""
    try:
        env = (proc / "environ").read_bytes().split(b"\0")
    except OSError:
        return False
    base = tempfile.gettempdir().encode()
    return any(v.startswith(b"XDG_RUNTIME_DIR=" + base + b"/pytest-of-") for v in env)


def _daemon_pids() -> set[int]:
    """Returns: PIDs of `xenonfs daemon` processes started from this checkout."""
    found = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if b"xenonfs.cli" in argv and b"daemon" in argv and cwd == str(ROOT) \
                and not _in_private_dirs(proc):
            found.add(int(proc.name))
    return found


@pytest.fixture(scope="session", autouse=True)
def no_daemon_left_behind() -> Iterator[None]:
    """Fails the session if a test left a daemon running (stopping it by PID).

    A test that runs `xenonfs` with an environment of its own and no
    XDG_RUNTIME_DIR starts a daemon in the default runtime dir, which no
    fixture stops: that happened once, unseen until the machine filled up with
    them. Set up before `private_daemon_dirs`, so it checks after that stops
    the session's daemon.
    """
    before = _daemon_pids()
    yield
    left = _daemon_pids() - before
    for pid in left:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        if not wait_gone(pid, 30):
            os.kill(pid, signal.SIGKILL)
    if left:
        pytest.fail(f"the tests left xenonfs daemons running: PIDs {sorted(left)} "
                    "(stopped now); a test ran `xenonfs` without the private XDG dirs")


@pytest.fixture(scope="session", autouse=True)
def private_daemon_dirs(no_daemon_left_behind: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every daemon the tests start (the first `xenonfs mount` starts one)
    lives in private runtime, config and state dirs: never a developer's own
    daemon, config or job registry. The session's daemon is stopped at the end, by its PID
    if `xenonfs stop` does not end it."""
    base = tmp_path_factory.mktemp("xdg")
    dirs = {"XDG_RUNTIME_DIR": base / "run", "XDG_CONFIG_HOME": base / "config",
            "XDG_STATE_HOME": base / "state"}
    saved = {k: os.environ.get(k) for k in dirs}
    for key, path in dirs.items():
        path.mkdir(mode=0o700)
        os.environ[key] = str(path)
    runtime = dirs["XDG_RUNTIME_DIR"]
    try:
        yield runtime
    finally:
        stop_daemon(runtime)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session", autouse=True)
def slurm_home() -> Iterator[Path]:
    """Where the session's Slurm cluster lives (the `slurm` fixture starts it).

    Slurm's tools find the cluster's config through SLURM_CONF, and the tools
    the engine runs see the environment it was started with: the daemon's (for
    slurm://) and the test sshd's sessions' (for slurm+ssh://, its SetEnv).
    So the path is fixed, and set, before either starts. Nothing is written to
    /etc/slurm. The directory is world-readable: the ssh test user's jobs read
    the config too.
    """
    path = Path(tempfile.mkdtemp(prefix="xenonfs-slurm-"))
    path.chmod(0o755)
    saved = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(SlurmCluster(path).conf)
    try:
        yield path
    finally:
        if saved is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = saved
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def slurm(slurm_home: Path) -> Iterator[SlurmCluster]:
    """A single-node Slurm cluster (munged, slurmctld, slurmd), our children."""
    if not SlurmCluster.available():
        pytest.fail("slurm is not installed (apt-get install slurm-wlm munge; .ci/run does)")
    cluster = SlurmCluster(slurm_home).start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def engine() -> Iterator[Runner]:
    """One engine for the session; tests run coroutines with ``engine(fn)``."""
    portal = Portal(EngineSettings(heap="256m"))
    try:
        yield Runner(portal)
    finally:
        portal.stop()


@pytest.fixture(scope="session")
def sshd(slurm_home: Path) -> Iterator[SshServer]:
    """A real OpenSSH server on loopback with a test user (whose sessions see
    the test Slurm cluster's SLURM_CONF, as a site's login profile would set it)."""
    if not shutil.which("sshd") and not os.path.exists("/usr/sbin/sshd"):
        pytest.fail("sshd is not installed (apt-get install openssh-server)")
    server = SshServer(env={"SLURM_CONF": os.environ["SLURM_CONF"]}).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def ftpd() -> Iterator[FtpServer]:
    """A real vsftpd on loopback for the same test user as sshd."""
    if not FtpServer.available():
        pytest.fail("vsftpd is not installed (apt-get install vsftpd; .ci/run does)")
    server = FtpServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def atd() -> Iterator[AtDaemon]:
    """atd, started by us (the `at` scheduler's daemon)."""
    if not AtDaemon.available():
        pytest.fail("at is not installed (apt-get install at; .ci/run does)")
    daemon = AtDaemon().start()
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture(scope="session")
def gridengine() -> Iterator[GridEngine]:
    """Debian's gridengine (qmaster + execd on this host, queue all.q), started by
    us unless it runs, stopped by its PID files by its last user."""
    if not sge.available():
        pytest.fail("gridengine is not installed (apt-get install gridengine-master "
                    "gridengine-exec gridengine-client; .ci/run does)")
    cluster = GridEngine().start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def s3() -> Iterator[MotoServer]:
    """A real S3 server (moto's server mode) on loopback with one bucket."""
    try:
        import moto  # noqa: F401  (the test extra installs it)
    except ImportError:
        pytest.fail("moto is not installed: pip install -e '.[test]'")
    server = MotoServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3rver() -> Iterator[S3rverServer]:
    """A second real S3 server (s3rver, Node.js) on loopback with one bucket;
    its first use installs the pinned s3rver with npm (tests/servers/npm)."""
    if not s3rver_server.available():
        pytest.fail("node and npm are not installed (apt-get install nodejs npm; .ci/run does)")
    server = S3rverServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def webdav() -> Iterator[WebdavServer]:
    """A real apache2 + mod_dav on loopback (Basic auth, random password), share at /dav."""
    if not WebdavServer.available():
        pytest.fail("apache2 is not installed (apt-get install apache2 apache2-utils; .ci/run does)")
    server = WebdavServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sftp_credential(sshd: SshServer) -> PasswordCredential:
    return PasswordCredential(sshd.user, sshd.password)
