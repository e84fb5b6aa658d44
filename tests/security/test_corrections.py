"""Corrections (#21) as an attacker would try them: each case one row.

What a clerk types (or what a reply quoting a hostile sender carries) into a field is cleaned
before it reaches the register, an export never hands a spreadsheet a formula, and a secret
letter's correction never leaves by mail. The pure reader, the export, and the real desk on
SQLite with the injected clock.
"""

from __future__ import annotations

import csv
import datetime as dt
import email
import io
import json
from email import policy
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.app import Store, open_store
from gateway.core.compose import template_env
from gateway.core.edits import EditError, Edits, read_edit
from gateway.inbound.pipeline import Pipeline
from gateway.reports.export import ExportRow, to_csv
from gateway.service import accept_smtp
from gateway.store.tables import AuditEntry, Forward, Letter, OutboxItem
from tests.conftest import FakeClock, add_to_directory, make_settings
from tests.corpus.mail import letter_mail, numbered_letter_pdf

TODAY = dt.date(2026, 12, 2)
KNOWN = "saraban@obec.go.th"

# (case, field, typed, kept: the stored value, or None when it must be refused)
HOSTILE = [
    ("CSV formula in the subject", "subject", "=HYPERLINK(\"http://evil.example\",\"คลิก\")",
     "=HYPERLINK(\"http://evil.example\",\"คลิก\")"),
    ("CSV formula in the number", "letter_no", "+cmd|' /C calc'!A0", "+cmd|' /C calc'!A0"),
    ("terminal escape clears the screen", "sender", "กรม\x1b[2Jบัญชีกลาง", "กรมบัญชีกลาง"),
    ("OSC 52 clipboard write", "subject", "เรื่อง\x1b]52;c;ZXZpbA==\x07ทดสอบ", "เรื่องทดสอบ"),
    ("bidi override reverses text", "subject", "ประชุม\u202eฟดพ.exe", "ประชุมฟดพ.exe"),
    ("line break to forge a second field", "subject", "ประชุม\nลงวันที่: 1 ม.ค. 2500", "ประชุม ลงวันที่: 1 ม.ค. 2500"),
    ("NUL and controls", "recipient", "ผู้อำนวยการ\x00\x07\x08", "ผู้อำนวยการ"),
    ("only invisible characters", "sender", "\u200b\u2060\ufeff", None),
    ("a number longer than the column", "letter_no", "ก/" * 150, None),
    ("a subject of 5,000 characters", "subject", "ก" * 5000, None),
    ("a date far in the future", "letter_date", "1 ม.ค. 2700", None),
    ("a date as an SQL fragment", "letter_date", "3 ธ.ค. 2569'; DROP TABLE letters;--", None),
    ("a speed that is a secrecy word", "speed", "ลับที่สุด", None),
]


@pytest.mark.parametrize(("case", "field", "typed", "kept"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_field_text(case: str, field: str, typed: str, kept: str | None) -> None:
    if kept is None:
        with pytest.raises(EditError) as exc:
            read_edit(field, typed, today=TODAY)
        assert len(exc.value.message_th) < 400  # the answer quotes a bounded piece of it
        assert "\x1b" not in exc.value.message_th or "\x1b" in typed
        return
    value = read_edit(field, typed, today=TODAY)
    assert value == kept
    row = ExportRow("receive", 2569, 1, "registered", dt.datetime(2026, 12, 2, 3, tzinfo=dt.UTC),
                    **{"letter_no": "", "letter_date": None, "sender": "", "recipient": "", "subject": "",
                       field: value},  # type: ignore[arg-type]
                    action="", remarks="", speed="", secrecy="", channel="cli", letter_id=1)
    (head, line) = list(csv.reader(io.StringIO(to_csv([row]).decode("utf-8-sig"))))
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in line), line  # never a formula
    assert all(ch.isprintable() for cell in line for ch in cell)


@pytest.fixture
async def desk(tmp_path: Path):  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path)
    store = await open_store(settings, upgrade=True, clock=FakeClock(dt.datetime(2026, 12, 2, 3, tzinfo=dt.UTC)))
    await add_to_directory(store, KNOWN)
    yield store, Pipeline.build(store, template_env())
    await store.close()


async def _kinds(store: Store) -> list[str]:
    async with store.readers() as s:
        return sorted((await s.execute(select(OutboxItem.kind))).scalars())


async def test_a_secret_letters_correction_is_never_mailed_to_its_unit(desk) -> None:  # type: ignore[no-untyped-def]
    store, pipeline = desk
    letter_id = await accept_smtp(store, letter_mail(numbered_letter_pdf(1)), KNOWN, [store.settings.agency.central_addresses[0]])
    await pipeline.process(letter_id)
    async with store.sessions.begin() as s:  # marked ลับ after the fact, already with a unit
        letter = await s.get(Letter, letter_id)
        assert letter is not None and letter.state == "registered"
        letter.secrecy = "ลับ"
        s.add(Forward(letter_id=letter_id, unit_code="admin", role="primary", token="t" * 20, state="sent",
                      via="cli", by="clerk:test", forwarded_at=store.clock(), accepted_by="", return_reason=""))
    before = await _kinds(store)
    outcome = await pipeline.clerk.amend(letter_id, Edits(subject="เรื่องลับที่แก้แล้ว"), actor="clerk:test",
                                         reason="แก้เรื่อง")
    assert outcome.state == "registered" and not outcome.error_th
    assert await _kinds(store) == before  # no unit-amended mail
    async with store.readers() as s:
        withheld = (await s.execute(select(AuditEntry).where(
            AuditEntry.action == "unit.amend_withheld"))).scalar_one()
    assert json.loads(withheld.details) == {"units": ["admin"], "secret": True}


async def test_a_secret_letter_refused_at_registration_is_named_by_its_id_only(desk) -> None:  # type: ignore[no-untyped-def]
    store, pipeline = desk
    raw = letter_mail(None, subject="เรื่องลับมาก ห้ามเผยแพร่")
    letter_id = await accept_smtp(store, raw, KNOWN, [store.settings.agency.central_addresses[0]])
    await pipeline.process(letter_id)
    async with store.sessions.begin() as s:
        letter = await s.get(Letter, letter_id)
        assert letter is not None
        letter.secrecy = "ลับ"
    outcome = await pipeline.clerk_register(letter_id, actor="clerk:imap:test")
    assert outcome.missing == ("letter_no", "letter_date")
    await pipeline.tell_register_refused(outcome, moved_to="รอตรวจสอบ")
    async with store.readers() as s:
        item = (await s.execute(select(OutboxItem).where(OutboxItem.kind == "register-refused"))).scalar_one()
    m = email.message_from_bytes(store.blobs.get(item.message_sha256 or ""), policy=policy.default)
    body = m.get_body(("plain",))
    assert body is not None
    text = str(body.get_content())
    assert f"รหัสหนังสือ  {letter_id}" in text and "ยังไม่มี ที่, ลงวันที่" in text
    assert "ห้ามเผยแพร่" not in text + str(m["Subject"])  # the secret letter's subject stays inside
