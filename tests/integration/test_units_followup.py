"""Units without IMAP: the clerk's `ส่ง` reply (submission and inbound), reminders, the digest."""

from __future__ import annotations

import datetime as dt
import email
from email import policy
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from gateway.app import Store, open_store
from gateway.core.compose import template_env
from gateway.inbound.pipeline import Pipeline
from gateway.outbound.flow import Outbound
from gateway.reports.digest import gather, send_digest_if_due
from gateway.service import accept_smtp
from gateway.store.letters import put_blobs
from gateway.store.tables import Forward, Letter, OutboxItem
from gateway.trust.channels import folder_key
from tests.conftest import FakeClock, make_settings
from tests.corpus.mail import letter_mail, letter_pdf

pytestmark = pytest.mark.integration

CENTRAL = "saraban@agency.test"
UNITS = [{"code": "hr", "name_th": "กลุ่มบริหารงานบุคคล", "emails": ["hr@agency.test"], "aliases": ["บุคคล"]},
         {"code": "policy", "name_th": "กลุ่มนโยบายและแผน", "emails": ["policy@agency.test"]}]


def _letter(n: int, subject: str, speed: str = "") -> bytes:
    lines = ((speed,) if speed else ()) + (f"ที่ ศธ 04010/{n}", "สำนักงานคณะกรรมการการศึกษาขั้นพื้นฐาน",
                                           "วันที่ 20 พฤศจิกายน 2569", f"เรื่อง {subject}", "เรียน ผู้อำนวยการ")
    return letter_mail(letter_pdf(lines=lines), subject=subject, filename=f"2569_OBEC_{n}.pdf")


@pytest.fixture
async def site(tmp_path: Path, db_url: str):  # type: ignore[no-untyped-def]
    # 15:00 in Bangkok, a Wednesday
    clock = FakeClock(dt.datetime(2026, 12, 2, 8, 0, tzinfo=dt.UTC))
    settings = make_settings(tmp_path, db_url, units=UNITS, forwarding={
        "rules": [{"name": "บุคคล", "subject": ["แต่งตั้ง"], "unit": "hr"}],
        "remind_after_hours": 24, "remind_after_hours_urgent": {"ด่วนที่สุด": 2},
        "tell_clerk_after_hours": 4, "digest": True, "digest_time": "16:30"},
        imap=[{"name": "central", "host": "127.0.0.1", "user": CENTRAL,
               "password_env": "SARABAN_TEST_UNUSED", "enabled": False}])
    store = await open_store(settings, upgrade=True, clock=clock)
    pipeline = Pipeline.build(store, template_env())
    yield store, pipeline, clock
    await store.close()


async def _take(store: Store, pipeline: Pipeline, raw: bytes, frm: str) -> Letter:
    letter_id = await accept_smtp(store, raw, frm, [CENTRAL])
    await pipeline.process(letter_id)
    async with store.sessions() as s:
        letter = await s.get(Letter, letter_id)
    assert letter is not None
    return letter


async def _mails(store: Store, kind: str) -> list[EmailMessage]:
    async with store.sessions() as s:
        items = (await s.execute(select(OutboxItem).where(OutboxItem.kind == kind).order_by(OutboxItem.id))).scalars()
        return [email.message_from_bytes(store.blobs.get(i.message_sha256), policy=policy.default)  # type: ignore[misc]
                for i in items if i.message_sha256]


async def _forwards(store: Store) -> dict[tuple[int, str], Forward]:
    async with store.sessions() as s:
        return {(f.letter_id, f.unit_code): f for f in (await s.execute(select(Forward))).scalars()}


async def _from_sent(pipeline: Pipeline, raw: bytes, uid: int) -> Letter:
    """A message as the IMAP adapter takes it from the central mailbox's Sent folder."""
    (digest,) = await put_blobs(pipeline.store.blobs, raw)
    letter_id, _, _ = await pipeline.take_in(
        raw, digest=digest, channel="imap",
        source_key=folder_key("central", 1, uid, "Sent"), envelope_to=[CENTRAL])
    async with pipeline.store.sessions() as s:
        letter = await s.get(Letter, letter_id)
    assert letter is not None
    return letter


