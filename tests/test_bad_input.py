"""Bad input gets a clear error naming what was wrong, at the place the user
acts, and nothing half-done (issue 16, items 12 and 13): ports, numbers, paths,
passwords in URLs, IPv6 hosts, self-mounts, and `umount` of other mounts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.mounts import is_mounted, mounted, wait_gone
from tests.servers.sshd import SshServer
from tests.test_daemon import DaemonRun
from xenonfs.config import ConfigError, load
from xenonfs import source as sources
from xenonfs.source import OPTIONS, MountOptions, SourceError, parse_source

CLI = [sys.executable, "-m", "xenonfs.cli"]


def _cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
         timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, env=env)


def _refused(result: subprocess.CompletedProcess[str], *words: str) -> str:
    """Asserts: a non-zero exit, one error line starting "xenonfs:" holding
    ``words``, no traceback. Returns: that line."""
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("xenonfs: "), result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def _config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(body)
    path.chmod(0o600)
    return path


# -- 1. ports -------------------------------------------------------------------------

@pytest.mark.parametrize("text,words", [
    ("sftp://u@host:abc/x", ["port"]),
    ("sftp://u@host:0/x", ["port", "1 to 65535"]),
    ("sftp://u@host:65536/x", ["port"]),
    ("ftp://host:21x/x", ["port"]),
    ("sftp://u@[::1/x", ["brackets"]),
    ("sftp://u@::1/x", ["brackets", "[::1]"]),
    ("sftp://u@[nohost]/x", ["IPv6"]),
])
def test_a_bad_port_or_host_is_named(tmp_path: Path, text: str, words: list[str]) -> None:
    with pytest.raises(SourceError) as raised:
        parse_source(text)
    assert all(w in str(raised.value) for w in words), raised.value
    # The command says it in one line, before any daemon is asked.
    _refused(_cli("mount", text, str(tmp_path)), *words)


# -- 2. numeric options ---------------------------------------------------------------

NUMERIC = {"attr_timeout": "1e300", "dir_timeout": "1e300", "job_poll_interval": "1e300",
           "engine_timeout": "1e300", "keepalive": "1e300",
           "cache_max_size": "99999999T"}


def test_every_numeric_option_refuses_nan_infinite_and_out_of_range() -> None:
    numeric = {o.name for o in OPTIONS if o.value in ("S", "SIZE")}
    assert numeric == set(NUMERIC), "a new numeric option: add it to NUMERIC"
    for name, too_big in NUMERIC.items():
        for bad in ("nan", "NaN", "inf", "-inf", "-1", "", too_big):
            with pytest.raises(SourceError) as raised:
                MountOptions.parse([f"{name}={bad}"])
            assert f"{name}={bad!r}" in str(raised.value), raised.value
    with pytest.raises(SourceError, match=r"job_poll_interval='0'.*positive"):
        MountOptions.parse(["job_poll_interval=0"])  # a poll loop that never waits
    ok = MountOptions.parse(["attr_timeout=0,dir_timeout=31536000,job_poll_interval=0.1,"
                             "cache_max_size=0"])
    assert (ok.attr_timeout, ok.dir_timeout, ok.job_poll_interval, ok.cache_max_size) == \
        (0, 31536000, 0.1, 0)


def test_a_bad_number_is_one_line_from_the_command_and_the_config(tmp_path: Path) -> None:
    _refused(_cli("mount", f"file://{tmp_path}", str(tmp_path / "m"), "-o", "attr_timeout=nan"),
             "attr_timeout='nan'")
    path = _config(tmp_path, f'[mounts.a]\nsource = "file:///srv"\nmountpoint = "{tmp_path}/m"\n'
                             "options = { job_poll_interval = 0 }\n")
    with pytest.raises(ConfigError, match="job_poll_interval='0'") as raised:
        load(path)
    assert raised.value.line == 4


# -- 3. relative paths ----------------------------------------------------------------

def test_path_options_are_made_absolute_against_the_users_directory(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/me")
    assert sources.absolute_paths(["ro,cache_dir=c,identity=../k", "password_file=~/pw",
                           "scheduler=ssh://h,attr_timeout=2"], "/work/dir") == \
        ["ro", "cache_dir=/work/dir/c", "identity=/work/k", "password_file=/home/me/pw",
         "scheduler=ssh://h", "attr_timeout=2"]
    # Whoever reaches the daemon without the CLI must send absolute paths: the
    # daemon cannot know the caller's working directory.
    for name in ("cache_dir", "identity", "password_file"):
        with pytest.raises(SourceError, match=f"{name}='rel/x'.*absolute"):
            MountOptions.parse([f"{name}=rel/x"])
    assert MountOptions.parse(["cache_dir=~/c"]).cache_dir == "/home/me/c"


def test_a_relative_path_in_the_config_is_refused(tmp_path: Path) -> None:
    path = _config(tmp_path, f'[mounts.a]\nsource = "file:///srv"\nmountpoint = "{tmp_path}/m"\n'
                             'options = { cache_dir = "cache" }\n')
    with pytest.raises(ConfigError, match="cache_dir='cache'.*absolute"):
        load(path)


@pytest.fixture
def elsewhere_daemon(tmp_path: Path) -> Iterator[DaemonRun]:
    """A daemon whose working directory is not the user's (as a systemd one)."""
    cwd = tmp_path / "daemon-cwd"
    cwd.mkdir()
    (tmp_path / "d").mkdir()
    run = DaemonRun(tmp_path / "d")
    try:
        yield run.start(prefix=("env", "-C", str(cwd)))
    finally:
        run.stop()


