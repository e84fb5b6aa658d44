"""The drawing every printed report shares: an A4 page of fpdf2 with the Thai font, one line of
text in a box, a table row whose cells wrap at Thai word boundaries, and ``หน้า ๑ / ๕`` with
the printing time at the foot of every page.

``TablePdf`` is the base of the register (gateway.reports.printed), the hand-over sheet
(gateway.reports.handover) and the statistics (gateway.reports.statspdf); each draws its own
heading and decides where its rows go. Millimetres throughout; the text layer reads back
exactly (gateway.reports.thaifont).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

from fpdf import FPDF

from gateway.reports.thaifont import LineWriter, add_thai_font
from gateway.reports.wrap import wrap
from gateway.thai import to_thai_digits

__all__ = ["BODY_PT", "LINE", "MARGIN", "PAD_X", "PAD_Y", "TITLE_PT", "TablePdf", "bold_sibling"]

MARGIN = 10.0
PAD_X, PAD_Y = 1.2, 0.7
BODY_PT, TITLE_PT = 12.0, 16.0
LINE = 5.2  # one line of 12 pt Thai, with room for marks above and below
A4 = {"L": (297.0, 210.0), "P": (210.0, 297.0)}


def bold_sibling(path: str) -> str:
    p = Path(path)
    bold = p.with_name(f"{p.stem}-Bold{p.suffix}")
    return str(bold) if bold.is_file() else path


class TablePdf:
    """An A4 document (``orientation`` L or P) of tables with the given column widths."""

    def __init__(self, *, font_path: str, thai_digits: bool, now: dt.datetime, orientation: str,
                 widths: Sequence[float], align: Sequence[str]) -> None:
        """``now``: the document's creation date (the caller's clock, never the host's)."""
        self.thai_digits = thai_digits
        self.page_w, self.page_h = A4[orientation]
        self.widths, self.align = tuple(widths), tuple(align)
        self.bottom = self.page_h - MARGIN - 5.0  # the foot of the table; the page number below
        pdf = FPDF(orientation=orientation, unit="mm", format="A4")
        pdf.set_creation_date(now)
        pdf.set_lang("th")
        pdf.set_creator("saraban-gateway")
        pdf.set_auto_page_break(False)
        pdf.set_margins(MARGIN, MARGIN, MARGIN)
        pdf.c_margin = 0
        add_thai_font(pdf, "th", font_path)
        add_thai_font(pdf, "th", bold_sibling(font_path), style="B")
        pdf.set_text_shaping(True)
        pdf.set_line_width(0.2)
        self.pdf = pdf
        self._lines = LineWriter(pdf)
        self._y = MARGIN
        self.printed = ""  # พิมพ์เมื่อ … at the foot of every page
        self._measures: dict[str, Callable[[str], float]] = {}

    # --- text ----------------------------------------------------------------------------

    def _font(self, style: str, size: float) -> Callable[[str], float]:
        self.pdf.set_font("th", style=style, size=size)
        key = f"{style}{size}"
        if key not in self._measures:
            self._measures[key] = functools.lru_cache(maxsize=4096)(self._lines.width)
        return self._measures[key]

    def _text(self, x: float, y: float, w: float, text: str, align: str = "L") -> None:
        """One line in the box [x, x + w] whose top is y, in the current font."""
        if not text:
            return
        if align != "L":
            free = w - self._lines.width(text)
            x += free if align == "R" else free / 2
        self._lines.write(x, y + 0.5 * LINE + 0.3 * self.pdf.font_size, text)

    def _digits(self, text: str) -> str:
        return to_thai_digits(text) if self.thai_digits else text

    def _title(self, title: str, subtitle: str) -> None:
        """The page's heading, centred: the report in bold, then what it covers."""
        self._font("B", TITLE_PT)
        self._text(MARGIN, MARGIN, self.page_w - 2 * MARGIN, title, "C")
        self._font("", BODY_PT)
        self._text(MARGIN, MARGIN + 7.5, self.page_w - 2 * MARGIN, subtitle, "C")

    # --- rows ----------------------------------------------------------------------------

    def _wrapped(self, cells: Sequence[str], style: str) -> list[list[str]]:
        measure = self._font(style, BODY_PT)
        return [wrap(c, w - 2 * PAD_X, measure) for c, w in zip(cells, self.widths, strict=True)]

    def _draw_row(self, lines: list[list[str]], *, style: str = "", fill: bool = False,
                  wrap_style: str | None = None, min_height: float = 0.0) -> None:
        if wrap_style is not None:
            lines = self._wrapped([" ".join(c) for c in lines], wrap_style)
        pdf = self.pdf
        n = max(len(c) for c in lines)
        height = max(n * LINE + 2 * PAD_Y, min_height)
        self._font(style, BODY_PT)
        pdf.set_fill_color(235, 235, 235)
        x = MARGIN
        for cell, w, align in zip(lines, self.widths, self.align, strict=True):
            pdf.rect(x, self._y, w, height, style="DF" if fill else "D")
            for i, line in enumerate(cell):
                self._text(x + PAD_X, self._y + PAD_Y + i * LINE, w - 2 * PAD_X, line,
                           "C" if fill else align)
            x += w
        self._y += height

    def _room(self) -> int:
        """Whole lines that fit between the current position and the foot of the page."""
        return int((self.bottom - self._y - 2 * PAD_Y + 1e-6) // LINE)

    # --- the file ------------------------------------------------------------------------

    @property
    def pages(self) -> int:
        return len(self.pdf.pages)

    def _footers(self) -> None:
        total, last = self.pages, self.pdf.page
        self._font("", BODY_PT)
        for n in range(1, total + 1):
            self.pdf.page = n
            mark = self._digits(f"หน้า {n} / {total}")
            y = self.bottom + 2.0
            self._text(MARGIN, y, self.page_w - 2 * MARGIN, mark, "R")
            self._text(MARGIN, y, 150.0, self.printed, "L")
        self.pdf.page = last

    def output(self, out: BinaryIO) -> int:
        """Write the PDF; the number of pages."""
        if not self.pages:  # an empty report still prints its headings
            raise ValueError("no page: start the report first")
        self._footers()
        out.write(self.pdf.output())
        return self.pages
