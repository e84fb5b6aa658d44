"""Outgoing letters, the pure part: what a clerk's mail to the submission server asks for.

Submission → here → record. A clerk writes an ordinary e-mail: To/Cc are the
recipient agencies, the subject is the letter's เรื่อง with optional bracketed
Thai tags, the attachments are the letter PDF and its enclosures. This module
reads the tags and the two mail commands (วิธีใช้, ขอเลข/สำรองเลข), names the
files by Appendix 7 (domain.md §5.3), writes the letter number the way the
regulation prints it, and decides whether a submission may go, with Thai
reasons when not. No I/O, no clock: everything comes in as arguments.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from gateway.letter import Attachment, Secrecy, Speed
from gateway.thai import LetterNumber, normalize_text, parse_letter_number, to_arabic_digits


class Book(StrEnum):
    """The send books (store.registers.AGENCY_BOOKS codes)."""

    SEND = "send"
    CIRCULAR = "circular"  # ว series
    ORDER = "order"  # คำสั่ง N/พ.ศ.


BOOK_TH = {Book.SEND: "ส่ง", Book.CIRCULAR: "ส่งเวียน", Book.ORDER: "คำสั่ง"}

# The words a clerk may use for a book in a command ("ขอเลข ส่งเวียน").
_BOOK_WORDS: Mapping[str, Book] = {
    "ส่ง": Book.SEND, "หนังสือส่ง": Book.SEND, "ปกติ": Book.SEND,
    "ส่งเวียน": Book.CIRCULAR, "เวียน": Book.CIRCULAR, "ว": Book.CIRCULAR, "หนังสือเวียน": Book.CIRCULAR,
    "คำสั่ง": Book.ORDER,
}

MAX_COMMAND_COUNT = 50

# Marks our confirmation of a sent letter, so that it is filed in ส่งแล้ว when it comes back.
SENT_HEADER = "X-Saraban-Sent"


# ------------------------------------------------------------------------------------------
# Subject tags
# ------------------------------------------------------------------------------------------

_TAG = re.compile(r"\[\s*([^\[\]]{1,120}?)\s*\]")
_SPEED_TAGS = {"ด่วน": Speed.URGENT, "ด่วนมาก": Speed.VERY_URGENT, "ด่วนที่สุด": Speed.MOST_URGENT}
_SECRECY_TAGS = {"ลับ": Secrecy.CONFIDENTIAL, "ลับมาก": Secrecy.SECRET, "ลับที่สุด": Secrecy.TOP_SECRET}
_RESERVED = re.compile(r"เลขสำรอง\s*:?\s*([0-9๐-๙]{1,7})")
_NUMBER = re.compile(r"(?:เลข)?ที่\s*:?\s*(.+)")
# Reply and forward prefixes mail clients add; they are not part of เรื่อง.
_REPLY_PREFIX = re.compile(r"^\s*(?:(?:re|fw|fwd|aw|tr|ตอบกลับ|ส่งต่อ)\s*:\s*)+", re.IGNORECASE)


@dataclass(frozen=True)
class SubjectOptions:
    """A submission's subject, read: the clean เรื่อง and what the tags asked for."""

    subject: str
    book: Book = Book.SEND
    speed: Speed | None = None
    secrecy: Secrecy | None = None
    reserved_number: int | None = None
    letter_no: LetterNumber | None = None  # [ที่ …]: the letter already carries this number
    confirm_recipients: bool = False  # [ยืนยันผู้รับ]
    cc_unit: bool = False  # [สำเนาหน่วยงาน]
    unknown_tags: tuple[str, ...] = ()
    bad_tags: tuple[str, ...] = ()  # recognised but unreadable, e.g. [ที่ abc]


