"""A register as the regulation prints it: A4 landscape, the book's columns, Thai throughout.

Each page: the book's name, the agency and the period at the top; the column headings of the
form (gateway.reports.layout.official_heads) under them, on every page; a line ``วันที่ …`` where
a day of registrations begins, as on the paper form; and ``หน้า ๑ / ๕`` at the foot. Cells wrap
at Thai word boundaries (gateway.reports.wrap); a row never breaks across pages unless it is
taller than a whole page. The Thai font is embedded and shaped, and its text layer reads back
exactly (gateway.reports.thaifont).

Rows are added one at a time (``add``) so a caller can stream a register of any length;
fpdf2 keeps the finished pages until ``output``. CPU-bound: a command runs it in its own loop.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from fpdf import FPDF

from gateway.reports.export import ExportRow
from gateway.reports.layout import official_cells, official_heads, register_day
from gateway.reports.thaifont import LineWriter, add_thai_font
from gateway.reports.wrap import wrap
from gateway.thai import format_letter_date, to_thai_digits

__all__ = ["BOTTOM", "COLUMN_WIDTHS", "MARGIN", "TOP_OF_TABLE", "PrintedHeader", "RegisterPdf", "column_bounds"]

# Millimetres. The columns of the form (เลขทะเบียน, ที่, ลงวันที่, จาก, ถึง, เรื่อง, การปฏิบัติ,
# หมายเหตุ) share the 277 mm between the margins of an A4 landscape page.
PAGE_W, PAGE_H, MARGIN = 297.0, 210.0, 10.0
COLUMN_WIDTHS = (24.0, 32.0, 28.0, 40.0, 38.0, 64.0, 31.0, 20.0)
PAD_X, PAD_Y = 1.2, 0.7
BODY_PT, HEAD_PT, TITLE_PT = 12.0, 12.0, 16.0
LINE = 5.2  # one line of 12 pt Thai, with room for marks above and below
TOP_OF_TABLE = MARGIN + 21.0
BOTTOM = PAGE_H - MARGIN - 5.0  # the foot of the table; the page number sits below
FOOTER_Y = BOTTOM + 2.0
ALIGN = ("C", "L", "L", "L", "L", "L", "L", "L")


def column_bounds() -> list[tuple[float, float]]:
    """Each column's [left, right] in points (1/72 in), as pdftotext reports positions."""
    out, x = [], MARGIN
    for w in COLUMN_WIDTHS:
        out.append((x * 72 / 25.4, (x + w) * 72 / 25.4))
        x += w
    return out


@dataclass(frozen=True)
class PrintedHeader:
    """What the top of every page says."""

    title: str  # the book: ทะเบียนหนังสือรับ
    agency: str
    period: str  # ปี พ.ศ. ๒๕๖๙ / ตั้งแต่วันที่ …
    printed: str = ""  # พิมพ์เมื่อ … (the caller's clock)


def _bold_sibling(path: str) -> str:
    p = Path(path)
    bold = p.with_name(f"{p.stem}-Bold{p.suffix}")
    return str(bold) if bold.is_file() else path


