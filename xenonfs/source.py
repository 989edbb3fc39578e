"""Mount sources (``sftp://user@host:22/path`` ...) and the mount option table."""

from __future__ import annotations

import ipaddress
import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import SplitResult, unquote, urlsplit

import platformdirs


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


_SSHFS_STYLE = re.compile(
    r"^(?:(?P<user>[^@/:\[\]]+)@)?(?P<host>\[[^\]/@]*\]|[^@/:\[\]]+):(?P<path>.*)$")
#: ``user:password@host:path``, which `_SSHFS_STYLE` would read as host "user"
#: (a relative path holding "@" and a later ":" looks the same: refused too).
_SSHFS_PASSWORD = re.compile(r"^[^@/:\[\]]+:(?![/.~]).*@(?:\[[^\]]*\]|[^@/:\[\]]+):")
#: What may be a password in a source, to be masked in messages: generously,
#: from the user's ":" to the last "@" (a password may hold "/" or "@").
_URL_PASSWORD = re.compile(r"^([^:/@]*://[^@/:\[\]]*):.*@")
_SSHFS_MAYBE_PASSWORD = re.compile(r"^([^@/:\[\]]*):.*@")

_NOT_IPV6 = "the host in brackets must be an IPv6 address, as in [::1]"
NO_PASSWORD = ("a password in the source is refused (it would show in /proc/mounts and "
               "`xenonfs status`): give it with -o password_file=FILE or -o password_env=VARIABLE")


def shown(text: str) -> str:
    """Returns: source ``text`` as messages may show it: anything that may be a
    password masked."""
    pattern = _URL_PASSWORD if "://" in text else _SSHFS_MAYBE_PASSWORD
    return pattern.sub(r"\1:***@", text, count=1)


def _authority(text: str) -> tuple[str, str]:
    """Returns: (user info, host[:port]) of URL ``text``, split as urlsplit does."""
    netloc = re.split(r"[/?#]", text.partition("://")[2], maxsplit=1)[0]
    userinfo, _, hostport = netloc.rpartition("@")
    return userinfo, hostport


def _port(text: str, hostport: str, parts: SplitResult) -> int | None:
    """Returns: the URL's port (None: the default). Raises: SourceError naming it."""
    try:
        port = parts.port
    except ValueError:
        port = None
    else:
        if port != 0:
            return port
    given = hostport.rpartition("]")[2].partition(":")[2]
    # The port's text is named unless the source may hold a password it came from.
    named = f" {given!r}" if shown(text) == text else ""
    raise SourceError(f"source {shown(text)!r}: the port{named} must be a number from 1 to 65535")


def _ipv6(host: str) -> None:
    """Raises: ValueError: ``host`` (from brackets, maybe with a %zone) is no IPv6 address
    (urlsplit lets some by, such as "v1.x")."""
    ipaddress.IPv6Address(host.partition("%")[0])


def _split(text: str) -> SplitResult:
    """Returns: URL ``text`` split, its host checked. Raises: SourceError."""
    where = f"source {shown(text)!r}"
    userinfo, hostport = _authority(text)
    if ":" in userinfo:
        raise SourceError(f"{where}: {NO_PASSWORD}")
    if hostport.count("[") != hostport.count("]") or hostport.count("[") > 1:
        raise SourceError(f"{where}: unbalanced brackets around the host (an IPv6 address is "
                          "written [::1])")
    if not hostport.startswith("[") and hostport.count(":") > 1:
        raise SourceError(f"{where}: write an IPv6 address in brackets, as in "
                          "sftp://[::1]:22/path")
    try:
        parts = urlsplit(text)
        if hostport.startswith("["):
            _ipv6(parts.hostname or "")
    except ValueError as exc:
        if hostport.startswith("["):
            raise SourceError(f"{where}: {_NOT_IPV6}") from None
        raise SourceError(f"{where} is not a valid URL ({exc})") from None
    return parts


