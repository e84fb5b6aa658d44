"""Other producers' PDFs damaged on the way (a cut transfer, a bad disk, a careless tool): the
letter is read without raising, its damaged file is kept as it came, and the receive stamp is
drawn or refused with a Thai reason. One damage = one row; each is applied to a letter of every
producer in tests/corpus/producers (Chromium, LibreOffice, fpdf2, no ToUnicode, PUA text).

Before this table a PDF whose page 1 pypdf reads but PDFium cannot load (its page object's
`obj` keyword damaged) made the reading raise PdfiumError: the letter was read again at every
round and went to review after `[intake] max_attempts` as "ระบบอ่านอีเมลนี้ไม่สำเร็จ",
although its text and stamp were within reach.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.inbound.read import read_with_default_resources
from gateway.inbound.stamp import StampSettings, stamp_bytes
from gateway.pdf.check import inspect_pdf
from gateway.pdf.stamp import StampStyle
from tests.corpus.mail import letter_mail

NOW = dt.datetime(2026, 12, 7, 3, 0, tzinfo=dt.UTC)
CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "producers"
LETTERS = ["chromium/chromium-01.pdf", "libreoffice/libreoffice-01.pdf", "fpdf2/fpdf2-01.pdf",
           "no-tounicode/no-tounicode-01.pdf", "pua/pua-04.pdf"]
STAMP = StampSettings(StampStyle(placement="free"), "สำนักงานทดสอบ", False)
THAI = re.compile("[\u0e01-\u0e4f]")


def _page_object(pdf: bytes) -> int:
    """Where the first page's `N 0 obj` keyword ends (the `j`)."""
    page = re.search(rb"/Type\s*/Page(?![s\w])", pdf)
    assert page is not None
    return pdf.rindex(b" obj", 0, page.start()) + 3


def _flip(at: Callable[[bytes], int], mask: int = 0xFF) -> Callable[[bytes], bytes]:
    def damage(pdf: bytes) -> bytes:
        i = at(pdf)
        return pdf[:i] + bytes([pdf[i] ^ mask]) + pdf[i + 1:]
    return damage


def _zero(at: Callable[[bytes], int], n: int) -> Callable[[bytes], bytes]:
    def damage(pdf: bytes) -> bytes:
        i = at(pdf)
        return pdf[:i] + bytes(len(pdf[i:i + n])) + pdf[i + n:]
    return damage


def _startxref_off(pdf: bytes) -> bytes:
    """startxref names an offset in the middle of the file (same length, digits rotated)."""
    i = pdf.rindex(b"startxref") + len(b"startxref")
    j = i + len(pdf[i:]) - len(pdf[i:].lstrip())
    k = j
    while pdf[k:k + 1].isdigit():
        k += 1
    digits = pdf[j:k]
    return pdf[:j] + digits[1:] + digits[:1] + pdf[k:]


# (damage, what it does to the file)
DAMAGES: list[tuple[str, Callable[[bytes], bytes]]] = [
    ("the first page's `obj` keyword broken (pypdf reads the page, PDFium cannot load it)",
     _flip(_page_object)),
    ("the first page's /Type misspelt", _flip(lambda p: re.search(rb"/Type\s*/Page(?![s\w])", p)
                                              .end() - 2, 0x03)),  # type: ignore[union-attr]
    ("cut at two thirds (a transfer broken off)", lambda p: p[: len(p) * 2 // 3]),
    ("the last 7 bytes missing (no %%EOF)", lambda p: p[:-7]),
    ("startxref pointing into the middle of the file", _startxref_off),
    ("the xref table zeroed (64 bytes)", _zero(lambda p: p.rindex(b"\nxref") + 1, 64)),
    ("the first stream's data zeroed (128 bytes)", _zero(lambda p: p.index(b"stream") + 16, 128)),
    ("the trailer's /Root misspelt", lambda p: p[: p.rindex(b"/Root")] + b"/Roox"
     + p[p.rindex(b"/Root") + 5:]),
    ("a byte flipped in the middle of the file", _flip(lambda p: len(p) // 2)),
]


@pytest.mark.parametrize("letter", LETTERS)
@pytest.mark.parametrize(("damage", "make"), DAMAGES, ids=[d[0] for d in DAMAGES])
def test_a_damaged_pdf_is_read_and_stamped_or_refused_with_a_thai_reason(
        letter: str, damage: str, make: Callable[[bytes], bytes]) -> None:
    original = (CORPUS / letter).read_bytes()
    pdf = make(original)
    assert pdf != original, damage
    reading = read_with_default_resources(letter_mail(pdf, filename="letter.pdf"), trust_roots=(),
                                          now=NOW, ocr=False)
    assert reading.main is not None and reading.main.data == pdf  # kept as it came
    stamped, why, _remark = stamp_bytes(pdf, STAMP, 7, NOW)
    if stamped is None:
        assert THAI.search(why), why
    else:
        assert stamped.startswith(pdf)  # an incremental update: the sender's bytes untouched


def test_a_page_pdfium_cannot_load_is_read_from_pypdf() -> None:
    """The page PDFium cannot load still gives its text, and the letter its number."""
    import pypdfium2 as pdfium

    pdf = _flip(_page_object)((CORPUS / "fpdf2/fpdf2-01.pdf").read_bytes())
    doc = pdfium.PdfDocument(pdf)
    try:
        with pytest.raises(pdfium.PdfiumError):
            doc[0]  # the damage this row is about
    finally:
        doc.close()
    assert "ศธ ๐๔๐๔๙/ว ๙๒๘๙" in inspect_pdf(pdf, now=NOW).first_page_text  # truth.json
