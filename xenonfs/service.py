"""`xenonfs service install`: the systemd user unit with the right ExecStart."""

from __future__ import annotations

import shutil
import sys
from importlib import resources
from pathlib import Path

import platformdirs

PLACEHOLDER = "@XENONFS@"


def unit_text(exec_path: str) -> str:
    """Args: exec_path: the command that runs xenonfs. Returns: the unit file's text."""
    template = resources.files("xenonfs").joinpath("data/xenonfs.service").read_text()
    return template.replace(PLACEHOLDER, exec_path)


def default_exec_path() -> str:
    """Returns: how systemd should start the installed xenonfs (absolute)."""
    found = shutil.which("xenonfs")
    if found:
        return str(Path(found).resolve())
    beside = Path(sys.prefix) / "bin" / "xenonfs"
    if beside.exists():
        return str(beside)
    return f"{sys.executable} -m xenonfs.cli"


def install(unit_dir: Path | None = None, exec_path: str | None = None) -> Path:
    """Write the unit.

    Args:
        unit_dir: default ``$XDG_CONFIG_HOME/systemd/user``.
        exec_path: default `default_exec_path`.

    Returns:
        The unit file written.
    """
    directory = unit_dir or platformdirs.user_config_path("systemd") / "user"
    directory.mkdir(parents=True, exist_ok=True)
    unit = directory / "xenonfs.service"
    unit.write_text(unit_text(exec_path or default_exec_path()))
    return unit


def install_main(unit_dir: str | None) -> int:
    """``xenonfs service install``. Returns: exit code."""
    unit = install(Path(unit_dir) if unit_dir else None)
    print(f"installed {unit}")
    print("enable and start it with:")
    print("  systemctl --user daemon-reload && systemctl --user enable --now xenonfs.service")
    return 0
