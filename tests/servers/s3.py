"""S3 servers on loopback (the shared `S3Server`; moto's S3, see moto_s3.py), and a
path-like view of a bucket. s3rver (the second implementation) is in s3rver.py.

From a script::

    from tests.servers.s3 import MotoServer
    with MotoServer() as s3:
        print(s3.url("prefix"), s3.access_key, s3.secret)   # mount source and credential

moto < 5.2 is needed: 5.2's listing answers make jclouds (inside the engine)
fail with a NullPointerException. The server keeps everything in memory (large
objects spill to its temporary files); it is stopped by its PID.
"""

from __future__ import annotations

import hashlib
import posixpath
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Iterator

from .common import free_port, stop_child, wait_for

#: Written by the engine's s3 adaptor to make a directory exist (and hidden by it).
MARKER = "___not__empty___"


@dataclass
class S3Server:
    """What every S3 server fixture shares: one bucket on a free loopback port,
    our child process in a private directory, stopped by its PID.

    Subclasses say how to start the server (`_command`) and how to finish
    setting it up once it answers (`_prepare`).

    Attributes:
        bucket: exists once `start` returns.
        access_key, secret: the credential the server accepts; the tests pass
            them the way users do (key in the URL, secret by password_env).
    """

    bucket: str = "xenonfs-test"
    access_key: str = "XENONFSKEY"
    secret: str = field(default="xenonfs-secret", repr=False)
    port: int = 0
    proc: "subprocess.Popen[bytes] | None" = None
    workdir: Path | None = None
    #: Program name, in messages and the private directory's name.
    name: ClassVar[str] = "s3-server"

    @property
    def endpoint(self) -> str:
        """Returns: ``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def location(self) -> str:
        """Returns: the engine location of the bucket."""
        return f"{self.endpoint}/{self.bucket}"

    def url(self, prefix: str = "") -> str:
        """Returns: the xenonfs mount source for ``prefix`` of the bucket."""
        tail = f"/{prefix.strip('/')}" if prefix.strip("/") else ""
        return f"s3+http://{self.access_key}@127.0.0.1:{self.port}/{self.bucket}{tail}"

    def _command(self) -> tuple[list[str], dict[str, str]]:
        """Returns: argv and environment of the server (port and workdir are set)."""
        raise NotImplementedError

    def _prepare(self) -> None:
        """Finish the setup once the server answers (e.g. create the bucket)."""

    def start(self) -> "S3Server":
        """Start the server on a free port, wait until it answers, make the bucket.

        Raises:
            RuntimeError: the server exited (its output is in the message).
            TimeoutError: it did not answer within a minute.
        """
        self.workdir = Path(tempfile.mkdtemp(prefix=f"xenonfs-{self.name}-"))
        self.port = free_port()

        def answers() -> bool:
            if self.proc.poll() is not None:  # type: ignore[union-attr]
                raise RuntimeError(f"{self.name} exited: {self.log_tail()}")
            try:
                with urllib.request.urlopen(self.endpoint + "/", timeout=1):
                    return True
            except urllib.error.HTTPError:
                return True  # an S3 error document (e.g. AccessDenied) is an answer too
            except OSError:
                return False
        try:
            argv, env = self._command()
            with open(self.workdir / "server.log", "wb") as log:
                self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, env=env, cwd=self.workdir)
            wait_for(answers, 60, self.name)
            self._prepare()
        except BaseException:
            self.stop()
            raise
        return self

    def log_tail(self) -> str:
        """Returns: the end of the server's output."""
        try:
            return (self.workdir / "server.log").read_text(errors="replace")[-2000:]  # type: ignore
        except (OSError, TypeError):
            return ""

    def stop(self) -> None:
        """Stop the server by its PID and remove its files."""
        stop_child(self.proc)
        self.proc = None
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def __enter__(self) -> "S3Server":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def client(self) -> Any:
        """Returns: a boto3 S3 client for this server (path-style addressing)."""
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret,
                            config=Config(s3={"addressing_style": "path"}))

    def path(self, key: str = "") -> "S3Path":
        """Returns: a path-like view of ``key`` in the bucket (seen from outside the mount)."""
        return S3Path(self.client(), self.bucket, key.strip("/"))


