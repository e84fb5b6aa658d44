"""The fields of a CorrespondenceLetter XML, as ``gateway.xmlletter`` read them (pure).

Keys are matched loosely (``letter_no``/``ID``, ``letter_date``/``CorrespondenceDate``, …); dates
may be ``date`` or ISO text, speed and secrecy the enums, their Thai words or the e-GIF codes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

from gateway.core.extract.words import SECRECY_WORDS, SPEED_WORDS, Found
from gateway.letter import Field, FieldSource, Secrecy, Speed
from gateway.thai import normalize_text, parse_thai_date

__all__ = ["from_xml"]

# The usual reading of the e-GIF code lists (xml.md); only 001 is certain.
_SPEED_CODES = {
    "001": Speed.NORMAL,
    "002": Speed.URGENT,
    "003": Speed.VERY_URGENT,
    "004": Speed.MOST_URGENT,
}
_SECRECY_CODES = {
    "001": Secrecy.NORMAL,
    "002": Secrecy.CONFIDENTIAL,
    "003": Secrecy.SECRET,
    "004": Secrecy.TOP_SECRET,
}

_XML_ALIASES: dict[str, str] = {
    "letterno": "letter_no",
    "letternumber": "letter_no",
    "id": "letter_no",
    "letterdate": "letter_date",
    "correspondencedate": "letter_date",
    "date": "letter_date",
    "subject": "subject",
    "sender": "sender",
    "sendername": "sender",
    "senderdepartment": "sender",
    "recipient": "recipient",
    "receiver": "recipient",
    "receivername": "recipient",
    "receiverdepartment": "recipient",
    "salutation": "salutation",
    "speed": "speed",
    "speedcode": "speed",
    "secrecy": "secrecy",
    "secret": "secrecy",
    "secretcode": "secrecy",
    "secrecycode": "secrecy",
    "reference": "reference",
    "references": "reference",
    "enclosures": "enclosures",
    "attachment": "enclosures",
}


def from_xml(xml_fields: Mapping[str, Any]) -> dict[str, Field[Any]]:
    found = Found(FieldSource.XML)
    for key, value in xml_fields.items():
        name = _XML_ALIASES.get(re.sub(r"[_\s-]", "", str(key)).lower())
        if name is None or value is None:
            continue
        if name == "letter_date":
            if isinstance(value, datetime):
                value = value.date()
            elif isinstance(value, str):
                text = value.strip()
                try:
                    value = date.fromisoformat(text[:10])
                except ValueError:
                    value = parse_thai_date(text)
            if isinstance(value, date):
                found.put(name, value)
        elif name == "speed":
            speed = _coerce(value, Speed, SPEED_WORDS, _SPEED_CODES)
            found.put(name, speed)
        elif name == "secrecy":
            found.put(name, _coerce(value, Secrecy, SECRECY_WORDS, _SECRECY_CODES))
        elif isinstance(value, str):
            text = normalize_text(value)
            if name == "enclosures" and text in ("-", "—", "ไม่มี"):
                continue
            found.put(name, text)
    return found.values


def _coerce(
    value: Any, enum: Callable[[str], Any], words: Mapping[str, Any], codes: Mapping[str, Any]
) -> Any:
    if isinstance(value, (Speed, Secrecy)):
        return value
    text = normalize_text(str(value))
    if text in words:
        return words[text]
    if text in codes:
        return codes[text]
    try:
        return enum(text)
    except ValueError:
        return None  # an unknown code: xmlletter reports it; here it is no value

