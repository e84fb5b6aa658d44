"""The e-mail subject: the fields a sender writes into it (pure).

``Fw:``/``ตอบกลับ:`` and ``[tags]`` are stripped; a leading speed or secrecy word, ``ที่ <number>``
(or a number at the start without ที่), ``ลงวันที่ <date>`` and ``เรื่อง <subject>`` are read.
"""

from __future__ import annotations

import re
from typing import Any

from gateway.core.extract.filename import parse_appendix7_filename
from gateway.core.extract.words import (
    INLINE_DATE,
    INLINE_NUMBER,
    MAX_LINE,
    WINDOW,
    Found,
    clean_value,
    find_letter_number,
    find_thai_date,
)
from gateway.letter import Field, FieldSource
from gateway.thai import normalize_text

__all__ = ["extract_from_subject"]

_REPLY_PREFIX = re.compile(
    r"^\s*(?:(?:re|fw|fwd|aw|wg|tr|rv|sv|vs|ตอบกลับ|ตอบ|ส่งต่อ)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]"
    r"|\[[^\]]{0,60}\])\s*",
    re.IGNORECASE,
)
_LEADING_CLASS = re.compile(
    r"^[\s(\[【]*(?P<word>ด่วนที่สุด|ด่วนมาก|ด่วน|ลับที่สุด|ลับมาก|ลับ)[\s)\]】!*:.,-]*(?=\s|$|ที่)"
)
# Subjects that describe the e-mail, not the letter: they must not become the letter's เรื่อง.
_ENVELOPE_SUBJECT = re.compile(
    r"^(?:(?:ขอ|นำ)?ส่ง(?:หนังสือ(?:ราชการ)?)?|หนังสือราชการ|แจ้งหนังสือ(?:ราชการ)?"
    r"|ขอออกเลข(?:รับ|ส่ง)\S*.*|ขอเลข(?:รับ|ส่ง).*|ลงรับ.*)$"
)
# What may stand before a letter's number written without ที่ at the start of a subject, as Thai
# agencies name their e-mails: "ศธ 04010/ว 2345 ขอความร่วมมือ…", "ส่งหนังสือ ศธ 04010/ว 2345",
# "หนังสือ กค 0305/ว 88 ลว. 3 ธ.ค. 2569". The number is a number there, not the subject.
_BARE_NUMBER_AFTER = re.compile(r"\s*(?:(?:ขอ|นำ)?ส่ง\s*)?(?:หนังสือ(?:ราชการ)?\s*)?")
_GENERIC_SUBJECT_PREFIX = re.compile(r"^(?:(?:ขอ|นำ)?ส่งหนังสือ(?:ราชการ)?|หนังสือราชการ)\s+")


def extract_from_subject(subject: str) -> dict[str, Field[Any]]:
    """Fields from an e-mail subject: ``Fw:``/``ตอบกลับ:`` and ``[tags]`` are stripped; a leading
    speed or secrecy word, ``ที่ <number>``, ``ลงวันที่``/``ลว. <date>`` and ``เรื่อง <subject>``
    are read; what remains is the subject unless it only describes the e-mail ("ส่งหนังสือ")."""
    found = Found(FieldSource.SUBJECT)
    s = normalize_text(subject[:MAX_LINE])
    while True:
        m = _REPLY_PREFIX.match(s) or _LEADING_CLASS.match(s)
        if m is None or not m[0]:
            break
        if m.re is _LEADING_CLASS:
            found.put_class_word(m["word"])
        s = s[m.end() :].lstrip()
    subject_part: str | None = None
    m = re.search(r"(?:^|\s)เรื่อง\s*[:：]?\s*", s)
    if m:
        subject_part = s[m.end() :]
        s = s[: m.start()]
    for m in INLINE_NUMBER.finditer(s):
        number = find_letter_number(s[m.end() : m.end() + WINDOW], at_start=True)
        if number:
            found.put("letter_no", number[0])
            s = s[: m.start()] + " " + s[m.end() + number[2] :]
            break
    if "letter_no" not in found.values:  # a number written without ที่ (see _BARE_NUMBER_AFTER)
        lead = _BARE_NUMBER_AFTER.match(s)
        number = find_letter_number(s[lead.end():], at_start=True) if lead else None
        if lead and number:
            found.put("letter_no", number[0])
            s = s[lead.end() + number[2]:]
    m = INLINE_DATE.search(s)
    if m:
        when = find_thai_date(s[m.end() : m.end() + WINDOW])
        if when and s[m.end() :].lstrip().startswith(when[1][:1]):
            found.put("letter_date", when[0])
            end = s.index(when[1], m.end()) + len(when[1])
            s = s[: m.start()] + " " + s[end:]
    if subject_part is None:
        rest = normalize_text(s).strip(" -–—:,")
        rest = _GENERIC_SUBJECT_PREFIX.sub("", rest)
        subject_part = rest
    subject_part = clean_value(subject_part)
    if (
        subject_part
        and not _ENVELOPE_SUBJECT.match(subject_part)
        and parse_appendix7_filename(subject_part) is None
    ):
        found.put("subject", subject_part)
    return found.values
