"""The daily hand-over sheet (ใบส่งหนังสือ): the letters forwarded to one unit on one day, with a
blank column for the receiver's signature and one for the date and time of receipt.

A4 landscape: eight columns, two of them left blank for handwriting, leave the subject too
little room on a portrait page (it would wrap to four or five lines a row); on a landscape page
the subject keeps 69 mm and the signature 40 mm. Rows are at least ``SIGN_HEIGHT`` tall so a
receiver can sign in them. Drawing is gateway.reports.table's, as the register's; a secret
letter (ลับ and above) shows its number only (gateway.reports.layout.redact).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from sqlalchemy import select

from gateway.config.agency import Unit
from gateway.errors import UserError
from gateway.reports.export import ExportRow, export_row
from gateway.reports.layout import redact
from gateway.reports.table import MARGIN, PAD_Y, TablePdf
from gateway.store.tables import Forward, RegisterBook, RegisterEntry
from gateway.thai import BANGKOK, format_letter_date, format_short_date

if TYPE_CHECKING:
    from gateway.config import Settings
    from gateway.store.handle import Store

__all__ = ["HEADS", "SIGN_HEIGHT", "WIDTHS", "HandoverPdf", "find_unit", "handover_rows",
           "handover_xlsx"]

HEADS = ("ลำดับ", "เลขทะเบียนรับ", "ที่", "ลงวันที่", "จาก", "เรื่อง", "ผู้รับ (ลงชื่อ)", "วันที่/เวลารับ")
WIDTHS = (14.0, 26.0, 34.0, 26.0, 40.0, 69.0, 40.0, 28.0)
ALIGN = ("C", "C", "L", "L", "L", "L", "L", "L")
SIGN_HEIGHT = 14.0  # mm: room for a signature
TOP_OF_TABLE = MARGIN + 21.0
TITLE = "ใบส่งหนังสือ"


def find_unit(settings: Settings, name: str) -> Unit:
    """A unit by its code or its Thai name; unknown: UserError naming the units there are."""
    for u in settings.units:
        if name in (u.code, u.name_th):
            return u
    known = ", ".join(f"{u.code} ({u.name_th})" for u in settings.units) or "-"
    raise UserError(f"ไม่รู้จักหน่วยงาน {name!r} (มี: {known})", f"unknown unit {name!r} (known: {known})")


@dataclass(frozen=True)
class HandoverRow:
    row: ExportRow  # the receive register's line, redacted when secret
    forwarded_at: dt.datetime

    def cells(self, n: int, *, thai_digits: bool) -> tuple[str, ...]:
        from gateway.thai import to_thai_digits

        def d(s: str) -> str:
            return to_thai_digits(s) if thai_digits else s
        r = self.row
        date = format_short_date(r.letter_date, thai_digits=thai_digits) if r.letter_date else ""
        return (d(str(n)), d(f"{r.number}/{r.year}"), r.letter_no, date, r.sender, r.subject, "", "")


async def handover_rows(store: Store, unit: str, day: dt.date, *,
                        include_secret: bool = False) -> AsyncIterator[HandoverRow]:
    """The forwards to ``unit`` made on ``day`` (Bangkok), in the order they were made, each with
    the receive register's line of its letter."""
    lo = dt.datetime.combine(day, dt.time(), BANGKOK)
    hi = lo + dt.timedelta(days=1)
    stmt = (select(Forward.forwarded_at, RegisterEntry, RegisterBook)
            .join(RegisterEntry, RegisterEntry.letter_id == Forward.letter_id)
            .join(RegisterBook, RegisterBook.id == RegisterEntry.book_id)
            .where(Forward.unit_code == unit, Forward.forwarded_at >= lo, Forward.forwarded_at < hi,
                   RegisterBook.code == "receive", RegisterEntry.status == "registered")
            .order_by(Forward.forwarded_at, Forward.id).execution_options(yield_per=500))
    async with store.readers() as s:
        result = await s.stream(stmt)
        async for at, entry, book in result:
            row = export_row(book, entry)
            yield HandoverRow(row if include_secret else redact(row), at)


class HandoverPdf(TablePdf):
    def __init__(self, *, font_path: str, thai_digits: bool, now: dt.datetime, agency: str,
                 unit: str, day: dt.date, printed: str) -> None:
        super().__init__(font_path=font_path, thai_digits=thai_digits, now=now, orientation="L",
                         widths=WIDTHS, align=ALIGN)
        self.subtitle = (f"{agency}  ส่ง {unit}  "
                         f"วันที่ {format_letter_date(day, thai_digits=thai_digits)}")
        self.printed = printed
        self.count = 0
        self.pdf.set_title(f"{TITLE} {unit}")
        self.pdf.set_author(agency)
        self._new_page()

    def _new_page(self) -> None:
        self.pdf.add_page()
        self._title(TITLE, self.subtitle)
        self._y = TOP_OF_TABLE
        self._draw_row([[t] for t in HEADS], style="B", fill=True, wrap_style="B")

    def add(self, item: HandoverRow) -> None:
        self.count += 1
        lines = self._wrapped(item.cells(self.count, thai_digits=self.thai_digits), "")
        n = max(len(c) for c in lines)
        if self._room() < n or self._y + SIGN_HEIGHT > self.bottom:
            self._new_page()
        self._draw_row(lines, min_height=SIGN_HEIGHT)

    def finish(self) -> None:
        """The sender's line under the table: how many letters, and where to sign."""
        if self._y + 2 * SIGN_HEIGHT > self.bottom:
            self._new_page()
        self._y += 2 * PAD_Y
        self._font("", 12.0)
        total = self._digits(str(self.count))
        self._text(MARGIN, self._y + 2, 120.0, f"รวม {total} ฉบับ")
        self._text(self.page_w - MARGIN - 110.0, self._y + 8, 110.0,
                   "ลงชื่อ ........................................ ผู้ส่ง")


def handover_xlsx(target: BinaryIO, items: list[HandoverRow], *, title: str, now: dt.datetime,
                  thai_digits: bool) -> None:
    """The same sheet as a spreadsheet: the columns, the blank ones included, borders for writing."""
    import xlsxwriter

    wb = xlsxwriter.Workbook(target, {"strings_to_numbers": False, "strings_to_formulas": False,
                                      "strings_to_urls": False})
    wb.set_properties({"title": title, "comments": "saraban-gateway",
                       "created": now.astimezone(dt.UTC).replace(tzinfo=None)})
    head = wb.add_format({"bold": True, "bg_color": "#EBEBEB", "border": 1, "text_wrap": True})
    cell = wb.add_format({"border": 1, "text_wrap": True, "valign": "top"})
    ws = wb.add_worksheet(TITLE)
    ws.write_string(0, 0, title)
    for col, (h, w) in enumerate(zip(HEADS, WIDTHS, strict=True)):
        ws.set_column(col, col, w / 2.2)
        ws.write_string(1, col, h, head)
    ws.freeze_panes(2, 0)
    for i, item in enumerate(items, start=1):
        ws.set_row(i + 1, 40)
        for col, text in enumerate(item.cells(i, thai_digits=thai_digits)):
            ws.write_string(i + 1, col, text, cell)
    wb.close()