class RegisterPdf:
    def __init__(self, *, font_path: str, thai_digits: bool, now: dt.datetime) -> None:
        """``now``: the document's creation date (the caller's clock, never the host's)."""
        self.thai_digits = thai_digits
        pdf = FPDF(orientation="L", unit="mm", format="A4")
        pdf.set_creation_date(now)
        pdf.set_lang("th")
        pdf.set_creator("saraban-gateway")
        pdf.set_auto_page_break(False)
        pdf.set_margins(MARGIN, MARGIN, MARGIN)
        pdf.c_margin = 0
        add_thai_font(pdf, "th", font_path)
        add_thai_font(pdf, "th", _bold_sibling(font_path), style="B")
        pdf.set_text_shaping(True)
        pdf.set_line_width(0.2)
        self.pdf = pdf
        self._lines = LineWriter(pdf)
        self._header: PrintedHeader | None = None
        self._heads: tuple[str, ...] = ()
        self._day: object = None
        self._y = TOP_OF_TABLE
        self._rows_on_page = 0
        self._table_top = TOP_OF_TABLE
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

    # --- pages ---------------------------------------------------------------------------

    def start_book(self, header: PrintedHeader, kind: str) -> None:
        """Begin a book (receive or send layout) on a new page."""
        self._header, self._heads = header, official_heads(kind)
        if not self.pages:
            self.pdf.set_title(header.title)
            self.pdf.set_author(header.agency)
        self._new_page()

    def _new_page(self) -> None:
        assert self._header is not None, "start_book first"
        pdf, h = self.pdf, self._header
        pdf.add_page()
        self._font("B", TITLE_PT)
        self._text(MARGIN, MARGIN, PAGE_W - 2 * MARGIN, h.title, "C")
        self._font("", BODY_PT)
        self._text(MARGIN, MARGIN + 7.5, PAGE_W - 2 * MARGIN, f"{h.agency}  {h.period}", "C")
        self._y = TOP_OF_TABLE
        self._draw_row([[t] for t in self._heads], style="B", fill=True, wrap_style="B")
        self._table_top = self._y
        self._day = None
        self._rows_on_page = 0

    # --- rows ----------------------------------------------------------------------------

    def _wrapped(self, cells: Sequence[str], style: str) -> list[list[str]]:
        measure = self._font(style, BODY_PT)
        return [wrap(c, w - 2 * PAD_X, measure) for c, w in zip(cells, COLUMN_WIDTHS, strict=True)]

    def _draw_row(self, lines: list[list[str]], *, style: str = "", fill: bool = False,
                  wrap_style: str | None = None) -> None:
        if wrap_style is not None:
            lines = self._wrapped([" ".join(c) for c in lines], wrap_style)
        pdf = self.pdf
        n = max(len(c) for c in lines)
        height = n * LINE + 2 * PAD_Y
        self._font(style, BODY_PT)
        pdf.set_fill_color(235, 235, 235)
        x = MARGIN
        for cell, w, align in zip(lines, COLUMN_WIDTHS, ALIGN, strict=True):
            pdf.rect(x, self._y, w, height, style="DF" if fill else "D")
            for i, line in enumerate(cell):
                self._text(x + PAD_X, self._y + PAD_Y + i * LINE, w - 2 * PAD_X, line,
                           "C" if fill else align)
            x += w
        self._y += height

    def _band(self, text: str) -> None:
        """The form's ``วันที่ …`` line: the day the rows below were registered."""
        height = LINE + 2 * PAD_Y
        self.pdf.set_fill_color(248, 248, 248)
        self.pdf.rect(MARGIN, self._y, sum(COLUMN_WIDTHS), height, style="DF")
        self._font("B", BODY_PT)
        self._text(MARGIN + PAD_X, self._y + PAD_Y, sum(COLUMN_WIDTHS) - 2 * PAD_X, text)
        self._y += height

    def _room(self) -> int:
        """Whole lines that fit between the current position and the foot of the page."""
        return int((BOTTOM - self._y - 2 * PAD_Y + 1e-6) // LINE)

    def add(self, row: ExportRow) -> None:
        lines = self._wrapped(official_cells(row, thai_digits=self.thai_digits), "")
        day = register_day(row)
        band_h = LINE + 2 * PAD_Y
        while lines:
            band = band_h if day != self._day else 0.0
            n = min(max(len(c) for c in lines), self._capacity())
            if self._rows_on_page and self._y + band + n * LINE + 2 * PAD_Y > BOTTOM + 1e-6:
                self._new_page()
                continue
            if day != self._day:
                self._band(f"วันที่ {format_letter_date(day, thai_digits=self.thai_digits)}")
                self._day = day
            fit = self._room()
            self._draw_row([c[:fit] or [""] for c in lines])
            self._rows_on_page += 1
            lines = [c[fit:] for c in lines]
            if any(lines):  # taller than a whole page: the rest goes on the next
                self._new_page()
            else:
                lines = []

    def _capacity(self) -> int:
        """Lines of one row on an empty page (below the headings and a day line)."""
        return int((BOTTOM - self._table_top - 4 * PAD_Y - LINE + 1e-6) // LINE)

    # --- the file ------------------------------------------------------------------------

    @property
    def pages(self) -> int:
        return len(self.pdf.pages)

    def _footers(self) -> None:
        total, last = self.pages, self.pdf.page
        assert self._header is not None
        self._font("", BODY_PT)
        for n in range(1, total + 1):
            self.pdf.page = n
            mark = self._digits(f"หน้า {n} / {total}")
            self._text(MARGIN, FOOTER_Y, PAGE_W - 2 * MARGIN, mark, "R")
            self._text(MARGIN, FOOTER_Y, 150.0, self._header.printed, "L")
        self.pdf.page = last

    def output(self, out: BinaryIO) -> int:
        """Write the PDF; the number of pages."""
        if not self.pages:  # an empty register still prints its headings
            raise ValueError("start_book first")
        self._footers()
        out.write(self.pdf.output())
        return self.pages
