"""The daemon's config file: ``$XDG_CONFIG_HOME/xenonfs/config.toml``.

```toml
[daemon]
log_level = "info"            # debug | info | warning | error
engine_heap = "512m"          # the engine JVM's -Xmx: digits and k, m or g (optional)
job_poll_interval = 5.0       # seconds, > 0 (optional)
engine_ca_file = "~/site-ca.pem"  # extra CAs for https servers (PEM; optional)

[mounts.NAME]                 # NAME: letters, digits, _ and -; one mount per mountpoint
source = "sftp://me@host/dir"
mountpoint = "~/mnt/host"     # ~ expanded; must then be absolute
options = { attr_timeout = 5, ro = true }   # or ["attr_timeout=5", "ro"] (the -o options)
scheduler = "slurm+ssh://host"              # optional; see SCHEDULERS
password_command = "pass show host"         # optional: its first output line, run at mount
# password = "..."            # inline: refused unless this file is mode 0600
```

At most one of password, password_command, options.password_file, options.password_env.
Unknown keys are errors; errors name the file, the line (when found) and the key.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shlex
import signal
import stat
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, NoReturn
from urllib.parse import urlsplit

import platformdirs

from .engine.truststore import TrustStoreError, read_cas
from .source import MountOptions, Source, parse_source

SCHEDULERS = ("local", "ssh", "at", "at+ssh", "slurm", "slurm+ssh", "gridengine",
              "gridengine+ssh", "torque", "torque+ssh")
LOG_LEVELS = ("debug", "info", "warning", "error")
PASSWORD_COMMAND_TIMEOUT = 30.0
_TOP_KEYS = ("daemon", "mounts")
_DAEMON_KEYS = ("log_level", "engine_heap", "job_poll_interval", "engine_ca_file")
_MOUNT_KEYS = ("source", "mountpoint", "options", "scheduler", "password", "password_command")


class ConfigError(Exception):
    """The config is unusable.

    Attributes:
        path: the config file, or None.
        line: 1-based line of the offending key, or None if not found.
        key: the dotted key (``mounts.cluster.sourc``), or None.
        message: the message without file and line.
    """

    def __init__(self, message: str, path: Path | str | None = None, line: int | None = None,
                 key: str | None = None) -> None:
        super().__init__(message)
        self.message, self.line, self.key = message, line, key
        self.path = None if path is None else str(path)

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}: " if self.path and self.line else \
            f"{self.path}: " if self.path else ""
        return where + self.message


def config_path() -> Path:
    """Returns: the default config file (honours $XDG_CONFIG_HOME)."""
    return Path(platformdirs.user_config_dir("xenonfs")) / "config.toml"


@dataclass
class DaemonSettings:
    """The ``[daemon]`` table."""

    log_level: str = "info"
    engine_heap: str | None = None
    job_poll_interval: float = 5.0
    engine_ca_file: str | None = None


@dataclass
class MountConfig:
    """One ``[mounts.NAME]`` table; call `resolve_secret` before mounting."""

    name: str
    source: Source
    mountpoint: Path
    options: MountOptions
    scheduler: str | None = None
    password: str | None = field(default=None, repr=False)
    password_command: str | None = None

    def resolve_secret(self) -> None:
        """Put the inline password, or password_command's first output line, into
        ``options.secret``; password_file/password_env are left to `MountOptions.password`.

        Raises:
            ConfigError: the command cannot start, fails, times out or prints nothing
                (the message never holds its output).
        """
        if self.password is not None:
            self.options.secret = self.password
        if self.password is not None or not self.password_command:
            return
        what = f"mounts.{self.name}: password_command"
        try:
            # Own session: on timeout the whole group dies, not just a wrapping shell.
            with subprocess.Popen(shlex.split(self.password_command), stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                  start_new_session=True) as proc:
                try:
                    out, _ = proc.communicate(timeout=PASSWORD_COMMAND_TIMEOUT)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    raise ConfigError(f"{what} did not finish within "
                                      f"{PASSWORD_COMMAND_TIMEOUT:g} s") from None
        except OSError as exc:
            raise ConfigError(f"{what} cannot be started: {exc.strerror or exc}") from None
        first = out.split(b"\n", 1)[0].rstrip(b"\r")
        if proc.returncode != 0 or not first:
            raise ConfigError(f"{what} exited with status {proc.returncode}"
                              + ("" if proc.returncode else " but printed no password")
                              + " (its output is not shown)")
        try:
            self.options.secret = first.decode()
        except UnicodeDecodeError:
            raise ConfigError(f"{what} printed a password that is not UTF-8") from None


@dataclass
class Config:
    """The whole file (``path`` is None when the default file does not exist)."""

    path: Path | None = None
    daemon: DaemonSettings = field(default_factory=DaemonSettings)
    mounts: dict[str, MountConfig] = field(default_factory=dict)


class _Errors:
    """Builds ConfigErrors that point at the line of a key in the file's text."""

    def __init__(self, path: Path, text: str) -> None:
        self.path, self.lines = path, text.splitlines()

    def __call__(self, table: str, key: str | None, message: str) -> ConfigError:
        return ConfigError(f"{table}: {message}" if table else message, self.path,
                           self.line(table, key), ".".join(filter(None, (table, key))) or None)

    def _header(self, table: str, nested: bool = False) -> int | None:
        names = r"\s*\.\s*".join(map(re.escape, table.split(".")))
        pattern = re.compile(r"\s*\[+\s*" + names + (r"\s*[.\]]" if nested else r"\s*\]"))
        return next((i + 1 for i, text in enumerate(self.lines) if pattern.match(text)), None)

    def _below(self, table: str, key: str) -> int | None:
        start = self._header(table) if table else 0  # top-level keys precede the first header
        pattern = re.compile(r"\s*[\"']?" + re.escape(key) + r"[\"']?\s*=")
        for i in range(len(self.lines) if start is None else start, len(self.lines)):
            if self.lines[i].lstrip().startswith("["):
                break
            if pattern.match(self.lines[i]):
                return i + 1
        return None

    def line(self, table: str, key: str | None) -> int | None:
        """Returns: the line of ``table.key`` (key may be dotted; None: the header), or None
        if the file does not spell it as a ``[table]`` header and a ``key =`` below it."""
        if key is None:
            return self._header(table)
        parts = key.split(".")
        for i in range(len(parts) - 1, -1, -1):  # [t.options] + "ro =", [t] + "options.ro ="
            found = self._below(".".join(filter(None, (table, *parts[:i]))), ".".join(parts[i:]))
            if found:
                return found
        if len(parts) > 1:  # [t] + "options = {...}"
            return self.line(table, ".".join(parts[:-1]))
        return None if table else self._header(key, nested=True)


