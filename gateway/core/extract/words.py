"""The words a Thai letter's fields are written in, and finding them in text (pure).

Letter and order numbers, Thai dates (full, short and dd/mm/BE), the speed and secrecy words
stamped on a letter, and ``Found``, the fields one source gave. Text comes from pdftotext,
e-mail subjects, bodies and file names, so Thai digits, runs of spaces and dotted or undotted
month abbreviations are all read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from typing import Any

from gateway.letter import Field, FieldSource, Secrecy, Speed
from gateway.thai import (
    MONTHS_ABBR,
    MONTHS_FULL,
    normalize_text,
    parse_letter_number,
    parse_thai_date,
)

__all__ = [
    "DIGIT",
    "INLINE_DATE",
    "INLINE_NUMBER",
    "MAX_LINE",
    "SECRECY_WORDS",
    "SPEED_WORDS",
    "THAI_CHAR",
    "WINDOW",
    "Found",
    "class_token",
    "clean_value",
    "find_letter_number",
    "find_thai_date",
]

DIGIT = "0-9๐-๙"  # a digit, Arabic or Thai
WINDOW = 80  # a letter number or a date after its label fits in this many characters
MAX_LINE = 3000  # characters of one line read
THAI_CHAR = re.compile(r"[\u0e01-\u0e4e]")

# ------------------------------------------------------------------------------------------
# Numbers and dates
# ------------------------------------------------------------------------------------------


def _month_pattern(name: str) -> str:
    # "มิ.ย." matches มิ.ย., มิย, มิ. ย. and มิ.ย (dots optional, spaces after dots allowed).
    pieces = [re.escape(p) for p in name.split(".") if p]
    return r"\.?\s*".join(pieces) + (r"\.?" if name.endswith(".") else "")


_MONTHS = "|".join(
    sorted(
        {_month_pattern(m) for m in (*MONTHS_FULL, *MONTHS_ABBR, "กรกฏาคม")},
        key=len,
        reverse=True,
    )
)
_DATE_SPAN = re.compile(
    rf"(?<![{DIGIT}])[{DIGIT}]{{1,2}}\s*(?:เดือน\s*)?(?:{_MONTHS})\s*(?:พ\s*\.?\s*ศ\s*\.?\s*)?"
    rf"(?:[{DIGIT}]{{4}}|[{DIGIT}]{{2}})(?![{DIGIT}])"
)
_NUMERIC_DATE_SPAN = re.compile(rf"(?<![{DIGIT}/])[{DIGIT}]{{1,2}}/[{DIGIT}]{{1,2}}/[{DIGIT}]{{4}}(?![{DIGIT}/])")
# Agency letters + unit number / [ว] number, or an order's N/พ.ศ. (thai.parse_letter_number checks).
_LETTER_NO_SPAN = re.compile(
    rf"(?<![\u0e01-\u0e4e])[ก-ฮ]{{1,6}}\.?\s*[{DIGIT}]+(?:\s*\.\s*[{DIGIT}]+)*\s*/\s*(?:ว\s*\.?\s*)?[{DIGIT}]+"
    rf"|(?<![{DIGIT}])[{DIGIT}]{{1,5}}\s*/\s*(?:พ\s*\.?\s*ศ\s*\.?\s*)?[{DIGIT}]{{4}}(?![{DIGIT}])"
)


def find_thai_date(text: str) -> tuple[date, str] | None:
    """The first Thai date in ``text`` (letter, short or dd/mm/BE style) and the span it read."""
    for pattern in (_DATE_SPAN, _NUMERIC_DATE_SPAN):
        for m in pattern.finditer(text):
            found = parse_thai_date(m[0])
            if found is not None:
                return found, m[0]
    return None


def find_letter_number(text: str, *, at_start: bool = False) -> tuple[str, int, int] | None:
    """The first letter or order number in ``text``: (as printed, start, end); checked with
    ``thai.parse_letter_number``. With ``at_start`` it must begin the text."""
    if at_start:
        # Anchored: callers probe many positions of long text, so never scan ahead here.
        m = _LETTER_NO_SPAN.match(text, len(text) - len(text.lstrip()))
        matches: Iterable[re.Match[str]] = (m,) if m else ()
    else:
        matches = _LETTER_NO_SPAN.finditer(text)
    for m in matches:
        span = re.sub(r"\s+", " ", m[0]).strip()
        if parse_letter_number(span) is not None:
            return span, m.start(), m.end()
    return None


# "ที่ <number>" and "ลงวันที่ <date>" inside a sentence or a subject line.
INLINE_NUMBER = re.compile(r"(?:^|\s|หนังสือ)(?:ที่|เลขที่)\s*[:：]?\s*(?=[ก-ฮ0-9๐-๙])")
INLINE_DATE = re.compile(r"(?:ลงวันที่|ลว\.)\s*[:：]?\s*")


# ------------------------------------------------------------------------------------------
# Speed and secrecy words
# ------------------------------------------------------------------------------------------

SPEED_WORDS: dict[str, Speed] = {
    "ด่วนที่สุด": Speed.MOST_URGENT,
    "ด่วนมาก": Speed.VERY_URGENT,
    "ด่วน": Speed.URGENT,
    "ปกติ": Speed.NORMAL,
}
SECRECY_WORDS: dict[str, Secrecy] = {
    "ลับที่สุด": Secrecy.TOP_SECRET,
    "ลับมาก": Secrecy.SECRET,
    "ลับ": Secrecy.CONFIDENTIAL,
    # ปกปิด is the pre-2544 name of the lowest class; still stamped on old forms.
    "ปกปิด": Secrecy.CONFIDENTIAL,
    "ปกติ": Secrecy.NORMAL,
}
_STAMP_PUNCT = " \t!()[]{}*:-–—\"'“”"


def class_token(segment: str) -> str | None:
    """The speed/secrecy word a segment consists of (stamps print them alone: ``ด่วนที่สุด``)."""
    token = segment.strip(_STAMP_PUNCT)
    token = re.sub(r"\s+", "", token) if len(token) <= 14 else token
    if token in SPEED_WORDS or token in SECRECY_WORDS:
        return token
    return None


# ------------------------------------------------------------------------------------------
# What one source gave
# ------------------------------------------------------------------------------------------


def clean_value(value: str) -> str:
    return normalize_text(value).strip(" :：-–—")


class Found:
    """Fields found in one source, the first value for each name winning."""

    def __init__(self, source: FieldSource) -> None:
        self.source = source
        self.values: dict[str, Field[Any]] = {}

    def put(self, name: str, value: Any) -> None:
        if value is None or value == "" or name in self.values:
            return
        self.values[name] = Field(value, self.source)

    def put_class_word(self, word: str, rest: str = "") -> None:
        if word == "ด่วนภายใน":
            self.put("speed", Speed.WITHIN)
            if rest.strip():
                self.put("speed_within", clean_value(rest))
        elif word in ("ลับที่สุด", "ลับมาก", "ลับ", "ปกปิด"):
            self.put("secrecy", SECRECY_WORDS[word])
        elif word in SPEED_WORDS:
            self.put("speed", SPEED_WORDS[word])
