"""A register as a spreadsheet (XLSX): one sheet per book, written row by row in flat memory.

XlsxWriter in constant_memory mode writes each row to disk as it comes, so a year's register
costs no more memory than a day's. Each sheet: Thai headings (the form's columns, then the
time, speed, secrecy, channel and status), set column widths, the heading row frozen, filters
on; dates are real dates (numbers a spreadsheet can sort and compute with) shown in the
Buddhist era with Thai month names, and text is always text (a subject starting with ``=``
is never a formula).

The date format is the LCID form ``[$-xxyyzzzz]`` Excel and LibreOffice both read: xx the
digits (01 Arabic, 0D Thai), yy the calendar (07 Thai Buddhist), zzzz the language (041E Thai).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import BinaryIO

import xlsxwriter
from xlsxwriter.worksheet import Worksheet

from gateway.reports.export import ExportRow
from gateway.reports.layout import official_heads, remarks_of
from gateway.store.registers import STATUS_TH
from gateway.thai import BANGKOK

__all__ = ["DATE_FORMAT", "HEADS_AFTER", "RegisterWorkbook", "date_format", "sheet_name"]

DATE_FORMAT = "[$-{digits}07041E]d mmm yyyy"
TIME_FORMAT = 'hh:mm "น."'
HEAD_DATE = "วันที่ลงทะเบียน"
HEADS_AFTER = ("เวลา", "ชั้นความเร็ว", "ชั้นความลับ", "ช่องทาง", "สถานะ")
# Widths in characters: วันที่ลงทะเบียน, เลขทะเบียน, the seven columns of the form, then ours.
WIDTHS = (15, 11, 22, 15, 32, 32, 50, 26, 24, 9, 11, 11, 9, 10)


def date_format(thai_digits: bool) -> str:
    """``[$-D07041E]d mmm yyyy`` (Thai digits) or ``[$-107041E]d mmm yyyy``."""
    return DATE_FORMAT.format(digits="D" if thai_digits else "1")


def sheet_name(title: str, taken: set[str]) -> str:
    """A sheet name Excel accepts (31 characters, none of []:*?/\\), unique in the workbook."""
    name = re.sub(r"[\[\]:*?/\\]", " ", title).strip()[:31].strip() or "ทะเบียน"
    base, n = name, 2
    while name in taken:
        suffix = f" ({n})"
        name, n = base[: 31 - len(suffix)] + suffix, n + 1
    return name


class RegisterWorkbook:
    def __init__(self, target: str | BinaryIO, *, thai_digits: bool, now: dt.datetime) -> None:
        """``now``: the workbook's creation date (the caller's clock, never the host's)."""
        self.wb = xlsxwriter.Workbook(target, {
            "constant_memory": True,
            "strings_to_numbers": False, "strings_to_formulas": False, "strings_to_urls": False,
        })
        self.wb.set_properties({"title": "ทะเบียนหนังสือ", "comments": "saraban-gateway",
                                "created": now.astimezone(dt.UTC).replace(tzinfo=None)})
        self._head = self.wb.add_format({"bold": True, "text_wrap": True, "valign": "top",
                                         "bg_color": "#EBEBEB", "border": 1})
        self._text = self.wb.add_format({"text_wrap": True, "valign": "top"})
        self._date = self.wb.add_format({"num_format": date_format(thai_digits), "valign": "top",
                                         "align": "left"})
        self._time = self.wb.add_format({"num_format": TIME_FORMAT, "valign": "top",
                                         "align": "left"})
        self._number = self.wb.add_format({"valign": "top", "align": "center"})
        self._sheet: Worksheet | None = None
        self._row = 0
        self._names: set[str] = set()

    def start_book(self, title: str, kind: str) -> None:
        """A new sheet for a book (receive or send columns), headings in its first row."""
        self._finish_sheet()
        name = sheet_name(title, self._names)
        self._names.add(name)
        ws = self.wb.add_worksheet(name)
        for col, width in enumerate(WIDTHS):
            ws.set_column(col, col, width)
        ws.freeze_panes(1, 0)
        for col, head in enumerate((HEAD_DATE, *official_heads(kind), *HEADS_AFTER)):
            ws.write_string(0, col, head, self._head)
        self._sheet, self._row = ws, 0

    def add(self, row: ExportRow) -> None:
        ws = self._sheet
        assert ws is not None, "start_book first"
        self._row += 1
        r = self._row
        local = row.registered_at.astimezone(BANGKOK)
        ws.write_datetime(r, 0, dt.datetime.combine(local.date(), dt.time()), self._date)
        ws.write_number(r, 1, row.number, self._number)
        ws.write_string(r, 2, row.letter_no, self._text)
        if row.letter_date:
            ws.write_datetime(r, 3, dt.datetime.combine(row.letter_date, dt.time()), self._date)
        texts = (row.sender, row.recipient, row.subject, row.action, remarks_of(row))
        for col, text in enumerate(texts, start=4):
            ws.write_string(r, col, text, self._text)
        ws.write_datetime(r, 9, local.time().replace(tzinfo=None, microsecond=0), self._time)
        for col, text in enumerate((row.speed, row.secrecy, row.channel,
                                    STATUS_TH.get(row.status, row.status)), start=10):
            ws.write_string(r, col, text, self._text)

    def _finish_sheet(self) -> None:
        if self._sheet is not None:
            self._sheet.autofilter(0, 0, self._row, len(WIDTHS) - 1)

    def close(self) -> None:
        self._finish_sheet()
        self.wb.close()
