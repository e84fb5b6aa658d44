"""Merging the sources: one LetterFields, the most trusted value winning per field (pure).

The order of trust is domain.md §5.5: XML > PDF > subject > body > file name, with the From
header as the last resort for the sender. Each value keeps its source; the values that disagree
with the chosen one are kept as alternatives.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from gateway.core.extract.crosscheck import conflict, damaged, similar_text
from gateway.core.extract.filename import extract_from_filename, parse_appendix7_filename
from gateway.core.extract.labels import extract_labelled
from gateway.core.extract.layout import without_print_margins
from gateway.core.extract.letterhead import extract_from_text
from gateway.core.extract.ocr import extract_from_ocr
from gateway.core.extract.subject import extract_from_subject
from gateway.core.extract.xmlfields import from_xml
from gateway.letter import Field, FieldSource, LetterFields, ParsedMessage, Speed
from gateway.thai import clean_text, letter_numbers_equal, normalize_for_match, normalize_text

__all__ = ["FIELD_NAMES", "extract_fields"]

FIELD_NAMES: tuple[str, ...] = (
    "letter_no",
    "letter_date",
    "sender",
    "recipient",
    "subject",
    "salutation",
    "speed",
    "speed_within",
    "secrecy",
    "reference",
    "enclosures",
    "kind",
)
"""The LetterFields attributes that hold a Field, and the keys of ``extract_from_*`` results."""

# The order of trust, as ranks: a labelled body line (``เลขที่หนังสือ: …``) claims its field and
# stands above the free mail subject; the rest of the body (prose) below it.
# A scan's OCR reading (#20) is last: it fills only what nothing else gave.
_XML, _PDF, _LABELLED, _SUBJECT, _BODY, _FILENAME, _EMAIL, _OCR = range(8)


def _same(name: str, a: Any, b: Any) -> bool:
    if name == "letter_no":
        return letter_numbers_equal(str(a), str(b))
    if isinstance(a, str) and isinstance(b, str):
        return re.sub(r"\s+", "", normalize_for_match(a)) == re.sub(
            r"\s+", "", normalize_for_match(b)
        )
    return bool(a == b)


def extract_fields(
    xml_fields: Mapping[str, Any] | None,
    pdf_page1_text: str | None,
    msg: ParsedMessage,
    main_filename: str | None,
    *,
    ocr_text: str | None = None,
    today: date | None = None,
) -> LetterFields:
    """Merge every source into one LetterFields, the most trusted value winning per field.

    Trust order (domain.md §5.5): XML, page 1 of the PDF, the e-mail subject (the outer one, then
    those of forwarded messages), the body (likewise), the main file's name; the sender falls back
    to the From display name or address (``FieldSource.EMAIL``; a forwarded message's original
    From before the forwarder's). Two deliberate exceptions: **secrecy takes the highest class any
    source shows** (a secret letter misread as normal would be forwarded in clear; the reverse
    only costs a review), and **recipient** falls back to the เรียน addressee. Lower-trust values
    that disagree with the chosen one are kept in ``alternatives``.

    Cross-checks (``crosscheck``): labelled body lines (``เลขที่หนังสือ: …``, ``ชื่อเรื่อง: …``)
    rank above the free mail subject; a damaged PDF reading gives way to another source's clean
    reading of the same text; a PDF reading that a labelled line contradicts is kept, and the
    pair goes to ``conflicts`` (review). A letter that shows no speed is ปกติ
    (``FieldSource.DEFAULT``), so that the register never leaves the column blank.

    ``ocr_text`` is the OCR reading of a scan's page 1 (gateway/pdf/ocr.py), the last source,
    its plausible fields only (extract/ocr.py; `today` bounds a date's year).

    ``xml_fields`` keys are matched loosely (``letter_no``/``ID``, ``letter_date``/
    ``CorrespondenceDate``, ``subject``, ``sender``, ``recipient``/``receiver``, ``speed``/
    ``speed_code``, ``secrecy``/``secret_code``, ``salutation``, ``reference``, ``enclosures``/
    ``attachment``); dates may be ``date`` or ISO text, speed and secrecy the enums, their Thai
    words or the e-GIF codes 001–004.

    Every text value is stored and printed, so none keeps a control character, an escape
    sequence or a bidi override (``thai.clean_text``); a value that is nothing else is no value.
    """
    layers: list[tuple[int, dict[str, Field[Any]]]] = []
    if xml_fields:
        layers.append((_XML, from_xml(xml_fields)))
    if pdf_page1_text:
        pdf_page1_text = without_print_margins(clean_text(pdf_page1_text, multiline=True))
    if pdf_page1_text and pdf_page1_text.strip():
        layers.append((_PDF, extract_from_text(pdf_page1_text, FieldSource.PDF)))
    messages = [msg, *msg.forwarded]
    layers.extend((_LABELLED, extract_labelled(m.body_text)) for m in messages)
    layers.extend((_SUBJECT, extract_from_subject(m.subject)) for m in messages)
    layers.extend((_BODY, extract_from_text(m.body_text, FieldSource.BODY)) for m in messages)
    layers.append((_FILENAME, extract_from_filename(main_filename)))
    email_sender = _email_sender([*msg.forwarded, msg])
    if email_sender is not None:
        layers.append((_EMAIL, {"sender": email_sender}))
    if ocr_text:
        layers.append((_OCR, extract_from_ocr(ocr_text, today)))

    chosen: dict[str, Field[Any]] = {}
    alternatives: list[tuple[str, Field[Any]]] = []
    conflicts: list[tuple[str, Field[Any], Field[Any]]] = []
    for name in FIELD_NAMES:
        ranked = sorted(  # stable within a rank
            ((rank, c, _is_damaged(layer[name].value)) for rank, layer in layers if name in layer
             if (c := _cleaned(layer[name])) is not None),
            key=lambda r: r[0],
        )
        candidates = [c for _, c, _ in ranked]
        if not candidates:
            continue
        if name == "secrecy":
            best = max(candidates, key=lambda f: f.value.rank)
        else:
            best = candidates[0]
        pdf = next((c for rank, c, _ in ranked if rank == _PDF), None)
        if best is pdf and ranked[0][2]:
            # The PDF's reading is damaged: another source's clean reading of the same text
            # is the letter's (its source recorded); the PDF's stays an alternative.
            best = next((c for rank, c, bad in ranked[1:] if not bad
                         and similar_text(str(pdf.value), str(c.value))), pdf)
        claimed = next((c for rank, c, _ in ranked if rank == _LABELLED), None)
        if pdf is not None and claimed is not None and conflict(name, pdf, claimed):
            conflicts.append((name, pdf, claimed))
        chosen[name] = best
        for other in candidates:
            duplicate = any(
                n == name and f.source == other.source and _same(name, other.value, f.value)
                for n, f in alternatives
            )
            if other is not best and not duplicate and not _same(name, best.value, other.value):
                alternatives.append((name, other))
    if "recipient" not in chosen and "salutation" in chosen:
        chosen["recipient"] = chosen["salutation"]
    if "speed" not in chosen:  # the register never says nothing: ปกติ, said to be the default
        chosen["speed"] = Field(Speed.NORMAL, FieldSource.DEFAULT)
    return LetterFields(
        **chosen,
        file_name_ref=parse_appendix7_filename(main_filename),
        alternatives=tuple(alternatives),
        conflicts=tuple(conflicts),
    )


def _is_damaged(value: Any) -> bool:
    return type(value) is str and damaged(value)


def _cleaned(f: Field[Any]) -> Field[Any] | None:
    """`f` with its text cleaned (enums, dates untouched); None when no text is left."""
    if type(f.value) is not str:
        return f
    text = clean_text(f.value)
    return Field(text, f.source) if text.strip() else None


def _email_sender(messages: Sequence[ParsedMessage]) -> Field[str] | None:
    for m in messages:
        name = normalize_text(m.from_name or "")
        if name and "@" not in name:
            return Field(name, FieldSource.EMAIL)
        if m.from_addr:
            return Field(m.from_addr, FieldSource.EMAIL)
    return None
