"""Scanned letters (no text layer) are read by OCR for the clerk, never registered from it (#20).

Needs the `tesseract` command with Thai (scripts/install-system-deps.sh installs it)."""

from __future__ import annotations

import datetime as dt
import difflib
from pathlib import Path

import pytest

import gateway.inbound.read as read_module
import gateway.pdf.ocr as ocr_module
from gateway.app import open_store
from gateway.core.classify import OCR_REVIEW, Outcome, Policy, Reading, decide, validate
from gateway.core.compose import template_env
from gateway.inbound.pipeline import Pipeline
from gateway.inbound.read import read_message
from gateway.inbound.record import apply_fields
from gateway.letter import REQUIRED_FIELDS, FieldSource
from gateway.pdf.ocr import ocr_page1, tesseract_path
from gateway.store.handle import Store
from gateway.store.letters import put_blobs
from gateway.store.tables import Letter
from gateway.xmlletter import default_resources
from tests.conftest import FakeClock, make_settings
from tests.corpus.mail import letter_mail
from tests.pdfgen.scans import CORPUS, corpus_letters, scan_pdf

pytestmark = pytest.mark.integration

NOW = dt.datetime(2026, 3, 1, 3, 0, tzinfo=dt.UTC)
POLICY = Policy(central_addresses=("saraban@agency.test",))
# A letter printed in Arabic digits (OCR reads those), and one in Thai digits (it does not).
ARABIC = next(x for x in corpus_letters() if x["file"] == "libreoffice/libreoffice-02.pdf")


def _similarity(a: str, b: str) -> float:
    def key(s: str) -> str:
        return "".join(s.split()).replace("\u0e4d\u0e32", "\u0e33")

    return difflib.SequenceMatcher(None, key(a), key(b)).ratio()


def _best_line_similarity(text: str, subject: str) -> float:
    lines = [line for line in text.splitlines() if line.strip()]
    # the subject may wrap over two lines: compare with each line and each pair of lines
    pieces = lines + [a + b for a, b in zip(lines, lines[1:], strict=False)]
    return max(_similarity(p.removeprefix("เรื่อง").removeprefix("เรือง"), subject)
               for p in pieces)


def _read(raw: bytes) -> Reading:
    return read_message(raw, xml_resources=default_resources(), trust_roots=(), now=NOW)


def _scan_mail(dpi: int = 200) -> bytes:
    scan = scan_pdf(CORPUS / str(ARABIC["file"]), dpi=dpi)
    # "ส่งหนังสือ" describes the e-mail, not the letter: the mail gives no subject of its own
    return letter_mail(scan, subject="ส่งหนังสือ", filename="scan0001.pdf")


def test_tesseract_with_thai_is_installed() -> None:
    assert tesseract_path() is not None


def test_clean_200_dpi_scan_reads_the_subject_at_90_percent() -> None:
    text = ocr_page1(scan_pdf(CORPUS / str(ARABIC["file"]), dpi=200)).text
    assert _best_line_similarity(text, str(ARABIC["subject"])) >= 0.9, text


def test_scanned_letter_goes_to_review_prefilled_from_ocr_never_registered() -> None:
    reading = _read(_scan_mail())
    assert reading.pdf is not None and reading.pdf.page1_text.strip() == ""
    assert reading.pdf.ocr_text.strip()
    fields = reading.fields
    assert fields.subject is not None and fields.subject.source == FieldSource.OCR
    assert _similarity(fields.subject.value, str(ARABIC["subject"])) >= 0.9
    assert fields.letter_date is not None and fields.letter_date.source == FieldSource.OCR
    assert fields.letter_date.value.isoformat() == ARABIC["letter_date"]
    assert fields.letter_no is not None and fields.letter_no.source == FieldSource.OCR
    assert fields.letter_no.value == ARABIC["letter_no"]
    problems = validate(reading, POLICY)
    assert OCR_REVIEW in problems
    decision = decide(reading, problems, POLICY)
    assert decision.outcome is Outcome.REVIEW
    assert "อ่านจากภาพสแกน (OCR)" in decision.reason_th
    letter = Letter()
    apply_fields(letter, fields, reading.message)
    assert letter.field_sources["subject"] == "ocr" and letter.field_sources["letter_no"] == "ocr"
    assert letter.subject == fields.subject.value


