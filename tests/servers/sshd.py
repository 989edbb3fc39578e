"""OpenSSH on loopback: a private sshd with a test user (password and key logins)."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .common import ensure_user, free_port, read_pid, stop_pid, wait_for

USER = "xenonfs-test"


@dataclass
class SshServer:
    """A running sshd. `start` it, `stop` it (by the PID in its PidFile)."""

    user: str = USER
    port: int = 0
    password: str = field(default="", repr=False)
    workdir: Path | None = None
    key_files: dict[str, Path] = field(default_factory=dict)
    #: Variables every session gets (sshd's SetEnv), as a site's profile would set them.
    env: dict[str, str] = field(default_factory=dict)
    #: sshd's AcceptEnv patterns; None: no AcceptEnv line (a default sshd,
    #: which refuses every variable a client sends).
    accept_env: str | None = "XENONFS_*"
    #: Our lines in the user's authorized_keys (removed again at stop).
    _keys: list[str] = field(default_factory=list, repr=False)

    @property
    def location(self) -> str:
        """Returns: ``127.0.0.1:PORT`` (engine location form)."""
        return f"127.0.0.1:{self.port}"

    @property
    def home(self) -> Path:
        """Returns: the test user's home directory."""
        return Path(pwd.getpwnam(self.user).pw_dir)

    def start(self) -> "SshServer":
        """Start sshd on a free port and wait until it sends its banner."""
        if not os.path.exists(self._sshd()):
            raise RuntimeError("sshd missing: apt-get install openssh-server")
        self.password = ensure_user(self.user)
        self.workdir = Path(tempfile.mkdtemp(prefix="xenonfs-sshd-"))
        os.chmod(self.workdir, 0o755)
        host_key = self.workdir / "host_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)],
                       check=True)
        self._user_keys()
        os.makedirs("/run/sshd", exist_ok=True)
        self.port = free_port()
        conf = self.workdir / "sshd_config"
        set_env = "".join(f"SetEnv {k}={v}\n" for k, v in self.env.items())
        accept_env = f"AcceptEnv {self.accept_env}\n" if self.accept_env else ""
        conf.write_text(f"""{set_env}Port {self.port}
ListenAddress 127.0.0.1
ListenAddress ::1
HostKey {host_key}
PidFile {self.workdir}/sshd.pid
PasswordAuthentication yes
PubkeyAuthentication yes
PubkeyAcceptedAlgorithms +ssh-rsa
KbdInteractiveAuthentication no
UsePAM yes
AllowUsers {self.user}
{accept_env}MaxSessions 50
MaxStartups 50:30:100
Subsystem sftp internal-sftp
""")
        self.resume()
        return self

    @staticmethod
    def _sshd() -> str:
        return shutil.which("sshd") or "/usr/sbin/sshd"

    def resume(self) -> None:
        """(Re)start the daemon on the same port with the same keys."""
        assert self.workdir is not None
        subprocess.run([self._sshd(), "-f", str(self.workdir / "sshd_config"),
                        "-E", str(self.workdir / "sshd.log")], check=True)
        wait_for(self._banner, 15, "sshd")

    def interrupt(self) -> None:
        """Stop the daemon AND cut every session of the test user (a server crash)."""
        assert self.workdir is not None
        stop_pid(read_pid(self.workdir / "sshd.pid"))
        subprocess.run(["pkill", "-KILL", "-f", f"sshd: {self.user}"], check=False)
        subprocess.run(["pkill", "-KILL", "-u", self.user], check=False)

        def sessions_gone() -> bool:
            pids = subprocess.run(["pgrep", "-f", f"sshd: {self.user}"], capture_output=True,
                                  text=True).stdout.split()
            for pid in pids:
                try:
                    if Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z":
                        return False
                except FileNotFoundError:
                    pass
            return True

        wait_for(sessions_gone, 10, "end of the ssh sessions")

    def _user_keys(self) -> None:
        assert self.workdir is not None
        entry = pwd.getpwnam(self.user)
        ssh_dir = Path(entry.pw_dir) / ".ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        keys = []
        for kind, extra in (("ed25519", []), ("rsa", ["-b", "3072", "-m", "PEM"]),
                            ("ecdsa", ["-b", "256", "-m", "PEM"])):
            path = self.workdir / f"id_{kind}"
            subprocess.run(["ssh-keygen", "-q", "-t", kind, *extra, "-N", "", "-f", str(path)],
                           check=True)
            self.key_files[kind] = path
            keys.append((path.with_suffix(".pub")).read_text())
        # Added, not replaced: several servers (a test session, a benchmark, a
        # developer's `python -m tests.servers up`) share the test user.
        auth = ssh_dir / "authorized_keys"
        self._keys = keys
        with open(auth, "a") as f:
            f.write("".join(keys))
        for p in (ssh_dir, auth):
            os.chown(p, entry.pw_uid, entry.pw_gid)
        auth.chmod(0o600)

    def _banner(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                return s.recv(64).startswith(b"SSH-")
        except OSError:
            return False

    def _kill_leftovers(self) -> None:
        """Kill what sessions of this sshd left running: a cancelled ssh job's
        process lives on (the engine's ssh adaptor only closes its channel).
        They are known by the SSH_CONNECTION their session gave them."""
        marks = (f" 127.0.0.1 {self.port}".encode(), f" ::1 {self.port}".encode())
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                env = (proc / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(v.startswith(b"SSH_CONNECTION=") and v.endswith(marks) for v in env):
                try:
                    os.kill(int(proc.name), signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def stop(self) -> None:
        """Stop sshd by its PID (and what its sessions left running) and remove
        its directory."""
        if self.workdir is None:
            return
        stop_pid(read_pid(self.workdir / "sshd.pid"))
        self._kill_leftovers()
        auth = self.home / ".ssh" / "authorized_keys"
        try:
            kept = [line for line in auth.read_text().splitlines(keepends=True)
                    if line not in self._keys]
            auth.write_text("".join(kept))
        except FileNotFoundError:
            pass
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.workdir = None