def test_relative_cache_dir_is_the_users(elsewhere_daemon: DaemonRun, tmp_path: Path) -> None:
    daemon = elsewhere_daemon
    user, backing, mnt = tmp_path / "user", tmp_path / "backing", tmp_path / "mnt"
    for d in (user, backing, mnt):
        d.mkdir()
    daemon.mountpoints.append(mnt)
    out = daemon.cli("mount", f"file://{backing}", str(mnt), "-o", "cache_dir=cache", cwd=user)
    assert out.returncode == 0, out.stderr
    (mnt / "f").write_text("through the cache")
    assert (backing / "f").read_text() == "through the cache"
    assert (user / "cache").is_dir() and any((user / "cache").iterdir())
    assert not (tmp_path / "daemon-cwd" / "cache").exists()
    assert daemon.cli("umount", str(mnt)).returncode == 0


# -- 4. passwords in the source ------------------------------------------------------

SECRET = "hunter2secret"


@pytest.mark.parametrize("text", [
    f"sftp://u:{SECRET}@127.0.0.1:1/x",
    f"sftp://u:{SECRET}@127.0.0.1:abc/x",   # also wrong otherwise: still not shown
    f"sftp://u:{SECRET}@/x",
    f"gopher://u:{SECRET}@h/x",
    f"u:{SECRET}@127.0.0.1:path",            # sshfs style
    f"s3+http://KEY:{SECRET}@127.0.0.1:1/bucket",
    f"webdav+http://u:{SECRET}@127.0.0.1:1/dav",
    f"ftp://u:{SECRET}@127.0.0.1:1/x",
])
def test_a_password_in_the_source_is_refused_unseen(tmp_path: Path, text: str) -> None:
    with pytest.raises(SourceError) as raised:
        parse_source(text)
    assert SECRET not in str(raised.value)
    result = _cli("mount", text, str(tmp_path))
    line = _refused(result, "password_file", "password_env")
    assert SECRET not in result.stdout + result.stderr, line
    assert not is_mounted(tmp_path)
    path = _config(tmp_path, f'[mounts.a]\nsource = "{text}"\nmountpoint = "{tmp_path}/m"\n')
    with pytest.raises(ConfigError) as raised:
        load(path)
    assert SECRET not in str(raised.value) and "password_file" in str(raised.value)


def test_an_empty_password_is_refused_too_and_paths_with_at_are_not() -> None:
    with pytest.raises(SourceError, match="password"):
        parse_source("sftp://u:@host/x")
    assert parse_source("host:dir@x").root == "dir@x"
    assert parse_source("sftp://host:22/a@b").root == "/a@b"


# -- 5. IPv6 hosts --------------------------------------------------------------------

def test_ipv6_sources_parse_without_brackets_in_the_host() -> None:
    s = parse_source("sftp://me@[::1]:2222/x")
    assert (s.host, s.port, s.location, s.user) == ("::1", 2222, "[::1]:2222", "me")
    s = parse_source("me@[::1]:dir")  # sshfs style
    assert (s.host, s.port, s.location, s.root, s.user) == ("::1", None, "[::1]", "dir", "me")


def test_ipv6_literal_mounts_natively(sshd: SshServer, tmp_path: Path) -> None:
    name = f"v6-{os.getpid()}.txt"
    (sshd.home / name).write_text("over ::1")
    try:
        source = f"sftp://{sshd.user}@[::1]:{sshd.port}{sshd.home}"
        with mounted(source, tmp_path / "mnt", ["password_env=V6_PW", "strict_host_key_checking=no"],
                     {"V6_PW": sshd.password}, tmp_path / "cache") as mnt:
            assert (mnt / name).read_text() == "over ::1"
            (mnt / "w.txt").write_text("back")
        assert (sshd.home / "w.txt").read_text() == "back"
    finally:
        for n in (name, "w.txt"):
            (sshd.home / n).unlink(missing_ok=True)


def test_ipv6_literal_through_the_engine_says_it_cannot(tmp_path: Path) -> None:
    _refused(_cli("mount", "sftp://u@[::1]:1/x", str(tmp_path), "-o", "backend=engine"),
             "IPv6", "[::1]", "backend=native")


# -- 6. a file:// source that holds its own mountpoint --------------------------------

@pytest.mark.parametrize("case", ["same", "mountpoint-inside", "source-inside", "via-symlink",
                                  "cache-inside"])
