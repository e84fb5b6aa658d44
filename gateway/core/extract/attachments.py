"""Which attachment is the letter, which are its enclosures, which is its XML (pure).

Part of *parse* (architecture.md): the main letter is a PDF, preferably one with an Appendix 7
name that is not an enclosure's (``2564_DGA_2487.pdf``, domain.md §5.3); a CorrespondenceLetter
XML is known by its content; inline images of the HTML body are neither.
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.core.extract.filename import ENCLOSURE_NAME, parse_appendix7_filename
from gateway.letter import Attachment
from gateway.thai import normalize_text

__all__ = ["choose_main_letter"]

_XML_MARKERS = (b"correspondenceletter", b"governmentdocument")


def _is_correspondence_xml(att: Attachment) -> bool:
    head = att.data[:65536]
    name = (att.filename or att.safe_name).lower()
    looks_xml = (
        "xml" in att.content_type
        or name.endswith(".xml")
        or head.lstrip(b"\xef\xbb\xbf\xff\xfe\x00 \t\r\n").startswith((b"<", b"<\x00"))
    )
    if not looks_xml:
        return False
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or head[1:2] == b"\x00" or head[:1] == b"\x00":
        folded = head.replace(b"\x00", b"").lower()
    else:
        folded = head.lower()
    return any(marker in folded for marker in _XML_MARKERS)


def _decorative(att: Attachment) -> bool:
    # Logos and signature images shown in the HTML body (multipart/related, cid:), not enclosures.
    return att.inline and att.content_id is not None and att.content_type.startswith("image/")


def _enclosure_like(att: Attachment) -> bool:
    name = att.filename or ""
    ref = parse_appendix7_filename(name)
    if ref is not None:
        return ref.enclosure_index is not None
    return bool(ENCLOSURE_NAME.search(normalize_text(name)))


def choose_main_letter(
    attachments: Sequence[Attachment],
) -> tuple[Attachment | None, tuple[Attachment, ...], Attachment | None]:
    """Split attachments into (main letter, enclosures, CorrespondenceLetter XML).

    The main letter is, in order of preference: a PDF (by its bytes) with an Appendix 7 name that
    is not an enclosure (``_k``); the first PDF whose name does not look like an enclosure; the
    first PDF; the first file that only *claims* to be a PDF (name or type), so that validation can
    say it is broken rather than missing. Enclosures are every other file except the XML and
    inline images referenced from the HTML body.
    """
    xml = next((a for a in attachments if _is_correspondence_xml(a)), None)
    rest = [a for a in attachments if a is not xml and not _decorative(a)]
    pdfs = [a for a in rest if a.is_pdf]

    def appendix7_main(a: Attachment) -> bool:
        ref = parse_appendix7_filename(a.filename)
        return ref is not None and ref.enclosure_index is None

    main = (
        next((a for a in pdfs if appendix7_main(a)), None)
        or next((a for a in pdfs if not _enclosure_like(a)), None)
        or next(iter(pdfs), None)
        or next((a for a in rest if a.claims_pdf), None)
    )
    enclosures = tuple(a for a in rest if a is not main)
    return main, enclosures, xml
