"""Hundreds of distinct letters, fast: one real letter PDF, its number changed in place.

`numbered_letter_pdf` draws each letter with shaped Thai text and a font subset (about 0.2 s
each); a test or benchmark that needs hundreds of letters uses `QuickLetters` instead: the
same PDF is made once, with all ten digits in its subset (in the subject line), and for each
letter only the four digits of its number after "ที่ ศธ 04010/" are rewritten, in the glyph
run and in the /ActualText beside it. Same length, so every offset in the file stays right;
the file is as readable as the original, and its text says the new number. `resaved` is the
same letter saved again: same text, other bytes (the footer's marker, one letter changed).
"""

from __future__ import annotations

import re

from tests.corpus.mail import numbered_letter_pdf
from tests.pdfgen.documents import MARKER

FIRST, LAST = 1000, 9999  # four digits: the rewritten number keeps its length
_TEMPLATE_NUMBER = 1000
_RUN = re.compile(rb"\[([^\]]*)\] TJ")


def _runs(block: bytes) -> bytes:
    """The glyph ids (hex) of one text block, in order."""
    return b"".join(re.findall(rb"<([0-9a-f]+)>", b"".join(_RUN.findall(block))))


class QuickLetters:
    def __init__(self) -> None:
        pdf = numbered_letter_pdf(_TEMPLATE_NUMBER, subject="แจ้งการดำเนินงาน รหัส 0123456789")
        blocks = [m.start() for m in re.finditer(rb"BT /FTH", pdf)]
        assert len(blocks) >= 4, "the letter's text blocks"
        subject = _runs(pdf[blocks[3]:pdf.index(b"ET", blocks[3])])
        digits = subject[-40:]  # the last ten glyphs: 0 … 9
        self.glyph = {str(d): digits[4 * d:4 * d + 4] for d in range(10)}
        assert len(set(self.glyph.values())) == 10, "one glyph per digit"
        first = pdf[blocks[0]:pdf.index(b"ET", blocks[0])]
        number_hex = b"".join(self.glyph[c] for c in str(_TEMPLATE_NUMBER))
        actual = b"".join(b"\\000" + c.encode() for c in str(_TEMPLATE_NUMBER)) + b")"
        self._glyph_at = blocks[0] + first.rindex(number_hex + b">")
        self._text_at = blocks[0] + first.index(actual)
        self.template = pdf

    def pdf(self, n: int) -> bytes:
        """Letter "ที่ ศธ 04010/n" (FIRST <= n <= LAST)."""
        if not FIRST <= n <= LAST:
            raise ValueError(f"letter numbers {FIRST}…{LAST}")
        out = bytearray(self.template)
        number = str(n)
        glyphs = b"".join(self.glyph[c] for c in number)
        out[self._glyph_at:self._glyph_at + len(glyphs)] = glyphs
        text = b"".join(b"\\000" + c.encode() for c in number)
        out[self._text_at:self._text_at + len(text)] = text
        return bytes(out)

    def resaved(self, n: int) -> bytes:
        """The same letter n, saved again: another file (other bytes), the same ที่ and date."""
        pdf = self.pdf(n)
        assert pdf.count(MARKER) == 1
        return pdf.replace(MARKER, MARKER[:-1] + b"!")
