"""A clerk's corrections of a letter's fields, read from what the clerk typed (pure).

The same words come from a reply to the review copy (`ที่: กค 0305/ว 88`, `ลงวันที่: 3 ธ.ค. 2569`)
and from the command line (`letter edit --date "3 ธ.ค. 2569"`): `read_edit` reads one field's
text into the value the store keeps (Arabic digits, a Gregorian date, the speed word), and
`edits_from_texts` reads a set of them into `Edits`. What cannot be read is an `EditError`
that names the field, the text as typed, and the forms accepted, in Thai.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields

from gateway.letter import Speed
from gateway.thai import BE_OFFSET, clean_text, normalize_text, parse_thai_date, to_arabic_digits

# The Thai label a clerk writes → the field it sets.
FIELD_LABELS: dict[str, str] = {
    "ที่": "letter_no",
    "เลขที่": "letter_no",
    "ลงวันที่": "letter_date",
    "วันที่": "letter_date",
    "จาก": "sender",
    "ถึง": "recipient",
    "เรียน": "recipient",
    "เรื่อง": "subject",
    "ชั้นความเร็ว": "speed",
    "ความเร็ว": "speed",
}

# Each field's name as the register prints it.
FIELD_TH: dict[str, str] = {
    "letter_no": "ที่",
    "letter_date": "ลงวันที่",
    "sender": "จาก",
    "recipient": "ถึง",
    "subject": "เรื่อง",
    "speed": "ชั้นความเร็ว",
}

# What `read_edit` accepts, said to the clerk when a text cannot be read.
FORMS_TH: dict[str, str] = {
    "letter_no": "เช่น กค 0305/ว 88 หรือ ศธ ๐๔๑๘๓/๑๒",
    "letter_date": "เช่น 3 ธ.ค. 2569, 3 ธันวาคม 2569, 3/12/2569 หรือ 2569-12-03 (ปี พ.ศ.)",
    "sender": "ชื่อส่วนราชการผู้ส่ง",
    "recipient": "ผู้รับ เช่น ผู้อำนวยการ…",
    "subject": "ชื่อเรื่องของหนังสือ",
    "speed": "ด่วนที่สุด, ด่วนมาก, ด่วน หรือ ปกติ",
}

SPEED_WORDS: dict[str, str] = {
    s.value: s.value for s in (Speed.MOST_URGENT, Speed.VERY_URGENT, Speed.URGENT, Speed.NORMAL)
}

# How far a letter's date may be from today: a year typed wrong (2596 for 2569, a Christian-era
# year) lands far outside, a real letter's date does not.
YEARS_BACK, YEARS_AHEAD = 10, 1
MAX_LENGTH = {"letter_no": 200}  # the register's column
TEXT_MAX = 2000

_ISO = re.compile(r"(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})")


@dataclass(frozen=True)
class Edits:
    """The fields a clerk gave (None: keep what was read) and `ไม่มีเลขที่` (no_number)."""

    letter_no: str | None = None
    letter_date: dt.date | None = None
    sender: str | None = None
    recipient: str | None = None
    subject: str | None = None
    speed: str | None = None  # the stored speed word (gateway.letter.Speed value)
    no_number: bool = False

    def given(self) -> dict[str, object]:
        """The fields set, by name (no_number is a flag, not a field: never in here)."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name != "no_number" and getattr(self, f.name) is not None}


class EditError(ValueError):
    """A field's text that cannot be read: `field` (its name), `text` (as typed) and
    `message_th` (what could not be read and the forms accepted)."""

    def __init__(self, field: str, text: str, message_th: str) -> None:
        super().__init__(f"{field}: cannot read {text!r}")
        self.field, self.text, self.message_th = field, text, message_th

    def __reduce__(self) -> tuple[type, tuple[str, str, str]]:
        return type(self), (self.field, self.text, self.message_th)


def field_name(label: str) -> str | None:
    """The field a label names: a Thai label (ที่, ลงวันที่ …) or a field name itself."""
    key = normalize_text(label).rstrip(":").strip()
    if key in FIELD_TH:
        return key
    return FIELD_LABELS.get(key)


def _cannot(field: str, text: str, why: str = "") -> EditError:
    label = FIELD_TH.get(field, field)
    shown = (text if len(text) <= 60 else text[:60] + "…") if text else "(ว่าง)"
    why = f" ({why})" if why else ""
    return EditError(field, text, f"อ่าน{label}ไม่ได้: “{shown}”{why} ใช้รูปแบบ {FORMS_TH.get(field, '')}".rstrip())


def _date(text: str, today: dt.date) -> dt.date:
    plain = to_arabic_digits(text)
    day = parse_thai_date(plain)
    if day is None and (m := _ISO.fullmatch(plain)):
        year = int(m["year"])
        year = year - BE_OFFSET if year >= 2400 else year  # 2569-12-03 is BE; 2026-12-03 is not
        try:
            day = dt.date(year, int(m["month"]), int(m["day"]))
        except ValueError:
            day = None
    if day is None:
        raise _cannot("letter_date", text)
    if not today.year - YEARS_BACK <= day.year <= today.year + YEARS_AHEAD:
        raise _cannot("letter_date", text, f"ปี พ.ศ. {day.year + BE_OFFSET} ห่างจากปีนี้มากเกินไป")
    return day


def read_edit(field: str, text: str, *, today: dt.date) -> object:
    """One field's text as the store keeps it; `EditError` when it cannot be read."""
    name = field_name(field)
    if name is None:
        raise EditError(field, text, f"ไม่รู้จักช่อง “{field}” ใช้ได้: {', '.join(FIELD_LABELS)}")
    cleaned = normalize_text(clean_text(text))
    if not cleaned:
        raise _cannot(name, text, "ว่าง")
    if name == "letter_date":
        return _date(cleaned, today)
    if name == "speed":
        word = SPEED_WORDS.get(cleaned.replace(" ", ""))
        if word is None:
            raise _cannot(name, text)
        return word
    if name == "letter_no":
        cleaned = to_arabic_digits(cleaned)  # stored and compared in Arabic digits (§7)
    if len(cleaned) > MAX_LENGTH.get(name, TEXT_MAX):
        raise _cannot(name, text, "ยาวเกินไป")
    return cleaned


def edits_from_texts(texts: Mapping[str, str], *, today: dt.date, no_number: bool = False) -> Edits:
    """Every field's text read into `Edits` (keys: field names or Thai labels); the first
    text that cannot be read raises its `EditError`."""
    values: dict[str, object] = {}
    for label, text in texts.items():
        name = field_name(label)
        if name is None:
            raise EditError(label, text, f"ไม่รู้จักช่อง “{label}” ใช้ได้: {', '.join(FIELD_LABELS)}")
        values[name] = read_edit(name, text, today=today)
    return Edits(no_number=no_number, **values)  # type: ignore[arg-type]
