"""Extract: which attachment is the letter, and the letter's fields with their sources (pure).

Place in the flow: part of *parse* (architecture.md), after ``parse.parse_message``. It picks the
main letter among the attachments (preferring an Appendix 7 name such as ``2564_DGA_2487.pdf``,
domain.md §5.3), spots a CorrespondenceLetter XML, reads the Thai letter header (ที่, date, เรื่อง,
เรียน, จาก/ถึง, speed, secrecy) from page-1 text, the e-mail subject, the body and the file name,
and merges them in the order of trust of §5.5: XML > PDF > subject > body > file name, with the
From header as the last resort for the sender. Each value keeps its source.

Page-1 text comes from pdftotext (``-layout`` or not), so everything here tolerates Thai digits,
a split ``ํา``, runs of spaces, zero-width characters and columns on one line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from gateway.letter import (
    Appendix7Name,
    Attachment,
    Field,
    FieldSource,
    LetterFields,
    LetterKind,
    ParsedMessage,
    Secrecy,
    Speed,
)
from gateway.thai import (
    MONTHS_ABBR,
    MONTHS_FULL,
    letter_numbers_equal,
    normalize_for_match,
    normalize_text,
    parse_letter_number,
    parse_thai_date,
    to_arabic_digits,
)

__all__ = [
    "FIELD_NAMES",
    "choose_main_letter",
    "extract_fields",
    "extract_from_filename",
    "extract_from_subject",
    "extract_from_text",
    "find_letter_number",
    "find_thai_date",
    "parse_appendix7_filename",
]

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

_TRUST_ORDER: tuple[FieldSource, ...] = (
    FieldSource.XML,
    FieldSource.PDF,
    FieldSource.SUBJECT,
    FieldSource.BODY,
    FieldSource.FILENAME,
    FieldSource.EMAIL,
)

_D = "0-9๐-๙"  # a digit, Arabic or Thai

# ------------------------------------------------------------------------------------------
# Appendix 7 file names and the choice of the main letter
# ------------------------------------------------------------------------------------------

# <BE year>_<Latin agency code>_[W]<number>[_<k>].<ext> (domain.md §5.3); " (1)" is what browsers
# add to a file downloaded twice.
_APPENDIX7 = re.compile(
    r"(?P<year>2[4-6]\d\d)_(?P<code>[A-Za-z][A-Za-z0-9.\-]{0,19}?)_(?P<w>[Ww])?(?P<number>\d{1,7})"
    r"(?:_(?P<k>\d{1,3}))?(?:\s*\(\d{1,3}\))?(?:\.(?P<ext>[A-Za-z0-9]{1,5}))?"
)
_ENCLOSURE_NAME = re.compile(
    r"สิ่งที่ส่งมาด้วย|สิ่งแนบ|เอกสารแนบ|ไฟล์แนบ|แนบท้าย|ภาคผนวก|บัญชีรายชื่อ|แบบตอบรับ|แบบฟอร์ม"
    r"|แบบสำรวจ|enclos|attach|annex|appendix|^att\d{3,}",
    re.IGNORECASE,
)
_XML_MARKERS = (b"correspondenceletter", b"governmentdocument")


def parse_appendix7_filename(name: str | None) -> Appendix7Name | None:
    """Read ``2564_DGA_2487.pdf``, ``2564_DGA_W2487.pdf`` (circular), ``2564_DGA_2487_1.pdf``
    (enclosure 1); None when the name is not in that form. Any extension, or none, is accepted."""
    if not name:
        return None
    base = re.split(r"[/\\]", to_arabic_digits(normalize_text(name)))[-1].strip()
    m = _APPENDIX7.fullmatch(base)
    if m is None or int(m["number"]) == 0:
        return None
    return Appendix7Name(
        be_year=int(m["year"]),
        latin_code=m["code"].upper(),
        number=int(m["number"]),
        circular=m["w"] is not None,
        enclosure_index=int(m["k"]) if m["k"] is not None else None,
    )


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
    return bool(_ENCLOSURE_NAME.search(normalize_text(name)))


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


# ------------------------------------------------------------------------------------------
# Finding numbers and dates inside text
# ------------------------------------------------------------------------------------------


def _month_pattern(name: str) -> str:
    # "มิ.ย." matches มิ.ย., มิย, มิ. ย. and มิ.ย (dots optional, spaces after dots allowed).
    pieces = [re.escape(p) for p in name.split(".") if p]
    return r"\.?\s*".join(pieces) + (r"\.?" if name.endswith(".") else "")


_MONTHS = "|".join(
    sorted(
        {_month_pattern(m) for m in (*MONTHS_FULL, *MONTHS_ABBR, "กรกฏาคม")},
        key=len,
        reverse=True,
    )
)
_DATE_SPAN = re.compile(
    rf"(?<![{_D}])[{_D}]{{1,2}}\s*(?:เดือน\s*)?(?:{_MONTHS})\s*(?:พ\s*\.?\s*ศ\s*\.?\s*)?"
    rf"(?:[{_D}]{{4}}|[{_D}]{{2}})(?![{_D}])"
)
_NUMERIC_DATE_SPAN = re.compile(rf"(?<![{_D}/])[{_D}]{{1,2}}/[{_D}]{{1,2}}/[{_D}]{{4}}(?![{_D}/])")
# Agency letters + unit number / [ว] number, or an order's N/พ.ศ. (thai.parse_letter_number checks).
_LETTER_NO_SPAN = re.compile(
    rf"(?<![\u0e01-\u0e4e])[ก-ฮ]{{1,6}}\.?\s*[{_D}]+(?:\s*\.\s*[{_D}]+)*\s*/\s*(?:ว\s*\.?\s*)?[{_D}]+"
    rf"|(?<![{_D}])[{_D}]{{1,5}}\s*/\s*(?:พ\s*\.?\s*ศ\s*\.?\s*)?[{_D}]{{4}}(?![{_D}])"
)


def find_thai_date(text: str) -> tuple[date, str] | None:
    """The first Thai date in ``text`` (letter, short or dd/mm/BE style) and the span it read."""
    for pattern in (_DATE_SPAN, _NUMERIC_DATE_SPAN):
        for m in pattern.finditer(text):
            found = parse_thai_date(m[0])
            if found is not None:
                return found, m[0]
    return None


def find_letter_number(text: str, *, at_start: bool = False) -> tuple[str, int, int] | None:
    """The first letter or order number in ``text``: (as printed, start, end); checked with
    ``thai.parse_letter_number``. With ``at_start`` it must begin the text."""
    if at_start:
        # Anchored: callers probe many positions of long text, so never scan ahead here.
        m = _LETTER_NO_SPAN.match(text, len(text) - len(text.lstrip()))
        matches: Iterable[re.Match[str]] = (m,) if m else ()
    else:
        matches = _LETTER_NO_SPAN.finditer(text)
    for m in matches:
        span = re.sub(r"\s+", " ", m[0]).strip()
        if parse_letter_number(span) is not None:
            return span, m.start(), m.end()
    return None


# ------------------------------------------------------------------------------------------
# Speed and secrecy words
# ------------------------------------------------------------------------------------------

_SPEED_WORDS: dict[str, Speed] = {
    "ด่วนที่สุด": Speed.MOST_URGENT,
    "ด่วนมาก": Speed.VERY_URGENT,
    "ด่วน": Speed.URGENT,
    "ปกติ": Speed.NORMAL,
}
_SECRECY_WORDS: dict[str, Secrecy] = {
    "ลับที่สุด": Secrecy.TOP_SECRET,
    "ลับมาก": Secrecy.SECRET,
    "ลับ": Secrecy.CONFIDENTIAL,
    # ปกปิด is the pre-2544 name of the lowest class; still stamped on old forms.
    "ปกปิด": Secrecy.CONFIDENTIAL,
    "ปกติ": Secrecy.NORMAL,
}
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
_CLASS_WORD = re.compile(r"ด่วนที่สุด|ด่วนมาก|ด่วนภายใน|ด่วน|ลับที่สุด|ลับมาก|ลับ|ปกปิด")
_STAMP_PUNCT = " \t!()[]{}*:-–—\"'“”"


def _class_token(segment: str) -> str | None:
    """The speed/secrecy word a segment consists of (stamps print them alone: ``ด่วนที่สุด``)."""
    token = segment.strip(_STAMP_PUNCT)
    token = re.sub(r"\s+", "", token) if len(token) <= 14 else token
    if token in _SPEED_WORDS or token in _SECRECY_WORDS:
        return token
    return None


# ------------------------------------------------------------------------------------------
# Reading a letter header
# ------------------------------------------------------------------------------------------

_SEP = r"\s*[:：]?\s*"
_LABELS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("letter_no", re.compile(rf"^(?:เลขที่หนังสือ|เลขที่|ที่){_SEP}(?P<rest>.*)$")),
    ("letter_date", re.compile(rf"^(?:ลงวันที่|ลว\.|วันที่){_SEP}(?P<rest>.+)$")),
    ("subject", re.compile(rf"^เรื่อง{_SEP}(?P<rest>.+)$")),
    ("salutation", re.compile(rf"^(?:กราบเรียน|เรียน){_SEP}(?P<rest>.+)$")),
    ("reference", re.compile(rf"^อ้างถึง{_SEP}(?P<rest>.+)$")),
    ("enclosures", re.compile(rf"^สิ่งที่ส่งมาด้วย{_SEP}(?P<rest>.+)$")),
    ("sender", re.compile(rf"^(?:จาก|ส่วนราชการ|หน่วยงานผู้ส่ง){_SEP}(?P<rest>.+)$")),
    ("recipient", re.compile(rf"^ถึง{_SEP}(?P<rest>.+)$")),
    ("speed", re.compile(rf"^ชั้นความเร็ว{_SEP}(?P<rest>.+)$")),
    ("secrecy", re.compile(rf"^ชั้นความลับ{_SEP}(?P<rest>.+)$")),
)
_ANY_LABEL = re.compile(
    r"^(?:ที่|เลขที่|เรื่อง|กราบเรียน|เรียน|อ้างถึง|สิ่งที่ส่งมาด้วย|จาก|ถึง|ส่วนราชการ|วันที่|ลงวันที่"
    r"|ชั้นความเร็ว|ชั้นความลับ|บันทึกข้อความ|คำสั่ง|ประกาศ)"
)
_TITLE = re.compile(r"^(?P<kind>คำสั่ง|ประกาศ)\s*(?P<rest>(?!ที่|ณ)\S.*)$")
_MEMO_TITLE = re.compile(r"^บันทึก\s*ข้อความ$")
_ORDER_DATE = re.compile(r"(?:สั่ง|ประกาศ)\s*ณ\s*วันที่")
_PHONE = re.compile(r"\s*(?:โทร\.?|โทรศัพท์|tel\.?)\s*[:：]?\s*[\d๐-๙].*$", re.IGNORECASE)
_ADDRESS = re.compile(
    rf"^(?:[{_D}]+\s*(?:/|หมู่|ม\.|ถนน|ถ\.)|ถนน|ถ\.|ซอย|แขวง|ตำบล|ต\.|อำเภอ|อ\.|เขต\s|กรุงเทพ|กทม"
    rf"|จังหวัด\s|จ\.|โทร|[{_D}]{{5}})"
)
_SIGN_OFF = re.compile(r"^(?:ขอแสดงความนับถือ|ด้วยความเคารพ|ขอแสดงความนับถืออย่างสูง)")
_AGENCY_WORDS = re.compile(
    r"สำนักงาน|สำนัก|กรม|กระทรวง|กอง|กลุ่ม|ฝ่าย|ศูนย์|โรงเรียน|องค์การ|องค์กร|สถาบัน|มหาวิทยาลัย"
    r"|วิทยาลัย|เทศบาล|ศาลากลาง|จังหวัด|อำเภอ|สพป|สพม|สพฐ|อบต|อบจ|การไฟฟ้า|การประปา|ธนาคาร"
    r"|สถานี|โรงพยาบาล|บริษัท|คณะ|สภา|ศาล|สถาน|หน่วย|วิทยาเขต|ค่าย|กองทัพ"
)
_STAMP_BEFORE_LABEL = re.compile(
    r"^(?:ด่วนที่สุด|ด่วนมาก|ด่วน|ลับที่สุด|ลับมาก|ลับ)\s+(?=(?:เลขที่|ที่)\s*[:：]?\s*[ก-ฮ0-9๐-๙])"
)
_EMAIL_ADDRESS = re.compile(r"\s*(?:<[^<>]*@[^<>]*>|\[mailto:[^\]]*\]|\S+@\S+)")
_MAX_HEADER_LINES = 40
_WINDOW = 80  # a letter number or a date after its label fits in this many characters
_MAX_LINES = 3000  # of a page or a body; a letter's fields are near the top
_MAX_LINE = 3000
_THAI_CHAR = re.compile(r"[\u0e01-\u0e4e]")


def _segments(raw_line: str) -> list[str]:
    # pdftotext -layout separates columns by runs of spaces; three or more is a column gap.
    parts = re.split(r"[ \t\u00a0\u2007\u202f]{3,}", raw_line)
    return [s for s in (normalize_text(p) for p in parts) if s]


def _join_wrapped(first: str, more: Iterable[str]) -> str:
    text = first
    for line in more:
        if _THAI_CHAR.match(line) and text and _THAI_CHAR.match(text[-1]):
            text += line  # a Thai line breaks between words written without spaces
        else:
            text += " " + line
    return text


def _clean_value(value: str) -> str:
    return normalize_text(value).strip(" :：-–—")


class _Found:
    """Fields found in one source, the first value for each name winning."""

    def __init__(self, source: FieldSource) -> None:
        self.source = source
        self.values: dict[str, Field[Any]] = {}

    def put(self, name: str, value: Any) -> None:
        if value is None or value == "" or name in self.values:
            return
        self.values[name] = Field(value, self.source)

    def put_class_word(self, word: str, rest: str = "") -> None:
        if word == "ด่วนภายใน":
            self.put("speed", Speed.WITHIN)
            if rest.strip():
                self.put("speed_within", _clean_value(rest))
        elif word in ("ลับที่สุด", "ลับมาก", "ลับ", "ปกปิด"):
            self.put("secrecy", _SECRECY_WORDS[word])
        elif word in _SPEED_WORDS:
            self.put("speed", _SPEED_WORDS[word])


def extract_from_text(text: str, source: FieldSource) -> dict[str, Field[Any]]:
    """Read a Thai letter header (page 1 of the PDF, or an e-mail body) into fields.

    Understands the external letter (ที่ … with the sending agency beside or under it, the date
    line, เรื่อง, เรียน, อ้างถึง, สิ่งที่ส่งมาด้วย), the บันทึกข้อความ (ส่วนราชการ … ที่ … วันที่ …),
    orders and announcements (คำสั่ง…/ประกาศ… title, สั่ง/ประกาศ ณ วันที่), explicit จาก/ถึง
    lines, the labelled lines some e-mails carry (``เลขที่หนังสือ: …``), and the speed and secrecy
    words stamped on the page. For a BODY source only labelled lines count, plus "ที่ <number>" and
    "ลงวันที่ <date>" and "เรื่อง <subject>" inside sentences, since an e-mail body is prose.
    Returns the fields found, keyed by ``FIELD_NAMES``.
    """
    found = _Found(source)
    raw_lines = [
        line[:_MAX_LINE]
        for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n", _MAX_LINES)
    ][:_MAX_LINES]
    seg_lines = [_segments(line) for line in raw_lines]
    lines = [" ".join(segs) for segs in seg_lines]
    is_pdf = source is FieldSource.PDF
    nonempty = [i for i, line in enumerate(lines) if line]
    if not nonempty:
        return {}

    # The header ends with the เรียน line (or after the first lines when there is none).
    salutation_at = next(
        (i for i in nonempty if re.match(r"^(?:กราบเรียน|เรียน)\s*[:：]?\s*\S", lines[i])), None
    )
    subject_at = next((i for i in nonempty if re.match(r"^เรื่อง\s*[:：]?\s*\S", lines[i])), None)
    header_end = (
        salutation_at + 1
        if salutation_at is not None
        else nonempty[min(len(nonempty), _MAX_HEADER_LINES) - 1] + 1
    )
    before_subject = subject_at if subject_at is not None else header_end

    if is_pdf:
        _read_title(found, lines, nonempty)
        _read_class_stamps(found, seg_lines, nonempty, before_subject)
        for i in nonempty:
            if i >= before_subject:
                break
            # "ด่วนที่สุด ที่ นร …": pdftotext joined the stamp to the ที่ line (read above).
            lines[i] = _STAMP_BEFORE_LABEL.sub("", lines[i])

    letter_no_at: int | None = None
    for i in nonempty:
        line = lines[i]
        in_header = i < header_end
        for name, pattern in _LABELS:
            m = pattern.match(line)
            if m is None:
                continue
            rest = m["rest"]
            has_colon = bool(re.match(r"^\S+\s*[:：]", line))
            if name == "letter_no":
                number = find_letter_number(rest, at_start=True)
                if number is None or (not is_pdf and not has_colon and not in_header):
                    continue
                if "letter_no" not in found.values:
                    letter_no_at = i
                found.put("letter_no", number[0])
                tail = rest[number[2] :].strip()
                date_m = re.match(r"^(?:ลง)?วันที่\s*[:：]?\s*(.+)$", tail)
                if date_m:  # บันทึกข้อความ: ที่ … วันที่ … on one line
                    when = find_thai_date(date_m[1])
                    if when:
                        found.put("letter_date", when[0])
                elif tail and is_pdf and i == letter_no_at and not _ADDRESS.match(tail):
                    # The agency printed beside ที่ (its address block's first line).
                    found.put("sender", _clean_value(_PHONE.sub("", tail)))
            elif name == "letter_date":
                if not (in_header or has_colon or line.startswith("ลงวันที่")):
                    continue
                when = find_thai_date(rest)
                if when:
                    found.put("letter_date", when[0])
            elif name == "subject":
                if is_pdf:
                    found.put("subject", _clean_value(_join_wrapped(rest, _continuation(lines, i))))
                else:
                    # An e-mail's เรื่อง: line is often a quoted subject ("เรื่อง: ด่วนที่สุด ที่ …
                    # เรื่อง …" in an Outlook inline forward): read it as a subject line.
                    for key, field in extract_from_subject(rest).items():
                        found.put(key, field.value)
            elif name in ("speed", "secrecy"):
                word = _class_token(rest.split(" ")[0]) or rest.strip()
                if name == "speed" and word.startswith("ด่วนภายใน"):
                    found.put_class_word("ด่วนภายใน", word.removeprefix("ด่วนภายใน"))
                elif name == "speed" and word in _SPEED_WORDS:
                    found.put("speed", _SPEED_WORDS[word])
                elif name == "secrecy" and word in _SECRECY_WORDS:
                    found.put("secrecy", _SECRECY_WORDS[word])
            elif name in ("sender", "recipient"):
                if not (in_header or has_colon):
                    continue
                value = _clean_value(_PHONE.sub("", _EMAIL_ADDRESS.sub("", rest)))
                if "@" in value or not value:
                    continue  # "ถึง: saraban@…" in a forwarded header block names a mailbox
                if line.startswith("ส่วนราชการ") and is_pdf:
                    found.put("kind", LetterKind.MEMO)
                found.put(name, value)
            elif name in ("reference", "enclosures"):
                follow = _continuation(lines, i, numbered=name == "enclosures") if is_pdf else []
                found.put(name, _clean_value(_join_wrapped(rest, follow)))
            else:  # salutation
                found.put(name, _clean_value(rest))
            break

    if is_pdf:
        _read_pdf_layout(found, lines, nonempty, letter_no_at, before_subject)
    else:
        _read_prose(found, lines)
    return found.values


_BODY_START = re.compile(r"^(?:ตามที่|ตาม|ด้วย|เนื่องด้วย|เนื่องจาก|ในการนี้|เพื่อให้|โดยที่|อาศัย)")
_RULE = re.compile(r"^[-_=.·•*\s]{3,}$")
_NUMBERED = re.compile(rf"^[{_D}]+\s*[.)]")


def _continuation(lines: list[str], at: int, *, numbered: bool = False) -> list[str]:
    """Lines that continue a wrapped label value, at most three: not blank, not another label,
    not a rule or the first body paragraph; numbered items only for lists (สิ่งที่ส่งมาด้วย ๑. ๒.)."""
    out: list[str] = []
    for line in lines[at + 1 : at + 4]:
        if not line or _ANY_LABEL.match(line) or _SIGN_OFF.match(line) or _RULE.match(line):
            break
        if _BODY_START.match(line) or (_NUMBERED.match(line) and not numbered):
            break
        out.append(line)
    return out


def _read_title(found: _Found, lines: list[str], nonempty: list[int]) -> None:
    for i in nonempty[:6]:
        line = lines[i]
        if _MEMO_TITLE.match(line):
            found.put("kind", LetterKind.MEMO)
            return
        m = _TITLE.match(line)
        if m:
            kind = LetterKind.ORDER if m["kind"] == "คำสั่ง" else LetterKind.ANNOUNCEMENT
            found.put("kind", kind)
            # คำสั่งสำนักงานเขตพื้นที่… : the issuer is the rest of the title line.
            found.put("sender", _clean_value(m["rest"]))
            return


def _read_class_stamps(
    found: _Found, seg_lines: list[list[str]], nonempty: list[int], before_subject: int
) -> None:
    """Speed and secrecy stamps: a segment that is only the word, above the subject; secrecy is
    also stamped at the foot of the page."""
    top = [i for i in nonempty if i < before_subject]
    bottom = nonempty[-3:]
    for i in dict.fromkeys([*top, *bottom]):
        for seg in seg_lines[i]:
            m = re.match(r"^ด่วนภายใน\s*(.*)$", seg)
            if m and i in top:
                found.put_class_word("ด่วนภายใน", m[1])
                continue
            token = _class_token(seg)
            if token is None:
                # "ด่วนที่สุด ที่ ศธ …" — a stamp that pdftotext put on the ที่ line.
                first = seg.split(" ", 1)[0]
                token = _class_token(first) if " " in seg else None
            if token is None or token == "ปกติ":
                continue
            if token in _SPEED_WORDS and i in top or token in _SECRECY_WORDS:
                found.put_class_word(token)


def _read_pdf_layout(
    found: _Found,
    lines: list[str],
    nonempty: list[int],
    letter_no_at: int | None,
    before_subject: int,
) -> None:
    """What an external letter says by position rather than by label: the date line and the
    sending agency's address block."""
    header = [i for i in nonempty if i < before_subject]
    if "letter_date" not in found.values:
        for i in header:
            if lines[i].startswith(("อ้างถึง", "สิ่งที่ส่งมาด้วย")) or _CLASS_WORD.search(lines[i]):
                continue  # a referenced letter's date, or a ด่วนภายใน deadline
            when = find_thai_date(lines[i])
            if when:
                found.put("letter_date", when[0])
                break
    if "letter_date" not in found.values:
        for i in nonempty:
            m = _ORDER_DATE.search(lines[i])
            if m:
                when = find_thai_date(lines[i][m.end() :])
                if when:
                    found.put("letter_date", when[0])
                    break
    if "sender" not in found.values and letter_no_at is not None:
        for i in header:
            if i <= letter_no_at:
                continue
            line = lines[i]
            if find_thai_date(line) or _ANY_LABEL.match(line) or _class_token(line):
                break
            if not _ADDRESS.match(line):
                found.put("sender", _clean_value(_PHONE.sub("", line)))
                break
    if "kind" not in found.values and "letter_no" in found.values:
        number = parse_letter_number(found.values["letter_no"].value)
        if number is not None and number.is_order:
            found.put("kind", LetterKind.ORDER)
        elif "salutation" in found.values:
            found.put("kind", LetterKind.EXTERNAL)


