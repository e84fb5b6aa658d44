"""Reports by mail (#22) on a real Dovecot: a clerk's `[รายงาน] ทะเบียนรับ ธันวาคม 2569` saved in
the mailbox's Sent folder is answered with the register as PDF and XLSX; the same request from
anyone else is kept for the clerk and answered by nobody; a request that cannot be read is
answered with the forms that can."""

from __future__ import annotations

import io
import subprocess
import zipfile
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from sqlalchemy import select

from gateway.app import opened_store
from gateway.service import ingest_once
from gateway.store.tables import Letter, RegisterEntry
from gateway.thai import BANGKOK
from tests.corpus.mail import letter_mail, numbered_letter_pdf
from tests.integration.test_corrections_imap import SENT, _outbox, _save, _text
from tests.integration.test_corrections_imap import site as site  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration



def _request(frm: str, subject: str) -> bytes:
    m = EmailMessage()
    m["From"] = frm
    m["To"] = frm
    m["Subject"] = subject
    m["Message-ID"] = make_msgid(domain="client.test")
    m.set_content("ขอรายงานครับ")
    return bytes(m)


def _pdf_text(data: bytes) -> str:
    done = subprocess.run(["pdftotext", "-layout", "-", "-"], input=data, capture_output=True,
                          timeout=60, check=True)
    return done.stdout.decode("utf-8")


async def test_a_clerks_request_is_answered_with_the_register(site, dovecot) -> None:  # noqa: F811
    settings, user = site
    dovecot.deliver(user, letter_mail(numbered_letter_pdf(1, subject="ขอเชิญประชุมสรุปผลงาน")))
    async with opened_store(settings, upgrade=True) as store:
        await ingest_once(settings, store=store)
        async with store.sessions() as s:
            (entry,) = (await s.execute(select(RegisterEntry))).scalars().all()
        when = entry.registered_at.astimezone(BANGKOK)
        month = ("มกราคม กุมภาพันธ์ มีนาคม เมษายน พฤษภาคม มิถุนายน กรกฎาคม สิงหาคม กันยายน "
                 "ตุลาคม พฤศจิกายน ธันวาคม").split()[when.month - 1]
        asked = _request(user, f"[รายงาน] ทะเบียนรับ {month} {when.year + 543}")
        _save(dovecot, user, SENT, asked)   # the clerk's client keeps what it sent
        dovecot.deliver(user, asked)        # and the mail reaches the central address too
        stranger = _request("someone@example.net", f"[รายงาน] ทะเบียนรับ {month} {when.year + 543}")
        dovecot.deliver(user, stranger)
        _save(dovecot, user, SENT, _request(user, "[รายงาน] ทะเบียนรับ ธันวา"))  # unreadable
        await ingest_once(settings, store=store)

        answers = _outbox(settings, "report")
        assert len(answers) == 2, [str(a["Subject"]) for a in answers]  # nobody answers the stranger
        done = next(a for a in answers if str(a["Subject"]).startswith("รายงาน "))
        assert str(done["To"]) == user and f"ทะเบียนรับ {month}" in str(done["Subject"])
        files = {p.get_filename(): p.get_content() for p in done.iter_attachments()}
        assert sorted(files) == ["ทะเบียนหนังสือรับ.pdf", "ทะเบียนหนังสือรับ.xlsx"], sorted(files)
        text = _pdf_text(files["ทะเบียนหนังสือรับ.pdf"])
        assert "ขอเชิญประชุมสรุปผลงาน" in text and entry.letter_no in text
        with zipfile.ZipFile(io.BytesIO(files["ทะเบียนหนังสือรับ.xlsx"])) as z:
            cells = "".join(z.read(n).decode("utf-8") for n in z.namelist() if n.startswith("xl/"))
            assert "ขอเชิญประชุมสรุปผลงาน" in cells  # inline strings: the sheet is streamed
        failed = next(a for a in answers if str(a["Subject"]).startswith("ขอรายงานไม่สำเร็จ"))
        body = _text(failed)
        assert "อ่านเดือน" in body and "[รายงาน] ทะเบียนรับ ธันวาคม 2569" in body
        assert not list(failed.iter_attachments())

        async with store.sessions() as s:
            others = (await s.execute(select(Letter.state, Letter.review_reason).where(
                Letter.id != entry.letter_id).order_by(Letter.id))).all()
        # the two requests from Sent answered; the INBOX copy of the clerk's asks nothing new;
        # the stranger's waits for the clerk, unanswered
        assert sorted(state for state, _ in others) == ["not_letter"] * 3 + ["review"], others
        (why,) = [reason for state, reason in others if state == "review"]
        assert "ไม่ได้มาจากช่องทางของเจ้าหน้าที่" in why
