"""A small PDF cannot make page-1 reading costly (issue 19: 1.7 KB, two minutes of pypdf).

Each attack is one row of tests/pdfgen/hostile.py: page-1 text is then read without painting
the forms (or not at all), pypdf parses at most the page's own content stream, and the page's
own words are still found where they are cheap to read. The cost asserted is work counted
(content streams parsed), never time; the time is measured and recorded (`-rP` shows it).
"""

from __future__ import annotations

import datetime as dt
import io
import time
from collections.abc import Callable
from pathlib import Path

import pypdf
import pytest

from gateway.pdf.check import inspect_pdf
from gateway.pdf.textwork import PAGE_TEXT_BYTES, page_text, text_work
from tests.pdfgen import hostile

NOW = dt.datetime(2026, 11, 22, 3, 0, tzinfo=dt.UTC)
CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "producers"

# (attack, the file, the page-1 text still read)
HOSTILE: list[tuple[str, Callable[[], bytes], str]] = [
    ("issue 19: one form of 100,000 no-ops painted 100 times (1.7 KB)",
     lambda: hostile.form_calls(100, 100_000), hostile.HOSTILE_TEXT),
    ("one small form painted 50,000 times", lambda: hostile.form_calls(50_000, 200),
     hostile.HOSTILE_TEXT),
    ("forms nested 12 deep, each painting the next 10 times (10^12 paintings)",
     lambda: hostile.nested_forms(12, 10), hostile.HOSTILE_TEXT),
    ("forms nested 40 deep, each painting the next twice", lambda: hostile.nested_forms(40, 2),
     hostile.HOSTILE_TEXT),
    ("page content of 2,000,000 no-ops (12 MB inflated from 18 KB)",
     lambda: hostile.noop_page(2_000_000), ""),
]


def _parses(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the content streams pypdf parses for text (the page's and each form painted)."""
    seen: list[int] = []
    real = pypdf.PageObject._extract_text

    def counted(self, obj, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(1)
        return real(self, obj, *args, **kwargs)

    monkeypatch.setattr(pypdf.PageObject, "_extract_text", counted)
    return seen


@pytest.mark.parametrize(("attack", "make", "text"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_a_hostile_page_is_read_at_a_bounded_cost(attack: str, make: Callable[[], bytes], text: str,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  record_property: Callable[[str, object], None]) -> None:
    pdf = make()
    page = pypdf.PdfReader(io.BytesIO(pdf)).pages[0]
    assert text_work(page) is None  # recognised before any parsing
    parses = _parses(monkeypatch)
    started = time.perf_counter()
    report = inspect_pdf(pdf, now=NOW)
    record_property("inspect_ms", round((time.perf_counter() - started) * 1000, 1))
    record_property("file_bytes", len(pdf))
    assert report.readable
    assert len(parses) <= 1  # the page's own content at most, no form
    assert report.first_page_text.strip() == text


def test_the_counted_work_is_what_pypdf_would_parse() -> None:
    """Without the guard pypdf parses the form at every painting: 100 paintings of a small
    form count 100 times its size, the same form painted once counts once."""
    once = pypdf.PdfReader(io.BytesIO(hostile.form_calls(1, 1000))).pages[0]
    hundred = pypdf.PdfReader(io.BytesIO(hostile.form_calls(100, 1000))).pages[0]
    one, many = text_work(once), text_work(hundred)
    assert one is not None and many is not None
    own = text_work(hundred, forms=False)
    assert own is not None and many - own == 100 * (one - text_work(once, forms=False))  # type: ignore[operator]


@pytest.mark.parametrize("pdf", sorted(CORPUS.glob("*/*.pdf")), ids=lambda p: p.name)
def test_real_letters_are_read_as_before(pdf: Path) -> None:
    """Letters from LibreOffice, Chromium, fpdf2 …: far within the bound, the same text."""
    page = pypdf.PdfReader(pdf).pages[0]
    work = text_work(page)
    assert work is not None and work < PAGE_TEXT_BYTES // 10
    assert page_text(page) == pypdf.PdfReader(pdf).pages[0].extract_text()


@pytest.mark.parametrize("make", [lambda: hostile.nested_forms(12, 10), lambda: hostile.nested_forms(40, 2),
                                  hostile.form_calls], ids=["nested 12x10", "nested 40x2", "form calls"])
def test_a_hostile_page_is_never_drawn(make: Callable[[], bytes]) -> None:
    """PDFium paints every form where it is used: forms nested 12 deep, 10 times each, made the
    kernel kill the reader for memory. Neither OCR nor stamp placement draws such a page."""
    from gateway.pdf.ocr import ocr_page1
    from gateway.pdf.pdfium import drawable
    from gateway.pdf.space import ink_map

    pdf = make()
    assert not drawable(pdf)
    assert ink_map(pdf) is None  # the stamp then goes to its fixed corner
    assert ocr_page1(pdf, tesseract="/bin/false").skipped == "page 1 is too costly to draw"
