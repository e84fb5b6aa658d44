"""A clerk's correction reply, read: the fields given, the one command, the lines not read (pure).

The clerk answers a review copy (`[ตรวจ L<id>]`, gateway/inbound/review_copy.py) or a findable
copy (`[รับ n/ปี]`) from the mail client, one field a line and one command line:

    ที่: กค 0305/ว 88            ลงวันที่ ๓ ธ.ค. ๒๕๖๙         ลงรับ
    เรื่อง：ขอเชิญประชุม            ไม่มีเลขที่                    คืน ไม่ใช่หนังสือของหน่วยงานเรา

A field line is a label of `FIELD_LABELS` then a colon, a full-width colon or spaces, then the
value. Quoted lines (`> `, `>> `) count too, but only in the colon form, and a value written at a
shallower depth wins over a deeper one (the first at the same depth wins): a reply in a thread
can repeat corrections made before, the new ones on top. The command is read from unquoted
lines only, so a quoted earlier `ลงรับ` never acts again.

Reading stops where the clerk's own words end (at that depth and deeper): a signature
(`-- `), Outlook's header block of the message answered (`From:`/`จาก:` then `Sent:`/`ส่ง:`
…, `-----Original Message-----`, a rule of underscores). An attribution line (`On … wrote:`,
`เมื่อ … เขียนว่า:`) is skipped, not a stop: Thunderbird writes the answer under the quote.
A line that the client's hard wrapping cut (Claws Mail, Outlook: parse/wrap.py) goes on in the
line below it, which has no label: the field's value, or the command's reason, takes it.
`จาก:` is both a field label and Outlook's From: it is a header when the next line is
`ส่ง:`/`Sent:`/`Date:`, or when its value holds an e-mail address and the next line is another
header (`ถึง:`, `To:`, `Cc:` …). No I/O, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from gateway.core.edits import FIELD_LABELS
from gateway.core.parse.wrap import continues
from gateway.forwarding.routing import receive_ref
from gateway.thai import normalize_text, to_arabic_digits

__all__ = ["COMMANDS", "LABELS", "Correction", "CorrectionReply", "Unread", "correction_reply",
           "read_correction", "review_ref", "review_tag"]

LABELS: Mapping[str, str] = FIELD_LABELS  # Thai label → field name, the register's own table

REGISTER, AMEND, REJECT, CANCEL = "register", "amend", "reject", "cancel"
# command word → (command, whether a reason must follow)
COMMANDS: Mapping[str, tuple[str, bool]] = {
    "ลงรับ": (REGISTER, False), "ลงทะเบียนรับ": (REGISTER, False),
    "แก้ไข": (AMEND, False), "แก้": (AMEND, False),
    "คืน": (REJECT, False), "ไม่รับ": (REJECT, False),
    "ยกเลิก": (CANCEL, True),
}
NO_NUMBER = "ไม่มีเลขที่"

WHY_REASON = "ต้องระบุเหตุผลต่อท้ายคำสั่ง เช่น «ยกเลิก ลงรับซ้ำ»"
WHY_TWO = "มีคำสั่งมากกว่าหนึ่งคำสั่ง ให้เหลือบรรทัดคำสั่งเดียว"
WHY_LABEL = "ไม่รู้จักชื่อช่องนี้ (ใช้ได้: ที่, ลงวันที่, จาก, ถึง, เรื่อง, ชั้นความเร็ว)"
WHY_EMPTY = "ไม่มีค่าหลังชื่อช่อง"


@dataclass(frozen=True)
class Unread:
    line: str  # as the clerk wrote it (without quote marks)
    why_th: str


@dataclass(frozen=True)
class Correction:
    texts: Mapping[str, str] = field(default_factory=dict)  # field name → value as written
    lines: Mapping[str, str] = field(default_factory=dict)  # field name → the line it came from
    command: str | None = None  # register | amend | reject | cancel
    reason: str = ""
    no_number: bool = False  # ไม่มีเลขที่: the letter truly has no number
    unread: tuple[Unread, ...] = ()  # lines that keep the command from being obeyed
    ignored: tuple[Unread, ...] = ()  # `word: value` with a word that is no label: told, not obeyed

    @property
    def empty(self) -> bool:
        """Nothing a correction says: no field, no command, no flag, nothing misread."""
        return not (self.texts or self.command or self.no_number or self.unread)


_QUOTE = re.compile(r"^((?:[ \t]*>)+)[ \t]?")
_COLON = "[:：]"
_LABEL_ALT = "|".join(sorted(map(re.escape, LABELS), key=len, reverse=True))
_FIELD_COLON = re.compile(rf"^({_LABEL_ALT})\s*{_COLON}\s*(.*)$")
_FIELD_SPACE = re.compile(rf"^({_LABEL_ALT})\s+(\S.*)$")
_COMMAND_ALT = "|".join(sorted(map(re.escape, COMMANDS), key=len, reverse=True))
_COMMAND = re.compile(rf"^({_COMMAND_ALT})(?:\s*{_COLON}\s*|\s+|$)(.*)$")
_NO_NUMBER = re.compile(rf"^{NO_NUMBER}\s*[.!]?$")
_ATTEMPT = re.compile(rf"^([^\s:：<>@«“\"(]{{1,20}})\s*{_COLON}\s*\S")  # `word: value`, an unknown label
_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_SIGNATURE = re.compile(r"^--\s*$")
_SEPARATOR = re.compile(r"^(?:-{3,}\s*(?:Original Message|Forwarded message|ข้อความต้นฉบับ|ข้อความที่ส่งต่อ)"
                        r".*|_{10,}\s*)$", re.IGNORECASE)
_FROM = re.compile(rf"^(?:From|จาก)\s*{_COLON}\s*(.*)$", re.IGNORECASE)
_SENT = re.compile(rf"^(?:Sent|Date|ส่ง|ส่งเมื่อ|วันที่ส่ง)\s*{_COLON}", re.IGNORECASE)
_HEADER = re.compile(rf"^(?:To|Cc|Subject|ถึง|สำเนาถึง|เรื่อง|ส่ง|Sent|Date)\s*{_COLON}", re.IGNORECASE)
_WROTE = re.compile(r"(?:wrote|เขียนว่า|เขียน)\s*:\s*$", re.IGNORECASE)
_ON_START = re.compile(r"^(?:On|เมื่อ)\s", re.IGNORECASE)


def _split(line: str) -> tuple[int, str]:
    """(quote depth, the text without the quote marks), cleaned as mail text is."""
    m = _QUOTE.match(line)
    depth = m.group(1).count(">") if m else 0
    return depth, normalize_text(line[m.end():] if m else line)


def _header_block(lines: list[tuple[int, str]], i: int) -> bool:
    """Whether line i starts a quoted message's header block (Outlook), not a `จาก:` field."""
    depth, text = lines[i]
    m = _FROM.match(text)
    if not m:
        return False
    nxt = next(((d, t) for d, t in lines[i + 1:i + 4] if t), None)
    if nxt is None or nxt[0] != depth:
        return False
    if _SENT.match(nxt[1]):
        return True
    return bool(_ADDRESS.search(m.group(1))) and bool(_HEADER.match(nxt[1]))