_INLINE_NUMBER = re.compile(r"(?:^|\s|หนังสือ)(?:ที่|เลขที่)\s*[:：]?\s*(?=[ก-ฮ0-9๐-๙])")
_INLINE_DATE = re.compile(r"(?:ลงวันที่|ลว\.)\s*[:：]?\s*")
_INLINE_SUBJECT = re.compile(
    r"(?:^|\s)เรื่อง\s*[:：]?\s*(?P<subject>.+?)"
    r"(?=\s+(?:โดยมี|โดย|มาเพื่อ|มายัง|มาพร้อม|ตามที่|รายละเอียด|ดังแนบ|ตามแนบ|จึงเรียน)|$)"
)


def _read_prose(found: _Found, lines: list[str]) -> None:
    """Fields mentioned inside sentences of an e-mail body (DGA: "ขอส่งหนังสือ เรื่อง …")."""
    for line in lines:
        if "letter_no" not in found.values:
            for m in _INLINE_NUMBER.finditer(line):
                number = find_letter_number(line[m.end() : m.end() + _WINDOW], at_start=True)
                if number:
                    found.put("letter_no", number[0])
                    break
        if "letter_date" not in found.values:
            for m in _INLINE_DATE.finditer(line):
                window = line[m.end() : m.end() + _WINDOW]
                when = find_thai_date(window)
                if when and window.startswith(when[1][:1]):
                    found.put("letter_date", when[0])
                    break
        if "subject" not in found.values:
            subject = _INLINE_SUBJECT.search(line)
            if subject:
                found.put("subject", _clean_value(subject["subject"]))
    if "sender" not in found.values:
        sender = _signature_agency(lines)
        if sender:
            found.put("sender", sender)


