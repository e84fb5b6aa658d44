"""Tables for gateway.thai: Thai digits and text, Buddhist-era dates, letter numbers, charsets.

Most cases live in tests/data/thai/*.tsv (one case a line, tab-separated, ``#`` comments;
``\\uXXXX``, ``\\t``, ``\\n`` escapes for invisible characters); the tests here are the engines
that read them, plus the round trips and properties that are easier to state in code.
"""

from __future__ import annotations

import ast
import base64
import codecs
import dataclasses
import email
import email.policy
import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta, timezone
from email.header import decode_header, make_header
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway import thai
from gateway.thai import (
    BANGKOK,
    BE_OFFSET,
    MONTHS_ABBR,
    MONTHS_FULL,
    THAI_CHARSET_ALIASES,
    LetterNumber,
    be_year,
    be_year_of,
    decode_thai,
    format_letter_date,
    format_short_date,
    format_time,
    letter_numbers_equal,
    local_date,
    normalize_for_match,
    normalize_text,
    parse_letter_number,
    parse_thai_date,
    register_thai_charsets,
    to_arabic_digits,
    to_thai_digits,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "thai"

_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|t|n|\\)")


def _unescape(cell: str) -> str:
    def one(m: re.Match[str]) -> str:
        code = m.group(1)
        return {"t": "\t", "n": "\n", "\\": "\\"}.get(code) or chr(int(code[1:], 16))

    return _ESCAPE.sub(one, cell)


def _read_rows(name: str) -> Iterator[tuple[int, list[str]]]:
    text = (DATA / name).read_text(encoding="utf-8")
    for lineno, line in enumerate(text.splitlines(), start=1):
        if (not line.strip() and "\t" not in line) or line.startswith("#"):
            continue
        yield lineno, [_unescape(cell) for cell in line.split("\t")]


def table(name: str, width: int) -> list[object]:
    """Rows of a TSV file as pytest params, each id'd by file and line number."""
    params: list[object] = []
    for lineno, cells in _read_rows(name):
        assert len(cells) == width, f"{name}:{lineno} has {len(cells)} cells, expected {width}"
        params.append(pytest.param(*cells, id=f"{name}:{lineno}"))
    assert params, f"{name} has no rows"
    return params


def _optional(cell: str) -> str | None:
    return None if cell == "None" else cell


def _bool(cell: str) -> bool:
    assert cell in ("True", "False"), cell
    return cell == "True"


@pytest.fixture
def charsets_registered() -> None:
    register_thai_charsets()


@pytest.fixture
def charsets_unregistered() -> Iterator[None]:
    # The only way to observe the registry is through lookups, so this fixture reaches for the
    # private search function; it always leaves the charsets registered again.
    codecs.unregister(thai._lookup_thai_charset)
    try:
        yield
    finally:
        register_thai_charsets()


# --------------------------------------------------------------------------------------------
# Module shape
# --------------------------------------------------------------------------------------------

PURE_IMPORTS = {"__future__", "codecs", "re", "unicodedata", "dataclasses", "datetime", "zoneinfo"}


def test_module_imports_only_pure_stdlib() -> None:
    """thai.py sits in the pure core: no I/O, clock or network modules."""
    tree = ast.parse(Path(thai.__file__).read_text(encoding="utf-8"))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.module is not None
            imported.add(node.module.split(".")[0])
    assert imported <= PURE_IMPORTS, imported - PURE_IMPORTS


