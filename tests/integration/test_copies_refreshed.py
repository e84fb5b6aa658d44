"""The clerk's folders show each letter once, as it now is (#21's corrections), on a real
Dovecot: a letter cancelled leaves no `[รับ n/ปี]` copy claiming its void number in ลงรับแล้ว,
a letter registered again has exactly one copy there, with its new number; a letter in review
given some of its fields (ลงรับ with a field still missing, or `letter edit` without
--register) gets a fresh review copy showing them, the old one gone. A crash between the
steps (the register committed, the old copy withdrawn, the new one appended, each placement
recorded) leaves neither two copies nor none: each crash point is set up as the store and the
mailbox would be left by it, and the next round must mend it. What the clerk's client marked
deleted is never expunged with the gateway's own copies.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import delete, update

from gateway.app import opened_store
from gateway.core.compose import template_env
from gateway.core.edits import Edits
from gateway.inbound.pipeline import Pipeline
from gateway.service import ingest_once
from gateway.store.tables import ImapMessage, Letter
from tests.conftest import TickingClock, add_to_directory
from tests.corpus.mail import letter_mail, letter_pdf
from tests.integration.test_corrections_imap import (
    REGISTERED,
    REVIEW,
    SENT,
    _entries,
    _letter,
    _messages,
    _reply,
    _save,
    _scanned,
    _text,
)
from tests.integration.test_corrections_imap import site as site  # noqa: F401  (the fixture)

pytestmark = pytest.mark.integration

CLI = "cli:test"


def _registered_letter() -> bytes:
    pdf = letter_pdf(lines=("ที่ ศธ 04010/7", "สำนักงานคณะกรรมการการศึกษาขั้นพื้นฐาน",
                            "วันที่ 20 พฤศจิกายน 2569", "เรื่อง ขอเชิญประชุม", "เรียน ผู้อำนวยการ"))
    return letter_mail(pdf, filename="2569_OBEC_7.pdf")


@contextlib.asynccontextmanager
async def registered_one(settings, user: str, dovecot) -> AsyncIterator[Any]:  # type: ignore[no-untyped-def]
    """Letter 1 delivered, registered and its copy filed; the store open."""
    dovecot.deliver(user, _registered_letter())
    async with opened_store(settings, upgrade=True, clock=TickingClock()) as store:
        await add_to_directory(store, "saraban@obec.go.th")
        await ingest_once(settings, store=store)
        yield store


def _copies(dovecot, user: str, letter_id: int) -> list[EmailMessage]:  # type: ignore[no-untyped-def]
    """The findable copies `[รับ n/ปี]` of a letter in ลงรับแล้ว."""
    return [m for m in _messages(dovecot, user, REGISTERED) if m["X-Saraban-Letter"] == f"L{letter_id}."]


def _review_copies(dovecot, user: str, letter_id: int) -> list[EmailMessage]:  # type: ignore[no-untyped-def]
    return [m for m in _messages(dovecot, user, REVIEW) if m["X-Saraban-Letter"] == f"R{letter_id}."]


def _numbers(copies: list[EmailMessage]) -> list[str]:
    return [str(m["X-Saraban-Receive-Number"]) for m in copies]


async def _set(store, letter_id: int, **columns: object) -> None:  # type: ignore[no-untyped-def]
    async with store.sessions.begin() as s:
        await s.execute(update(Letter).where(Letter.id == letter_id).values(**columns))


async def _forget(store, letter_id: int, kind: str) -> None:  # type: ignore[no-untyped-def]
    """A placement whose recording a crash cut off (the message is in the folder)."""
    async with store.sessions.begin() as s:
        await s.execute(delete(ImapMessage).where(ImapMessage.letter_id == letter_id,
                                                  ImapMessage.kind == kind))


async def test_a_cancelled_letter_keeps_no_copy_and_registered_again_has_one(site, dovecot) -> None:
    settings, user = site
    async with registered_one(settings, user, dovecot) as store:
        (first,) = await _entries(store, 1)
        old = f"{first.number}/{first.year}"
        (found,) = _copies(dovecot, user, 1)
        assert _numbers([found]) == [old]

        # the clerk's client marked the original deleted, without expunging: not the gateway's
        # to expunge, whatever it removes of its own
        dovecot.doveadm("flags", "add", "-u", user, "\\Deleted", "mailbox", REGISTERED, "not", "header",
                        "X-Saraban-Letter", "L1.")
        _save(dovecot, user, SENT, _reply(found, user, "ยกเลิก ลงรับผิดเล่ม"))
        await ingest_once(settings, store=store)
        assert (await _letter(store, 1)).state == "cancelled"
        # no copy claims the void number; the original stays where the clerk filed it
        assert _copies(dovecot, user, 1) == []
        assert dovecot.message_count(user, REGISTERED) == 1
        dovecot.doveadm("flags", "remove", "-u", user, "\\Deleted", "mailbox", REGISTERED, "all")

        _save(dovecot, user, SENT, _reply(found, user, "ลงรับ"))
        await ingest_once(settings, store=store)
        assert (await _letter(store, 1)).state == "registered"
        new = next(f"{e.number}/{e.year}" for e in await _entries(store, 1) if e.status == "registered")
        assert new != old
        (copy,) = _copies(dovecot, user, 1)
        assert _numbers([copy]) == [new] and str(copy["Subject"]).startswith(f"[รับ {new}]")
        assert copy["Message-ID"] != found["Message-ID"]  # a new message, not the old one again
        await ingest_once(settings, store=store)  # and it stays so
        assert _numbers(_copies(dovecot, user, 1)) == [new]
        assert dovecot.message_count(user, REGISTERED) == 2  # the original and its one copy


async def test_registered_again_by_the_command_line_with_a_crash_at_each_step(site, dovecot) -> None:
    """Cancelled and registered again while no round runs (`registers cancel`, `letter edit
    --register` are other processes), then the gateway's rounds, crashing at each step."""
    settings, user = site
    async with registered_one(settings, user, dovecot) as store:
        (first,) = await _entries(store, 1)
        old = f"{first.number}/{first.year}"
        assert _numbers(_copies(dovecot, user, 1)) == [old]
        desk = Pipeline.build(store, template_env()).clerk
        assert (await desk.cancel(1, actor=CLI, reason="ลงรับผิดเล่ม")).entry == old
        outcome = await desk.register(1, actor=CLI)
        new = outcome.entry
        assert outcome.state == "registered" and new not in (None, old)

        # a crash after the new copy's intent was committed, before its APPEND: the old copy
        # (same letter, old number) is still in the folder and must not be taken for the new one
        await _set(store, 1, copy_appending=True)
        await ingest_once(settings, store=store)
        assert _numbers(_copies(dovecot, user, 1)) == [new]

        # a crash after the APPEND, before its placement was recorded: found, not filed twice
        await _forget(store, 1, "copy")
        await _set(store, 1, copy_appended=False, copy_appending=True)
        await ingest_once(settings, store=store)
        assert _numbers(_copies(dovecot, user, 1)) == [new]
        assert (await _letter(store, 1)).copy_appended

        # cancelled and registered again once more, and the old copy's removal done by the
        # server before a crash kept it from being recorded: nothing missing, nothing twice
        await desk.cancel(1, actor=CLI, reason="ผิดอีก")
        newer = (await desk.register(1, actor=CLI)).entry
        dovecot.expunge(user, REGISTERED, "header X-Saraban-Letter L1.")
        await ingest_once(settings, store=store)
        assert _numbers(_copies(dovecot, user, 1)) == [newer]
        await ingest_once(settings, store=store)
        assert _numbers(_copies(dovecot, user, 1)) == [newer]
        assert dovecot.message_count(user, REGISTERED) == 2


