"""The Thai letter header read from text: page 1 of the PDF, or an e-mail body (pure).

Page-1 text comes from pdftotext (``-layout`` or not), so everything here tolerates Thai digits,
a split ``ํา``, runs of spaces, zero-width characters and columns on one line. A PDF is read by
its labels and by position (the date line, the agency's address block, stamps); a body by its
labelled lines and by what its sentences mention.
"""

from __future__ import annotations

import re
from typing import Any

from gateway.core.extract.labels import match_label
from gateway.core.extract.layout import (
    Line,
    agency_lines,
    full_width,
    is_label_line,
    join_wrapped,
    reaches_right,
    stamp_word,
)
from gateway.core.extract.subject import extract_from_subject
from gateway.core.extract.words import (
    DIGIT,
    INLINE_DATE,
    INLINE_NUMBER,
    MAX_LINE,
    SECRECY_WORDS,
    SPEED_WORDS,
    WINDOW,
    Found,
    class_token,
    clean_value,
    find_letter_number,
    find_thai_date,
)
from gateway.letter import Field, FieldSource, LetterKind
from gateway.thai import normalize_text, parse_letter_number

__all__ = ["extract_from_text"]

_CLASS_WORD = re.compile(r"ด่วนที่สุด|ด่วนมาก|ด่วนภายใน|ด่วน|ลับที่สุด|ลับมาก|ลับ|ปกปิด")
_TITLE = re.compile(r"^(?P<kind>คำสั่ง|ประกาศ)\s*(?P<rest>(?!ที่|ณ)\S.*)$")
_MEMO_TITLE = re.compile(r"^บันทึก\s*ข้อความ$")
_ORDER_DATE = re.compile(r"(?:สั่ง|ประกาศ)\s*ณ\s*วันที่")
_PHONE = re.compile(r"\s*(?:โทร\.?|โทรศัพท์|tel\.?)\s*[:：]?\s*[\d๐-๙].*$", re.IGNORECASE)
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
_MAX_LINES = 3000  # of a page or a body; a letter's fields are near the top


def _segments(raw_line: str) -> list[str]:
    # pdftotext -layout separates columns by runs of spaces; three or more is a column gap.
    parts = re.split(r"[ \t\u00a0\u2007\u202f]{3,}", raw_line)
    return [s for s in (normalize_text(p) for p in parts) if s]


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
    found = Found(source)
    raw_lines = [
        line[:MAX_LINE]
        for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n", _MAX_LINES)
    ][:_MAX_LINES]
    seg_lines = [_segments(line) for line in raw_lines]
    lines = [" ".join(segs) for segs in seg_lines]
    is_pdf = source in (FieldSource.PDF, FieldSource.OCR)  # a page read: its layout counts
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
    letter_no_tail = ""
    page_width = full_width([Line(lines[i]) for i in nonempty]) if is_pdf else 0
    for i in nonempty:
        line = lines[i]
        in_header = i < header_end
        m = match_label(line)
        if m is None:
            continue
        name, rest, has_colon = m.label.field, m.rest, m.colon
        # A body is prose: a short label (ที่, จาก, เรื่อง) starts sentences too, so it counts
        # with a colon or in the header block; a long one (เลขที่หนังสือ) counts anywhere.
        said = has_colon or m.long
        if name == "letter_no":
            number = find_letter_number(rest, at_start=True)
            if number is None or (not is_pdf and not said and not in_header):
                continue
            if is_pdf and (letter_no_at is not None or i >= before_subject):
                continue  # a ที่ inside อ้างถึง or the body names another letter
            if "letter_no" not in found.values:
                letter_no_at = i
            found.put("letter_no", number[0])
            tail = rest[number[2] :].strip()
            date_m = re.match(r"^(?:ลง)?วันที่\s*[:：]?\s*(.+)$", tail)
            if date_m:  # บันทึกข้อความ: ที่ … วันที่ … on one line
                when = find_thai_date(date_m[1])
                if when:
                    found.put("letter_date", when[0])
            elif is_pdf:
                letter_no_tail = clean_value(_PHONE.sub("", tail))
        elif name == "letter_date":
            if is_pdf and i >= before_subject:
                continue  # ลงวันที่ of a letter in อ้างถึง, wrapped onto its own line
            if not (in_header or said or line.startswith("ลงวันที่")):
                continue
            when = find_thai_date(rest)
            if when:
                found.put("letter_date", when[0])
        elif name == "subject":
            if is_pdf:
                more = _continuation(lines, i, page_width=page_width)
                found.put("subject", clean_value(join_wrapped(rest, more)))
            elif m.word == "ชื่อเรื่อง":
                found.put("subject", clean_value(rest))
            else:
                # An e-mail's เรื่อง: line is often a quoted subject ("เรื่อง: ด่วนที่สุด ที่ …
                # เรื่อง …" in an Outlook inline forward): read it as a subject line.
                for key, field in extract_from_subject(rest).items():
                    found.put(key, field.value)
        elif name in ("speed", "secrecy"):
            word = class_token(rest.split(" ")[0]) or rest.strip()
            if name == "speed" and word.startswith("ด่วนภายใน"):
                found.put_class_word("ด่วนภายใน", word.removeprefix("ด่วนภายใน"))
            elif name == "speed" and word in SPEED_WORDS:
                found.put("speed", SPEED_WORDS[word])
            elif name == "secrecy" and word in SECRECY_WORDS:
                found.put("secrecy", SECRECY_WORDS[word])
        elif name in ("sender", "recipient"):
            if not (in_header or said):
                continue
            value = clean_value(_PHONE.sub("", _EMAIL_ADDRESS.sub("", rest)))
            if "@" in value or not value:
                continue  # "ถึง: saraban@…" in a forwarded header block names a mailbox
            if m.word == "ส่วนราชการ" and is_pdf:
                found.put("kind", LetterKind.MEMO)
            found.put(name, value)
        elif name in ("reference", "enclosures"):
            follow = _continuation(lines, i, numbered=name == "enclosures") if is_pdf else []
            found.put(name, clean_value(join_wrapped(rest, follow)))
        elif is_pdf:  # salutation: เรียน may wrap when it runs to the margin
            more = _wrapped_lines(lines, i, page_width)
            found.put(name, clean_value(join_wrapped(rest, more)))
        else:
            found.put(name, clean_value(rest))

    if is_pdf:
        _read_pdf_layout(found, lines, nonempty, letter_no_at, letter_no_tail, before_subject)
    else:
        _read_prose(found, lines)
    return found.values


