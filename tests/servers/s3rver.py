"""s3rver (Node.js, from the npm registry) on loopback: a second S3 server
implementation next to moto, with the same interface (`S3Server`).

By hand: ``python -m tests.servers up s3rver``; from a script::

    from tests.servers.s3rver import S3rverServer
    with S3rverServer() as s3:
        print(s3.url("prefix"), s3.access_key, s3.secret)   # mount source and credential

s3rver 3.7.1 and its dependencies are pinned by tests/servers/npm/package-lock.json
and installed on first use with ``npm ci`` into a cache outside the repository
(`cache_root`), one directory per lock file, so a run needs no extra setup
step beyond node and npm (``apt-get install nodejs npm``; .ci/run does).
Objects are kept as files in the server's private directory.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from .s3 import S3Server

#: package.json + package-lock.json of the Node servers the tests use.
NPM_PROJECT = Path(__file__).resolve().parent / "npm"


def available() -> bool:
    """Returns: True if node and npm are installed."""
    return bool(shutil.which("node") and shutil.which("npm"))


def cache_root() -> Path:
    """Returns: where npm installs go: next to the test users' password files
    when we may write there (root, as the tests run), else the user's cache."""
    store = Path("/var/lib/xenonfs-tests")
    if os.geteuid() == 0:
        return store / "npm"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "xenonfs-tests" / "npm"


def install() -> Path:
    """Install the pinned s3rver once (later calls find it).

    Returns:
        The path of s3rver's command-line script.

    Raises:
        RuntimeError: node/npm are missing, or ``npm ci`` failed (its output is in the message).
    """
    if not available():
        raise RuntimeError("node and npm are needed for s3rver (apt-get install nodejs npm)")
    files = ("package.json", "package-lock.json")
    digest = hashlib.sha256(b"".join((NPM_PROJECT / f).read_bytes() for f in files)).hexdigest()
    root = cache_root()
    target = root / digest[:16]
    script = target / "node_modules" / "s3rver" / "bin" / "s3rver.js"
    if script.is_file():
        return script
    root.mkdir(parents=True, exist_ok=True)
    # Concurrent sessions (an engineer's run and CI, say) install one at a
    # time; the finished tree appears by one rename, so a half install is never used.
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if script.is_file():
            return script
        work = Path(tempfile.mkdtemp(prefix=".install-", dir=root))
        try:
            for f in files:
                shutil.copyfile(NPM_PROJECT / f, work / f)
            # --ignore-scripts: nothing in the tree needs an install script; npm's
            # download cache stays in our directory, not the user's ~/.npm.
            result = subprocess.run(
                ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund",
                 "--cache", str(root / ".npm-cache")],
                cwd=work, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600)
            if result.returncode != 0:
                raise RuntimeError(f"npm ci of s3rver failed in {work}: "
                                   f"{(result.stdout + result.stderr)[-2000:]}")
            work.rename(target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return script


@dataclass
class S3rverServer(S3Server):
    """A private s3rver (node is our child, run directly: its PID is the server's).

    s3rver accepts the one credential S3RVER/S3RVER.
    """

    access_key: str = "S3RVER"
    secret: str = field(default="S3RVER", repr=False)
    name: ClassVar[str] = "s3rver"

    def _command(self) -> tuple[list[str], dict[str, str]]:
        script = install()
        node = shutil.which("node")
        assert node and self.workdir
        data = self.workdir / "data"
        data.mkdir()
        # --allow-mismatched-signatures: s3rver computes jclouds' V2 signatures
        # differently and would refuse every request of the engine.
        argv = [node, str(script), "-d", str(data), "-a", "127.0.0.1", "-p", str(self.port),
                "--allow-mismatched-signatures", "--configure-bucket", self.bucket]
        return argv, {"PATH": "/usr/bin:/bin", "HOME": str(self.workdir)}

    def _prepare(self) -> None:
        # The bucket is made before the server listens; this checks the credential too.
        self.client().head_bucket(Bucket=self.bucket)