def _flatten(table: dict, prefix: str = "") -> list[tuple[str, Any]]:
    # Unquoted dotted keys (xenon.adaptors.sftp.x = ...) arrive as nested tables.
    return [item for name, v in table.items() for item in (
        _flatten(v, f"{prefix}{name}.") if isinstance(v, dict) else [(prefix + name, v)])]


def _option_items(value: Any, fail: Callable[[str, str], NoReturn]) -> list[tuple[str, str]]:
    """Returns: (option name, ``name=value``) for a table or a list of ``-o`` strings."""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        items = [item.strip() for group in value for item in group.split(",")]
        return [(item.partition("=")[0], item) for item in items if item]
    if not isinstance(value, dict):
        fail("options", 'options must be a table or a list of "name=value" strings')
    result = []
    for name, v in _flatten(value):
        if isinstance(v, bool):
            # _bool accepts true/false, and engine properties pass them on as Java spells them.
            text = "true" if v else "false"
            if name == "rw":  # MountOptions.parse ignores rw's value: rw = false means ro
                name, text = "ro", "false" if v else "true"
        elif isinstance(v, (str, int, float)):
            text = str(v)
        else:
            fail(f"options.{name}", f"option {name}: expected a string, number or boolean")
        if "," in text:  # MountOptions.parse would split the value there
            fail(f"options.{name}", f"option {name}: a value may not contain ','")
        result.append((name, f"{name}={text}"))
    return result


def _mount(name: str, table: Any, errors: _Errors, private: bool) -> MountConfig:
    def fail(key: str | None, message: str) -> NoReturn:
        raise errors(f"mounts.{name}", key, message)

    if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        fail(None, "a mount name may hold letters, digits, _ and - only")
    if not isinstance(table, dict):
        raise errors("mounts", name, f"mounts.{name} must be a table ([mounts.{name}])")
    for key in table:
        if key not in _MOUNT_KEYS:
            fail(key, f"unknown key {key!r} (known: {', '.join(_MOUNT_KEYS)})")
    for key in ("source", "mountpoint", "scheduler", "password", "password_command"):
        if key in table and not (isinstance(table[key], str) and table[key].strip()):
            fail(key, f"{key} must be a non-empty string")
    for key in ("source", "mountpoint"):
        if key not in table:
            fail(None, f"{key} is required")
    try:
        source = parse_source(table["source"])
    except ValueError as exc:
        fail("source", str(exc))
    mountpoint = Path(os.path.expanduser(table["mountpoint"]))
    if not mountpoint.is_absolute():
        fail("mountpoint", f"{table['mountpoint']!r} is not absolute (after ~ expansion)")
    items = _option_items(table.get("options", []), fail)
    for option, item in items:  # one at a time first, to name the option at fault
        try:
            MountOptions.parse([item])
        except ValueError as exc:
            fail(f"options.{option}", str(exc))
    try:
        options = MountOptions.parse([item for _, item in items])
    except ValueError as exc:
        fail("options", str(exc))
    # MountOptions may take a scheduler too (-o scheduler=URL): check it the same way.
    urls = {k: v for k, v in (("scheduler", table.get("scheduler")),
                              ("options.scheduler", getattr(options, "scheduler", None))) if v}
    if len(urls) > 1:
        fail("options.scheduler", "give scheduler or options.scheduler, not both")
    for key, url in urls.items():
        scheme = ""
        with contextlib.suppress(ValueError):  # urlsplit refuses some malformed netlocs
            scheme = urlsplit(url).scheme
        if scheme not in SCHEDULERS:
            fail(key, f"scheduler {url!r}: unknown scheme {scheme!r} (write "
                      f"SCHEME://[host] with SCHEME one of {', '.join(SCHEDULERS)})")
    given = [k for k in ("password", "password_command") if k in table]
    given += [f"options.{k}" for k in ("password_file", "password_env") if getattr(options, k)]
    if len(given) > 1:
        fail(given[1], "give one of password, password_command, options.password_file and "
                       f"options.password_env, not {' and '.join(given)}")
    try:
        shlex.split(table.get("password_command", ""))  # now: config check catches bad quoting
    except ValueError as exc:
        fail("password_command", f"password_command: {exc}")
    if "password" in table and not private:
        fail("password", f"inline password refused: {errors.path} must be mode 0600 (no group "
                         "or other access; chmod 600), or use password_command")
    return MountConfig(name, source, mountpoint.resolve(), options, table.get("scheduler"),
                       table.get("password"), table.get("password_command"))