def test_constants() -> None:
    assert BANGKOK.key == "Asia/Bangkok"
    assert datetime(2024, 1, 1, tzinfo=BANGKOK).utcoffset() == timedelta(hours=7)
    assert BE_OFFSET == 543
    assert len(MONTHS_FULL) == len(MONTHS_ABBR) == 12
    assert len(set(MONTHS_FULL)) == len(set(MONTHS_ABBR)) == 12
    # domain.md section 7, in calendar order.
    expected_full = (
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
    expected_abbr = ("ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.")
    expected_abbr += ("ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค.")
    assert expected_full == MONTHS_FULL
    assert expected_abbr == MONTHS_ABBR
    assert all(abbr.endswith(".") for abbr in MONTHS_ABBR)


# --------------------------------------------------------------------------------------------
# Digits and text
# --------------------------------------------------------------------------------------------

TEXT_FUNCTIONS: dict[str, Callable[[str], str]] = {
    "to_arabic_digits": to_arabic_digits,
    "to_thai_digits": to_thai_digits,
    "normalize_text": normalize_text,
    "normalize_for_match": normalize_for_match,
}


@pytest.mark.parametrize(("function", "given_text", "expected"), table("text.tsv", 3))
def test_text_table(function: str, given_text: str, expected: str) -> None:
    assert TEXT_FUNCTIONS[function](given_text) == expected


@pytest.mark.parametrize(("function", "given_text", "expected"), table("text.tsv", 3))
def test_normalisation_is_idempotent(function: str, given_text: str, expected: str) -> None:
    for normalise in (normalize_text, normalize_for_match):
        once = normalise(given_text)
        assert normalise(once) == once


def test_digits_round_trip_every_digit() -> None:
    arabic = "".join(str(i) for i in range(10)) * 2
    thai_text = to_thai_digits(arabic)
    assert thai_text == "๐๑๒๓๔๕๖๗๘๙" * 2
    assert [ord(c) for c in thai_text[:10]] == list(range(0x0E50, 0x0E5A))
    assert to_arabic_digits(thai_text) == arabic


def test_sara_am_result_is_single_code_point() -> None:
    # The visible glyphs are the same either way; only the code points prove the fix.
    assert normalize_text("น\u0e4d\u0e49\u0e32") == "\u0e19\u0e49\u0e33"
    assert len(normalize_text("ทํางาน")) == len("ทำงาน") == 5


# --------------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("given_text", "expected"), table("dates.tsv", 2))
def test_parse_thai_date_table(given_text: str, expected: str) -> None:
    want = _optional(expected)
    assert parse_thai_date(given_text) == (date.fromisoformat(want) if want else None)


@pytest.mark.parametrize(
    ("iso", "letter_thai", "letter_arabic", "short_arabic", "short_thai"), table("formats.tsv", 5)
)
def test_format_table(
    iso: str, letter_thai: str, letter_arabic: str, short_arabic: str, short_thai: str
) -> None:
    d = date.fromisoformat(iso)
    assert format_letter_date(d) == letter_thai
    assert format_letter_date(d, thai_digits=False) == letter_arabic
    assert format_short_date(d) == short_arabic
    assert format_short_date(d, thai_digits=True) == short_thai
    for text in (letter_thai, letter_arabic, short_arabic, short_thai):
        assert parse_thai_date(text) == d


def _last_day(year: int, month: int) -> int:
    following = date(year + month // 12, month % 12 + 1, 1)
    return (following - timedelta(days=1)).day


ROUND_TRIP_YEARS = (1957, 2020, 2023, 2024, 2043)  # BE 2500, leap, plain, leap, 2586


@pytest.mark.parametrize("thai_digits", [True, False], ids=["thai-digits", "arabic-digits"])
@pytest.mark.parametrize("style", ["letter", "short"])
@pytest.mark.parametrize("month", range(1, 13))
def test_format_then_parse_round_trip(month: int, style: str, thai_digits: bool) -> None:
    render = format_letter_date if style == "letter" else format_short_date
    names = MONTHS_FULL if style == "letter" else MONTHS_ABBR
    for year in ROUND_TRIP_YEARS:
        for day in (1, 9, 10, _last_day(year, month)):
            d = date(year, month, day)
            text = render(d, thai_digits=thai_digits)
            assert names[month - 1] in text
            digits = re.sub(r"\D", "", text)
            assert digits.isascii() != thai_digits, text
            assert parse_thai_date(text) == d, text
            # The same date with a two-digit BE year, as short registers write it.
            two_digit = re.sub(r"(\S\S)(\S\S)$", r"\2", text)
            assert parse_thai_date(two_digit) == d, two_digit
            # And with the ลงวันที่ prefix and พ.ศ. that letters put around it.
            assert parse_thai_date(f"ลงวันที่ {text[:-4]}พ.ศ. {text[-4:]}") == d


@pytest.mark.parametrize("month", range(1, 13))
def test_month_abbreviation_spellings(month: int) -> None:
    abbr = MONTHS_ABBR[month - 1]
    spellings = {abbr, abbr.rstrip("."), abbr.replace(".", ""), abbr.replace(".", ". ").strip()}
    for spelling in spellings:
        assert parse_thai_date(f"15 {spelling} 2566") == date(2023, month, 15), spelling


@pytest.mark.parametrize(("instant", "local", "year", "hhmm", "short"), table("instants.tsv", 5))
def test_instants_in_bangkok(instant: str, local: str, year: str, hhmm: str, short: str) -> None:
    moment = datetime.fromisoformat(instant)
    assert local_date(moment) == date.fromisoformat(local)
    assert be_year_of(moment) == int(year)
    assert be_year(local_date(moment)) == int(year)
    assert be_year(moment) == int(year)  # a datetime given to be_year is placed in Bangkok too
    assert format_time(moment) == hhmm
    assert format_time(moment, thai_digits=True) == to_thai_digits(hhmm)
    assert format_short_date(local_date(moment)) == short
    assert format_short_date(moment) == short


def test_year_rolls_over_at_bangkok_midnight_not_utc() -> None:
    just_before = datetime(2025, 12, 31, 16, 59, 59, 999999, tzinfo=UTC)
    midnight = just_before + timedelta(microseconds=1)
    assert (be_year_of(just_before), be_year_of(midnight)) == (2568, 2569)
    # At UTC midnight Bangkok is already seven hours into the new year.
    assert be_year_of(datetime(2026, 1, 1, tzinfo=UTC)) == 2569
    assert local_date(midnight) == date(2026, 1, 1)
    assert format_letter_date(midnight) == "๑ มกราคม ๒๕๖๙"


@pytest.mark.parametrize(
    "call",
    [
        lambda naive: local_date(naive),
        lambda naive: be_year_of(naive),
        lambda naive: be_year(naive),
        lambda naive: format_time(naive),
        lambda naive: format_letter_date(naive),
        lambda naive: format_short_date(naive),
    ],
    ids=["local_date", "be_year_of", "be_year", "format_time", "format_letter_date", "short"],
)
def test_naive_datetimes_are_refused(call: Callable[[datetime], object]) -> None:
    with pytest.raises(ValueError, match="naive"):
        call(datetime(2025, 12, 31, 23, 30))


@pytest.mark.parametrize(
    ("d", "expected"),
    [
        (date(2023, 6, 20), 2566),
        (date(2021, 8, 23), 2564),
        (date(1957, 1, 1), 2500),
        (date(2025, 12, 31), 2568),
        (date(2026, 1, 1), 2569),
    ],
)
def test_be_year(d: date, expected: int) -> None:
    assert be_year(d) == expected


@pytest.mark.parametrize(
    ("t", "expected"),
    [
        (time(9, 5), "09:05 น."),
        (time(0, 0), "00:00 น."),
        (time(23, 59, 59, 999999), "23:59 น."),
        (time(12, 30, tzinfo=UTC), "12:30 น."),  # a bare time is never shifted
        (datetime(2023, 6, 20, 9, 5, tzinfo=BANGKOK), "09:05 น."),
        (datetime(2023, 6, 20, 2, 5, tzinfo=UTC), "09:05 น."),
        (datetime(2023, 6, 20, 9, 5, tzinfo=timezone(timedelta(hours=9))), "07:05 น."),
    ],
)
def test_format_time(t: datetime | time, expected: str) -> None:
    assert format_time(t) == expected
    assert format_time(t, thai_digits=True) == to_thai_digits(expected)


# --------------------------------------------------------------------------------------------
# Letter numbers
# --------------------------------------------------------------------------------------------


def _letter_number_rows() -> list[object]:
    params: list[object] = []
    for lineno, cells in _read_rows("letter_numbers.tsv"):
        assert len(cells) in (2, 7), f"letter_numbers.tsv:{lineno}"
        params.append(pytest.param(cells[0], cells[1:], id=f"letter_numbers.tsv:{lineno}"))
    return params


@pytest.mark.parametrize(("given_text", "expected"), _letter_number_rows())
def test_parse_letter_number_table(given_text: str, expected: list[str]) -> None:
    parsed = parse_letter_number(given_text)
    if expected == ["None"]:
        assert parsed is None
        return
    code, number, circular, is_order, year, normalized = expected
    assert parsed == LetterNumber(
        raw=given_text,
        code=_optional(code) or "",
        number=int(number),
        circular=_bool(circular),
        is_order=_bool(is_order),
        year=int(year) if year != "None" else None,
        normalized=normalized,
    )
    # The canonical form is a fixed point: it parses back to itself.
    again = parse_letter_number(parsed.normalized)
    assert again is not None
    assert again.normalized == parsed.normalized
    # Thai digits written by hand and Arabic digits give the same number.
    thai_written = parse_letter_number(to_thai_digits(given_text))
    assert thai_written is not None
    assert thai_written.normalized == normalized


def test_letter_number_is_frozen_and_keeps_raw() -> None:
    raw = "ที่\u00a0ศธ ๐๔๑๘๓/ว ๑๘๙๑"
    parsed = parse_letter_number(raw)
    assert parsed is not None
    assert parsed.raw == raw
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.number = 2  # type: ignore[misc]


@pytest.mark.parametrize(("a", "b", "expected"), table("letter_numbers_equal.tsv", 3))
def test_letter_numbers_equal_table(a: str, b: str, expected: str) -> None:
    assert letter_numbers_equal(a, b) is _bool(expected)
    assert letter_numbers_equal(b, a) is _bool(expected)


# --------------------------------------------------------------------------------------------
# Charsets
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("hex_bytes", "charset", "expected"), table("charsets.tsv", 3))
def test_decode_thai_table(hex_bytes: str, charset: str, expected: str) -> None:
    assert decode_thai(bytes.fromhex(hex_bytes), _optional(charset)) == expected


def test_tis620_label_is_read_as_cp874() -> None:
    # Why tis-620 is aliased to cp874: Outlook's "tis-620" mail carries Windows quotes and NBSP,
    # which Python's own tis-620 codec turns into invisible C1 controls or rejects.
    quoted = bytes.fromhex("93 b4 e8 c7 b9 94")
    assert quoted.decode("tis-620") == "\x93ด่วน\x94"
    assert decode_thai(quoted, "tis-620") == "“ด่วน”"
    spaced = bytes.fromhex("b7 d5 e8 a0 c8 b8")
    with pytest.raises(UnicodeDecodeError):
        spaced.decode("tis-620")
    assert decode_thai(spaced, "TIS-620") == "ที่\u00a0ศธ"


@pytest.mark.parametrize("label", sorted(THAI_CHARSET_ALIASES))
def test_every_alias_decodes_thai(label: str) -> None:
    assert THAI_CHARSET_ALIASES[label] == "cp874"
    text = "ขอส่งสำเนาหนังสือ “ด่วนที่สุด”"
    assert decode_thai(text.encode("cp874"), label) == text
    assert decode_thai(text.encode("cp874"), label.upper()) == text


@given(
    data=st.binary(max_size=64),
    charset=st.one_of(
        st.none(),
        st.sampled_from(
            [
                "windows-874",
                "tis-620",
                "utf-8",
                "us-ascii",
                "utf-16",
                "idna",
                "undefined",
                "hex",
                "base64",
                "rot13",
                "zlib",
                "x-unknown",
                "",
                " ",
                "\x00",
                "utf-8\x00",
            ]
        ),
        st.text(max_size=12),
    ),
)
def test_decode_thai_never_raises(data: bytes, charset: str | None) -> None:
    assert isinstance(decode_thai(data, charset), str)


@pytest.mark.usefixtures("charsets_registered")
@pytest.mark.parametrize(
    "label", ["windows-874", "Windows-874", "WINDOWS_874", "x-windows-874", "windows874", "ms874"]
)
def test_codecs_know_windows_874_after_registration(label: str) -> None:
    assert codecs.lookup(label).name == "cp874"
    assert "ขอแสดงความนับถือ".encode(label) == bytes.fromhex(
        "a2 cd e1 ca b4 a7 a4 c7 d2 c1 b9 d1 ba b6 d7 cd"
    )


@pytest.mark.usefixtures("charsets_unregistered")
def test_registration_is_idempotent() -> None:
    with pytest.raises(LookupError):
        codecs.lookup("windows-874")
    register_thai_charsets()
    register_thai_charsets()
    assert codecs.lookup("windows-874").name == "cp874"
    # Two calls left one registry entry: a single unregister removes it.
    codecs.unregister(thai._lookup_thai_charset)
    with pytest.raises(LookupError):
        codecs.lookup("windows-874")


def _eml() -> bytes:
    return (DATA / "windows-874.eml").read_bytes()


def _expected_eml_fields() -> dict[str, str]:
    return {cells[0]: cells[1] for _, cells in _read_rows("windows-874.expected.tsv")}


@pytest.mark.usefixtures("charsets_unregistered")
def test_email_garbles_windows_874_without_registration() -> None:
    # The reason register_thai_charsets exists: without it the subject is not Thai.
    msg = email.message_from_bytes(_eml(), policy=email.policy.default)
    subject = str(msg["Subject"])
    assert subject != _expected_eml_fields()["subject"]
    assert not re.search("[ก-ฮ]", subject), subject


@pytest.mark.usefixtures("charsets_registered")
def test_email_default_policy_decodes_windows_874() -> None:
    want = _expected_eml_fields()
    msg = email.message_from_bytes(_eml(), policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    assert str(msg["Subject"]) == want["subject"]
    assert not msg["Subject"].defects
    assert str(msg["Thread-Topic"]) == want["subject"]
    assert msg["From"].addresses[0].display_name == want["from_display_name"]
    assert msg["From"].addresses[0].addr_spec == "saraban04183@obec.go.th"
    body = msg.get_body(preferencelist=("plain",))
    assert body is not None
    assert body.get_content().replace("\r\n", "\n") == want["body"]
    names = [part.get_filename() for part in msg.iter_attachments()]
    assert names == [want["attachment_1"], want["attachment_2"]]


@pytest.mark.usefixtures("charsets_registered")
def test_email_compat32_decodes_windows_874() -> None:
    want = _expected_eml_fields()
    msg = email.message_from_bytes(_eml(), policy=email.policy.compat32)
    raw_subject = msg["Subject"]
    assert isinstance(raw_subject, str)
    assert raw_subject.startswith("=?windows-874?B?")
    assert str(make_header(decode_header(raw_subject))) == want["subject"]
    parts = [part for part in msg.walk() if not part.is_multipart()]
    text_part = parts[0]
    payload = text_part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    assert (
        decode_thai(payload, text_part.get_content_charset()).replace("\r\n", "\n")
        == (want["body"])
    )
    # RFC 2231 filename*=windows-874''… is decoded by the stdlib once the codec is known.
    assert parts[1].get_filename() == want["attachment_1"]


@pytest.mark.usefixtures("charsets_registered")
def test_email_header_built_here_round_trips() -> None:
    subject = "ขอเชิญประชุม ที่ ศธ ๐๔๑๘๓/ว๑๘๙๑"
    encoded = "=?windows-874?B?" + base64.b64encode(subject.encode("cp874")).decode() + "?="
    raw = f"Subject: {encoded}\r\n\r\nbody\r\n".encode("ascii")
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert str(msg["Subject"]) == subject
    assert normalize_for_match(str(msg["Subject"])).endswith("ศธ 04183/ว1891")