def test_self_mount_is_refused(tmp_path: Path, case: str) -> None:
    x, other = tmp_path / "x", tmp_path / "other"
    (x / "sub").mkdir(parents=True)
    other.mkdir()
    (tmp_path / "link").symlink_to(x)
    source, mnt, opts = {
        "same": (x, x, []), "mountpoint-inside": (x, x / "sub", []),
        "source-inside": (x / "sub", x, []), "via-symlink": (tmp_path / "link", x / "sub", []),
        "cache-inside": (other, x, ["-o", f"cache_dir={x}/sub/c"]),
    }[case]
    try:
        result = _cli("mount", f"file://{source}", str(mnt), *opts)
        words = [str(x), str(x / "sub" / "c")] if case == "cache-inside" else \
            [str(source.resolve()), str(mnt)]
        _refused(result, *words)
        assert not is_mounted(mnt)
    finally:
        if is_mounted(mnt):  # before the fix: mounted; unmounted before anyone looks inside
            subprocess.run(["fusermount3", "-u", "-z", str(mnt)], capture_output=True)


def test_self_mount_from_the_config_is_refused_by_the_daemon(tmp_path: Path) -> None:
    x = tmp_path / "x"
    (x / "sub").mkdir(parents=True)
    (tmp_path / "d").mkdir()
    daemon = DaemonRun(tmp_path / "d")
    daemon.mountpoints.append(x / "sub")
    daemon.config.write_text(f'[mounts.self]\nsource = "file://{x}"\nmountpoint = "{x}/sub"\n'
                             f'options = {{ cache_dir = "{tmp_path}/c" }}\n')
    try:
        daemon.start()
        deadline = time.monotonic() + 60
        while f"is inside the source {x}" not in daemon.log.read_text():
            assert time.monotonic() < deadline, daemon.log.read_text()
            time.sleep(0.2)
        assert daemon.status()["mounts"] == []
        assert not is_mounted(x / "sub")
    finally:
        daemon.stop()


# -- 7. umount touches xenonfs mounts only (a plain tmpfs: tests/test_umount_busy.py) -----

def _tmpfs_count(where: Path) -> int:
    with open("/proc/mounts") as f:
        return sum(1 for line in f if line.split()[1:3] == [str(where), "tmpfs"])


def _untmpfs(where: Path) -> None:
    """Unmount the tmpfs file systems stacked on ``where`` (the top one each time)."""
    for _ in range(_tmpfs_count(where)):
        subprocess.run(["umount", str(where)], capture_output=True)


@pytest.fixture
def tmpfs_on() -> Iterator[list[Path]]:
    """Where the test mounts tmpfs file systems (`_tmpfs`); unmounted in teardown."""
    places: list[Path] = []
    try:
        yield places
    finally:
        for place in reversed(places):
            _untmpfs(place)


def _tmpfs(places: list[Path], where: Path) -> None:
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)], check=True)
    places.append(where)
    (where / "mine").write_text("not xenonfs's")


def test_umount_refuses_a_tmpfs_over_a_daemon_mount(tmpfs_on: list[Path], tmp_path: Path) -> None:
    backing = tmp_path / "b"
    backing.mkdir()
    with mounted(f"file://{backing}", tmp_path / "m", cache_dir=tmp_path / "c") as mnt:
        try:
            _tmpfs(tmpfs_on, mnt)
            _refused(_cli("umount", str(mnt)), str(mnt), "not a xenonfs mount", "tmpfs")
            assert _tmpfs_count(mnt) == 1 and (mnt / "mine").exists()
        finally:
            _untmpfs(mnt)  # before `mounted` unmounts what is on top
        (mnt / "still").write_text("served")  # the xenonfs mount below is unharmed
        assert (backing / "still").read_text() == "served"


def test_umount_refuses_a_tmpfs_over_a_foreground_mount(tmpfs_on: list[Path],
                                                        tmp_path: Path) -> None:
    backing, mnt = tmp_path / "b", tmp_path / "m"
    backing.mkdir()
    mnt.mkdir()
    proc = subprocess.Popen([*CLI, "mount", "-f", f"file://{backing}", str(mnt), "-o",
                             f"cache_dir={tmp_path / 'c'}"], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not is_mounted(mnt):
            assert proc.poll() is None, "mount -f ended"
            assert time.monotonic() < deadline, "mount -f did not mount"
            time.sleep(0.1)
        _tmpfs(tmpfs_on, mnt)
        _refused(_cli("umount", str(mnt)), str(mnt), "not a xenonfs mount", "tmpfs")
        assert _tmpfs_count(mnt) == 1
        _untmpfs(mnt)
        # umount waits for the mount process to go: reaped here, not left a zombie.
        umount = subprocess.Popen([*CLI, "umount", str(mnt)])
        assert proc.wait(60) == 0
        assert umount.wait(60) == 0
    finally:
        _untmpfs(mnt)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            if not wait_gone(proc.pid, 30):
                proc.kill()
            proc.wait()
        if is_mounted(mnt):
            subprocess.run(["fusermount3", "-u", "-z", str(mnt)], capture_output=True)