def _signature_agency(lines: list[str]) -> str | None:
    """The sending agency named under ขอแสดงความนับถือ (the DGA e-mail layout, domain.md §5.4)."""
    for i, line in enumerate(lines):
        if not _SIGN_OFF.match(line):
            continue
        for candidate in lines[i + 1 : i + 7]:
            if not candidate or candidate.startswith("("):
                continue
            if _AGENCY_WORDS.search(candidate) and not _PHONE.match(candidate):
                return _clean_value(_PHONE.sub("", candidate))
        return None
    return None


# ------------------------------------------------------------------------------------------
# Subject line and file name
# ------------------------------------------------------------------------------------------

_REPLY_PREFIX = re.compile(
    r"^\s*(?:(?:re|fw|fwd|aw|wg|tr|rv|sv|vs|ตอบกลับ|ตอบ|ส่งต่อ)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]"
    r"|\[[^\]]{0,60}\])\s*",
    re.IGNORECASE,
)
_LEADING_CLASS = re.compile(
    r"^[\s(\[【]*(?P<word>ด่วนที่สุด|ด่วนมาก|ด่วน|ลับที่สุด|ลับมาก|ลับ)[\s)\]】!*:.,-]*(?=\s|$|ที่)"
)
# Subjects that describe the e-mail, not the letter: they must not become the letter's เรื่อง.
_ENVELOPE_SUBJECT = re.compile(
    r"^(?:(?:ขอ|นำ)?ส่ง(?:หนังสือ(?:ราชการ)?)?|หนังสือราชการ|แจ้งหนังสือ(?:ราชการ)?"
    r"|ขอออกเลข(?:รับ|ส่ง)\S*.*|ขอเลข(?:รับ|ส่ง).*|ลงรับ.*)$"
)
_GENERIC_SUBJECT_PREFIX = re.compile(r"^(?:(?:ขอ|นำ)?ส่งหนังสือ(?:ราชการ)?|หนังสือราชการ)\s+")


