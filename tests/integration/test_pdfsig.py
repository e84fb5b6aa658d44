"""poppler's pdfsig (NSS) as the independent judge of the gateway's PDF signatures.

pdfsig exits 0 even on "Digest Mismatch", so every test reads its report text. Trust
comes from a throwaway NSS database holding only the test CA.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from gateway.pdf.check import Verdict, inspect_pdf
from gateway.pdf.sign import SignerConfig, VisibleSignature, sign_pdf
from gateway.pdf.stamp import ReceiptStamp, StampStyle, stamp_receipt
from tests.pdfgen.documents import PdfSpec, make_pdf, tamper
from tests.pdfgen.pki import AGENCY_CN, SIGNER_CN, Pki
from tests.pdfgen.poppler import make_nssdb, pdfsig, pdftotext
from tests.pdfgen.tsa import running_tsa

# pki, sender_signed_pdf: session fixtures shared by the PDF tests

pytestmark = pytest.mark.integration

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def nssdir(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> str:
    return make_nssdb(tmp_path_factory.mktemp("nss"), pki.ca_pem)


def _signatures(report: str) -> list[str]:
    """pdfsig's report split per signature, in file order."""
    return re.split(r"^Signature #\d+:$", report, flags=re.MULTILINE)[1:]


def _assert_good(block: str, cn: str, *, whole_file: bool) -> None:
    assert f"Signer Certificate Common Name: {cn}" in block, block
    assert "Signature Validation: Signature is Valid." in block, block
    assert "Certificate Validation: Certificate is Trusted." in block, block
    assert "Signature Type: ETSI.CAdES.detached" in block, block
    assert ("Total document signed" if whole_file else "Not total document signed") in block, block


def test_nss_database_trusts_only_the_test_ca(nssdir: str, pki: Pki, tmp_path: Path) -> None:
    (block,) = _signatures(
        pdfsig(sign_pdf(make_pdf(), SignerConfig(pki.agency_p12, pki.passphrase), now=NOW), nssdir)
    )
    _assert_good(block, AGENCY_CN, whole_file=True)
    # a database without the CA: same file, issuer not trusted — the check can fail
    empty = f"sql:{tmp_path}"
    import subprocess

    subprocess.run(["certutil", "-N", "-d", empty, "--empty-password"], check=True, timeout=30)
    (block,) = _signatures(
        pdfsig(sign_pdf(make_pdf(), SignerConfig(pki.agency_p12, pki.passphrase), now=NOW), empty)
    )
    assert "Certificate is Trusted." not in block


@pytest.mark.parametrize(
    "kind",
    ["b-b", "b-t", "visible", "owner-password", "pdf-1.4"],
)
def test_gateway_signature_is_valid_for_pdfsig_and_pyhanko(
    kind: str, nssdir: str, pki: Pki
) -> None:
    spec = {
        "owner-password": PdfSpec(encryption="owner-aes256"),
        "pdf-1.4": PdfSpec(version=(1, 4)),
    }
    original = make_pdf(spec.get(kind, PdfSpec()))
    visible = VisibleSignature("นายสมชาย รักราชการ", "ผู้อำนวยการ") if kind == "visible" else None
    if kind == "b-t":
        with running_tsa(pki) as url:
            signed = sign_pdf(
                original, SignerConfig(pki.agency_p12, pki.passphrase, timestamp_url=url), now=NOW
            )
    else:
        signed = sign_pdf(original, SignerConfig(pki.agency_p12, pki.passphrase, visible=visible),
                          now=NOW)
    (block,) = _signatures(pdfsig(signed, nssdir))
    _assert_good(block, AGENCY_CN, whole_file=True)
    (sig,) = inspect_pdf(signed, trust_roots=[pki.ca_pem], now=NOW).signatures
    assert sig.verdict is Verdict.VALID
    if kind == "visible":  # the Thai box is real text, shaped, in the text layer
        text = pdftotext(signed)
        assert "(นายสมชาย รักราชการ)" in text and "ผู้อำนวยการ" in text


def test_byte_flipped_after_signing_fails_both(nssdir: str, pki: Pki) -> None:
    bad = tamper(sign_pdf(make_pdf(), SignerConfig(pki.agency_p12, pki.passphrase), now=NOW))
    (block,) = _signatures(pdfsig(bad, nssdir))
    assert "Signature Validation: Digest Mismatch." in block
    assert "Signature is Valid." not in block
    (sig,) = inspect_pdf(bad, trust_roots=[pki.ca_pem], now=NOW).signatures
    assert sig.verdict is Verdict.TAMPERED


def test_tampered_incoming_letter_fails_both(
    sender_signed_pdf: bytes, nssdir: str, pki: Pki
) -> None:
    good, bad = sender_signed_pdf, tamper(sender_signed_pdf)
    _assert_good(_signatures(pdfsig(good, nssdir))[0], SIGNER_CN, whole_file=True)
    assert "Digest Mismatch." in pdfsig(bad, nssdir)
    assert (
        inspect_pdf(bad, trust_roots=[pki.ca_pem], now=NOW).signatures[0].verdict
        is Verdict.TAMPERED
    )


@pytest.mark.parametrize("placement", ["corner", "free"])
def test_stamped_copy_keeps_the_signed_revision_intact(
    sender_signed_pdf: bytes, nssdir: str, placement: str
) -> None:
    stamped = stamp_receipt(sender_signed_pdf, ReceiptStamp("สำนักงานทดสอบ", 9, NOW),
                            StampStyle(placement=placement))
    assert stamped.startswith(sender_signed_pdf)
    # pdfsig checks the signed byte range: still valid, and now not the whole file
    (block,) = _signatures(pdfsig(stamped, nssdir))
    _assert_good(block, SIGNER_CN, whole_file=False)


def test_cosigned_letter_has_two_valid_signatures(
    sender_signed_pdf: bytes, nssdir: str, pki: Pki
) -> None:
    cosigned = sign_pdf(sender_signed_pdf, SignerConfig(pki.agency_p12, pki.passphrase), now=NOW)
    first, second = _signatures(pdfsig(cosigned, nssdir))
    _assert_good(first, SIGNER_CN, whole_file=False)
    _assert_good(second, AGENCY_CN, whole_file=True)
