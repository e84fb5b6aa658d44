"""The labels a Thai letter's fields are written after, in one table (pure).

A letter prints ``ที่``, ``เรื่อง``, ``เรียน``; a บันทึกข้อความ ``ส่วนราชการ`` and ``วันที่``; e-Saraban
systems put the same fields as labelled lines in the mail body (``เลขที่หนังสือ: กค 0305/ว88``,
``วันที่หนังสือ: …``, ``จากหน่วยงาน: …``, ``ชื่อเรื่อง: …``). Every reader (page 1 of the PDF, a
plain or HTML body, TIS-620 or windows-874 mail once decoded) matches lines against this one
table: a label, an optional colon, the value.

Some labels say exactly what follows (``เลขที่หนังสือ``, ``ชื่อเรื่อง``); they count anywhere in
a body, colon or not. Short ones (``ที่``, ``จาก``, ``เรื่อง``) start ordinary sentences too, so in a
body they count only with a colon or in the header block (``letterhead``).
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from gateway.core.extract.words import (
    MAX_LINE,
    Found,
    clean_value,
    find_letter_number,
    find_thai_date,
)
from gateway.letter import Field, FieldSource
from gateway.thai import normalize_text

__all__ = ["ANY_LABEL", "LABELS", "Label", "extract_labelled", "match_label", "skeleton"]


class Label(NamedTuple):
    field: str  # the FIELD_NAMES key it fills (reference/enclosures: read, never required)
    words: tuple[str, ...]  # synonyms as printed
    claims: tuple[str, ...]  # those unambiguous enough to cross-check the PDF with (merge)


LABELS: tuple[Label, ...] = (
    Label("letter_no", ("เลขที่หนังสือ", "หนังสือเลขที่", "เลขที่", "ที่"),
          ("เลขที่หนังสือ", "หนังสือเลขที่", "เลขที่", "ที่")),
    Label("letter_date", ("วันที่หนังสือ", "หนังสือลงวันที่", "ลงวันที่", "ลว.", "วันที่"),
          ("วันที่หนังสือ", "หนังสือลงวันที่", "ลงวันที่", "ลว.", "วันที่")),
    Label("subject", ("ชื่อเรื่อง", "เรื่อง"), ("ชื่อเรื่อง",)),
    Label("salutation", ("กราบเรียน", "เรียน"), ()),
    Label("reference", ("อ้างถึง",), ()),
    Label("enclosures", ("สิ่งที่ส่งมาด้วย",), ()),
    Label("sender", ("จากหน่วยงาน", "หน่วยงานผู้ส่ง", "ส่วนราชการผู้ส่ง", "ส่วนราชการ", "จาก"),
          ()),
    Label("recipient", ("ถึงหน่วยงาน", "หน่วยงานผู้รับ", "ถึง"), ()),
    Label("speed", ("ชั้นความเร็ว",), ()),
    Label("secrecy", ("ชั้นความลับ",), ()),
)
"""Field, synonyms, and the synonyms whose value is the field for certain. A body's
``เรื่อง:`` is left out of ``claims``: Outlook quotes a forwarded mail's subject so."""

# Labels no sentence starts with: they count without a colon anywhere in a body.
_UNAMBIGUOUS = frozenset({
    "เลขที่หนังสือ", "หนังสือเลขที่", "วันที่หนังสือ", "หนังสือลงวันที่", "ลงวันที่", "ชื่อเรื่อง",
    "จากหน่วยงาน", "หน่วยงานผู้ส่ง", "ส่วนราชการผู้ส่ง", "ถึงหน่วยงาน", "หน่วยงานผู้รับ",
    "ชั้นความเร็ว", "ชั้นความลับ",
})
_SEP = r"\s*[:：]?\s*"


def _alternation(words: tuple[str, ...]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


_PATTERNS = tuple(
    (label, re.compile(rf"^(?P<label>{_alternation(label.words)}){_SEP}(?P<rest>.*)$"))
    for label in LABELS
)
ANY_LABEL = re.compile(
    rf"^(?:{_alternation(tuple(w for label in LABELS for w in label.words))}"
    r"|บันทึกข้อความ|คำสั่ง|ประกาศ)"
)
"""A line that starts a new labelled block (it ends a wrapped value above it)."""


class LabelMatch(NamedTuple):
    label: Label
    word: str  # the synonym as matched
    rest: str  # the text after the label and its colon
    colon: bool
    long: bool  # unambiguous without a colon

    @property
    def claims(self) -> bool:
        return self.word in self.label.claims


def match_label(line: str) -> LabelMatch | None:
    """The label a (normalised) line starts with, longest synonym first; None for none."""
    for label, pattern in _PATTERNS:
        m = pattern.match(line)
        if m is None:
            continue
        word = m["label"]
        colon = bool(re.match(rf"^{re.escape(word)}\s*[:：]", line))
        return LabelMatch(label, word, m["rest"], colon, word in _UNAMBIGUOUS)
    return None


_MAX_LINES = 3000


def extract_labelled(text: str) -> dict[str, Field[Any]]:
    """The fields an e-mail body's labelled lines *claim* (``เลขที่หนังสือ: กค 0305/ว88``,
    ``วันที่หนังสือ: ๑๕ ม.ค. ๖๙``, ``ชื่อเรื่อง: …``): a long label, or a short one with a colon,
    then the value. ``merge`` trusts these above the free mail subject and holds the PDF to
    them (``crosscheck``). Source: the body (``FieldSource.BODY``, อีเมล to the clerk)."""
    found = Found(FieldSource.BODY)
    for raw in text.replace("\r", "\n").split("\n", _MAX_LINES)[:_MAX_LINES]:
        m = match_label(normalize_text(raw[:MAX_LINE]))
        if m is None or not m.claims or not (m.colon or m.long):
            continue
        name = m.label.field
        if name == "letter_no":
            number = find_letter_number(m.rest, at_start=True)
            if number is not None:
                found.put(name, number[0])
        elif name == "letter_date":
            when = find_thai_date(m.rest)
            if when is not None and m.rest.startswith(when[1][:1]):
                found.put(name, when[0])
        elif name == "subject":
            found.put(name, clean_value(m.rest))
    return found.values


# ------------------------------------------------------------------------------------------
# Damaged text: labels and stamps read through junk
# ------------------------------------------------------------------------------------------

_MARKS = "\u0e31\u0e34-\u0e3a\u0e47-\u0e4e"
_JUNK_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\ufffd\ue000-\uf8ff]")
_SKELETON_DROP = re.compile(rf"[\s{_MARKS}\x00-\x1f\x7f-\x9f\ufffd\ue000-\uf8ff]")


def skeleton(text: str) -> str:
    """The consonants and vowels of ``text`` without marks, spaces or junk: how a label or a
    stamp still reads when a PDF's text layer lost its tone marks to the Private Use Area
    (``อ\\uf70bางถึง``, ``ด\\uf70aวน``)."""
    return _SKELETON_DROP.sub("", text)


def has_junk(text: str) -> bool:
    return _JUNK_CHARS.search(text) is not None