def test_even_a_complete_ocr_reading_never_registers() -> None:
    """Every required field present, some from OCR: still review."""
    reading = _read(_scan_mail())
    assert not reading.fields.missing_required() or OCR_REVIEW in validate(reading, POLICY)
    sources = {getattr(reading.fields, n).source for n in REQUIRED_FIELDS
               if getattr(reading.fields, n) is not None}
    assert FieldSource.OCR in sources
    assert decide(reading, validate(reading, POLICY), POLICY).outcome is not Outcome.REGISTER


def test_a_letter_with_a_text_layer_is_never_ocrd(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(pdf: bytes, **kw: object) -> object:
        raise AssertionError("OCR run on a letter with a text layer")

    monkeypatch.setattr(read_module, "ocr_page1", refuse)
    raw = letter_mail((CORPUS / str(ARABIC["file"])).read_bytes(), subject="ส่งหนังสือ")
    reading = _read(raw)
    assert reading.pdf is not None and reading.pdf.ocr_text == ""
    assert all(f.source != FieldSource.OCR for n in REQUIRED_FIELDS
               if (f := getattr(reading.fields, n)) is not None)
    assert OCR_REVIEW not in validate(reading, POLICY)


def test_without_tesseract_a_scan_still_gets_its_defined_outcome(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ocr_module, "tesseract_path", lambda: None)
    reading = _read(_scan_mail())
    assert reading.pdf is not None
    assert reading.pdf.ocr_text == "" and "not installed" in reading.pdf.ocr_skipped
    problems = validate(reading, POLICY)
    assert OCR_REVIEW not in problems
    decision = decide(reading, problems, POLICY)
    assert decision.outcome is Outcome.REVIEW  # the subject is missing, as before OCR
    assert any(p.code.startswith("missing_") for p in problems)


def test_a_30_page_scan_costs_page_one_only(monkeypatch: pytest.MonkeyPatch) -> None:
    rendered: list[int] = []
    real = ocr_module._page1_top_pgm

    def counting(pdf: bytes, dpi: int, top: float) -> bytes:
        image = real(pdf, dpi, top)
        rendered.append(len(image))
        return image

    monkeypatch.setattr(ocr_module, "_page1_top_pgm", counting)
    one = scan_pdf(CORPUS / str(ARABIC["file"]), dpi=100)
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(one)
    big = pdfium.PdfDocument.new()
    for _ in range(30):
        big.import_pages(doc, [0])
    import io

    buf = io.BytesIO()
    big.save(buf)
    ocr_page1(buf.getvalue())
    assert len(rendered) == 1
    # the image is the top 40 % of one page at 200 dpi, not thirty pages
    assert rendered[0] < 1654 * 2339 * 0.45


def test_a_broken_or_missing_tesseract_is_no_crash(tmp_path: Path) -> None:
    fake = tmp_path / "tesseract"
    fake.write_text("#!/bin/sh\nexit 3\n")
    fake.chmod(0o755)
    got = ocr_page1(scan_pdf(CORPUS / str(ARABIC["file"]), dpi=100), tesseract=str(fake))
    assert got.text == "" and "failed" in got.skipped
    got = ocr_page1(b"%PDF-1.4 nonsense")
    assert got.text == "" and got.skipped


def _refuse_ocr(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(pdf: bytes, **kw: object) -> object:
        raise AssertionError("OCR run although nothing was left to pre-fill")

    monkeypatch.setattr(read_module, "ocr_page1", refuse)


def test_a_scan_the_mail_describes_fully_is_not_ocrd(monkeypatch: pytest.MonkeyPatch) -> None:
    """OCR only pre-fills a review (#19: it cost every scan 0.2–0.6 s): a scan whose mail gives
    ที่, date, sender and subject is decided on those without it, and registers as before."""
    _refuse_ocr(monkeypatch)
    scan = scan_pdf(CORPUS / str(ARABIC["file"]), dpi=100)
    body = (f"ที่ {ARABIC['letter_no']} ลงวันที่ 23 กุมภาพันธ์ 2569\n"
            f"เรื่อง {ARABIC['subject']}\n")
    reading = _read(letter_mail(scan, subject=f"ที่ {ARABIC['letter_no']} {ARABIC['subject']}",
                                body=body, filename="scan0001.pdf"))
    assert reading.pdf is not None and reading.pdf.page1_text.strip() == ""
    assert reading.fields.missing_required() == ()
    assert reading.pdf.ocr_text == "" and reading.pdf.ocr_skipped.startswith("not needed")
    assert OCR_REVIEW not in validate(reading, POLICY)


def test_ocr_switched_off_reads_no_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    _refuse_ocr(monkeypatch)
    reading = read_message(_scan_mail(), xml_resources=default_resources(), trust_roots=(),
                           now=NOW, ocr=False)
    assert reading.pdf is not None and reading.pdf.ocr_text == ""
    assert "switched off" in reading.pdf.ocr_skipped
    problems = validate(reading, POLICY)
    assert OCR_REVIEW not in problems and any(p.code.startswith("missing_") for p in problems)
    assert decide(reading, problems, POLICY).outcome is Outcome.REVIEW


async def _scan_taken_in(store: Store, key: str) -> Letter:
    """The scan of `_scan_mail` through the pipeline (as an import): set aside for review."""
    pipeline = Pipeline.build(store, template_env())
    raw = _scan_mail()
    (digest,) = await put_blobs(store.blobs, raw)
    letter_id, state, _ = await pipeline.take_in(raw, digest=digest, channel="import",
                                                 source_key=key, envelope_to=[])
    async with store.sessions() as s:
        letter = await s.get(Letter, letter_id)
    assert letter is not None and state == "review"
    return letter


@pytest.mark.parametrize("ocr", [True, False], ids=["ocr-on", "ocr-off"])
async def test_the_switch_reaches_the_reading_workers(tmp_path: Path, db_url: str, ocr: bool) -> None:
    """`[intake] ocr` is what the gateway's reading worker processes read with: the same scan
    taken in through the pipeline is pre-filled from OCR, or not at all."""
    settings = make_settings(tmp_path, db_url, intake={"read_processes": 1, "revocation": "off",
                                                       "ocr": ocr})
    store = await open_store(settings, upgrade=True, clock=FakeClock(NOW))
    try:
        letter = await _scan_taken_in(store, "scan-1")
        sources = set((letter.field_sources or {}).values())
        assert ("ocr" in sources) is ocr
        # the mail gives no subject of its own: only OCR can pre-fill one
        assert ((letter.field_sources or {}).get("subject") == "ocr") is ocr
    finally:
        await store.close()


@pytest.mark.parametrize(("code", "kept"), [("ศธ 04299", True), ("ศธ 04010", False)],
                         ids=["the directory knows its code", "no agency has its code"])
async def test_an_ocr_number_no_agency_has_is_not_prefilled(tmp_path: Path, code: str,
                                                            kept: bool) -> None:
    """#20: the OCR'd ที่ is cross-checked against the agency directory's codes; a number
    whose code no agency has is a misreading, left for the clerk with the reason."""
    from gateway.directory import AgencyRecord
    from gateway.store.directory import import_agencies

    settings = make_settings(tmp_path, intake={"read_processes": 0, "revocation": "off"})
    store = await open_store(settings, upgrade=True, clock=FakeClock(NOW))
    try:
        async with store.sessions.begin() as s:
            await import_agencies(s, [AgencyRecord("สำนักงานเขตทดสอบ", code, "", "saraban@obec.go.th", "")],
                                  now=NOW, actor="test")
        letter = await _scan_taken_in(store, "scan-dir")
        assert (letter.letter_no == ARABIC["letter_no"]) is kept
        unknown = [p for p in letter.problems if p["code"] == "ocr_number_unknown"]
        assert bool(unknown) is not kept
        if not kept:
            assert letter.letter_no in (None, "") and str(ARABIC["letter_no"]) in unknown[0]["th"]
    finally:
        await store.close()
