"""Thai text, dates and letter numbers: the vocabulary every other step speaks.

Place in the flow: a leaf of the pure core. ``parse`` uses it to decode Thai mail
(``decode_thai``), clean PDF text (``normalize_text``) and read a letter's ที่ and ลงวันที่
(``parse_letter_number``, ``parse_thai_date``); ``validate`` and ``decide`` compare letter numbers
(``letter_numbers_equal``); ``record`` and the effects (receive stamp, acknowledgement, registers)
render Buddhist-era dates and times (``format_*``, ``be_year_of``).

Everything here is a pure function of its arguments: no I/O, no clock (callers pass ``now``), and
nothing is changed at import. The one process-wide side effect, teaching the ``codecs`` registry
the name ``windows-874``, happens only when the composition root calls ``register_thai_charsets``.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

__all__ = [
    "BANGKOK",
    "BE_OFFSET",
    "MONTHS_ABBR",
    "clean_text",
    "MONTHS_FULL",
    "THAI_CHARSET_ALIASES",
    "LetterNumber",
    "be_year",
    "be_year_of",
    "decode_thai",
    "format_letter_date",
    "format_short_date",
    "format_short_datetime",
    "format_time",
    "letter_no_key",
    "letter_numbers_equal",
    "local_date",
    "normalize_for_match",
    "normalize_text",
    "parse_letter_number",
    "parse_thai_date",
    "register_thai_charsets",
    "to_arabic_digits",
    "to_thai_digits",
]

# Registers restart on 1 January in Asia/Bangkok time (domain.md §3), so every "which day/year is
# it" question is asked in this zone, never in UTC or the host's zone.
BANGKOK: ZoneInfo = ZoneInfo("Asia/Bangkok")

# พ.ศ. = ค.ศ. + 543 for the whole calendar year since the 1941 reform (new year on 1 January).
BE_OFFSET = 543

MONTHS_FULL: tuple[str, ...] = (
    "มกราคม",
    "กุมภาพันธ์",
    "มีนาคม",
    "เมษายน",
    "พฤษภาคม",
    "มิถุนายน",
    "กรกฎาคม",
    "สิงหาคม",
    "กันยายน",
    "ตุลาคม",
    "พฤศจิกายน",
    "ธันวาคม",
)

MONTHS_ABBR: tuple[str, ...] = (
    "ม.ค.",
    "ก.พ.",
    "มี.ค.",
    "เม.ย.",
    "พ.ค.",
    "มิ.ย.",
    "ก.ค.",
    "ส.ค.",
    "ก.ย.",
    "ต.ค.",
    "พ.ย.",
    "ธ.ค.",
)

# --------------------------------------------------------------------------------------------
# Digits and text normalisation
# --------------------------------------------------------------------------------------------

_THAI_DIGITS = "๐๑๒๓๔๕๖๗๘๙"
_TO_ARABIC = str.maketrans(_THAI_DIGITS, "0123456789")
_TO_THAI = str.maketrans("0123456789", _THAI_DIGITS)

# No-break spaces come from Outlook HTML (&nbsp;) and from PDF text layers; for matching they are
# ordinary spaces. U+2007 (figure space) is the third no-break space in Unicode.
_NO_BREAK_SPACES = {0x00A0: " ", 0x2007: " ", 0x202F: " "}
# Zero-width characters are invisible but break equality and regexes; Thai word processors insert
# U+200B as a line-break hint between words, and U+FEFF survives as a stray BOM.
_ZERO_WIDTH = {0x200B: None, 0x200C: None, 0x200D: None, 0x2060: None, 0xFEFF: None}
_SPACE_TABLE = str.maketrans({**_NO_BREAK_SPACES, **_ZERO_WIDTH})

_NIKHAHIT = "\u0e4d"  # ํ
_SARA_AA = "\u0e32"  # า
_SARA_AM = "\u0e33"  # ำ
_TONE_MARKS = "\u0e48-\u0e4b"  # ่ ้ ๊ ๋
# PDF text extraction (pdftotext) often writes ำ as ํ + า, the two glyphs Thai fonts draw it with,
# and when the syllable has a tone mark it puts the tone between them: น ํ ้ า. Unicode order for "น้ำ"
# is consonant, tone, ำ, so the tone moves in front of the rebuilt ำ.
_SPLIT_SARA_AM = re.compile(f"{_NIKHAHIT}([{_TONE_MARKS}]?){_SARA_AA}")
# Some input methods type the tone after ำ (น ำ ้). A tone can never follow ำ in valid Thai, so the
# swap is safe and makes both spellings compare equal.
_TONE_AFTER_SARA_AM = re.compile(f"{_SARA_AM}([{_TONE_MARKS}])")
_HORIZONTAL_SPACE_RUN = re.compile(r"[ \t]+")


def to_arabic_digits(s: str) -> str:
    """Replace Thai digits ๐-๙ with 0-9 (storage and comparison use Arabic digits, §7)."""
    return s.translate(_TO_ARABIC)


def to_thai_digits(s: str) -> str:
    """Replace 0-9 with Thai digits ๐-๙ (letters are traditionally printed with Thai digits)."""
    return s.translate(_TO_THAI)


def normalize_text(s: str) -> str:
    """Clean text taken from mail or a PDF text layer so that equal-looking strings are equal.

    No-break spaces become spaces, zero-width characters go, a split ``ํ`` + ``า`` becomes ``ำ``
    (tone mark first), the result is NFC, runs of spaces and tabs become one space, and the ends
    are stripped. Line breaks are kept: callers read letters line by line.
    """
    s = s.translate(_SPACE_TABLE)
    s = _SPLIT_SARA_AM.sub(rf"\1{_SARA_AM}", s)
    s = _TONE_AFTER_SARA_AM.sub(rf"\1{_SARA_AM}", s)
    # NFC, not NFKC: NFKC would decompose ำ (U+0E33) straight back into ํ + า.
    s = unicodedata.normalize("NFC", s)
    s = _HORIZONTAL_SPACE_RUN.sub(" ", s)
    return s.strip()


# Hostile text (issue 18): terminal escape sequences (CSI such as ESC[2J, OSC such as the OSC 52
# clipboard write, DCS/SOS/PM/APC strings), C0/C1 controls and bidi overrides/isolates/marks
# (U+202E makes "fdp.exe" show as "exe.pdf") are never part of what a sender means.
_ESCAPES = re.compile(r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
                      r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d-\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
                      r"|\x1b[ -/]*[0-~]")
_CONTROLS = {c: None for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
_BIDI = {c: None for c in (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))}
_LINE_ENDS = {c: "\n" for c in (0x0B, 0x0C, 0x85, 0x2028, 0x2029)}
_MULTILINE = str.maketrans({**_CONTROLS, **_BIDI, **_LINE_ENDS, 0x09: "\t", 0x0A: "\n",
                            0xFEFF: None, **{c: None for c in range(0x2060, 0x2065)}})
_ONE_LINE = str.maketrans({**_CONTROLS, **_BIDI, **dict.fromkeys(_LINE_ENDS, " "), 0x09: " ",
                           0x0A: " ", 0x0D: " ", **_ZERO_WIDTH,
                           **{c: None for c in range(0x2060, 0x2065)}})


def clean_text(s: str, *, multiline: bool = False) -> str:
    """What a sender wrote, safe to store and print: escape sequences and control characters go.

    One line (a field, a subject, a name): tab, CR, LF and other line breaks become spaces, and
    zero-width characters go as ``normalize_text`` drops them. ``multiline`` (a body): line
    breaks become ``\\n`` (a CR that would overwrite the line is a new line) and tabs stay;
    U+200B-U+200D stay too, since Thai editors put ZWSP between words as a line-break hint and
    they can neither reorder nor hide text. The raw message is kept elsewhere as it came.
    """
    s = _ESCAPES.sub("", s)
    if multiline:
        return s.replace("\r\n", "\n").replace("\r", "\n").translate(_MULTILINE)
    return s.translate(_ONE_LINE)


def normalize_for_match(s: str) -> str:
    """``normalize_text`` plus Arabic digits and casefolding: the key for comparing strings."""
    return to_arabic_digits(normalize_text(s)).casefold()


# --------------------------------------------------------------------------------------------
# Dates and times
# --------------------------------------------------------------------------------------------


def local_date(instant: datetime) -> date:
    """The calendar date of an instant in Bangkok; a naive datetime is refused.

    A naive datetime has no instant: guessing its zone is how a letter received at 00:30 local
    time lands in the previous year's register.
    """
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"naive datetime has no time zone: {instant!r}")
    return instant.astimezone(BANGKOK).date()


def _calendar_date(d: date) -> date:
    # ``datetime`` is a subclass of ``date``; its own ``.year``/``.day`` are in whatever zone it
    # carries (often UTC), so a datetime is first placed in Bangkok.
    return local_date(d) if isinstance(d, datetime) else d


def be_year(d: date) -> int:
    """Buddhist-era year of a calendar date (a datetime is first converted to Bangkok)."""
    return _calendar_date(d).year + BE_OFFSET


def be_year_of(instant: datetime) -> int:
    """Buddhist-era year of an instant in Bangkok; it rolls over at local midnight (17:00 UTC)."""
    return local_date(instant).year + BE_OFFSET


def format_letter_date(d: date, *, thai_digits: bool = True) -> str:
    """Letter style: ``๒๐ มิถุนายน ๒๕๖๖`` (day without leading zero, full month, BE year)."""
    d = _calendar_date(d)
    text = f"{d.day} {MONTHS_FULL[d.month - 1]} {d.year + BE_OFFSET}"
    return to_thai_digits(text) if thai_digits else text


def format_short_date(d: date, *, thai_digits: bool = False) -> str:
    """Register and receive-stamp style: ``20 มิ.ย. 2566``."""
    d = _calendar_date(d)
    text = f"{d.day} {MONTHS_ABBR[d.month - 1]} {d.year + BE_OFFSET}"
    return to_thai_digits(text) if thai_digits else text


def format_short_datetime(at: datetime, *, thai_digits: bool = False) -> str:
    """``2 ธ.ค. 2569 09:05 น.``, in Bangkok time."""
    local = at.astimezone(BANGKOK)
    return f"{format_short_date(local.date(), thai_digits=thai_digits)} {format_time(local, thai_digits=thai_digits)}"


def format_time(t: datetime | time, *, thai_digits: bool = False) -> str:
    """``09:05 น.``; an aware datetime is first converted to Bangkok, a naive one is refused."""
    if isinstance(t, datetime):
        if t.tzinfo is None or t.utcoffset() is None:
            raise ValueError(f"naive datetime has no time zone: {t!r}")
        t = t.astimezone(BANGKOK).timetz()
    text = f"{t.hour:02d}:{t.minute:02d} น."
    return to_thai_digits(text) if thai_digits else text


def _month_key(token: str) -> str:
    return re.sub(r"[.\s]", "", token)


_MONTH_NUMBERS: dict[str, int] = {
    **{name: i for i, name in enumerate(MONTHS_FULL, start=1)},
    **{_month_key(abbr): i for i, abbr in enumerate(MONTHS_ABBR, start=1)},
    # ฏ for ฎ is the most common misspelling of July in real letters.
    "กรกฏาคม": 7,
}

_WEEKDAYS = "จันทร์|อังคาร|พุธ|พฤหัสบดี|พฤหัส|ศุกร์|เสาร์|อาทิตย์"
_THAI_LETTER = "\u0e01-\u0e4f"  # Thai letters, vowels and marks; not the Thai digits

# Prefixes seen before a date: ลงวันที่ (register column), วันที่, วันพุธที่ (with weekday), and the
# closing line of orders and announcements, สั่ง ณ วันที่ / ประกาศ ณ วันที่.
_DATE_PREFIX = rf"(?:(?:(?:สั่ง|ประกาศ)\s*ณ\s*)?(?:ลง)?วัน(?:{_WEEKDAYS})?ที่\s*:?\s*)?"
_TEXT_DATE = re.compile(
    _DATE_PREFIX
    + r"(?P<day>\d{1,2})\s*"
    # Lazy, so an optional พ.ศ. after the month is not swallowed into it; the token may hold dots
    # and spaces (มิ. ย.) and is looked up with them removed.
    + rf"(?P<month>[{_THAI_LETTER}][{_THAI_LETTER}.\s]*?)\s*"
    + r"(?:พ\s*\.?\s*ศ\s*\.?\s*)?"
    + r"(?P<year>\d{4}|\d{2})"
)
# 28/03/2566 — registers in the seeds print dates this way; day/month/BE-year is the Thai order.
_NUMERIC_DATE = re.compile(_DATE_PREFIX + r"(?P<day>\d{1,2})/(?P<month>\d{1,2})/(?P<year>\d{4})")

# Below 2400 BE (1857 CE) a four-digit year is a Gregorian year written by mistake (ลงวันที่ 27
# พฤษภาคม 2015 in the seeds), not a date to trust.
_MIN_BE_YEAR = 2400


def parse_thai_date(s: str) -> date | None:
    """Read a Thai date (letter, short or numeric style) and return the Gregorian date.

    Accepts Thai or Arabic digits, month names and abbreviations with or without dots, optional
    ``ลงวันที่``/``วันที่`` and ``พ.ศ.``, and two-digit BE years (``66`` is 2566). Returns None for
    anything else, for impossible dates (31 ก.พ.) and for years that are not Buddhist era.
    """
    text = to_arabic_digits(normalize_text(s))
    month: int | None
    if m := _TEXT_DATE.fullmatch(text):
        key = _month_key(m["month"])
        # "วันที่ ๒๐ เดือน มิถุนายน พ.ศ. ๒๕๖๖" — formal announcements name the month with เดือน.
        key = key.removeprefix("เดือน")
        month = _MONTH_NUMBERS.get(key)
    elif m := _NUMERIC_DATE.fullmatch(text):
        month = int(m["month"])
    else:
        return None
    if month is None:
        return None
    year_text = m["year"]
    # A two-digit year is the last two digits of a BE year in the 2500s (๔ มิ.ย. ๖๓ in the seeds).
    be = 2500 + int(year_text) if len(year_text) == 2 else int(year_text)
    if be < _MIN_BE_YEAR:
        return None
    try:
        return date(be - BE_OFFSET, month, int(m["day"]))
    except ValueError:
        return None


# --------------------------------------------------------------------------------------------
# Letter numbers (ที่)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LetterNumber:
    """A parsed letter number: ``ที่ ศธ 04183/ว1891`` or an order's ``ที่ 12/2566``."""

    raw: str  # exactly as given
    code: str  # "ศธ 04183": agency letters, one space, unit number (Arabic digits); "" for orders
    number: int  # the send-register number after '/', without leading zeros
    circular: bool  # ว before the number: the send-circular book (หนังสือเวียน)
    is_order: bool  # คำสั่ง numbered N/พ.ศ.
    year: int | None  # BE year of an order, else None
    normalized: str  # canonical form used for comparison: "ศธ 04183/ว1891", "12/2566"


