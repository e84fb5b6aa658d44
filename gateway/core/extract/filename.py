"""File names: the Appendix 7 name of a letter's PDF, and fields a free-form name gives (pure).

An Appendix 7 name (domain.md §5.3) is ``<BE year>_<Latin agency code>_<number>``; other senders
name files in Thai, with the letter number, a date or the subject in them.
"""

from __future__ import annotations

import re
from typing import Any

from gateway.core.extract.words import (
    DIGIT,
    MAX_LINE,
    THAI_CHAR,
    Found,
    clean_value,
    find_letter_number,
    find_thai_date,
)
from gateway.letter import Appendix7Name, Field, FieldSource
from gateway.thai import normalize_text, to_arabic_digits

__all__ = ["ENCLOSURE_NAME", "extract_from_filename", "parse_appendix7_filename"]

# <BE year>_<Latin agency code>_[W]<number>[_<k>].<ext> (domain.md §5.3); " (1)" is what browsers
# add to a file downloaded twice.
_APPENDIX7 = re.compile(
    r"(?P<year>2[4-6]\d\d)_(?P<code>[A-Za-z][A-Za-z0-9.\-]{0,19}?)_(?P<w>[Ww])?(?P<number>\d{1,7})"
    r"(?:_(?P<k>\d{1,3}))?(?:\s*\(\d{1,3}\))?(?:\.(?P<ext>[A-Za-z0-9]{1,5}))?"
)
ENCLOSURE_NAME = re.compile(
    r"สิ่งที่ส่งมาด้วย|สิ่งแนบ|เอกสารแนบ|ไฟล์แนบ|แนบท้าย|ภาคผนวก|บัญชีรายชื่อ|แบบตอบรับ|แบบฟอร์ม"
    r"|แบบสำรวจ|enclos|attach|annex|appendix|^att\d{3,}",
    re.IGNORECASE,
)


def parse_appendix7_filename(name: str | None) -> Appendix7Name | None:
    """Read ``2564_DGA_2487.pdf``, ``2564_DGA_W2487.pdf`` (circular), ``2564_DGA_2487_1.pdf``
    (enclosure 1); None when the name is not in that form. Any extension, or none, is accepted."""
    if not name:
        return None
    base = re.split(r"[/\\]", to_arabic_digits(normalize_text(name)))[-1].strip()
    m = _APPENDIX7.fullmatch(base)
    if m is None or int(m["number"]) == 0:
        return None
    return Appendix7Name(
        be_year=int(m["year"]),
        latin_code=m["code"].upper(),
        number=int(m["number"]),
        circular=m["w"] is not None,
        enclosure_index=int(m["k"]) if m["k"] is not None else None,
    )


def extract_from_filename(name: str | None) -> dict[str, Field[Any]]:
    """Fields a file name can give: a letter number written with ``-`` or ``_`` for ``/``
    (``หนังสือ มท 0808.2-ว4567.pdf``, ``คำสั่ง 12-2566.pdf``), a date, and a Thai subject.
    Appendix 7 names give none (their Latin code is not the Thai letter code); see
    ``parse_appendix7_filename``."""
    found = Found(FieldSource.FILENAME)
    if not name or parse_appendix7_filename(name) is not None:
        return {}
    stem = re.split(r"[/\\]", normalize_text(name[-MAX_LINE:]))[-1]
    stem = re.sub(r"\.[A-Za-z0-9]{1,5}$", "", stem).strip()
    slashed = re.sub(rf"([{DIGIT}])\s*[-_]\s*((?:ว\s*)?[{DIGIT}])", r"\1/\2", stem).replace("_", " ")
    number = find_letter_number(slashed)
    if number is not None:
        found.put("letter_no", number[0])
        slashed = slashed[: number[1]] + " " + slashed[number[2] :]
    when = find_thai_date(slashed)
    if when is not None:
        found.put("letter_date", when[0])
        slashed = slashed.replace(when[1], " ")
    rest = clean_value(re.sub(r"^(?:หนังสือ|เรื่อง|คำสั่ง|ที่)\s*", "", normalize_text(slashed)))
    if len(THAI_CHAR.findall(rest)) >= 6 and not ENCLOSURE_NAME.search(rest):
        found.put("subject", rest)
    return found.values
