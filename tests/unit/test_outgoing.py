"""The pure part of sending: subject tags, mail commands, names, numbers, refusals."""

from __future__ import annotations

import hashlib

import pytest

from gateway.letter import Attachment, Secrecy, Speed
from gateway.outbound.rules import (
    Book,
    CommandKind,
    file_name,
    letter_number,
    number_matches,
    plan_submission,
    read_command,
    read_subject,
)
from gateway.thai import parse_letter_number


@pytest.mark.parametrize(
    ("subject", "clean", "book", "speed", "reserved", "number"),
    [
        ("ขอเชิญประชุม", "ขอเชิญประชุม", Book.SEND, None, None, None),
        ("[เวียน] [ด่วนมาก] ขอเชิญประชุม", "ขอเชิญประชุม", Book.CIRCULAR, Speed.VERY_URGENT, None, None),
        ("[คำสั่ง]แต่งตั้งคณะกรรมการ", "แต่งตั้งคณะกรรมการ", Book.ORDER, None, None, None),
        ("ขอเชิญ [ด่วนที่สุด]", "ขอเชิญ", Book.SEND, Speed.MOST_URGENT, None, None),
        ("[เลขสำรอง ๑๒๓] ส่งรายงาน", "ส่งรายงาน", Book.SEND, None, 123, None),
        ("[ที่ ศธ 04183/ว45] แจ้งเวียน", "แจ้งเวียน", Book.CIRCULAR, None, None, "ศธ 04183/ว45"),
        ("Re: Fwd: [ด่วน] ตอบข้อหารือ", "ตอบข้อหารือ", Book.SEND, Speed.URGENT, None, None),
        ("[แก้ไข] ขอเชิญประชุม", "[แก้ไข] ขอเชิญประชุม", Book.SEND, None, None, None),
    ],
)
def test_subject_tags(subject: str, clean: str, book: Book, speed: Speed | None,
                      reserved: int | None, number: str | None) -> None:
    o = read_subject(subject)
    assert o.subject == clean
    assert o.book is book
    assert o.speed == speed
    assert o.reserved_number == reserved
    assert (o.letter_no.normalized if o.letter_no else None) == number


def test_unknown_and_bad_tags_are_reported() -> None:
    o = read_subject("[แก้ไข] [ที่ ไม่มีเลข] เรื่อง")
    assert o.unknown_tags == ("แก้ไข",)
    assert o.bad_tags == ("ที่ ไม่มีเลข",)


def test_secrecy_and_confirmation_tags() -> None:
    o = read_subject("[ลับมาก][ยืนยันผู้รับ][สำเนาหน่วยงาน] x")
    assert o.secrecy is Secrecy.SECRET
    assert o.confirm_recipients and o.cc_unit
    assert o.subject == "x"


@pytest.mark.parametrize(
    ("subject", "kind", "book", "count", "error"),
    [
        ("วิธีใช้", CommandKind.HELP, Book.SEND, 1, False),
        ("ขอเลข ส่ง", CommandKind.NUMBERS, Book.SEND, 1, False),
        ("ขอเลข", CommandKind.NUMBERS, Book.SEND, 1, False),
        ("สำรองเลข 5 ส่งเวียน", CommandKind.NUMBERS, Book.CIRCULAR, 5, False),
        ("สำรองเลข ๓ คำสั่ง", CommandKind.NUMBERS, Book.ORDER, 3, False),
        ("ขอเลข คำสั่ง 2", CommandKind.NUMBERS, Book.ORDER, 2, False),
        ("ตอบกลับ: ขอเลข ส่ง", CommandKind.NUMBERS, Book.SEND, 1, False),
        ("ขอเลข 500 ส่ง", CommandKind.NUMBERS, Book.SEND, 500, True),
        ("ขอเลข สมุดเล่มใหม่", CommandKind.NUMBERS, Book.SEND, 1, True),
    ],
)
def test_commands(subject: str, kind: CommandKind, book: Book, count: int, error: bool) -> None:
    c = read_command(subject)
    assert c is not None
    assert (c.kind, c.book, c.count, bool(c.error_th)) == (kind, book, count, error)


@pytest.mark.parametrize("subject", ["ขอเชิญประชุม", "ขอเลขที่บัญชี ธนาคาร เพื่อโอนเงิน ค่าตอบแทน", ""])
def test_letters_are_not_commands(subject: str) -> None:
    assert read_command(subject) is None


def test_numbers_and_names() -> None:
    assert letter_number(Book.SEND, code="ศธ 04183", number=7, year=2569) == "ศธ 04183/7"
    assert letter_number(Book.CIRCULAR, code="ศธ 04183", number=7, year=2569, thai_digits=True) == "ศธ ๐๔๑๘๓/ว๗"
    assert letter_number(Book.ORDER, code="ศธ 04183", number=12, year=2569) == "12/2569"
    assert file_name("{year}_{code}_{number}", year=2569, code="OBEC04183", number=7) == "2569_OBEC04183_7.pdf"
    assert file_name("{year}_{code}_W{number}", year=2569, code="OBEC04183", number=7, enclosure=2,
                     extension="DOCX") == "2569_OBEC04183_W7_2.docx"
    # never a path, never non-ASCII
    assert file_name("../{year}_{code}/{number}", year=2569, code="สพฐ", number=1) == "2569_1.pdf"