def extract_from_subject(subject: str) -> dict[str, Field[Any]]:
    """Fields from an e-mail subject: ``Fw:``/``ตอบกลับ:`` and ``[tags]`` are stripped; a leading
    speed or secrecy word, ``ที่ <number>``, ``ลงวันที่``/``ลว. <date>`` and ``เรื่อง <subject>``
    are read; what remains is the subject unless it only describes the e-mail ("ส่งหนังสือ")."""
    found = _Found(FieldSource.SUBJECT)
    s = normalize_text(subject[:_MAX_LINE])
    while True:
        m = _REPLY_PREFIX.match(s) or _LEADING_CLASS.match(s)
        if m is None or not m[0]:
            break
        if m.re is _LEADING_CLASS:
            found.put_class_word(m["word"])
        s = s[m.end() :].lstrip()
    subject_part: str | None = None
    m = re.search(r"(?:^|\s)เรื่อง\s*[:：]?\s*", s)
    if m:
        subject_part = s[m.end() :]
        s = s[: m.start()]
    for m in _INLINE_NUMBER.finditer(s):
        number = find_letter_number(s[m.end() : m.end() + _WINDOW], at_start=True)
        if number:
            found.put("letter_no", number[0])
            s = s[: m.start()] + " " + s[m.end() + number[2] :]
            break
    m = _INLINE_DATE.search(s)
    if m:
        when = find_thai_date(s[m.end() : m.end() + _WINDOW])
        if when and s[m.end() :].lstrip().startswith(when[1][:1]):
            found.put("letter_date", when[0])
            end = s.index(when[1], m.end()) + len(when[1])
            s = s[: m.start()] + " " + s[end:]
    if subject_part is None:
        rest = normalize_text(s).strip(" -–—:,")
        rest = _GENERIC_SUBJECT_PREFIX.sub("", rest)
        subject_part = rest
    subject_part = _clean_value(subject_part)
    if (
        subject_part
        and not _ENVELOPE_SUBJECT.match(subject_part)
        and parse_appendix7_filename(subject_part) is None
    ):
        found.put("subject", subject_part)
    return found.values


