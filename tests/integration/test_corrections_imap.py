"""Every mistake fixed from the mail client (#21), on a real Dovecot: the review copy beside a
letter set aside (reasons, fields, commands; a secret letter's reference only), and the clerk's
replies from the mailbox's Sent folder — ลงรับ with the fields given, a malformed date answered
with its line, แก้ไข on a `[รับ …]` copy, คืน with the reason in the sender's notice — while a
reply from anyone else is never obeyed.
"""

from __future__ import annotations

import datetime as dt
import email
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from gateway.app import opened_store
from gateway.service import ingest_once
from gateway.store.tables import Amendment, ImapMessage, Letter, RegisterEntry
from tests.conftest import TickingClock, add_to_directory, central_mailbox_settings
from tests.corpus.mail import letter_mail, letter_pdf
from tests.pdfgen.scans import scan_pdf

pytestmark = pytest.mark.integration

SENDER = "saraban@obec.go.th"
REVIEW, REGISTERED, SENT = "รอตรวจสอบ", "ลงรับแล้ว", "Sent"


@pytest.fixture
def site(tmp_path: Path, dovecot, monkeypatch: pytest.MonkeyPatch):
    user, password = dovecot.new_user("fixes")
    monkeypatch.setenv("SARABAN_TEST_IMAP_PASSWORD", password)
    dovecot.create_mailbox(user, SENT)  # seen from the first round: later replies there are obeyed
    return central_mailbox_settings(tmp_path, dovecot, user), user


def _scanned(subject: str = "ส่งหนังสือ") -> bytes:
    """A scanned letter with no readable text: a blank page as an image."""
    return letter_mail(scan_pdf(letter_pdf(lines=(" ",)), dpi=100), subject=subject,
                       filename="scan0001.pdf")


def _messages(dovecot, user: str, folder: str) -> list[EmailMessage]:  # type: ignore[no-untyped-def]
    uids = dovecot.doveadm("fetch", "-u", user, "uid", "mailbox", folder).stdout.split()
    out = []
    for uid in (u for u in uids if u.isdigit()):
        text = dovecot.doveadm("fetch", "-u", user, "text", "mailbox", folder, "uid", uid).stdout
        out.append(email.message_from_string(text.split("text:", 1)[1].lstrip("\n"), policy=policy.default))
    return out


def _review_copy(dovecot, user: str, letter_id: int) -> EmailMessage:
    (copy,) = [m for m in _messages(dovecot, user, REVIEW) if m["X-Saraban-Letter"] == f"R{letter_id}."]
    return copy


def _text(m: EmailMessage) -> str:
    return m.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def _reply(to: EmailMessage, frm: str, body: str, *, quote: bool = True) -> bytes:
    m = EmailMessage()
    m["From"] = frm
    m["To"] = str(to["From"])
    m["Subject"] = "Re: " + str(to["Subject"])
    m["Message-ID"] = f"<reply-{abs(hash(body))}@client.test>"
    m["In-Reply-To"] = str(to["Message-ID"])
    quoted = "".join(f"> {x}\n" for x in _text(to).splitlines()) if quote else ""
    m.set_content(body + "\n\nOn Thu, 3 Dec 2026 at 10:00, สารบรรณ wrote:\n" + quoted)
    return m.as_bytes(policy=policy.SMTP)


def _outbox(settings, kind: str) -> list[EmailMessage]:  # type: ignore[no-untyped-def]
    out = []
    for p in sorted(settings.outbox_path.glob(f"*-{kind}.eml")):
        raw = p.read_bytes()
        while raw.startswith(b"X-Envelope-"):
            raw = raw.split(b"\r\n", 1)[1]
        out.append(email.message_from_bytes(raw, policy=policy.default))
    return out


async def _letter(store, letter_id: int) -> Letter:  # type: ignore[no-untyped-def]
    async with store.sessions() as s:
        got = await s.get(Letter, letter_id)
    assert got is not None
    return got


