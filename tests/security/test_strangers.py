"""No mail to strangers (issue 18, finding 3): each attack is one row of a table.

The gateway's automatic mail (acknowledgement, rejection notice) goes only to the From
address (never a Reply-To), only to a sender that is not a stranger (a passed verdict, or the
agency directory with no verdict against it), at most [intake] max_auto_mail_per_sender_hour
an hour per address, and quotes one cleaned line of at most 120 characters of what the sender
wrote. Whatever is withheld is a Thai remark on the letter and an `outbox.withheld` audit entry.
The real pipeline on SQLite, the injected clock.
"""

from __future__ import annotations

import datetime as dt
import email
import json
import unicodedata
from dataclasses import replace
from email import policy
from email.header import Header
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.app import Store, open_store
from gateway.core.compose import template_env
from gateway.core.edits import Edits
from gateway.inbound.pipeline import Pipeline
from gateway.service import accept_smtp
from gateway.store.tables import AuditEntry, Letter, OutboxItem
from gateway.trust import AuthResult, SenderAuth
from tests.conftest import FakeClock, add_to_directory, make_settings
from tests.corpus.mail import letter_mail, numbered_letter_pdf

CENTRAL = "saraban@agency.test"
KNOWN = "saraban@obec.go.th"  # in the agency directory
STRANGER = "victim@stranger.example"
LIMIT = 3
# What the clerk gives for a letter with no file before registering it (#21)
GIVEN = Edits(letter_no="ศธ 04010/7", letter_date=dt.date(2026, 11, 20), sender="สพฐ.")


@pytest.fixture
async def site(tmp_path: Path):  # type: ignore[no-untyped-def]
    clock = FakeClock(dt.datetime(2026, 12, 2, 3, 0, tzinfo=dt.UTC))
    settings = make_settings(tmp_path, intake={"max_auto_mail_per_sender_hour": LIMIT})
    store = await open_store(settings, upgrade=True, clock=clock)
    await add_to_directory(store, KNOWN)
    yield store, Pipeline.build(store, template_env()), clock
    await store.close()


async def _take(store: Store, pipeline: Pipeline, raw: bytes, envelope: str = KNOWN) -> Letter:
    letter_id = await accept_smtp(store, raw, envelope, [CENTRAL])
    await pipeline.process(letter_id)
    return await _letter(store, letter_id)


async def _letter(store: Store, letter_id: int) -> Letter:
    async with store.sessions() as s:
        letter = await s.get(Letter, letter_id)
    assert letter is not None
    return letter


async def _mails(store: Store, *kinds: str) -> list[EmailMessage]:
    async with store.sessions() as s:
        items = (await s.execute(select(OutboxItem).where(OutboxItem.kind.in_(kinds))
                                 .order_by(OutboxItem.id))).scalars().all()
    return [email.message_from_bytes(store.blobs.get(i.message_sha256), policy=policy.default)  # type: ignore[misc, arg-type]
            for i in items]


async def _withheld(store: Store) -> list[AuditEntry]:
    async with store.sessions() as s:
        return list((await s.execute(select(AuditEntry).where(AuditEntry.action == "outbox.withheld")
                                     .order_by(AuditEntry.seq))).scalars())


def _empty(n: int, frm: str) -> bytes:
    """A forged empty message: no subject, no text, no file (rejected: a notice is due)."""
    return (f"From: {frm}\r\nTo: {CENTRAL}\r\nMessage-ID: <forged{n}@stranger.example>\r\n"
            f"Date: Wed, 02 Dec 2026 10:00:00 +0700\r\n\r\n").encode()


async def test_backscatter_twenty_forged_empty_messages_mail_no_one(site) -> None:
    store, pipeline, _ = site
    letters = [await _take(store, pipeline, _empty(n, STRANGER), STRANGER) for n in range(20)]
    assert {x.state for x in letters} == {"rejected"}
    assert await _mails(store, "notice", "ack", "receipt") == []  # no notice to the forged address
    for x in letters:  # nothing silently dropped: each says why, in Thai
        assert any(f.startswith("ไม่ได้ส่งอีเมลแจ้งไม่รับหนังสือ") and STRANGER in f and "ไม่อยู่ในทะเบียนหน่วยงาน" in f
                   for f in x.sender_flags), x.sender_flags
    withheld = await _withheld(store)
    assert len(withheld) == 20 and {json.loads(e.details)["to"] for e in withheld} == {STRANGER}


# (case, From address, its display name, Reply-To, who gets the acknowledgement)
WHO = [
    ("directory sender", KNOWN, "สพฐ.", None, [KNOWN]),
    ("directory sender, capitals", KNOWN.upper(), "สพฐ.", None, [KNOWN]),
    ("Reply-To a foreign domain: the From only", KNOWN, "สพฐ.", "victim@elsewhere.example", [KNOWN]),
    ("Reply-To in the same domain: still the From", KNOWN, "สพฐ.", "boss@obec.go.th", [KNOWN]),
    ("unknown sender", STRANGER, "สพฐ.", None, []),
    ("unknown sender showing a directory address", STRANGER, KNOWN, None, []),
    ("unknown sender, Reply-To a directory address", STRANGER, "สพฐ.", KNOWN, []),
    ("directory domain, another mailbox", "someone@obec.go.th", "สพฐ.", None, []),
]


@pytest.mark.parametrize(("case", "frm", "name", "reply_to", "to"), WHO, ids=[w[0] for w in WHO])
async def test_who_gets_the_acknowledgement(site, case: str, frm: str, name: str, reply_to: str | None,
                                            to: list[str]) -> None:
    store, pipeline, _ = site
    raw = letter_mail(numbered_letter_pdf(1), sender=frm, sender_name=name,
                      extra={"Reply-To": reply_to} if reply_to else {})
    letter = await _take(store, pipeline, raw, envelope=frm)
    assert letter.state == "registered"
    acks = await _mails(store, "ack")
    assert [str(a["To"]) for a in acks] == to
    if not to:
        assert any("ไม่ได้ส่งอีเมลตอบรับ" in f for f in letter.sender_flags), letter.sender_flags


