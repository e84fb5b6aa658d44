"""A report asked for by mail (#22, "Reports by mail"): the subject `[รายงาน] …` read.

    [รายงาน] ทะเบียนรับ ธันวาคม 2569        the receive register of that month (PDF and XLSX)
    [รายงาน] ทะเบียนส่ง 2569                the send register of that Buddhist-era year
    [รายงาน] ทะเบียนหนังสือเวียน / คำสั่ง     the circular or order books (this month when no period)
    [รายงาน] สถิติ พฤศจิกายน 2569          the month's statistics (PDF; the last month when none)
    [รายงาน] ใบส่งหนังสือ กลุ่มอำนวยการ 3 ธ.ค. 2569   a unit's hand-over sheet (today when no date)

Thai or Arabic digits, full or abbreviated month names. Only the subject is read: a request is
a new mail, and quoting old ones changes nothing. Who may ask, and where the answer goes, is
for the intake to decide (gateway/inbound/report_mail.py); this module only reads words. The
tag itself is found by the pure core (gateway/core/parse/reporttag.py), all the reader
workers need.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from gateway.core.parse.reporttag import after_report_tag, asks_for_report
from gateway.errors import UserError
from gateway.reports.layout import Period, parse_report_date
from gateway.reports.stats import Month, parse_month
from gateway.thai import BE_OFFSET, to_arabic_digits

__all__ = ["HELP_TH", "ReportRequest", "asks_for_report", "report_request"]

_BOOKS = (  # longest first: "ทะเบียนหนังสือรับ" before "ทะเบียนรับ"
    (re.compile(r"^ทะเบียน(?:หนังสือ)?รับ"), "receive"),
    (re.compile(r"^ทะเบียน(?:หนังสือ)?ส่ง"), "send"),
    (re.compile(r"^ทะเบียน(?:หนังสือ)?เวียน"), "circular"),
    (re.compile(r"^ทะเบียน(?:หนังสือ)?คำสั่ง"), "order"),
)
_STATS = re.compile(r"^สถิติ")
_HANDOVER = re.compile(r"^ใบส่ง(?:มอบ)?หนังสือ")
_YEAR = re.compile(r"^(?:ปี\s*)?(?:พ\.?\s*ศ\.?\s*)?(\d{4})$")

HELP_TH = (
    "ใช้หัวเรื่องแบบใดแบบหนึ่ง:\n"
    "  [รายงาน] ทะเบียนรับ ธันวาคม 2569\n"
    "  [รายงาน] ทะเบียนส่ง 2569\n"
    "  [รายงาน] ทะเบียนหนังสือเวียน พฤศจิกายน 2569\n"
    "  [รายงาน] สถิติ พฤศจิกายน 2569\n"
    "  [รายงาน] ใบส่งหนังสือ <ชื่อหน่วยงาน> 3 ธ.ค. 2569"
)


@dataclass(frozen=True)
class ReportRequest:
    """What was asked: ``kind`` as gateway/reports/build.py build_report takes it
    (``register:<book>``, ``stats``, ``handover:<unit>``) and its period, or why the subject
    could not be read (``error_th``, with HELP_TH for the answer)."""

    kind: str = ""
    period: Period | Month | dt.date | None = None
    label_th: str = ""  # what was asked, for the answer's subject
    error_th: str = ""


def report_request(subject: str, today: dt.date) -> ReportRequest | None:
    """The request in a `[รายงาน] …` subject; None when the subject carries no such tag."""
    words = after_report_tag(subject)
    if words is None:
        return None
    try:
        for pattern, book in _BOOKS:
            if found := pattern.match(words):
                period, label = _register_period(words[found.end():].strip(), today)
                return ReportRequest(f"register:{book}", period, f"{found.group(0)} {label}")
        if found := _STATS.match(words):
            month = _month(words[found.end():].strip(), today) or Month(today.year, today.month).previous
            return ReportRequest("stats", month, f"สถิติ {month.label()}")
        if found := _HANDOVER.match(words):
            unit, day = _unit_and_day(words[found.end():].strip(), today)
            return ReportRequest(f"handover:{unit}", day,
                                 f"ใบส่งหนังสือ {unit} {day.day}/{day.month}/{day.year + BE_OFFSET}")
    except UserError as e:
        return ReportRequest(error_th=f"อ่านหัวเรื่อง “{words}” ไม่ได้: {e.message_th}")
    return ReportRequest(error_th=f"ไม่รู้จักรายงาน “{words or '-'}”")


def _month(text: str, today: dt.date) -> Month | None:
    """``ธันวาคม 2569``, ``ธ.ค. ๒๕๖๙``, ``2569-12`` or ``ธันวาคม`` (this year); None when empty."""
    if not text:
        return None
    parts = text.split()
    if len(parts) == 2 and to_arabic_digits(parts[1]).isdigit():
        return parse_month(parts[0], int(to_arabic_digits(parts[1])), today)
    if len(parts) == 1:
        return parse_month(parts[0], None, today)
    raise UserError(f"อ่านเดือน “{text}” ไม่ได้", f"cannot read the month {text!r}")


def _register_period(text: str, today: dt.date) -> tuple[Period, str]:
    """A whole Buddhist-era year (``2569``) or a month (this month when nothing is given)."""
    if m := _YEAR.match(to_arabic_digits(text)):
        year = int(m.group(1))
        if not 2400 <= year <= 2700:
            raise UserError(f"ปี “{text}” ไม่ใช่ปี พ.ศ.", f"{text!r} is no Buddhist-era year")
        return Period(year=year), f"ปี {year}"
    month = _month(text, today) or Month(today.year, today.month)
    last = month.next.first - dt.timedelta(days=1)
    return Period(start=month.first, end=last), month.label()


def _unit_and_day(text: str, today: dt.date) -> tuple[str, dt.date]:
    """``<unit name> <date>``: the date is the longest tail that reads as one (1 or 3 words)."""
    parts = text.split()
    for n in (3, 1):
        if len(parts) > n:
            try:
                return " ".join(parts[:-n]), parse_report_date(" ".join(parts[-n:]))
            except UserError:
                continue
    if not parts:
        raise UserError("ไม่ได้ระบุหน่วยงาน", "no unit named")
    return " ".join(parts), today
