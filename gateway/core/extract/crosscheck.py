"""Each field against its other sources: a damaged PDF reading mended, a disagreement shown
(pure).

A PDF's text layer can be damaged (issue #19): control characters for า, Private Use Area forms,
``2`` for the second glyph of ำ, a mark with no base. When another source (the XML, a labelled
body line, the mail subject, the file name) gives a clean version of *the same text* (equal once
the junk is taken out, or nearly equal), ``merge`` takes the clean one and records its source.

When a labelled body line (``เลขที่หนังสือ:``, ``วันที่หนังสือ:``, ``ชื่อเรื่อง:``) and the PDF
both claim the same field and disagree materially, the letter goes to review with a Thai reason
showing both readings. The free mail subject never does: senders word it their own way
("ส่งหนังสือ…").
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from typing import Any

from gateway.core.thaifix import JUNK, junk
from gateway.letter import Field, FieldSource, LetterFields, Problem
from gateway.thai import format_letter_date, letter_numbers_equal, to_arabic_digits

__all__ = ["CHECKED_FIELDS", "conflict_problems", "damaged", "same_text", "similar_text"]

CHECKED_FIELDS = ("letter_no", "letter_date", "subject")
"""The fields a labelled body line and the PDF are held to agree on."""

_SIMILAR = 0.85  # share of characters two readings of the same text have in common
_MAX_COMPARED = 400


def damaged(text: str) -> bool:
    """The text holds junk a PDF reader leaves: a C0/C1 control, U+FFFD, a Private Use Area
    code point, a digit or Latin letter inside a Thai word, a combining mark with no base."""
    return junk(unicodedata.normalize("NFC", text))


def _key(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    text = JUNK.sub("", text)
    return re.sub(r"\s+", "", to_arabic_digits(text)).casefold()[:_MAX_COMPARED]


def same_text(a: str, b: str) -> bool:
    """Equal once junk, spaces and digit forms are set aside."""
    return _key(a) == _key(b)


def similar_text(a: str, b: str) -> bool:
    """The same text read twice, one reading damaged: equal without the junk, or differing in
    at most 15 % of the characters (a lost า, a doubled mark)."""
    ka, kb = _key(a), _key(b)
    if ka == kb:
        return bool(ka)
    longest = max(len(ka), len(kb))
    if min(len(ka), len(kb)) < 4:
        return False
    limit = int(longest * (1 - _SIMILAR))
    return _distance(ka, kb, limit) <= limit


def _distance(a: str, b: str, limit: int) -> int:
    """Levenshtein distance, giving up (limit + 1) once it is over ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        if min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


def agrees(name: str, a: Any, b: Any) -> bool:
    """Two readings of one field say the same (numbers by their parts, text loosely)."""
    if isinstance(a, date) or isinstance(b, date):
        return bool(a == b)
    if name == "letter_no" and letter_numbers_equal(str(a), str(b)):
        return True
    return similar_text(str(a), str(b))


# ------------------------------------------------------------------------------------------
# What the clerk reads
# ------------------------------------------------------------------------------------------

_FIELD_TH = {"letter_no": "เลขที่หนังสือ", "letter_date": "วันที่ของหนังสือ", "subject": "เรื่อง",
             "sender": "ส่วนราชการเจ้าของหนังสือ"}
_WHERE_TH = {FieldSource.XML: "ในไฟล์ XML", FieldSource.PDF: "ในไฟล์ PDF",
             FieldSource.SUBJECT: "ในหัวเรื่องอีเมล", FieldSource.BODY: "ในอีเมล",
             FieldSource.FILENAME: "ในชื่อไฟล์"}


def _shown(value: Any) -> str:
    return format_letter_date(value) if isinstance(value, date) else str(value)


def conflict_problems(fields: LetterFields) -> tuple[Problem, ...]:
    """A review Problem for each field two sources claim and disagree on (``merge`` found
    them): ``เรื่องในไฟล์ PDF (…) ไม่ตรงกับในอีเมล (…)``."""
    out: list[Problem] = []
    for name, first, other in fields.conflicts:
        what = _FIELD_TH.get(name, name)
        out.append(Problem(
            f"{name}_mismatch_{other.source}",
            f"{what}{_WHERE_TH.get(first.source, '')} ({_shown(first.value)}) ไม่ตรงกับ"
            f"{_WHERE_TH.get(other.source, '')} ({_shown(other.value)})",
            f"the {name} read from the {first.source} differs from the {other.source}'s",
        ))
    return tuple(out)


def conflict(name: str, pdf: Field[Any], claimed: Field[Any]) -> bool:
    """The PDF and a labelled line both claim ``name`` and disagree materially."""
    return name in CHECKED_FIELDS and not agrees(name, pdf.value, claimed.value)
