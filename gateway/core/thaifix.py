"""Thai text as PDF text extractors give it back, repaired; and what no repair can save (#19).

Pure: strings in, strings out. `gateway.pdf.text` applies `repair_page` to every extractor's
reading of page 1 and scores the readings with `flaws`; the classification (`core.classify`)
and the store's entrance (`inbound.record.apply_fields`) refuse a field that `damage` names.

What goes wrong, by producer (tests/corpus/producers):

- Word with legacy Thai fonts (TH SarabunPSK and the like) maps the positioned forms of vowels
  and tone marks to the Private Use Area, U+F700-U+F71A (the Adobe/Microsoft Thai PUA);
  symbol-encoded fonts put TIS-620 at U+F0A1-U+F0FB. Both map back one to one.
- A shaper (HarfBuzz, LibreOffice) draws ำ as two glyphs, ◌ํ and า. The first carries the
  mapping to ำ, the second none: an extractor then gives its raw code, a control character or
  an ASCII one (`สำ\\x11นัก`, `อำ2นวย`, `ประจำ.ปี`), or a second า (`ำา`). LibreOffice also
  leaves the plain า glyph unmapped (its text is in /ActualText, which pypdf ignores), so the
  code that follows ำ on a page stands for า wherever it appears alone on that page.
- Extractors put a tone before its vowel, double a mark, or split ํ + า.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

__all__ = ["FIELD_LABELS", "JUNK", "PUA_THAI", "damage", "flaws", "join_broken_lines", "junk",
           "repair_line", "repair_page", "reorder_marks"]

# --- the Private Use Area -----------------------------------------------------------------

# Adobe/Microsoft Thai PUA: glyph variants (no descender; shifted left; lowered), one to one.
PUA_THAI: dict[int, str] = {
    0xF700: "\u0e10",  # ฐ without its descender
    0xF701: "\u0e34", 0xF702: "\u0e35", 0xF703: "\u0e36", 0xF704: "\u0e37",  # ิ ี ึ ื left
    0xF705: "\u0e48", 0xF706: "\u0e49", 0xF707: "\u0e4a", 0xF708: "\u0e4b",  # tones low left
    0xF709: "\u0e4c",  # ์ low left
    0xF70A: "\u0e48", 0xF70B: "\u0e49", 0xF70C: "\u0e4a", 0xF70D: "\u0e4b",  # tones low
    0xF70E: "\u0e4c",  # ์ low
    0xF70F: "\u0e0d",  # ญ without its descender
    0xF710: "\u0e31", 0xF711: "\u0e4d", 0xF712: "\u0e47",  # ั ํ ็ left
    0xF713: "\u0e48", 0xF714: "\u0e49", 0xF715: "\u0e4a", 0xF716: "\u0e4b",  # tones left
    0xF717: "\u0e4c",  # ์ left
    0xF718: "\u0e38", 0xF719: "\u0e39", 0xF71A: "\u0e3a",  # ุ ู ฺ low
}
# Symbol-encoded Thai fonts: the TIS-620 byte at U+F000 + byte (0xA1 ก ... 0xFB ๛).
_SYMBOL_TIS620 = {0xF000 + b: chr(0x0E01 + b - 0xA1) for b in range(0xA1, 0xFC)
                  if not 0xDB <= b <= 0xDE}
_PUA_TABLE = str.maketrans({**PUA_THAI, **_SYMBOL_TIS620})

# --- classes of Thai characters -------------------------------------------------------------

CONSONANT = "\u0e01-\u0e2e"  # ก-ฮ
THAI = "\u0e01-\u0e4e"  # letters, vowels and marks (not the digits ๐-๙)
MARKS = "\u0e31\u0e34-\u0e3a\u0e47-\u0e4e"  # combining: vowels above/below, tones, ์ ํ ๎
_VOWEL_MARKS = frozenset("\u0e31\u0e34\u0e35\u0e36\u0e37\u0e38\u0e39\u0e3a\u0e47")
_SARA_AM, _SARA_AA, _NIKHAHIT = "\u0e33", "\u0e32", "\u0e4d"
_LEADING_VOWELS = "\u0e40-\u0e44"  # เ แ โ ใ ไ: written before the consonant they follow
_NOT_AT_START = f"{MARKS}\u0e30\u0e32\u0e33\u0e45\u0e46"  # marks, ะ า ำ ๅ ๆ: never begin a word

_CONTROL = "\x00-\x08\x0b-\x1f\x7f-\x9f"  # C0/C1 but tab and line feed
_MARK_RUN = re.compile(f"[{MARKS}]{{2,}}")
# ำ followed by the raw code of its unmapped second glyph, then the word goes on
_AM_GLYPH = re.compile(f"{_SARA_AM}([{_CONTROL}!-/:-@\\[-`{{-~0-9A-Za-z\u00a1-\u00ff])(?=[{THAI}])")
_AM_CONTROL = re.compile(f"{_SARA_AM}([{_CONTROL}])")
_SPLIT_AM = re.compile(f"{_NIKHAHIT}([\u0e48-\u0e4b]?){_SARA_AA}")
_DOUBLED_AM = re.compile(f"{_SARA_AM}[{_SARA_AA}{_SARA_AM}]+")
_TONE_AFTER_AM = re.compile(f"{_SARA_AM}([\u0e48-\u0e4b])")
# PDFium carries the tone of a ั cluster onto the next one, which then has it twice
# (fpdf2, Norasi: `ขันพื ้้นฐาน` for ขั้นพื้นฐาน): the second copy goes back over the ั
_TONE_CARRIED_ON = re.compile(
    f"([{CONSONANT}]\u0e31)([{CONSONANT}]{{1,2}})([\u0e34-\u0e37]?) ?([\u0e48-\u0e4b])\\4")
_CONTROLS = re.compile(f"[{_CONTROL}\ufffd]")
_SPACES = re.compile(r"[ \t\u00a0\u2007\u202f]+")
_ZERO_WIDTH = dict.fromkeys((0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF))


def reorder_marks(text: str) -> str:
    """Marks over one consonant in typing order (WTT 2.0): vowel first, then tone, ์ or ํ;
    a mark repeated at once is one mark."""

    def fix(m: re.Match[str]) -> str:
        run: list[str] = []
        for c in sorted(m.group(), key=lambda c: c not in _VOWEL_MARKS):
            if not run or run[-1] != c:
                run.append(c)
        return "".join(run)

    return _MARK_RUN.sub(fix, text)


def _am_codes(page: str) -> set[str]:
    """Control characters that stand for า on this page: the ones found right after ำ."""
    return {m.group(1) for m in _AM_CONTROL.finditer(page)}


def repair_line(line: str, am_codes: frozenset[str] | set[str] = frozenset()) -> str:
    """One extracted line, repaired as far as rules can: PUA forms back to Thai, the second
    glyph of a split ำ dropped, `am_codes` (raw codes of า, see `repair_page`) as า, other
    control characters dropped, ำ rebuilt, marks in order, NFC, spaces collapsed."""
    s = line.translate(_PUA_TABLE).translate(_ZERO_WIDTH)
    s = _AM_GLYPH.sub(_SARA_AM, s)
    if am_codes:
        s = s.translate({ord(c): _SARA_AA for c in am_codes})
    s = _CONTROLS.sub("", s)
    s = _TONE_CARRIED_ON.sub("\\1\\4\\2\\3\\4", s)
    s = reorder_marks(s)
    s = _SPLIT_AM.sub(f"\\1{_SARA_AM}", s)
    s = _TONE_AFTER_AM.sub(f"\\1{_SARA_AM}", s)
    s = _DOUBLED_AM.sub(_SARA_AM, s)
    s = unicodedata.normalize("NFC", s)
    return _SPACES.sub(" ", s).strip()


def repair_page(text: str) -> list[str]:
    """A page's text as lines (CR, CR LF, form feed and the like end a line), each repaired;
    empty lines dropped."""
    text = re.sub(r"\r\n?|[\x0b\x0c\x85\u2028\u2029]", "\n", text)
    codes = _am_codes(text)
    return [r for r in (repair_line(x, codes) for x in text.split("\n")) if r]


# --- what is wrong with a reading -----------------------------------------------------------

JUNK = re.compile(
    r"[\x00-\x1f\x7f-\x9f\ufffd\ue000-\uf8ff\U000f0000-\U0010ffff]"  # controls, U+FFFD, PUA
    rf"|(?<=[{THAI}])[0-9A-Za-z\u0e50-\u0e59&#$%@*+=|~^_<>{{}}\[\]\\]+(?=[{THAI}])"  # in a word
    rf"|(?<![{CONSONANT}{MARKS}])[{MARKS}]"  # a combining mark with no base before it
)
# orthography a reader would never type: a leading vowel at a word's end, a vowel mark after a
# tone, two vowel marks over one consonant, ำ or ะ right after a leading vowel
_ODD = re.compile(
    rf"[{_LEADING_VOWELS}](?=[\s{_NOT_AT_START}]|$)"
    r"|[\u0e48-\u0e4c][\u0e31\u0e34-\u0e3a\u0e47]"
    r"|[\u0e31\u0e34-\u0e37\u0e47][\u0e31\u0e34-\u0e37\u0e47]"
    r"|[\u0e38-\u0e3a][\u0e38-\u0e3a]"
)


def junk(text: str) -> bool:
    """Whether `text` holds a character no letter prints: C0/C1 controls, U+FFFD, the Private
    Use Area, a digit, Latin letter or stray symbol inside a Thai word, a mark with no base."""
    return JUNK.search(text) is not None


def flaws(text: str) -> int:
    """How many things in `text` are junk or odd Thai spelling (0 for a clean reading)."""
    return len(JUNK.findall(text)) + len(_ODD.findall(text))


FIELD_LABELS = {"letter_no": "เลขที่หนังสือ", "sender": "ส่วนราชการเจ้าของหนังสือ",
                "recipient": "ผู้รับ", "subject": "เรื่อง", "salutation": "คำขึ้นต้น",
                "speed": "ชั้นความเร็ว", "secrecy": "ชั้นความลับ"}


def damage(value: str) -> str | None:
    """What is wrong with a field value, in Thai, or None for a clean one."""
    if _CONTROLS.search(value) or re.search(r"[\ue000-\uf8ff\U000f0000-\U0010ffff]", value):
        return "มีอักขระแปลกปน"
    if junk(value):
        return "มีอักขระแปลกปนในคำ"
    return None


# --- lines broken inside a word ------------------------------------------------------------

_LAST_WORD = re.compile(r"(\S+)$")
_FIRST_WORD = re.compile(r"^(\S+)")


def join_broken_lines(lines: list[str], unknown: Callable[[str], int]) -> list[str]:
    """Lines that a layout broke inside a Thai word, joined again.

    A line that ends in a leading vowel (เ แ โ ใ ไ) or is followed by one that begins with what
    cannot begin a word (a mark, ะ, า, ำ, ๆ) goes on the next line; so does a pair whose two
    halves, each not a word of the dictionary, make words together. `unknown(text)` counts the
    Thai characters of `text` outside dictionary words.
    """
    out: list[str] = []
    for line in lines:
        if out and _broken(out[-1], line, unknown):
            out[-1] += line
        else:
            out.append(line)
    return out


def _broken(before: str, after: str, unknown: Callable[[str], int]) -> bool:
    tail, head = _LAST_WORD.search(before), _FIRST_WORD.search(after)
    if tail is None or head is None:
        return False
    a, b = tail.group(1), head.group(1)
    if not (re.search(f"[{THAI}]$", a) and re.match(f"[{THAI}]", b)):
        return False
    if re.search(f"[{_LEADING_VOWELS}]$", a) or re.match(f"[{_NOT_AT_START}]", b):
        return True
    apart = unknown(a) + unknown(b)
    return apart > 0 and unknown(a + b) == 0
