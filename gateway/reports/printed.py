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
from dataclasses import dataclass

from gateway.reports.export import ExportRow
from gateway.reports.layout import official_cells, official_heads, register_day
from gateway.reports.table import BODY_PT, LINE, MARGIN, PAD_X, PAD_Y, TablePdf
from gateway.thai import format_letter_date

__all__ = ["BOTTOM", "COLUMN_WIDTHS", "MARGIN", "TOP_OF_TABLE", "PrintedHeader", "RegisterPdf", "column_bounds"]

# Millimetres. The columns of the form (เลขทะเบียน, ที่, ลงวันที่, จาก, ถึง, เรื่อง, การปฏิบัติ,
# หมายเหตุ) share the 277 mm between the margins of an A4 landscape page.
PAGE_W, PAGE_H = 297.0, 210.0
COLUMN_WIDTHS = (24.0, 32.0, 28.0, 40.0, 38.0, 64.0, 31.0, 20.0)
TOP_OF_TABLE = MARGIN + 21.0
BOTTOM = PAGE_H - MARGIN - 5.0  # the foot of the table; the page number sits below
ALIGN = ("C", "L", "L", "L", "L", "L", "L", "L")


def column_bounds(widths: tuple[float, ...] = COLUMN_WIDTHS) -> list[tuple[float, float]]:
    """Each column's [left, right] in points (1/72 in), as pdftotext reports positions."""
    out, x = [], MARGIN
    for w in widths:
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


class RegisterPdf(TablePdf):
    def __init__(self, *, font_path: str, thai_digits: bool, now: dt.datetime) -> None:
        """``now``: the document's creation date (the caller's clock, never the host's)."""
        super().__init__(font_path=font_path, thai_digits=thai_digits, now=now, orientation="L",
                         widths=COLUMN_WIDTHS, align=ALIGN)
        self._header: PrintedHeader | None = None
        self._heads: tuple[str, ...] = ()
        self._day: object = None
        self._y = TOP_OF_TABLE
        self._rows_on_page = 0
        self._table_top = TOP_OF_TABLE

    # --- pages ---------------------------------------------------------------------------

    def start_book(self, header: PrintedHeader, kind: str) -> None:
        """Begin a book (receive or send layout) on a new page."""
        self._header, self._heads = header, official_heads(kind)
        self.printed = header.printed
        if not self.pages:
            self.pdf.set_title(header.title)
            self.pdf.set_author(header.agency)
        self._new_page()

    def _new_page(self) -> None:
        assert self._header is not None, "start_book first"
        h = self._header
        self.pdf.add_page()
        self._title(h.title, f"{h.agency}  {h.period}")
        self._y = TOP_OF_TABLE
        self._draw_row([[t] for t in self._heads], style="B", fill=True, wrap_style="B")
        self._table_top = self._y
        self._day = None
        self._rows_on_page = 0

    # --- rows ----------------------------------------------------------------------------

    def _band(self, text: str) -> None:
        """The form's ``วันที่ …`` line: the day the rows below were registered."""
        height = LINE + 2 * PAD_Y
        self.pdf.set_fill_color(248, 248, 248)
        self.pdf.rect(MARGIN, self._y, sum(COLUMN_WIDTHS), height, style="DF")
        self._font("B", BODY_PT)
        self._text(MARGIN + PAD_X, self._y + PAD_Y, sum(COLUMN_WIDTHS) - 2 * PAD_X, text)
        self._y += height

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
