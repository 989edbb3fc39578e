"""README.md says what the scripts do: its two set-up commands, its package
table, its mount option table."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from xenonfs.source import OPTIONS, options_markdown

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _setup_commands() -> list[str]:
    section = README.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)\n```", section, re.S)


def _apt_packages(script: str) -> set[str]:
    text = (ROOT / script).read_text().replace("\\\n", " ")
    found: set[str] = set()
    for line in text.splitlines():
        if "apt-get" in line and " install " in line:
            words = line.split(" install ", 1)[1].split(">")[0].split()
            found |= {w for w in words if not w.startswith("-")}
    return found


def test_two_setup_commands_and_ci_runs_both() -> None:
    install, tests = _setup_commands()
    assert "\n" not in install and install.startswith("sudo apt-get update && ")
    assert install.endswith("xenonfs demo")
    assert tests == "sudo scripts/test"
    ci = (ROOT / ".ci/run").read_text()
    # CI proves the install command on a fresh root first, then runs the tests' command.
    assert ci.index("scripts/fresh-machine-check") < ci.index("scripts/test\n")


def test_package_table_lists_everything_the_scripts_install() -> None:
    table = README.split("### System packages", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"`([a-z0-9][a-z0-9.+-]+)`", table))
    install = _setup_commands()[0].split(" install -y ", 1)[1].split(" && ")[0].split()
    wanted = _apt_packages("scripts/test") | _apt_packages("scripts/fresh-machine-check") | set(install)
    assert wanted - listed == set()


def test_one_option_table_drives_parsing_help_and_readme() -> None:
    assert options_markdown() in README
    help_text = subprocess.run([sys.executable, "-m", "xenonfs.cli", "mount", "--help"],
                               capture_output=True, text=True, check=True).stdout
    for option in OPTIONS:
        assert f"  {option.usage} " in help_text
    top = subprocess.run([sys.executable, "-m", "xenonfs.cli", "--help"],
                         capture_output=True, text=True, check=True).stdout
    assert "``" not in top and "see README" not in help_text
