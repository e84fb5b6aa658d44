"""Secret stays inside (issue 18, finding 4): a letter marked ลับ or above is never mailed by an
automatic path, and a clerk's forward waits for a confirmation that names who gave it.

Each secrecy level is a row; each automatic path is a test over the rows. The real pipeline
on SQLite with the injected clock; the clerk's folder move on a real Dovecot.
"""

from __future__ import annotations

import argparse
import datetime as dt
import email
import json
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.app import Store, open_store, opened_store
from gateway.cli import letter as letter_cli
from gateway.core.compose import template_env
from gateway.errors import UserError
from gateway.inbound.pipeline import Pipeline
from gateway.reports.digest import digest_mail, gather
from gateway.service import accept_smtp, ingest_once
from gateway.store.letters import put_blobs
from gateway.store.tables import AuditEntry, Forward, Letter, OutboxItem
from gateway.trust.channels import folder_key
from tests.conftest import (
    FakeClock,
    TickingClock,
    add_to_directory,
    central_mailbox_settings,
    make_settings,
)
from tests.corpus.mail import letter_mail, letter_pdf

CENTRAL = "saraban@agency.test"
SENDER = "saraban@obec.go.th"
HR = "hr@agency.test"
SUBJECT = "แต่งตั้งคณะกรรมการสอบสวนวินัย"  # words that must not leave: the routing rule matches them
UNITS = [{"code": "hr", "name_th": "กลุ่มบริหารงานบุคคล", "emails": [HR], "aliases": ["บุคคล"]}]
RULES = {"rules": [{"name": "บุคคล", "subject": ["แต่งตั้ง"], "unit": "hr"}],
         "remind_after_hours": 24, "tell_clerk_after_hours": 4}

# (secrecy as printed on page 1, must it stay inside)
LEVELS = [("ลับ", True), ("ลับมาก", True), ("ลับที่สุด", True), ("", False)]
SECRET = [level for level, inside in LEVELS if inside]


def _letter(secrecy: str, n: int = 1) -> bytes:
    lines = ((secrecy,) if secrecy else ()) + (
        f"ที่ ศธ 04010/{n}", "สำนักงานคณะกรรมการการศึกษาขั้นพื้นฐาน", "วันที่ 20 พฤศจิกายน 2569",
        f"เรื่อง {SUBJECT}", "เรียน ผู้อำนวยการ")
    return letter_mail(letter_pdf(lines=lines), subject=SUBJECT, filename=f"2569_OBEC_{n}.pdf")


@pytest.fixture
async def site(tmp_path: Path):  # type: ignore[no-untyped-def]
    clock = FakeClock(dt.datetime(2026, 12, 2, 3, 0, tzinfo=dt.UTC))
    # the central mailbox is configured (not watched here): its Sent folder proves a clerk
    mailbox = {"name": "central", "host": "127.0.0.1", "user": CENTRAL,
               "password_env": "SARABAN_TEST_IMAP_PASSWORD"}
    settings = make_settings(tmp_path, units=UNITS, forwarding=RULES, imap=[mailbox])
    store = await open_store(settings, upgrade=True, clock=clock)
    await add_to_directory(store, SENDER)
    yield store, Pipeline.build(store, template_env()), clock, settings
    await store.close()


async def _registered(store: Store, pipeline: Pipeline, secrecy: str) -> Letter:
    """A letter taken in; a secret one is registered by the clerk from restricted review."""
    letter_id = await accept_smtp(store, _letter(secrecy), SENDER, [CENTRAL])
    await pipeline.process(letter_id)
    async with store.sessions() as s:
        letter = await s.get(Letter, letter_id)
    assert letter is not None
    if secrecy:
        assert letter.state == "restricted" and letter.secrecy == secrecy
        assert (await pipeline.clerk_register(letter_id, actor="clerk:test")).state == "registered"
    async with store.sessions() as s:
        letter = await s.get(Letter, letter_id)
    assert letter is not None and letter.state == "registered"
    return letter


async def _outbox(store: Store, *kinds: str) -> list[tuple[str, EmailMessage]]:
    async with store.sessions() as s:
        items = (await s.execute(select(OutboxItem).where(OutboxItem.kind.in_(kinds))
                                 .order_by(OutboxItem.id))).scalars().all()
    return [(i.recipient, email.message_from_bytes(store.blobs.get(i.message_sha256),  # type: ignore[arg-type]
                                                   policy=policy.default)) for i in items]


def _words(m: EmailMessage) -> str:
    body = m.get_body(("plain",))
    return str(m["Subject"]) + "\n" + (body.get_content() if body is not None else "")


