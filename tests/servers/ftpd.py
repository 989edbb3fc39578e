"""vsftpd on a free loopback port for the ftp adaptor, stopped by its PID."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from .common import stop_child, ensure_user, free_port, wait_for


class FtpServer:
    """A private vsftpd (foreground, our child) for test user ``user``."""

    def __init__(self, user: str = "xenonfs-test") -> None:
        self.user = user
        self.password = ""
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.workdir: Path | None = None

    @property
    def home(self) -> Path:
        return Path(os.path.expanduser(f"~{self.user}"))

    @property
    def location(self) -> str:
        return f"127.0.0.1:{self.port}"

    @staticmethod
    def available() -> bool:
        return Path("/usr/sbin/vsftpd").exists()

    def start(self) -> "FtpServer":
        self.password = ensure_user(self.user)
        self.port = free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="xenonfs-ftpd-"))
        empty = self.workdir / "empty"
        empty.mkdir()
        conf = self.workdir / "vsftpd.conf"
        conf.write_text("\n".join([
            "listen=YES", "listen_ipv6=NO", "listen_address=127.0.0.1", f"listen_port={self.port}",
            "background=NO", "anonymous_enable=NO", "local_enable=YES", "write_enable=YES",
            "local_umask=022", "pam_service_name=vsftpd", f"secure_chroot_dir={empty}",
            f"vsftpd_log_file={self.workdir / 'vsftpd.log'}", "xferlog_enable=NO",
            "seccomp_sandbox=NO", "max_per_ip=0", "max_clients=0", ""]))
        os.chmod(conf, 0o600)
        self.proc = subprocess.Popen(["/usr/sbin/vsftpd", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)

        def answers() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"vsftpd exited: {self.proc.stderr.read().decode()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    return s.recv(3) == b"220"
            except OSError:
                return False
        wait_for(answers, 20, "vsftpd")
        return self

    def stop(self) -> None:
        stop_child(self.proc)
        self.proc = None
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