def _clerk_reply(subject: str, body: str) -> bytes:
    m = EmailMessage()
    m["From"] = CENTRAL
    m["To"] = CENTRAL
    m["Subject"] = subject
    m.set_content(body)
    return m.as_bytes()


async def test_the_clerk_routes_by_replying_by_either_road(site) -> None:
    store, pipeline, _ = site
    first = await _take(store, pipeline, _letter(1, "ขอเชิญประชุม"), "saraban@obec.go.th")
    second = await _take(store, pipeline, _letter(2, "ขอข้อมูลบุคลากร"), "saraban@obec.go.th")
    assert await _forwards(store) == {}  # no rule matched: both wait for the clerk
    # through the submission server (the clerk's client sends the reply there)
    out = Outbound.build(store, template_env())
    raw = _clerk_reply("Re: [รับ 1/2569] ขอเชิญประชุม", "ส่ง บุคคล, กลุ่มนโยบายและแผน, การเงิน\n\n> เดิม")
    sub_id = await out.accept(raw, CENTRAL, [CENTRAL], CENTRAL)
    assert await out.process(sub_id) == "answered"
    (routed,) = await _mails(store, "routed")
    assert str(routed["Subject"]) == "ส่งต่อแล้ว [รับ 1/2569] ถึง กลุ่มบริหารงานบุคคล, กลุ่มนโยบายและแผน"
    assert "ไม่รู้จักหน่วยงาน: การเงิน" in routed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    # over the SMTP listener, From the central address: proves nothing, kept for the clerk (#18)
    forged = await _take(store, pipeline, _clerk_reply("Re: [รับ 2/2569] ขอข้อมูลบุคลากร", "ส่ง บุคคล"), CENTRAL)
    assert forged.state == "review" and "ไม่ได้มาจากช่องทางของเจ้าหน้าที่" in forged.review_reason
    assert (second.id, "hr") not in await _forwards(store)
    # through the mailbox: the clerk's reply as the IMAP adapter finds it in the client's Sent folder
    reply = await _from_sent(pipeline, _clerk_reply("Re: [รับ 2/2569] ขอข้อมูลบุคลากร", "ส่ง บุคคล"), 1)
    assert reply.state == "not_letter"
    again = await _from_sent(pipeline, _clerk_reply("Re: [รับ 2/2569] ขอข้อมูลบุคลากร", "ส่ง บุคคล\n"), 2)
    fws = await _forwards(store)
    assert set(fws) == {(first.id, "hr"), (first.id, "policy"), (second.id, "hr")}  # once each
    assert fws[(first.id, "hr")].role == "primary" and fws[(first.id, "policy")].role == "copy"
    assert again.state == "not_letter"
    unknown = await _from_sent(pipeline, _clerk_reply("Re: [รับ 2/2569] x", "ส่ง กองคลัง"), 3)
    assert unknown.state == "review" and "ไม่รู้จักหน่วยงาน: กองคลัง" in unknown.review_reason


def _bangkok(day: int, hh: int, mm: int = 0) -> dt.datetime:
    return dt.datetime(2026, 12, day, hh, mm, tzinfo=ZoneInfo("Asia/Bangkok"))