def _inside(m: EmailMessage) -> None:
    """A mail that names a secret letter by its number only: no words of it, no file."""
    text = _words(m)
    assert SUBJECT not in text and "04010/1" not in text, text
    assert list(m.iter_attachments()) == []


async def _actions(store: Store, letter_id: int) -> list[str]:
    async with store.sessions() as s:
        return list((await s.execute(select(AuditEntry.action).where(
            AuditEntry.subject_type == "letter", AuditEntry.subject_id == str(letter_id))
            .order_by(AuditEntry.seq))).scalars())


@pytest.mark.parametrize(("secrecy", "inside"), LEVELS)
async def test_routing_rules_never_mail_a_secret_letter(site, secrecy: str, inside: bool) -> None:
    store, pipeline, _, _ = site
    letter = await _registered(store, pipeline, secrecy)
    forwards = await _outbox(store, "forward")
    if not inside:  # the control row: the same letter, not secret, is routed by the rule
        assert [to for to, _ in forwards] == [HR]
        return
    assert forwards == []
    assert letter.suggested_units == ["hr"]  # the rule's answer is a suggestion to the clerk
    assert "unit.secret_not_routed" in await _actions(store, letter.id)
    for _, ack in await _outbox(store, "ack"):  # the sender's acknowledgement: its number only
        assert SUBJECT not in _words(ack)


@pytest.mark.parametrize(("secrecy", "inside"), LEVELS)
async def test_the_filed_copy_and_the_digest_show_the_number_only(site, secrecy: str, inside: bool) -> None:
    store, pipeline, _, _ = site
    letter = await _registered(store, pipeline, secrecy)
    made = await pipeline.registered_copy(letter.id)
    assert made is not None
    copy = email.message_from_bytes(made[0], policy=policy.default)
    assert "[รับ 1/2569]" in str(copy["Subject"]) and copy["X-Saraban-Receive-Number"] == "1/2569"
    data = await gather(store, dt.date(2026, 12, 2))
    digest = email.message_from_bytes(digest_mail(store, pipeline.templates, data, dt.date(2026, 12, 2),
                                                  store.clock()), policy=policy.default)
    html = digest.get_body(("html",))
    assert html is not None
    if not inside:
        assert SUBJECT in _words(copy) and len(list(copy.iter_attachments())) == 1
        assert SUBJECT in _words(digest)
        return
    _inside(copy)
    assert "ชั้นความลับ" in _words(copy)
    assert [r["number"] for r in data.registered] == ["1/2569"]
    _inside(digest)
    assert SUBJECT not in html.get_content() and "สำนักงานคณะกรรมการการศึกษาขั้นพื้นฐาน" not in _words(digest)


@pytest.mark.parametrize("secrecy", SECRET)
async def test_a_clerk_forward_is_held_asked_and_sent_only_when_confirmed(site, secrecy: str) -> None:
    store, pipeline, clock, settings = site
    letter = await _registered(store, pipeline, secrecy)
    # the clerk moves it into ส่งต่อ/กลุ่มบริหารงานบุคคล (twice): held, asked once, nothing to the unit
    for _ in range(2):
        assert await pipeline.units.clerk_route(letter.id, ["hr"], via="folder", by="clerk:imap:central",
                                                folder="ส่งต่อ.กลุ่มบริหารงานบุคคล") == []
    assert await _outbox(store, "forward") == []
    ((to, question),) = await _outbox(store, "secret-hold")
    assert to == CENTRAL and question["X-Saraban-Secret-Hold"] == str(letter.id)
    assert "ยืนยันส่งลับ" in _words(question) and "กลุ่มบริหารงานบุคคล" in _words(question)
    _inside(question)
    async with store.sessions() as s:
        held = await s.get(Letter, letter.id)
        assert held is not None and held.secret_hold is not None
        assert (held.secret_hold["state"], held.secret_hold["units"], held.secret_hold["folder"]) == (
            "pending", ["hr"], "ส่งต่อ.กลุ่มบริหารงานบุคคล")

    clock.advance(minutes=5)
    async with store.sessions.begin() as s:
        row = await s.get(Letter, letter.id, with_for_update=True)
        assert row is not None
        assert await pipeline.units.confirm_secret(s, row, by="clerk:cli:สมศรี", now=clock()) == ["hr"]
    ((to, fw),) = await _outbox(store, "forward")
    assert to == HR and [p.get_filename() for p in fw.iter_attachments()][0].endswith(".pdf")
    async with store.sessions() as s:
        done = await s.get(Letter, letter.id)
        (row,) = (await s.execute(select(Forward))).scalars()
        entry = (await s.execute(select(AuditEntry).where(AuditEntry.action == "unit.forwarded"))).scalar_one()
    assert done is not None and done.secret_hold is not None
    assert done.secret_hold["state"] == "confirmed" and done.secret_hold["confirmed_by"] == "clerk:cli:สมศรี"
    assert row.unit_code == "hr" and json.loads(entry.details)["confirmed_by"] == "clerk:cli:สมศรี"
    assert "unit.secret_confirmed" in await _actions(store, letter.id)
    # confirmed once: asking again for a unit that has it changes nothing
    assert await pipeline.units.clerk_route(letter.id, ["hr"], via="folder", by="clerk:imap:central") == []
    assert len(await _outbox(store, "secret-hold")) == 1

    # the reminder is not mailed to the unit; the clerk is told, by number only (after 24
    # working hours: Wednesday morning to Tuesday, as Monday 7 Dec 2026 is a substitute holiday)
    clock.advance(days=6, hours=1)
    assert await pipeline.units.remind_due() == 1
    assert await _outbox(store, "unit-reminder") == []
    ((to, overdue),) = await _outbox(store, "unit-overdue")
    assert to == CENTRAL and "[รับ 1/2569]" in str(overdue["Subject"])
    _inside(overdue)
    assert "unit.remind_withheld" in await _actions(store, letter.id)


