"""format=flowed (RFC 3676) read back into what the writer typed, and mail that Thunderbird
itself wrote and sent (tests/data/eml/thunderbird, scripts/make-thunderbird) read as typed:
a clerk's correction, a unit's return and an agency's letter."""

from __future__ import annotations

import datetime as dt
import email
import json
from email import policy
from pathlib import Path

import pytest

from gateway.core.edits import FIELD_LABELS
from gateway.core.extract.merge import extract_fields
from gateway.core.parse.corrections import REGISTER, correction_reply
from gateway.core.parse.flowed import unflow
from gateway.core.parse.message import parse_message
from gateway.forwarding.routing import read_unit_reply
from tests.corpus.mail import letter_mail

TB = Path(__file__).resolve().parents[1] / "data" / "eml" / "thunderbird"
TRUTH = json.loads((TB / "truth.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize(("text", "delsp", "expected"), [
    ("ab \ncd", False, "ab cd"),  # a soft break: joined, its space kept
    ("ab \ncd", True, "abcd"),  # delsp=yes: the space was the client's own
    ("ab\ncd", False, "ab\ncd"),  # hard breaks stay
    ("เรื่อง: \nขอความ \nร่วมมือ\nลงรับ", False, "เรื่อง: ขอความ ร่วมมือ\nลงรับ"),
    ("> a \n> b\nc", False, "> a b\nc"),  # quoted paragraphs are joined within their depth
    (">> a \n>> b", False, ">> a b"),
    ("> a \nb", False, "> a \nb"),  # the depth changed under a flowed line: not joined
    (" From here\n >not a quote", False, "From here\n>not a quote"),  # space-stuffing undone
    ("-- \nสมศรี", False, "-- \nสมศรี"),  # the signature separator is never flowed
    ("a \r\nb\r\n", False, "a b\n"),
    ("last ", False, "last "),  # flowed at the very end: kept as it is
    ("", False, ""),
])
def test_unflow(text: str, delsp: bool, expected: str) -> None:
    assert unflow(text, delsp=delsp) == expected


def test_a_flowed_part_is_read_joined_and_a_fixed_one_is_not() -> None:
    raw = letter_mail(None, body="เรื่อง: ขอเชิญ \nประชุม\n")
    flowed = raw.replace(b"charset=\"utf-8\"", b"charset=\"utf-8\"; format=flowed")
    assert flowed != raw
    assert parse_message(flowed).body_text.startswith("เรื่อง: ขอเชิญ ประชุม")
    fixed = parse_message(raw).body_text.splitlines()
    assert [line.strip() for line in fixed[:2]] == ["เรื่อง: ขอเชิญ", "ประชุม"]


def _typed(case: str) -> dict[str, str]:
    """The fields the person typed, by field name (one `label: value` a line)."""
    out = {}
    for line in TRUTH[case]["typed"].splitlines():
        label, sep, value = line.partition(": ")
        if sep and label in FIELD_LABELS:
            out[FIELD_LABELS[label]] = value
    return out


def _raw(case: str) -> bytes:
    return (TB / f"{case}.eml").read_bytes()


@pytest.mark.parametrize("case", ["reply-top-plain", "reply-below-html", "unit-return",
                                  "letter-from-agency"])
def test_thunderbird_really_cut_the_lines(case: str) -> None:
    """The fixtures hold what they are for: flowed text, in which a typed line was cut."""
    msg = email.message_from_bytes(_raw(case), policy=policy.default)
    body = msg.get_body(("plain",))
    assert body is not None and body.get_param("format") == "flowed"
    assert "Thunderbird" in str(msg["User-Agent"])
    sent = body.get_content()
    longest = max(TRUTH[case]["typed"].splitlines(), key=len)
    assert longest not in sent and longest.split(" ")[0] in sent


@pytest.mark.parametrize("case", ["reply-top-plain", "reply-below-html"])
def test_a_clerks_correction_from_thunderbird_is_read_as_typed(case: str) -> None:
    msg = parse_message(_raw(case))
    reply = correction_reply(msg.subject, msg.body_text)
    assert reply is not None and reply.review == 1
    fix = reply.correction
    assert dict(fix.texts) == _typed(case)
    assert fix.command == REGISTER and not fix.unread and not fix.ignored


def test_a_units_return_from_thunderbird_keeps_its_whole_reason() -> None:
    msg = parse_message(_raw("unit-return"))
    answer = read_unit_reply(msg.body_text, msg.subject)
    typed = TRUTH["unit-return"]["typed"].splitlines()[0]
    assert not answer.accept and answer.reason == typed.removeprefix("คืน ")


def test_an_agencys_letter_from_thunderbird() -> None:
    """Its Thai file name (RFC 2231, in pieces) and the fields its body gives, whole; the
    e-mail's subject "ส่งหนังสือ ขก …" gives the number, not the เรื่อง."""
    msg = parse_message(_raw("letter-from-agency"))
    assert [a.filename for a in msg.attachments] == TRUTH["letter-from-agency"]["attached_as"]
    assert msg.attachments[0].data.startswith(b"%PDF")
    fields = extract_fields(None, None, msg, None, today=dt.date(2026, 12, 7))
    assert fields.letter_no is not None and fields.letter_no.value == "ขก 0017.3/745"
    assert fields.letter_date is not None and fields.letter_date.value == dt.date(2025, 11, 20)
    assert fields.subject is not None and fields.subject.value == LETTER_SUBJECT


LETTER_SUBJECT = ("ประชาสัมพันธ์การรับสมัครคัดเลือกบุคคลเพื่อบรรจุและแต่งตั้งเข้ารับราชการเป็นข้าราชการครู"
                  "และบุคลากรทางการศึกษา ตำแหน่งครูผู้ช่วย กรณีที่มีความจำเป็นหรือมีเหตุพิเศษ")


def test_a_letter_a_clerk_forwarded_inline_from_thunderbird() -> None:
    """Thunderbird forwards inline by default: the letter's e-mail under a header block in Thai
    (หัวเรื่อง:, วันที่: <e-mail date>, จาก:, ถึง:). The letter's fields come from its text, not
    from that block or the "Fwd:" subject."""
    msg = parse_message(_raw("forwarded-by-clerk"))
    assert msg.subject.startswith("Fwd:")
    assert [a.filename for a in msg.attachments] == TRUTH["letter-from-agency"]["attached_as"]
    fields = extract_fields(None, None, msg, None, today=dt.date(2026, 12, 7))
    assert fields.letter_no is not None and fields.letter_no.value == "ขก 0017.3/745"
    assert fields.letter_date is not None and fields.letter_date.value == dt.date(2025, 11, 20)
    assert fields.subject is not None and fields.subject.value == LETTER_SUBJECT
    assert fields.sender is not None and fields.sender.value == "สำนักงานจังหวัดขอนแก่น"