_BODY_START = re.compile(r"^(?:ตามที่|ตาม|ด้วย|เนื่องด้วย|เนื่องจาก|ในการนี้|เพื่อให้|โดยที่|อาศัย)")
_RULE = re.compile(r"^[-_=.·•*\s]{3,}$")
_NUMBERED = re.compile(rf"^[{DIGIT}]+\s*[.)]")


def _continuation(
    lines: list[str], at: int, *, numbered: bool = False, page_width: int = 0
) -> list[str]:
    """Lines that continue a wrapped label value, at most three: not blank, not another label,
    not a rule or the first body paragraph; numbered items only for lists (สิ่งที่ส่งมาด้วย ๑. ๒.).
    With ``page_width``, a line that starts like a paragraph (``ด้วยวิธี…``) still continues a
    line above it that runs to the right margin."""
    out: list[str] = []
    above = lines[at]
    for line in lines[at + 1 : at + 4]:
        if not line or is_label_line(line) or _SIGN_OFF.match(line) or _RULE.match(line):
            break
        if _NUMBERED.match(line) and not numbered:
            break
        if _BODY_START.match(line) and not (page_width and reaches_right(Line(above), page_width)):
            break
        out.append(line)
        above = line
    return out


def _wrapped_lines(lines: list[str], at: int, page_width: int) -> list[str]:
    """The lines a value at ``lines[at]`` wrapped onto: while the line above runs to the right
    margin (``layout.reaches_right``), at most two more; never a label or a body paragraph."""
    out: list[str] = []
    above = lines[at]
    for line in _continuation(lines, at)[:2]:
        if not reaches_right(Line(above), page_width):
            break
        out.append(line)
        above = line
    return out


def _read_title(found: Found, lines: list[str], nonempty: list[int]) -> None:
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
            found.put("sender", clean_value(m["rest"]))
            return


def _read_class_stamps(
    found: Found, seg_lines: list[list[str]], nonempty: list[int], before_subject: int
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
            token = stamp_word(seg)
            if token is None:
                # "ด่วนที่สุด ที่ ศธ …" — a stamp that pdftotext put on the ที่ line.
                first = seg.split(" ", 1)[0]
                token = stamp_word(first) if " " in seg else None
            if token is None or token == "ปกติ":
                continue
            if token in SPEED_WORDS and i in top or token in SECRECY_WORDS:
                found.put_class_word(token)


def _read_pdf_layout(
    found: Found,
    lines: list[str],
    nonempty: list[int],
    letter_no_at: int | None,
    letter_no_tail: str,
    before_subject: int,
) -> None:
    """What an external letter says by position rather than by label (``layout``): its own
    date (after ``ที่``, before ``เรื่อง``) and the sending agency in the letterhead."""
    header = [i for i in nonempty if i < before_subject]
    if "letter_date" not in found.values:
        # After ที่ first; a letterhead that prints the date above ที่ is read after that.
        after = [i for i in header if letter_no_at is None or i > letter_no_at]
        for i in after + [i for i in header if i not in after]:
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
    if "sender" not in found.values and (letter_no_at is not None or header):
        agency = agency_lines(lines, letter_no_at, letter_no_tail, before_subject)
        if agency:
            found.put("sender", clean_value(_PHONE.sub("", join_wrapped(agency[0], agency[1:]))))
    if "kind" not in found.values and "letter_no" in found.values:
        number = parse_letter_number(found.values["letter_no"].value)
        if number is not None and number.is_order:
            found.put("kind", LetterKind.ORDER)
        elif "salutation" in found.values:
            found.put("kind", LetterKind.EXTERNAL)


_INLINE_SUBJECT = re.compile(
    r"(?:^|\s)เรื่อง\s*[:：]?\s*(?P<subject>.+?)"
    r"(?=\s+(?:โดยมี|โดย|มาเพื่อ|มายัง|มาพร้อม|ตามที่|รายละเอียด|ดังแนบ|ตามแนบ|จึงเรียน)|$)"
)


def _read_prose(found: Found, lines: list[str]) -> None:
    """Fields mentioned inside sentences of an e-mail body (DGA: "ขอส่งหนังสือ เรื่อง …")."""
    for line in lines:
        if "letter_no" not in found.values:
            for m in INLINE_NUMBER.finditer(line):
                number = find_letter_number(line[m.end() : m.end() + WINDOW], at_start=True)
                if number:
                    found.put("letter_no", number[0])
                    break
        if "letter_date" not in found.values:
            for m in INLINE_DATE.finditer(line):
                window = line[m.end() : m.end() + WINDOW]
                when = find_thai_date(window)
                if when and window.startswith(when[1][:1]):
                    found.put("letter_date", when[0])
                    break
        if "subject" not in found.values:
            subject = _INLINE_SUBJECT.search(line)
            if subject:
                found.put("subject", clean_value(subject["subject"]))
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
                return clean_value(_PHONE.sub("", candidate))
        return None
    return None