# ที่, ที่:, เลขที่, คำสั่งที่ in front of the number.
_NUMBER_PREFIX = r"(?:(?:คำสั่ง|เลข)?ที่\s*:?\s*)?"
# Agency letter codes are Thai consonants (ศธ, รอ, สพร); the unit number may have dotted parts
# (0017.2, 04183.006). Seeds also show "ศค.0420" and "สข04022.001": a dot or no space after the
# letters, which normalise to one space.
_LETTER_NUMBER = re.compile(
    _NUMBER_PREFIX
    + r"(?P<letters>[\u0e01-\u0e2e]{1,6})\.?\s*(?P<unit>\d+(?:\.\d+)*)"
    + r"\s*/\s*(?P<circular>ว\.?\s*)?(?P<number>\d+)"
)
_ORDER_NUMBER = re.compile(
    _NUMBER_PREFIX + r"(?P<number>\d+)\s*/\s*(?:พ\s*\.?\s*ศ\s*\.?\s*)?(?P<year>\d{4})"
)
# An order's year is a plausible BE year; "12/345" or "0905/0007" without letters is not a number.
_ORDER_YEARS = range(2400, 2701)


def parse_letter_number(s: str) -> LetterNumber | None:
    """Parse a letter or order number; None when the string is not one.

    Tolerates a ``ที่``/``ที่:`` prefix, Thai digits, NBSP and zero-width characters, and spaces
    around ``/`` and after ``ว``. Register numbers start at 1, so a number 0 is refused.
    """
    text = to_arabic_digits(normalize_text(s))
    if m := _LETTER_NUMBER.fullmatch(text):
        number = int(m["number"])
        if number == 0:
            return None
        code = f"{m['letters']} {m['unit']}"
        circular = m["circular"] is not None
        return LetterNumber(
            raw=s,
            code=code,
            number=number,
            circular=circular,
            is_order=False,
            year=None,
            normalized=f"{code}/{'ว' if circular else ''}{number}",
        )
    if m := _ORDER_NUMBER.fullmatch(text):
        number = int(m["number"])
        year = int(m["year"])
        if number == 0 or year not in _ORDER_YEARS:
            return None
        return LetterNumber(
            raw=s,
            code="",
            number=number,
            circular=False,
            is_order=True,
            year=year,
            normalized=f"{number}/{year}",
        )
    return None


