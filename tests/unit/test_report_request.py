"""A clerk's `[รายงาน] …` subject read (#22, reports by mail): a table of what clerks type."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.reports.layout import Period
from gateway.reports.request import asks_for_report, report_request
from gateway.reports.stats import Month

TODAY = dt.date(2026, 12, 6)  # 6 ธันวาคม 2569
DEC, NOV = (dt.date(2026, 12, 1), dt.date(2026, 12, 31)), (dt.date(2026, 11, 1), dt.date(2026, 11, 30))

# (subject, kind, period)
READ = [
    ("[รายงาน] ทะเบียนรับ ธันวาคม 2569", "register:receive", Period(start=DEC[0], end=DEC[1])),
    ("[รายงาน] ทะเบียนหนังสือรับ ธ.ค. ๒๕๖๙", "register:receive", Period(start=DEC[0], end=DEC[1])),
    ("[รายงาน]ทะเบียนรับ พฤศจิกายน 2569", "register:receive", Period(start=NOV[0], end=NOV[1])),
    ("[ รายงาน ] ทะเบียนรับ", "register:receive", Period(start=DEC[0], end=DEC[1])),  # this month
    ("[รายงาน] ทะเบียนส่ง 2569", "register:send", Period(year=2569)),
    ("[รายงาน] ทะเบียนส่ง ปี พ.ศ. ๒๕๖๘", "register:send", Period(year=2568)),
    ("[รายงาน] ทะเบียนหนังสือเวียน พฤศจิกายน 2569", "register:circular", Period(start=NOV[0], end=NOV[1])),
    ("[รายงาน] ทะเบียนคำสั่ง 2569-11", "register:order", Period(start=NOV[0], end=NOV[1])),
    ("[รายงาน] สถิติ พฤศจิกายน 2569", "stats", Month(2026, 11)),
    ("[รายงาน] สถิติ", "stats", Month(2026, 11)),  # the last whole month
    ("Fwd: [รายงาน] สถิติ ต.ค. 2569", "stats", Month(2026, 10)),
    ("[รายงาน] ใบส่งหนังสือ กลุ่มอำนวยการ 3 ธ.ค. 2569", "handover:กลุ่มอำนวยการ", dt.date(2026, 12, 3)),
    ("[รายงาน] ใบส่งหนังสือ กลุ่ม บริหาร งานบุคคล 1/12/2569", "handover:กลุ่ม บริหาร งานบุคคล",
     dt.date(2026, 12, 1)),
    ("[รายงาน] ใบส่งหนังสือ กลุ่มอำนวยการ", "handover:กลุ่มอำนวยการ", TODAY),
]

# (subject, a word of the Thai reason)
REFUSED = [
    ("[รายงาน] ทะเบียนรับ ธันวา 2569", "เดือน"),
    ("[รายงาน] ทะเบียนส่ง 1999", "พ.ศ."),
    ("[รายงาน] สถิติ เดือนที่แล้ว", "เดือน"),
    ("[รายงาน] ยอดเงิน", "ไม่รู้จักรายงาน"),
    ("[รายงาน]", "ไม่รู้จักรายงาน"),
    ("[รายงาน] ใบส่งหนังสือ", "หน่วยงาน"),
]


@pytest.mark.parametrize(("subject", "kind", "period"), READ, ids=[r[0] for r in READ])
def test_a_request_is_read(subject: str, kind: str, period: object) -> None:
    assert asks_for_report(subject)
    req = report_request(subject, TODAY)
    assert req is not None and not req.error_th, req
    assert (req.kind, req.period) == (kind, period)
    assert req.label_th


@pytest.mark.parametrize(("subject", "word"), REFUSED, ids=[r[0] for r in REFUSED])
def test_an_unreadable_request_says_why(subject: str, word: str) -> None:
    req = report_request(subject, TODAY)
    assert req is not None and req.kind == "" and word in req.error_th, req


@pytest.mark.parametrize("subject", ["รายงานการประชุม ธันวาคม 2569", "ขอรายงาน ทะเบียนรับ", "",
                                     "[รับ 12/2569] ทะเบียนรับ"])
def test_no_tag_no_request(subject: str) -> None:
    assert not asks_for_report(subject) and report_request(subject, TODAY) is None
