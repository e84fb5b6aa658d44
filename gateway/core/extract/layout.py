"""The layout of page 1 of a Thai letter: where its own date, its sending agency and its
wrapped lines are (pure).

The rules (ระเบียบงานสารบรรณ's external letter, as agencies print it):

- the letter's own date is the one after ``ที่`` and before ``เรื่อง``; never a date inside
  ``อ้างถึง``, ``สิ่งที่ส่งมาด้วย`` or the body, which all come after ``เรื่อง``;
- the sending agency stands in the letterhead *beside* ``ที่`` (the rest of its line, wrapped
  onto the next lines), *below* it (the lines after it) or *above* it (before ``ที่``); in every
  case it is the line(s) just before the agency's address, and an address line is known by
  its words (เลขที่, ถนน, แขวง, เขต, ตำบล, อำเภอ, จังหวัด, a postcode…);
- ``เรียน`` and ``เรื่อง`` may wrap to two or three lines;
- speed and secrecy stamps stand above ``ที่`` or at the top of the page (``letterhead``).

**What decides.** Today a reader gets only the text, line by line, in reading order (pdftotext,
pypdf): a line *wraps* when it is as wide as the page's full lines, measured in characters
without combining marks. A reader that knows where each line stands on the page gives
``Line.x1`` (its right edge, as a fraction of the text block's width): then the position
decides (``reaches_right``), and nothing else here changes. That is the seam for positions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.core.extract.labels import ANY_LABEL, has_junk, skeleton
from gateway.core.extract.words import DIGIT, THAI_CHAR, class_token, find_thai_date

__all__ = [
    "Line",
    "agency_lines",
    "is_address",
    "is_label_line",
    "join_wrapped",
    "reaches_right",
    "stamp_word",
    "without_print_margins",
]

_MARKS = re.compile(r"[\u0e31\u0e34-\u0e3a\u0e47-\u0e4e]")
_FULL_LINE = 0.9  # a line this close to the page's full width is a wrapped one
_FULL_X1 = 0.93  # the same, from a position: right edge as a fraction of the text width


@dataclass(frozen=True, slots=True)
class Line:
    """One line of page 1: its text (normalised) and, when the reader knows it, where it ends
    on the page (``x1``, 0..1 of the text block's width)."""

    text: str
    x1: float | None = None

    @property
    def width(self) -> int:
        """Characters that take room on the line (Thai marks above and below do not)."""
        return len(_MARKS.sub("", self.text))


def full_width(lines: Sequence[Line]) -> int:
    """The width of the page's full lines: the 90th percentile of the line widths (a page's
    body paragraphs run to the margin; a few lines, a URL or a table row, may be wider)."""
    widths = sorted(line.width for line in lines if line.text)
    if not widths:
        return 0
    return widths[min(len(widths) - 1, int(len(widths) * 0.9))]


def reaches_right(line: Line, page_width: int) -> bool:
    """The line runs to the right margin, so its value may go on on the next line."""
    if line.x1 is not None:
        return line.x1 >= _FULL_X1
    return page_width > 0 and line.width >= _FULL_LINE * page_width


# Words a Thai title sets off with a space (a phrase separator): the year, the fiscal or
# school year, a post, a case, a round. Where a line breaks right before one, the break took
# the space: the PDF keeps no trace of it (Chromium and fpdf2 draw no glyph for a space a line
# ends on; PDFium reports only its own line break), so the word decides.
_PHRASE_OPENER = re.compile(
    r"^(?:พ\.\s?ศ\.|ประจำปี|ปีการศึกษา|ภาคเรียนที่|ตำแหน่ง|กรณี|ครั้งที่|รอบที่"
    r"|ไตรมาสที่|ระหว่างวันที่|ณ\s|ทุก(?:เขต|อำเภอ|จังหวัด|หน่วย|แห่ง|โรงเรียน))"
)


def join_wrapped(first: str, more: Sequence[str]) -> str:
    """A value wrapped over lines, joined: Thai text breaks between words written without
    spaces, unless the next line begins a phrase a Thai title sets off with a space
    (``…การดำเนินงาน`` / ``ประจำปีงบประมาณ``); a number broken inside (``พ.ศ. 2`` / ``569``)
    is one number."""
    text = first
    for line in more:
        if not text:
            text = line
        elif _PHRASE_OPENER.match(line) and not text.endswith(" "):
            text += " " + line
        elif (THAI_CHAR.match(line) and THAI_CHAR.match(text[-1])) or (
            re.match(rf"[{DIGIT}]", line) and re.search(rf"[{DIGIT}]$", text)
        ):
            text += line
        else:
            text += " " + line
    return text


# ------------------------------------------------------------------------------------------
# Labels, stamps and addresses, read through junk
# ------------------------------------------------------------------------------------------

_LONG_LABELS = tuple(skeleton(w) for w in ("อ้างถึง", "สิ่งที่ส่งมาด้วย", "เรียน", "เรื่อง"))
_STAMPS = {skeleton(w): w for w in ("ด่วนที่สุด", "ด่วนมาก", "ด่วน", "ลับที่สุด", "ลับมาก", "ลับ")}


def is_label_line(text: str) -> bool:
    """A line that starts a labelled block; a line whose tone marks were lost to junk
    (``อ\\uf70bางถึง``) still counts for the long labels."""
    if ANY_LABEL.match(text):
        return True
    return has_junk(text) and skeleton(text).startswith(_LONG_LABELS)


def stamp_word(segment: str) -> str | None:
    """The speed or secrecy word a segment consists of; read through junk when the segment
    has some (``ด\\uf70aวน`` is ด่วน) and is nothing but that word, and through tone marks a
    PDF printed again lost (``ดวนทีสุด``, cairo's reprint of a bold stamp, is ด่วนที่สุด:
    no Thai word is spelt so)."""
    token = class_token(segment)
    if token is not None:
        return token
    return _STAMPS.get(skeleton(segment.strip(" !()[]*:-")))


_ADDRESS_WORD = re.compile(
    rf"(?:^|\s)(?:เลขที่\s*[{DIGIT}]|[{DIGIT}]+\s*/\s*[{DIGIT}]|หมู่(?:ที่)?\s*[{DIGIT}]"
    rf"|ม\.\s*[{DIGIT}]|ถนน|ถ\.|ซอย|ซ\.|แขวง|ตำบล|ต\.|อำเภอ|อ\.|เขต(?!\s*[{DIGIT}]|พื้นที่)"
    rf"|จังหวัด|จ\.|กรุงเทพ|กทม|ศาลากลาง|อาคาร|ชั้น(?:ที่)?\s*[{DIGIT}]|ตู้\s*ป|ป\.\s*ณ\.|ศูนย์ราชการ"
    rf"|ทำเนียบ|โทร|[{DIGIT}]{{5}}(?![{DIGIT}]))"
)
_AGENCY_START = re.compile(r"^(?:กระทรวง|กรม|สำนักงาน|สำนัก|กอง|กลุ่ม|ฝ่าย|ศูนย์|หน่วย)")


def is_address(text: str) -> bool:
    """An address line of a letterhead: a house number, road, sub-district, district,
    province or postcode word (``เขต ๓`` of an educational area and ``เขตพื้นที่`` are part of
    an agency's name, not its address)."""
    return _ADDRESS_WORD.search(text) is not None


def _stop(text: str) -> bool:
    """A line that ends a letterhead's agency block."""
    return (
        not text
        or is_address(text)
        or find_thai_date(text) is not None
        or is_label_line(text)
        or stamp_word(text) is not None
    )


def agency_lines(lines: Sequence[str], number_at: int | None, tail: str, end: int) -> list[str]:
    """The line(s) naming the sending agency in a letterhead, in order (join with
    ``join_wrapped``); ``lines`` are the page's lines, ``number_at`` the ``ที่`` line, ``tail``
    what stands right of the letter number on it, ``end`` the ``เรื่อง`` line.

    Beside or below ``ที่``: the tail (unless it is already the address) and the lines after it
    up to the address, the date, a label or a line that names another unit (``กระทรวง…``
    under ``สำนักงานปลัดกระทรวง…``; from text alone a name wrapped right before such a word
    cannot be told from it), at most three. Above ``ที่``: the lines before the
    first address line above it (stamps and titles left out), at most three.
    """
    found: list[str] = []
    if number_at is not None:
        if tail and not _stop(tail):
            found.append(tail)
        for text in lines[number_at + 1 : end]:
            if not text:
                continue
            if _stop(text) or len(found) == 3 or (found and _AGENCY_START.match(text)):
                break  # a line naming another unit (its ministry) is not the name wrapped
            found.append(text)
        if found:
            return found
    top = [t for t in lines[: number_at if number_at is not None else end] if t]
    top = [t for t in top if stamp_word(t) is None and not is_label_line(t)]
    first_address = next((k for k, t in enumerate(top) if is_address(t)), None)
    if first_address:
        return top[max(0, first_address - 3) : first_address]
    return []


# A web browser's "Print" puts its own lines on the page, outside the letter: Chromium and Edge a
# header with the date and time, then the page's title ("12/7/26, 2:37 PM <title>",
# "7/12/69 14:37 <title>"), and a footer with the page's address and the page count
# ("https://esaraban…/view?id=12 1/2"). Read as the letter's, the header came before its
# letterhead and the agency beside ที่ was lost.
_PRINT_HEADER = re.compile(rf"^[{DIGIT}]{{1,2}}/[{DIGIT}]{{1,2}}/[{DIGIT}]{{2,4}},?\s+"
                           rf"[{DIGIT}]{{1,2}}[:.][{DIGIT}]{{2}}(?:\s*[AaPp]\.?[Mm]\.?)?(?:\s|$)")
_PRINT_FOOTER = re.compile(rf"^(?:(?:https?|file)://\S+(?:\s+[{DIGIT}]+\s*/\s*[{DIGIT}]+)?"
                           rf"|[{DIGIT}]+\s*/\s*[{DIGIT}]+)$")


def without_print_margins(text: str) -> str:
    """A page's text without the header and footer lines a web browser printed on it."""
    lines = text.split("\n")
    filled = [i for i, line in enumerate(lines) if line.strip()]
    if not filled:
        return text
    drop = set()
    if _PRINT_HEADER.match(lines[filled[0]].strip()):
        drop.add(filled[0])
    for i in reversed(filled[1:]):
        if not _PRINT_FOOTER.match(lines[i].strip()):
            break
        drop.add(i)
    return "\n".join(line for i, line in enumerate(lines) if i not in drop) if drop else text