@dataclass
class MotoServer(S3Server):
    """A private moto S3 server (our child, moto_s3.py); any access key and secret work."""

    name: ClassVar[str] = "moto"

    def _command(self) -> tuple[list[str], dict[str, str]]:
        # Its temporary files (large objects) go to our private directory.
        env = {"TMPDIR": str(self.workdir), "PATH": "/usr/bin:/bin"}
        # moto's S3 alone, not moto_server's all-services dispatcher: that one
        # turns one jclouds request in ~1400 into a 500 (see moto_s3.py).
        return [sys.executable, str(Path(__file__).with_name("moto_s3.py")),
                "-H", "127.0.0.1", "-p", str(self.port)], env

    def _prepare(self) -> None:
        self.client().create_bucket(Bucket=self.bucket)


@dataclass(frozen=True)
class _Stat:
    st_size: int


class S3Path:
    """The few `pathlib.Path` methods the mount tests use on the remote side,
    over an S3 bucket: a "directory" is a key prefix, as the adaptor sees it.

    Args:
        client: boto3 S3 client.
        bucket: bucket name.
        key: key ("" is the bucket root).
    """

    def __init__(self, client: Any, bucket: str, key: str) -> None:
        self.client, self.bucket, self.key = client, bucket, key

    def __truediv__(self, name: str) -> "S3Path":
        return S3Path(self.client, self.bucket, posixpath.join(self.key, name).strip("/"))

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    __repr__ = __str__

    @property
    def name(self) -> str:
        return posixpath.basename(self.key)

    def _keys(self) -> Iterator[str]:
        prefix = f"{self.key}/" if self.key else ""
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                          Prefix=prefix):
            for obj in page.get("Contents", []):
                yield obj["Key"]

    def _head(self) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        if not self.key:
            return None
        try:
            return self.client.head_object(Bucket=self.bucket, Key=self.key)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def is_file(self) -> bool:
        return self._head() is not None

    def is_dir(self) -> bool:
        return next(self._keys(), None) is not None

    def exists(self) -> bool:
        return self.is_file() or self.is_dir()

    def is_symlink(self) -> bool:
        return False

    def stat(self) -> _Stat:
        head = self._head()
        if head is None:
            raise FileNotFoundError(2, "no such object", str(self))
        return _Stat(int(head["ContentLength"]))

    def read_bytes(self) -> bytes:
        from botocore.exceptions import ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.key)["Body"].read()
        except ClientError as exc:
            raise FileNotFoundError(2, str(exc), str(self)) from None

    def read_text(self) -> str:
        return self.read_bytes().decode()

    def write_bytes(self, data: bytes) -> int:
        self.client.put_object(Bucket=self.bucket, Key=self.key, Body=data)
        return len(data)

    def write_text(self, text: str) -> int:
        return self.write_bytes(text.encode())

    def upload(self, local: Path) -> None:
        """Put a local file's bytes at this key (multipart for big files)."""
        self.client.upload_file(str(local), self.bucket, self.key)

    def md5(self) -> str:
        """Returns: the MD5 of the object's bytes, read in one streamed GET
        (moto answers boto3's many ranged GETs of a big object very slowly)."""
        body = self.client.get_object(Bucket=self.bucket, Key=self.key)["Body"]
        digest = hashlib.md5()
        for chunk in body.iter_chunks(1 << 20):
            digest.update(chunk)
        return digest.hexdigest()

    def mkdir(self) -> None:
        """Make the prefix exist the way the adaptor's createDirectory does."""
        self.client.put_object(Bucket=self.bucket, Key=f"{self.key}/{MARKER}", Body=b"")

    def unlink(self) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.key)

    def rmtree(self) -> None:
        """Delete every object under this prefix."""
        keys = list(self._keys())
        for i in range(0, len(keys), 1000):
            self.client.delete_objects(Bucket=self.bucket, Delete={
                "Objects": [{"Key": k} for k in keys[i:i + 1000]]})

    def listdir(self) -> list[str]:
        """Returns: names directly under this prefix, markers included (raw S3 view)."""
        names = set()
        start = len(self.key) + 1 if self.key else 0
        for key in self._keys():
            names.add(key[start:].split("/", 1)[0])
        return sorted(names)


if __name__ == "__main__":  # a server for manual runs: prints how to reach it
    with MotoServer() as server:
        print(f"location {server.location}  mount source {server.url()}  "
              f"key {server.access_key}  secret {server.secret}  (Ctrl-C stops)", flush=True)
        try:
            server.proc.wait()  # type: ignore[union-attr]
        except KeyboardInterrupt:
            pass