def letter_no_key(s: str) -> str:
    """The form a letter number is stored and looked up by (`letters.letter_no_norm`)."""
    parsed = parse_letter_number(s)
    return parsed.normalized if parsed else normalize_for_match(s)


def letter_numbers_equal(a: str, b: str) -> bool:
    """True when two strings name the same letter number.

    Parsed numbers compare by their normalised form (so ``๐๐๐๗`` equals ``7``). Strings that do
    not parse (a form we do not know yet, e.g. a unit's ``/e`` suffix) compare by their
    whitespace-free match key, so the same odd number written twice still matches; an empty string
    matches nothing.
    """
    pa, pb = parse_letter_number(a), parse_letter_number(b)
    if pa is not None and pb is not None:
        return pa.normalized == pb.normalized
    if pa is not None or pb is not None:
        return False
    ka = re.sub(r"\s+", "", normalize_for_match(a))
    kb = re.sub(r"\s+", "", normalize_for_match(b))
    return ka != "" and ka == kb


# --------------------------------------------------------------------------------------------
# Charsets
# --------------------------------------------------------------------------------------------

# Thai mail labels (§7). Outlook writes "windows-874", which Python does not know, and Java mail
# writes "x-windows-874"/"MS874". TIS-620 and ISO-8859-11 are mapped to cp874 as well: cp874 is
# TIS-620 plus NBSP (0xA0) and the Windows punctuation in 0x80-0x9F (… ‘ ’ “ ” – — €), and Outlook
# labels mail "tis-620" while writing those bytes, which Python's tis-620 codec turns into
# invisible C1 control characters (0x80-0x9F) or rejects (0xA0).
# Keys are in the form made by _charset_key.
THAI_CHARSET_ALIASES: dict[str, str] = {
    "windows-874": "cp874",
    "x-windows-874": "cp874",
    "windows874": "cp874",
    "ms874": "cp874",
    "x-ms874": "cp874",
    "tis-620": "cp874",
    "tis620": "cp874",
    "iso-8859-11": "cp874",
    "iso8859-11": "cp874",
}