async def _entries(store, letter_id: int) -> list[RegisterEntry]:  # type: ignore[no-untyped-def]
    async with store.sessions() as s:
        return list((await s.execute(select(RegisterEntry).where(
            RegisterEntry.letter_id == letter_id))).scalars())


async def test_scanned_letter_review_copy_and_a_reply_that_registers_it(site, dovecot) -> None:
    settings, user = site
    dovecot.deliver(user, _scanned())
    async with opened_store(settings, upgrade=True, clock=TickingClock()) as store:
        await ingest_once(settings, store=store)
        assert dovecot.message_count(user, REVIEW) == 2  # the original and its review copy
        copy = _review_copy(dovecot, user, 1)
        text = _text(copy)
        assert str(copy["Subject"]).startswith("[ตรวจ L1]")
        assert "อ่านเลขที่หนังสือไม่ได้" in text and "อ่านวันที่ของหนังสือไม่ได้" in text  # the reasons
        assert "ข้อมูลที่ยังขาด" in text and "«ลงรับ»" in text and "«คืน <เหตุผล>»" in text
        (original,) = [p for p in copy.iter_attachments() if p.get_content_type() == "message/rfc822"]
        inner = original.get_content()
        assert [a.get_filename() for a in inner.iter_attachments()] == ["scan0001.pdf"]
        await ingest_once(settings, store=store)  # filed once
        assert dovecot.message_count(user, REVIEW) == 2
        # a crash after the APPEND, before its placement was recorded: found, not filed again
        await _forget_review_placement(store, 1)
        await ingest_once(settings, store=store)
        assert dovecot.message_count(user, REVIEW) == 2
        # a crash after the intent, before the APPEND: filed by the next round
        dovecot.expunge(user, REVIEW, "header X-Saraban-Letter R1.")
        await _forget_review_placement(store, 1)
        await ingest_once(settings, store=store)
        assert dovecot.message_count(user, REVIEW) == 2
        copy = _review_copy(dovecot, user, 1)

        # the clerk answers from the mail client: the reply lands in Sent (and in INBOX too)
        reply = _reply(copy, user, "ที่: กค 0305/ว 88\nลงวันที่: ๓ ธ.ค. ๒๕๖๙\nจาก: กรมบัญชีกลาง\n"
                                   "เรื่อง: ขอเชิญประชุมชี้แจงระเบียบ\nลงรับ")
        _save(dovecot, user, SENT, reply)
        dovecot.deliver(user, reply)
        await ingest_once(settings, store=store)
        letter = await _letter(store, 1)
        assert letter.state == "registered"
        (entry,) = await _entries(store, 1)
        assert (entry.number, entry.letter_no, entry.letter_date, entry.sender, entry.subject) == (
            1, "กค 0305/ว 88", dt.date(2026, 12, 3), "กรมบัญชีกลาง", "ขอเชิญประชุมชี้แจงระเบียบ")
        (answer,) = _outbox(settings, "correction-result")
        assert str(answer["Subject"]).startswith("ทำแล้ว") and "1/2569" in str(answer["Subject"])
        assert "• ที่ — กค 0305/ว 88" in _text(answer)
        # the original, its findable copy and the review copy now in ลงรับแล้ว: nothing waits
        subjects = [str(m["Subject"]) for m in _messages(dovecot, user, REGISTERED)]
        assert "[รับ 1/2569] ขอเชิญประชุมชี้แจงระเบียบ" in subjects and len(subjects) == 3
        assert dovecot.message_count(user, REVIEW) == 0
        async with store.sessions() as s:  # its INBOX copy proves nothing and asks nothing new
            states = (await s.execute(select(Letter.state).where(Letter.id > 1))).scalars().all()
        assert sorted(states) == ["not_letter", "not_letter"]


async def _forget_review_placement(store, letter_id: int) -> None:  # type: ignore[no-untyped-def]
    async with store.sessions.begin() as s:
        await s.execute(delete(ImapMessage).where(ImapMessage.letter_id == letter_id,
                                                  ImapMessage.kind == "review"))


