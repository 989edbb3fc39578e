"""The daemon's config file: ``$XDG_CONFIG_HOME/xenonfs/config.toml``.

```toml
[daemon]
log_level = "info"            # debug | info | warning | error
engine_heap = "512m"          # the engine JVM's -Xmx
job_poll_interval = 5.0       # seconds

[mounts.NAME]                 # NAME: letters, digits, _ and -
source = "sftp://me@host/dir"
mountpoint = "~/mnt/host"     # ~ expanded; absolute
options = { attr_timeout = 5, ro = true }   # or a list of "k=v" strings
scheduler = "slurm+ssh://host"              # optional
password_command = "pass show host"        # optional; or password_file/password_env in options
# password = "..."            # inline: only if this file is 0600
```
"""

from __future__ import annotations

import os
import re
import shlex
import stat
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import platformdirs

from .source import MountOptions, Source, SourceError, parse_source

SCHEDULERS = ("local", "ssh", "at", "at+ssh", "slurm", "slurm+ssh", "gridengine",
              "gridengine+ssh", "torque", "torque+ssh")
_DAEMON_KEYS = ("log_level", "engine_heap", "job_poll_interval")
_MOUNT_KEYS = ("source", "mountpoint", "options", "scheduler", "password", "password_command")


class ConfigError(Exception):
    """The config is unusable; the message names the file, line and key."""

    def __init__(self, message: str, path: Path | str | None = None, line: int | None = None,
                 key: str | None = None) -> None:
        self.path = str(path) if path else None
        self.line, self.key, self.message = line, key, message
        where = f"{self.path}:{line}: " if self.path and line else f"{self.path}: " if self.path else ""
        super().__init__(where + message)


def config_path() -> Path:
    """Returns: the default config file (XDG config dir)."""
    return Path(platformdirs.user_config_dir("xenonfs")) / "config.toml"


@dataclass
class DaemonSettings:
    """The ``[daemon]`` table."""

    log_level: str = "info"
    engine_heap: str | None = None
    job_poll_interval: float = 5.0


@dataclass
class MountConfig:
    """One ``[mounts.NAME]`` table."""

    name: str
    source: Source
    mountpoint: Path
    options: MountOptions
    scheduler: str | None = None
    password: str | None = field(default=None, repr=False)
    password_command: str | None = None

    def resolve_secret(self) -> None:
        """Put the inline password or password_command's output into ``options.secret``
        (password_file/password_env are read by `MountOptions.password`).

        Raises:
            ConfigError: the command failed (its output is never shown).
        """
        if self.password:
            self.options.secret = self.password
        elif self.password_command:
            try:
                out = subprocess.run(shlex.split(self.password_command), stdin=subprocess.DEVNULL,
                                     capture_output=True, text=True, timeout=30)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise ConfigError(f"mounts.{self.name}: password_command failed: "
                                  f"{type(exc).__name__}") from None
            value = out.stdout.split("\n", 1)[0]
            if out.returncode != 0 or not value:
                raise ConfigError(f"mounts.{self.name}: password_command exited with "
                                  f"{out.returncode} and gave " +
                                  ("no password" if not value else "a password"))
            self.options.secret = value


@dataclass
class Config:
    """The whole file."""

    path: Path | None = None
    daemon: DaemonSettings = field(default_factory=DaemonSettings)
    mounts: dict[str, MountConfig] = field(default_factory=dict)


def _line_of(text: str, table: str, key: str | None) -> int | None:
    lines = text.splitlines()
    header = re.compile(r"\s*\[\s*" + re.escape(table).replace(r"\.", r"\s*\.\s*") + r"\s*\]")
    for i, line in enumerate(lines):
        if header.match(line):
            if key is None:
                return i + 1
            for j in range(i + 1, len(lines)):
                if lines[j].lstrip().startswith("["):
                    break
                if re.match(r"\s*" + re.escape(key) + r"\s*=", lines[j]):
                    return j + 1
            return i + 1
    return None


def _option_strings(value: Any, err) -> list[str]:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    if not isinstance(value, dict):
        raise err("options", "must be a table or a list of \"name=value\" strings")
    result = []
    for name, v in value.items():
        if isinstance(v, bool):
            result.append(f"{name}={'yes' if v else 'no'}")
        elif isinstance(v, (str, int, float)):
            result.append(f"{name}={v}")
        else:
            raise err("options", f"option {name}: expected a string, number or boolean")
    return result


