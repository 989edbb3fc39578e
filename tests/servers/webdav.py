"""apache2 + mod_dav on a free loopback port for the webdav adaptor, stopped by its PID.

A private server: its own config (passed by absolute path, so no system-wide
apache file is read or written), document root, lock database, htpasswd and
logs in one temporary directory, all removed at `stop`. Basic auth for one
user with a random password (given to htpasswd on stdin, never in argv).
``https=True`` adds TLS with a fresh self-signed certificate (`cert_file`).

By hand: ``python -m tests.servers up webdav`` (see tests/servers/__main__.py).
"""

from __future__ import annotations

import base64
import datetime
import http.client
import os
import pwd
import secrets
import shutil
import ssl
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .common import free_port, read_pid, stop_pid, wait_for

APACHE = "/usr/sbin/apache2"
MODULES = "/usr/lib/apache2/modules"
#: mod_dir + mod_autoindex + Options +Indexes: without them a GET of a
#: collection is 404, and the engine's existence check fails on every directory.
_MODULES = ["mpm_event", "authz_core", "authz_user", "authn_core", "authn_file", "auth_basic",
            "dav", "dav_fs", "dir", "autoindex"]


@dataclass
class WebdavServer:
    """A running apache2 serving WebDAV under ``/dav``. `start` it, `stop` it.

    Attributes:
        user: the Basic auth user.
        password: its random password.
        https: serve TLS (self-signed) instead of plain http.
        run_as: the system user apache's workers run as (owns `root`).
        port: the port on 127.0.0.1.
        workdir: the private directory with config, logs and data.
    """

    user: str = "xenonfs"
    password: str = field(default="", repr=False)
    https: bool = False
    run_as: str = "www-data"
    port: int = 0
    workdir: Path | None = None

    @staticmethod
    def available() -> bool:
        """Returns: True if apache2 with mod_dav_fs and htpasswd are installed."""
        return (os.path.exists(APACHE) and os.path.exists(f"{MODULES}/mod_dav_fs.so")
                and shutil.which("htpasswd") is not None)

    @property
    def root(self) -> Path:
        """Returns: the directory served as ``/dav`` (owned by `run_as`)."""
        assert self.workdir is not None
        return self.workdir / "htdocs" / "dav"

    @property
    def url(self) -> str:
        """Returns: ``http(s)://127.0.0.1:PORT/dav`` (the engine location)."""
        return f"{'https' if self.https else 'http'}://127.0.0.1:{self.port}/dav"

    @property
    def password_file(self) -> Path:
        """Returns: a root-only file holding `password` (for ``-o password_file=``)."""
        assert self.workdir is not None
        return self.workdir / "password"

    @property
    def cert_file(self) -> Path:
        """Returns: the server's self-signed certificate (PEM), with ``https``."""
        assert self.workdir is not None
        return self.workdir / "server.crt"

    def start(self) -> "WebdavServer":
        """Start apache on a free port and wait until it answers an authenticated PROPFIND.

        Raises:
            RuntimeError: apache is missing or exited (its error log is in the message).
            TimeoutError: it did not answer in time.
        """
        if not self.available():
            raise RuntimeError("apache2 missing: apt-get install apache2 apache2-utils")
        self.workdir = Path(tempfile.mkdtemp(prefix="xenonfs-webdav-"))
        try:
            self._launch()
        except BaseException:
            self.stop()
            raise
        return self

    def _launch(self) -> None:
        """Write the config and password file, start apache, wait for it."""
        assert self.workdir is not None
        owner = pwd.getpwnam(self.run_as)
        self.password = secrets.token_urlsafe(16)
        fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.password + "\n")
        os.chmod(self.workdir, 0o755)  # the workers (run_as) must reach htdocs/ and lock/
        # The document root is plain (no DAV): only /dav is the WebDAV share, so a
        # path resolved against the server root instead of /dav shows up in tests.
        (self.workdir / "htdocs").mkdir()
        for d in (self.root, self.workdir / "lock"):
            d.mkdir()
            os.chown(d, owner.pw_uid, owner.pw_gid)
        htpasswd = self.workdir / "htpasswd"
        subprocess.run(["htpasswd", "-i", "-c", "-B", "-C", "4", str(htpasswd), self.user],
                       input=self.password, text=True, check=True, capture_output=True)
        os.chmod(htpasswd, 0o640)
        os.chown(htpasswd, 0, owner.pw_gid)
        self.port = free_port()
        conf = self.workdir / "httpd.conf"
        conf.write_text(self._config())
        result = subprocess.run([APACHE, "-f", str(conf), "-k", "start"], capture_output=True,
                                text=True, env=self._env())
        if result.returncode != 0:
            raise RuntimeError(f"apache2 failed to start: {result.stderr.strip()} "
                               f"{self._error_log()}")
        wait_for(self._answers, 20, "apache2 (webdav)")

    def _env(self) -> dict[str, str]:
        # apache2 reads APACHE_* from /etc/apache2/envvars only through apache2ctl;
        # run directly it needs none, but a stale APACHE_CONFDIR must not leak in.
        return {k: v for k, v in os.environ.items() if not k.startswith("APACHE_")}

    def _config(self) -> str:
        assert self.workdir is not None
        w = self.workdir
        lines = [f"ServerRoot {w}", "ServerName localhost", f"Listen 127.0.0.1:{self.port}",
                 f"PidFile {w}/httpd.pid", f"ErrorLog {w}/error.log", "LogLevel warn",
                 f"DefaultRuntimeDir {w}", f"Mutex file:{w} default",
                 f"User {self.run_as}", f"Group #{pwd.getpwnam(self.run_as).pw_gid}",
                 *(f"LoadModule {m}_module {MODULES}/mod_{m}.so" for m in _MODULES)]
        if self.https:
            self._make_certificate()
            lines += [f"LoadModule ssl_module {MODULES}/mod_ssl.so",
                      f"LoadModule socache_shmcb_module {MODULES}/mod_socache_shmcb.so",
                      f"SSLSessionCache shmcb:{w}/ssl_scache(512000)",
                      "SSLEngine on", f"SSLCertificateFile {self.cert_file}",
                      f"SSLCertificateKeyFile {w}/server.key"]
        lines += [
            f"DAVLockDB {w}/lock/DAVLock",
            # Large PUTs: no body limit, and time enough on a slow shared machine.
            "LimitRequestBody 0", "Timeout 600",
            f"DocumentRoot {w}/htdocs",
            f"<Directory {w}/htdocs>", "  Options +Indexes", "</Directory>",
            f"<Directory {self.root}>",
            "  DAV On",
            "  Options +Indexes",
            "  AuthType Basic",
            "  AuthName xenonfs-test",
            "  AuthBasicProvider file",
            f"  AuthUserFile {w}/htpasswd",
            "  Require valid-user",
            "</Directory>", ""]
        return "\n".join(lines)

    def _make_certificate(self) -> None:
        """Write a self-signed certificate for 127.0.0.1/localhost and its key (0600)."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
        import ipaddress

        assert self.workdir is not None
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=2))
                .add_extension(x509.SubjectAlternativeName([
                    x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                    critical=False)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256()))
        key_file = self.workdir / "server.key"
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        self.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    def java_trust_args(self) -> list[str]:
        """Make a Java trust store holding only this server's certificate.

        Returns:
            JVM options that make the engine trust it (``EngineSettings.jvm_args``).
        """
        from xenonfs.engine.locate import find_java

        assert self.workdir is not None and self.https
        store = self.workdir / "trust.p12"
        keytool = find_java().parent / "keytool"
        # The store holds a public certificate only; its password protects nothing.
        subprocess.run([str(keytool), "-importcert", "-noprompt", "-alias", "webdav-test",
                        "-file", str(self.cert_file), "-keystore", str(store),
                        "-storetype", "PKCS12", "-storepass", "changeit"],
                       check=True, capture_output=True)
        return [f"-Djavax.net.ssl.trustStore={store}", "-Djavax.net.ssl.trustStoreType=PKCS12",
                "-Djavax.net.ssl.trustStorePassword=changeit"]

    def _answers(self) -> bool:
        """Returns: True once an authenticated PROPFIND of /dav/ succeeds (207)."""
        assert self.workdir is not None
        if read_pid(self.workdir / "httpd.pid") is None and ":emerg]" in self._error_log():
            raise RuntimeError(f"apache2 exited: {self._error_log()}")
        if self.https:
            ctx = ssl.create_default_context(cafile=str(self.cert_file))
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                "127.0.0.1", self.port, timeout=2, context=ctx)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        try:
            conn.request("PROPFIND", "/dav/", headers={"Depth": "0",
                                                       "Authorization": f"Basic {token}"})
            return conn.getresponse().status == 207
        except OSError:
            return False
        finally:
            conn.close()

    def _error_log(self) -> str:
        try:
            return (self.workdir / "error.log").read_text()[-2000:]  # type: ignore[operator]
        except (OSError, TypeError):
            return ""

    def stop(self) -> None:
        """Stop apache by the PID in its PidFile (it stops its workers) and remove the temp dir."""
        if self.workdir is None:
            return
        stop_pid(read_pid(self.workdir / "httpd.pid"), timeout=15)
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.workdir = None

    def __enter__(self) -> "WebdavServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