async def test_letter_show_and_confirm_secret_on_the_command_line(site, capsys) -> None:
    store, pipeline, _, settings = site
    letter = await _registered(store, pipeline, "ลับ")
    with pytest.raises(UserError):  # nothing held yet
        await letter_cli.confirm_secret(argparse.Namespace(id=letter.id, by="สมศรี"), settings)
    await pipeline.units.clerk_route(letter.id, ["hr"], via="folder", by="clerk:imap:central",
                                     folder="ส่งต่อ.กลุ่มบริหารงานบุคคล")
    await letter_cli.show(argparse.Namespace(ref=str(letter.id)), settings)
    out = capsys.readouterr().out
    assert "พักไว้" in out and "กลุ่มบริหารงานบุคคล" in out and f"confirm-secret {letter.id}" in out
    assert await letter_cli.confirm_secret(argparse.Namespace(id=letter.id, by="สมศรี"), settings) == 0
    assert "ยืนยันโดย สมศรี" in capsys.readouterr().out
    assert [to for to, _ in await _outbox(store, "forward")] == [HR]
    await letter_cli.show(argparse.Namespace(ref=str(letter.id)), settings)
    assert "ยืนยันโดย clerk:cli:สมศรี" in capsys.readouterr().out
    with pytest.raises(UserError):  # confirmed already: nothing waits
        await letter_cli.confirm_secret(argparse.Namespace(id=letter.id, by="สมศรี"), settings)


def _clerk_reply(first_line: str, subject: str = "Re: [รับ 1/2569] (หนังสือชั้นความลับ)") -> bytes:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = CENTRAL, CENTRAL, subject
    m.set_content(first_line + "\n\n> ข้อความเดิม\n")
    return m.as_bytes()


async def _from_sent_folder(store: Store, pipeline: Pipeline, raw: bytes, uid: int) -> Letter:
    """The clerk's reply as the IMAP adapter finds it in the central mailbox's Sent folder:
    a channel only a client holding the mailbox's password can write (a clerk's proof)."""
    (digest,) = await put_blobs(store.blobs, raw)
    letter_id, _, _ = await pipeline.take_in(raw, digest=digest, channel="imap",
                                             source_key=folder_key("central", 1, uid, "Sent"),
                                             envelope_to=[CENTRAL])
    async with store.sessions() as s:
        got = await s.get(Letter, letter_id)
    assert got is not None
    return got


async def test_a_reply_route_is_held_too(site) -> None:
    """`ส่ง <หน่วยงาน>` replied to the filed copy is a clerk's forward like a folder move."""
    store, pipeline, _, _ = site
    await _registered(store, pipeline, "ลับมาก")
    await _from_sent_folder(store, pipeline, _clerk_reply("ส่ง บุคคล"), 1)
    assert await _outbox(store, "forward") == []
    assert len(await _outbox(store, "secret-hold")) == 1


# the `ยืนยันส่งลับ` reply to the question: (case, how it arrives, is it obeyed)
CONFIRMATIONS = [
    ("from the clerk's Sent folder", "sent", True),
    ("over the SMTP listener with the clerk's From", "smtp", False),
]


