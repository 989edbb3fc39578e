"""Ephemeral mutual-TLS material for one engine run.

The engine (netty) listens on every interface, so the only thing between a
stranger on the network and "run jobs as this user" is client-certificate
authentication. Every engine start gets a fresh CA; the CA signs one server
and one client certificate and is never written with its key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


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

    @classmethod
    def in_directory(cls, directory: Path) -> "TlsFiles":
        """Returns: the paths `certs.make_tls_files` writes in ``directory``."""
        return cls(directory / "ca.pem", directory / "server.pem", directory / "server.key",
                   directory / "client.pem", directory / "client.key")

    def client_credentials(self) -> tuple[bytes, bytes, bytes]:
        """Returns: (root CA, client key, client cert chain) as PEM bytes."""
        return (self.ca_cert.read_bytes(), self.client_key.read_bytes(),
                self.client_cert.read_bytes())
