"""Signatures checked for revocation (issue #18): OCSP and CRL fetched from a CA's server on
127.0.0.1 through pyHanko's fetchers, in every `[intake] revocation` mode.

One case = one row: which signer (OCSP and CRL / CRL only / OCSP only), whether it is revoked,
what the CA's server does, the mode, and what the clerk must read.
"""

from __future__ import annotations

import datetime as dt
import gc
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko_certvalidator.registry import SimpleCertificateStore

from gateway.pdf.check import (
    Revocation,
    RevocationMode,
    RevocationStatus,
    Verdict,
    inspect_pdf,
)
from tests.pdfgen.documents import make_pdf
from tests.pdfgen.poppler import make_nssdb, pdfsig
from tests.pdfgen.revoking import Mode, RevokingCa, revoking_ca
from tests.pdfgen.signed import asn1_cert, asn1_key

pytestmark = pytest.mark.integration

NOW = dt.datetime.now(dt.UTC)
QUICK = 0.5  # seconds per request: the CA is on this machine


@pytest.fixture(scope="module")
def ca() -> Iterator[RevokingCa]:
    with revoking_ca(NOW) as ca:
        yield ca


@pytest.fixture(autouse=True)
def _fresh(ca: RevokingCa) -> None:
    ca.revoked.clear()
    ca.mode = "up"
    ca.requests.clear()


def signed_by(ca: RevokingCa, who: str) -> bytes:
    party = ca.signers[who]
    signer = signers.SimpleSigner(
        signing_cert=asn1_cert(party.cert), signing_key=asn1_key(party.key),
        cert_registry=SimpleCertificateStore.from_certs([asn1_cert(ca.intermediate.cert)]),
    )
    meta = signers.PdfSignatureMetadata(field_name="Sig", subfilter=fields.SigSeedSubFilter.PADES)
    return signers.PdfSigner(meta, signer).sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(make_pdf()), strict=False)).getvalue()


@dataclass(frozen=True)
class Case:
    name: str
    signer: str
    revoked: bool
    server: Mode
    mode: RevocationMode
    verdict: Verdict
    revocation: RevocationStatus
    words: tuple[str, ...]  # in the Thai summary
    absent: tuple[str, ...] = ()


HARD, SOFT, OFF = RevocationMode.HARD_FAIL, RevocationMode.SOFT_FAIL, RevocationMode.OFF
UNCHECKED = "ตรวจสอบการเพิกถอนใบรับรองไม่ได้"
REVOKED = "ใบรับรองถูกเพิกถอน"