def _attribution(lines: list[tuple[int, str]], i: int) -> int:
    """How many lines an attribution (`On … wrote:`, wrapped over two lines by Gmail) takes at i."""
    text = lines[i][1]
    if _WROTE.search(text) and (_ON_START.match(text) or _ADDRESS.search(text) or re.search(r"\d", text)):
        return 1
    if _ON_START.match(text) and i + 1 < len(lines) and lines[i + 1][0] == lines[i][0] \
            and _WROTE.search(lines[i + 1][1]):
        return 2
    return 0


def read_correction(body: str) -> Correction:
    """What a reply's plain-text body asks (see the module's docstring)."""
    lines = [_split(raw) for raw in body.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    found: dict[str, tuple[int, str, str]] = {}  # field → (depth, value, line)
    commands: list[tuple[str, str, str]] = []  # (command, reason, line)
    unread: list[Unread] = []
    ignored: list[Unread] = []
    no_number = False
    stop_at: int | None = None  # lines at this depth or deeper are the answered message's
    # the unquoted field or command the line before was, and that line: a line the client's
    # wrapping cut from it continues it (WRAP)
    above: tuple[str, str] | None = None
    i = 0
    while i < len(lines):
        depth, text = lines[i]
        if stop_at is not None and depth < stop_at:
            stop_at = None
        if stop_at is not None or not text:
            above = None
            i += 1
            continue
        if _SIGNATURE.match(text) or _SEPARATOR.match(text) or _header_block(lines, i):
            stop_at = depth
            i += 1
            continue
        skip = _attribution(lines, i)
        if skip:
            i += skip
            continue
        i += 1
        quoted = depth > 0
        m = _FIELD_COLON.match(text) or (None if quoted else _FIELD_SPACE.match(text))
        if m is not None:
            name, value = LABELS[m.group(1)], m.group(2).strip().strip("«»“”\"")
            above = None  # only the line whose value counts is continued below
            if not value:
                if not quoted:
                    unread.append(Unread(text, WHY_EMPTY))
                continue
            if name not in found or depth < found[name][0]:
                found[name] = (depth, value, text)
                if not quoted:
                    above = (name, text)
            continue
        if quoted:
            continue
        if above is not None and continues(above[1], text) and not _COMMAND.match(text) \
                and not _NO_NUMBER.match(text):
            field_name = above[0]
            if field_name in found:
                d, value, first = found[field_name]
                found[field_name] = (d, f"{value} {text}", f"{first} {text}")
            elif commands:
                said, why, first = commands[-1]
                commands[-1] = (said, f"{why} {text}".strip(), f"{first} {text}")
            above = (field_name, text)
            continue
        above = None
        if _NO_NUMBER.match(text):
            no_number = True
            continue
        c = _COMMAND.match(text)
        if c is not None:
            what, needs_reason = COMMANDS[c.group(1)]
            why = c.group(2).strip()
            if needs_reason and not why:
                unread.append(Unread(text, WHY_REASON))
            else:
                commands.append((what, why, text))
                above = ("", text)  # a reason the wrapping cut goes on below
            continue
        if _ATTEMPT.match(text) and not _ADDRESS.search(text):
            ignored.append(Unread(text, WHY_LABEL))
        # any other line is the clerk's own words (a greeting, a signature): not a command
    if len({c for c, _, _ in commands}) > 1:
        unread.extend(Unread(line, WHY_TWO) for _, _, line in commands)
        commands = []
    command = commands[0][0] if commands else None
    reason = commands[0][1] if commands else ""
    return Correction(texts={k: v[1] for k, v in found.items()},
                      lines={k: v[2] for k, v in found.items()},
                      command=command, reason=reason, no_number=no_number, unread=tuple(unread),
                      ignored=tuple(ignored))


# ------------------------------------------------------------------------------------------
# The review copy's reference, in its subject: `[ตรวจ L12]`
# ------------------------------------------------------------------------------------------

REVIEW_WORD = "ตรวจ"
_REVIEW_REF = re.compile(rf"\[\s*{REVIEW_WORD}\s*[Ll]?\s*([0-9๐-๙]{{1,12}})\s*\]")


def review_tag(letter_id: int) -> str:
    return f"[{REVIEW_WORD} L{letter_id}]"


def review_ref(subject: str) -> int | None:
    """The letter a reply to its review copy is about: `[ตรวจ L12]` kept in the reply's subject
    (Re:, Fwd:, ตอบกลับ: and the clerk's own words around it do not matter)."""
    m = _REVIEW_REF.search(normalize_text(subject or ""))
    return int(to_arabic_digits(m.group(1))) if m else None


@dataclass(frozen=True)
class CorrectionReply:
    """A clerk's reply to a review copy (`review`: the letter id) or to a findable copy
    (`receive`: its receive number and year), and what it asks."""

    correction: Correction
    review: int | None = None
    receive: tuple[int, int] | None = None

    @property
    def ref_th(self) -> str:
        if self.review is not None:
            return review_tag(self.review)
        return f"[รับ {self.receive[0]}/{self.receive[1]}]" if self.receive else ""


def correction_reply(subject: str, body: str) -> CorrectionReply | None:
    """A correction reply, whoever it claims to be from (the channel proves the clerk). To a
    review copy anything the correction says counts (fields without a command are answered);
    to a `[รับ n/ปี]` copy — whose subject also reaches senders and units — only a command."""
    review = review_ref(subject)
    receive = receive_ref(subject) if review is None else None
    if review is None and receive is None:
        return None
    correction = read_correction(body)
    if correction.empty or (review is None and correction.command is None and not correction.unread):
        return None
    return CorrectionReply(correction, review, receive)