def _daemon(table: Any, errors: _Errors) -> DaemonSettings:
    if not isinstance(table, dict):
        raise errors("", "daemon", "daemon must be a table ([daemon])")
    for key, value in table.items():
        if key not in _DAEMON_KEYS:
            raise errors("daemon", key, f"unknown key {key!r} (known: {', '.join(_DAEMON_KEYS)})")
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if key == "log_level" and value not in LOG_LEVELS:
            wanted = f"one of {', '.join(LOG_LEVELS)}"
        elif key == "engine_heap" and not re.fullmatch(r"\d+[kmgKMG]", str(value)):
            wanted = 'a JVM size such as "512m" or "2g"'
        elif key == "job_poll_interval" and not (number and 0 < value < math.inf):
            wanted = "a number of seconds > 0"
        elif key == "engine_ca_file":
            try:
                read_cas(Path(os.path.expanduser(str(value))))
            except TrustStoreError as exc:
                raise errors("daemon", key, f"{key}: {exc}") from None
            continue
        else:
            continue
        raise errors("daemon", key, f"{key} = {value!r}: expected {wanted}")
    settings = DaemonSettings(**table)
    settings.job_poll_interval = float(settings.job_poll_interval)
    return settings


def load(path: Path | str | None = None) -> Config:
    """Read and check the config; runs no commands (see `MountConfig.resolve_secret`).

    Args:
        path: the file; None: `config_path` (where a missing file is an empty config).

    Returns:
        The config.

    Raises:
        ConfigError: unreadable, not TOML, or wrong (naming the line and key).
    """
    file = Path(path) if path is not None else config_path()
    try:
        text = file.read_bytes().decode()
        private = stat.S_IMODE(file.stat().st_mode) & 0o077 == 0
    except FileNotFoundError:
        if path is not None:
            raise ConfigError("no such file", file) from None
        return Config()
    except OSError as exc:
        raise ConfigError(exc.strerror or str(exc), file) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not valid UTF-8 (byte {exc.start})", file) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\s*\(at line (\d+), column (\d+)\)", str(exc))
        message = str(exc)[:m.start()] + f" (column {m.group(2)})" if m else str(exc)
        raise ConfigError(f"not valid TOML: {message}", file,
                          int(m.group(1)) if m else None) from None
    errors = _Errors(file, text)
    for key in data:
        if key not in _TOP_KEYS:
            raise errors("", key, f"unknown key {key!r} (known: {', '.join(_TOP_KEYS)})")
    config = Config(file, _daemon(data.get("daemon", {}), errors))
    if not isinstance(data.get("mounts", {}), dict):
        raise errors("", "mounts", "mounts must be a table of [mounts.NAME] tables")
    seen: dict[Path, str] = {}
    for name, table in data.get("mounts", {}).items():
        mount = _mount(name, table, errors, private)
        if mount.mountpoint in seen:
            raise errors(f"mounts.{name}", "mountpoint", f"mountpoint {mount.mountpoint} is "
                         f"also the mountpoint of mounts.{seen[mount.mountpoint]}")
        seen[mount.mountpoint] = name
        config.mounts[name] = mount
    return config


def check_command(path: str | None) -> int:
    """``xenonfs config check [PATH]``: validate without running any password_command.

    Args:
        path: the file; None: `config_path`.

    Returns:
        0 (``ok: PATH (N mounts: a, b)`` on stdout) or 2 (the error on stderr).
    """
    try:
        config = load(path)
    except ConfigError as exc:
        print(f"xenonfs: {exc}", file=sys.stderr)
        return 2
    names = f": {', '.join(config.mounts)}" if config.mounts else ""
    missing = "" if config.path else "; the file does not exist"
    print(f"ok: {config.path or config_path()} ({len(config.mounts)} mounts{names}{missing})")
    return 0