def _save(dovecot, user: str, folder: str, raw: bytes) -> None:  # type: ignore[no-untyped-def]
    """A message the clerk's client filed in `folder` (IMAP APPEND)."""
    import subprocess

    subprocess.run([dovecot.doveadm_bin, "-c", str(dovecot.conf), "save", "-u", user, "-m", folder],
                   input=raw, check=True, cwd=dovecot.base_dir, capture_output=True, timeout=30)


async def test_malformed_date_is_answered_with_its_line_and_nothing_registered(site, dovecot) -> None:
    settings, user = site
    dovecot.deliver(user, _scanned())
    async with opened_store(settings, upgrade=True, clock=TickingClock()) as store:
        await ingest_once(settings, store=store)
        copy = _review_copy(dovecot, user, 1)
        _save(dovecot, user, SENT, _reply(copy, user, "ที่: กค 0305/ว 88\nลงวันที่: 31 ก.พ. 2569\n"
                                                      "จาก: กรมบัญชีกลาง\nเรื่อง: ขอเชิญ\nลงรับ"))
        await ingest_once(settings, store=store)
        assert (await _letter(store, 1)).state == "review"
        assert await _entries(store, 1) == []
        (answer,) = _outbox(settings, "correction-result")
        body = _text(answer)
        assert str(answer["Subject"]).startswith("ยังไม่ได้ทำ")
        assert "บรรทัดที่อ่านไม่ได้: «ลงวันที่: 31 ก.พ. 2569»" in body and "อ่านลงวันที่ไม่ได้" in body


async def test_a_reply_from_outside_the_clerks_channels_is_not_obeyed(site, dovecot) -> None:
    settings, user = site
    dovecot.deliver(user, _scanned())
    async with opened_store(settings, upgrade=True, clock=TickingClock()) as store:
        await ingest_once(settings, store=store)
        copy = _review_copy(dovecot, user, 1)
        for frm in ("intruder@evil.example", user):  # a stranger; the central address unproved
            dovecot.deliver(user, _reply(copy, frm, "ที่: กค 1/2569\nลงวันที่: 3 ธ.ค. 2569\n"
                                                    f"จาก: {frm}\nเรื่อง: โอนเงิน\nลงรับ"))
        await ingest_once(settings, store=store)
        assert (await _letter(store, 1)).state == "review" and await _entries(store, 1) == []
        assert _outbox(settings, "correction-result") == []
        async with store.sessions() as s:
            kept = (await s.execute(select(Letter.review_reason).where(Letter.id > 1))).scalars().all()
        assert len(kept) == 2 and all("ไม่ได้มาจากช่องทางของเจ้าหน้าที่" in r for r in kept)


