"""Ephemeral mutual-TLS material for one engine run.

The engine (netty) listens on every interface, so the only thing between a
stranger on the network and "run jobs as this user" is client-certificate
authentication. Every engine start gets a fresh CA; the CA signs one server
and one client certificate and is never written with its key.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

# cryptography (~8 MiB of RSS) is imported where certificates are made: a mount
# worker only reads the PEM files the daemon made.

#: The name the client expects in the server certificate.
SERVER_NAME = "localhost"


@dataclass(frozen=True)
class TlsFiles:
    """Paths of the PEM files one engine run uses.

    Attributes:
        ca_cert: CA certificate, trusted by both sides.
        server_cert: server certificate chain (server cert + CA).
        server_key: server private key, PKCS#8 (netty needs PKCS#8).
        client_cert: client certificate chain.
        client_key: client private key.
    """

    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    def client_credentials(self) -> tuple[bytes, bytes, bytes]:
        """Returns: (root CA, client key, client cert chain) as PEM bytes."""
        return (self.ca_cert.read_bytes(), self.client_key.read_bytes(),
                self.client_cert.read_bytes())


def _name(common_name: str) -> x509.Name:
    from cryptography import x509
    from cryptography.x509.oid import NameOID
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "xenonfs"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def _write_private(path: Path, data: bytes) -> None:
    # O_EXCL + 0600 at creation: the key is never readable by others, not
    # even for the instant between write and chmod.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _issue(ca_key: ec.EllipticCurvePrivateKey, ca_name: x509.Name, cn: str,
           usage: x509.ObjectIdentifier, san: list[x509.GeneralName] | None,
           now: datetime.datetime, days: int) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (x509.CertificateBuilder()
               .subject_name(_name(cn)).issuer_name(ca_name)
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


def make_tls_files(directory: Path, days: int = 3650) -> TlsFiles:
    """Create a CA, a server and a client certificate in ``directory``.

    Args:
        directory: an existing private (0700) directory; files must not exist.
        days: validity. Long, because the daemon may run for months and the
            CA key is discarded, so nothing can be re-signed later.

    Returns:
        The paths written.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("xenonfs engine CA")
    ca_cert = (x509.CertificateBuilder()
               .subject_name(ca_name).issuer_name(ca_name)
               .public_key(ca_key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                            crl_sign=True, content_commitment=False,
                                            key_encipherment=False, data_encipherment=False,
                                            key_agreement=False, encipher_only=False,
                                            decipher_only=False), critical=True)
               .sign(ca_key, hashes.SHA256()))
    san = [x509.DNSName(SERVER_NAME), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
           x509.IPAddress(ipaddress.ip_address("::1"))]
    server_key, server_cert = _issue(ca_key, ca_name, SERVER_NAME,
                                     ExtendedKeyUsageOID.SERVER_AUTH, san, now, days)
    client_key, client_cert = _issue(ca_key, ca_name, "xenonfs client",
                                     ExtendedKeyUsageOID.CLIENT_AUTH, None, now, days)
    pem = serialization.Encoding.PEM
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key",
                     directory / "client.pem", directory / "client.key")
    files.ca_cert.write_bytes(ca_cert.public_bytes(pem))
    files.server_cert.write_bytes(server_cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    files.client_cert.write_bytes(client_cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    _write_private(files.server_key, _key_pem(server_key))
    _write_private(files.client_key, _key_pem(client_key))
    return files
