"""Value types that travel the flow of one letter (architecture.md, "The flow of one letter").

``parse`` turns raw bytes into a :class:`ParsedMessage` (with its :class:`Attachment` objects),
``extract`` reads a :class:`LetterFields` out of it, each value a :class:`Field` that remembers
where it came from (domain.md §5.5), and ``validate`` reports :class:`Problem` values. Everything
here is a frozen dataclass or an enum: data, not behaviour.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Generic, NamedTuple, TypeVar

__all__ = [
    "REQUIRED_FIELDS",
    "GENERIC_TYPES",
    "SYSTEM_MAILBOX",
    "mail_system",
    "unattended",
    "Appendix7Name",
    "Attachment",
    "Field",
    "FieldSource",
    "LetterFields",
    "LetterKind",
    "ParsedMessage",
    "Problem",
    "Secrecy",
    "Speed",
]

T = TypeVar("T")

# A PDF may carry junk before its header; readers (and Acrobat) look in the first 1024 bytes.
_PDF_MAGIC = b"%PDF-"
_PDF_MAGIC_WINDOW = 1024
# Types a sender's mail client gives a file it does not know (Outlook, webmail, old clients):
# the name or the bytes must tell what it is.
GENERIC_TYPES = frozenset(
    {
        "application/octet-stream",
        "binary/octet-stream",
        "application/x-download",
        "application/force-download",
        "application/download",
        "application/unknown",
        "application/binary",
    }
)
_PDF_OR_GENERIC_TYPES = frozenset({"application/pdf", "application/x-pdf"}) | GENERIC_TYPES

# The local parts of mailboxes no person writes from, one pattern for every reader (use
# `fullmatch` on the part before the "@"; a "+tag", ".x" or "-x" after the name is allowed).
# Group "mail_system": a mail system's own sender of bounces and reports — MAILER-DAEMON,
# postmaster (RFC 5321 §4.5.1), bounce handlers, Exchange's MicrosoftExchange<32 hex>.
# Group "no_reply": senders that say no one reads replies (no-reply, do-not-reply, root, daemon).
# Bounce detection reads the first group only; whether to acknowledge reads both.
SYSTEM_MAILBOX = re.compile(
    r"(?:(?P<mail_system>mailer-?daemon|mail-?daemon|postmaster|mdaemon|bounces?"
    r"|microsoftexchange[0-9a-f]{32})"
    r"|(?P<no_reply>no-?reply|do-?not-?reply|root|daemon))"
    r"(?:[+.\-].*)?",
    re.IGNORECASE,
)


def mail_system(local_part: str) -> bool:
    """A mailbox the mail system itself sends from (bounces, postmaster): never a letter's author."""
    m = SYSTEM_MAILBOX.fullmatch(local_part)
    return m is not None and m.group("mail_system") is not None


def unattended(local_part: str) -> bool:
    """A mailbox no person reads replies at: the mail system's, or a no-reply address."""
    return SYSTEM_MAILBOX.fullmatch(local_part) is not None


class FieldSource(StrEnum):
    """Where a field's value was read, in order of trust (domain.md §5.5).

    ``EMAIL`` is the last resort: the From header's display name or address, used only for the
    sender when nothing in the letter itself names one. ``OCR`` (a scan's page 1 read by
    tesseract) fills only what no other source gave, and sends the letter to review. ``DEFAULT`` is no source: the value the
    register takes when no source gives one (speed ปกติ).
    """

    XML = "xml"
    PDF = "pdf"
    SUBJECT = "subject"
    BODY = "body"
    FILENAME = "filename"
    EMAIL = "email"
    # The OCR reading of a scan's page 1 (issue #20): below every other source, a pre-fill for
    # the clerk only; a letter with a required field from OCR is never registered unreviewed.
    OCR = "ocr"
    DEFAULT = "default"


