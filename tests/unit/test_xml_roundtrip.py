"""Property tests: any letter or notifier we can represent survives build → serialize → parse
unchanged, in both dialects, and what is complete also validates against our XSDs and reads back
with no variant. Thai text with ``&``, ``<``, ``>``, quotes, Thai digits, combining marks, CR/LF
and very long subjects included."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.xmlletter import (
    Dialect,
    Notifier,
    NotifierKind,
    OutgoingFile,
    OutgoingXmlLetter,
    Party,
    Reference,
    XmlLetter,
    build_letter_xml,
    build_notifier,
    read_letter_xml,
    validate_xml,
)

PROPERTY = settings(
    max_examples=200,
    deadline=None,
    # very long Thai subjects are the point of the property, not a generator accident
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Characters XML 1.0 can carry, weighted towards what Thai letters contain: Thai consonants,
# vowels and tone marks (combining), Thai digits, the markup characters, quotes, white space.
THAI_CHARS = st.characters(min_codepoint=0x0E01, max_codepoint=0x0E5B)
SPECIAL = st.sampled_from(
    list("&<>\"' \t\r\n/.-()๐๑๒๓๔๕๖๗๘๙") + ["\u0e4d\u0e32", "\u00a0", "\u200b"]
)
ANY_XML_CHAR = st.characters(
    exclude_categories=["Cs"],  # no lone surrogates
    exclude_characters=[chr(c) for c in range(0x20) if c not in (9, 10, 13)] + ["\ufffe", "\uffff"],
)
TEXT = st.lists(st.one_of(THAI_CHARS, SPECIAL, ANY_XML_CHAR), max_size=60).map("".join)
# Subjects of a few thousand characters, made by repeating a random piece: drawing thousands of
# characters one by one would exhaust Hypothesis's data budget.
LONG_TEXT = st.one_of(
    TEXT,
    st.builds(
        lambda piece, length: (piece * (length // len(piece) + 1))[:length],
        TEXT.filter(bool),
        st.integers(min_value=2000, max_value=5000),
    ),
)
NON_BLANK = TEXT.filter(lambda s: bool(s.strip()))
DIGITS = st.text(alphabet="0123456789", max_size=10)
CODES = st.sampled_from(["", "001", "002", "003", "004", "009", "1", "๐๐๒", " 003 "])
KNOWN_CODES = st.sampled_from(["001", "002", "003", "004"])
MIME = st.one_of(
    st.sampled_from(
        [
            "application/pdf",
            "text/plain",
            "text/plain; charset=TIS-620",
            "image/jpeg",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ]
    ),
    st.from_regex(r"[a-z]{1,8}/[a-z0-9.+-]{1,12}", fullmatch=True),
)
# Years from 2400 on are read as Buddhist-era (the builder refuses them): not representable.
DATES = st.dates(min_value=date(1, 1, 1), max_value=date(2399, 12, 31))
REAL_DATES = st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31))
OFFSETS = st.sampled_from(
    [None, UTC, timezone(timedelta(hours=7)), timezone(-timedelta(hours=3, minutes=30))]
)
SEND_DATES = st.one_of(
    st.none(),
    st.builds(
        lambda moment, tz: moment.replace(microsecond=0, tzinfo=tz),
        st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(2399, 12, 30)),
        OFFSETS,
    ),
)
FILES = st.builds(OutgoingFile, mime_code=MIME, data=st.binary(min_size=1, max_size=3000))
# Known MIME codes only (an unknown one is flagged), and no text/plain (random bytes are not text).
KNOWN_FILES = st.builds(
    OutgoingFile,
    mime_code=st.sampled_from(["application/pdf", "image/jpeg", "application/zip", "image/png"]),
    data=st.binary(min_size=1, max_size=3000),
)


def parties(ids: st.SearchStrategy[str], names: st.SearchStrategy[str]) -> st.SearchStrategy[Party]:
    return st.builds(
        Party,
        given_name=TEXT,
        family_name=TEXT,
        job_title=TEXT,
        ministry_id=DIGITS,
        department_id=ids,
        ministry_name=TEXT,
        department_name=names,
    )


LETTERS = st.builds(
    OutgoingXmlLetter,
    letter_id=TEXT,
    correspondence_date=DATES,
    subject=LONG_TEXT,
    secrecy_code=CODES,
    speed_code=CODES,
    sender=parties(DIGITS, TEXT),
    receiver=parties(DIGITS, TEXT),
    references=st.lists(
        st.builds(Reference, letter_id=TEXT, correspondence_date=st.none() | DATES, subject=TEXT),
        max_size=3,
    ).map(tuple),
    attachment_text=TEXT,
    send_date=SEND_DATES,
    description=LONG_TEXT,
    main_letter=FILES,
    attachments=st.lists(FILES, max_size=3).map(tuple),
)

# Complete letters: what our XSDs require is there.
COMPLETE_LETTERS = st.builds(
    OutgoingXmlLetter,
    letter_id=NON_BLANK,
    correspondence_date=REAL_DATES,
    subject=st.one_of(NON_BLANK, LONG_TEXT.filter(lambda s: bool(s.strip()))),
    secrecy_code=KNOWN_CODES,
    speed_code=KNOWN_CODES,
    sender=parties(DIGITS.filter(bool), TEXT),
    receiver=parties(DIGITS.filter(bool), TEXT),
    references=st.lists(
        st.builds(
            Reference, letter_id=NON_BLANK, correspondence_date=st.none() | REAL_DATES, subject=TEXT
        ),
        max_size=3,
    ).map(tuple),
    attachment_text=TEXT,
    send_date=SEND_DATES,
    description=TEXT,
    main_letter=KNOWN_FILES,
    attachments=st.lists(KNOWN_FILES, max_size=2).map(tuple),
)


def as_outgoing(letter: XmlLetter) -> OutgoingXmlLetter:
    """The letter as it would have been given to the builder (codes and MIME codes raw)."""
    assert letter.correspondence_date is not None
    return OutgoingXmlLetter(
        letter_id=letter.letter_id,
        correspondence_date=letter.correspondence_date,
        subject=letter.subject,
        secrecy_code=letter.secrecy.raw if letter.secrecy else "",
        speed_code=letter.speed.raw if letter.speed else "",
        sender=letter.sender,
        receiver=letter.receiver,
        references=letter.references,
        attachment_text=letter.attachment_text,
        send_date=letter.send_date,
        description=letter.description,
        main_letter=(
            OutgoingFile(letter.main_letter.mime_code, letter.main_letter.data)
            if letter.main_letter
            else None
        ),
        attachments=tuple(OutgoingFile(a.mime_code, a.data) for a in letter.attachments),
    )


def carried(letter: OutgoingXmlLetter, dialect: Dialect) -> OutgoingXmlLetter:
    """What ``dialect`` carries of ``letter``: DGA has no people, codes for organisations,
    references, free texts, send date or files."""
    if dialect == "ecms":
        return replace(
            letter,
            sender=replace(letter.sender, ministry_name="", department_name=""),
            receiver=replace(letter.receiver, ministry_name="", department_name=""),
        )
    return OutgoingXmlLetter(
        letter_id=letter.letter_id,
        correspondence_date=letter.correspondence_date,
        subject=letter.subject,
        secrecy_code=letter.secrecy_code,
        speed_code=letter.speed_code,
        sender=Party(
            ministry_name=letter.sender.ministry_name,
            department_name=letter.sender.department_name,
        ),
        receiver=Party(
            ministry_name=letter.receiver.ministry_name,
            department_name=letter.receiver.department_name,
        ),
    )


def _blank_codes(letter: OutgoingXmlLetter) -> OutgoingXmlLetter:
    # An all-blank code reads as "no code" (None), which as_outgoing gives back as "".
    return replace(
        letter,
        secrecy_code=letter.secrecy_code if letter.secrecy_code.strip() else "",
        speed_code=letter.speed_code if letter.speed_code.strip() else "",
    )


@PROPERTY
@given(LETTERS, st.sampled_from(["ecms", "dga"]))
def test_any_letter_survives_build_and_read(letter: OutgoingXmlLetter, dialect: Dialect) -> None:
    result = read_letter_xml(build_letter_xml(letter, dialect=dialect))
    assert result.letter is not None and result.letter.dialect == dialect
    assert as_outgoing(result.letter) == carried(_blank_codes(letter), dialect)


@PROPERTY
@given(COMPLETE_LETTERS, st.sampled_from(["ecms", "dga"]))
def test_complete_letters_validate_and_read_back_canonical(
    letter: OutgoingXmlLetter, dialect: Dialect
) -> None:
    data = build_letter_xml(letter, dialect=dialect)
    report = validate_xml(data)
    assert report.valid, report.issues
    result = read_letter_xml(data)
    assert result.validation == report
    # our own output is the canonical form: no variant, nothing flagged
    assert result.variants == () and result.notices == ()
    assert result.letter is not None
    assert as_outgoing(result.letter) == carried(letter, dialect)
    if dialect == "ecms" and letter.main_letter is not None:
        main = result.letter.main_letter
        assert main is not None and main.size == len(letter.main_letter.data)


NOTIFIERS = st.builds(
    lambda kind, letter_id, when, subject, accept_id, accept_date, department: Notifier(
        kind=kind,
        letter_id=letter_id,
        correspondence_date=when,
        subject=subject,
        accept_id=accept_id if kind.carries_accept_id else "",
        accept_date=accept_date if kind is NotifierKind.ACCEPT else None,
        accept_department_code=department if kind is NotifierKind.ACCEPT else "",
    ),
    st.sampled_from(list(NotifierKind)),
    TEXT,
    st.none() | DATES,
    LONG_TEXT,
    TEXT,
    st.none() | DATES,
    DIGITS,
)


@PROPERTY
@given(NOTIFIERS)
def test_any_notifier_survives_build_and_read(notifier: Notifier) -> None:
    data = build_notifier(notifier)
    result = read_letter_xml(data)
    assert result.notifier == notifier
    complete = bool(notifier.letter_id.strip()) and (
        notifier.kind is not NotifierKind.ACCEPT or bool(notifier.accept_id.strip())
    )
    assert validate_xml(data).valid is complete
    if complete:
        assert result.variants == () and result.notices == ()
