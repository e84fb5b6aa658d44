"""Inbound from a real Dovecot: backlog, folders, the clerk's moves, IDLE, alarm."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import time
from email import policy
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gateway.app import build_app, open_store, opened_store
from gateway.core.compose import template_env
from gateway.core.edits import Edits
from gateway.inbound.pipeline import Pipeline
from gateway.service import Alarm, ingest_once, serve
from gateway.store.tables import Letter, LetterFile, OutboxItem, RegisterEntry
from gateway.thai import format_short_date, format_time
from tests.conftest import (
    FakeClock,
    TickingClock,
    add_to_directory,
    central_mailbox_settings,
    make_settings,
)
from tests.corpus.mail import letter_mail, letter_pdf
from tests.pdfgen.poppler import pdftotext

pytestmark = pytest.mark.integration

# the originals only, not their review copies (`[ตรวจ L<id>]`, #21): what a clerk moves
ORIGINAL = ("NOT", "header", "X-Saraban-Letter", "R")
FOLDERS = ("ลงรับแล้ว", "รอตรวจสอบ", "รอตรวจสอบ (ลับ)", "ไม่รับ", "อื่น ๆ")


@pytest.fixture
def site(tmp_path: Path, dovecot, monkeypatch: pytest.MonkeyPatch):
    user, password = dovecot.new_user("saraban")
    monkeypatch.setenv("SARABAN_TEST_IMAP_PASSWORD", password)
    settings = central_mailbox_settings(
        tmp_path, dovecot, user, poll_seconds=2,
    )
    return settings, user


def _uids_subjects(dovecot, user: str, folder: str) -> list[str]:
    out = dovecot.doveadm("fetch", "-u", user, "hdr.subject", "mailbox", folder).stdout
    return [line.split(":", 1)[1].strip() for line in out.splitlines() if line.lower().startswith("hdr.subject:")]


async def test_backlog_is_registered_filed_and_idempotent(site, dovecot) -> None:
    settings, user = site
    dovecot.deliver(user, letter_mail(letter_pdf()))
    dovecot.deliver(user, letter_mail(None, subject="สอบถามเรื่องการประชุม"))
    async with opened_store(settings, upgrade=True, clock=TickingClock()) as store:  # dates asserted: set, ticking
        await add_to_directory(store, "saraban@obec.go.th")  # acknowledged: not a stranger
        summary = await ingest_once(settings, store=store)
        assert summary["registered"] == 1 and summary["review"] == 1 and summary["sent"] == 1
        assert dovecot.message_count(user, "INBOX") == 0
        assert set(FOLDERS) <= set(dovecot.list_mailboxes(user))
        registered = dovecot.doveadm("fetch", "-u", user, "hdr", "mailbox", "ลงรับแล้ว").stdout
        assert "X-Saraban-Receive-Number: 1/2569" in registered  # the findable copy
        assert dovecot.message_count(user, "ลงรับแล้ว") == 2  # original (unchanged) + copy
        assert dovecot.message_count(user, "รอตรวจสอบ") == 2  # the original and its review copy (#21)

        # the receive stamp shows the register entry's number, date and time (Bangkok)
        async with store.sessions() as s:
            entry = (await s.execute(select(RegisterEntry))).scalar_one()
            stamped = (await s.execute(select(LetterFile).where(
                LetterFile.letter_id == entry.letter_id, LetterFile.role == "stamped"))).scalar_one()
        text = pdftotext(store.blobs.get(stamped.sha256))
        assert "เลขรับ ๑" in text
        assert format_time(entry.registered_at, thai_digits=True) in text
        assert format_short_date(entry.registered_at, thai_digits=True) in text

        again = await ingest_once(settings, store=store)
        assert again.get("registered", 0) == 0 and again["sent"] == 0
        async with store.sessions() as s:
            assert (await s.execute(select(func.count()).select_from(RegisterEntry))).scalar_one() == 1
        ack = next(settings.outbox_path.glob("*-ack.eml"))
        msg = email.message_from_bytes(ack.read_bytes(), policy=policy.default)
        assert msg["To"] == "saraban@obec.go.th"


async def test_clerk_moves_review_into_registered_or_rejected(site, dovecot) -> None:
    settings, user = site
    dovecot.deliver(user, letter_mail(None, subject="หนังสือไม่มีไฟล์ ก"))
    dovecot.deliver(user, letter_mail(None, subject="หนังสือไม่มีไฟล์ ข", sender="x@moe.go.th"))
    async with opened_store(settings, upgrade=True, clock=TickingClock()) as store:  # dates asserted: set, ticking
        await add_to_directory(store, "saraban@obec.go.th", "x@moe.go.th")  # not strangers
        await ingest_once(settings, store=store)
        assert dovecot.message_count(user, "รอตรวจสอบ") == 4  # each original and its review copy (#21)
        # the clerk moves one into ลงรับแล้ว and the other into ไม่รับ, in any mail client
        dovecot.doveadm("move", "-u", user, "ลงรับแล้ว", "mailbox", "รอตรวจสอบ", "header", "Subject", "ไฟล์ ก", *ORIGINAL)
        dovecot.doveadm("move", "-u", user, "ไม่รับ", "mailbox", "รอตรวจสอบ", "header", "Subject", "ไฟล์ ข", *ORIGINAL)
        await ingest_once(settings, store=store)
        # ก has no ที่ and no ลงวันที่ (#21): not registered, moved back, the clerk told which
        async with store.sessions() as s:
            states = dict((await s.execute(select(Letter.subject, Letter.state))).all())
            kinds = sorted((await s.execute(select(OutboxItem.kind))).scalars())
            first = (await s.execute(select(Letter.id).where(Letter.subject == "หนังสือไม่มีไฟล์ ก"))).scalar_one()
        assert states == {"หนังสือไม่มีไฟล์ ก": "review", "หนังสือไม่มีไฟล์ ข": "rejected"}
        assert (dovecot.message_count(user, "ลงรับแล้ว"), dovecot.message_count(user, "รอตรวจสอบ")) == (0, 2)  # ก and its review copy
        assert kinds == ["notice", "register-refused"]
        refused = email.message_from_bytes(next(settings.outbox_path.glob("*-register-refused.eml")).read_bytes(),
                                           policy=policy.default)
        assert refused["To"] == settings.agency.central_addresses[0]
        text = refused.get_body(("plain",)).get_content()
        assert "ยังไม่มี ที่, ลงวันที่" in text and "ย้ายกลับไปที่โฟลเดอร์ รอตรวจสอบ" in text, text
        # the clerk gives the fields (by reply or `letter edit`), then moves it again
        clerk = Pipeline.build(store, template_env()).clerk
        kept = await clerk.correct(first, Edits(letter_no="ศธ 04010/7", letter_date=dt.date(2026, 11, 20)),
                                   actor="clerk:test")
        assert (kept.state, kept.missing) == ("review", ())
        dovecot.doveadm("move", "-u", user, "ลงรับแล้ว", "mailbox", "รอตรวจสอบ", "header", "Subject", "ไฟล์ ก", *ORIGINAL)
        await ingest_once(settings, store=store)
        await ingest_once(settings, store=store)  # a second look changes nothing
        async with store.sessions() as s:
            states = dict((await s.execute(select(Letter.subject, Letter.state))).all())
            entries = (await s.execute(select(RegisterEntry))).scalars().all()
            kinds = sorted((await s.execute(select(OutboxItem.kind))).scalars())
        assert states == {"หนังสือไม่มีไฟล์ ก": "registered", "หนังสือไม่มีไฟล์ ข": "rejected"}
        assert [(e.number, e.letter_no, e.letter_date) for e in entries] == [
            (1, "ศธ 04010/7", dt.date(2026, 11, 20))]
        assert "ลงทะเบียนโดยเจ้าหน้าที่" in entries[0].remarks
        assert kinds == ["ack", "notice", "register-refused"]
        notice = next(settings.outbox_path.glob("*-notice.eml"))
        body = email.message_from_bytes(notice.read_bytes(), policy=policy.default)
        assert body["To"] == "x@moe.go.th"
        assert "ไม่พบไฟล์หนังสือ (PDF)" in body.get_body(("plain",)).get_content()


async def test_idle_picks_up_a_new_letter_within_seconds(site, dovecot) -> None:
    settings, user = site
    store = await open_store(settings, upgrade=True, clock=TickingClock())  # dates asserted: set, ticking
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, ready=ready, stop=stop, store=store))
    try:
        await asyncio.wait_for(ready, 30)
        await asyncio.sleep(1.5)  # first round done, now in IDLE
        t0 = time.monotonic()
        dovecot.deliver(user, letter_mail(letter_pdf()))
        while True:
            async with store.sessions() as s:
                n = (await s.execute(select(func.count()).select_from(RegisterEntry))).scalar_one()
            if n:
                break
            assert time.monotonic() - t0 < 10, "not registered within 10 s"
            await asyncio.sleep(0.05)
        latency = time.monotonic() - t0
        assert latency < 5
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await store.close()


async def test_alarm_when_the_mailbox_cannot_be_checked(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SARABAN_TEST_IMAP_PASSWORD", "x")
    settings = make_settings(
        tmp_path,
        imap=[{"name": "central", "host": "127.0.0.1", "port": 1, "user": "u@agency.test",
               "password_env": "SARABAN_TEST_IMAP_PASSWORD"}],
        intake={"alarm_after_minutes": 15},
    )
    clock = FakeClock(dt.datetime(2026, 11, 22, 3, 0, tzinfo=dt.UTC))
    async with opened_store(settings, upgrade=True, clock=clock) as store:
        app = build_app(settings, store)
        pipeline, health = app.pipeline, app.health
        watcher = app.watcher(settings.imap[0])
        stop = asyncio.Event()
        run = asyncio.create_task(watcher.run(stop))
        await asyncio.sleep(0.5)  # a failed connection attempt
        stop.set()
        await asyncio.wait_for(run, 10)
        assert "central" in health.last_error
        alarm = Alarm(pipeline, health, clock(), {})
        assert await alarm.check() == []
        clock.advance(minutes=16)
        assert await alarm.check() == ["central"]
        assert await alarm.check() == []  # once per outage
        async with store.sessions() as s:
            items = (await s.execute(select(OutboxItem))).scalars().all()
        assert [(i.kind, i.recipient) for i in items] == [("alarm", "saraban@agency.test")]
        health.last_ok["central"] = clock()
        assert await alarm.check() == []


async def test_one_worker_per_mailbox(site, dovecot) -> None:
    settings, _ = site
    async with opened_store(settings, upgrade=True, clock=TickingClock()) as store:  # dates asserted: set, ticking
        app = build_app(settings, store)
        first, second = app.watcher(settings.imap[0]), app.watcher(settings.imap[0])
        assert await first.take_lease()
        assert not await second.take_lease()  # a live holder keeps it
        assert await first.take_lease()  # renewal
        await first.drop_lease()
        assert await second.take_lease()
        # a holder on this host whose process is gone is taken over at once
        async with store.sessions.begin() as s:
            from gateway.store.tables import MailboxLease

            lease = await s.get(MailboxLease, second.lease_name)
            lease.holder = f"{second.holder.split(':')[0]}:999999:1"
        assert await first.take_lease()
        # ingest --once stays away while a running gateway holds the mailbox
        summary = await ingest_once(settings, store=store)
        assert summary["sent"] == 0 and not any(v for k, v in summary.items() if k != "sent")


def _die() -> None:
    import os

    os._exit(9)


async def test_a_letter_whose_reader_dies_is_kept_counted_and_finally_sent_to_review(
        site, dovecot, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reading worker dies on this message every time (a parser crash): the raw message
    is recorded, stays in INBOX while attempts remain, then goes to review with a Thai reason;
    the next letter is not held up by it."""
    from gateway import workers

    settings, user = site
    settings = settings.model_copy(update={"intake": settings.intake.model_copy(
        update={"max_attempts": 2, "read_processes": 1})})
    poison = b"X-Test-Poison: yes\r\n" + letter_mail(letter_pdf(), subject="จดหมายที่ทำให้ตัวอ่านล่ม")
    dovecot.deliver(user, poison)
    real_read = Pipeline._read

    async def read(self: Pipeline, raw: bytes, digest: str,  # type: ignore[no-untyped-def]
                   now: dt.datetime):
        if b"\r\nX-Test-Poison: yes\r\n" in raw:
            return await workers.run(self.read_processes, _die)
        return await real_read(self, raw, digest, now)

    monkeypatch.setattr(Pipeline, "_read", read)
    async with opened_store(settings, upgrade=True, clock=TickingClock()) as store:  # dates asserted: set, ticking
        first = await ingest_once(settings, store=store)
        assert first.get("registered", 0) == 0
        assert dovecot.message_count(user, "INBOX") == 1  # not decided yet: stays
        async with store.sessions() as s:
            letter = (await s.execute(select(Letter))).scalar_one()
            assert letter.state == "received" and letter.attempts == 1
        dovecot.deliver(user, letter_mail(letter_pdf()))
        await ingest_once(settings, store=store)
        async with store.sessions() as s:
            letters = {x.subject or "": x for x in (await s.execute(select(Letter))).scalars()}
            poisoned = next(x for x in letters.values() if x.state != "registered")
            assert poisoned.state == "review" and poisoned.attempts == 2
            assert "ไม่สำเร็จ 2 ครั้ง" in (poisoned.review_reason or "")
            assert sum(x.state == "registered" for x in letters.values()) == 1
        assert dovecot.message_count(user, "INBOX") == 0
        assert dovecot.message_count(user, "รอตรวจสอบ") == 2  # the original and its review copy (#21)
