"""The seed's two documented examples, run as scripts against real servers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).parent / "examples"


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    # 'python' in the rot13 job must be this interpreter.
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env.update(extra)
    return env


def test_quick_start_over_sftp_and_ssh(sshd, tmp_path: Path) -> None:
    # The seed's Quick Start passes no properties, so the engine checks host
    # keys strictly: give it a home whose known_hosts has the test server.
    ssh = tmp_path / "home" / ".ssh"
    ssh.mkdir(parents=True, mode=0o700)
    kind, key = (sshd.workdir / "host_ed25519.pub").read_text().split()[:2]
    (ssh / "known_hosts").write_text(f"[localhost]:{sshd.port} {kind} {key}\n")
    for name in ("hello.sh", "result.txt"):
        (sshd.home / name).unlink(missing_ok=True)
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "quickstart.py")], capture_output=True, text=True,
        timeout=180, cwd=tmp_path, env=_env(
            QUICKSTART_LOCATION=sshd.location, QUICKSTART_USERNAME=sshd.user,
            QUICKSTART_PASSWORD=sshd.password,
            JDK_JAVA_OPTIONS=f"-Duser.home={tmp_path / 'home'}"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "state='DONE'" in result.stdout and "exit_code=0" in result.stdout
    assert "Hello, World!" in result.stdout
    assert (sshd.home / "result.txt").read_text() == "Hello, World!\n"
    assert sshd.password not in result.stdout + result.stderr


def test_rot13_online_job(tmp_path: Path) -> None:
    (tmp_path / "rot13.py").write_bytes((EXAMPLES / "rot13.py").read_bytes())
    result = subprocess.run([sys.executable, str(EXAMPLES / "rot13_example.py")],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path,
                            env=_env())
    assert result.returncode == 0, result.stderr[-3000:]
    received = [line.split("[received]", 1)[1].strip()
                for line in result.stdout.splitlines() if "[received]" in line]
    assert received == ["Mystic noble gas,", "Heavy yet fleeting from grasp,",
                        "Blue like burning ice."]
