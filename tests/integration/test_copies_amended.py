"""The `[รับ n/ปี]` copy in ลงรับแล้ว follows the clerk's แก้ไข (#21), on a real Dovecot: after
an amendment of a registered letter (a reply, or the command line) the folder holds exactly
one copy of it, under the same number, showing the amended values, as a new message (Message-ID)
— the old copy withdrawn, nothing twice after a crash. A copy the crash search finds is
remembered with its bytes' hash, so the clerk's later move of it into ส่งต่อ/<unit> forwards
the letter. Crash points are set up as the store and the mailbox would be left by them
(tests/integration/test_copies_refreshed.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.app import opened_store
from gateway.core.compose import template_env
from gateway.core.edits import Edits
from gateway.inbound.pipeline import Pipeline
from gateway.service import ingest_once
from gateway.store.tables import Forward, ImapMessage
from tests.conftest import TickingClock, add_to_directory, central_mailbox_settings
from tests.integration.test_copies_refreshed import (
    _copies,
    _forget,
    _numbers,
    _registered_letter,
    _set,
    registered_one,
)
from tests.integration.test_corrections_imap import (
    REGISTERED,
    SENT,
    _entries,
    _letter,
    _reply,
    _save,
    _text,
)
from tests.integration.test_corrections_imap import site as site  # noqa: F401  (the fixture)

pytestmark = pytest.mark.integration

CLI = "cli:test"
NEW_SUBJECT = "ขอเชิญประชุมคณะกรรมการ"


async def test_an_amendment_by_reply_refreshes_the_registered_copy(site, dovecot) -> None:
    settings, user = site
    async with registered_one(settings, user, dovecot) as store:
        (found,) = _copies(dovecot, user, 1)
        number = str(found["X-Saraban-Receive-Number"])
        assert NEW_SUBJECT not in _text(found)

        _save(dovecot, user, SENT, _reply(found, user, f"เรื่อง: {NEW_SUBJECT}\nแก้ไข พิมพ์ตกหล่น"))
        await ingest_once(settings, store=store)
        assert (await _letter(store, 1)).subject == NEW_SUBJECT
        (copy,) = _copies(dovecot, user, 1)  # one copy, the same number, the amended value
        assert _numbers([copy]) == [number] and str(copy["Subject"]).startswith(f"[รับ {number}]")
        assert NEW_SUBJECT in str(copy["Subject"]) and f"• เรื่อง — {NEW_SUBJECT}" in _text(copy)
        assert copy["Message-ID"] != found["Message-ID"]  # a new message, not the old one again
        assert dovecot.message_count(user, REGISTERED) == 2  # the original and its one copy

        await ingest_once(settings, store=store)  # and it stays so
        (again,) = _copies(dovecot, user, 1)
        assert again["Message-ID"] == copy["Message-ID"] and dovecot.message_count(user, REGISTERED) == 2


async def test_an_amendment_by_the_command_line_with_a_crash_after_the_append(site, dovecot) -> None:
    """`letter edit` on a registered letter (another process), then the gateway's rounds: a
    crash after the new copy's APPEND, before its placement was recorded, files no second copy;
    a second amendment coming in that crash's window leaves the copy showing its values, once."""
    settings, user = site
    async with registered_one(settings, user, dovecot) as store:
        (old,) = _copies(dovecot, user, 1)
        (entry,) = await _entries(store, 1)
        number = f"{entry.number}/{entry.year}"
        desk = Pipeline.build(store, template_env()).clerk
        outcome = await desk.amend(1, Edits(subject=NEW_SUBJECT), actor=CLI, reason="พิมพ์ตกหล่น")
        assert outcome.entry == number and not outcome.error_th

        # the round files the new copy; the crash comes after its APPEND, before its record
        await ingest_once(settings, store=store)
        (fresh,) = _copies(dovecot, user, 1)
        await _forget(store, 1, "copy")
        await _set(store, 1, copy_appended=False, copy_appending=True)
        await ingest_once(settings, store=store)
        (copy,) = _copies(dovecot, user, 1)
        assert copy["Message-ID"] == fresh["Message-ID"] != old["Message-ID"]
        assert _numbers([copy]) == [number] and NEW_SUBJECT in _text(copy)
        assert (await _letter(store, 1)).copy_appended and dovecot.message_count(user, REGISTERED) == 2

        # the same crash, and the clerk amends again before the next round: the unrecorded
        # copy shows the first amendment's values and must not stay beside the current one
        await _forget(store, 1, "copy")
        await _set(store, 1, copy_appended=False, copy_appending=True)
        await desk.amend(1, Edits(sender="กรมบัญชีกลาง"), actor=CLI, reason="ผู้ส่งผิด")
        await ingest_once(settings, store=store)
        (latest,) = _copies(dovecot, user, 1)
        assert "กรมบัญชีกลาง" in _text(latest) and NEW_SUBJECT in _text(latest)
        assert latest["Message-ID"] not in (copy["Message-ID"], old["Message-ID"])
        await ingest_once(settings, store=store)
        assert len(_copies(dovecot, user, 1)) == 1 and dovecot.message_count(user, REGISTERED) == 2


UNIT = "กลุ่มนโยบายและแผน"


async def test_a_copy_found_by_the_crash_search_is_known_when_the_clerk_moves_it(
        tmp_path: Path, dovecot, monkeypatch: pytest.MonkeyPatch) -> None:
    """The copy's APPEND done, its placement not recorded (a crash): the next round finds it
    and remembers it with its hash; the clerk then moves it into ส่งต่อ/<unit>, which forwards
    the letter to that unit (tests/integration/test_units_imap.py moves a copy the same way)."""
    user, password = dovecot.new_user("moves")
    monkeypatch.setenv("SARABAN_TEST_IMAP_PASSWORD", password)
    settings = central_mailbox_settings(
        tmp_path, dovecot, user, units=[{"code": "policy", "name_th": UNIT, "emails": ["policy@agency.test"]}])
    dovecot.deliver(user, _registered_letter())
    async with opened_store(settings, upgrade=True, clock=TickingClock()) as store:
        await add_to_directory(store, "saraban@obec.go.th")
        await ingest_once(settings, store=store)  # registered, its copy filed, the folders made
        (filed,) = _copies(dovecot, user, 1)
        await _forget(store, 1, "copy")
        await _set(store, 1, copy_appended=False, copy_appending=True)
        await ingest_once(settings, store=store)
        (copy,) = _copies(dovecot, user, 1)
        assert copy["Message-ID"] == filed["Message-ID"]  # found, not filed again
        async with store.sessions() as s:
            (sha,) = (await s.execute(select(ImapMessage.sha256).where(
                ImapMessage.letter_id == 1, ImapMessage.kind == "copy"))).scalars().all()
        assert len(sha) == 64

        target = f"ส่งต่อ.{UNIT}"
        assert target in dovecot.list_mailboxes(user)
        dovecot.doveadm("move", "-u", user, target, "mailbox", REGISTERED, "header", "X-Saraban-Letter", "L1.")
        await ingest_once(settings, store=store)
        async with store.sessions() as s:
            forwards = (await s.execute(select(Forward.letter_id, Forward.unit_code))).all()
        assert [tuple(f) for f in forwards] == [(1, "policy")]
