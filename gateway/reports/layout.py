"""What a printed register says: its period, its columns, and each row's cells.

Shared by every form of a register report (PDF, XLSX, CSV) and meant for the other reports of
issue 22 (hand-over sheet, statistics, reports by mail): the period a clerk asks for
(``parse_report_date``, ``Period``), the regulation's columns of each book (``official_heads``,
domain.md §3: ทะเบียนหนังสือรับ and ทะเบียนหนังสือส่ง), the cells of one row as printed
(``official_cells``), and what a secret letter shows (``redact``). Pure: data in, data out.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from dataclasses import dataclass

from gateway.errors import UserError
from gateway.reports.export import ExportRow, to_record
from gateway.thai import (
    BANGKOK,
    BE_OFFSET,
    format_letter_date,
    format_short_date,
    parse_thai_date,
    to_arabic_digits,
    to_thai_digits,
)
from gateway.trust.secrecy import SECRET_TH, is_secret

__all__ = [
    "Period",
    "official_cells",
    "official_heads",
    "parse_report_date",
    "redact",
    "register_day",
]

_ISO_BE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")


def parse_report_date(text: str) -> dt.date:
    """A date as a clerk types it: ``2569-12-01``, ``1/12/2569`` or ``1 ธ.ค. 2569`` (Buddhist era,
    Thai or Arabic digits)."""
    s = to_arabic_digits(text.strip())
    if m := _ISO_BE.fullmatch(s):
        year, month, day = (int(g) for g in m.groups())
        try:
            if year >= 2400:
                return dt.date(year - BE_OFFSET, month, day)
        except ValueError:
            pass
    elif (d := parse_thai_date(s)) is not None:
        return d
    raise UserError(
        f"อ่านวันที่ {text!r} ไม่ได้ ใช้รูปแบบ 2569-12-01, 1/12/2569 หรือ 1 ธ.ค. 2569 (ปี พ.ศ.)",
        f"cannot read the date {text!r}: use 2569-12-01, 1/12/2569 or 1 ธ.ค. 2569 (Buddhist era)",
    )


@dataclass(frozen=True)
class Period:
    """The rows of a report: a Buddhist-era register year, a span of registration days, or both."""

    year: int | None = None
    start: dt.date | None = None  # first day, Bangkok calendar
    end: dt.date | None = None  # last day, included

    @classmethod
    def of(cls, *, year: int | None, start: str | None, end: str | None, today: dt.date) -> Period:
        first = parse_report_date(start) if start else None
        last = parse_report_date(end) if end else None
        if first and last and first > last:
            raise UserError("วันที่เริ่มต้องไม่หลังวันที่สิ้นสุด", "--from is after --to")
        if year is None and first is None and last is None:
            year = today.year + BE_OFFSET  # this year's register, as `registers export`
        return cls(year=year, start=first, end=last)

    def bounds(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        """The registration instants the period covers, [from, until), in Bangkok time."""
        lo = dt.datetime.combine(self.start, dt.time(), BANGKOK) if self.start else None
        hi = (dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time(), BANGKOK)
              if self.end else None)
        return lo, hi

    def label(self, *, thai_digits: bool) -> str:
        """``ปี พ.ศ. ๒๕๖๙``, ``ตั้งแต่วันที่ ๑ ธันวาคม ๒๕๖๙ ถึงวันที่ ๓๑ ธันวาคม ๒๕๖๙`` …"""
        parts = []
        if self.year is not None:
            year = str(self.year)
            parts.append(f"ปี พ.ศ. {to_thai_digits(year) if thai_digits else year}")
        if self.start:
            parts.append(f"ตั้งแต่วันที่ {format_letter_date(self.start, thai_digits=thai_digits)}")
        if self.end:
            parts.append(f"ถึงวันที่ {format_letter_date(self.end, thai_digits=thai_digits)}")
        return " ".join(parts)


# The regulation's register forms (domain.md §3): the number column is named by the book's kind.
_NUMBER_HEAD = {"receive": "เลขทะเบียนรับ", "send": "เลขทะเบียนส่ง"}
_HEADS = ("ที่", "ลงวันที่", "จาก", "ถึง", "เรื่อง", "การปฏิบัติ", "หมายเหตุ")


def official_heads(kind: str) -> tuple[str, ...]:
    """The eight columns of ทะเบียนหนังสือรับ (kind receive) or ทะเบียนหนังสือส่ง (send)."""
    return (_NUMBER_HEAD.get(kind, "เลขทะเบียน"), *_HEADS)


def _digits(text: str, thai: bool) -> str:
    return to_thai_digits(text) if thai else text


def remarks_of(row: ExportRow) -> str:
    """หมายเหตุ as printed: a cancelled number says why, a reserved one says so."""
    remarks: str = to_record(row)["remarks"]
    if row.status == "reserved":
        return "สำรองเลข" + (f" — {remarks}" if remarks else "")
    return remarks


def official_cells(row: ExportRow, *, thai_digits: bool) -> tuple[str, ...]:
    """The row's eight cells in the order of ``official_heads``. What the gateway writes (the
    number, dates) follows the digit setting; what was registered (ที่, names) is as stored."""
    return (
        _digits(str(row.number), thai_digits),
        row.letter_no,
        format_short_date(row.letter_date, thai_digits=thai_digits) if row.letter_date else "",
        row.sender,
        row.recipient,
        row.subject,
        row.action,
        remarks_of(row),
    )


def register_day(row: ExportRow) -> dt.date:
    """The Bangkok calendar day the row was registered on (the form's วันที่ line)."""
    return row.registered_at.astimezone(BANGKOK).date()


def redact(row: ExportRow) -> ExportRow:
    """A secret letter (ลับ and above) as a report shows it: its number, dates and marks only;
    ที่, the parties, the subject, what was done and the remarks are hidden."""
    if not is_secret(row.secrecy):
        return row
    return dataclasses.replace(
        row, letter_no="", sender="", recipient="", subject=SECRET_TH, action="", remarks="",
        cancel_reason="",
    )