class Speed(StrEnum):
    """ชั้นความเร็ว (domain.md §2); values are the words printed on the letter."""

    NORMAL = "ปกติ"
    URGENT = "ด่วน"
    VERY_URGENT = "ด่วนมาก"
    MOST_URGENT = "ด่วนที่สุด"
    # "ด่วนภายใน <date time>": the deadline text is kept in LetterFields.speed_within.
    WITHIN = "ด่วนภายใน"


class Secrecy(StrEnum):
    """ชั้นความลับ (domain.md §2). Anything above NORMAL goes to restricted review."""

    NORMAL = "ปกติ"
    CONFIDENTIAL = "ลับ"
    SECRET = "ลับมาก"
    TOP_SECRET = "ลับที่สุด"

    @property
    def rank(self) -> int:
        return _SECRECY_RANK[self]


_SECRECY_RANK = {
    Secrecy.NORMAL: 0,
    Secrecy.CONFIDENTIAL: 1,
    Secrecy.SECRET: 2,
    Secrecy.TOP_SECRET: 3,
}


class LetterKind(StrEnum):
    """The layout a letter's page 1 was read as (domain.md §2, kinds seen in the seeds)."""

    EXTERNAL = "หนังสือภายนอก"
    MEMO = "บันทึกข้อความ"
    ORDER = "คำสั่ง"
    ANNOUNCEMENT = "ประกาศ"


@dataclass(frozen=True, slots=True)
class Attachment:
    """One file found in a message: a MIME leaf, a file inside winmail.dat, or either of those
    inside a forwarded message.

    ``filename`` is the decoded name as the sender gave it (None when there was none) and is never
    to be used as a path; ``safe_name`` is the sanitised name to store or show. ``origin`` says how
    it was reached: ``"mime"``, ``"tnef"``, ``"rfc822/mime"``, ``"rfc822/tnef"``, …
    ``content_type`` is the declared type, lower-cased, except that a generic declared type
    (application/octet-stream and friends) is replaced by ``application/pdf`` when the bytes are a
    PDF, or else by the type the file name's extension names.
    """

    filename: str | None
    safe_name: str
    content_type: str
    data: bytes
    sha256: str
    inline: bool
    content_id: str | None
    origin: str
    # Set when the bytes were written to the blob store (under ``sha256``) and dropped here,
    # so that a reading crosses from a worker process without megabytes: their length.
    kept_size: int | None = None

    @property
    def size(self) -> int:
        return len(self.data) if self.kept_size is None else self.kept_size

    def kept(self) -> Attachment:
        """This file without its bytes, which the caller has stored in the blob store."""
        if self.kept_size is not None:
            return self
        return replace(self, data=b"", kept_size=len(self.data))

    def _bytes(self) -> bytes:
        if self.kept_size is not None:
            raise ValueError(f"the bytes of {self.safe_name} are in the blob store, not here")
        return self.data

    @property
    def is_pdf(self) -> bool:
        """The bytes are a PDF (magic number), whatever the name says.

        ``%PDF-`` must open the file (after blank bytes or a BOM), or, for a file declared as a
        PDF or as generic binary, appear in its first 1024 bytes as PDF readers allow. A
        forwarded .eml that merely contains a PDF is not one.
        """
        data = self._bytes()
        if data.lstrip(b"\x00\t\n\r\x0c \xef\xbb\xbf").startswith(_PDF_MAGIC):
            return True
        return (
            self.content_type in _PDF_OR_GENERIC_TYPES
            and _PDF_MAGIC in data[:_PDF_MAGIC_WINDOW]
        )

    @property
    def claims_pdf(self) -> bool:
        """The name or the declared type say PDF (the bytes may still not be one)."""
        name = (self.filename or self.safe_name).lower()
        return name.endswith(".pdf") or self.content_type in (
            "application/pdf",
            "application/x-pdf",
        )


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    """A message as ``parse.parse_message`` read it; best effort, never absent.

    Strings are decoded (RFC 2047, 8-bit Thai) and never None except where noted; addresses are
    lower-cased ``local@domain`` without display names. ``message_id``, ``in_reply_to`` and
    ``references`` keep their angle brackets. ``date`` is aware (a ``-0000`` zone is read as
    UTC) or None. ``body_text`` is the text/plain body, or text made from the HTML body when there
    was no plain one. ``defects`` lists, in plain English, everything that was malformed or
    guessed. ``forwarded`` holds the messages attached as ``message/rfc822`` (their attachments
    also appear, flattened, in ``attachments`` with an ``rfc822/`` origin). ``too_deep`` and
    ``too_many_parts`` say that a limit was hit and the message was not read in full.
    """

    message_id: str | None
    subject: str
    from_addr: str | None
    from_name: str | None
    to_addrs: tuple[str, ...]
    cc_addrs: tuple[str, ...]
    date: datetime | None
    in_reply_to: str | None
    references: tuple[str, ...]
    body_text: str
    body_html: str
    attachments: tuple[Attachment, ...]
    defects: tuple[str, ...]
    is_auto_reply: bool
    raw_size: int
    auto_reply_reason: str | None = None
    is_spam_flagged: bool = False
    reply_to_addrs: tuple[str, ...] = ()
    forwarded: tuple[ParsedMessage, ...] = ()
    # Hostile nesting: the limit that was hit (levels, parts), 0 when the message kept within
    # it. What lay beyond was not read (the raw bytes are kept); the clerk is told.
    too_deep: int = 0
    too_many_parts: int = 0


