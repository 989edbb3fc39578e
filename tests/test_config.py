"""The daemon's config file: parsing, line-accurate errors, secret rules."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from xenonfs.config import ConfigError, check_command, config_path, load

GOOD = """\
[daemon]
log_level = "debug"
engine_heap = "256m"

[mounts.cluster]
source = "sftp://alice@hpc.example.org/home/alice"
mountpoint = "~/mnt/cluster"
options = {{ strict_host_key_checking = false, attr_timeout = 5, ro = true }}
scheduler = "slurm+ssh://hpc.example.org"
password_command = "{cmd}"

[mounts.local]
source = "file:///srv/data"
mountpoint = "/mnt/data"
options = ["strict_host_key_checking=no,attr_timeout=5", "ro"]
"""


def _write(tmp_path: Path, text: str, mode: int = 0o644) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    os.chmod(path, mode)
    return path


def test_a_full_config_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    script = tmp_path / "pw.sh"
    script.write_text("#!/bin/sh\necho s3cr3t-from-cmd\necho second line\n")
    script.chmod(0o700)
    config = load(_write(tmp_path, GOOD.format(cmd=script)))
    assert config.daemon.log_level == "debug" and config.daemon.engine_heap == "256m"
    cluster, local = config.mounts["cluster"], config.mounts["local"]
    assert cluster.source.adaptor == "sftp" and cluster.mountpoint == tmp_path / "mnt" / "cluster"
    assert cluster.options.attr_timeout == 5 and cluster.options.ro
    assert not cluster.options.strict_host_key_checking
    assert cluster.scheduler == "slurm+ssh://hpc.example.org"
    # The table form and the list form give the same options.
    assert (local.options.attr_timeout, local.options.ro, local.options.strict_host_key_checking) \
        == (5, True, False)
    assert cluster.options.secret is None  # commands run only when mounting
    cluster.resolve_secret()
    assert cluster.options.password() == "s3cr3t-from-cmd"
    assert "s3cr3t" not in repr(config)


@pytest.mark.parametrize("text, line, words", [
    ("[mounts.a]\nsource = \"file:///x\"\nmountpoint = /bad\n", 3, ["TOML"]),
    ("[mounts.a]\nsource = \"file:///x\"\nmountpoint = \"/m\"\nsourc = \"x\"\n", 4,
     ["mounts.a", "sourc"]),
    ("[mounts.a]\nsource = \"file:///x\"\nmountpoint = \"/m\"\noptions = [\"attr_timeout=soon\"]\n",
     4, ["mounts.a", "attr_timeout"]),
    ("[mounts.a]\nsource = \"file:///x\"\nmountpoint = \"/m\"\nscheduler = \"pbs://h\"\n", 4,
     ["pbs", "slurm"]),
    ("[daemon]\nlog_level = \"loud\"\n", 2, ["log_level", "loud"]),
    ("[mounts.a]\nsource = \"file:///x\"\nmountpoint = \"relative\"\n", 3, ["absolute"]),
    ("[mounts.a]\nsource = \"file:///x\"\nmountpoint = \"/m\"\n[mounts.b]\nsource = \"file:///y\"\n"
     "mountpoint = \"/m\"\n", 6, ["mounts.a", "/m"]),
    ("[mountz.a]\n", 1, ["mountz"]),
])
def test_errors_name_the_line_and_key(tmp_path: Path, text: str, line: int,
                                      words: list[str]) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load(path)
    assert info.value.line == line
    assert str(info.value).startswith(f"{path}:{line}: ")
    for word in words:
        assert word in str(info.value)


def test_inline_password_needs_a_private_file(tmp_path: Path) -> None:
    text = "[mounts.a]\nsource = \"file:///x\"\nmountpoint = \"/m\"\npassword = \"inl1ne-pw\"\n"
    with pytest.raises(ConfigError, match="chmod 600") as info:
        load(_write(tmp_path, text, 0o644))
    assert "inl1ne-pw" not in str(info.value)
    config = load(_write(tmp_path, text, 0o600))
    config.mounts["a"].resolve_secret()
    assert config.mounts["a"].options.password() == "inl1ne-pw"
    assert "inl1ne-pw" not in repr(config)


def test_a_failing_password_command_does_not_show_its_output(tmp_path: Path) -> None:
    text = ("[mounts.a]\nsource = \"file:///x\"\nmountpoint = \"/m\"\n"
            "password_command = \"sh -c 'echo leaked-output; exit 3'\"\n")
    config = load(_write(tmp_path, text))
    with pytest.raises(ConfigError, match="exited with 3") as info:
        config.mounts["a"].resolve_secret()
    assert "leaked-output" not in str(info.value)


def test_two_password_sources_are_refused(tmp_path: Path) -> None:
    text = ("[mounts.a]\nsource = \"file:///x\"\nmountpoint = \"/m\"\n"
            "password_command = \"true\"\noptions = { password_env = \"PW\" }\n")
    with pytest.raises(ConfigError, match="one password source"):
        load(_write(tmp_path, text))


def test_default_path_and_missing_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert config_path() == tmp_path / "cfg" / "xenonfs" / "config.toml"
    assert load().mounts == {}  # no file at the default path: nothing configured
    with pytest.raises(ConfigError, match="no such file"):
        load(tmp_path / "nope.toml")


def test_config_check_command(tmp_path: Path) -> None:
    good = _write(tmp_path, "[mounts.a]\nsource = \"file:///x\"\nmountpoint = \"/m\"\n"
                            "password = \"pw-in-file\"\n", 0o600)
    out = subprocess.run([sys.executable, "-m", "xenonfs.cli", "config", "check", str(good)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "1 mounts: a" in out.stdout
    assert "pw-in-file" not in out.stdout + out.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text("[daemon]\nbogus = 1\n")
    out = subprocess.run([sys.executable, "-m", "xenonfs.cli", "config", "check", str(bad)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and f"{bad}:2:" in out.stderr and "bogus" in out.stderr
    assert check_command(str(good)) == 0
