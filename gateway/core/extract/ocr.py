"""A scan's OCR reading as a source of fields, and only what is plausible of it (pure, #20).

tesseract's Thai reads a letter header's words well but drops tone marks off labels (``ที``,
``เรือง``), adds junk lines from seals and signatures, and **misreads Thai digits
systematically** (measured: dates 0 of 90 right, numbers 10–13 %) with confidences that cannot
tell a wrong digit from a right one. So, deliberately:

- Thai digits in the OCR text are taken as unknown (``?``): a date or a ที่ printed in Thai
  digits is never read from a scan; one printed in Arabic digits (read reliably) is, if it passes
  the checks below. A number or date another source gives needs nothing from OCR.
- a date must parse and its Buddhist-era year be within ``YEARS_BACK``/``YEARS_AHEAD`` of today;
- a ที่ must be a letter number with an agency code (Thai letters, then digits: ``ศธ 04299/20``);
- a subject, sender or addressee must be mostly Thai letters (no seal or signature junk);
  the subject is cross-checked with the mail subject and file name by the merge: the e-mail's
  typed subject outranks the OCR reading, which then stays an alternative when it differs.

Every value keeps ``FieldSource.OCR``; the merge ranks OCR below every other source, so it only
fills what nothing else gave, and gateway/core/classify.py sends a letter with a required field
from OCR to review: a pre-fill for the clerk, never a registration.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from typing import Any

from gateway.core.extract.letterhead import extract_from_text
from gateway.letter import Field, FieldSource, LetterFields
from gateway.thai import BE_OFFSET, clean_text

__all__ = ["YEARS_AHEAD", "YEARS_BACK", "extract_from_ocr", "ocr_ready_text"]

YEARS_BACK = 3
YEARS_AHEAD = 1
_THAI_DIGITS = "๐๑๒๓๔๕๖๗๘๙"
_UNKNOWN_DIGITS = str.maketrans(dict.fromkeys(_THAI_DIGITS, "?"))
# Labels as tesseract reads them at a line's start (tone marks and the upper vowel dropped).
_LABEL_REPAIRS = (
    (re.compile(r"^(\s*)ท[ีิ]่?(?=\s)"), r"\1ที่"),
    (re.compile(r"^(\s*)ท(?=\s+[ก-ฮ]{1,4}\.?\s?[\d?])"), r"\1ที่"),
    (re.compile(r"^(\s*)เร[ือี]่?อง(?=\s|[:：])"), r"\1เรื่อง"),
    (re.compile(r"^(\s*)เร[ีิ]ยน(?=\s)"), r"\1เรียน"),
)
_AGENCY_NUMBER = re.compile(r"^[ก-ฮ]{1,4}\.?\s?[ก-ฮ]?\.?\s?\d[\d.]*\s*/\s*[ก-ฮว.]{0,3}\s?\d+")
_THAI_LETTER = re.compile(r"[\u0e01-\u0e4e]")
_TEXT_FIELDS = ("subject", "sender", "recipient", "salutation")
_KEPT = ("letter_no", "letter_date", "subject", "sender", "recipient", "salutation", "speed",
         "secrecy", "kind")


def _line_is_text(line: str) -> bool:
    """A line of words, not a seal's or a signature's specks (``a ๐ ๑4 A a``)."""
    chars = [c for c in line if not c.isspace()]
    if not chars:
        return False
    words = line.split()
    short = sum(1 for w in words if len(w) <= 2)
    return short * 2 <= len(words) or len(chars) >= 12 and short * 3 <= len(words) * 2


def ocr_ready_text(text: str) -> str:
    """The OCR text as the letter-header reader wants it: clean, junk lines and blank lines
    gone, labels mended, Thai digits unknown."""
    lines: list[str] = []
    for line in clean_text(text, multiline=True).splitlines():
        if not _line_is_text(line):
            continue
        line = line.strip().translate(_UNKNOWN_DIGITS)
        for pattern, repl in _LABEL_REPAIRS:
            line = pattern.sub(repl, line)
        lines.append(line)
    return "\n".join(lines)


def _thai_share(s: str) -> float:
    chars = [c for c in s if not c.isspace()]
    return sum(1 for c in chars if _THAI_LETTER.match(c)) / len(chars) if chars else 0.0


def _plausible(name: str, value: Any, today: date | None) -> bool:
    if name == "letter_date":
        if not isinstance(value, date) or today is None:
            return False
        return -YEARS_BACK <= value.year - today.year <= YEARS_AHEAD
    if name == "letter_no":
        text = str(value)
        return "?" not in text and _AGENCY_NUMBER.match(text) is not None
    if name in _TEXT_FIELDS:
        text = str(value)
        return "?" not in text and len(text.strip()) >= 6 and _thai_share(text) >= 0.8
    return True


def extract_from_ocr(text: str | None, today: date | None) -> dict[str, Field[Any]]:
    """The plausible fields of a scan's OCR reading, each marked ``FieldSource.OCR``.

    `today` is the reading's date (injected clock; without it no date is kept). Buddhist-era
    years are read by the header reader as for a text layer (``BE_OFFSET`` = 543)."""
    if not text or not text.strip():
        return {}
    read = extract_from_text(ocr_ready_text(text), FieldSource.OCR)
    assert BE_OFFSET == 543  # the year window above is in Christian years of the parsed date
    return {name: f for name, f in read.items()
            if name in _KEPT and _plausible(name, f.value, today)}


def ocr_needed(fields: LetterFields) -> str:
    """Why a scan's page 1 is worth OCR given what the other sources read: the required
    fields no other source gave ("" when there are none).

    OCR is the costliest step of reading (0.2–0.6 s of a core per scan, seconds on a noisy
    one) and only pre-fills a review, so it runs only when it can pre-fill something. A scan
    whose mail, file name or XML gave every required field is decided on those, as before OCR
    existed; a secrecy mark stamped only on its paper is not looked for (see the #19 note)."""
    missing = fields.missing_required()
    return "missing " + ", ".join(missing) if missing else ""


def _code_key(text: str) -> str:
    return "".join(text.split()).replace(".", "")


def ocr_number_in_directory(letter_no: str, codes: Iterable[str]) -> bool:
    """An OCR'd ที่ cross-checked against the directory (#20): its agency code (the part before
    `/`) begins with the code of an agency the directory knows (`ศธ 04010` for `ศธ 04010.12/ว 45`).
    True when the directory holds no codes: then there is nothing to check against."""
    known = [k for k in (_code_key(c) for c in codes) if k]
    if not known:
        return True
    head = _code_key(letter_no.split("/", 1)[0])
    return any(head.startswith(k) for k in known)
