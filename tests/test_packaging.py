"""The package metadata builds without setuptools' deprecation path."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_license_is_an_spdx_expression_and_no_legacy_setup_py() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    # `license = { text = ... }` is deprecated (setuptools stops building it
    # after 2027-02-18); the SPDX string needs setuptools >= 77.
    assert project["project"]["license"] == "Apache-2.0"
    assert "setuptools>=77" in project["build-system"]["requires"]
    assert not (ROOT / "setup.py").exists() and not (ROOT / "setup.cfg").exists()
