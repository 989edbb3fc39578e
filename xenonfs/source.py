"""Mount sources (``sftp://user@host:22/path`` ...) and the mount option table."""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit


class SourceError(ValueError):
    """A mount source or option is malformed; the message names it."""


@dataclass(frozen=True)
class Source:
    """Where a mount's files live.

    Attributes:
        adaptor: engine file system adaptor.
        location: engine location string.
        root: remote directory that becomes the mount's root.
        user: login name, or None.
        url: the source as given.
    """

    adaptor: str
    location: str
    root: str
    user: str | None
    url: str


_SSHFS_STYLE = re.compile(r"^(?:(?P<user>[^@/:]+)@)?(?P<host>[^@/:]+):(?P<path>.*)$")


def parse_source(text: str) -> Source:
    """Parse a mount source.

    Args:
        text: ``file:///abs``, ``sftp://[user@]host[:port]/path``, ``user@host:path``,
            ``ftp://...``, ``s3+http(s)://[key@]host:port/bucket[/prefix]``,
            ``webdav+http(s)://[user@]host:port/path``.

    Returns:
        The parsed source.

    Raises:
        SourceError: unknown scheme, missing host or path.
    """
    m = None if "://" in text else _SSHFS_STYLE.match(text)
    if m:
        path = m.group("path") or "."
        return Source("sftp", m.group("host"), path, m.group("user"), text)
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    user = unquote(parts.username) if parts.username else None
    path = unquote(parts.path) or "/"
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise SourceError(f"file source must be file:///absolute/path, got {text!r}")
        return Source("file", "/", os.path.normpath(path), None, text)
    if not parts.hostname:
        raise SourceError(f"source {text!r} has no host")
    hostport = parts.hostname + (f":{parts.port}" if parts.port else "")
    if scheme in ("sftp", "ftp"):
        return Source(scheme, hostport, path, user, text)
    if scheme in ("s3+http", "s3+https"):
        segments = [s for s in path.split("/") if s]
        if not segments:
            raise SourceError(f"s3 source {text!r} names no bucket")
        base = scheme.split("+")[1]
        return Source("s3", f"{base}://{hostport}/{segments[0]}",
                      "/" + "/".join(segments[1:]), user, text)
    if scheme in ("webdav+http", "webdav+https"):
        base = scheme.split("+")[1]
        # The engine resolves absolute paths from the server's root; the
        # location's path only becomes its working directory. So the mount's
        # root is the URL path itself.
        root = "/" + posixpath.normpath(path).lstrip("/")
        return Source("webdav", f"{base}://{hostport}{root}", root, user, text)
    raise SourceError(f"unknown source scheme {scheme!r} in {text!r}: use file, sftp, ftp, "
                      "s3+http(s) or webdav+http(s)")


def _bool(value: str, name: str) -> bool:
    if value.lower() in ("yes", "true", "1", "on", ""):
        return True
    if value.lower() in ("no", "false", "0", "off"):
        return False
    raise SourceError(f"option {name}={value!r}: expected yes or no")


def _seconds(value: str, name: str) -> float:
    try:
        result = float(value)
    except ValueError:
        raise SourceError(f"option {name}={value!r}: expected a number of seconds") from None
    if result < 0:
        raise SourceError(f"option {name}={value!r}: must not be negative")
    return result


def _size(value: str, name: str) -> int:
    m = re.fullmatch(r"(\d+)([KMGT]?)i?B?", value.strip(), re.I)
    if not m:
        raise SourceError(f"option {name}={value!r}: expected a size such as 10G or 512M")
    return int(m.group(1)) * 1024 ** " KMGT".index(m.group(2).upper() or " ")


@dataclass
class MountOptions:
    """The ``-o`` options of a mount (stable names; sshfs's where they mean the same).

    Attributes:
        password_file: file holding the password (first line).
        password_env: environment variable holding the password.
        identity: private key file (certificate credential).
        strict_host_key_checking: check the server's host key (sftp).
        attr_timeout: seconds attributes are cached.
        dir_timeout: seconds directory listings are cached.
        cache_dir: where file data is cached (default: XDG cache).
        cache_max_size: bytes of clean cached data kept.
        ro: read-only mount.
        allow_other: let other users see the mount.
        scheduler: scheduler URL for the mount's `.jobs/` (default: local for
            file://, ssh to the same host for sftp://).
        job_poll_interval: seconds between job status polls.
        engine_properties: ``xenon.adaptors.*`` properties passed through.
    """

    password_file: str | None = None
    password_env: str | None = None
    identity: str | None = None
    strict_host_key_checking: bool = True
    attr_timeout: float = 1.0
    dir_timeout: float = 5.0
    cache_dir: str | None = None
    cache_max_size: int = 10 * 1024 ** 3
    ro: bool = False
    allow_other: bool = False
    scheduler: str | None = None
    job_poll_interval: float = 2.0
    engine_properties: dict[str, str] = field(default_factory=dict)
    #: A password already resolved by whoever holds it (the CLI from its
    #: environment, the daemon from its config); never from ``-o``, never logged.
    secret: str | None = field(default=None, repr=False, compare=False)

    _PARSERS = {
        "password_file": lambda v, n: v, "password_env": lambda v, n: v,
        "identity": lambda v, n: v, "strict_host_key_checking": _bool,
        "attr_timeout": _seconds, "dir_timeout": _seconds, "cache_dir": lambda v, n: v,
        "cache_max_size": _size, "ro": _bool, "allow_other": _bool,
        "scheduler": lambda v, n: v, "job_poll_interval": _seconds,
    }

    @classmethod
    def parse(cls, options: list[str]) -> "MountOptions":
        """Args: options: ``-o`` values (each comma-separated ``name[=value]``).

        Returns:
            The options.

        Raises:
            SourceError: an unknown option or a bad value (named in the message).
        """
        result = cls()
        for group in options:
            for item in filter(None, (o.strip() for o in group.split(","))):
                name, _, value = item.partition("=")
                if name.startswith("xenon.adaptors."):
                    result.engine_properties[name] = value
                elif name == "rw":
                    result.ro = False
                elif name in cls._PARSERS:
                    setattr(result, name, cls._PARSERS[name](value, name))  # type: ignore
                else:
                    raise SourceError(f"unknown mount option {name!r}; known: "
                                      + ", ".join(sorted([*cls._PARSERS, "rw",
                                                          "xenon.adaptors.*"])))
        if result.password_file and result.password_env:
            raise SourceError("give password_file or password_env, not both")
        return result

    def password(self) -> str | None:
        """Returns: the password from password_file/password_env, or None.

        Raises:
            SourceError: the file or variable is missing or empty.
        """
        if self.secret is not None:
            return self.secret
        if self.password_file:
            try:
                text = open(os.path.expanduser(self.password_file)).readline().rstrip("\r\n")
            except OSError as exc:
                raise SourceError(f"password_file {self.password_file}: {exc.strerror}") from None
            if not text:
                raise SourceError(f"password_file {self.password_file} is empty")
            return text
        if self.password_env:
            value = os.environ.get(self.password_env)
            if not value:
                raise SourceError(f"password_env {self.password_env} is not set or empty")
            return value
        return None