CASES = [
    Case("good, OCSP and CRL reachable", "both", False, "up", HARD, Verdict.VALID,
         RevocationStatus.CHECKED, ("ลายมือชื่อดิจิทัลถูกต้อง",), (UNCHECKED, REVOKED)),
    Case("good, CRL only", "crl", False, "up", HARD, Verdict.VALID,
         RevocationStatus.CHECKED, ("ลายมือชื่อดิจิทัลถูกต้อง",), (UNCHECKED,)),
    Case("good, OCSP only", "ocsp", False, "up", SOFT, Verdict.VALID,
         RevocationStatus.CHECKED, ("ลายมือชื่อดิจิทัลถูกต้อง",), (UNCHECKED,)),
    Case("revoked, told by OCSP", "ocsp", True, "up", HARD, Verdict.REVOKED,
         RevocationStatus.REVOKED, (REVOKED,)),
    Case("revoked, told by the CRL", "crl", True, "up", HARD, Verdict.REVOKED,
         RevocationStatus.REVOKED, (REVOKED,)),
    Case("revoked, soft-fail still says revoked", "both", True, "up", SOFT, Verdict.REVOKED,
         RevocationStatus.REVOKED, (REVOKED,)),
    Case("CA down, soft-fail: valid with a remark", "both", False, "down", SOFT, Verdict.VALID,
         RevocationStatus.UNAVAILABLE, ("ลายมือชื่อดิจิทัลถูกต้อง", UNCHECKED)),
    Case("CA down, hard-fail: not trusted, says why", "both", False, "down", HARD,
         Verdict.REVOCATION_UNKNOWN, RevocationStatus.UNAVAILABLE, (UNCHECKED, "เชื่อถือไม่ได้")),
    Case("CA down, CRL-only signer, hard-fail", "crl", False, "down", HARD,
         Verdict.REVOCATION_UNKNOWN, RevocationStatus.UNAVAILABLE, (UNCHECKED,)),
    Case("CA hangs past the letter's budget, soft-fail", "both", False, "hang", SOFT,
         Verdict.VALID, RevocationStatus.UNAVAILABLE, (UNCHECKED,)),
    Case("CA hangs past the letter's budget, hard-fail", "both", False, "hang", HARD,
         Verdict.REVOCATION_UNKNOWN, RevocationStatus.UNAVAILABLE, (UNCHECKED,)),
    Case("revocation off: valid, the remark says not checked", "both", True, "up", OFF,
         Verdict.VALID, RevocationStatus.NOT_CHECKED, ("ไม่ได้ตรวจสอบการเพิกถอนใบรับรอง",)),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_revocation(ca: RevokingCa, case: Case, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="asyncio")
    if case.revoked:
        ca.revoke(case.signer)
    ca.mode = case.server
    ca.hang_seconds = 3 * QUICK
    policy = Revocation(case.mode, timeout_seconds=QUICK, total_seconds=2 * QUICK)
    (sig,) = inspect_pdf(signed_by(ca, case.signer), trust_roots=[ca.root_pem], now=NOW,
                         revocation=policy).signatures
    assert sig.intact and sig.valid
    assert (sig.verdict, sig.revocation) == (case.verdict, case.revocation), sig.summary_en
    for word in case.words:
        assert word in sig.summary_th, sig.summary_th
    for word in case.absent:
        assert word not in sig.summary_th, sig.summary_th
    assert sig.trusted is (case.verdict is Verdict.VALID)
    assert sig.revoked is (case.verdict is Verdict.REVOKED)
    if case.mode is OFF:
        assert ca.requests == []  # off means no network at all
    else:
        assert ca.requests  # the check did go to the CA
    # a request the letter's budget cut short leaves no task behind whose failure asyncio
    # would log as an ERROR ("Task exception was never retrieved") in the operator's log
    gc.collect()
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []


def test_unknown_root_keeps_its_wording_and_fetches_nothing(ca: RevokingCa, pki) -> None:  # type: ignore[no-untyped-def]
    """A chain to no configured root: no URL of the sender's certificates is ever fetched."""
    (sig,) = inspect_pdf(signed_by(ca, "both"), trust_roots=[pki.ca_pem], now=NOW,
                         revocation=Revocation(HARD, QUICK, 2 * QUICK)).signatures
    assert sig.verdict is Verdict.UNKNOWN_ISSUER
    assert "ไม่ทราบผู้ออกใบรับรอง" in sig.summary_th
    assert sig.revocation is RevocationStatus.NOT_REACHED
    assert ca.requests == []


@pytest.mark.parametrize("revoked", [False, True], ids=["good", "revoked"])
def test_pdfsig_agrees(ca: RevokingCa, tmp_path: Path, revoked: bool) -> None:
    """poppler's pdfsig (NSS, its own OCSP client) reads the same CA the same way."""
    nssdir = make_nssdb(tmp_path / "nss", ca.root_pem)
    if revoked:
        ca.revoke("ocsp")
    pdf = signed_by(ca, "ocsp")
    report = pdfsig(pdf, nssdir)
    assert "Signature Validation: Signature is Valid." in report, report
    (sig,) = inspect_pdf(pdf, trust_roots=[ca.root_pem], now=NOW,
                         revocation=Revocation(HARD, QUICK, 2 * QUICK)).signatures
    if revoked:
        assert "Certificate Validation: Certificate has been Revoked." in report, report
        assert sig.verdict is Verdict.REVOKED
    else:
        assert "Certificate Validation: Certificate is Trusted." in report, report
        assert sig.verdict is Verdict.VALID


def test_intermediate_checked_too(ca: RevokingCa) -> None:
    """The sub-CA's own certificate is looked up in the root's CRL, not only the signer's."""
    inspect_pdf(signed_by(ca, "crl"), trust_roots=[ca.root_pem], now=NOW,
                revocation=Revocation(HARD, QUICK, 2 * QUICK))
    assert "/root.crl" in ca.requests and "/int.crl" in ca.requests


def test_a_revoked_signature_sends_the_letter_to_review(ca: RevokingCa) -> None:
    """From the message to the decision: the revoked signer reaches the classification."""
    from gateway.core.classify import Policy, validate
    from gateway.inbound.read import read_message
    from gateway.xmlletter import default_resources
    from tests.corpus.mail import letter_mail

    ca.revoke("both")
    reading = read_message(letter_mail(signed_by(ca, "both")), xml_resources=default_resources(),
                           trust_roots=[ca.root_pem], now=NOW,
                           revocation=Revocation(SOFT, QUICK, 2 * QUICK))
    assert reading.pdf is not None
    (fact,) = reading.pdf.signatures
    assert fact.revoked and REVOKED in fact.summary_th
    problems = validate(reading, Policy(central_addresses=("saraban@agency.test",)))
    assert any(p.code == "signature_broken" and REVOKED in p.reason_th for p in problems)
