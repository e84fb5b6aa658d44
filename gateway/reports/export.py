"""Register exports (`registers export`): the stable JSON format, CSV for spreadsheets, a table.

The JSON format is a contract other systems and auditors read; its keys and
their meaning are documented in README.md ("Register export format") and must
not change. Pure: entries in, text or bytes out.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gateway.store.registers import STATUS_TH
from gateway.thai import BANGKOK, format_short_date, format_time

if TYPE_CHECKING:
    from gateway.store.tables import RegisterBook, RegisterEntry

JSON_KEYS = (
    "book",
    "year",
    "number",
    "status",
    "registered_at",
    "letter_no",
    "letter_date",
    "sender",
    "recipient",
    "subject",
    "action",
    "remarks",
    "speed",
    "secrecy",
    "channel",
    "letter_id",
)

# Column heads of the official registers (domain.md §3), in their order, then ours.
TABLE_HEADS_TH = (
    "วันที่ลงทะเบียน",
    "เลขทะเบียน",
    "ที่",
    "ลงวันที่",
    "จาก",
    "ถึง",
    "เรื่อง",
    "การปฏิบัติ",
    "หมายเหตุ",
    "เวลา",
    "ชั้นความเร็ว",
    "ชั้นความลับ",
    "ช่องทาง",
    "สถานะ",
)



@dataclass(frozen=True)
class ExportRow:
    book: str
    year: int
    number: int
    status: str
    registered_at: dt.datetime
    letter_no: str
    letter_date: dt.date | None
    sender: str
    recipient: str
    subject: str
    action: str
    remarks: str
    speed: str
    secrecy: str
    channel: str
    letter_id: int | None
    cancel_reason: str = ""
    # A corrected line: "แก้ไข เรื่อง เมื่อ 6 ธ.ค. 2569 14:00 น. โดย …" (current values shown).
    amended: str = ""
    # A cancelled line whose letter was registered again: the new number, "13/2569".
    replaced_by: str = ""


def export_row(book: RegisterBook, e: RegisterEntry, amended: str = "", replaced_by: str = "") -> ExportRow:
    """The one definition of what a register row holds, for every export and report
    (`amended`, `replaced_by`: store.registers.amendment_marks of the entry)."""
    return ExportRow(
        book=book.code,
        year=e.year,
        number=e.number,
        status=e.status,
        registered_at=e.registered_at,
        letter_no=e.letter_no,
        letter_date=e.letter_date,
        sender=e.sender,
        recipient=e.recipient,
        subject=e.subject,
        action=e.action,
        remarks=e.remarks,
        speed=e.speed,
        secrecy=e.secrecy,
        channel=e.channel,
        letter_id=e.letter_id,
        cancel_reason=e.cancel_reason,
        amended=amended,
        replaced_by=replaced_by,
    )


def to_record(r: ExportRow) -> dict[str, Any]:
    remarks = r.remarks
    if r.amended:
        remarks = r.amended + (f" — {remarks}" if remarks else "")
    if r.status == "cancelled" and (r.cancel_reason or r.replaced_by):
        head = f"ยกเลิก: {r.cancel_reason}" if r.cancel_reason else "ยกเลิก"
        if r.replaced_by:
            head += f" → ลงทะเบียนใหม่ เลขรับ {r.replaced_by}"
        remarks = head + (f" — {remarks}" if remarks else "")
    return {
        "book": r.book,
        "year": r.year,
        "number": r.number,
        "status": r.status,
        "registered_at": r.registered_at.astimezone(BANGKOK).isoformat(timespec="seconds"),
        "letter_no": r.letter_no,
        "letter_date": r.letter_date.isoformat() if r.letter_date else None,
        "sender": r.sender,
        "recipient": r.recipient,
        "subject": r.subject,
        "action": r.action,
        "remarks": remarks,
        "speed": r.speed,
        "secrecy": r.secrecy,
        "channel": r.channel,
        "letter_id": r.letter_id,
    }


def to_json(rows: Iterable[ExportRow]) -> str:
    """The rows as an indented JSON list (README.md, "Register export format")."""
    items = json_items(rows)
    return "[" + items + json_end(bool(items))


def json_items(rows: Iterable[ExportRow], *, first: bool = True) -> str:
    """The rows' part of ``to_json``, so a long register is written a chunk at a time: ``"["``,
    the chunks (``first``: none written before this one), then ``json_end``. The text is what
    ``json.dumps`` of the whole list with ``indent=2`` gives."""
    parts = []
    for r in rows:
        item = json.dumps(to_record(r), ensure_ascii=False, indent=2).replace("\n", "\n  ")
        parts.append(("\n  " if first else ",\n  ") + item)
        first = False
    return "".join(parts)


def json_end(any_rows: bool) -> str:
    return "\n]\n" if any_rows else "]\n"


def _table_cells(r: ExportRow) -> list[str]:
    rec = to_record(r)
    local = r.registered_at.astimezone(BANGKOK)
    return [
        format_short_date(local.date()),
        str(r.number),
        r.letter_no,
        format_short_date(r.letter_date) if r.letter_date else "",
        r.sender,
        r.recipient,
        r.subject,
        r.action,
        rec["remarks"],
        format_time(local),
        r.speed,
        r.secrecy,
        r.channel,
        STATUS_TH.get(r.status, r.status),
    ]


# A cell a spreadsheet would read as a formula (OWASP "CSV injection"): a sender controls the
# subject and the letter number, and an auditor opens the export in Excel or LibreOffice.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell: str) -> str:
    """The cell as text a spreadsheet shows and never evaluates: a leading ' when it starts like
    a formula (the apostrophe is the spreadsheets' own "this is text" mark)."""
    return "'" + cell if cell.startswith(FORMULA_START) else cell


def to_csv(rows: Iterable[ExportRow]) -> bytes:
    """UTF-8 with BOM and CRLF, so Excel opens Thai text correctly by double-click."""
    return csv_head() + csv_rows(rows)


def csv_head() -> bytes:
    """The start of ``to_csv``: the BOM and the headings (a long register is written as this,
    then ``csv_rows`` a chunk at a time)."""
    return ("\ufeff" + _csv_lines([TABLE_HEADS_TH])).encode("utf-8")


def csv_rows(rows: Iterable[ExportRow]) -> bytes:
    return _csv_lines([spreadsheet_safe(c) for c in _table_cells(r)] for r in rows).encode("utf-8")


def _csv_lines(lines: Iterable[Sequence[str]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(lines)
    return buf.getvalue()


def display_width(s: str) -> int:
    """Terminal columns: Thai vowels and tone marks above/below take no column."""
    return sum(0 if unicodedata.combining(ch) or unicodedata.category(ch) == "Mn" else 1 for ch in s)


def _fit(s: str, width: int) -> str:
    out, w = "", 0
    for ch in s:
        cw = 0 if unicodedata.category(ch) == "Mn" else 1
        if w + cw > width:
            return out[:-1] + "…" if out else "…"
        out += ch
        w += cw
    return out + " " * (width - w)


_SHORT_HEADS = (*TABLE_HEADS_TH[:9], TABLE_HEADS_TH[13])  # the table on a terminal


def _short_cells(r: ExportRow) -> list[str]:
    c = _table_cells(r)
    return c[:9] + [c[13]]


def to_table(rows: Sequence[ExportRow], *, max_col: int = 40) -> str:
    widths = table_widths(rows, max_col=max_col)
    return table_head(widths) + table_rows(rows, widths)


def table_widths(rows: Iterable[ExportRow], widths: Sequence[int] | None = None, *,
                 max_col: int = 40) -> list[int]:
    """The columns' widths of ``to_table``; a long register's are taken a chunk at a time, each
    chunk given the widths of those before it."""
    out = list(widths) if widths is not None else [min(max_col, display_width(h)) for h in _SHORT_HEADS]
    for r in rows:
        for i, v in enumerate(_short_cells(r)):
            out[i] = max(out[i], min(max_col, display_width(v)))
    return out


def _table_line(cells: Sequence[str], widths: Sequence[int]) -> str:
    return " | ".join(_fit(v.replace("\n", " "), widths[i]) for i, v in enumerate(cells)).rstrip() + "\n"


def table_head(widths: Sequence[int]) -> str:
    return _table_line(_SHORT_HEADS, widths) + "-+-".join("-" * w for w in widths) + "\n"


def table_rows(rows: Iterable[ExportRow], widths: Sequence[int]) -> str:
    return "".join(_table_line(_short_cells(r), widths) for r in rows)