@dataclass(frozen=True, slots=True)
class Field(Generic[T]):
    """A value and where it was read."""

    value: T
    source: FieldSource


class Appendix7Name(NamedTuple):
    """An Appendix 7 file name, ``2564_DGA_2487.pdf`` (domain.md §5.3)."""

    be_year: int
    latin_code: str
    number: int
    circular: bool  # ``_W<number>``: a circular (หนังสือเวียน)
    enclosure_index: int | None  # ``_<k>`` after the number: enclosure k, not the letter


REQUIRED_FIELDS: tuple[str, ...] = ("letter_no", "letter_date", "sender", "subject")
"""The fields a letter needs to be registered without review (issue 3: ที่, date, จาก, เรื่อง)."""


@dataclass(frozen=True, slots=True)
class LetterFields:
    """A letter's header fields, each taken from the most trusted source that had it.

    ``letter_no`` is the ที่ as printed (normalised text; compare with
    ``thai.parse_letter_number``/``letter_numbers_equal``). ``recipient`` is ถึง, or the เรียน
    addressee when the letter has no ถึง line. ``alternatives`` lists, as (field name, Field),
    values from less trusted sources that *disagree* with the chosen one, for cross-checks.
    ``file_name_ref`` is the main file's Appendix 7 name when it had one. ``conflicts`` lists,
    as (field name, the PDF's reading, the other), fields that a labelled e-mail body line and
    the PDF both claim and on which they disagree (extract/crosscheck.py): the clerk decides.
    """

    letter_no: Field[str] | None = None
    letter_date: Field[date] | None = None
    sender: Field[str] | None = None
    recipient: Field[str] | None = None
    subject: Field[str] | None = None
    salutation: Field[str] | None = None
    speed: Field[Speed] | None = None
    speed_within: Field[str] | None = None
    secrecy: Field[Secrecy] | None = None
    reference: Field[str] | None = None
    enclosures: Field[str] | None = None
    kind: Field[LetterKind] | None = None
    file_name_ref: Appendix7Name | None = None
    alternatives: tuple[tuple[str, Field[Any]], ...] = ()
    conflicts: tuple[tuple[str, Field[Any], Field[Any]], ...] = ()

    def missing_required(self) -> tuple[str, ...]:
        """Names of the REQUIRED_FIELDS that no source provided."""
        return tuple(name for name in REQUIRED_FIELDS if getattr(self, name) is None)


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a letter cannot be registered as it is; ``reason_th`` is what the clerk reads."""

    code: str
    reason_th: str
    reason_en: str
