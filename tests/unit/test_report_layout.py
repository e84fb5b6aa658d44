"""The pieces of the printed register (#22) on their own: dates a clerk types, the period,
what a secret row shows, Thai line breaking, and the text each shaped glyph carries."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.errors import UserError
from gateway.reports.export import ExportRow
from gateway.reports.layout import Period, official_cells, official_heads, parse_report_date, redact
from gateway.reports.sheet import date_format, sheet_name
from gateway.reports.thaifont import _glyph_texts
from gateway.reports.wrap import graphemes, words, wrap
from gateway.trust.secrecy import SECRET_TH

DEC1 = dt.date(2026, 12, 1)


@pytest.mark.parametrize("text", ["2569-12-01", "1/12/2569", "1 ธ.ค. 2569", "๑ ธ.ค. ๒๕๖๙",
                                  "1 ธันวาคม 2569", " 01/12/2569 "])
def test_a_date_in_every_form_a_clerk_types(text: str) -> None:
    assert parse_report_date(text) == DEC1


@pytest.mark.parametrize("text", ["2026-12-01", "31 ก.พ. 2569", "2569-13-01", "พรุ่งนี้", ""])
def test_a_date_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(UserError):
        parse_report_date(text)


def test_the_period_defaults_to_this_year_and_covers_bangkok_days() -> None:
    assert Period.of(year=None, start=None, end=None, today=DEC1) == Period(year=2569)
    p = Period.of(year=None, start="1/12/2569", end="2/12/2569", today=DEC1)
    lo, hi = p.bounds()
    assert lo == dt.datetime(2026, 11, 30, 17, 0, tzinfo=dt.UTC)  # 00:00 on 1 Dec in Bangkok
    assert hi == dt.datetime(2026, 12, 2, 17, 0, tzinfo=dt.UTC)  # the last day included
    assert p.label(thai_digits=True) == "ตั้งแต่วันที่ ๑ ธันวาคม ๒๕๖๙ ถึงวันที่ ๒ ธันวาคม ๒๕๖๙"
    assert Period(year=2569).label(thai_digits=False) == "ปี พ.ศ. 2569"


def _row(**kw: object) -> ExportRow:
    base: dict[str, object] = dict(
        book="receive", year=2569, number=7, status="registered",
        registered_at=dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC), letter_no="กท 0001/12",
        letter_date=DEC1, sender="กรมลับ", recipient="ผู้อำนวยการ", subject="เรื่องลับ",
        action="ส่งกลุ่ม", remarks="หมายเหตุ", speed="ด่วน", secrecy="ปกติ", channel="smtp",
        letter_id=3)
    return ExportRow(**{**base, **kw})  # type: ignore[arg-type]


def test_a_secret_row_shows_its_number_only() -> None:
    assert redact(_row()) == _row()
    hidden = redact(_row(secrecy="ลับมาก"))
    assert official_cells(hidden, thai_digits=True) == (
        "๗", "", "๑ ธ.ค. ๒๕๖๙", "", "", SECRET_TH, "", "")


def test_cells_follow_the_form_of_the_book() -> None:
    assert official_heads("receive")[0] == "เลขทะเบียนรับ"
    assert official_heads("send")[0] == "เลขทะเบียนส่ง"
    assert official_cells(_row(status="cancelled", cancel_reason="ซ้ำ"), thai_digits=False)[7] \
        == "ยกเลิก: ซ้ำ — หมายเหตุ"


def test_lines_break_between_words_never_before_a_mark() -> None:
    text = "ขอความร่วมมือรายงานผลการดำเนินงานตามแผนปฏิบัติราชการ"
    lines = wrap(text, 8, len)
    assert "".join(lines) == text and all(len(line) <= 8 for line in lines)
    assert {"ขอความร่วมมือ", "รายงาน", "ผลการดำเนินงาน"} <= set(words(text))
    for line in lines:
        assert line[0] not in "ำัิีึืุู่้๊๋็์"


def test_latin_runs_and_brackets_stay_whole() -> None:
    assert "04183/ว1234" in words("ที่ ศธ 04183/ว1234 (ด่วนที่สุด) ฯลฯ ไปๆ")
    assert "(ด่วน" in words("(ด่วนที่สุด)") and all(not w.startswith("ๆ") for w in words("ไปๆมาๆ"))


def test_a_word_wider_than_the_line_is_cut_between_graphemes() -> None:
    assert graphemes("น้ำท่วม") == ["น้ำ", "ท่", "ว", "ม"]
    assert wrap("น้ำน้ำน้ำ", 2, lambda s: len(graphemes(s))) == ["น้ำน้ำ", "น้ำ"]


def test_sara_am_reads_back_from_the_glyph_that_advances() -> None:
    # น้ำ shaped: น, ํ (no advance), ้ (no advance), า — น carries น้, า carries ำ, marks none
    text = "น้ำ"
    assert _glyph_texts(text, [0, 1, 1, 1], [600, 0, 0, 400]) == ["น้", "", "", "ำ"]
    # กิ่ง: the marks join their consonant, whose glyph carries them
    assert _glyph_texts("กิ่ง", [0, 1, 2, 3], [600, 0, 0, 550]) == ["กิ่", "", "", "ง"]


def test_sheet_names_and_date_formats() -> None:
    long = sheet_name("ทะเบียนหนังสือส่ง (หนังสือเวียน ว) / พิเศษ", set())
    assert len(long) <= 31 and "/" not in long
    assert sheet_name("ทะเบียนหนังสือรับ", {"ทะเบียนหนังสือรับ"}) == "ทะเบียนหนังสือรับ (2)"
    assert date_format(False) == "[$-107041E]d mmm yyyy"
