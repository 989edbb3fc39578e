"""Mount sources (``sftp://user@host:22/path`` ...) and the mount option table."""

from __future__ import annotations

import math
import os
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any, Callable
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
        host, port: the server (sftp, ftp), as given (None: the default).
    """

    adaptor: str
    location: str
    root: str
    user: str | None
    url: str
    host: str | None = None
    port: int | None = None


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
        return Source("sftp", m.group("host"), path, m.group("user"), text, m.group("host"))
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
    try:
        port = parts.port
    except ValueError:
        raise SourceError(f"source {text!r}: the port must be a number from 1 to 65535"
                          ) from None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname  # IPv6
    hostport = host + (f":{port}" if port else "")
    if scheme in ("sftp", "ftp"):
        return Source(scheme, hostport, path, user, text, parts.hostname, port)
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


def _text(value: str, name: str) -> str:
    if not value:
        raise SourceError(f"option {name} needs a value: {name}=...")
    return value


def _backend(value: str, name: str) -> str:
    if value not in BACKENDS:
        raise SourceError(f"option {name}={value!r}: expected one of {', '.join(BACKENDS)}")
    return value


#: `-o backend=`: "native" where the source has a native backend (file, sftp),
#: else the engine; "engine" always the engine.
BACKENDS = ("native", "engine")
#: Adaptors with a native backend.
NATIVE = ("file", "sftp")


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
    if not math.isfinite(result) or result < 0:
        raise SourceError(f"option {name}={value!r}: expected a finite, non-negative "
                          "number of seconds")
    return result


def _size(value: str, name: str) -> int:
    m = re.fullmatch(r"(\d+)([KMGT]?)i?B?", value.strip(), re.I)
    if not m:
        raise SourceError(f"option {name}={value!r}: expected a size such as 10G or 512M")
    return int(m.group(1)) * 1024 ** " KMGT".index(m.group(2).upper() or " ")


@dataclass(frozen=True)
class Option:
    """One ``-o`` option: what `MountOptions.parse`, ``xenonfs mount --help``
    and README.md's table are made from.

    Attributes:
        name: the stable name (sshfs's where it means the same).
        parse: (value, name) -> the `MountOptions` field's value; raises SourceError.
        value: how the value is written (e.g. ``PATH``), "" for a flag.
        meaning: one line.
        default: the default, as shown to users.
    """

    name: str
    parse: Callable[[str, str], Any]
    value: str
    meaning: str
    default: str

    @property
    def usage(self) -> str:
        """Returns: ``name=VALUE`` (or ``name`` for a flag)."""
        return f"{self.name}={self.value}" if self.value else self.name


#: Every ``-o`` option, in the order users read them.
OPTIONS: tuple[Option, ...] = (
    Option("password_file", _text, "PATH", "password (first line of the file)", "-"),
    Option("password_env", _text, "VAR", "password from an environment variable", "-"),
    Option("identity", _text, "PATH", "private key (certificate credential)",
           "default credential"),
    Option("strict_host_key_checking", _bool, "yes|no", "check the sftp server's host key",
           "yes"),
    Option("attr_timeout", _seconds, "S", 'seconds attributes (and "does not exist") are cached',
           "1"),
    Option("dir_timeout", _seconds, "S",
           "seconds a directory's names (listed, or made here) and the attributes a "
           "listing carries are cached; a name not among them is not there", "5"),
    Option("cache_dir", _text, "PATH", "where file data is cached", "$XDG_CACHE_HOME/xenonfs"),
    Option("cache_max_size", _size, "SIZE", "clean cached data kept (e.g. 10G)", "10G"),
    Option("backend", _backend, "native|engine",
           "file:// (system calls) and sftp:// (asyncssh) natively, or through the engine",
           "native"),
    Option("ro", _bool, "", "read-only mount (rw: read-write)", "rw"),
    Option("allow_other", _bool, "", "other users may enter the mount", "off"),
    Option("scheduler", _text, "URL", "scheduler of the mount's .jobs/",
           "local for file://, ssh to the host for sftp://"),
    Option("job_poll_interval", _seconds, "S", "seconds between job status polls", "2"),
)
_BY_NAME = {o.name: o for o in OPTIONS}
#: Any engine property, passed through as given.
ENGINE_PROPERTY = Option("xenon.adaptors.*", _text, "VALUE",
                         "any engine property, passed through", "-")


def options_help() -> str:
    """Returns: the option table for ``xenonfs mount --help``."""
    rows = [*OPTIONS, ENGINE_PROPERTY]
    width = max(len(o.usage) for o in rows) + 2
    lines = ["mount options (-o NAME[=VALUE][,NAME[=VALUE]...]; an unknown one is an error):"]
    lines += [f"  {o.usage:<{width}}{o.meaning} (default: {o.default})" for o in rows]
    return "\n".join(lines)


def options_markdown() -> str:
    """Returns: the option table of README.md (tests/test_readme.py checks it is there)."""
    def cell(text: str) -> str:
        return text.replace("|", "\\|")
    lines = ["| option | meaning | default |", "|---|---|---|"]
    lines += [f"| `{cell(o.usage)}` | {cell(o.meaning)} | {cell(o.default)} |"
              for o in (*OPTIONS, ENGINE_PROPERTY)]
    return "\n".join(lines)


@dataclass
class MountOptions:
    """The ``-o`` options of a mount (see `OPTIONS` for what each means).

    Attributes:
        password_file, password_env, identity, strict_host_key_checking,
        attr_timeout, dir_timeout, cache_dir, cache_max_size, ro, allow_other,
        scheduler, job_poll_interval, backend: as in `OPTIONS`.
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
    backend: str = "native"
    engine_properties: dict[str, str] = field(default_factory=dict)
    #: A password already resolved by whoever holds it (the CLI from its
    #: environment, the daemon from its config); never from ``-o``, never logged.
    secret: str | None = field(default=None, repr=False, compare=False)

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
                elif name in _BY_NAME:
                    setattr(result, name, _BY_NAME[name].parse(value, name))
                else:
                    raise SourceError(f"unknown mount option {name!r}; known: "
                                      + ", ".join(sorted([*_BY_NAME, "rw", "xenon.adaptors.*"])))
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
