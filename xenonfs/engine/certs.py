"""Making the mutual-TLS files of one engine run (see `tls`).

Apart from `tls` because cryptography costs ~10 MB of RSS, kept for as long
as the process lives: the engine's starter runs this module as a child
(`python -m xenonfs.engine.certs DIR`), so a daemon that runs for months
never holds it; a mount worker only reads the files.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .tls import SERVER_NAME, TlsFiles


def _name(common_name: str) -> x509.Name:
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
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _issue(ca_key: ec.EllipticCurvePrivateKey, ca_name: x509.Name, cn: str,
           usage: x509.ObjectIdentifier, san: list[x509.GeneralName] | None,
           now: datetime.datetime, days: int) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
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
    files = TlsFiles.in_directory(directory)
    files.ca_cert.write_bytes(ca_cert.public_bytes(pem))
    files.server_cert.write_bytes(server_cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    files.client_cert.write_bytes(client_cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    _write_private(files.server_key, _key_pem(server_key))
    _write_private(files.client_key, _key_pem(client_key))
    return files


def main(argv: list[str]) -> int:
    """Args: argv: [DIRECTORY]. Returns: exit code."""
    if len(argv) != 1:
        print("usage: python -m xenonfs.engine.certs DIRECTORY", file=sys.stderr)
        return 2
    make_tls_files(Path(argv[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