def test_printed_number_must_match() -> None:
    printed = parse_letter_number("ที่ ศธ ๐๔๑๘๓/ว๑๒")
    assert number_matches(printed, Book.CIRCULAR, 12, "ศธ 04183", 2569)
    assert not number_matches(printed, Book.CIRCULAR, 13, "ศธ 04183", 2569)
    assert not number_matches(printed, Book.SEND, 12, "ศธ 04183", 2569)
    assert number_matches(None, Book.SEND, 1, "ศธ 04183", 2569)
    order = parse_letter_number("ที่ 12/2569")
    assert number_matches(order, Book.ORDER, 12, "ศธ 04183", 2569)
    assert not number_matches(order, Book.ORDER, 12, "ศธ 04183", 2570)


def _att(name: str, data: bytes, ctype: str = "application/pdf") -> Attachment:
    return Attachment(name, name, ctype, data, hashlib.sha256(data).hexdigest(), False, None, "mime")


PDF = _att("letter.pdf", b"%PDF-1.7\n" + b"0" * 1000)


def _plan(**kw: object):  # type: ignore[no-untyped-def]
    base: dict[str, object] = dict(
        subject="ขอเชิญประชุม", recipients=["saraban@a.go.th"], directory={"saraban@a.go.th": "กรม ก"},
        main=PDF, enclosures=(), pdf_readable=True, printed_number=None, printed_secrecy=None,
        printed_speed=None, own_addresses=["saraban@agency.test"], allow_unlisted=False,
        max_message_bytes=25 * 1024 * 1024)
    base.update(kw)
    return plan_submission(**base)  # type: ignore[arg-type]


def test_a_good_submission_goes() -> None:
    plan = _plan(recipients=["SARABAN@a.go.th", "saraban@agency.test", "saraban@a.go.th"])
    assert not plan.refused
    assert [r.address for r in plan.recipients] == ["saraban@a.go.th"]  # ourselves and duplicates out
    assert plan.recipients[0].name_th == "กรม ก"


@pytest.mark.parametrize(
    ("kw", "code"),
    [
        ({"subject": "[ลับ] เรื่องลับ"}, "secret"),
        ({"printed_secrecy": Secrecy.TOP_SECRET}, "secret"),
        ({"recipients": ["x@unknown.go.th"]}, "unlisted"),
        ({"recipients": []}, "no_recipient"),
        ({"main": None}, "no_pdf"),
        ({"pdf_readable": False}, "pdf_unreadable"),
        ({"subject": "[ด่วน]"}, "no_subject"),
        ({"max_message_bytes": 1000}, "too_big"),
        ({"subject": "[เลขสำรอง 5][ที่ ศธ 04183/6] x"}, "tag_conflict"),
    ],
)
def test_refusals(kw: dict[str, object], code: str) -> None:
    plan = _plan(**kw)
    assert plan.refused
    assert code in {r.code for r in plan.refusals}
    assert all(r.reason_th for r in plan.refusals)


def test_unlisted_recipients_pass_when_confirmed_or_allowed() -> None:
    assert not _plan(subject="[ยืนยันผู้รับ] x", recipients=["x@unknown.go.th"]).refused
    assert not _plan(recipients=["x@unknown.go.th"], allow_unlisted=True).refused


def test_every_reason_is_listed_not_just_the_first() -> None:
    plan = _plan(subject="[ลับ]", main=None, recipients=[])
    assert {"secret", "no_pdf", "no_recipient", "no_subject"} <= {r.code for r in plan.refusals}


@pytest.mark.parametrize("name", ["gateway.outbound.rules", "gateway.forwarding.routing", "gateway.outbound.bounces",
                                  "gateway.outbound.bounces.read", "gateway.outbound.bounces.dsn",
                                  "gateway.outbound.bounces.legacy", "gateway.outbound.bounces.mime",
                                  "gateway.outbound.bounces.status", "gateway.outbound.bounces.verp",
                                  "gateway.reports.trace"])
def test_the_send_and_routing_core_does_no_io(name: str) -> None:
    """architecture.md: the pure core takes data and returns data — no files, sockets, clock,
    randomness, logging or store (imports anywhere in the module, lazy ones included)."""
    import ast
    import importlib
    from pathlib import Path

    module = importlib.import_module(name)
    tree = ast.parse(Path(str(module.__file__)).read_text("utf-8"))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module if node.module.startswith(("gateway", "store")) else node.module.split(".")[0])
    forbidden = {"os", "socket", "pathlib", "time", "logging", "asyncio", "subprocess", "secrets", "random",
                 "sqlalchemy", "aiosmtplib", "aioimaplib", "tempfile", "shutil"}
    assert not imported & forbidden, imported & forbidden
    assert not {m for m in imported if m.startswith(("store", "gateway.app", "gateway.inbound.pipeline",
                                                      "gateway.effects", "gateway.intake"))}