def read_subject(subject: str) -> SubjectOptions:
    """Take the bracketed tags out of a subject; the rest, tidied, is the letter's เรื่อง."""
    text = _REPLY_PREFIX.sub("", normalize_text(subject))
    opts: dict[str, object] = {}
    unknown: list[str] = []
    bad: list[str] = []
    circular = order = False
    keep: list[str] = []  # unknown tags stay in เรื่อง: "[แก้ไข]" may be part of it
    last = 0
    for m in _TAG.finditer(text):
        tag = " ".join(m.group(1).split())
        keep.append(text[last:m.start()])
        last = m.end()
        if tag in ("เวียน", "หนังสือเวียน"):
            circular = True
        elif tag == "คำสั่ง":
            order = True
        elif tag in _SPEED_TAGS:
            opts["speed"] = _SPEED_TAGS[tag]
        elif tag in _SECRECY_TAGS:
            opts["secrecy"] = _SECRECY_TAGS[tag]
        elif tag == "ยืนยันผู้รับ":
            opts["confirm_recipients"] = True
        elif tag in ("สำเนาหน่วยงาน", "สำเนาถึงหน่วยงาน"):
            opts["cc_unit"] = True
        elif rm := _RESERVED.fullmatch(tag):
            opts["reserved_number"] = int(to_arabic_digits(rm.group(1)))
        elif nm := _NUMBER.fullmatch(tag):
            parsed = parse_letter_number("ที่ " + nm.group(1))
            if parsed is None:
                bad.append(tag)
            else:
                opts["letter_no"] = parsed
        else:
            unknown.append(tag)
            keep.append(m.group(0))
    keep.append(text[last:])
    clean = " ".join(" ".join(keep).split())
    ln = opts.get("letter_no")
    if isinstance(ln, LetterNumber):
        book = Book.ORDER if ln.is_order else Book.CIRCULAR if ln.circular else Book.SEND
    else:
        book = Book.ORDER if order else Book.CIRCULAR if circular else Book.SEND
    return SubjectOptions(subject=clean, book=book, unknown_tags=tuple(unknown), bad_tags=tuple(bad),
                          **opts)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------
# Commands by e-mail
# ------------------------------------------------------------------------------------------


class CommandKind(StrEnum):
    HELP = "help"  # วิธีใช้
    NUMBERS = "numbers"  # ขอเลข / สำรองเลข


@dataclass(frozen=True)
class Command:
    kind: CommandKind
    book: Book = Book.SEND
    count: int = 1
    error_th: str = ""  # set when the command was recognised but cannot be done as written


_HELP = re.compile(r"^(?:วิธีใช้|วิธีใช้งาน|ช่วยเหลือ|help)$", re.IGNORECASE)
_NUMBERS = re.compile(r"^(?:ขอเลข|สำรองเลข|ขอเลขที่หนังสือ)(?:\s+([0-9๐-๙]+))?(?:\s+(.+?))?(?:\s+([0-9๐-๙]+))?$")


def read_command(subject: str) -> Command | None:
    """`วิธีใช้`, `ขอเลข ส่ง`, `สำรองเลข 5 ส่งเวียน`, `ขอเลข คำสั่ง 2`; None for a letter."""
    text = " ".join(_REPLY_PREFIX.sub("", normalize_text(subject)).split())
    if _HELP.match(text):
        return Command(CommandKind.HELP)
    m = _NUMBERS.match(text)
    if not m:
        return None
    count_text = m.group(1) or m.group(3)
    count = int(to_arabic_digits(count_text)) if count_text else 1
    word = (m.group(2) or "ส่ง").strip()
    book = _BOOK_WORDS.get(word)
    if book is None:
        return Command(CommandKind.NUMBERS, count=count,
                       error_th=f"ไม่รู้จักทะเบียน “{word}” ใช้ได้: ส่ง, ส่งเวียน, คำสั่ง")
    if not 1 <= count <= MAX_COMMAND_COUNT:
        return Command(CommandKind.NUMBERS, book=book, count=count,
                       error_th=f"ขอเลขได้ครั้งละ 1–{MAX_COMMAND_COUNT} เลข")
    return Command(CommandKind.NUMBERS, book=book, count=count)


# ------------------------------------------------------------------------------------------
# Numbers and names
# ------------------------------------------------------------------------------------------


def number_part(book: Book, *, number: int, year: int) -> str:
    """What the register adds to a letter's number: ``123``, ``ว123``, an order's ``12/2569``."""
    if book is Book.ORDER:
        return f"{number}/{year}"
    return f"{'ว' if book is Book.CIRCULAR else ''}{number}"