def parse_source(text: str) -> Source:
    """Parse a mount source.

    Args:
        text: ``file:///abs``, ``sftp://[user@]host[:port]/path``, ``[user@]host:path``,
            ``ftp://...``, ``s3+http(s)://[key@]host:port/bucket[/prefix]``,
            ``webdav+http(s)://[user@]host:port/path``; a host may be ``[IPv6]``.

    Returns:
        The parsed source.

    Raises:
        SourceError: unknown scheme, missing host or path, a bad port or host, a
            password (never shown in the message).
    """
    if "://" not in text:
        if _SSHFS_PASSWORD.match(text):
            raise SourceError(f"source {shown(text)!r}: {NO_PASSWORD}")
        m = _SSHFS_STYLE.match(text)
        if m:
            host = m.group("host")
            if host.startswith("["):
                try:
                    _ipv6(host[1:-1])
                except ValueError:
                    raise SourceError(f"source {text!r}: {_NOT_IPV6}") from None
            path = m.group("path") or "."
            return Source("sftp", host, path, m.group("user"), text, host.strip("[]"))
    parts = _split(text)
    scheme = parts.scheme.lower()
    user = unquote(parts.username) if parts.username else None
    path = unquote(parts.path) or "/"
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise SourceError(f"file source must be file:///absolute/path, got {shown(text)!r}")
        return Source("file", "/", os.path.normpath(path), None, text)
    if not parts.hostname:
        raise SourceError(f"source {shown(text)!r} has no host")
    port = _port(text, _authority(text)[1], parts)
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname  # IPv6
    hostport = host + (f":{port}" if port else "")
    if scheme in ("sftp", "ftp"):
        return Source(scheme, hostport, path, user, text, parts.hostname, port)
    if scheme in ("s3+http", "s3+https"):
        segments = [s for s in path.split("/") if s]
        if not segments:
            raise SourceError(f"s3 source {shown(text)!r} names no bucket")
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
    raise SourceError(f"unknown source scheme {scheme!r} in {shown(text)!r}: use file, sftp, ftp, "
                      "s3+http(s) or webdav+http(s)")


def engine_reaches(source: Source) -> bool:
    """Returns: whether the engine can connect to the source's host: its sftp
    and ftp adaptors take no IPv6 address ("[::1]:22" and "::1:22" both fail
    in their location parser)."""
    return ":" not in (source.host or "")


