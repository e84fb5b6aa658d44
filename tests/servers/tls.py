"""Throwaway test PKI: a CA and a server certificate for 127.0.0.1 / localhost.

    pki = make_test_pki(tmp_dir)
    pki.ca_file, pki.cert_file, pki.key_file      # PEM paths
    ctx = client_ssl_context(pki.ca_file)           # trusts only the test CA, checks hostnames

Keys are ECDSA P-256 (generation is instant; Dovecot, PostgreSQL, OpenSSL, Python, swaks and
NSS all accept them). Nothing here is fit for production use.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import os
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["TestPKI", "client_ssl_context", "make_test_pki", "server_ssl_context"]


@dataclass(frozen=True)
class TestPKI:
    """Paths of the generated PEM files (all in ``directory``)."""

    __test__ = False  # not a pytest test class

    directory: Path
    ca_file: Path  # CA certificate (trust anchor for clients)
    ca_key_file: Path
    cert_file: Path  # server certificate (leaf only)
    key_file: Path  # server private key (unencrypted PKCS#8, mode 0600)
    chain_file: Path  # server certificate followed by the CA certificate
    hostnames: tuple[str, ...]
    ip_addresses: tuple[str, ...]

    def client_context(self) -> ssl.SSLContext:
        return client_ssl_context(self.ca_file)

    def server_context(self) -> ssl.SSLContext:
        return server_ssl_context(self.cert_file, self.key_file)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "TH"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "saraban-gateway tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, mode)


def make_test_pki(
    directory: str | os.PathLike[str],
    hostnames: Iterable[str] = ("localhost",),
    ip_addresses: Iterable[str] = ("127.0.0.1", "::1"),
) -> TestPKI:
    """Create ``ca.pem``, ``ca.key``, ``server.pem``, ``server.key``, ``server-chain.pem``."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    hostnames = tuple(hostnames)
    ip_addresses = tuple(ip_addresses)
    # A wide window fixed in advance, not from "now": the suite runs with shifted wall clocks
    # (scripts/test --at) while OpenSSL, Dovecot and PostgreSQL keep the real one.
    not_before = _dt.datetime(2000, 1, 1, tzinfo=_dt.UTC)
    not_after = _dt.datetime(2099, 12, 31, tzinfo=_dt.UTC)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("saraban-gateway test CA")
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    san: list[x509.GeneralName] = [x509.DNSName(h) for h in hostnames]
    san += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    cn = hostnames[0] if hostnames else (ip_addresses[0] if ip_addresses else "localhost")
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    pem = serialization.Encoding.PEM
    ca_pem = ca_cert.public_bytes(pem)
    cert_pem = cert.public_bytes(pem)
    pkcs8 = serialization.PrivateFormat.PKCS8
    nokey = serialization.NoEncryption()

    pki = TestPKI(
        directory=d,
        ca_file=d / "ca.pem",
        ca_key_file=d / "ca.key",
        cert_file=d / "server.pem",
        key_file=d / "server.key",
        chain_file=d / "server-chain.pem",
        hostnames=hostnames,
        ip_addresses=ip_addresses,
    )
    _write(pki.ca_file, ca_pem, 0o644)
    _write(pki.ca_key_file, ca_key.private_bytes(pem, pkcs8, nokey), 0o600)
    _write(pki.cert_file, cert_pem, 0o644)
    _write(pki.key_file, key.private_bytes(pem, pkcs8, nokey), 0o600)
    _write(pki.chain_file, cert_pem + ca_pem, 0o644)
    return pki


def client_ssl_context(ca_file: str | os.PathLike[str]) -> ssl.SSLContext:
    """A client context that trusts only ``ca_file`` and verifies host names / IP addresses."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=os.fspath(ca_file))
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def server_ssl_context(
    cert_file: str | os.PathLike[str], key_file: str | os.PathLike[str]
) -> ssl.SSLContext:
    """A server context (e.g. for aiosmtpd STARTTLS / implicit TLS in tests)."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(os.fspath(cert_file), os.fspath(key_file))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx
