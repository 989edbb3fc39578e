"""webdav on apache2 + mod_dav: the engine's quirks and what xenonfs makes of them.

The mount behaviour suite (tests/test_mount_behaviour.py) runs on webdav too;
this file holds what only webdav has: refused operations that the engine
reports as plain errors, a wrong password that only shows at the first
operation, writes that land after the engine says they are done, and https.
"""

from __future__ import annotations

import errno
import os
import subprocess
import uuid
from pathlib import Path
from typing import Iterator

import pytest
import trio

from tests.conftest import Runner
from tests.mounts import XENONFS, is_mounted
from tests.servers.webdav import WebdavServer
from xenonfs.client import FileSystem, PasswordCredential, errors, open_client
from xenonfs.engine.process import EngineSettings
from xenonfs.backends.engine import remote_attr


@pytest.fixture
def dav_fs(engine: Runner, webdav: WebdavServer) -> Iterator[tuple[FileSystem, str]]:
    """The engine's webdav file system and a fresh directory in the share."""
    fs = engine(engine.client.create_file_system, "webdav", webdav.url, {},
                PasswordCredential(webdav.user, webdav.password))
    root = f"/dav/q-{uuid.uuid4().hex[:8]}"
    engine(fs.create_directory, root)
    try:
        yield fs, root
    finally:
        engine(fs.delete, root, True)
        engine(fs.close)


def test_refused_operations_are_enotsup(engine: Runner, dav_fs) -> None:
    fs, root = dav_fs

    async def body() -> None:
        await fs.write_to_file(f"{root}/f", [b"data"])
        # append, chmod and readlink come back as plain XenonExceptions
        # (gRPC INTERNAL); the error table makes them "not supported".
        for call in (fs.append_to_file(f"{root}/f", [b"x"]),
                     fs.set_posix_file_permissions(f"{root}/f", set()),
                     fs.read_symbolic_link(f"{root}/f"),
                     fs.create_symbolic_link(f"{root}/l", f"{root}/f")):
            with pytest.raises(errors.UnsupportedOperationException) as info:
                await call
            assert info.value.errno == errno.ENOTSUP

    engine(body)


def test_directory_size_and_overwrite(engine: Runner, dav_fs) -> None:
    fs, root = dav_fs

    async def body() -> None:
        attrs = await fs.get_attributes(root)
        assert attrs.is_directory and attrs.size == 2 ** 64 - 1  # getcontentlength -1
        assert remote_attr(attrs, read_permissions=False).size == 0
        await fs.create_file(f"{root}/e")
        # No overwrite through writeToFile (the mount deletes first, via copy REPLACE).
        with pytest.raises(errors.PathAlreadyExistsException):
            await fs.write_to_file(f"{root}/e", [b"new"])

    engine(body)


def test_write_lands_after_the_engine_returns(engine: Runner, dav_fs, webdav) -> None:
    """Documents the quirk the mount waits for: the PUT runs on after writeToFile."""
    fs, root = dav_fs
    payload = os.urandom(4 << 20)

    async def body() -> None:
        chunks = [payload[i:i + (1 << 20)] for i in range(0, len(payload), 1 << 20)]
        await fs.write_to_file(f"{root}/big", chunks)
        # Poll as the mount does; the file must arrive whole.
        with trio.fail_after(30):
            while True:
                try:
                    if (await fs.get_attributes(f"{root}/big")).size == len(payload):
                        break
                except errors.NoSuchPathException:
                    pass
                await trio.sleep(0.02)

    engine(body)
    assert (webdav.root / root.split("/")[-1] / "big").read_bytes() == payload


def _mount(source: str, mountpoint: Path, password: str, tmp_path: Path
           ) -> subprocess.CompletedProcess[str]:
    mountpoint.mkdir(exist_ok=True)
    return subprocess.run([*XENONFS, "mount", source, str(mountpoint), "-o", "password_env=DAVPW",
                           "-o", f"cache_dir={tmp_path / 'cache'}"],
                          env={**os.environ, "DAVPW": password}, capture_output=True, text=True,
                          timeout=120)


def test_wrong_password_fails_the_mount_and_says_why(webdav: WebdavServer, tmp_path: Path) -> None:
    # The engine creates the file system without checking the login; the
    # mount's first look at its root fails and the message names the cause.
    mnt = tmp_path / "mnt"
    wrong = "not-" + webdav.password
    result = _mount(f"webdav+http://{webdav.user}@127.0.0.1:{webdav.port}/dav", mnt, wrong,
                    tmp_path)
    assert result.returncode != 0
    assert "refused the login of user 'xenonfs' (HTTP 401" in result.stderr
    assert wrong not in result.stderr
    assert not is_mounted(mnt) and os.listdir(mnt) == []