async def test_amend_on_a_registered_copy_and_reject_with_a_reason(site, dovecot) -> None:
    settings, user = site
    pdf = letter_pdf(lines=("ที่ ศธ 04010/7", "สำนักงานคณะกรรมการการศึกษาขั้นพื้นฐาน",
                            "วันที่ 20 พฤศจิกายน 2569", "เรื่อง ขอเชิญประชุม", "เรียน ผู้อำนวยการ"))
    dovecot.deliver(user, letter_mail(pdf, filename="2569_OBEC_7.pdf"))
    dovecot.deliver(user, letter_mail(None, subject="สอบถามเรื่องการประชุม"))  # no letter file: review
    async with opened_store(settings, upgrade=True, clock=TickingClock()) as store:
        await add_to_directory(store, SENDER)
        await ingest_once(settings, store=store)
        (found,) = [m for m in _messages(dovecot, user, REGISTERED) if m["X-Saraban-Letter"] == "L1."]
        _save(dovecot, user, SENT, _reply(found, user, "เรื่อง: ขอเชิญประชุมคณะกรรมการ\nแก้ไข พิมพ์ตกหล่น"))
        copy = _review_copy(dovecot, user, 2)
        _save(dovecot, user, SENT, _reply(copy, user, "คืน ไม่ใช่หนังสือราชการ โปรดส่งเป็นไฟล์หนังสือ"))
        await ingest_once(settings, store=store)

        (entry,) = await _entries(store, 1)
        assert entry.subject == "ขอเชิญประชุมคณะกรรมการ" and entry.number == 1
        async with store.sessions() as s:
            (row,) = (await s.execute(select(Amendment))).scalars().all()
        assert (row.field, row.old_value, row.new_value, row.reason) == (
            "subject", "ขอเชิญประชุม", "ขอเชิญประชุมคณะกรรมการ", "พิมพ์ตกหล่น")
        assert (await _letter(store, 2)).state == "rejected"
        assert dovecot.message_count(user, REVIEW) == 0 and dovecot.message_count(user, "ไม่รับ") == 2
        (notice,) = _outbox(settings, "notice")
        assert notice["To"] == SENDER and "ไม่ใช่หนังสือราชการ โปรดส่งเป็นไฟล์หนังสือ" in _text(notice)
        answers = [str(m["Subject"]) for m in _outbox(settings, "correction-result")]
        assert sorted(a.split(":")[0] for a in answers) == ["ทำแล้ว", "ทำแล้ว"]

        # ยกเลิก on the same [รับ 1/2569] copy, then ลงรับ: a new number, the old one cancelled
        _save(dovecot, user, SENT, _reply(found, user, "ยกเลิก ลงรับผิดเล่ม"))
        await ingest_once(settings, store=store)
        assert (await _letter(store, 1)).state == "cancelled"
        _save(dovecot, user, SENT, _reply(found, user, "ลงรับ"))
        await ingest_once(settings, store=store)
        assert (await _letter(store, 1)).state == "registered"
        entries = sorted((e.number, e.status, e.subject) for e in await _entries(store, 1))
        assert entries == [(1, "cancelled", "ขอเชิญประชุมคณะกรรมการ"), (2, "registered", "ขอเชิญประชุมคณะกรรมการ")]


async def test_a_secret_letters_review_copy_shows_no_fields(site, dovecot) -> None:
    settings, user = site
    subject = "แต่งตั้งคณะกรรมการสอบสวนวินัย"
    pdf = letter_pdf(lines=("ลับ", "ที่ ศธ 04010/9", "สำนักงานคณะกรรมการการศึกษาขั้นพื้นฐาน",
                            "วันที่ 20 พฤศจิกายน 2569", f"เรื่อง {subject}", "เรียน ผู้อำนวยการ"))
    dovecot.deliver(user, letter_mail(pdf, subject=subject, filename="2569_OBEC_9.pdf"))
    async with opened_store(settings, upgrade=True, clock=TickingClock()) as store:
        await ingest_once(settings, store=store)
        folder = "รอตรวจสอบ (ลับ)"
        assert dovecot.message_count(user, folder) == 2
        (copy,) = [m for m in _messages(dovecot, user, folder) if m["X-Saraban-Letter"] == "R1."]
        text = _text(copy)
        assert "[ตรวจ L1]" in str(copy["Subject"]) and "ลับ" in text
        for word in (subject, "04010/9", "สำนักงานคณะกรรมการ", "ผู้อำนวยการ"):
            assert word not in text and word not in str(copy["Subject"])
        assert list(copy.iter_attachments()) == []


