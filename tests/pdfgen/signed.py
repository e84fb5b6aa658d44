"""Signed test PDFs, made with pyHanko directly (not with gateway.pdf.sign), so the
receiving side is tested against a signer it does not share code with."""

from __future__ import annotations

import io

from asn1crypto import keys, x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko_certvalidator.registry import SimpleCertificateStore

from .pki import Pki


def asn1_cert(cert) -> x509.Certificate:  # type: ignore[no-untyped-def]
    from cryptography import x509 as cx509

    assert isinstance(cert, cx509.Certificate)
    return x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def asn1_key(key) -> keys.PrivateKeyInfo:  # type: ignore[no-untyped-def]
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return keys.PrivateKeyInfo.load(der)


def sender_signed(pdf: bytes, pki: Pki, field_name: str = "SenderSignature") -> bytes:
    """`pdf` with an invisible PAdES approval signature by the test signer."""
    signer = signers.SimpleSigner(
        signing_cert=asn1_cert(pki.signer_cert),
        signing_key=asn1_key(pki.signer_key),
        cert_registry=SimpleCertificateStore.from_certs([asn1_cert(pki.ca_cert)]),
    )
    meta = signers.PdfSignatureMetadata(
        field_name=field_name, subfilter=fields.SigSeedSubFilter.PADES
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    if writer.prev.encrypted:
        writer.encrypt(b"")
    out = signers.PdfSigner(meta, signer).sign_pdf(writer)
    return out.getvalue()