# Codecs whose label we second-guess when the bytes are in fact UTF-8 (see decode_thai).
_THAI_SINGLE_BYTE = frozenset({"cp874", "tis-620", "tis620", "iso-8859-11", "iso8859-11"})
# Outside ASCII, text that is really Thai UTF-8 holds only Thai letters and common punctuation.
_THAI_OR_PUNCTUATION = re.compile(r"[\x00-\x7f\u00a0\u0e00-\u0e7f\u2000-\u206f\u20ac]*")


def _charset_key(name: str) -> str:
    # codecs.lookup hands search functions "windows_874"; mail headers carry "Windows-874" or
    # '"windows-874"'. One spelling for all of them.
    return name.strip().strip("\"'").lower().replace("_", "-").replace(" ", "-")


def _lookup_thai_charset(name: str) -> codecs.CodecInfo | None:
    target = THAI_CHARSET_ALIASES.get(_charset_key(name))
    return codecs.lookup(target) if target is not None else None


def register_thai_charsets() -> None:
    """Teach ``codecs`` (and so ``email``) the Thai labels Python lacks, such as windows-874.

    Call once from the composition root; calling again is harmless. Only names Python does not
    already know reach this search function, so ``tis-620`` still means Python's own codec to
    ``email``; ``decode_thai`` applies the full alias table itself.
    """
    # Unregistering first keeps exactly one entry however often this runs (tests, re-init).
    codecs.unregister(_lookup_thai_charset)
    codecs.register(_lookup_thai_charset)


