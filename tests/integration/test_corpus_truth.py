"""The producer corpus (tests/corpus/producers, made by scripts/make-corpus) is what truth.json says,
and its ground truth is right: an independent reader finds it in each text PDF (issue #19).

The independent reader is poppler's `pdftotext -raw` (content-stream order, so Thai marks stay in
typed order): on page 1 of every PDF with a text layer it must find the letter's ที่, date as
printed, agency, addressee and subject, compared after NFC with all whitespace removed (a line
break inside a word is not a difference of the truth). The legacy PUA letters are mapped back with
the fixed table of the U+F700-U+F71A presentation forms first; the no-ToUnicode letters must have
no mapping at all. Nothing here measures the gateway's own reading (bench/bench_fidelity.py does).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
import subprocess
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

import pypdf
import pytest

from gateway.letter import Secrecy, Speed

pytestmark = pytest.mark.integration

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "producers"
TRUTH: list[dict[str, Any]] = json.loads((CORPUS / "truth.json").read_text(encoding="utf-8"))[
    "letters"]
TEXT = [t for t in TRUTH if t["text_layer"] != "none"]
MAX_BYTES = 60 * 1024
PRODUCER_META = {"libreoffice": "LibreOffice", "chromium": "Skia/PDF", "fpdf2": "fpdf2",
                 "pua": "fpdf2", "no-tounicode": "fpdf2"}
MONTHS = ("มกราคม", "กุมภาพันธ์", "มีนาคม", "เมษายน", "พฤษภาคม", "มิถุนายน", "กรกฎาคม",
          "สิงหาคม", "กันยายน", "ตุลาคม", "พฤศจิกายน", "ธันวาคม")
THAI_DIGITS = str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙")
TONES = "่้๊๋์"
# The legacy presentation forms and the character each one draws.
PUA = {
    "\uf700": "ฐ", "\uf70f": "ญ", "\uf710": "ั", "\uf711": "ํ", "\uf712": "็",
    **dict(zip("\uf701\uf702\uf703\uf704", "ิีึื", strict=True)),
    **dict(zip("\uf705\uf706\uf707\uf708\uf709", TONES, strict=True)),
    **dict(zip("\uf70a\uf70b\uf70c\uf70d\uf70e", TONES, strict=True)),
    **dict(zip("\uf713\uf714\uf715\uf716\uf717", TONES, strict=True)),
    **dict(zip("\uf718\uf719\uf71a", "ฺุู", strict=True)),
}


def squeeze(s: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFC", s))


def pdftotext_raw(path: Path) -> str:
    return subprocess.run(["pdftotext", "-raw", "-enc", "UTF-8", "-l", "1", str(path), "-"],
                          capture_output=True, check=True, timeout=60).stdout.decode("utf-8")


def pdf_producer(path: Path) -> str:
    return str(pypdf.PdfReader(path).metadata.get("/Producer", ""))


def printed_date(t: dict[str, Any]) -> str:
    d = dt.date.fromisoformat(t["letter_date"])
    s = f"{d.day} {MONTHS[d.month - 1]} {d.year + 543}"
    return s.translate(THAI_DIGITS) if t["digits"] == "thai" else s


def ids(entries: list[dict[str, Any]]) -> list[str]:
    return [t["file"] for t in entries]


def test_every_pdf_is_listed_once_and_every_listed_file_exists() -> None:
    listed = [t["file"] for t in TRUTH]
    assert len(listed) == len(set(listed))
    on_disk = sorted(str(p.relative_to(CORPUS)) for p in CORPUS.glob("*/*.pdf"))
    assert sorted(listed) == on_disk


def test_the_corpus_has_what_issue_19_asks_for() -> None:
    per = Counter(t["producer"] for t in TRUTH)
    assert all(per[p] >= 12 for p in ("libreoffice", "chromium", "fpdf2")), per
    assert per["pua"] >= 1 and per["no-tounicode"] >= 1, per
    lo_fonts = {t["font"] for t in TRUTH if t["producer"] == "libreoffice"}
    assert {"Laksaman", "Garuda", "Loma", "Kinnari", "Norasi", "Sawasdee"} <= lo_fonts
    assert {t["source"] for t in TRUTH if t["producer"] == "libreoffice"} == {"fodt", "docx"}
    for producer in ("libreoffice", "chromium", "fpdf2"):
        mine = [t for t in TRUTH if t["producer"] == producer]
        assert {t["digits"] for t in mine} == {"thai", "arabic"}, producer
        assert {t["speed"] for t in mine} == {s.value for s in Speed} - {"ด่วนภายใน"}, producer
        assert {t["pages"] for t in mine} == {1, 2, 3}, producer
        assert {t["layout"] for t in mine} == {"beside", "above"}, producer
        assert any(t["secrecy"] != "ปกติ" for t in mine), producer


@pytest.mark.parametrize("t", TRUTH, ids=ids(TRUTH))
def test_file_matches_its_truth_entry(t: dict[str, Any]) -> None:
    path = CORPUS / t["file"]
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == t["sha256"]
    assert len(data) < MAX_BYTES
    assert len(pypdf.PdfReader(io.BytesIO(data)).pages) == t["pages"]
    assert PRODUCER_META[t["producer"]] in pdf_producer(path)
    dt.date.fromisoformat(t["letter_date"])
    assert t["speed"] in {s.value for s in Speed}
    assert t["secrecy"] in {s.value for s in Secrecy}
    for name in ("letter_no", "sender", "recipient", "subject"):
        value = t[name]
        assert value == unicodedata.normalize("NFC", value) == " ".join(value.split()) != ""


@pytest.mark.parametrize("t", TEXT, ids=ids(TEXT))
def test_pdftotext_finds_the_ground_truth_on_page_1(t: dict[str, Any]) -> None:
    text = pdftotext_raw(CORPUS / t["file"])
    if t["text_layer"] == "pua":  # really legacy forms: mapped into the Private Use Area
        assert any(c in PUA for c in text)
        text = "".join(PUA.get(c, c) for c in text)
    page = squeeze(text)
    assert squeeze(t["subject"]) in page
    assert squeeze(f"ที่ {t['letter_no']}") in page
    assert squeeze(printed_date(t)) in page
    assert squeeze(t["sender"]) in page
    assert squeeze(t["recipient"]) in page
    if t["speed"] != "ปกติ":  # the speed mark stands at the top, before ที่
        assert squeeze(t["speed"]) in page[: page.index(squeeze(f"ที่ {t['letter_no']}"))]


@pytest.mark.parametrize("t", [t for t in TRUTH if t["text_layer"] == "none"],
                         ids=ids([t for t in TRUTH if t["text_layer"] == "none"]))
def test_no_tounicode_letters_have_no_mapping(t: dict[str, Any]) -> None:
    path = CORPUS / t["file"]
    assert b"/ToUnicode" not in path.read_bytes()
    assert squeeze(t["subject"]) not in squeeze(pdftotext_raw(path))