async def test_a_scan_read_by_ocr_is_confirmed_by_one_move(site, dovecot) -> None:
    """#20: what OCR read of a scan pre-fills the review copy, each field marked as read from
    the scan; the clerk who checks it against the attached original confirms it by moving the
    review copy into ลงรับแล้ว, and the register holds exactly what the copy showed."""
    from tests.pdfgen.scans import CORPUS, corpus_letters

    truth = next(x for x in corpus_letters() if x["file"] == "libreoffice/libreoffice-02.pdf")
    settings, user = site
    dovecot.deliver(user, letter_mail(scan_pdf(CORPUS / str(truth["file"]), dpi=200),
                                      subject="ส่งหนังสือ", filename="scan0001.pdf"))
    async with opened_store(settings, upgrade=True, clock=TickingClock()) as store:
        await ingest_once(settings, store=store)
        letter = await _letter(store, 1)
        assert letter.state == "review"
        assert (letter.field_sources or {}).get("letter_no") == "ocr"
        text = _text(_review_copy(dovecot, user, 1))
        assert "ภาพสแกน (OCR)" in text and "อ่านจากภาพสแกน (OCR)" in text, text
        assert str(truth["letter_no"]) in text and letter.subject and letter.subject in text
        shown = (letter.letter_no, letter.letter_date, letter.sender, letter.subject)
        dovecot.doveadm("move", "-u", user, REGISTERED, "mailbox", REVIEW,
                        "header", "X-Saraban-Letter", "R1.")
        await ingest_once(settings, store=store)
        assert (await _letter(store, 1)).state == "registered"
        (entry,) = await _entries(store, 1)
        assert (entry.letter_no, entry.letter_date, entry.sender, entry.subject) == shown
        assert entry.letter_no == truth["letter_no"]


THUNDERBIRD = Path(__file__).resolve().parents[1] / "data" / "eml" / "thunderbird"


async def test_a_reply_thunderbird_sent_registers_with_its_cut_lines_whole(site, dovecot) -> None:
    """Thunderbird's own reply to this review copy (scripts/make-thunderbird, answered below the
    quote): its จาก and เรื่อง lines went out cut by format=flowed, and are registered whole."""
    settings, user = site
    dovecot.deliver(user, _scanned("ส่งหนังสือขอความร่วมมือ"))
    async with opened_store(settings, upgrade=True, clock=TickingClock()) as store:
        await ingest_once(settings, store=store)
        assert str(_review_copy(dovecot, user, 1)["Subject"]).startswith("[ตรวจ L1]")
        _save(dovecot, user, SENT, (THUNDERBIRD / "reply-below-html.eml").read_bytes())
        await ingest_once(settings, store=store)
        assert (await _letter(store, 1)).state == "registered"
        (entry,) = await _entries(store, 1)
        assert (entry.letter_no, entry.letter_date, entry.sender, entry.subject) == (
            "ศธ 04010/ว 2345", dt.date(2026, 12, 3),
            "สำนักงานเขตพื้นที่การศึกษาประถมศึกษาขอนแก่น เขต 1 สำนักงานคณะกรรมการการศึกษาขั้นพื้นฐาน",
            "ขอเชิญประชุมคณะกรรมการ การจัดทำแผนพัฒนาการศึกษาขั้นพื้นฐาน ระยะ 5 ปี (พ.ศ. 2570 - 2574) "
            "ของสำนักงานเขตพื้นที่การศึกษาประถมศึกษา")
        (answer,) = _outbox(settings, "correction-result")
        assert str(answer["Subject"]).startswith("ทำแล้ว")


async def test_a_reply_claws_mail_wrapped_registers_with_its_lines_whole(site, dovecot) -> None:
    """Claws Mail's own reply (scripts/make-claws): hard-wrapped at 72, no format=flowed."""
    settings, user = site
    dovecot.deliver(user, _scanned("ส่งหนังสือขอความร่วมมือ"))
    async with opened_store(settings, upgrade=True, clock=TickingClock()) as store:
        await ingest_once(settings, store=store)
        claws = Path(__file__).resolve().parents[1] / "data" / "eml" / "claws" / "reply-typed.eml"
        _save(dovecot, user, SENT, claws.read_bytes())
        await ingest_once(settings, store=store)
        (entry,) = await _entries(store, 1)
        assert (entry.sender, entry.subject) == (
            "สำนักงานเขตพื้นที่การศึกษาประถมศึกษาขอนแก่น เขต 1 สำนักงานคณะกรรมการการศึกษาขั้นพื้นฐาน",
            "ขอเชิญประชุมคณะกรรมการ การจัดทำแผนพัฒนาการศึกษาขั้นพื้นฐาน ระยะ 5 ปี (พ.ศ. 2570 - 2574) "
            "ของสำนักงานเขตพื้นที่การศึกษาประถมศึกษา")
