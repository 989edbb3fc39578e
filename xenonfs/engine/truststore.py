"""Extra trusted CAs for the engine's https connections (webdav, s3).

The engine's adaptors trust the JVM's default CA list only, so a server with a
self-signed or site-internal certificate fails with a bare "Failed to check
existence". Given a PEM file of extra CAs, we build a trust store holding the
JVM's default CAs plus those, and point the JVM at it. The store holds public
certificates only; its password (a fixed, documented one) protects nothing.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography import x509

#: The trust store's password: Java needs one; it guards public data only.
STORE_PASSWORD = "changeit"


class TrustStoreError(ValueError):
    """The CA file is unusable; the message names it and why."""


def read_cas(ca_file: Path) -> list[x509.Certificate]:
    """Args: ca_file: PEM file with one or more certificates.

    Returns:
        Its certificates.

    Raises:
        TrustStoreError: unreadable, or no PEM certificate in it.
    """
    try:
        data = ca_file.read_bytes()
    except OSError as exc:
        raise TrustStoreError(f"CA file {ca_file}: {exc.strerror}") from None
    try:
        from cryptography import x509  # here: mount workers never need it

        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        certs = []
    if not certs:
        raise TrustStoreError(f"CA file {ca_file}: no PEM certificate in it")
    return certs


def build(java: Path, ca_file: Path, directory: Path) -> list[str]:
    """Write ``directory/truststore.p12``: the JVM's default CAs plus ``ca_file``'s.

    Args:
        java: the java executable (its keytool and default cacerts are used).
        ca_file: PEM file of extra CAs.
        directory: a private directory of the engine.

    Returns:
        The JVM options that make the engine use the store.

    Raises:
        TrustStoreError: the CA file is unusable or keytool failed.
    """
    from cryptography.hazmat.primitives.serialization import Encoding

    certs = read_cas(ca_file)
    java = java.resolve()
    keytool = java.parent / "keytool"
    store = directory / "truststore.p12"
    store.unlink(missing_ok=True)
    default = java.parent.parent / "lib" / "security" / "cacerts"
    if default.exists():
        # Keep the public CAs: the store replaces the default one.
        shutil.copyfile(default, store)
        store.chmod(0o600)
    for i, cert in enumerate(certs):
        pem = directory / f"extra-ca-{i}.pem"
        pem.write_bytes(cert.public_bytes(Encoding.PEM))
        done = subprocess.run([str(keytool), "-importcert", "-noprompt", "-alias",
                               f"xenonfs-extra-{i}", "-file", str(pem), "-keystore", str(store),
                               "-storetype", "PKCS12", "-storepass", STORE_PASSWORD],
                              capture_output=True, text=True)
        pem.unlink()
        if done.returncode != 0:
            raise TrustStoreError(f"CA file {ca_file}: keytool refused certificate {i + 1}: "
                                  f"{(done.stdout + done.stderr).strip()[-300:]}")
    return [f"-Djavax.net.ssl.trustStore={store}", "-Djavax.net.ssl.trustStoreType=PKCS12",
            f"-Djavax.net.ssl.trustStorePassword={STORE_PASSWORD}"]
