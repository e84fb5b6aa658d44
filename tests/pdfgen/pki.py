"""A throwaway PKI for PDF signature tests: a root CA, a signer (PKCS#12) and a TSA.

Everything is generated in the test run with the `cryptography` package, so no key
material is ever committed. Keys are RSA-2048 because pyHanko's DummyTimeStamper
signs with PKCS#1 v1.5 and because that is what Thai agencies' certificates use.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SIGNER_CN = "นางสาวสมศรี ใจดี"  # the sender's signer (incoming letters)
AGENCY_CN = "นายสมชาย รักราชการ"  # our agency's signer (outgoing letters)
SIGNER_ORG = "สำนักงานทดสอบสารบรรณ"
PASSPHRASE = b"test-passphrase"

# Test certificates are valid over a wide window fixed in advance, not from "now": the suite
# runs with shifted wall clocks (scripts/test --at) while OpenSSL and poppler keep the real one.
VALID_FROM = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
VALID_UNTIL = dt.datetime(2099, 12, 31, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Pki:
    ca_cert: x509.Certificate
    ca_key: rsa.RSAPrivateKey = field(repr=False)
    signer_cert: x509.Certificate
    signer_key: rsa.RSAPrivateKey = field(repr=False)
    tsa_cert: x509.Certificate
    tsa_key: rsa.RSAPrivateKey = field(repr=False)
    signer_p12: bytes = field(repr=False)
    agency_cert: x509.Certificate
    # poppler 22.12's pdfsig reports "Unknown issue with Certificate" for the second of two
    # signatures by one certificate, so the agency signs with a certificate of its own.
    agency_p12: bytes = field(repr=False)
    passphrase: bytes = field(repr=False)

    @property
    def ca_pem(self) -> bytes:
        return self.ca_cert.public_bytes(serialization.Encoding.PEM)

    @property
    def ca_der(self) -> bytes:
        return self.ca_cert.public_bytes(serialization.Encoding.DER)


def _name(cn: str, org: str = SIGNER_ORG) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "TH"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _issue(
    subject: x509.Name,
    key: rsa.RSAPrivateKey,
    issuer: x509.Name,
    issuer_key: rsa.RSAPrivateKey,
    *,
    ca: bool,
    eku: list[x509.ObjectIdentifier] | None = None,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(VALID_FROM)
        .not_valid_after(VALID_UNTIL)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=not ca,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer_key is not key:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    if eku:
        # RFC 3161 §2.3: a TSA certificate carries exactly id-kp-timeStamping, critical.
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=True)
    return builder.sign(issuer_key, hashes.SHA256())


# Generated once per process: RSA key generation is the slow part of the PDF tests.
@functools.lru_cache(maxsize=1)
def make_pki() -> Pki:
    ca_key, signer_key, tsa_key, agency_key = _key(), _key(), _key(), _key()
    ca_name = _name("Saraban Test Root CA", "Saraban Gateway Tests")
    ca = _issue(ca_name, ca_key, ca_name, ca_key, ca=True)
    signer = _issue(_name(SIGNER_CN), signer_key, ca_name, ca_key, ca=False)
    tsa = _issue(
        _name("Saraban Test TSA", "Saraban Gateway Tests"),
        tsa_key,
        ca_name,
        ca_key,
        ca=False,
        eku=[ExtendedKeyUsageOID.TIME_STAMPING],
    )
    agency = _issue(
        _name(AGENCY_CN, "สำนักงานผู้รับทดสอบ"), agency_key, ca_name, ca_key, ca=False
    )

    def p12(key: rsa.RSAPrivateKey, cert: x509.Certificate) -> bytes:
        return pkcs12.serialize_key_and_certificates(
            name=b"signer",
            key=key,
            cert=cert,
            cas=[ca],
            encryption_algorithm=serialization.BestAvailableEncryption(PASSPHRASE),
        )

    return Pki(
        ca_cert=ca,
        ca_key=ca_key,
        signer_cert=signer,
        signer_key=signer_key,
        tsa_cert=tsa,
        tsa_key=tsa_key,
        signer_p12=p12(signer_key, signer),
        agency_cert=agency,
        agency_p12=p12(agency_key, agency),
        passphrase=PASSPHRASE,
    )


def other_ca_pem() -> bytes:
    """A CA that signed nothing here: configuring only it must leave signatures untrusted."""
    key = _key()
    name = _name("Unrelated Root CA", "Elsewhere")
    return _issue(name, key, name, key, ca=True).public_bytes(serialization.Encoding.PEM)
