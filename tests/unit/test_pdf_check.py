"""Reading what arrives (gateway.pdf.check): readability, encryption, page-1 text, and the
verdict on every signature, as the clerk will read it."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.pdf.check import (
    Coverage,
    Modification,
    Verdict,
    inspect_pdf,
    load_trust_roots,
    normalise_extracted_thai,
)
from gateway.pdf.sign import SignerConfig, sign_pdf
from gateway.pdf.stamp import ReceiptStamp, stamp_receipt
from tests.pdfgen.documents import (
    LETTER_LINES,
    PdfSpec,
    corrupt_pdf,
    make_pdf,
    not_a_pdf,
    tamper,
)
from tests.pdfgen.pki import SIGNER_CN, VALID_UNTIL, Pki, other_ca_pem

# pki, sender_signed_pdf: session fixtures shared by the PDF tests

NOW = dt.datetime.now(dt.UTC)


def test_plain_letter_report() -> None:
    report = inspect_pdf(make_pdf(PdfSpec(pages=3)), now=NOW)
    assert report.readable and report.reason_th == ""
    assert report.page_count == 3
    assert report.pdf_version == "1.7"
    assert not report.encrypted and not report.signed
    assert report.remarks_th == ""
    for line in LETTER_LINES:  # the field parser's raw material, in Thai reading order
        assert line in report.first_page_text.splitlines()


@pytest.mark.parametrize("version", [(1, 4), (2, 0)])
def test_pdf_versions(version: tuple[int, int]) -> None:
    report = inspect_pdf(make_pdf(PdfSpec(version=version)), now=NOW)
    assert report.readable and report.pdf_version == f"{version[0]}.{version[1]}"


@pytest.mark.parametrize("mode", ["owner-rc4", "owner-aes256"])
def test_owner_password_only_is_read_and_flagged(mode: str) -> None:
    report = inspect_pdf(make_pdf(PdfSpec(encryption=mode)), now=NOW)  # type: ignore[arg-type]
    assert report.readable and report.encrypted
    assert LETTER_LINES[0] in report.first_page_text


def test_scan_has_pages_but_no_text() -> None:
    report = inspect_pdf(make_pdf(PdfSpec(content="scan")), now=NOW)
    assert report.readable and report.page_count == 1 and report.first_page_text == ""


@pytest.mark.parametrize(
    ("make", "word"),
    [
        (lambda: make_pdf(PdfSpec(encryption="user-aes128")), "รหัสผ่าน"),
        (corrupt_pdf, "เสียหาย"),
        (not_a_pdf, "ไม่ใช่ไฟล์ PDF"),
        (lambda: b"", "ไม่ใช่ไฟล์ PDF"),
    ],
    ids=["user-password", "corrupt", "not-a-pdf", "empty"],
)
def test_unreadable_is_a_report_with_a_thai_reason(make, word: str) -> None:  # type: ignore[no-untyped-def]
    report = inspect_pdf(make(), now=NOW)
    assert not report.readable
    assert word in report.reason_th and report.reason_en
    assert report.page_count == 0 and report.signatures == ()


def test_signed_without_trust_roots_says_issuer_unknown(sender_signed_pdf: bytes) -> None:
    (sig,) = inspect_pdf(sender_signed_pdf, now=NOW).signatures
    assert sig.verdict is Verdict.UNKNOWN_ISSUER and not sig.ok
    assert "ไม่ทราบผู้ออกใบรับรอง" in sig.summary_th
    assert sig.intact and sig.valid and not sig.trusted
    assert sig.signer_name == SIGNER_CN
    assert SIGNER_CN in sig.signer_subject and "สำนักงานทดสอบสารบรรณ" in sig.signer_subject
    assert "Saraban Test Root CA" in sig.issuer_subject
    assert sig.field_name == "SenderSignature"
    assert sig.coverage is Coverage.ENTIRE_FILE and sig.modification is Modification.NONE
    assert not sig.changed_beyond_allowed and not sig.timestamped
    assert sig.signing_time is not None and abs(sig.signing_time - NOW) < dt.timedelta(minutes=10)


def test_signed_with_its_root_is_valid(sender_signed_pdf: bytes, pki: Pki) -> None:
    for root in (pki.ca_pem, pki.ca_der):
        report = inspect_pdf(sender_signed_pdf, trust_roots=[root], now=NOW)
        (sig,) = report.signatures
        assert sig.verdict is Verdict.VALID and sig.ok and sig.trusted
        assert sig.summary_th == f"ลายมือชื่อดิจิทัลถูกต้อง ผู้ลงนาม {SIGNER_CN}"
        assert report.remarks_th == sig.summary_th


def test_signed_with_an_unrelated_root_is_still_unknown(sender_signed_pdf: bytes) -> None:
    (sig,) = inspect_pdf(sender_signed_pdf, trust_roots=[other_ca_pem()], now=NOW).signatures
    assert sig.verdict is Verdict.UNKNOWN_ISSUER and "ไม่ทราบผู้ออกใบรับรอง" in sig.summary_th


def test_expired_certificate_is_a_certificate_problem(sender_signed_pdf: bytes, pki: Pki) -> None:
    later = VALID_UNTIL + dt.timedelta(days=1)  # after the test certificates end
    (sig,) = inspect_pdf(sender_signed_pdf, trust_roots=[pki.ca_pem], now=later).signatures
    assert sig.intact and not sig.trusted
    assert sig.verdict is Verdict.CERT_PROBLEM
    assert "ใบรับรองของผู้ลงนาม" in sig.summary_th


def test_tampered_signed_pdf_is_flagged(sender_signed_pdf: bytes, pki: Pki) -> None:
    (sig,) = inspect_pdf(tamper(sender_signed_pdf), trust_roots=[pki.ca_pem], now=NOW).signatures
    assert not sig.intact and not sig.trusted and not sig.ok
    assert sig.verdict is Verdict.TAMPERED
    assert sig.summary_th.startswith("เอกสารถูกแก้ไขหลังลงนาม")


def test_content_added_after_signing_is_flagged(sender_signed_pdf: bytes, pki: Pki) -> None:
    stamped = stamp_receipt(sender_signed_pdf, ReceiptStamp("ก", 1, NOW))
    (sig,) = inspect_pdf(stamped, trust_roots=[pki.ca_pem], now=NOW).signatures
    assert sig.intact and sig.coverage is Coverage.ENTIRE_REVISION
    assert sig.modification is Modification.OTHER and sig.changed_beyond_allowed
    assert sig.verdict is Verdict.MODIFIED and "เอกสารถูกแก้ไขหลังลงนาม" in sig.summary_th


def test_a_second_signature_is_an_allowed_change(sender_signed_pdf: bytes, pki: Pki) -> None:
    cosigned = sign_pdf(sender_signed_pdf, SignerConfig(pki.agency_p12, pki.passphrase), now=NOW)
    first, second = inspect_pdf(cosigned, trust_roots=[pki.ca_pem], now=NOW).signatures
    assert first.modification is Modification.FORM_FILLING and first.verdict is Verdict.VALID
    assert second.coverage is Coverage.ENTIRE_FILE and second.verdict is Verdict.VALID


def test_unreadable_signature_does_not_sink_the_report(sender_signed_pdf: bytes) -> None:
    # overwrite the start of the CMS blob inside /Contents <...>
    at = sender_signed_pdf.index(b"/Contents <") + len(b"/Contents <")
    broken = sender_signed_pdf[:at] + b"00" * 16 + sender_signed_pdf[at + 32 :]
    report = inspect_pdf(broken, now=NOW)
    assert report.readable
    (sig,) = report.signatures
    assert sig.verdict is Verdict.UNREADABLE and not sig.ok
    assert "อ่านลายมือชื่อดิจิทัล" in sig.summary_th


def test_bad_trust_root_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        inspect_pdf(make_pdf(), trust_roots=[b"not a certificate"], now=NOW)


def test_pem_bundle_holds_several_roots(pki: Pki) -> None:
    assert len(load_trust_roots([pki.ca_pem + other_ca_pem()])) == 2


@pytest.mark.parametrize(
    ("extracted", "typed"),
    [
        ("สํานักงาน", "สำนักงาน"),  # ำ split into ํ + า
        ("นํ้า", "น้ำ"),  # ... with the tone mark between them
        ("ท่ี", "ที่"),  # tone mark before the vowel it sits on
        ("ผู้", "ผู้"),  # ... or before a vowel below
        ("ที่ ศธ 04183/1234", "ที่ ศธ 04183/1234"),  # already in order: unchanged
    ],
)
def test_extracted_thai_is_put_back_in_typing_order(extracted: str, typed: str) -> None:
    assert normalise_extracted_thai(extracted) == typed


def test_signature_of_an_unsupported_type_is_reported_not_dropped(sender_signed_pdf: bytes) -> None:
    # pyHanko's own collector would silently skip it and the letter would look unsigned
    legacy = sender_signed_pdf.replace(b"/ETSI.CAdES.detached", b"/adbe.x509.rsa_sha1 ", 1)
    (sig,) = inspect_pdf(legacy, now=NOW).signatures
    assert sig.verdict is Verdict.UNREADABLE and "adbe.x509.rsa_sha1" in sig.summary_en


def test_runs_from_a_worker_thread_of_an_event_loop(sender_signed_pdf: bytes, pki: Pki) -> None:
    """The pipeline calls it with asyncio.to_thread; pyHanko's own asyncio.run must cope."""
    import asyncio

    async def from_loop() -> Verdict:
        report = await asyncio.to_thread(
            inspect_pdf, sender_signed_pdf, trust_roots=[pki.ca_pem], now=NOW
        )
        return report.signatures[0].verdict

    assert asyncio.run(from_loop()) is Verdict.VALID
