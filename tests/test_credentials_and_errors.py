"""Credential kinds and bad input against real sshd; the engine survives every error."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from tests.conftest import SFTP_PROPS, Runner
from xenonfs.client import (CertificateCredential, CredentialMap, DefaultCredential,
                            KeytabCredential, PasswordCredential, errors, open_client)
from xenonfs.engine.process import EngineSettings


@pytest.mark.parametrize("kind", ["ed25519", "rsa", "ecdsa"])
def test_certificate_credential_per_key_type(engine: Runner, sshd, kind: str) -> None:
    async def body() -> None:
        cred = CertificateCredential(sshd.user, str(sshd.key_files[kind]))
        fs = await engine.client.create_file_system("sftp", sshd.location, SFTP_PROPS, cred)
        assert await fs.get_working_directory() == sshd.home
        assert await fs.get_credential() == cred
        await fs.close()

    engine(body)


def test_credential_map_picks_by_location(engine: Runner, sshd) -> None:
    async def body() -> None:
        good = PasswordCredential(sshd.user, sshd.password)
        cmap = CredentialMap({sshd.location: good},
                             default=PasswordCredential(sshd.user, "wrong"))
        fs = await engine.client.create_file_system("sftp", sshd.location, SFTP_PROPS, cmap)
        assert await fs.exists(".")
        assert await fs.get_credential() == cmap
        assert await fs.get_location() == sshd.location
        assert await fs.get_properties() == SFTP_PROPS
        await fs.close()
        only_default = CredentialMap({"elsewhere:22": good},
                                     default=PasswordCredential(sshd.user, "wrong"))
        with pytest.raises(errors.InvalidCredentialException):
            await engine.client.create_file_system("sftp", sshd.location, SFTP_PROPS, only_default)

    engine(body)


def test_keytab_credential_is_refused_by_adaptors_without_kerberos(engine: Runner, sshd) -> None:
    async def body() -> None:
        with pytest.raises(errors.InvalidCredentialException, match="credential"):
            await engine.client.create_file_system(
                "sftp", sshd.location, SFTP_PROPS, KeytabCredential(sshd.user, "/nonexistent"))

    engine(body)


def test_strict_host_keys_use_known_hosts_of_the_engine_home(sshd, tmp_path: Path) -> None:
    """Strict host key checking (the engine default) passes only with the host
    key in the engine user's known_hosts; the engine looks loopback up under
    the name "localhost"."""
    home = tmp_path / "home"
    ssh = home / ".ssh"
    ssh.mkdir(parents=True, mode=0o700)
    host_pub = (sshd.workdir / "host_ed25519.pub").read_text().split()
    settings = EngineSettings(heap="128m", jvm_args=(f"-Duser.home={home}",))
    cred = PasswordCredential(sshd.user, sshd.password)

    async def main() -> None:
        async with open_client(settings) as client:
            with pytest.raises(errors.InvalidCredentialException, match="known_hosts"):
                await client.create_file_system("sftp", sshd.location, {}, cred)
            (ssh / "known_hosts").write_text(
                f"[localhost]:{sshd.port} {host_pub[0]} {host_pub[1]}\n")
            fs = await client.create_file_system("sftp", sshd.location, {}, cred)
            assert await fs.get_working_directory() == sshd.home
            # The default credential is passed to the engine as such; with no
            # usable key or agent for this user it is refused, not ignored.
            with pytest.raises(errors.InvalidCredentialException):
                await client.create_file_system("sftp", sshd.location, {},
                                                DefaultCredential(sshd.user))

    trio.run(main)


def test_bad_input_gives_the_right_exception_and_engine_stays_usable(engine: Runner, sshd,
                                                                     sftp_credential) -> None:
    async def body() -> None:
        c = engine.client
        with pytest.raises(errors.UnknownAdaptorException, match="nope"):
            await c.create_file_system("nope", "/")
        with pytest.raises(errors.InvalidLocationException, match="empty"):
            await c.create_file_system("sftp", "", SFTP_PROPS, sftp_credential)
        with pytest.raises(errors.InvalidLocationException):
            await c.create_file_system("sftp", "host:with:colons:x", SFTP_PROPS, sftp_credential)
        with pytest.raises(errors.NotConnectedException, match="127.0.0.1:1"):
            await c.create_file_system("sftp", "127.0.0.1:1", SFTP_PROPS, sftp_credential)
        with pytest.raises(errors.InvalidCredentialException,
                           match="Connection authentication failed") as info:
            await c.create_file_system("sftp", sshd.location, SFTP_PROPS,
                                       PasswordCredential(sshd.user, "wrong"))
        assert info.value.errno == 13 and "wrong" not in str(info.value)
        with pytest.raises(errors.UnknownPropertyException, match="bogus"):
            await c.create_file_system("sftp", sshd.location, {"bogus": "1"}, sftp_credential)
        fs = await c.create_file_system("sftp", sshd.location, SFTP_PROPS, sftp_credential)
        with pytest.raises(errors.NoSuchPathException, match="/no/such/path") as missing:
            await fs.get_attributes("/no/such/path")
        assert missing.value.errno == 2
        with pytest.raises(errors.PathAlreadyExistsException) as exists:
            await fs.create_directory(str(sshd.home))
        assert exists.value.errno == 17
        with pytest.raises(errors.NoSuchPathException):
            await fs.read_bytes("/no/such/file")
        # the engine and this file system still work
        assert await fs.exists(str(sshd.home))
        await fs.close()
        assert "sftp" in await c.get_file_system_adaptor_names()

    engine(body)


def test_secrets_do_not_leak_into_reprs_or_messages(sshd) -> None:
    cred = PasswordCredential(sshd.user, "s3cr3t-value")
    assert "s3cr3t" not in repr(cred)
    cert = CertificateCredential("u", "/k", passphrase="pass-phrase-x")
    assert "pass-phrase-x" not in repr(cert)
