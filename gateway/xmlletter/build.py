"""Build CorrespondenceLetter XML to send (docs/xml.md): bytes out, always in the correct form.

Written through lxml's incremental serializer, never by string concatenation (``&`` and ``<``
occur in Thai subjects); every child is emitted, empty when there is no value; namespaces and
prefixes are the correct ones (never the misspelt ram URI); UTF-8 with an XML declaration.
Embedded files are base64-encoded and written in slices, so building a letter does not hold the
whole base64 text of a large PDF at once. Check the result with ``validate.validate_xml`` before
sending.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

from lxml import etree

from .model import RAM_NS, RSM_NS, Dialect, OutgoingFile, OutgoingXmlLetter, Party
from .walk import BUDDHIST_ERA_FROM

__all__ = ["XmlBuildError", "XmlWriter", "build_letter_xml", "format_date", "write_document"]

XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
WRAPPER = "CorrespondenceLetterOutboundRequest"

# XML 1.0 Char production: anything else (most C0 controls, lone surrogates, U+FFFE/FFFF) cannot
# be written at all.
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_B64_SLICE = 3 * 64 * 1024  # a multiple of 3: slices encode without padding in the middle


class XmlBuildError(ValueError):
    """The value cannot be written as this XML (a character XML cannot carry, a date the reader
    would misread). A programming or data error, not a delivery failure."""


def _check_text(value: str, where: str) -> str:
    bad = _NOT_XML_CHAR.search(value)
    if bad:
        name = where.rpartition("}")[2]
        raise XmlBuildError(f"{name}: character U+{ord(bad.group()):04X} cannot appear in XML")
    return value


def _check_year(value: date, where: str) -> None:
    if value.year >= BUDDHIST_ERA_FROM:
        raise XmlBuildError(
            f"{where}: year {value.year} would be read back as a Buddhist-era year; "
            "pass the Gregorian date"
        )


def format_date(value: date | None, where: str) -> str:
    """yyyy-MM-dd, Gregorian; ``""`` for None."""
    if value is None:
        return ""
    _check_year(value, where)
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"


def format_datetime(value: datetime | None, where: str) -> str:
    """yyyy-MM-ddTHH:mm:ss (the offset too when aware); ``""`` for None."""
    if value is None:
        return ""
    _check_year(value, where)
    return value.replace(microsecond=0).isoformat()


class XmlWriter:
    """Thin helper over ``etree.xmlfile`` that indents and names fields in errors."""

    def __init__(self, xf: Any) -> None:
        self._xf = xf
        self._depth = 0

    def _newline(self) -> None:
        self._xf.write("\n" + "  " * self._depth)

    @contextmanager
    def group(
        self,
        tag: str,
        attrib: dict[str, str] | None = None,
        nsmap: dict[str | None, str] | None = None,
    ) -> Iterator[None]:
        if self._depth:
            self._newline()
        with self._xf.element(tag, attrib or {}, nsmap=nsmap):
            self._depth += 1
            yield
            self._depth -= 1
            self._newline()

    def leaf(self, tag: str, value: str, attrib: dict[str, str] | None = None) -> None:
        self._newline()
        with self._xf.element(tag, attrib or {}):
            if value:
                self._xf.write(_check_text(value, tag))

    def binary(self, tag: str, file: OutgoingFile) -> None:
        self._newline()
        mime_code = _check_text(file.mime_code, f"{tag}/@mimeCode")
        with self._xf.element(tag, {"mimeCode": mime_code}):
            view = memoryview(file.data)
            for start in range(0, len(view), _B64_SLICE):
                self._xf.write(base64.b64encode(view[start : start + _B64_SLICE]).decode("ascii"))


def write_document(body: Any) -> bytes:
    """Run ``body(writer)`` inside the wrapper element and return the UTF-8 document."""
    out = io.BytesIO()
    out.write(XML_DECLARATION)
    with etree.xmlfile(out, encoding="utf-8") as xf:
        writer = XmlWriter(xf)
        with writer.group(WRAPPER):
            body(writer)
    out.write(b"\n")
    return out.getvalue()


def _ram(name: str) -> str:
    return f"{{{RAM_NS}}}{name}"


def _ecms_party(w: XmlWriter, tag: str, party: Party) -> None:
    with w.group(_ram(tag)):
        w.leaf(_ram("GivenName"), party.given_name)
        w.leaf(_ram("FamilyName"), party.family_name)
        w.leaf(_ram("JobTitle"), party.job_title)
        with w.group(_ram("MinistryOrganization")):
            w.leaf(_ram("ID"), party.ministry_id)
        with w.group(_ram("DepartmentOrganization")):
            w.leaf(_ram("ID"), party.department_id)


def _ecms_body(letter: OutgoingXmlLetter) -> Any:
    def body(w: XmlWriter) -> None:
        nsmap: dict[str | None, str] = {"rsm": RSM_NS, "ram": RAM_NS}
        # ID="Letter" is what an enveloped signature's Reference URI="#Letter" points at.
        with (
            w.group(f"{{{RSM_NS}}}GovernmentDocument", nsmap=nsmap),
            w.group(_ram("CorrespondenceLetter"), {"ID": "Letter"}),
        ):
            w.leaf(_ram("ID"), letter.letter_id)
            w.leaf(
                _ram("CorrespondenceDate"),
                format_date(letter.correspondence_date, "CorrespondenceDate"),
            )
            w.leaf(_ram("Subject"), letter.subject)
            w.leaf(_ram("SecretCode"), letter.secrecy_code)
            w.leaf(_ram("SpeedCode"), letter.speed_code)
            _ecms_party(w, "SenderParty", letter.sender)
            _ecms_party(w, "ReceiverParty", letter.receiver)
            for reference in letter.references:
                with w.group(_ram("ReferenceCorrespondence")):
                    w.leaf(_ram("ID"), reference.letter_id)
                    w.leaf(
                        _ram("CorrespondenceDate"),
                        format_date(reference.correspondence_date, "ReferenceCorrespondence"),
                    )
                    w.leaf(_ram("Subject"), reference.subject)
            w.leaf(_ram("Attachment"), letter.attachment_text)
            w.leaf(_ram("SendDate"), format_datetime(letter.send_date, "SendDate"))
            w.leaf(_ram("Description"), letter.description)
            w.binary(
                _ram("MainLetterBinaryObject"),
                letter.main_letter or OutgoingFile(mime_code="", data=b""),
            )
            for attachment in letter.attachments:
                w.binary(_ram("AttachmentBinaryObject"), attachment)

    return body


def _dga_party(w: XmlWriter, tag: str, party: Party) -> None:
    with w.group(tag):
        with w.group("Department"):
            w.leaf("Name", party.department_name)
        with w.group("Ministry"):
            w.leaf("Name", party.ministry_name)


def _dga_body(letter: OutgoingXmlLetter) -> Any:
    def body(w: XmlWriter) -> None:
        with w.group("CorrespondenceLetterSpecial"):
            w.leaf("ID", letter.letter_id)
            w.leaf(
                "CorrespondenceDate", format_date(letter.correspondence_date, "CorrespondenceDate")
            )
            w.leaf("Subject", letter.subject)
            with w.group("Secret"):
                w.leaf("Code", letter.secrecy_code)
            with w.group("Speed"):
                w.leaf("Code", letter.speed_code)
            _dga_party(w, "Sender", letter.sender)
            _dga_party(w, "Receiver", letter.receiver)

    return body


def build_letter_xml(letter: OutgoingXmlLetter, *, dialect: Dialect) -> bytes:
    """The letter as a CorrespondenceLetterOutboundRequest document in ``dialect``.

    ``dga`` carries the number, date, subject, codes and the parties' department and ministry
    names only (the PDF travels beside it in the e-mail); ``ecms`` carries everything, the main
    letter and enclosures inline. Missing required values are written empty: validate first.
    Raises :class:`XmlBuildError` for values XML cannot carry.
    """
    if dialect == "ecms":
        return write_document(_ecms_body(letter))
    if dialect == "dga":
        return write_document(_dga_body(letter))
    raise XmlBuildError(f"unknown dialect {dialect!r}")