async def test_a_partial_correction_refreshes_the_review_copy(site, dovecot) -> None:
    settings, user = site
    dovecot.deliver(user, _scanned())
    async with opened_store(settings, upgrade=True, clock=TickingClock()) as store:
        await ingest_once(settings, store=store)
        (copy,) = _review_copies(dovecot, user, 1)
        assert "นร 0105/ว 321" not in _text(copy)
        # ลงรับ with ที่ and จาก given, ลงวันที่ still missing: kept, not registered
        _save(dovecot, user, SENT, _reply(copy, user, "ที่: นร 0105/ว 321\nจาก: กรมบัญชีกลาง\nลงรับ"))
        await ingest_once(settings, store=store)
        letter = await _letter(store, 1)
        assert letter.state == "review" and letter.letter_no == "นร 0105/ว 321"
        (fresh,) = _review_copies(dovecot, user, 1)
        text = _text(fresh)
        assert "• ที่ (เลขที่หนังสือ) — นร 0105/ว 321  [เจ้าหน้าที่]" in text
        assert "• จาก (ส่วนราชการเจ้าของหนังสือ) — กรมบัญชีกลาง  [เจ้าหน้าที่]" in text
        missing = next(x for x in text.splitlines() if x.startswith("ข้อมูลที่ยังขาด"))
        assert missing.split(": ", 1)[1] == "ลงวันที่"  # ที่ and จาก no longer
        assert fresh["Message-ID"] != copy["Message-ID"]
        assert dovecot.message_count(user, REVIEW) == 2  # the original and its one review copy
        await ingest_once(settings, store=store)
        assert len(_review_copies(dovecot, user, 1)) == 1 and dovecot.message_count(user, REVIEW) == 2

        # the last fields given by the command line (another process): the copy follows
        desk = Pipeline.build(store, template_env()).clerk
        outcome = await desk.correct(1, Edits(letter_date=dt.date(2026, 12, 3), subject="ขอเชิญประชุม"),
                                     actor=CLI, reason="")
        assert outcome.missing == ()
        # a crash after the new review copy was appended, before its placement was recorded,
        # the old one's removal done and recorded: one copy, never a second
        await ingest_once(settings, store=store)
        (latest,) = _review_copies(dovecot, user, 1)
        await _forget(store, 1, "review")
        await ingest_once(settings, store=store)
        (again,) = _review_copies(dovecot, user, 1)
        assert again["Message-ID"] == latest["Message-ID"]
        assert "ข้อมูลที่จำเป็นครบแล้ว" in _text(again) and "ขอเชิญประชุม" in _text(again)
        assert dovecot.message_count(user, REVIEW) == 2


