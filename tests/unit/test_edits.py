"""gateway/core/edits.py: a clerk's words for a field read into what the register keeps; one
case a row, good forms and bad forms."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.core.edits import FIELD_LABELS, EditError, Edits, edits_from_texts, read_edit

TODAY = dt.date(2026, 12, 6)  # 6 ธ.ค. 2569
DEC3 = dt.date(2026, 12, 3)

# (field or label, text as typed, value kept)
GOOD = [
    ("letter_date", "3 ธ.ค. 2569", DEC3),
    ("letter_date", "๓ ธ.ค. ๒๕๖๙", DEC3),
    ("letter_date", "3 ธันวาคม 2569", DEC3),
    ("letter_date", "3 ธันวาคม พ.ศ. 2569", DEC3),
    ("letter_date", "3/12/2569", DEC3),
    ("letter_date", "๓/๑๒/๒๕๖๙", DEC3),
    ("letter_date", "2569-12-03", DEC3),
    ("letter_date", "2026-12-03", DEC3),  # an ISO date in the Christian era: its year says so
    ("letter_date", "  3  ธ.ค.  69 ", DEC3),
    ("letter_date", "ลงวันที่ 3 ธ.ค. 2569", DEC3),
    ("ลงวันที่", "3 ธ.ค. 2569", DEC3),
    ("วันที่", "3 ธ.ค. 2569", DEC3),
    ("letter_date", "1 ม.ค. 2570", dt.date(2027, 1, 1)),  # next year: a letter dated ahead
    ("letter_date", "15 มี.ค. 2560", dt.date(2017, 3, 15)),  # an old letter, still near
    ("letter_no", "กค 0305/ว 88", "กค 0305/ว 88"),
    ("letter_no", "ศธ ๐๔๑๘๓/๑๒", "ศธ 04183/12"),  # kept in Arabic digits (§7)
    ("ที่", "  กค  0305/ว\u200b 88 ", "กค 0305/ว 88"),
    ("เลขที่", "ศธ 04010/1234", "ศธ 04010/1234"),
    ("sender", "กรมบัญชีกลาง", "กรมบัญชีกลาง"),
    ("จาก", "กรม\x1b[31mบัญชีกลาง", "กรมบัญชีกลาง"),  # a terminal escape is never kept
    ("recipient", "ผู้อำนวยการ\nสำนักงาน", "ผู้อำนวยการ สำนักงาน"),
    ("เรียน", "ผู้อำนวยการ", "ผู้อำนวยการ"),
    ("ถึง", "ผู้อำนวยการ", "ผู้อำนวยการ"),
    ("subject", "ขอเชิญประชุม\t\tคณะกรรมการ", "ขอเชิญประชุม คณะกรรมการ"),
    ("เรื่อง", "ขอความอนุเคราะห\u0e4d\u0e32", "ขอความอนุเคราะหำ"),  # ํ + า becomes ำ (NFC and the fix)
    ("speed", "ด่วนที่สุด", "ด่วนที่สุด"),
    ("speed", "ด่วนมาก", "ด่วนมาก"),
    ("speed", " ด่วน ", "ด่วน"),
    ("speed", "ปกติ", "ปกติ"),
    ("ชั้นความเร็ว", "ด่วน ที่สุด", "ด่วนที่สุด"),
    ("ความเร็ว", "ด่วนมาก", "ด่วนมาก"),
]

# (field, text as typed, what the Thai message must name)
BAD = [
    ("letter_date", "3 ธค", "3 ธค"),  # no year
    ("letter_date", "31 ก.พ. 2569", "31 ก.พ. 2569"),  # no such day
    ("letter_date", "3/12/2026", "3/12/2026"),  # a Christian-era year in the Thai order
    ("letter_date", "3 ธ.ค. 2596", "ห่างจากปีนี้มากเกินไป"),  # digits swapped: far ahead
    ("letter_date", "3 ธ.ค. 2469", "ห่างจากปีนี้มากเกินไป"),  # a century back
    ("letter_date", "2569-13-03", "2569-13-03"),
    ("letter_date", "พรุ่งนี้", "พรุ่งนี้"),
    ("letter_date", "", "(ว่าง)"),
    ("letter_date", " \u200b ", "ว่าง"),
    ("letter_no", "   ", "ว่าง"),
    ("subject", "\x1b[2J", "ว่าง"),  # only an escape: nothing left
    ("sender", "", "ว่าง"),
    ("speed", "ด่วนภายใน", "ด่วนภายใน"),
    ("speed", "urgent", "urgent"),
    ("speed", "ลับ", "ลับ"),
    ("letter_no", "ก" * 201, "ยาวเกินไป"),
    ("หมายเหตุ", "อะไรก็ได้", "หมายเหตุ"),  # not a field a clerk corrects
]


@pytest.mark.parametrize(("field", "text", "value"), GOOD, ids=[f"{f}={t!r}" for f, t, _ in GOOD])
def test_good_forms_are_read(field: str, text: str, value: object) -> None:
    assert read_edit(field, text, today=TODAY) == value


@pytest.mark.parametrize(("field", "text", "named"), BAD, ids=[f"{f}={t[:20]!r}" for f, t, _ in BAD])
def test_bad_forms_are_refused_naming_the_text(field: str, text: str, named: str) -> None:
    with pytest.raises(EditError) as exc:
        read_edit(field, text, today=TODAY)
    assert named in exc.value.message_th
    assert exc.value.text == text


def test_a_date_error_says_the_forms_accepted() -> None:
    with pytest.raises(EditError) as exc:
        read_edit("ลงวันที่", "3 ธค", today=TODAY)
    assert exc.value.field == "letter_date"
    assert exc.value.message_th.startswith("อ่านลงวันที่ไม่ได้: “3 ธค”")
    assert "3 ธ.ค. 2569" in exc.value.message_th and "3/12/2569" in exc.value.message_th


def test_every_label_names_a_field() -> None:
    assert set(FIELD_LABELS.values()) == {f for f in Edits.__dataclass_fields__ if f != "no_number"}


def test_edits_from_texts_reads_all_and_given_lists_only_what_was_set() -> None:
    edits = edits_from_texts({"ที่": "กค ๐๓๐๕/ว ๘๘", "letter_date": "3/12/2569", "เรื่อง": "ทดสอบ"},
                             today=TODAY, no_number=False)
    assert edits == Edits(letter_no="กค 0305/ว 88", letter_date=DEC3, subject="ทดสอบ")
    assert edits.given() == {"letter_no": "กค 0305/ว 88", "letter_date": DEC3, "subject": "ทดสอบ"}
    assert Edits(no_number=True).given() == {}


def test_edits_from_texts_raises_the_first_bad_text() -> None:
    with pytest.raises(EditError) as exc:
        edits_from_texts({"subject": "ทดสอบ", "letter_date": "3 ธค", "speed": "เร็ว"}, today=TODAY)
    assert (exc.value.field, exc.value.text) == ("letter_date", "3 ธค")
