"""Outbound end to end: a clerk's mail in, one numbered, named, signed mail per recipient out.

Real parts: the submission server (STARTTLS + AUTH) with aiosmtplib as the clerk's client, an
aiosmtpd sink as the relay, the store on SQLite and PostgreSQL, pyHanko signing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import ssl
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from sqlalchemy import func, select

from gateway.app import Store, open_store, opened_store
from gateway.core.compose import template_env
from gateway.inbound.pipeline import Pipeline
from gateway.outbound.bounces import verp_token
from gateway.outbound.flow import Outbound, submission_message
from gateway.outbound.sender import RelayTransport, SenderLease, send_due
from gateway.passwords import hash_password
from gateway.pdf.check import inspect_pdf
from gateway.service import accept_smtp, serve
from gateway.store import audit
from gateway.store.directory import import_agencies
from gateway.store.tables import (
    Letter,
    LetterFile,
    LetterRecipient,
    OutboxItem,
    RawMessage,
    RegisterEntry,
)
from gateway.xmlletter import read_letter_xml
from gateway.xmlletter.model import Notifier, NotifierKind
from gateway.xmlletter.notifiers import build_notifier
from gateway.xmlletter.resources import default_resources
from tests.conftest import FakeClock, TickingClock, make_settings
from tests.corpus.mail import letter_mail, letter_pdf
from tests.servers.smtpsink import SmtpSink
from tests.servers.tls import TestPKI

pytestmark = pytest.mark.integration

USER, PASSWORD = "saraban@agency.test", "รหัสผ่านสารบรรณ 2569"
OTHER_USER, OTHER_PASSWORD = "hr-clerk", "another secret 99"
AGENCIES = [("กรมทดสอบหนึ่ง", "ทส 0001", "TEST1", "saraban@one.go.th", "กระทรวงทดสอบ"),
            ("กรมทดสอบสอง", "ทส 0002", "TEST2", "saraban@two.go.th", "กระทรวงทดสอบ"),
            ("กรมทดสอบสาม", "ทส 0003", "TEST3", "saraban@three.go.th", "กระทรวงทดสอบ")]
RCPTS = [a[3] for a in AGENCIES]
BLANK_NUMBER_PDF = letter_pdf(lines=("ที่ ศธ 04183/", "สำนักงานทดสอบ", "วันที่ 2 ธันวาคม 2569",
                                     "เรื่อง ขอเชิญประชุม", "เรียน อธิบดี"))


def _settings(tmp: Path, db_url: str, sink: SmtpSink, **over: Any):  # type: ignore[no-untyped-def]
    relay = {"mode": "smtp", "host": "127.0.0.1", "port": sink.port, "starttls": False,
             "timeout_seconds": 10, **over.pop("relay", {})}
    return make_settings(
        tmp, db_url,
        relay=relay,
        submission={"port": 0, "users": [
            {"name": USER, "password_hash": hash_password(PASSWORD), "unit": "admin"},
            {"name": OTHER_USER, "password_hash": hash_password(OTHER_PASSWORD), "unit": "hr"}]},
        **over)


@pytest.fixture
async def sink():  # type: ignore[no-untyped-def]
    s = await SmtpSink.start()
    yield s
    await s.stop()


async def _directory(store: Store) -> None:
    async with store.sessions.begin() as s:
        from gateway.directory import AgencyRecord

        await import_agencies(s, [AgencyRecord(*a) for a in AGENCIES], now=store.clock(), actor="test")


@pytest.fixture
async def parts(tmp_path: Path, db_url: str, sink: SmtpSink, clock: FakeClock):  # type: ignore[no-untyped-def]
    settings = _settings(tmp_path, db_url, sink)
    store = await open_store(settings, upgrade=True, clock=clock)
    await _directory(store)
    out = Outbound.build(store, template_env())
    yield store, out, sink, clock
    await store.close()


async def _submit(out: Outbound, subject: str, *, files: list[bytes] | None = None,
                  to: list[str] | None = None, user: str = USER, tmp: Path) -> tuple[int, str]:
    paths = []
    for i, data in enumerate(files if files is not None else [BLANK_NUMBER_PDF]):
        p = tmp / f"file{i}.pdf"
        p.write_bytes(data)
        paths.append(p)
    raw = submission_message(pdfs=paths, to=to or RCPTS, subject=subject, sender=USER,
                             now=out.store.clock())
    letter_id = await out.accept(raw, USER, list(to or RCPTS), user)
    return letter_id, await out.process(letter_id)


async def _deliver(store: Store, out: Outbound) -> int:
    lease = SenderLease(store, out.on_parked, out.on_in_doubt)
    assert await lease.take()
    total = 0
    while n := await send_due(store, RelayTransport(store.settings.relay), composer=out.compose_for,
                              on_parked=out.on_parked, on_in_doubt=out.on_in_doubt):
        total += n
    await lease.drop()
    return total


def _parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


def _subjects(sink: SmtpSink, to: str) -> list[str]:
    return [str(_parse(m)["Subject"]) for m in sink.to(to)]


# -- the whole road, from the clerk's mail client ------------------------------------------------


@pytest.fixture
async def served(tmp_path: Path, db_url: str, sink: SmtpSink, tls_pki: TestPKI, pki):  # type: ignore[no-untyped-def]
    (tmp_path / "agency.p12").write_bytes(pki.agency_p12)
    import os

    os.environ["TEST_SIGNING_PASSPHRASE"] = pki.passphrase.decode()
    settings = _settings(tmp_path, db_url, sink, signing={
        "pkcs12_file": "agency.p12", "passphrase_env": "TEST_SIGNING_PASSPHRASE"})
    store = await open_store(settings, upgrade=True, clock=TickingClock())  # dates asserted: set, ticking
    await _directory(store)
    ports: dict[str, int] = {}
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, ready=ready, stop=stop, store=store, ready_ports=ports))
    await asyncio.wait_for(ready, 30)
    yield store, ports["submission"], sink
    stop.set()
    await asyncio.wait_for(task, 30)
    await store.close()


async def _until(pred, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    end = asyncio.get_running_loop().time() + timeout
    while not await pred():
        if asyncio.get_running_loop().time() > end:
            raise AssertionError("timed out")
        await asyncio.sleep(0.1)


async def test_a_circular_sent_from_the_mail_client_leaves_once_per_recipient(served, tmp_path: Path) -> None:
    store, port, sink = served
    pdf = tmp_path / "หนังสือเชิญประชุม.pdf"
    pdf.write_bytes(BLANK_NUMBER_PDF)
    enc = tmp_path / "กำหนดการ.pdf"
    enc.write_bytes(letter_pdf())
    raw = submission_message(pdfs=[pdf, enc], to=RCPTS, subject="[เวียน][ด่วน] ขอเชิญประชุมคณะกรรมการ",
                             sender=USER, now=dt.datetime.now(dt.UTC))
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=10)
    await client.connect()
    await client.starttls(tls_context=ssl._create_unverified_context())  # self-signed by default
    await client.login(USER, PASSWORD)
    _, reply = await client.sendmail(USER, RCPTS, raw)
    await client.quit()
    assert "queued as letter" in reply
    letter_id = int(reply.rsplit(" ", 1)[1])

    async def all_sent() -> bool:
        async with store.sessions() as s:
            states = list((await s.execute(select(LetterRecipient.state).where(
                LetterRecipient.letter_id == letter_id))).scalars())
        return states == ["sent"] * 3 and len(sink.messages) >= 4

    await _until(all_sent)
    for address in RCPTS:
        (mail,) = sink.to(address)  # exactly one mail each, addressed to that agency alone
        m = _parse(mail)
        assert m["To"] == address
        assert str(m["Subject"]) == "ด่วน ขอเชิญประชุมคณะกรรมการ"
        names = [p.get_filename() for p in m.iter_attachments()]
        assert names == ["2569_TEST04183_W1.pdf", "2569_TEST04183_W1_1.pdf", "2569_TEST04183_W1.xml"]
        body = m.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert body.startswith("เรียน ")
        assert "ที่ ศธ 04183/ว1" in body and "ขอแสดงความนับถือ" in body
        letter = next(p for p in m.iter_attachments() if p.get_filename().endswith("W1.pdf"))
        report = await asyncio.to_thread(inspect_pdf, letter.get_content(), now=dt.datetime.now(dt.UTC))
        assert report.signed and all(s.intact for s in report.signatures)
        xml = next(p for p in m.iter_attachments() if p.get_filename().endswith(".xml")).get_content()
        got = read_letter_xml(xml if isinstance(xml, bytes) else xml.encode(), resources=default_resources())
        assert got.valid and got.letter is not None
        assert got.letter.letter_id == "ศธ 04183/ว1"
    envelopes = {rcpts[0]: frm for frm, rcpts, _ in sink.messages}
    tokens = {verp_token(envelopes[a]) for a in RCPTS}
    assert None not in tokens and len(tokens) == 3  # one VERP return path per recipient
    confirm = [s for s in _subjects(sink, USER) if s.startswith("ส่งแล้ว")]
    assert confirm == ["ส่งแล้ว ที่ ศธ 04183/ว1 ถึง 3 หน่วยงาน: ขอเชิญประชุมคณะกรรมการ"]
    async with store.sessions() as s:
        entry = (await s.execute(select(RegisterEntry).where(RegisterEntry.letter_id == letter_id))).scalar_one()
        files = {f.role for f in (await s.execute(select(LetterFile).where(
            LetterFile.letter_id == letter_id))).scalars()}
        assert (await audit.verify(s)).ok
    assert (entry.number, entry.letter_no, entry.speed) == (1, "ศธ 04183/ว1", "ด่วน")
    assert entry.action == "ส่งทางไปรษณีย์อิเล็กทรอนิกส์ 3 หน่วยงาน: ส่งแล้ว 3"
    assert files == {"main", "sent", "enclosure"}


# -- refusals: nothing is sent, no number is used --------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "files", "to", "reason"),
    [
        ("[ลับ] แจ้งผลการสอบสวน", None, None, "ชั้นความลับ"),
        ("ขอเชิญประชุม", None, ["somebody@unknown.go.th"], "ไม่อยู่ในทะเบียนหน่วยงาน"),
        ("ขอเชิญประชุม", [], None, "ไม่พบไฟล์หนังสือ (PDF)"),
        ("ขอเชิญประชุม", [b"%PDF-1.7 broken"], None, "เปิดไฟล์หนังสือ (PDF) ไม่ได้"),
    ],
)
async def test_refused_submissions_send_nothing_and_say_why(parts, tmp_path: Path, subject: str,
                                                           files: list[bytes] | None,
                                                           to: list[str] | None, reason: str) -> None:
    store, out, sink, _ = parts
    letter_id, state = await _submit(out, subject, files=files, to=to, tmp=tmp_path)
    assert state == "refused"
    await _deliver(store, out)
    assert [rc for _, rc, _ in sink.messages] == [[USER]]  # only the refusal, to the clerk
    m = _parse(sink.messages[0][2])
    assert str(m["Subject"]).startswith("ไม่ได้ส่ง")
    assert reason in m.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    async with store.sessions() as s:
        assert (await s.execute(select(func.count()).select_from(RegisterEntry))).scalar_one() == 0
        letter = await s.get(Letter, letter_id)
        assert letter is not None and reason in letter.review_reason


async def test_a_printed_number_must_be_the_registers(parts, tmp_path: Path) -> None:
    store, out, sink, _ = parts
    wrong = letter_pdf(lines=("ที่ ศธ 04183/99", "สำนักงานทดสอบ", "วันที่ 2 ธันวาคม 2569", "เรื่อง ก"))
    _, state = await _submit(out, "ขอส่งรายงาน", files=[wrong], tmp=tmp_path)
    assert state == "refused"
    _, state = await _submit(out, "ขอส่งรายงานฉบับแก้ไข", tmp=tmp_path)
    assert state == "queued"
    async with store.sessions() as s:
        numbers = list((await s.execute(select(RegisterEntry.number))).scalars())
    assert numbers == [1]  # the refused one took no number: no gap
    right = letter_pdf(lines=("ที่ ศธ 04183/2", "สำนักงานทดสอบ", "วันที่ 2 ธันวาคม 2569", "เรื่อง ข"))
    _, state = await _submit(out, "ขอส่งรายงานอีกฉบับ", files=[right], tmp=tmp_path)
    assert state == "queued"


# -- mail commands and reservations ------------------------------------------------------------


async def test_numbers_by_mail_then_used_by_tag_only_by_their_owner(parts, tmp_path: Path) -> None:
    store, out, sink, _ = parts
    letter_id, state = await _submit(out, "สำรองเลข 2 ส่ง", files=[], to=[USER], tmp=tmp_path)
    assert state == "answered"
    await _deliver(store, out)
    reply = _parse(sink.to(USER)[-1])
    assert str(reply["Subject"]) == "เลขทะเบียนส่งที่สำรองไว้ ศธ 04183/1, ศธ 04183/2"
    # someone of another unit cannot take it
    _, state = await _submit(out, "[เลขสำรอง 2] ส่งรายงาน", user=OTHER_USER, tmp=tmp_path)
    assert state == "refused"
    _, state = await _submit(out, "[เลขสำรอง 2] ส่งรายงาน", tmp=tmp_path)
    assert state == "queued"
    _, state = await _submit(out, "[เลขสำรอง 2] ส่งรายงานซ้ำ", tmp=tmp_path)
    assert state == "refused"  # already used
    _, state = await _submit(out, "[ที่ ศธ 04183/1] ส่งรายงานอีกเรื่อง", tmp=tmp_path)
    assert state == "queued"  # the letter printed with its reserved number
    async with store.sessions() as s:
        rows = (await s.execute(select(RegisterEntry.number, RegisterEntry.status, RegisterEntry.subject)
                                .order_by(RegisterEntry.number))).all()
    assert [(n, st) for n, st, _ in rows] == [(1, "registered"), (2, "registered")]
    assert rows[1][2] == "ส่งรายงาน"


async def test_the_owning_unit_gets_one_copy_when_asked(parts, tmp_path: Path) -> None:
    store, out, sink, _ = parts
    _, state = await _submit(out, "[เวียน][สำเนาหน่วยงาน] แจ้งเวียน", tmp=tmp_path)
    assert state == "queued"
    await _deliver(store, out)
    (copy,) = sink.to("admin@agency.test")  # the user's unit (admin), once, not once per agency
    assert _parse(copy)["To"] == "admin@agency.test"
    assert "เรียน กลุ่มอำนวยการ" in _parse(copy).get_body(("plain",)).get_content()  # type: ignore[union-attr]
    for address in RCPTS:
        (mail,) = sink.to(address)
        assert _parse(mail)["Cc"] == "admin@agency.test"


async def test_help_by_mail(parts, tmp_path: Path) -> None:
    store, out, sink, _ = parts
    _, state = await _submit(out, "วิธีใช้", files=[], to=[USER], tmp=tmp_path)
    assert state == "answered"
    await _deliver(store, out)
    body = _parse(sink.to(USER)[-1]).get_body(("plain",)).get_content()  # type: ignore[union-attr]
    for tag in ("[เวียน]", "[คำสั่ง]", "[ด่วนที่สุด]", "[เลขสำรอง 123]", "[ยืนยันผู้รับ]", "ขอเลข ส่ง"):
        assert tag in body


# -- retries, parking, and what comes back ----------------------------------------------------------


async def test_temporary_failures_retry_and_permanent_ones_park(parts, tmp_path: Path) -> None:
    store, out, sink, clock = parts
    sink.script[RCPTS[0]] = ["451 4.2.1 mailbox busy", "451 4.2.1 mailbox busy"]
    sink.script[RCPTS[1]] = ["550 5.1.1 no such user"]
    letter_id, _ = await _submit(out, "[เวียน] แจ้งเวียน", tmp=tmp_path)
    await _deliver(store, out)
    assert len(sink.to(RCPTS[2])) == 1 and not sink.to(RCPTS[0]) and not sink.to(RCPTS[1])
    for _ in range(2):
        clock.advance(minutes=5)
        await _deliver(store, out)
    assert len(sink.to(RCPTS[0])) == 1  # got there on the third try, once
    async with store.sessions() as s:
        rec = {r.address: r for r in (await s.execute(select(LetterRecipient))).scalars()}
        parked = (await s.execute(select(OutboxItem).where(OutboxItem.status == "parked"))).scalars().all()
    assert rec[RCPTS[0]].state == "sent" and rec[RCPTS[2]].state == "sent"
    assert rec[RCPTS[1]].state == "failed" and "550" in rec[RCPTS[1]].error
    assert [p.recipient for p in parked] == [RCPTS[1]]
    await _deliver(store, out)
    reports = [s for s in _subjects(sink, USER) if s.startswith("ส่งไม่สำเร็จ")]
    assert reports == ["ส่งไม่สำเร็จ: ที่ ศธ 04183/ว1 ถึง กรมทดสอบสอง"]  # the clerk is told, once
    # past the lifetime a temporary failure parks too
    sink.script[RCPTS[0]] = ["451 busy"] * 50
    _, _ = await _submit(out, "[เวียน] แจ้งเวียนฉบับสอง", to=[RCPTS[0]], tmp=tmp_path)
    for _ in range(12):
        await _deliver(store, out)
        clock.advance(hours=12)
    async with store.sessions() as s:
        last = (await s.execute(select(OutboxItem).where(OutboxItem.kind == "letter")
                                .order_by(OutboxItem.id.desc()).limit(1))).scalar_one()
    assert last.status == "parked" and last.attempts > 3


async def _inbound(store: Store, raw: bytes, frm: str, rcpts: list[str]) -> Letter:
    pipeline = Pipeline.build(store, template_env())
    letter_id = await accept_smtp(store, raw, frm, rcpts)
    await pipeline.process(letter_id)
    async with store.sessions() as s:
        letter = await s.get(Letter, letter_id)
    assert letter is not None
    return letter


async def _recipients(store: Store) -> dict[str, LetterRecipient]:
    async with store.sessions() as s:
        return {r.address: r for r in (await s.execute(select(LetterRecipient))).scalars()}


async def test_a_bounce_to_the_verp_path_marks_that_recipient_failed(parts, tmp_path: Path) -> None:
    store, out, sink, _ = parts
    await _submit(out, "[เวียน] แจ้งเวียน", tmp=tmp_path)
    await _deliver(store, out)
    frm = next(f for f, rc, _ in sink.messages if rc == [RCPTS[1]])
    dsn = (
        f"From: MAILER-DAEMON@two.go.th\r\nTo: {frm}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
        "--b\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you...\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.two.go.th\r\n\r\n"
        f"Final-Recipient: rfc822; {RCPTS[1]}\r\nAction: failed\r\nStatus: 5.2.2\r\n"
        "Diagnostic-Code: smtp; 552 5.2.2 mailbox full\r\n\r\n--b--\r\n").encode()
    report = await _inbound(store, dsn, "", [frm])  # the listener accepts saraban+b.<token>@
    assert report.state == "not_letter"
    rec = await _recipients(store)
    assert rec[RCPTS[1]].state == "failed" and "5.2.2" in rec[RCPTS[1]].error
    assert rec[RCPTS[0]].state == "sent"
    await _deliver(store, out)
    assert "ส่งไม่สำเร็จ: ที่ ศธ 04183/ว1 ถึง กรมทดสอบสอง" in _subjects(sink, USER)
    async with store.sessions() as s:
        assert (await s.execute(select(func.count()).select_from(RegisterEntry).where(
            RegisterEntry.book_id == 1))).scalar_one() == 0  # nothing registered as received


async def test_replies_and_notifiers_acknowledge_with_their_number(parts, tmp_path: Path) -> None:
    store, out, sink, _ = parts
    await _submit(out, "[เวียน] แจ้งเวียน", tmp=tmp_path)
    await _deliver(store, out)
    # each recipient's mail asks for replies at its own token (issue #18)
    reply_to = {a: str(_parse(sink.to(a)[0])["Reply-To"]) for a in RCPTS}
    assert all(r.startswith("saraban+r.") for r in reply_to.values()) and len(set(reply_to.values())) == 3
    reply = letter_mail(None, subject="ตอบรับหนังสือ ที่ ศธ 04183/ว1 — ลงรับเลขที่ 55/2569",
                        sender=RCPTS[0], body="ได้รับแล้ว\n", to=reply_to[RCPTS[0]])
    got = await _inbound(store, reply, RCPTS[0], [reply_to[RCPTS[0]]])
    assert got.state == "not_letter"
    n = Notifier(kind=NotifierKind.ACCEPT, letter_id="ศธ 04183/ว1", correspondence_date=dt.date(2026, 11, 22),
                 subject="แจ้งเวียน", accept_id="77/2569", accept_date=dt.date(2026, 11, 23))
    notif = letter_mail(None, subject="AcceptLetterNotifier", sender=RCPTS[1], body="xml\n",
                        attachments=[("AcceptLetterNotifier.xml", "application/xml", build_notifier(n))])
    await _inbound(store, notif, RCPTS[1], [reply_to[RCPTS[1]]])
    stranger = letter_mail(None, subject="Re: ที่ ศธ 04183/ว1 ลงรับเลขที่ 9", sender="x@evil.example",
                           body="x\n")
    await _inbound(store, stranger, "x@evil.example", ["saraban@agency.test"])
    rec = await _recipients(store)
    assert (rec[RCPTS[0]].state, rec[RCPTS[0]].ack_number, rec[RCPTS[0]].ack_source) == \
        ("acknowledged", "55/2569", "reply")
    assert (rec[RCPTS[1]].state, rec[RCPTS[1]].ack_number, rec[RCPTS[1]].ack_date) == \
        ("acknowledged", "77/2569", dt.date(2026, 11, 23))
    assert rec[RCPTS[2]].state == "sent"  # a stranger quoting the number acknowledges nothing
    async with store.sessions() as s:
        action = (await s.execute(select(RegisterEntry.action))).scalar_one()
    assert action == "ส่งทางไปรษณีย์อิเล็กทรอนิกส์ 3 หน่วยงาน: ลงรับแล้ว 2, ส่งแล้ว 1"


async def test_a_blank_number_is_written_onto_page_1_when_configured(tmp_path: Path, db_url: str,
                                                                    sink: SmtpSink, clock: FakeClock) -> None:
    from tests.pdfgen.poppler import pdftotext

    settings = _settings(tmp_path, db_url, sink, outbound={
        "stamp_number": True, "number_position": [150.0, 200.0], "allow_unlisted_recipients": True})
    async with opened_store(settings, upgrade=True, clock=clock) as store:
        out = Outbound.build(store, template_env())
        _, state = await _submit(out, "[เวียน] แจ้งเวียน", to=["a@x.go.th"], tmp=tmp_path)
        assert state == "queued"
        await _deliver(store, out)
        (mail,) = sink.to("a@x.go.th")
        pdf = next(p for p in _parse(mail).iter_attachments() if p.get_filename().endswith("W1.pdf"))
        data = pdf.get_content()
        assert data.startswith(BLANK_NUMBER_PDF)  # an incremental update over the clerk's file
        text = pdftotext(data)
        assert "ว๑" in text and "ว๑" not in pdftotext(BLANK_NUMBER_PDF)
        # a letter that prints its number is not stamped again
        printed = letter_pdf(lines=("ที่ ศธ 04183/ว2", "สำนักงานทดสอบ", "วันที่ 2 ธันวาคม 2569", "เรื่อง ข"))
        await _submit(out, "[เวียน] แจ้งเวียนสอง", files=[printed], to=["a@x.go.th"], tmp=tmp_path)
        await _deliver(store, out)
        second = next(p for p in _parse(sink.to("a@x.go.th")[1]).iter_attachments()
                      if p.get_filename().endswith("W2.pdf"))
        assert second.get_content() == printed


async def test_the_same_bytes_on_every_attempt(parts, tmp_path: Path) -> None:
    store, out, sink, clock = parts
    sink.script[RCPTS[0]] = ["451 busy"]
    await _submit(out, "[เวียน] แจ้งเวียน", tmp=tmp_path)
    async with store.sessions() as s:
        item = (await s.execute(select(OutboxItem).where(OutboxItem.recipient == RCPTS[0]))).scalar_one()
    first = await out.compose_for(item.recipe)
    out.mails.cache.clear()
    assert await out.compose_for(item.recipe) == first
    await _deliver(store, out)
    clock.advance(minutes=5)
    await _deliver(store, out)
    (delivered,) = sink.to(RCPTS[0])
    assert delivered.replace(b"\r\n", b"\n") == first.replace(b"\r\n", b"\n")


async def test_through_a_relay_that_wants_starttls_and_a_login(tmp_path: Path, db_url: str, tls_pki: TestPKI,
                                                              clock: FakeClock, monkeypatch) -> None:
    from gateway.intake.submission import start_submission

    got: list[tuple[str, list[str], str]] = []

    async def relay_submit(raw: bytes, frm: str, rcpts: list[str], user: str) -> int:
        got.append((frm, rcpts, user))
        return len(got)

    relay_cfg = make_settings(tmp_path / "relay", submission={
        "port": 0, "cert_file": str(tls_pki.cert_file), "key_file": str(tls_pki.key_file),
        "users": [{"name": "gateway", "password_hash": hash_password("relay secret")}]})
    relay_store = await open_store(relay_cfg, upgrade=True, clock=clock)  # its failed logins
    relay = await start_submission(relay_cfg, relay_submit, clock=clock, store=relay_store)
    port = relay.sockets[0].getsockname()[1]
    try:
        monkeypatch.setenv("TEST_RELAY_PASSWORD", "wrong")
        settings = make_settings(tmp_path, db_url, outbound={"allow_unlisted_recipients": True}, relay={
            "mode": "smtp", "host": "127.0.0.1", "port": port, "starttls": True, "username": "gateway",
            "password_env": "TEST_RELAY_PASSWORD", "ca_file": str(tls_pki.ca_file), "timeout_seconds": 10})
        async with opened_store(settings, upgrade=True, clock=clock) as store:
            out = Outbound.build(store, template_env())
            _, state = await _submit(out, "ขอส่งรายงาน", to=["a@x.go.th"], tmp=tmp_path)
            assert state == "queued"
            await _deliver(store, out)
            assert got == []
            async with store.sessions() as s:
                item = (await s.execute(select(OutboxItem).where(OutboxItem.kind == "letter"))).scalar_one()
            assert item.status == "pending" and "login" in item.last_error  # kept, retried later
            monkeypatch.setenv("TEST_RELAY_PASSWORD", "relay secret")
            clock.advance(minutes=5)
            await _deliver(store, out)
            assert [(rc, user) for _, rc, user in got if rc == ["a@x.go.th"]] == [(["a@x.go.th"], "gateway")]
            assert verp_token(next(f for f, rc, _ in got if rc == ["a@x.go.th"])) is not None
    finally:
        relay.close()
        await relay.wait_closed()
        await relay_store.close()


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff" * 5000,
        b"Subject: =?utf-8?b?invalid base64?=\r\n\r\nno from, no attachment\r\n",
        b"From: saraban@agency.test\r\nSubject: x\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n"
        b"Content-Type: application/pdf; name=\"../../etc/passwd.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"!!!not base64!!!\r\n--b--\r\n",
    ],
    ids=["empty", "binary", "no-from", "bad-pdf-part"],
)
async def test_hostile_submissions_end_refused_with_their_bytes_kept(parts, raw: bytes) -> None:
    store, out, sink, _ = parts
    letter_id = await out.accept(raw, USER, RCPTS, USER)
    assert await out.process(letter_id) == "refused"
    await _deliver(store, out)
    assert [rc for _, rc, _ in sink.messages] == [[USER]]  # the clerk is told why; nothing else leaves
    async with store.sessions() as s:
        letter = await s.get(Letter, letter_id)
        assert letter is not None and letter.review_reason
        raw_row = await s.get(RawMessage, letter.raw_message_id)
        assert raw_row is not None and store.blobs.get(raw_row.sha256) == raw
        assert (await s.execute(select(func.count()).select_from(RegisterEntry))).scalar_one() == 0


class _SlowAnswer(SmtpSink):
    """A relay that takes the mail but answers the end of DATA too late."""

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.messages.append((envelope.mail_from or "", list(envelope.rcpt_tos),
                              bytes(envelope.original_content or b"")))
        await asyncio.sleep(1.2)
        return "250 2.0.0 OK"


@pytest.mark.parametrize("mode", ["ask", "resend"])
async def test_no_answer_after_the_end_of_data(tmp_path: Path, db_url: str, clock: FakeClock, mode: str) -> None:
    """ask: never sent again, the clerk told once, with the commands. resend: sent again with the
    same Message-ID, at most RESEND_LIMIT times (a relay that always answers late), then ask."""
    sink = _SlowAnswer()
    loop = asyncio.get_running_loop()
    from aiosmtpd.smtp import SMTP as Server

    from gateway.store.outbox import RESEND_LIMIT

    sink.server = await loop.create_server(lambda: Server(sink, hostname="slow"), "127.0.0.1", 0)
    try:
        settings = _settings(tmp_path, db_url, sink, relay={
            "mode": "smtp", "host": "127.0.0.1", "port": sink.port, "starttls": False, "timeout_seconds": 0.5},
            outbox={"uncertain": mode})
        async with opened_store(settings, upgrade=True, clock=clock) as store:
            await _directory(store)
            out = Outbound.build(store, template_env())
            _, state = await _submit(out, "ขอส่งรายงาน", to=[RCPTS[0]], tmp=tmp_path)
            assert state == "queued"
            await _deliver(store, out)
            for _ in range(RESEND_LIMIT + 2):
                clock.advance(hours=1)
                await _deliver(store, out)
            copies = sink.to(RCPTS[0])
            assert len(copies) == (1 if mode == "ask" else 1 + RESEND_LIMIT)
            assert len({_parse(m)["Message-ID"] for m in copies}) == 1  # every copy the same mail
            async with store.sessions() as s:
                item = (await s.execute(select(OutboxItem).where(OutboxItem.kind == "letter"))).scalar_one()
                rec = (await s.execute(select(LetterRecipient))).scalar_one()
                told = (await s.execute(select(OutboxItem).where(
                    OutboxItem.kind.in_(("delivery-failed", "delivery-uncertain"))))).scalars().all()
            assert item.status == "uncertain" and "ไม่แน่ชัด" in item.last_error
            assert rec.state == "failed"
            assert [t.kind for t in told] == ["delivery-uncertain"]  # once, for the letter
            asks = [_parse(m) for m in sink.to(USER) if str(_parse(m)["Subject"]).startswith("ไม่แน่ชัดว่าส่งถึง")]
            assert len({m["Message-ID"] for m in asks}) == 1  # (this relay answers it late too)
            text = asks[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
            assert RCPTS[0] in text and f"outbox retry --letter {item.letter_id}" in text
            # the clerk asked the recipient: it did arrive (`outbox delivered --letter N`)
            import argparse

            from gateway.cli.outbox import outbox_cmd

            args = argparse.Namespace(outbox_command="delivered", ids=[], letter=item.letter_id)
            assert await outbox_cmd(args, settings) == 0
            async with store.sessions() as s:
                item = (await s.execute(select(OutboxItem).where(OutboxItem.kind == "letter"))).scalar_one()
                rec = (await s.execute(select(LetterRecipient))).scalar_one()
            assert item.status == "sent" and rec.state == "sent"
            await _deliver(store, out)
            assert len(sink.to(RCPTS[0])) == len(copies)  # and it is not sent again
    finally:
        await sink.stop()