# (verdict stored on the letter, sender in the directory, acknowledged): a failed check is
# never overruled by the directory; with none, the directory decides
VERDICTS = [
    (AuthResult.PASS, False, True),
    (AuthResult.PASS, True, True),
    (AuthResult.NONE, True, True),
    (AuthResult.NONE, False, False),
    (AuthResult.FAIL, True, False),
    (AuthResult.TEMPERROR, True, False),
]


@pytest.mark.parametrize(("result", "listed", "acknowledged"), VERDICTS)
async def test_the_verdict_decides_at_the_gate(site, result: AuthResult, listed: bool,
                                               acknowledged: bool) -> None:
    """The clerk registers a letter from review: its sender's stored verdict decides."""
    store, pipeline, _ = site
    frm = KNOWN if listed else "saraban@unlisted.go.th"
    letter = await _take(store, pipeline, letter_mail(None, sender=frm, subject="หนังสือไม่มีไฟล์"), frm)
    assert letter.state == "review"
    async with store.sessions.begin() as s:
        row = await s.get(Letter, letter.id)
        assert row is not None
        row.sender_auth = SenderAuth(result, frm.partition("@")[2]).to_json()
    # the clerk gives what a letter with no file lacks (#21: ที่, ลงวันที่ are required)
    assert (await pipeline.clerk_register(letter.id, actor="clerk:test", edits=GIVEN)).state == "registered"
    acks = await _mails(store, "ack")
    assert [str(a["To"]) for a in acks] == ([frm] if acknowledged else [])
    flags = (await _letter(store, letter.id)).sender_flags
    assert acknowledged or any("ไม่ได้ส่งอีเมลตอบรับ" in f for f in flags), flags


async def test_at_most_n_automatic_mails_an_hour_per_address(site) -> None:
    store, pipeline, clock = site
    taken = []
    for n in range(1, LIMIT + 2):
        taken.append(await _take(store, pipeline, letter_mail(numbered_letter_pdf(n), subject=f"ฉบับ {n}")))
        clock.advance(minutes=10)
    assert len(await _mails(store, "ack")) == LIMIT  # the N+1th within the hour is withheld
    assert any(f"ครบ {LIMIT} ฉบับใน 1 ชั่วโมง" in f for f in taken[-1].sender_flags), taken[-1].sender_flags
    (withheld,) = await _withheld(store)
    assert json.loads(withheld.details)["to"] == KNOWN
    clock.advance(minutes=31)  # the first one is more than an hour old now
    await _take(store, pipeline, letter_mail(numbered_letter_pdf(LIMIT + 2)))
    assert len(await _mails(store, "ack")) == LIMIT + 1


def _encoded(subject: str) -> str:
    return Header(subject, "utf-8").encode()


# (case, the e-mail subject an attacker wrote): quoted as one clean line of <= 120 characters
HOSTILE = [
    ("CR/LF header injection", "ขอเชิญประชุม\r\nBcc: all@evil.example\r\n\r\nตอบกลับที่ http://evil.example"),
    ("control characters", "ขอเชิญ\x1b[31mประชุม\x07\x00\x08\u202eเอกสาร"),
    ("5,000 characters", "ก" * 5000),
    ("HTML", "<script>alert(1)</script><a href='http://evil.example'>คลิกที่นี่</a>"),
    ("only line breaks", "\r\n\r\n\r\n"),
]


def _clean(text: str) -> None:
    for line in text.splitlines():
        assert len(line) <= 200, len(line)
        assert not any(unicodedata.category(ch)[0] == "C" for ch in line), repr(line)


@pytest.mark.parametrize(("case", "subject"), HOSTILE, ids=[h[0] for h in HOSTILE])
async def test_a_hostile_subject_is_quoted_cleaned_and_short(site, case: str, subject: str) -> None:
    store, pipeline, _ = site
    raw = (f"From: {KNOWN}\r\nTo: {CENTRAL}\r\nSubject: {_encoded(subject)}\r\n"
           f"Message-ID: <h@obec.go.th>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
           f"\r\nเรียน ผู้อำนวยการ\r\n").encode()
    first = await _take(store, pipeline, raw)
    assert first.state == "review"
    await pipeline.clerk_reject(first.id, actor="clerk:test")  # the notice quotes the e-mail subject
    second = await _take(store, pipeline, raw.replace(b"<h@", b"<h2@"))
    given = GIVEN if second.subject else replace(GIVEN, subject="(ไม่มีเรื่อง)")  # #21: required
    outcome = await pipeline.clerk_register(second.id, actor="clerk:test", edits=given)
    assert outcome.state == "registered"  # the ack quotes the letter subject
    mails = await _mails(store, "notice", "ack")
    assert sorted(str(m["To"]) for m in mails) == [KNOWN, KNOWN]
    for m in mails:
        assert m["Bcc"] is None and m["Cc"] is None
        assert len(str(m["Subject"])) <= 220
        _clean(str(m["Subject"]))
        body = m.get_body(("plain",))
        assert body is not None and m.get_body(("html",)) is None  # plain text only
        text = body.get_content()
        _clean(text)
        assert "ก" * 121 not in text
        quoted = [line for line in text.splitlines() if "http://evil.example" in line or "ก" * 50 in line]
        assert all(len(line) <= 120 + 60 for line in quoted), quoted  # 120 quoted, the rest ours