def _mount(name: str, table: Any, path: Path | None, text: str, private: bool) -> MountConfig:
    where = f"mounts.{name}"

    def err(key: str | None, message: str) -> ConfigError:
        return ConfigError(f"{where}: {message}" if key is None else f"{where}.{key}: {message}",
                           path, _line_of(text, where, key), key)

    if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise err(None, "a mount name may hold letters, digits, _ and - only")
    if not isinstance(table, dict):
        raise err(None, "must be a table")
    for key in table:
        if key not in _MOUNT_KEYS:
            raise err(key, f"unknown key {key!r} (known: {', '.join(_MOUNT_KEYS)})")
    for key in ("source", "mountpoint"):
        if not isinstance(table.get(key), str):
            raise err(key if key in table else None, f"{key} (a string) is required")
    try:
        source = parse_source(table["source"])
    except SourceError as exc:
        raise err("source", str(exc)) from None
    mountpoint = Path(os.path.expanduser(table["mountpoint"]))
    if not mountpoint.is_absolute():
        raise err("mountpoint", f"{table['mountpoint']!r} is not an absolute path")
    try:
        options = MountOptions.parse(_option_strings(table.get("options", []), err))
    except SourceError as exc:
        raise err("options", str(exc)) from None
    scheduler = table.get("scheduler")
    if scheduler is not None:
        scheme = urlsplit(str(scheduler)).scheme
        if not isinstance(scheduler, str) or scheme not in SCHEDULERS:
            raise err("scheduler", f"unknown scheduler {scheme or scheduler!r} "
                                   f"(known: {', '.join(SCHEDULERS)})")
    for key in ("password", "password_command"):
        if key in table and not isinstance(table[key], str):
            raise err(key, "must be a string")
    given = [k for k in ("password", "password_command") if k in table]
    given += [f"options.{k}" for k in ("password_file", "password_env") if getattr(options, k)]
    if len(given) > 1:
        raise err(given[1].split(".")[-1], f"give one password source, not {' and '.join(given)}")
    if "password" in table and not private:
        raise err("password", "an inline password needs the config file to be private: "
                              f"chmod 600 {path} (or use password_file/password_command)")
    return MountConfig(name, source, mountpoint.resolve(), options, scheduler,
                       table.get("password"), table.get("password_command"))


def load(path: Path | str | None = None) -> Config:
    """Read and check the config.

    Args:
        path: the file; None: `config_path` (a missing default file is an empty config).

    Returns:
        The config.

    Raises:
        ConfigError: unreadable, not TOML, or wrong (naming the line and key).
    """
    explicit = path is not None
    file = Path(path) if explicit else config_path()
    try:
        text = file.read_text()
        private = stat.S_IMODE(file.stat().st_mode) & 0o077 == 0
    except FileNotFoundError:
        if explicit:
            raise ConfigError("no such file", file) from None
        return Config()
    except OSError as exc:
        raise ConfigError(exc.strerror or str(exc), file) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"at line (\d+)", str(exc))
        raise ConfigError(f"not valid TOML: {exc}", file, int(m.group(1)) if m else None) from None
    config = Config(path=file)
    for key in data:
        if key not in ("daemon", "mounts"):
            line = next((i + 1 for i, l in enumerate(text.splitlines())
                         if re.match(r"\s*(\[+\s*" + re.escape(key) + r"\b|" + re.escape(key)
                                     + r"\s*=)", l)), None)
            raise ConfigError(f"unknown key {key!r} (known: daemon, mounts)", file, line, key)
    daemon = data.get("daemon", {})
    for key, value in daemon.items():
        line = _line_of(text, "daemon", key)
        if key not in _DAEMON_KEYS:
            raise ConfigError(f"daemon.{key}: unknown key (known: {', '.join(_DAEMON_KEYS)})",
                              file, line, key)
        if key == "log_level" and value not in ("debug", "info", "warning", "error"):
            raise ConfigError(f"daemon.log_level: {value!r} is not debug|info|warning|error",
                              file, line, key)
        if key == "engine_heap" and not re.fullmatch(r"\d+[kmgKMG]?", str(value)):
            raise ConfigError(f"daemon.engine_heap: {value!r} is not a size like 512m",
                              file, line, key)
        if key == "job_poll_interval" and (not isinstance(value, (int, float)) or value <= 0):
            raise ConfigError("daemon.job_poll_interval: must be a number > 0", file, line, key)
    config.daemon = DaemonSettings(**daemon)
    seen: dict[Path, str] = {}
    for name, table in data.get("mounts", {}).items():
        mount = _mount(name, table, file, text, private)
        if mount.mountpoint in seen:
            raise ConfigError(f"mounts.{name}.mountpoint: {mount.mountpoint} is also the "
                              f"mountpoint of mounts.{seen[mount.mountpoint]}", file,
                              _line_of(text, f"mounts.{name}", "mountpoint"), "mountpoint")
        seen[mount.mountpoint] = name
        config.mounts[name] = mount
    return config


def check_command(path: str | None) -> int:
    """``xenonfs config check [PATH]``. Returns: 0 if valid, else 2 (message on stderr)."""
    import sys
    try:
        config = load(path)
    except ConfigError as exc:
        print(f"xenonfs: {exc}", file=sys.stderr)
        return 2
    names = ", ".join(config.mounts) or "none"
    print(f"ok: {config.path or config_path()} ({len(config.mounts)} mounts: {names})")
    return 0
