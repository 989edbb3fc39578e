"""The daemon's config file: parsing, line-accurate errors, secret rules."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from xenonfs import config as config_module
from xenonfs.config import ConfigError, check_command, config_path, load
from xenonfs.source import MountOptions

GOOD = """\
[daemon]
log_level = "debug"
engine_heap = "256m"
job_poll_interval = 2

[mounts.cluster]
source = "sftp://alice@hpc.example.org/home/alice"
mountpoint = "~/mnt/cluster"
options = {{ strict_host_key_checking = false, attr_timeout = 5, cache_max_size = "1G" }}
scheduler = "slurm+ssh://hpc.example.org"
password_command = "{cmd}"

[mounts.twin]
source = "file:///srv/data"
mountpoint = "/mnt/twin"
options = ["strict_host_key_checking=no,attr_timeout=5", "cache_max_size=1G"]

[mounts.engine-props]
source = "file:///srv/other"
mountpoint = "/mnt/other"
[mounts.engine-props.options]
rw = false
xenon.adaptors.sftp.loadKnownHosts = false
"""

# A mount whose errors are appended after line 3.
MOUNT = "[mounts.a]\nsource = \"file:///x\"\nmountpoint = \"/m\"\n"


def _write(tmp_path: Path, text: str, mode: int = 0o644, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    os.chmod(path, mode)
    return path


def test_a_full_config_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    ran = tmp_path / "ran"
    script = tmp_path / "pw.sh"
    script.write_text(f"#!/bin/sh\ntouch {ran}\necho s3cr3t-from-cmd\necho second line\n")
    script.chmod(0o700)
    config = load(_write(tmp_path, GOOD.format(cmd=script)))
    assert (config.daemon.log_level, config.daemon.engine_heap) == ("debug", "256m")
    assert config.daemon.job_poll_interval == 2.0
    assert isinstance(config.daemon.job_poll_interval, float)
    assert list(config.mounts) == ["cluster", "twin", "engine-props"]
    cluster, twin, props = config.mounts["cluster"], config.mounts["twin"], config.mounts[
        "engine-props"]
    assert cluster.source.adaptor == "sftp" and cluster.source.user == "alice"
    assert cluster.mountpoint == tmp_path / "mnt" / "cluster"  # ~ expanded
    assert cluster.scheduler == "slurm+ssh://hpc.example.org"
    assert cluster.password_command == str(script) and cluster.password is None
    assert cluster.options.attr_timeout == 5 and not cluster.options.ro
    assert not cluster.options.strict_host_key_checking
    assert cluster.options.cache_max_size == 1024 ** 3
    # The table form and the list form give the same options.
    assert cluster.options == twin.options and cluster.options != MountOptions()
    # rw = false is read-only; dotted keys are engine properties.
    assert props.options.ro
    assert props.options.engine_properties == {"xenon.adaptors.sftp.loadKnownHosts": "false"}
    # load runs no command; resolve_secret does, keeping its first line.
    assert not ran.exists() and cluster.options.secret is None
    cluster.resolve_secret()
    assert ran.exists() and cluster.options.password() == "s3cr3t-from-cmd"
    assert "s3cr3t" not in repr(config)


@pytest.mark.parametrize("text, line, key, words", [
    (MOUNT.replace("\"/m\"", "/bad"), 3, None, ["not valid TOML", "column 14"]),
    (MOUNT + "sourc = \"x\"\n", 4, "mounts.a.sourc", ["mounts.a: unknown key 'sourc'", "source"]),
    (MOUNT + "options = [\"ro\", \"attr_timeout=soon\"]\n", 4, "mounts.a.options.attr_timeout",
     ["mounts.a", "attr_timeout", "soon"]),
    (MOUNT + "options = { ro = true, attr_timeout = \"soon\" }\n", 4,
     "mounts.a.options.attr_timeout", ["mounts.a", "attr_timeout"]),
    (MOUNT + "[mounts.a.options]\nro = true\nattr_timeout = -1\n", 6,
     "mounts.a.options.attr_timeout", ["mounts.a", "attr_timeout", "negative"]),
    (MOUNT + "options = { colour = \"blue\" }\n", 4, "mounts.a.options.colour",
     ["mounts.a", "colour"]),
    (MOUNT + "scheduler = \"pbs://h\"\n", 4, "mounts.a.scheduler", ["'pbs'", "slurm+ssh"]),
    (MOUNT + "scheduler = \"h\"\n", 4, "mounts.a.scheduler", ["unknown scheme ''", "slurm"]),
    (MOUNT + "source = \"gopher://h/x\"\n", 4, None, ["TOML", "overwrite"]),  # duplicate key
    ("[mounts.a]\nsource = \"gopher://h/x\"\nmountpoint = \"/m\"\n", 2, "mounts.a.source",
     ["gopher"]),
    ("[daemon]\nlog_level = \"loud\"\n", 2, "daemon.log_level", ["log_level", "loud"]),
    ("[daemon]\n\nengine_heap = \"lots\"\n", 3, "daemon.engine_heap", ["engine_heap", "512m"]),
    ("[daemon]\njob_poll_interval = 0\n", 2, "daemon.job_poll_interval", ["> 0"]),
    ("[daemon]\nbogus = 1\n", 2, "daemon.bogus", ["bogus", "log_level"]),
    ("[mounts.a]\nsource = \"file:///x\"\nmountpoint = \"relative\"\n", 3,
     "mounts.a.mountpoint", ["absolute"]),
    ("[mounts.a]\nsource = \"file:///x\"\n", 1, "mounts.a", ["mountpoint is required"]),
    (MOUNT + "[mounts.b]\nsource = \"file:///y\"\nmountpoint = \"/x/../m\"\n", 6,
     "mounts.b.mountpoint", ["mounts.a", "/m"]),
    ("[mountz.a]\n", 1, "mountz", ["unknown key 'mountz'"]),
    ("# c\nmounts = 5\n", 2, "mounts", ["table"]),
    ("[mounts.\"a b\"]\nsource = \"file:///x\"\n", None, "mounts.a b", ["letters"]),
    ("mounts.a.source = \"file:///x\"\nmounts.a.mountpoint = 7\n", None,
     "mounts.a.mountpoint", ["string"]),
])
def test_errors_name_the_line_and_key(tmp_path: Path, text: str, line: int | None,
                                      key: str | None, words: list[str]) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load(path)
    error = info.value
    assert (error.path, error.line) == (str(path), line)
    assert str(error).startswith(f"{path}:{line}: " if line else f"{path}: ")
    if key is not None:
        assert error.key == key
    for word in words:
        assert word in str(error)


@pytest.mark.skipif(not hasattr(MountOptions(), "scheduler"), reason="no -o scheduler")
@pytest.mark.parametrize("extra, line, words", [
    ("options = [\"scheduler=pbs://h\"]\n", 4, ["'pbs'", "slurm"]),
    ("scheduler = \"ssh://h\"\noptions = { scheduler = \"ssh://h\" }\n", 5, ["not both"]),
])
def test_the_scheduler_option_is_checked_too(tmp_path: Path, extra: str, line: int,
                                             words: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        load(_write(tmp_path, MOUNT + extra))
    assert (info.value.line, info.value.key) == (line, "mounts.a.options.scheduler")
    for word in words:
        assert word in str(info.value)


def test_inline_password_needs_a_private_file(tmp_path: Path) -> None:
    text = MOUNT + "password = \"inl1ne-pw\"\n"
    with pytest.raises(ConfigError, match="0600") as info:
        load(_write(tmp_path, text, 0o644))
    assert (info.value.line, info.value.key) == (4, "mounts.a.password")
    assert "inl1ne-pw" not in str(info.value)
    config = load(_write(tmp_path, text, 0o600))
    assert config.mounts["a"].options.secret is None
    assert "inl1ne-pw" not in repr(config)
    config.mounts["a"].resolve_secret()
    assert config.mounts["a"].options.password() == "inl1ne-pw"
    assert "inl1ne-pw" not in repr(config)


def test_password_command(tmp_path: Path) -> None:
    config = load(_write(tmp_path, MOUNT + "password_command = \"printf 'p w'\"\n"))
    config.mounts["a"].resolve_secret()
    assert config.mounts["a"].options.password() == "p w"  # split like a shell, run without one


@pytest.mark.parametrize("command, words", [
    ("sh -c 'echo leaked-output; echo leaked-err >&2; exit 3'", ["status 3"]),
    ("sh -c 'echo; echo leaked-output'", ["status 0", "no password"]),
    ("/nonexistent/leaked-output", ["cannot be started"]),
])
def test_a_failing_password_command_does_not_show_its_output(tmp_path: Path, command: str,
                                                            words: list[str]) -> None:
    config = load(_write(tmp_path, MOUNT + f"password_command = \"{command}\"\n"))
    with pytest.raises(ConfigError) as info:
        config.mounts["a"].resolve_secret()
    assert str(info.value).startswith("mounts.a: password_command")
    for word in words:
        assert word in str(info.value)
    assert "leaked-err" not in str(info.value)
    if "/nonexistent" not in command:
        assert "leaked-output" not in str(info.value)


def test_a_hanging_password_command_times_out(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config_module, "PASSWORD_COMMAND_TIMEOUT", 0.5)
    config = load(_write(tmp_path, MOUNT + "password_command = \"sh -c 'sleep 30; echo x'\"\n"))
    start = time.monotonic()
    with pytest.raises(ConfigError, match="did not finish within 0.5 s"):
        config.mounts["a"].resolve_secret()
    assert time.monotonic() - start < 10


@pytest.mark.parametrize("extra, key", [
    ("password_command = \"true\"\noptions = { password_env = \"PW\" }\n",
     "mounts.a.options.password_env"),
    ("password = \"x\"\npassword_command = \"true\"\n", "mounts.a.password_command"),
    ("password_command = \"true\"\n[mounts.a.options]\npassword_file = \"/pw\"\n",
     "mounts.a.options.password_file"),
])
def test_two_password_sources_are_refused(tmp_path: Path, extra: str, key: str) -> None:
    with pytest.raises(ConfigError, match="give one of") as info:
        load(_write(tmp_path, MOUNT + extra, 0o600))
    assert info.value.key == key and info.value.line is not None


def test_password_command_quoting_is_checked_without_running(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="quotation") as info:
        load(_write(tmp_path, MOUNT + "password_command = \"pass show 'hpc\"\n"))
    assert info.value.line == 4


def test_default_path_and_missing_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert config_path() == tmp_path / "cfg" / "xenonfs" / "config.toml"
    config = load()  # no file at the default path: nothing configured
    assert config.path is None and config.mounts == {} and config.daemon.log_level == "info"
    with pytest.raises(ConfigError, match="no such file"):
        load(tmp_path / "nope.toml")
    assert check_command(None) == 0
    assert f"ok: {config_path()} (0 mounts" in capsys.readouterr().out
    config_path().parent.mkdir(parents=True)
    config_path().write_text(MOUNT)
    config = load()
    assert config.path == config_path() and list(config.mounts) == ["a"]


def test_config_check_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "ran"
    good = _write(tmp_path, MOUNT + "password = \"pw-in-file\"\n[mounts.b]\n"
                  "source = \"file:///y\"\nmountpoint = \"/n\"\n"
                  f"password_command = \"touch {marker}\"\n", 0o600)
    assert check_command(str(good)) == 0
    out, err = capsys.readouterr()
    assert out == f"ok: {good} (2 mounts: a, b)\n" and err == ""
    assert not marker.exists()  # config check runs no command
    good.chmod(0o644)  # now the inline password is refused: the error must not show it
    assert check_command(str(good)) == 2
    out, err = capsys.readouterr()
    assert out == "" and f"{good}:4: mounts.a: inline password refused" in err
    assert "pw-in-file" not in out + err
    bad = _write(tmp_path, "[daemon]\nbogus = 1\n", name="bad.toml")
    assert check_command(str(bad)) == 2
    out, err = capsys.readouterr()
    assert out == "" and f"{bad}:2: daemon: unknown key 'bogus'" in err