async def test_a_review_copy_outdated_before_a_crash_is_replaced_once(site, dovecot) -> None:
    """The fields kept and the copy marked outdated in one transaction; the crash comes before
    the round that replaces it, and again after its new APPEND: one fresh copy in the end. The
    clerk's move of a copy outdated since (before the gateway removed it) still counts."""
    settings, user = site
    dovecot.deliver(user, _scanned())
    async with opened_store(settings, upgrade=True, clock=TickingClock()) as store:
        await ingest_once(settings, store=store)
        desk = Pipeline.build(store, template_env()).clerk
        outcome = await desk.register(1, actor=CLI, edits=Edits(letter_no="นร 0105/ว 321"))
        assert outcome.state == "review" and "letter_date" in outcome.missing
        # the round that would replace the copy: a crash after its new copy's APPEND and the
        # old one's removal, before either was recorded
        await ingest_once(settings, store=store)
        (fresh,) = _review_copies(dovecot, user, 1)
        assert "นร 0105/ว 321" in _text(fresh)
        await _forget(store, 1, "review")
        async with store.sessions.begin() as s:  # the old copy's removal not recorded either
            gone = (await s.execute(update(ImapMessage).where(
                ImapMessage.letter_id == 1, ImapMessage.kind == "rv-gone").values(kind="rv-stale"))).rowcount
        assert gone == 1
        await ingest_once(settings, store=store)
        (again,) = _review_copies(dovecot, user, 1)
        assert again["Message-ID"] == fresh["Message-ID"] and dovecot.message_count(user, REVIEW) == 2

        # the rest given by the command line, and the clerk moves the copy, outdated now, into
        # ลงรับแล้ว before any round replaced it: the move still registers its letter
        outcome = await desk.correct(1, Edits(letter_date=dt.date(2026, 12, 3)), actor=CLI)
        assert outcome.missing == ()
        dovecot.doveadm("move", "-u", user, REGISTERED, "mailbox", REVIEW, "header", "X-Saraban-Letter", "R1.")
        await ingest_once(settings, store=store)
        assert (await _letter(store, 1)).state == "registered"
        assert dovecot.message_count(user, REVIEW) == 0 and len(_copies(dovecot, user, 1)) == 1


async def test_the_registered_copy_says_which_fields_the_clerk_gave(site, dovecot) -> None:
    """A scan registered by the clerk's ลงรับ with the fields typed in: its `[รับ n/ปี]` copy
    names the clerk (เจ้าหน้าที่) as the source of those values, in Thai, as the review copy did."""
    settings, user = site
    dovecot.deliver(user, _scanned())
    async with opened_store(settings, upgrade=True, clock=TickingClock()) as store:
        await ingest_once(settings, store=store)
        (copy,) = _review_copies(dovecot, user, 1)
        _save(dovecot, user, SENT, _reply(copy, user, "ที่: นร 0105/ว 321\nจาก: กรมบัญชีกลาง\n"
                                                      "ลงวันที่: 3 ธันวาคม 2569\nเรื่อง: ขอเชิญประชุม\nลงรับ"))
        await ingest_once(settings, store=store)
        assert (await _letter(store, 1)).state == "registered"
        (filed,) = _copies(dovecot, user, 1)
        text = _text(filed)
        assert "• ที่ — นร 0105/ว 321  [ที่มา: เจ้าหน้าที่]" in text
        assert "• เรื่อง — ขอเชิญประชุม  [ที่มา: เจ้าหน้าที่]" in text and "clerk" not in text