def extract_from_filename(name: str | None) -> dict[str, Field[Any]]:
    """Fields a file name can give: a letter number written with ``-`` or ``_`` for ``/``
    (``หนังสือ มท 0808.2-ว4567.pdf``, ``คำสั่ง 12-2566.pdf``), a date, and a Thai subject.
    Appendix 7 names give none (their Latin code is not the Thai letter code); see
    ``parse_appendix7_filename``."""
    found = _Found(FieldSource.FILENAME)
    if not name or parse_appendix7_filename(name) is not None:
        return {}
    stem = re.split(r"[/\\]", normalize_text(name[-_MAX_LINE:]))[-1]
    stem = re.sub(r"\.[A-Za-z0-9]{1,5}$", "", stem).strip()
    slashed = re.sub(rf"([{_D}])\s*[-_]\s*((?:ว\s*)?[{_D}])", r"\1/\2", stem).replace("_", " ")
    number = find_letter_number(slashed)
    if number is not None:
        found.put("letter_no", number[0])
        slashed = slashed[: number[1]] + " " + slashed[number[2] :]
    when = find_thai_date(slashed)
    if when is not None:
        found.put("letter_date", when[0])
        slashed = slashed.replace(when[1], " ")
    rest = _clean_value(re.sub(r"^(?:หนังสือ|เรื่อง|คำสั่ง|ที่)\s*", "", normalize_text(slashed)))
    if len(_THAI_CHAR.findall(rest)) >= 6 and not _ENCLOSURE_NAME.search(rest):
        found.put("subject", rest)
    return found.values