@pytest.mark.parametrize(("how", "obeyed"), [c[1:] for c in CONFIRMATIONS], ids=[c[0] for c in CONFIRMATIONS])
async def test_the_confirmation_by_reply_needs_a_clerks_channel(site, how: str, obeyed: bool) -> None:
    store, pipeline, clock, _ = site
    letter = await _registered(store, pipeline, "ลับ")
    await pipeline.units.clerk_route(letter.id, ["hr"], via="folder", by="clerk:imap:central",
                                     folder="ส่งต่อ.กลุ่มบริหารงานบุคคล")
    ((_, question),) = await _outbox(store, "secret-hold")
    reply = _clerk_reply("ยืนยันส่งลับ", subject="Re: " + str(question["Subject"]))
    clock.advance(minutes=3)
    if how == "sent":
        got = await _from_sent_folder(store, pipeline, reply, 2)
    else:
        reply_id = await accept_smtp(store, reply, CENTRAL, [CENTRAL])
        await pipeline.process(reply_id)
        async with store.sessions() as s:
            got = await s.get(Letter, reply_id)
        assert got is not None
    async with store.sessions() as s:
        held = await s.get(Letter, letter.id)
    assert held is not None and held.secret_hold is not None
    if obeyed:
        assert [to for to, _ in await _outbox(store, "forward")] == [HR]
        assert held.secret_hold["state"] == "confirmed"
        assert held.secret_hold["confirmed_by"] == "clerk:imap:Sent"
        assert got.state == "not_letter"
    else:
        assert await _outbox(store, "forward") == []
        assert held.secret_hold["state"] == "pending"
        assert got.state == "review" and "ไม่ได้มาจากช่องทางของเจ้าหน้าที่" in got.review_reason


async def test_the_folder_move_on_a_real_mailbox(tmp_path: Path, dovecot, monkeypatch) -> None:
    user, password = dovecot.new_user("secret")
    monkeypatch.setenv("SARABAN_TEST_IMAP_PASSWORD", password)
    settings = central_mailbox_settings(tmp_path, dovecot, user, units=UNITS, forwarding=RULES)
    dovecot.deliver(user, _letter("ลับ"))
    async with opened_store(settings, upgrade=True, clock=TickingClock()) as store:
        await ingest_once(settings, store=store)
        assert dovecot.message_count(user, "รอตรวจสอบ (ลับ)") == 2  # and its review copy (#21)
        # the authorised clerk registers it: moved from restricted review into ลงรับแล้ว
        dovecot.doveadm("move", "-u", user, "ลงรับแล้ว", "mailbox", "รอตรวจสอบ (ลับ)", "all")
        await ingest_once(settings, store=store)
        copies = dovecot.doveadm("fetch", "-u", user, "hdr", "mailbox", "ลงรับแล้ว", "header",
                                 "X-Saraban-Receive-Number", "1/2569").stdout
        head = email.message_from_string(copies.split("hdr:\n", 1)[1], policy=policy.default)
        assert head["X-Saraban-Receive-Number"] == "1/2569"
        assert "ชั้นความลับ" in str(head["Subject"]) and SUBJECT not in str(head["Subject"])
        assert head.get_content_type() == "text/plain"  # no PDF attached in the shared folder
        assert list(settings.outbox_path.glob("*-forward.eml")) == []  # the rule did not route it
        # the clerk moves the copy into ส่งต่อ/กลุ่มบริหารงานบุคคล
        target = "ส่งต่อ.กลุ่มบริหารงานบุคคล"
        dovecot.doveadm("copy", "-u", user, target, "mailbox", "ลงรับแล้ว", "header",
                        "X-Saraban-Receive-Number", "1/2569")
        await ingest_once(settings, store=store)
        assert list(settings.outbox_path.glob("*-forward.eml")) == []  # nothing to the unit
        (question,) = settings.outbox_path.glob("*-secret-hold.eml")
        raw = question.read_bytes()
        while raw.startswith(b"X-Envelope-"):
            raw = raw.split(b"\r\n", 1)[1]
        asked = email.message_from_bytes(raw, policy=policy.default)
        assert asked["To"] == user and "ยืนยันส่งลับ" in _words(asked)  # type: ignore[arg-type]
        _inside(asked)  # type: ignore[arg-type]
        async with store.sessions() as s:
            letter = (await s.execute(select(Letter).where(Letter.state == "registered"))).scalar_one()
        assert letter.secret_hold is not None and letter.secret_hold["folder"] == target
        assert letter.secret_hold["units"] == ["hr"] and letter.secret_hold["state"] == "pending"
