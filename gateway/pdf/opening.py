"""Opening a PDF that arrived: what "unreadable" means, and the Thai reason a clerk reads.

Shared by reading (`gateway.pdf.check`), stamping (`.stamp`) and signing (`.sign`), so one
place decides what cannot be opened: not a PDF, damaged, locked with a password to open it, or
encrypted for certificates. A file with an owner password only opens, as in any viewer.
"""

from __future__ import annotations

import io

from pyhanko.pdf_utils.crypt import AuthStatus, StandardSecurityHandler
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader

from gateway.errors import Permanent

__all__ = [
    "CERT_ENCRYPTED",
    "CORRUPT",
    "NEEDS_PASSWORD",
    "NOT_A_PDF",
    "PdfUnreadable",
    "open_pdf_for_update",
    "open_reader",
]

# ISO 32000-2 §7.5.2: the header may follow up to 1024 bytes of junk that readers skip.
_HEADER_WINDOW = 1024


class PdfUnreadable(Permanent):
    """The PDF cannot be opened (corrupt, user password, not a PDF): the letter goes to
    review with `reason_th`, and nothing else in the gateway crashes on it."""

    def __init__(self, reason_th: str, reason_en: str) -> None:
        super().__init__(f"{reason_th} ({reason_en})")
        self.reason_th = reason_th
        self.reason_en = reason_en


# Reasons a clerk reads in the review queue: (Thai, English).
NOT_A_PDF = ("ไฟล์แนบไม่ใช่ไฟล์ PDF", "the attachment is not a PDF file")
CORRUPT = ("ไฟล์ PDF เสียหาย เปิดอ่านไม่ได้", "the PDF file is damaged and cannot be read")
NEEDS_PASSWORD = (
    "ไฟล์ PDF ถูกล็อกด้วยรหัสผ่าน ต้องขอไฟล์ที่ไม่มีรหัสผ่านจากผู้ส่ง",
    "the PDF is protected by a password to open it; ask the sender for an unprotected copy",
)
CERT_ENCRYPTED = (
    "ไฟล์ PDF ถูกเข้ารหัสสำหรับผู้รับเฉพาะราย (ใบรับรอง) เปิดอ่านไม่ได้",
    "the PDF is encrypted for specific recipients' certificates and cannot be opened",
)


def _unreadable(reason: tuple[str, str], detail: str = "") -> PdfUnreadable:
    th, en = reason
    return PdfUnreadable(th, f"{en}: {detail}" if detail else en)


def _check_header(pdf: bytes) -> None:
    if b"%PDF-" not in pdf[: _HEADER_WINDOW + 8]:
        raise _unreadable(NOT_A_PDF)


def _unlock(reader: PdfFileReader) -> bool:
    """Open an encrypted file with the empty user password; True if it was encrypted.

    Files with only an owner password ("restrict editing") open this way, as in any
    viewer; a file that needs a password to open cannot be registered unattended.
    """
    if not reader.encrypted:
        return False
    if not isinstance(reader.security_handler, StandardSecurityHandler):
        raise _unreadable(CERT_ENCRYPTED)
    if reader.decrypt(b"").status == AuthStatus.FAILED:
        raise _unreadable(NEEDS_PASSWORD)
    return True


def open_reader(pdf: bytes) -> tuple[PdfFileReader, bool]:
    _check_header(pdf)
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        encrypted = _unlock(reader)
        # Touch the page tree now, so a broken one fails here and not half-way through.
        reader.root["/Pages"]["/Count"]
        reader.find_page_for_modification(0)
    except PdfUnreadable:
        raise
    except Exception as exc:
        # Boundary with a third-party parser fed untrusted bytes: a damaged file can
        # surface as any exception type, and none of them may escape as anything but
        # PdfUnreadable (architecture.md: errors are translated at the boundary).
        raise _unreadable(CORRUPT, f"{type(exc).__name__}: {exc}") from exc
    return reader, encrypted


def open_pdf_for_update(pdf: bytes) -> IncrementalPdfFileWriter:
    """An incremental writer over `pdf`, decrypted if it has an owner password only.

    Whatever is written through it is appended: `pdf` stays a byte-identical prefix.
    Raises `PdfUnreadable` and nothing else for files that cannot be opened.
    """
    reader, _ = open_reader(pdf)
    try:
        writer = IncrementalPdfFileWriter.from_reader(reader)
    except Exception as exc:  # same boundary as open_reader
        raise _unreadable(CORRUPT, f"{type(exc).__name__}: {exc}") from exc
    # An encrypted original stays encrypted (ISO 32000-2 §7.6.1: an update cannot
    # remove encryption): the writer reuses the key of the reader unlocked above.
    return writer
