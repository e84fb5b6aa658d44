"""What the gateway reads on page 1 is what the letter prints (issue #19), over the producer corpus
(tests/corpus/producers, made by scripts/make-corpus; truth.json holds what each letter prints).

Per producer: the gateway's page-1 text (pdf/check.inspect_pdf) holds the ground-truth ที่, agency,
addressee and subject exactly, compared after NFC with all whitespace removed (a wrap inside a
word is no difference of the text); the same without poppler's pdftotext (not installed where the
gateway runs, only PDFium and pypdf then); no extracted field of any letter holds junk (controls,
U+FFFD, Private Use Area, a digit or Latin letter inside a Thai word, a mark with no base); and a
letter whose field would hold junk goes to the clerk with a Thai reason naming the field.

The PDFs without any ToUnicode (no-tounicode) are read through their embedded fonts' own cmap
tables (gateway/pdf/tounicode.py), which inspect_pdf does; the bare readers (the test without
pdftotext below) cannot read them at all.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import unicodedata
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pypdf
import pytest

from gateway.core.classify import Outcome, Policy, decide, validate
from gateway.core.thaifix import junk
from gateway.inbound.read import read_message
from gateway.inbound.record import apply_fields
from gateway.letter import Field, FieldSource
from gateway.pdf import text
from gateway.pdf.check import inspect_pdf, normalise_extracted_thai
from gateway.pdf.tounicode import lacks_tounicode
from gateway.store.tables import Letter
from gateway.xmlletter import default_resources
from tests.corpus.mail import letter_mail

pytestmark = pytest.mark.integration

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "producers"
TRUTH: list[dict[str, Any]] = json.loads((CORPUS / "truth.json").read_text(encoding="utf-8"))[
    "letters"]
PRODUCERS = sorted({t["producer"] for t in TRUTH})
FIELDS = ("letter_no", "sender", "recipient", "subject")
NOW = dt.datetime(2026, 1, 20, 3, 0, tzinfo=dt.UTC)
# letters per producer whose page-1 text holds all four fields exactly: every one of them
FLOOR = {"libreoffice": 1.0, "chromium": 1.0, "fpdf2": 1.0, "pua": 1.0, "no-tounicode": 1.0}
# the readers alone (no font recovery, no pdftotext): the PDFs without ToUnicode give nothing
BARE_FLOOR = {**FLOOR, "no-tounicode": 0.0}


def key(s: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFC", s))


def share_held(pages: dict[str, str], producer: str) -> tuple[float, list[str]]:
    letters = [t for t in TRUTH if t["producer"] == producer]
    missing = [f"{t['file']} {name}" for t in letters for name in FIELDS
               if key(t[name]) not in key(pages[t["file"]])]
    whole = sum(all(key(t[n]) in key(pages[t["file"]]) for n in FIELDS) for t in letters)
    return whole / len(letters), missing


@pytest.fixture(scope="module")
def gateway_pages() -> dict[str, str]:
    return {t["file"]: inspect_pdf((CORPUS / t["file"]).read_bytes(), now=NOW).first_page_text
            for t in TRUTH}


@pytest.fixture(scope="module")
def pages_without_poppler() -> dict[str, str]:
    out = {}
    for t in TRUTH:
        pdf = (CORPUS / t["file"]).read_bytes()
        plain = normalise_extracted_thai(pypdf.PdfReader(io.BytesIO(pdf)).pages[0].extract_text())
        out[t["file"]] = text.first_page_text(pdf, plain, poppler=False)
    return out


@pytest.mark.parametrize("producer", PRODUCERS)
def test_page_one_holds_the_printed_fields(gateway_pages: dict[str, str], producer: str) -> None:
    share, missing = share_held(gateway_pages, producer)
    assert share >= FLOOR[producer], missing
    assert not any(junk(line) for t in TRUTH if t["producer"] == producer
                   for line in gateway_pages[t["file"]].splitlines())


@pytest.mark.parametrize("producer", PRODUCERS)
def test_page_one_without_pdftotext(pages_without_poppler: dict[str, str], producer: str) -> None:
    share, missing = share_held(pages_without_poppler, producer)
    assert share >= BARE_FLOOR[producer], missing


def test_the_no_tounicode_letters_are_read_from_their_fonts_only(
        gateway_pages: dict[str, str], pages_without_poppler: dict[str, str]) -> None:
    for t in TRUTH:
        if t["producer"] == "no-tounicode":
            pdf = (CORPUS / t["file"]).read_bytes()
            assert lacks_tounicode(pypdf.PdfReader(io.BytesIO(pdf)))
            assert not re.search("[\u0e01-\u0e4e]", pages_without_poppler[t["file"]])
            assert key(t["subject"]) in key(gateway_pages[t["file"]])
            assert (CORPUS / t["file"]).read_bytes() == pdf  # the file itself is not changed


def test_no_extracted_field_holds_junk() -> None:
    resources, counts = default_resources(), Counter[str]()
    for t in TRUTH:
        raw = letter_mail((CORPUS / t["file"]).read_bytes(), subject="ส่งหนังสือราชการ",
                          sender="saraban@sender.test", sender_name="", to="saraban@agency.test",
                          body="ส่งหนังสือราชการตามไฟล์แนบมาพร้อมนี้\n",
                          filename=Path(t["file"]).name)
        fields = read_message(raw, xml_resources=resources, trust_roots=(), now=NOW).fields
        for name in ("letter_no", "sender", "recipient", "subject", "salutation", "reference",
                     "enclosures"):
            f = getattr(fields, name)
            counts[t["producer"]] += f is not None and junk(str(f.value))
    assert counts == Counter()


def test_a_junk_field_goes_to_the_clerk_with_a_thai_reason() -> None:
    t = next(t for t in TRUTH if t["producer"] == "fpdf2")
    raw = letter_mail((CORPUS / t["file"]).read_bytes(), subject="ส่งหนังสือราชการ",
                      sender="saraban@sender.test", sender_name="", to="saraban@agency.test",
                      body="ส่งหนังสือราชการ\n", filename="letter.pdf")
    reading = read_message(raw, xml_resources=default_resources(), trust_roots=(), now=NOW)
    policy = Policy(central_addresses=("saraban@agency.test",))
    assert validate(reading, policy) == ()
    # as the old reading gave it: the second glyph of ำ as its raw code
    broken = replace(reading, fields=replace(
        reading.fields, recipient=Field("ผู้อำ2นวยการสำ2นักงานเขตพื้นที่การศึกษา", FieldSource.PDF)))
    problems = validate(broken, policy)
    assert [p.code for p in problems] == ["garbled_recipient"]
    assert problems[0].reason_th == \
        "อ่านผู้รับจากไฟล์ PDF ได้ไม่ถูกต้อง (มีอักขระแปลกปนในคำ) กรุณาตรวจ"
    assert decide(broken, problems, policy).outcome is Outcome.REVIEW
    # and at the store's entrance the value is never kept as it is
    letter = Letter()
    apply_fields(letter, broken.fields, broken.message)
    assert letter.recipient == ""
    assert reading.fields.subject is not None and reading.fields.sender is not None
    assert (letter.subject, letter.sender) == (reading.fields.subject.value,
                                               reading.fields.sender.value)  # clean ones kept


# exact fields per producer as the gateway reads them end to end (a plain mail whose subject,
# body and file name say nothing of the letter): every field of every letter
EXACT_MISSES: dict[tuple[str, str], int] = {}
READ_FIELDS = ("letter_no", "letter_date", "sender", "recipient", "subject", "speed", "secrecy")


def _norm(value: str) -> str:
    return " ".join(unicodedata.normalize("NFC", value).split()).translate(
        str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789"))


def _read(fields: Any, name: str) -> str:
    got = getattr(fields, name)
    if got is None:
        return "ปกติ" if name == "secrecy" else ""
    return got.value.isoformat() if isinstance(got.value, dt.date) else str(got.value)


def test_every_field_is_read_exactly_end_to_end() -> None:
    resources, misses = default_resources(), Counter[tuple[str, str]]()
    shown = []
    for t in TRUTH:
        raw = letter_mail((CORPUS / t["file"]).read_bytes(), subject="ส่งหนังสือราชการ",
                          sender="saraban@sender.test", sender_name="", to="saraban@agency.test",
                          body="ส่งหนังสือราชการตามไฟล์แนบมาพร้อมนี้\n", filename="letter.pdf")
        fields = read_message(raw, xml_resources=resources, trust_roots=(), now=NOW).fields
        for name in READ_FIELDS:
            if _norm(_read(fields, name)) != _norm(str(t[name])):
                misses[(t["producer"], name)] += 1
                shown.append(f"{t['file']} {name}: {_read(fields, name)!r} != {t[name]!r}")
    assert dict(misses) == EXACT_MISSES, shown