def letter_number(book: Book, *, code: str, number: int, year: int, thai_digits: bool = False) -> str:
    """The ที่ as the letter prints it: ``ศธ 04183/123``, ``ศธ 04183/ว123``, an order ``12/2569``."""
    from gateway.thai import to_thai_digits

    part = number_part(book, number=number, year=year)
    text = part if book is Book.ORDER else f"{code}/{part}"
    return to_thai_digits(text) if thai_digits else text


def file_name(form: str, *, year: int, code: str, number: int, enclosure: int | None = None,
              extension: str = "pdf") -> str:
    """Appendix 7 item 4.3: ``2569_OBEC04183_123.pdf``; enclosure k: ``…_123_k.<ext>``. ASCII only."""
    stem = form.format(year=year, code=code, number=number)
    stem = re.sub(r"[^A-Za-z0-9_.-]", "", stem).lstrip(".-") or f"{year}_{number}"
    if enclosure is not None:
        stem += f"_{enclosure}"
    ext = re.sub(r"[^a-z0-9]", "", extension.lower())[:8] or "bin"
    return f"{stem}.{ext}"


def extension_of(att: Attachment) -> str:
    if att.is_pdf:
        return "pdf"
    name = att.filename or att.safe_name
    return name.rpartition(".")[2] if "." in name else "bin"


# ------------------------------------------------------------------------------------------
# Deciding whether a submission may go
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    code: str
    reason_th: str
    reason_en: str


@dataclass(frozen=True)
class Recipient:
    address: str
    name_th: str = ""  # from the directory; "" when not listed
    listed: bool = False


@dataclass(frozen=True)
class SendPlan:
    """What the record step does: refusals (nothing is sent) or the letter to number and send."""

    refusals: tuple[Refusal, ...]
    options: SubjectOptions
    recipients: tuple[Recipient, ...] = ()
    main: Attachment | None = None
    enclosures: tuple[Attachment, ...] = ()
    printed_number: LetterNumber | None = None  # the number the PDF's text layer shows, if any
    secrecy: Secrecy | None = None
    speed: Speed | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def refused(self) -> bool:
        return bool(self.refusals)


# Base64 grows a file by 4/3 plus line ends; headers and the text body add a little.
def estimated_size(attachments: Sequence[Attachment], xml_bytes: int = 0) -> int:
    payload = sum(a.size for a in attachments) + xml_bytes
    return payload * 4 // 3 + payload // 38 + 16_384