async def test_reminders_count_working_hours_sooner_for_urgent_then_the_clerk_is_told(site) -> None:
    store, pipeline, clock = site
    # forwarded by the rule on Wednesday 2 Dec at 15:00 (office hours end at 16:30)
    urgent = await _take(store, pipeline, _letter(1, "คำสั่งแต่งตั้งด่วน", speed="ด่วนที่สุด"), "saraban@obec.go.th")
    normal = await _take(store, pipeline, _letter(2, "คำสั่งแต่งตั้งปกติ"), "saraban@obec.go.th")
    assert urgent.speed == "ด่วนที่สุด"
    units = pipeline.units
    clock.advance(hours=1)
    assert await units.remind_due() == 0
    clock.now = _bangkok(2, 20)  # five clock hours, but 1.5 working hours: not yet
    assert await units.remind_due() == 0
    clock.now = _bangkok(3, 8, 59)  # Thursday, 2 working hours at 09:00
    assert await units.remind_due() == 0
    clock.now = _bangkok(3, 9)
    assert await units.remind_due() == 1  # the urgent one, after 2 working hours
    assert await units.remind_due() == 0  # once
    (reminder,) = await _mails(store, "unit-reminder")
    assert reminder["To"] == "hr@agency.test" and "[รับ 1/2569]" in str(reminder["Subject"])
    clock.now = _bangkok(3, 12, 59)
    assert await units.remind_due() == 0
    clock.now = _bangkok(3, 13)  # 4 working hours after the reminder
    assert await units.remind_due() == 1  # the clerk is told about the urgent one
    (overdue,) = await _mails(store, "unit-overdue")
    assert overdue["To"] == CENTRAL and "ยังไม่ลงรับ" in str(overdue["Subject"])
    # The normal letter: 24 working hours = Wed 1.5 + Thu 8 + Fri 8 + Tue 6.5, as Saturday,
    # Sunday and Monday 7 Dec (the substitute day of the King's birthday, a Saturday) are off.
    for not_yet in (_bangkok(5, 10), _bangkok(7, 15), _bangkok(8, 14, 59)):
        clock.now = not_yet
        assert await units.remind_due() == 0, not_yet
    clock.now = _bangkok(8, 15)
    assert await units.remind_due() == 1  # the normal letter's reminder after 24 working hours
    fws = await _forwards(store)
    assert fws[(normal.id, "hr")].reminded_at is not None and fws[(normal.id, "hr")].clerk_told_at is None


async def test_the_agencys_days_off_from_config_are_skipped(tmp_path: Path, db_url: str) -> None:
    clock = FakeClock(_bangkok(2, 15))
    settings = make_settings(tmp_path, db_url, units=UNITS, calendar={"days_off": ["2026-12-03"]},
                             forwarding={"rules": [{"name": "บุคคล", "subject": ["แต่งตั้ง"], "unit": "hr"}],
                                         "remind_after_hours_urgent": {"ด่วนที่สุด": 2}})
    store = await open_store(settings, upgrade=True, clock=clock)
    try:
        pipeline = Pipeline.build(store, template_env())
        await _take(store, pipeline, _letter(1, "คำสั่งแต่งตั้งด่วน", speed="ด่วนที่สุด"), "saraban@obec.go.th")
        clock.now = _bangkok(3, 16)  # Thursday is the agency's day off
        assert await pipeline.units.remind_due() == 0
        clock.now = _bangkok(4, 8, 59)
        assert await pipeline.units.remind_due() == 0
        clock.now = _bangkok(4, 9)  # Friday: 1.5 h on Wednesday, 0.5 h on Friday
        assert await pipeline.units.remind_due() == 1
    finally:
        await store.close()


async def test_the_digest_once_a_day_after_its_time(site) -> None:
    store, pipeline, clock = site
    await _take(store, pipeline, _letter(1, "คำสั่งแต่งตั้ง", speed="ด่วน"), "saraban@obec.go.th")
    await _take(store, pipeline, letter_mail(None, subject="สอบถามข้อมูล"), "someone@example.go.th")
    await _take(store, pipeline, _letter(3, "เรื่องลับเฉพาะ", speed="ลับ"), "saraban@obec.go.th")
    clock.now = dt.datetime(2026, 12, 2, 9, 29, tzinfo=dt.UTC)  # 16:29
    assert not await send_digest_if_due(store, pipeline.templates)
    clock.advance(minutes=2)
    assert await send_digest_if_due(store, pipeline.templates)
    assert not await send_digest_if_due(store, pipeline.templates)
    (digest,) = await _mails(store, "digest")
    assert str(digest["Subject"]).startswith("สรุปงานสารบรรณ 2 ธ.ค. 2569: รับ 1 รอตรวจสอบ 2 รอหน่วยงานลงรับ 1")
    text = digest.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = digest.get_body(("html",)).get_content()  # type: ignore[union-attr]
    for fact in ("1/2569", "คำสั่งแต่งตั้ง", "สอบถามข้อมูล", "กลุ่มบริหารงานบุคคล"):
        assert fact in text and fact in html
    assert "เรื่องลับเฉพาะ" not in text and "เรื่องลับเฉพาะ" not in html  # counted, not shown
    clock.advance(days=1)
    assert await send_digest_if_due(store, pipeline.templates)  # the next day's
    data = await gather(store, dt.date(2026, 12, 3))
    assert data.registered == [] and len(data.waiting) == 1