def test_unreachable_server_and_missing_share_are_named(webdav: WebdavServer,
                                                        tmp_path: Path) -> None:
    mnt = tmp_path / "mnt"
    result = _mount(f"webdav+http://{webdav.user}@127.0.0.1:9/dav", mnt, webdav.password, tmp_path)
    assert result.returncode != 0 and "cannot connect to 127.0.0.1:9" in result.stderr
    result = _mount(f"webdav+http://{webdav.user}@127.0.0.1:{webdav.port}/dav/nope", mnt,
                    webdav.password, tmp_path)
    assert result.returncode != 0 and "Path does not exist: /dav/nope" in result.stderr
    assert not is_mounted(mnt)


def test_https_with_a_self_signed_certificate(tmp_path: Path) -> None:
    """The engine refuses an untrusted certificate (and says only "Failed to check
    existence"); with the certificate in the JVM's trust store it works."""
    with WebdavServer(https=True) as server:
        cred = PasswordCredential(server.user, server.password)

        async def round_trip(jvm_args: list[str]) -> bytes | errors.XenonException:
            async with open_client(EngineSettings(heap="128m", jvm_args=tuple(jvm_args))) as c:
                fs = await c.create_file_system("webdav", server.url, {}, cred)
                try:
                    await fs.write_to_file("/dav/tls.txt", [b"over tls"])
                except errors.XenonException as exc:
                    return exc
                with trio.fail_after(30):
                    while not await fs.exists("/dav/tls.txt"):
                        await trio.sleep(0.02)
                return await fs.read_bytes("/dav/tls.txt")

        refused = trio.run(round_trip, [])
        assert isinstance(refused, errors.XenonException)
        assert "Failed to check existence" in str(refused)
        assert trio.run(round_trip, server.java_trust_args()) == b"over tls"
        assert (server.root / "tls.txt").read_bytes() == b"over tls"
        # What the mount command then says about the untrusted certificate:
        from xenonfs.backends.webdav_diagnosis import describe_failure
        why = describe_failure(server.url, "/dav", server.user, server.password)
        assert "certificate is not trusted" in why


def test_https_mount_with_the_daemon_trusting_a_site_ca(tmp_path: Path) -> None:
    """`engine_ca_file` in the daemon's config: a mount of an https server with
    a self-signed certificate works end to end; without it the mount fails."""
    from tests.test_daemon import DaemonRun

    with WebdavServer(https=True) as server:
        source = f"webdav+https://{server.user}@127.0.0.1:{server.port}/dav"
        env = {"DAVPW": server.password}
        for d in ("plain", "trusting"):
            (tmp_path / d).mkdir()
        plain = DaemonRun(tmp_path / "plain", env).start()
        try:
            (tmp_path / "m1").mkdir()
            refused = plain.cli("mount", source, str(tmp_path / "m1"), "-o", "password_env=DAVPW")
            assert refused.returncode != 0 and not is_mounted(tmp_path / "m1")
            assert "not trusted" in refused.stderr and "engine_ca_file" in refused.stderr
        finally:
            plain.stop()
        run = DaemonRun(tmp_path / "trusting", env)
        run.config.write_text(f'[daemon]\nengine_ca_file = "{server.cert_file}"\n')
        run.start()
        mnt = tmp_path / "m2"
        mnt.mkdir()
        run.mountpoints.append(mnt)
        try:
            done = run.cli("mount", source, str(mnt), "-o", "password_env=DAVPW",
                           "-o", f"cache_dir={tmp_path / 'cache'}")
            assert done.returncode == 0, done.stderr
            (mnt / "secure.txt").write_text("over https\n")
            assert (server.root / "secure.txt").read_text() == "over https\n"
            assert run.cli("umount", str(mnt)).returncode == 0
        finally:
            run.stop()


def test_a_bad_ca_file_is_named_by_config_check(tmp_path: Path) -> None:
    from tests.test_daemon import DaemonRun

    run = DaemonRun(tmp_path)
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate\n")
    run.config.write_text(f'[daemon]\nengine_ca_file = "{not_pem}"\n')
    checked = run.cli("config", "check")
    assert checked.returncode != 0
    assert "engine_ca_file" in checked.stderr and "no PEM certificate" in checked.stderr