def _inside(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def check_target(source: Source, mountpoint: Path, options: "MountOptions") -> None:
    """Refuse a mount that cannot work, whatever the server says.

    Raises:
        SourceError: an IPv6 host for the engine; a file:// source that is, holds
            or lies inside the mountpoint, or a cache inside it (the mount would
            call itself and hang).
    """
    if not (options.backend == "native" and source.adaptor in NATIVE) and \
            not engine_reaches(source):
        instead = "-o backend=native or " if source.adaptor in NATIVE else ""
        raise SourceError(f"{source.url}: the engine cannot connect to an IPv6 address "
                          f"([{source.host}]); use {instead}a host name for it")
    mnt = os.path.realpath(mountpoint)
    if source.adaptor == "file":
        root = os.path.realpath(source.root)
        why = (f"the source {root} is the mountpoint" if root == mnt else
               f"the mountpoint {mnt} is inside the source {root}" if _inside(mnt, root) else
               f"the source {root} is inside the mountpoint {mnt}" if _inside(root, mnt) else None)
        if why:
            raise SourceError(f"{why}: the mount would serve itself and hang")
    cache = os.path.realpath(options.cache_base())
    if _inside(cache, mnt):
        raise SourceError(f"the cache directory {cache} is inside the mountpoint {mnt}: the "
                          "mount would cache into itself and hang (-o cache_dir=PATH)")


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


#: The longest time an option takes (s): a year; more is a typo, not a wish.
MAX_SECONDS = 365 * 24 * 3600
#: The largest size an option takes (bytes): what a file size (off_t) holds.
MAX_SIZE = 2 ** 63 - 1


def _seconds(value: str, name: str, positive: bool = False) -> float:
    try:
        result = float(value)
    except ValueError:
        raise SourceError(f"option {name}={value!r}: expected a number of seconds") from None
    # NaN fails every comparison, so it is refused here too.
    if not ((result > 0 if positive else result >= 0) and result <= MAX_SECONDS):
        raise SourceError(f"option {name}={value!r}: expected a finite, "
                          f"{'positive' if positive else 'non-negative'} number of seconds, "
                          f"at most {MAX_SECONDS} (a year)")
    return result


def _interval(value: str, name: str) -> float:
    """Seconds between polls: 0 would poll without a pause."""
    return _seconds(value, name, positive=True)


def _size(value: str, name: str) -> int:
    m = re.fullmatch(r"([0-9]{1,20})([KMGT]?)i?B?", value.strip(), re.I)
    size = int(m.group(1)) * 1024 ** " KMGT".index(m.group(2).upper() or " ") if m else -1
    if not 0 <= size <= MAX_SIZE:
        raise SourceError(f"option {name}={value!r}: expected a size such as 10G or 512M, "
                          f"at most {MAX_SIZE} bytes")
    return size


def _path(value: str, name: str) -> str:
    """A path, ~ expanded. It must be absolute: the daemon that uses it has
    another working directory (the CLI makes paths absolute, `absolute_paths`)."""
    path = os.path.expanduser(_text(value, name))
    if not os.path.isabs(path):
        raise SourceError(f"option {name}={value!r}: the path must be absolute (or start "
                          "with ~): the daemon does not share your working directory")
    return path


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
    Option("password_file", _path, "PATH", "password (first line of the file)", "-"),
    Option("password_env", _text, "VAR", "password from an environment variable", "-"),
    Option("identity", _path, "PATH", "private key (certificate credential)",
           "default credential"),
    Option("strict_host_key_checking", _bool, "yes|no",
           "check the ssh server's host key in ~/.ssh/known_hosts (no: trust any key; "
           "known_hosts is never written, for files nor jobs)",
           "yes"),
    Option("attr_timeout", _seconds, "S", 'seconds attributes (and "does not exist") are cached',
           "1"),
    Option("dir_timeout", _seconds, "S",
           "seconds directory listings (and the attributes they carry) are cached; in a "
           "directory made here, a name not among its names is not there", "5"),
    Option("cache_dir", _path, "PATH", "where file data is cached", "$XDG_CACHE_HOME/xenonfs"),
    Option("cache_max_size", _size, "SIZE", "clean cached data kept (e.g. 10G)", "10G"),
    Option("backend", _backend, "native|engine",
           "file:// (system calls) and sftp:// (asyncssh) natively, or through the engine",
           "native"),
    Option("ro", _bool, "", "read-only mount (rw: read-write)", "rw"),
    Option("allow_other", _bool, "", "other users may enter the mount", "off"),
    Option("scheduler", _text, "URL", "scheduler of the mount's .jobs/",
           "local for file://, ssh to the host for sftp://"),
    Option("job_poll_interval", _interval, "S", "seconds between job status polls", "2"),
    Option("engine_timeout", _interval, "S",
           "seconds an engine call may wait for an answer (a transfer: for progress); "
           "past it the operation fails with EIO", "30"),
    Option("keepalive", _interval, "S",
           "seconds a silent sftp server (native backend) is given before its operations "
           "fail with EIO (keepalives every S/3; a reconnect waits as long)", "30"),
)
_BY_NAME = {o.name: o for o in OPTIONS}
#: Any engine property, passed through as given.
ENGINE_PROPERTY = Option("xenon.adaptors.*", _text, "VALUE",
                         "any engine property, passed through", "-")


def _items(options: list[str]) -> list[str]:
    """Returns: the ``name[=value]`` items of ``-o`` values (each comma-separated)."""
    return [item for group in options for item in (o.strip() for o in group.split(",")) if item]


def absolute_paths(options: list[str], cwd: str | None = None) -> list[str]:
    """Make path options mean what they mean to the user: the daemon that
    uses them has another working directory.

    Args:
        options: ``-o`` values.
        cwd: what relative paths are relative to (default: the current directory).

    Returns:
        The items one by one, each path option's value ~-expanded and absolute.
    """
    base = cwd or os.getcwd()
    result = []
    for item in _items(options):
        name, _, value = item.partition("=")
        option = _BY_NAME.get(name)
        if value and option is not None and option.parse is _path:
            item = f"{name}={os.path.normpath(os.path.join(base, os.path.expanduser(value)))}"
        result.append(item)
    return result


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
        scheduler, job_poll_interval, backend, engine_timeout, keepalive: as in `OPTIONS`.
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
    engine_timeout: float = 30.0
    keepalive: float = 30.0
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
        for item in _items(options):
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

    def cache_base(self) -> Path:
        """Returns: the directory that holds the mounts' cache directories."""
        return Path(self.cache_dir or platformdirs.user_cache_dir("xenonfs"))

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
