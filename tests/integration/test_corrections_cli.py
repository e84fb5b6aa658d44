"""The clerk's corrections on the command line (#21), as a clerk types them: `letter edit`
registers a letter from review with the fields given or amends a registered one, `letter
reject` tells the sender why, `registers cancel` cancels a letter that may be registered
again. The real command line on a real SQLite store; letters come in by the real pipeline."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import email
import io
import json
from collections.abc import Awaitable, Callable, Iterator
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

import pytest
import time_machine
from sqlalchemy import func, select

from gateway.app import opened_store
from gateway.clock import system_clock
from gateway.config import load_settings
from gateway.core.compose import template_env
from gateway.inbound.pipeline import Pipeline
from gateway.reports.digest import gather
from gateway.reports.export import JSON_KEYS
from gateway.service import accept_smtp
from gateway.store.handle import Store
from gateway.store.tables import Amendment, AuditEntry, Letter, OutboxItem, RegisterEntry
from gateway.thai import BANGKOK, be_year_of, format_short_date
from tests.conftest import add_to_directory
from tests.corpus.mail import letter_mail, numbered_letter_pdf
from tests.dnsserver import quiet_dns
from tests.integration.test_cli import UNITS, cli
from tests.processes import write_config

pytestmark = pytest.mark.integration

CENTRAL = "saraban@agency.test"
KNOWN = "saraban@obec.go.th"  # in the directory: acknowledgements and notices may go to it
T = TypeVar("T")

# The CLI reads the system clock: these tests hold it at one working morning (moving on from
# there), so that every date typed is from the year the CLI sees, also in a run that crosses
# midnight on 31 December (scripts/test --at 2026-12-31T23:59:30+07:00).
NOW = dt.datetime(2026, 12, 4, 10, 0, tzinfo=BANGKOK)
TODAY = NOW.date()
YEAR = be_year_of(NOW)
DATE_TEXT = f"3 ธ.ค. {YEAR}"  # the form a clerk types; read as 3 December of this year
DATE = TODAY.replace(month=12, day=3)


@pytest.fixture(autouse=True)
def _pinned_clock() -> Iterator[None]:
    with time_machine.travel(NOW, tick=True):
        assert system_clock().astimezone(BANGKOK).date() == TODAY
        yield


@pytest.fixture
def site(tmp_path: Path) -> Path:
    write_config(tmp_path / "config.toml", UNITS, dns=quiet_dns())
    assert cli(tmp_path, "db", "upgrade").returncode == 0
    return tmp_path


def in_store(site: Path, work: Callable[[Store], Awaitable[T]]) -> T:
    async def run() -> T:
        async with opened_store(load_settings(site / "config.toml")) as store:
            return await work(store)
    return asyncio.run(run())


def take(site: Path, raw: bytes) -> int:
    """A message in by SMTP through the real pipeline; its letter id."""
    async def work(store: Store) -> int:
        await add_to_directory(store, KNOWN)
        letter_id = await accept_smtp(store, raw, KNOWN, [CENTRAL])
        await Pipeline.build(store, template_env()).process(letter_id)
        return letter_id
    return in_store(site, work)


def letter(site: Path, letter_id: int) -> Letter:
    async def work(store: Store) -> Letter:
        async with store.readers() as s:
            row = await s.get(Letter, letter_id)
        assert row is not None
        return row
    return in_store(site, work)


def rows(site: Path, model: Any, *where: Any) -> list[Any]:
    async def work(store: Store) -> list[Any]:
        async with store.readers() as s:
            order = model.seq if model is AuditEntry else model.id
            return list((await s.execute(select(model).where(*where).order_by(order))).scalars())
    return in_store(site, work)


def mails(site: Path, kind: str) -> list[EmailMessage]:
    async def work(store: Store) -> list[EmailMessage]:
        async with store.readers() as s:
            items = (await s.execute(select(OutboxItem).where(OutboxItem.kind == kind)
                                     .order_by(OutboxItem.id))).scalars().all()
        return [email.message_from_bytes(store.blobs.get(i.message_sha256 or ""), policy=policy.default)  # type: ignore[misc]
                for i in items]
    return in_store(site, work)


def text_of(m: EmailMessage) -> str:
    body = m.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def in_review(site: Path, subject: str = "หนังสือไม่มีไฟล์") -> int:
    letter_id = take(site, letter_mail(None, subject=subject))
    assert letter(site, letter_id).state == "review"
    return letter_id


def registered(site: Path, n: int = 1) -> int:
    letter_id = take(site, letter_mail(numbered_letter_pdf(n)))
    assert letter(site, letter_id).state == "registered"
    return letter_id


def export(site: Path, fmt: str) -> str:
    r = cli(site, "registers", "export", "--book", "receive", "--year", str(YEAR), "--format", fmt)
    assert r.returncode == 0, r.stderr
    return r.stdout


def csv_rows(site: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(export(site, "csv").lstrip("\ufeff"))))[1:]


def test_edit_and_register_a_letter_in_review(site: Path) -> None:
    letter_id = in_review(site)
    r = cli(site, "letter", "edit", str(letter_id), "--number", "กค ๐๓๐๕/ว ๘๘", "--date", DATE_TEXT,
            "--from", "กรมบัญชีกลาง", "--to", "ผู้อำนวยการ", "--subject", "ขอเชิญประชุม", "--speed", "ด่วน",
            "--reason", "อ่านจากฉบับสแกน", "--register")
    assert r.returncode == 0, r.stderr
    assert f"เลขรับ 1/{YEAR}" in r.stdout
    got = letter(site, letter_id)
    assert (got.state, got.letter_no, got.letter_date, got.sender, got.recipient, got.subject, got.speed) == (
        "registered", "กค 0305/ว 88", DATE, "กรมบัญชีกลาง", "ผู้อำนวยการ", "ขอเชิญประชุม", "ด่วน")
    (entry,) = rows(site, RegisterEntry)
    assert (entry.number, entry.letter_no, entry.letter_date, entry.sender, entry.subject, entry.speed) == (
        1, "กค 0305/ว 88", DATE, "กรมบัญชีกลาง", "ขอเชิญประชุม", "ด่วน")
    assert rows(site, Amendment) == []  # not amended: registered with these values
    (ack,) = mails(site, "ack")
    assert str(ack["To"]) == KNOWN and f"1/{YEAR}" in str(ack["Subject"]) + text_of(ack)
    trace = cli(site, "letter", "trace", f"1/{YEAR}")
    assert "เจ้าหน้าที่สั่งลงทะเบียนรับ โดยแก้ไข ที่: - → กค 0305/ว 88" in trace.stdout, trace.stdout


def test_a_missing_required_field_is_refused_naming_it(site: Path) -> None:
    letter_id = in_review(site)
    r = cli(site, "letter", "edit", str(letter_id), "--number", "กค 0305/ว 88", "--reason", "ลงรับ",
            "--register")
    assert r.returncode == 1
    assert "ยังไม่ได้ลงทะเบียน: ยังไม่มี ลงวันที่" in r.stderr, r.stderr
    got = letter(site, letter_id)
    assert got.state == "review" and rows(site, RegisterEntry) == []
    assert got.letter_no == "กค 0305/ว 88"  # what was given is kept for next time
    r = cli(site, "letter", "edit", str(letter_id), "--date", DATE_TEXT, "--reason", "ลงรับ", "--register")
    assert r.returncode == 0, r.stderr
    assert letter(site, letter_id).state == "registered"


def test_no_number_registers_with_an_empty_number_recorded_as_such(site: Path) -> None:
    letter_id = in_review(site)
    r = cli(site, "letter", "edit", str(letter_id), "--date", DATE_TEXT, "--reason", "ไม่มีเลขที่",
            "--register")
    assert r.returncode == 1 and "ยังไม่มี ที่" in r.stderr  # an empty ที่ needs --no-number
    r = cli(site, "letter", "edit", str(letter_id), "--no-number", "--reason", "หนังสือไม่มีเลขที่",
            "--register")
    assert r.returncode == 0, r.stderr
    (entry,) = rows(site, RegisterEntry)
    assert entry.letter_no == "" and "ไม่มีเลขที่" in entry.remarks
    assert json.loads(export(site, "json"))[0]["letter_no"] == ""


def test_amend_a_registered_letter(site: Path) -> None:
    letter_id = registered(site)
    before = letter(site, letter_id)
    r = cli(site, "letter", "edit", f"1/{YEAR}", "--subject", "แจ้งการดำเนินงาน (ฉบับแก้ไข)",
            "--date", DATE_TEXT, "--reason", "พิมพ์เรื่องผิด")
    assert r.returncode == 0, r.stderr
    assert f"แก้ไขทะเบียนรับ เลขรับ 1/{YEAR} แล้ว" in r.stdout
    amended = rows(site, Amendment)
    assert [(a.field, a.old_value, a.new_value, a.reason) for a in amended] == [
        ("letter_date", before.letter_date.isoformat(), DATE.isoformat(), "พิมพ์เรื่องผิด"),  # type: ignore[union-attr]
        ("subject", before.subject, "แจ้งการดำเนินงาน (ฉบับแก้ไข)", "พิมพ์เรื่องผิด"),
    ]
    assert all(a.actor.startswith("cli:") for a in amended)
    (entry,) = rows(site, RegisterEntry)
    assert (entry.subject, entry.letter_date) == ("แจ้งการดำเนินงาน (ฉบับแก้ไข)", DATE)
    trace = cli(site, "letter", "trace", f"1/{YEAR}").stdout
    assert f"แก้ไข เรื่อง: {before.subject} → แจ้งการดำเนินงาน (ฉบับแก้ไข)" in trace, trace
    assert "เหตุผล: พิมพ์เรื่องผิด" in trace
    show = cli(site, "letter", "show", str(letter_id)).stdout
    assert f"แก้ไข เรื่อง: {before.subject} → แจ้งการดำเนินงาน (ฉบับแก้ไข)" in show, show
    (line,) = csv_rows(site)
    assert line[6] == "แจ้งการดำเนินงาน (ฉบับแก้ไข)" and line[3] == format_short_date(DATE)
    assert line[8].startswith("แก้ไข ลงวันที่, เรื่อง เมื่อ ") and " โดย cli:" in line[8], line[8]
    report = cli(site, "report", "register", "--book", "receive", "--year", str(YEAR),
                 "--format", "csv", "--quiet")
    assert report.returncode == 0 and report.stdout == export(site, "csv"), report.stderr
    (record,) = json.loads(export(site, "json"))
    assert list(record) == list(JSON_KEYS)  # the documented format does not change
    assert record["remarks"].startswith("แก้ไข ลงวันที่, เรื่อง")
    async def digest(store: Store) -> list[dict[str, Any]]:
        return (await gather(store, TODAY)).registered
    (row,) = in_store(site, digest)  # registered today, marked as corrected
    assert (row["number"], row["subject"], row["amended"]) == (
        f"1/{YEAR}", "แจ้งการดำเนินงาน (ฉบับแก้ไข)", "แก้ไขแล้ว")
    # the same values again: nothing to amend, nothing written
    again = cli(site, "letter", "edit", f"1/{YEAR}", "--subject", "แจ้งการดำเนินงาน (ฉบับแก้ไข)",
                "--reason", "ซ้ำ")
    assert again.returncode == 1 and "ไม่มีช่องใดเปลี่ยน" in again.stderr
    assert len(rows(site, Amendment)) == 2


def test_amending_a_forwarded_letter_tells_the_unit(site: Path) -> None:
    letter_id = registered(site)

    async def forward(store: Store) -> list[str]:
        return await Pipeline.build(store, template_env()).units.clerk_route(
            letter_id, ["admin"], via="cli", by="clerk:test")
    assert in_store(site, forward) == ["admin"]
    r = cli(site, "letter", "edit", str(letter_id), "--number", "ศธ 04010/99", "--reason", "เลขที่ผิด")
    assert r.returncode == 0, r.stderr
    (told,) = mails(site, "unit-amended")
    assert str(told["To"]) == "admin@agency.test"
    assert f"[รับ 1/{YEAR}]" in str(told["Subject"])
    body = text_of(told)
    assert "ที่: ศธ 04010/1 → ศธ 04010/99" in body and "เหตุผล: เลขที่ผิด" in body, body
    trace = cli(site, "letter", "trace", f"1/{YEAR}").stdout
    assert "แจ้ง กลุ่มอำนวยการ ว่าแก้ไขทะเบียน" in trace
    # cancelled: the unit holding it learns that its number is void
    r = cli(site, "registers", "cancel", "--book", "receive", "--year", str(YEAR), "--number", "1",
            "--reason", "ลงทะเบียนซ้ำ")
    assert r.returncode == 0, r.stderr
    _, void = mails(site, "unit-amended")
    body = text_of(void)
    assert f"เลขทะเบียนรับ: 1/{YEAR} → ยกเลิก" in body and "เหตุผล: ลงทะเบียนซ้ำ" in body, body


def test_reject_with_a_reason_the_sender_is_told(site: Path) -> None:
    letter_id = in_review(site)
    reason = "หนังสือนี้ส่งถึงหน่วยงานอื่น โปรดส่งที่สำนักงานเขตพื้นที่"
    r = cli(site, "letter", "reject", str(letter_id), "--reason", reason)
    assert r.returncode == 0, r.stderr
    assert letter(site, letter_id).state == "rejected"
    (notice,) = mails(site, "notice")
    assert str(notice["To"]) == KNOWN and reason in text_of(notice)
    audit = rows(site, AuditEntry, AuditEntry.action == "letter.clerk_reject")
    assert reason in json.loads(audit[0].details)["reasons"]
    again = cli(site, "letter", "reject", str(letter_id), "--reason", reason)
    assert again.returncode == 1 and "ไม่ได้รอตรวจสอบ" in again.stderr
    assert len(mails(site, "notice")) == 1


def test_cancel_then_register_again_shows_both_lines(site: Path) -> None:
    letter_id = registered(site)
    r = cli(site, "registers", "cancel", "--book", "receive", "--year", str(YEAR), "--number", "1",
            "--reason", "ลงทะเบียนผิดเล่ม")
    assert r.returncode == 0, r.stderr
    assert letter(site, letter_id).state == "cancelled"
    again = cli(site, "letter", "edit", str(letter_id), "--reason", "ลงทะเบียนใหม่", "--register")
    assert again.returncode == 0, again.stderr
    assert f"เลขรับ 2/{YEAR}" in again.stdout
    assert letter(site, letter_id).state == "registered"
    old, new = rows(site, RegisterEntry)
    assert (old.number, old.status, old.cancel_reason, old.replaced_by_id) == (1, "cancelled", "ลงทะเบียนผิดเล่ม", new.id)
    assert (new.number, new.status, new.letter_id) == (2, "registered", letter_id)
    first, second = mails(site, "ack")  # the sender is told the new number, and what it replaces
    assert f"1/{YEAR}" in str(first["Subject"]) and f"2/{YEAR}" in str(second["Subject"])
    body = second.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert f"ใช้แทนเลขทะเบียนรับเดิม 1/{YEAR} ซึ่งได้ยกเลิกแล้ว" in body, body
    lines = csv_rows(site)
    assert [(x[1], x[-1]) for x in lines] == [("1", "ยกเลิก"), ("2", "ลงทะเบียน")]
    assert lines[0][8].startswith(f"ยกเลิก: ลงทะเบียนผิดเล่ม → ลงทะเบียนใหม่ เลขรับ 2/{YEAR}"), lines[0][8]
    # the printed register's rows (streamed in chunks) carry the same marks as the export
    report = cli(site, "report", "register", "--book", "receive", "--year", str(YEAR),
                 "--format", "csv", "--quiet")
    assert report.returncode == 0, report.stderr
    assert report.stdout == export(site, "csv")
    for ref in (f"1/{YEAR}", f"2/{YEAR}"):
        trace = cli(site, "letter", "trace", ref).stdout
        assert f"เลข 1/{YEAR}: ยกเลิก (ลงทะเบียนผิดเล่ม)" in trace and f"→ ลงทะเบียนใหม่ เลข 2/{YEAR}" in trace
        assert f"ลงทะเบียนรับ เลขรับ 1/{YEAR}" in trace and f"ลงทะเบียนรับ เลขรับ 2/{YEAR}" in trace, trace
        assert f"ยกเลิกเลขรับ 1/{YEAR}" in trace
    # a bare number (not a letter's) is cancelled as before
    reserved = cli(site, "reserve", "--book", "receive", "--count", "1")
    assert reserved.returncode == 0, reserved.stderr
    bare = cli(site, "registers", "cancel", "--book", "receive", "--year", str(YEAR), "--number", "3",
               "--reason", "ไม่ใช้")
    assert bare.returncode == 0 and "ยกเลิกเลข 3/" in bare.stdout


@pytest.mark.parametrize("date_text", ["3 ธค", "31/02/2569", "3 ธ.ค. 2596"])
def test_a_malformed_date_changes_nothing_and_names_the_text(site: Path, date_text: str) -> None:
    letter_id = in_review(site)

    async def audit_rows(store: Store) -> int:
        async with store.readers() as s:
            return int((await s.execute(select(func.count()).select_from(AuditEntry))).scalar_one())
    before = (letter(site, letter_id).updated_at, in_store(site, audit_rows))
    r = cli(site, "letter", "edit", str(letter_id), "--number", "กค 0305/ว 88", "--date", date_text,
            "--reason", "ลงรับ", "--register")
    assert r.returncode != 0
    assert f"อ่านลงวันที่ไม่ได้: “{date_text}”" in r.stderr, r.stderr
    assert "3 ธ.ค. 2569" in r.stderr  # the forms accepted
    got = letter(site, letter_id)
    assert (got.state, got.letter_no) == ("review", "")
    assert (got.updated_at, in_store(site, audit_rows)) == before
    assert rows(site, RegisterEntry) == [] and rows(site, Amendment) == []
