"""systemd integration: the unit file, its installation, the notify protocol
pieces, journald/stderr logging with masked secrets, the fstab helper."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from xenonfs.fstab import main as fstab_main
from xenonfs.fstab import map_options
from xenonfs.service import install, unit_text

ROOT = Path(__file__).resolve().parent.parent


def _verify(unit: Path, runtime: Path) -> subprocess.CompletedProcess[str]:
    # --user needs a runtime dir even where systemd is not PID 1.
    return subprocess.run(["systemd-analyze", "--user", "verify", str(unit)], capture_output=True,
                          text=True, timeout=60,
                          env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)})


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    unit = install(tmp_path / "units", exec_path=sys.executable + " -m xenonfs.cli")
    result = _verify(unit, runtime)
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr
    # The check can fail: a wrong type and a missing binary are reported.
    bad = tmp_path / "bad" / "xenonfs.service"
    bad.parent.mkdir()
    bad.write_text(unit.read_text().replace("Type=notify", "Type=bogus")
                   .replace(sys.executable, "/nonexistent/python"))
    result = _verify(bad, runtime)
    assert "bogus" in result.stderr and "/nonexistent/python" in result.stderr


def test_unit_template_is_the_packaged_one() -> None:
    assert (ROOT / "systemd" / "xenonfs.service").read_text() == \
        (ROOT / "xenonfs" / "data" / "xenonfs.service").read_text()
    text = unit_text("/opt/x/bin/xenonfs")
    assert "ExecStart=/opt/x/bin/xenonfs daemon" in text
    for line in ("Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "WatchdogSec=",
                 "Restart=on-failure", "TimeoutStopSec="):
        assert line in text
    assert "@XENONFS@" not in text


def test_service_install_writes_the_user_unit(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    out = subprocess.run([sys.executable, "-m", "xenonfs.cli", "service", "install"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    unit = tmp_path / "cfg" / "systemd" / "user" / "xenonfs.service"
    assert f"installed {unit}" in out.stdout
    assert "systemctl --user enable --now xenonfs.service" in out.stdout
    exec_line = next(l for l in unit.read_text().splitlines() if l.startswith("ExecStart="))
    command = exec_line.removeprefix("ExecStart=").split()[0]
    assert os.path.isabs(command) and os.access(command, os.X_OK)


def test_notifier_sends_to_the_notify_socket(tmp_path: Path) -> None:
    path = tmp_path / "n.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(path))
    listener.settimeout(30)
    child = textwrap.dedent("""
        from xenonfs.notify import Notifier, watchdog_interval
        n = Notifier()
        n.ready("up"); n.watchdog(); n.status("busy"); n.stopping()
        print(watchdog_interval())
    """)
    try:
        out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                             timeout=60, env={**os.environ, "NOTIFY_SOCKET": str(path),
                                              "WATCHDOG_USEC": "200000"})
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "0.1"
        got = [listener.recv(4096).decode() for _ in range(4)]
    finally:
        listener.close()
    assert got == ["READY=1\nSTATUS=up", "WATCHDOG=1", "STATUS=busy", "STOPPING=1"]


def test_watchdog_interval_only_for_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    from xenonfs.notify import watchdog_interval
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    assert watchdog_interval() is None
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert watchdog_interval() == 15.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    assert watchdog_interval() is None


def _log_child(journal: bool) -> subprocess.CompletedProcess[str]:
    child = textwrap.dedent(f"""
        import logging
        from xenonfs.logs import register_secret, set_default_field, setup_logging
        setup_logging(logging.INFO, journal={journal})
        setup_logging(logging.INFO, journal={journal})  # twice: no duplicate lines
        register_secret("hunter2-secret")
        set_default_field("JOB_ID", "j7")
        log = logging.getLogger("xenonfs.test")
        log.info("login with %s failed", "hunter2-secret", extra={{"MOUNT": "m1", "PATH": "/a"}})
        log.warning("password is hunter2-secret")
        print("done")
    """)
    return subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                          timeout=60)


def test_stderr_logs_mask_secrets_and_carry_fields() -> None:
    out = _log_child(journal=False)
    assert out.returncode == 0, out.stderr
    assert "hunter2-secret" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 2
    assert "login with *** failed" in lines[0] and "[mount=m1 path=/a job_id=j7]" in lines[0]
    assert "password is ***" in lines[1]


def test_journal_logging_does_not_fail_without_journald() -> None:
    # No journald runs here: sending must not raise or print tracebacks of ours.
    out = _log_child(journal=True)
    assert out.returncode == 0 and out.stdout.strip() == "done", out.stderr
    assert "hunter2-secret" not in out.stderr
    assert "login with" not in out.stderr  # it went to the journal handler, not stderr


def test_fstab_options_are_mapped() -> None:
    assert map_options(["noauto,user,_netdev,ro", "x-systemd.automount,nofail",
                        "password_file=/p,attr_timeout=5,defaults,comment=x"]) == \
        ["ro", "password_file=/p", "attr_timeout=5"]
    assert map_options(["defaults"]) == []


def test_fstab_helper_runs_xenonfs_mount(capsys: pytest.CaptureFixture[str]) -> None:
    assert fstab_main(["sftp://h/d", "/mnt/x", "-o", "noauto,user,_netdev,ro", "-f"]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed.endswith("-m xenonfs.cli mount sftp://h/d /mnt/x -o ro")
    assert fstab_main(["file:///nonexistent", "/nonexistent-mnt", "-o", "defaults"]) == 32


def test_journal_gets_the_fields_and_no_secrets() -> None:
    # The real JournalHandler.emit runs; only its documented sender hook
    # (sender_function, stored as .send) is pointed at a list instead of journald.
    child = textwrap.dedent("""
        import json, logging
        from xenonfs.logs import register_secret, setup_logging
        setup_logging(logging.INFO, journal=True)
        handler = logging.getLogger().handlers[-1]
        sent = []
        handler.send = lambda message, /, **fields: sent.append({"MESSAGE": message, **{
            k: str(v) for k, v in fields.items() if k.isupper()}})
        register_secret("hunter2-secret")
        log = logging.getLogger("xenonfs.test")
        log.info("user %s", "hunter2-secret",
                 extra={"MOUNT": "m1", "PATH": "/hunter2-secret/a", "JOB_ID": "j7"})
        try:
            raise RuntimeError("bad password hunter2-secret")
        except RuntimeError:
            log.exception("login failed")
        print(json.dumps(sent))
    """)
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    first, second = json.loads(out.stdout)
    assert first["MESSAGE"] == "user ***" and first["SYSLOG_IDENTIFIER"] == "xenonfs"
    assert (first["MOUNT"], first["PATH"], first["JOB_ID"]) == ("m1", "/***/a", "j7")
    assert "RuntimeError: bad password ***" in second["MESSAGE"]
    assert "hunter2-secret" not in out.stdout + out.stderr


def test_stderr_tracebacks_are_masked() -> None:
    child = textwrap.dedent("""
        import logging
        from xenonfs.logs import register_secret, setup_logging
        setup_logging(logging.INFO, journal=False)
        register_secret("abcd")
        register_secret("abcd-longer-secret")
        try:
            raise RuntimeError("bad password abcd-longer-secret")
        except RuntimeError:
            logging.getLogger("xenonfs.test").exception("login failed")
    """)
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert "RuntimeError: bad password ***\n" in out.stderr
    assert "abcd" not in out.stderr and "longer-secret" not in out.stderr


def test_notifier_reports_the_watchdog_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    from xenonfs.notify import Notifier
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert Notifier().watchdog_interval() == 15.0
    monkeypatch.setenv("WATCHDOG_USEC", "0")
    assert Notifier().watchdog_interval() is None