# ------------------------------------------------------------------------------------------
# XML fields
# ------------------------------------------------------------------------------------------

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


def _from_xml(xml_fields: Mapping[str, Any]) -> dict[str, Field[Any]]:
    found = _Found(FieldSource.XML)
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
            speed = _coerce(value, Speed, _SPEED_WORDS, _SPEED_CODES)
            found.put(name, speed)
        elif name == "secrecy":
            found.put(name, _coerce(value, Secrecy, _SECRECY_WORDS, _SECRECY_CODES))
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


# ------------------------------------------------------------------------------------------
# Merging the sources
# ------------------------------------------------------------------------------------------


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
) -> LetterFields:
    """Merge every source into one LetterFields, the most trusted value winning per field.

    Trust order (domain.md §5.5): XML, page 1 of the PDF, the e-mail subject (the outer one, then
    those of forwarded messages), the body (likewise), the main file's name; the sender falls back
    to the From display name or address (``FieldSource.EMAIL``; a forwarded message's original
    From before the forwarder's). Two deliberate exceptions: **secrecy takes the highest class any
    source shows** (a secret letter misread as normal would be forwarded in clear; the reverse
    only costs a review), and **recipient** falls back to the เรียน addressee. Lower-trust values
    that disagree with the chosen one are kept in ``alternatives``.

    ``xml_fields`` keys are matched loosely (``letter_no``/``ID``, ``letter_date``/
    ``CorrespondenceDate``, ``subject``, ``sender``, ``recipient``/``receiver``, ``speed``/
    ``speed_code``, ``secrecy``/``secret_code``, ``salutation``, ``reference``, ``enclosures``/
    ``attachment``); dates may be ``date`` or ISO text, speed and secrecy the enums, their Thai
    words or the e-GIF codes 001–004.
    """
    layers: list[dict[str, Field[Any]]] = []
    if xml_fields:
        layers.append(_from_xml(xml_fields))
    if pdf_page1_text and pdf_page1_text.strip():
        layers.append(extract_from_text(pdf_page1_text, FieldSource.PDF))
    messages = [msg, *msg.forwarded]
    layers.extend(extract_from_subject(m.subject) for m in messages)
    layers.extend(extract_from_text(m.body_text, FieldSource.BODY) for m in messages)
    layers.append(extract_from_filename(main_filename))
    email_sender = _email_sender([*msg.forwarded, msg])
    if email_sender is not None:
        layers.append({"sender": email_sender})

    chosen: dict[str, Field[Any]] = {}
    alternatives: list[tuple[str, Field[Any]]] = []
    for name in FIELD_NAMES:
        candidates = [layer[name] for layer in layers if name in layer]
        candidates.sort(key=lambda f: _TRUST_ORDER.index(f.source))  # stable within a source
        if not candidates:
            continue
        if name == "secrecy":
            best = max(candidates, key=lambda f: f.value.rank)
        else:
            best = candidates[0]
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
    return LetterFields(
        **chosen,
        file_name_ref=parse_appendix7_filename(main_filename),
        alternatives=tuple(alternatives),
    )


def _email_sender(messages: Sequence[ParsedMessage]) -> Field[str] | None:
    for m in messages:
        name = normalize_text(m.from_name or "")
        if name and "@" not in name:
            return Field(name, FieldSource.EMAIL)
        if m.from_addr:
            return Field(m.from_addr, FieldSource.EMAIL)
    return None