def _codec_name(charset: str) -> str:
    key = _charset_key(charset)
    return THAI_CHARSET_ALIASES.get(key, key)


def decode_thai(data: bytes, charset: str | None) -> str:
    """Decode mail bytes labelled ``charset``; never raises.

    Order of attempts, each strict: the declared charset (through the alias table), then UTF-8,
    then cp874. If all fail, the candidate with the fewest replacement characters wins. A Thai
    single-byte label on bytes that are valid UTF-8 Thai is overridden: the label is wrong and
    decoding would give the classic ``เธชเธงเธฑเธช`` mojibake (real cp874 Thai never forms UTF-8
    Thai sequences, since that would need a vowel such as ุ right after เ).
    """
    declared = _codec_name(charset) if charset else None
    candidates = [c for c in (declared, "utf-8", "cp874") if c is not None]
    candidates = list(dict.fromkeys(candidates))
    if declared in _THAI_SINGLE_BYTE and not data.isascii():
        try:
            as_utf8 = data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            if _THAI_OR_PUNCTUATION.fullmatch(as_utf8):
                return as_utf8
    for name in candidates:
        try:
            return data.decode(name)
        except (LookupError, ValueError):
            # LookupError: unknown label or not a text codec ("hex"); ValueError covers
            # UnicodeDecodeError and codecs that reject the bytes outright (idna, undefined).
            continue
    best: str | None = None
    for name in candidates:
        try:
            text = data.decode(name, errors="replace")
        except (LookupError, ValueError):
            continue
        if best is None or text.count("\ufffd") < best.count("\ufffd"):
            best = text
    # utf-8 is always a candidate and always decodes with errors="replace".
    assert best is not None
    return best
