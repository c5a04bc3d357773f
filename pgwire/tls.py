"""TLS for the PostgreSQL endpoint: the server's context, and a self-signed certificate on request.

A client asks for TLS with an SSLRequest; once a certificate is configured
the server answers ``S`` and the handshake follows on the same socket
(`pgwire.server`). This module only builds what that needs: an `ssl.SSLContext`
for the server side (TLS 1.2 or newer, ALPN ``postgresql`` as PostgreSQL 17
offers it) and the certificate's RFC 5929 hash for SCRAM channel binding.

`ensure_self_signed` writes a key and a certificate for localhost and the
addresses given, valid for ten years, and reuses them when they already
exist, so a client that pinned the certificate (``sslmode=verify-full
sslrootcert=server.crt``) keeps working across restarts.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from qp.frontend.scram import tls_server_end_point

CERT_FILE = "server.crt"
KEY_FILE = "server.key"


@dataclass(frozen=True)
class TlsConfig:
    context: ssl.SSLContext
    channel_binding: bytes  # tls-server-end-point data for SCRAM-SHA-256-PLUS
    cert_path: Path


def load(cert_path: Path | str, key_path: Path | str) -> TlsConfig:
    """A server context for a PEM certificate (chain) and key; raises ValueError naming what is wrong."""
    cert_path, key_path = Path(cert_path), Path(key_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["postgresql"])
    try:
        context.load_cert_chain(cert_path, key_path)
        pem = cert_path.read_bytes()
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"cannot load TLS certificate {cert_path} with key {key_path}: {exc}") from exc
    der = ssl.PEM_cert_to_DER_cert(pem.decode("ascii", "replace").split("-----END CERTIFICATE-----")[0]
                                   + "-----END CERTIFICATE-----\n")
    return TlsConfig(context, tls_server_end_point(der), cert_path)


def ensure_self_signed(directory: Path | str, hosts: list[str]) -> tuple[Path, Path]:
    """`server.crt` and `server.key` in `directory`, generated unless both are already there."""
    directory = Path(directory)
    cert_path, key_path = directory / CERT_FILE, directory / KEY_FILE
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    for host in dict.fromkeys(["127.0.0.1", "::1", *hosts]):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            if host and host not in ("localhost", "0.0.0.0", "::"):
                names.append(x509.DNSName(host))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dsql self-signed")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        # A CA certificate for itself, so clients can pin it as their root (sslrootcert).
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(key_bytes)
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path
