"""Page 1 of a letter as text, read so that Thai comes out right (#19).

No single extractor reads every producer's Thai: pypdf ignores /ActualText (LibreOffice's า),
PDFium splits a shaped cluster over two glyphs (Chromium's `ชี้แชี้จง`) and inserts spaces after
ำ, poppler's pdftotext gives a space for an unmapped glyph. So page 1 is read by each of them
that is there: pypdf, PDFium (pypdfium2, text only, never rendered) and, where the binary is
installed, `pdftotext -raw` (optional, bounded in time, no shell). Each reading is repaired
(`core.thaifix`); then, line by line in PDFium's top-to-bottom order, the reading with the
fewest flaws (junk, odd spelling), then the fewest Thai letters outside dictionary words
(pythainlp's bundled word list, newmm tokenizer), then the most extractors agreeing is kept.
Lines a layout broke inside a word are joined again.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Sequence
from difflib import SequenceMatcher
from typing import Any

from gateway.core.thaifix import CONSONANT, flaws, join_broken_lines, repair_page

__all__ = ["first_page_text", "unknown_letters"]

log = logging.getLogger(__name__)

PDFTOTEXT_SECONDS = 5.0  # pdftotext on one page; past it the reading is left out
_PDFIUM = threading.Lock()  # PDFium is not thread-safe; inspect_pdf runs in worker threads
_THAI_RUN = re.compile("[\u0e01-\u0e4e]+")


# --- the dictionary ---------------------------------------------------------------------------

@functools.cache
def _dictionary() -> tuple[Any, frozenset[str]]:
    # pythainlp makes ~/pythainlp-data at import unless read-only; its word list is bundled
    # in the package, nothing is downloaded.
    os.environ.setdefault("PYTHAINLP_READ_ONLY", "1")
    from pythainlp.corpus.common import thai_words
    from pythainlp.tokenize.newmm import segment

    return segment, frozenset(thai_words())


@functools.lru_cache(maxsize=4096)
def _unknown_run(run: str) -> int:
    segment, words = _dictionary()
    return sum(len(t) for t in segment(run) if t not in words)


def unknown_letters(text: str) -> int:
    """Thai characters of `text` that fall outside the words of the dictionary."""
    return sum(_unknown_run(r) for r in _THAI_RUN.findall(text))


# --- the readings -----------------------------------------------------------------------------

def _pdfium(pdf: bytes) -> str:
    """PDFium's text of page 1, lines sorted top to bottom; a space PDFium made up where no gap
    is (it overlaps the glyph before it: after ำ, inside a cluster) is left out."""
    try:
        import pypdfium2 as pdfium
        import pypdfium2.raw as raw
    except ImportError:  # pragma: no cover - a dependency; the other readings still count
        return ""
    with _PDFIUM:
        try:
            doc = pdfium.PdfDocument(pdf)
        except Exception as exc:  # noqa: BLE001 - PDFium cannot open what pyHanko did
            log.info("PDFium cannot open the PDF: %r", exc)
            return ""
        try:
            if len(doc) < 1:
                return ""
            page = doc[0]
            textpage = page.get_textpage()
            try:
                n = textpage.count_chars()
                text = textpage.get_text_range(0, n) if n > 0 else ""
                if len(text) != n:  # not one character per index: take the text as it is
                    return text
                lines: list[tuple[float, int, str]] = []
                chars: list[str] = []
                top, right = None, None
                for i, c in enumerate(text):
                    if c in "\r\n":
                        if chars:
                            lines.append((top if top is not None else 0.0, len(lines),
                                          "".join(chars)))
                        chars, top, right = [], None, None
                        continue
                    x0, _, x1, y1 = textpage.get_charbox(i)
                    if c == " " and raw.FPDFText_IsGenerated(textpage.raw, i) == 1 and \
                            right is not None and x0 < right - 0.1:
                        continue
                    if c != " ":
                        top = y1 if top is None else max(top, y1)
                        right = x1
                    chars.append(c)
                if chars:
                    lines.append((top if top is not None else 0.0, len(lines), "".join(chars)))
            finally:
                textpage.close()
                page.close()
        finally:
            doc.close()
    # PDF y grows upwards: top of the page first; a line within 2 pt of another keeps its order
    lines.sort(key=lambda t: (-round(t[0] / 2), t[1]))
    return "\n".join(s for _, _, s in lines)


def _pdftotext(pdf: bytes) -> str:
    exe = shutil.which("pdftotext")
    if exe is None:
        return ""
    try:
        done = subprocess.run([exe, "-raw", "-f", "1", "-l", "1", "-q", "-", "-"], input=pdf,
                              capture_output=True, timeout=PDFTOTEXT_SECONDS, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        log.info("pdftotext failed: %r", exc)
        return ""
    if done.returncode != 0:
        return ""
    return done.stdout.decode("utf-8", "replace")


# --- one reading of page 1 -------------------------------------------------------------------

_SKELETON = re.compile(f"[^{CONSONANT}0-9A-Za-z\u0e50-\u0e59]")


def _skeleton(line: str) -> str:
    """What every extractor agrees on: consonants, digits and Latin letters."""
    return _SKELETON.sub("", line)


def _align(base: Sequence[str], other: Sequence[str]) -> list[str | None]:
    """For each line of `base`, the line of `other` that reads the same text, if any."""
    a, b = [_skeleton(x) for x in base], [_skeleton(x) for x in other]
    out: list[str | None] = [None] * len(base)
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            for k in range(i2 - i1):
                out[i1 + k] = other[j1 + k]
        elif tag == "replace":
            for i in range(i1, i2):
                scored = [(SequenceMatcher(None, a[i], b[j], autojunk=False).ratio(), j)
                          for j in range(j1, j2)]
                best = max(scored, default=(0.0, -1))
                if best[0] >= 0.75:
                    out[i] = other[best[1]]
    return out


def _best(options: Sequence[str]) -> str:
    """The reading of one line to keep: fewest flaws, fewest letters outside the dictionary,
    most extractors agreeing (letters only, spaces aside), then the first."""
    if len(set(options)) == 1:
        return options[0]
    keys = [o.replace(" ", "") for o in options]

    def rank(k: int) -> tuple[int, int, int, int]:
        o = options[k]
        return (flaws(o), unknown_letters(o), -keys.count(keys[k]), k)

    return options[min(range(len(options)), key=rank)]


def combine(readings: Sequence[str]) -> list[str]:
    """Repaired lines of page 1 from several readings (the first, if any, gives the order)."""
    pages = [repair_page(r) for r in readings]
    pages = [p for p in pages if p]
    if not pages:
        return []
    base, others = pages[0], pages[1:]
    aligned = [_align(base, o) for o in others]
    lines = [_best([line, *(a[i] for a in aligned if a[i] is not None)])
             for i, line in enumerate(base)]
    return join_broken_lines(lines, unknown_letters)


def first_page_text(pdf: bytes, pypdf_text: str) -> str:
    """Page 1 of `pdf` as lines of clean Thai, top to bottom ("" when nothing reads it).
    `pypdf_text` is pypdf's reading of the same page (gateway.pdf.check)."""
    readings = [_pdfium(pdf), _pdftotext(pdf), pypdf_text]
    return "\n".join(combine(readings))