def plan_submission(
    *,
    subject: str,
    recipients: Sequence[str],
    directory: Mapping[str, str],
    main: Attachment | None,
    enclosures: Sequence[Attachment],
    pdf_readable: bool,
    printed_number: LetterNumber | None,
    printed_secrecy: Secrecy | None,
    printed_speed: Speed | None,
    own_addresses: Sequence[str],
    allow_unlisted: bool,
    max_message_bytes: int,
) -> SendPlan:
    """Read a submission and list every reason it cannot go (all of them, not the first)."""
    opts = read_subject(subject)
    refusals: list[Refusal] = []
    own = {a.lower() for a in own_addresses}
    rcpts: list[Recipient] = []
    for addr in dict.fromkeys(a.lower() for a in recipients):
        if addr in own:
            continue  # a copy to ourselves (the clerk's Bcc) is not a recipient agency
        name = directory.get(addr, "")
        rcpts.append(Recipient(addr, name, listed=bool(name)))
    secrecy = opts.secrecy or printed_secrecy
    if secrecy is not None and secrecy.rank > 0:
        refusals.append(Refusal(
            "secret", f"หนังสือชั้นความลับ ({secrecy.value}) ห้ามส่งทางไปรษณีย์อิเล็กทรอนิกส์",
            f"a {secrecy.name.lower()} letter must not travel by e-mail"))
    if not rcpts:
        refusals.append(Refusal("no_recipient", "ไม่มีผู้รับ ระบุที่อยู่ไปรษณีย์อิเล็กทรอนิกส์กลางของหน่วยงานผู้รับในช่อง ถึง หรือ สำเนา",
                                "no recipient agency in To/Cc"))
    unlisted = [r.address for r in rcpts if not r.listed]
    if unlisted and not (allow_unlisted or opts.confirm_recipients):
        refusals.append(Refusal(
            "unlisted", "ผู้รับไม่อยู่ในทะเบียนหน่วยงาน: " + ", ".join(unlisted)
            + " (ถ้าถูกต้อง ส่งใหม่โดยใส่ [ยืนยันผู้รับ] ในหัวเรื่อง)",
            "recipients not in the directory: " + ", ".join(unlisted)))
    if main is None:
        refusals.append(Refusal("no_pdf", "ไม่พบไฟล์หนังสือ (PDF) แนบไฟล์หนังสือที่จะส่ง",
                                "no letter PDF attached"))
    elif not pdf_readable:
        refusals.append(Refusal("pdf_unreadable", "เปิดไฟล์หนังสือ (PDF) ไม่ได้ ไฟล์อาจเสียหรือมีรหัสผ่าน",
                                "the letter PDF cannot be read"))
    if not opts.subject:
        refusals.append(Refusal("no_subject", "ไม่มีเรื่อง ใส่เรื่องของหนังสือในหัวเรื่องอีเมล",
                                "no subject"))
    for tag in opts.bad_tags:
        refusals.append(Refusal("bad_tag", f"อ่านแท็ก [{tag}] ไม่ได้ ตัวอย่างที่ถูกต้อง: [ที่ ศธ 04183/123]",
                                f"cannot read the tag [{tag}]"))
    if opts.reserved_number is not None and opts.letter_no is not None \
            and opts.letter_no.number != opts.reserved_number:
        refusals.append(Refusal("tag_conflict", "เลขใน [เลขสำรอง] และ [ที่] ไม่ตรงกัน",
                                "[เลขสำรอง] and [ที่] give different numbers"))
    size = estimated_size([*(a for a in [main] if a is not None), *enclosures])
    if size > max_message_bytes:
        refusals.append(Refusal(
            "too_big", f"ไฟล์แนบรวมกันใหญ่เกินกำหนด ({size / 1048576:.1f} MB เกิน "
            f"{max_message_bytes / 1048576:.1f} MB) ลดขนาดไฟล์หรือแยกส่ง",
            f"message of about {size} bytes exceeds the relay limit of {max_message_bytes}"))
    warnings = tuple(f"ไม่รู้จักแท็ก [{t}] จึงคงไว้ในเรื่อง" for t in opts.unknown_tags)
    return SendPlan(tuple(refusals), opts, tuple(rcpts), main, tuple(enclosures), printed_number,
                    secrecy, opts.speed or printed_speed, warnings)


def number_matches(printed: LetterNumber | None, book: Book, number: int, code: str, year: int) -> bool:
    """A number printed on the letter must be the register's (domain.md §3, last point)."""
    if printed is None:
        return True
    if book is Book.ORDER:
        return printed.is_order and printed.number == number and printed.year in (None, year)
    want = parse_letter_number(letter_number(book, code=code, number=number, year=year))
    return want is not None and printed.normalized == want.normalized


# ------------------------------------------------------------------------------------------
# Replies to our letters
# ------------------------------------------------------------------------------------------

# "ลงรับเลขที่ 123/2569", "เลขทะเบียนรับ ๔๕", "เลขรับ: 12": the receiver's receive number.
_THEIR_NUMBER = re.compile(
    r"(?:ลงทะเบียนรับ|ลงรับ|เลขทะเบียนรับ|เลขรับ|รับไว้)\s*(?:เลขที่|ที่|เลข)?\s*:?\s*"
    r"([0-9๐-๙]{1,7}(?:\s*/\s*[0-9๐-๙]{4})?)"
)


def letter_numbers_in(text: str, *, limit: int = 20) -> set[str]:
    """The normalised letter numbers a text quotes (a reply's subject and body)."""
    from gateway.core.extract import find_letter_number

    found: set[str] = set()
    rest = text[:20_000]
    while len(found) < limit and (hit := find_letter_number(rest)) is not None:
        span, _, end = hit
        parsed = parse_letter_number(span)
        if parsed is not None:
            found.add(parsed.normalized)
        rest = rest[end:]
    return found


def their_receive_number(text: str) -> str:
    """The receive number a reply gives for our letter; "" when it gives none."""
    m = _THEIR_NUMBER.search(text[:20_000])
    return "".join(to_arabic_digits(m.group(1)).split()) if m else ""
