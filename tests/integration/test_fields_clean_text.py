"""The field rules on clean text: every corpus letter's page 1 as poppler reads it
(`pdftotext -raw`, the legacy PUA forms mapped back with the fixed table of
test_corpus_truth), through the gateway's own field extraction (core/extract.extract_fields
with a plain e-mail that names nothing), against truth.json (issue #19).

This holds the *layout and label rules* apart from the PDF reading (gateway/pdf, which decides
what text the rules get in production). Two measures, per producer and field:

- **the right text** — the value read is the truth once whitespace is set aside (NFC, Arabic
  digits): the rules found the letter's own date, the agency, the whole wrapped เรื่อง/เรียน.
  Asserted for every field of every text-layer letter.
- **exact** — the bench's measure (whitespace collapsed, not removed). pdftotext's own text
  is not exact everywhere: fpdf2's shaped ำ comes out as ``ำ `` (a space after it), Chromium
  puts a space after a mark above (``พื้ นที่``), LibreOffice's justified lines get a space
  between words (``ปี การศึกษา``), and where a line breaks between words the text alone cannot
  tell whether a space stood there. The floors below are what the rules reach on that text,
  counted honestly; they may only go up.

The no-ToUnicode letters have no text to read (pdftotext gives control characters): only their
speed (ปกติ by default, when it is the truth) and secrecy can be right, and are counted so.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import unicodedata
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from gateway.core.extract import extract_fields
from gateway.core.parse import parse_message
from tests.integration.test_corpus_truth import PUA

pytestmark = pytest.mark.integration

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "producers"
TRUTH: list[dict[str, Any]] = json.loads((CORPUS / "truth.json").read_text("utf-8"))["letters"]
FIELDS = ("letter_no", "letter_date", "sender", "recipient", "subject", "speed", "secrecy")
TO_ARABIC = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")

# Exact fields on pdftotext's text, per producer and field (of the letters there are).
EXACT_FLOOR: dict[str, dict[str, int]] = {
    "libreoffice": {"letter_no": 14, "letter_date": 14, "sender": 13, "recipient": 14,
                    "subject": 13, "speed": 14, "secrecy": 14},
    "chromium": {"letter_no": 13, "letter_date": 13, "sender": 12, "recipient": 13,
                 "subject": 11, "speed": 13, "secrecy": 13},
    "fpdf2": {"letter_no": 13, "letter_date": 13, "sender": 3, "recipient": 7,
              "subject": 6, "speed": 13, "secrecy": 13},
    "pua": {"letter_no": 4, "letter_date": 4, "sender": 4, "recipient": 4,
            "subject": 4, "speed": 4, "secrecy": 4},
    "no-tounicode": {"letter_no": 0, "letter_date": 0, "sender": 0, "recipient": 0,
                     "subject": 0, "speed": 1, "secrecy": 3},
}


def clean_text(path: Path) -> str:
    text = subprocess.run(["pdftotext", "-raw", "-enc", "UTF-8", "-f", "1", "-l", "1", str(path),
                           "-"], capture_output=True, check=True, timeout=60).stdout.decode()
    return "".join(PUA.get(c, c) for c in text)


def plain_message() -> Any:
    msg = parse_message(b"From: saraban@sender.test\r\nTo: saraban@agency.test\r\n\r\nx\r\n")
    return replace(msg, subject="ส่งหนังสือราชการ", body_text="ส่งหนังสือราชการตามไฟล์แนบมาพร้อมนี้\n")


def value(fields: Any, name: str) -> str:
    got = getattr(fields, name)
    if got is None:
        return "ปกติ" if name == "secrecy" else ""
    return got.value.isoformat() if isinstance(got.value, dt.date) else str(got.value)


def exact_key(s: str) -> str:
    return " ".join(unicodedata.normalize("NFC", s).split()).translate(TO_ARABIC)


def text_key(s: str) -> str:
    return "".join(unicodedata.normalize("NFC", s).split()).translate(TO_ARABIC)


@pytest.fixture(scope="module")
def readings() -> list[tuple[dict[str, Any], dict[str, str]]]:
    msg = plain_message()
    out = []
    for t in TRUTH:
        fields = extract_fields(None, clean_text(CORPUS / t["file"]), msg,
                                f"{Path(t['file']).stem}.pdf")
        out.append((t, {name: value(fields, name) for name in FIELDS}))
    return out


def test_every_field_of_every_text_letter_is_the_right_text(
    readings: list[tuple[dict[str, Any], dict[str, str]]],
) -> None:
    wrong = [
        (t["file"], name, t[name], got[name])
        for t, got in readings
        if t["text_layer"] != "none"
        for name in FIELDS
        if text_key(got[name]) != text_key(t[name])
    ]
    assert wrong == []


def test_exact_fields_per_producer_reach_their_floor(
    readings: list[tuple[dict[str, Any], dict[str, str]]],
) -> None:
    exact: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(FIELDS, 0))
    count: dict[str, int] = defaultdict(int)
    for t, got in readings:
        count[t["producer"]] += 1
        for name in FIELDS:
            exact[t["producer"]][name] += exact_key(got[name]) == exact_key(t[name])
    assert set(count) == set(EXACT_FLOOR)
    below = {(p, name, exact[p][name], floor) for p, floors in EXACT_FLOOR.items()
             for name, floor in floors.items() if exact[p][name] < floor}
    assert below == set()
    # the floors are the numbers reached, not a wish: none is over the letters there are
    assert all(floor <= count[p] for p, floors in EXACT_FLOOR.items() for floor in floors.values())
