"""Reading an incoming PDF: can it be opened, is it encrypted, what does page 1 say, and
are its digital signatures genuine (issue 4, domain.md §4).

The parse step calls `inspect_pdf` on the main letter before anything is stamped: the
receive stamp is an incremental update that pyHanko's diff policy would rate as an
unexplained change, so the sender's signatures are judged on the bytes as they arrived
and that judgement is what the clerk sees (register remarks, acknowledgement copy).

Everything here is CPU-bound and synchronous; run it from a thread
(`asyncio.to_thread`). Opening the file is `gateway.pdf.opening`, judging its signatures
`gateway.pdf.signatures`; the types of the report are importable from here.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.pdf.active import ActiveContent, find_active_content
from gateway.pdf.opening import CORRUPT, PdfUnreadable, open_reader
from gateway.pdf.pdfium import drawable_page
from gateway.pdf.revocation import Revocation, RevocationMode
from gateway.pdf.signatures import (
    Coverage,
    Modification,
    RevocationStatus,
    SignatureCheck,
    Verdict,
    collect_signatures,
    load_trust_roots,
    validate_signatures,
)
from gateway.pdf.text import first_page_text
from gateway.pdf.textwork import page_text
from gateway.pdf.tounicode import lacks_tounicode, recover_fonts
from gateway.thai import normalize_text

__all__ = [
    "ActiveContent",
    "Coverage",
    "Modification",
    "PdfReport",
    "PdfUnreadable",
    "Revocation",
    "RevocationMode",
    "RevocationStatus",
    "SignatureCheck",
    "Verdict",
    "inspect_pdf",
    "load_trust_roots",
    "normalise_extracted_thai",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PdfReport:
    readable: bool
    reason_th: str  # why not readable; "" when readable
    reason_en: str
    pdf_version: str  # from the header, e.g. "1.7"; "" if unreadable
    page_count: int
    first_page_text: str  # clean Thai lines, top to bottom (gateway.pdf.text)
    encrypted: bool  # encrypted, but opened with the empty user password
    signatures: tuple[SignatureCheck, ...]
    active: ActiveContent = ActiveContent()  # scripts, launch actions, embedded files

    @property
    def signed(self) -> bool:
        return bool(self.signatures)

    @property
    def remarks_th(self) -> str:
        """The register entry's remarks line about signatures; "" for unsigned files."""
        return " / ".join(s.summary_th for s in self.signatures)


# --- page-1 text ------------------------------------------------------------------------

# Extractors put a tone mark before the vowel it sits on (ที ่ → ท ่ ี), where Thai input
# order (WTT 2.0) is consonant, vowel, tone; thai.normalize_text rebuilds a split ำ.
_TONE_BEFORE_VOWEL = re.compile("([\u0e48-\u0e4c])([\u0e31\u0e34-\u0e3a\u0e47])")


def page1_text(pdf: bytes) -> str:
    """Page 1's text as inspect_pdf reads it, without the rest of its look at the file
    (signatures, active content): for an enclosure, whose header is all that is asked."""
    return _page1_text(pdf, _pypdf_reader(pdf))


def _page1_text(pdf: bytes, plain: Any) -> str:
    text = first_page_text(pdf, _first_page_text(plain) if plain is not None else "",
                           others=plain is None or _affordable(plain))
    if plain is not None and not _has_thai(text) and lacks_tounicode(plain):
        text = _from_fonts(pdf) or text
    return text


def normalise_extracted_thai(text: str) -> str:
    """Text from a PDF text layer, in the order a Thai reader typed it."""
    return normalize_text(_TONE_BEFORE_VOWEL.sub("\\2\\1", text))


def _pypdf_reader(pdf: bytes) -> Any:
    """pypdf's view of the file, for page-1 text and active content (pyHanko reads PDF
    structure but has no text extraction); None when pypdf cannot open what pyHanko did."""
    import pypdf  # deferred: only the parse step needs it, not stamping or signing

    try:
        reader = pypdf.PdfReader(io.BytesIO(pdf), strict=False)
        if reader.is_encrypted:
            reader.decrypt("")
        return reader
    except Exception as exc:  # noqa: BLE001 - parser boundary
        log.info("pypdf cannot open the PDF: %r", exc)
        return None


def _affordable(reader: Any) -> bool:
    """Whether page 1 can be read in full at a bounded cost (forms counted per painting)."""
    try:
        return drawable_page(reader.pages[0])
    except Exception:  # noqa: BLE001 - parser boundary: then only the bounded reading
        return False


def _has_thai(text: str) -> bool:
    return any("\u0e01" <= c <= "\u0e5b" for c in text)


def _from_fonts(pdf: bytes) -> str:
    """Page 1 read again with ToUnicode maps made from its embedded fonts (a reader of its
    own: the change stays in memory), by pypdf's bounded reading only."""
    reader = _pypdf_reader(pdf)
    if reader is None or not recover_fonts(reader) or not _affordable(reader):
        return ""
    return first_page_text(pdf, _first_page_text(reader), others=False)


def _first_page_text(reader: Any) -> str:
    try:
        text = page_text(reader.pages[0])  # bounded: gateway/pdf/textwork.py
    except Exception as exc:  # noqa: BLE001
        # pyHanko opened the file; an extraction failure only means no text to parse
        # fields from, which the parse step reports as missing fields.
        log.info("page-1 text extraction failed: %r", exc)
        return ""
    return normalise_extracted_thai(text)


def inspect_pdf(pdf: bytes, *, trust_roots: Sequence[bytes] = (), now: datetime,
                revocation: Revocation = Revocation()) -> PdfReport:
    """Everything the parse step needs to know about one PDF, as a value.

    An unreadable file is a report with `readable=False` and a Thai reason, not an
    exception. `trust_roots` are DER/PEM CA certificates (none by default: every
    intact signature is then "ไม่ทราบผู้ออกใบรับรอง"); `now` is the validation time;
    `revocation` how OCSP/CRL are fetched (only for certificates that chain to a root).
    Raises ValueError only for a trust root that is not a certificate.
    """
    roots = load_trust_roots(trust_roots)
    try:
        reader, encrypted = open_reader(pdf)
    except PdfUnreadable as exc:
        return PdfReport(
            readable=False,
            reason_th=exc.reason_th,
            reason_en=exc.reason_en,
            pdf_version="",
            page_count=0,
            first_page_text="",
            encrypted=False,
            signatures=(),
        )
    try:
        page_count = int(reader.root["/Pages"]["/Count"])
        major, minor = reader.input_version
        embedded = collect_signatures(reader)
    except Exception as exc:  # noqa: BLE001 - same parser boundary as open_reader
        th, en = CORRUPT
        return PdfReport(False, th, f"{en}: {exc}", "", 0, "", encrypted, ())
    checks = asyncio.run(validate_signatures(embedded, roots, now, revocation)) if embedded else []
    plain = _pypdf_reader(pdf)
    text = _page1_text(pdf, plain)
    return PdfReport(
        readable=True,
        reason_th="",
        reason_en="",
        pdf_version=f"{major}.{minor}",
        page_count=page_count,
        first_page_text=text,
        encrypted=encrypted,
        signatures=tuple(checks),
        active=find_active_content(plain) if plain is not None
        else ActiveContent(incomplete=True),
    )
