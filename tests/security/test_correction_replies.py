"""Correction replies that must not act (#21, on the trust rules of #18): one attack a row.

A reply that registers, amends, rejects or cancels is obeyed only from a clerk's channel (the
mailbox's Sent or คำสั่ง folder here); the same words by any other way — a stranger, the
central address forged over SMTP, a folder no client of the clerk writes, an auto-reply,
a quoted command — leave the register as it was.
"""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.app import Store, open_store
from gateway.core.compose import template_env
from gateway.inbound.pipeline import Pipeline
from gateway.service import accept_smtp
from gateway.store.letters import put_blobs
from gateway.store.tables import Letter, OutboxItem, RegisterEntry
from gateway.trust.channels import folder_key
from tests.conftest import FakeClock, add_to_directory, make_settings
from tests.corpus.mail import letter_mail

CENTRAL = "saraban@agency.test"
SENDER = "saraban@obec.go.th"
FIELDS = "ที่: กค 0305/ว 88\nลงวันที่: 3 ธ.ค. 2569\nจาก: กรมบัญชีกลาง\nเรื่อง: โอนเงินด่วน\n"


@pytest.fixture
async def site(tmp_path: Path):  # type: ignore[no-untyped-def]
    clock = FakeClock(dt.datetime(2026, 12, 4, 3, 0, tzinfo=dt.UTC))
    mailbox = {"name": "central", "host": "127.0.0.1", "user": CENTRAL,
               "password_env": "SARABAN_TEST_IMAP_PASSWORD"}
    settings = make_settings(tmp_path, imap=[mailbox])
    store = await open_store(settings, upgrade=True, clock=clock)
    await add_to_directory(store, SENDER)
    yield store, Pipeline.build(store, template_env())
    await store.close()


def _reply(body: str, *, frm: str = CENTRAL, subject: str = "Re: [ตรวจ L1] ไม่มีไฟล์",
           headers: dict[str, str] | None = None) -> bytes:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = frm, CENTRAL, subject
    m["Message-ID"] = f"<{abs(hash((body, frm, subject)))}@client.test>"
    for k, v in (headers or {}).items():
        m[k] = v
    m.set_content(body)
    return m.as_bytes()


async def _in_folder(store: Store, pipeline: Pipeline, raw: bytes, folder: str) -> None:
    (digest,) = await put_blobs(store.blobs, raw)
    await pipeline.take_in(raw, digest=digest, channel="imap", envelope_to=[CENTRAL],
                           source_key=folder_key("central", 1, abs(hash(raw)) % 10**6, folder))


# (case, how it arrives, body, sender, extra headers, obeyed, the clerk answered)
ATTACKS = [
    ("the clerk's Sent folder: obeyed", "Sent", FIELDS + "ลงรับ", CENTRAL, {}, True, True),
    ("the command folder: obeyed", "คำสั่ง", FIELDS + "ลงรับ", CENTRAL, {}, True, True),
    ("a stranger over SMTP", "smtp", FIELDS + "ลงรับ", "intruder@evil.example", {}, False, False),
    ("the central address forged over SMTP", "smtp", FIELDS + "ลงรับ", CENTRAL, {}, False, False),
    ("a folder only the gateway files into", "อื่น ๆ", FIELDS + "ลงรับ", CENTRAL, {}, False, False),
    ("an auto-reply quoting the copy", "Sent", FIELDS + "ลงรับ", CENTRAL,
     {"Auto-Submitted": "auto-replied"}, False, False),
    ("the command only quoted: answered, not obeyed", "Sent", FIELDS + "> ลงรับ", CENTRAL, {}, False,
     True),
    ("a forged Authentication-Results", "smtp", FIELDS + "ลงรับ", CENTRAL,
     {"Authentication-Results": "agency.test; dkim=pass header.d=agency.test; dmarc=pass"}, False, False),
]


@pytest.mark.parametrize(("how", "body", "frm", "headers", "obeyed", "answered"), [a[1:] for a in ATTACKS],
                         ids=[a[0] for a in ATTACKS])
async def test_only_a_clerks_channel_registers_by_reply(site, how: str, body: str, frm: str,
                                                        headers: dict[str, str], obeyed: bool,
                                                        answered: bool) -> None:
    store, pipeline = site
    letter_id = await accept_smtp(store, letter_mail(None, subject="ไม่มีไฟล์", sender=SENDER),
                                  SENDER, [CENTRAL])
    await pipeline.process(letter_id)
    raw = _reply(body, frm=frm, headers=headers)
    if how == "smtp":
        await pipeline.process(await accept_smtp(store, raw, frm, [CENTRAL]))
    else:
        await _in_folder(store, pipeline, raw, how)
    async with store.sessions() as s:
        letter = await s.get(Letter, letter_id)
        entries = (await s.execute(select(RegisterEntry))).scalars().all()
        answers = (await s.execute(select(OutboxItem).where(OutboxItem.kind == "correction-result"))).scalars().all()
    assert letter is not None
    if obeyed:
        assert letter.state == "registered" and letter.subject == "โอนเงินด่วน" and len(entries) == 1
    else:
        assert letter.state == "review" and letter.subject != "โอนเงินด่วน" and entries == []
    assert len(answers) == int(answered)


# Reports by mail (#22): the register leaves only for a clerk who proved who they are, and only
# to a listed address. (case, how it arrives, sender, extra headers, answered, to whom)
REPORT_ASKS = [
    ("the clerk's Sent folder", "Sent", CENTRAL, {}, True, CENTRAL),
    ("the command folder", "คำสั่ง", CENTRAL, {}, True, CENTRAL),
    ("a stranger over SMTP", "smtp", "intruder@evil.example", {}, False, ""),
    ("the central address forged over SMTP", "smtp", CENTRAL, {}, False, ""),
    ("a forged Authentication-Results", "smtp", CENTRAL,
     {"Authentication-Results": "agency.test; dkim=pass header.d=agency.test; dmarc=pass"}, False, ""),
    ("a folder only the gateway files into", "อื่น ๆ", CENTRAL, {}, False, ""),
    ("an auto-reply", "Sent", CENTRAL, {"Auto-Submitted": "auto-replied"}, False, ""),
    # proved (its Sent folder), but From an address nobody listed: the report goes to the
    # central address, never to the address the mail names
    ("Sent, From an unlisted address", "Sent", "outsider@evil.example", {}, True, CENTRAL),
]


@pytest.mark.parametrize(("how", "frm", "headers", "answered", "to"), [a[1:] for a in REPORT_ASKS],
                         ids=[a[0] for a in REPORT_ASKS])
async def test_only_a_clerks_channel_gets_a_report(site, how: str, frm: str, headers: dict[str, str],
                                                   answered: bool, to: str) -> None:
    store, pipeline = site
    raw = _reply("ขอรายงาน", frm=frm, subject="[รายงาน] ทะเบียนรับ ธันวาคม 2569", headers=headers)
    if how == "smtp":
        await pipeline.process(await accept_smtp(store, raw, frm, [CENTRAL]))
    else:
        await _in_folder(store, pipeline, raw, how)
    async with store.sessions() as s:
        sent = (await s.execute(select(OutboxItem).where(OutboxItem.kind == "report"))).scalars().all()
    assert [x.recipient for x in sent] == ([to] if answered else [])
