"""What comes back to the central mailbox (real Dovecot) for letters we sent.

The confirmation is filed in ส่งแล้ว; a recipient's reply quoting our number acknowledges it;
a bounce to the VERP return path marks that recipient failed; none of them is registered as
an incoming letter.
"""

from __future__ import annotations

import email
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gateway.app import make_transport, opened_store
from gateway.core.compose import template_env
from gateway.outbound.flow import Outbound, submission_message
from gateway.outbound.sender import SenderLease, send_due
from gateway.service import ingest_once
from gateway.store.tables import LetterRecipient, RegisterEntry
from tests.conftest import central_mailbox_settings
from tests.corpus.mail import letter_mail, letter_pdf

pytestmark = pytest.mark.integration

RCPTS = ["saraban@one.go.th", "saraban@two.go.th"]


def _strip_envelope(eml: bytes) -> bytes:
    """FolderTransport's .eml starts with X-Envelope-From/To lines; a relay would not add them."""
    lines = eml.split(b"\r\n")
    while lines and lines[0].startswith(b"X-Envelope-"):
        lines.pop(0)
    return b"\r\n".join(lines)


async def test_sent_copy_replies_and_bounces_come_back_to_their_places(tmp_path: Path, dovecot,
                                                                      monkeypatch) -> None:
    user, password = dovecot.new_user("sarabanout")
    monkeypatch.setenv("SARABAN_TEST_IMAP_PASSWORD", password)
    settings = central_mailbox_settings(
        tmp_path, dovecot, user, poll_seconds=2,
        outbound={"allow_unlisted_recipients": True},
    )
    async with opened_store(settings, upgrade=True) as store:
        out = Outbound.build(store, template_env())
        pdf = tmp_path / "letter.pdf"
        pdf.write_bytes(letter_pdf(lines=("ที่ ศธ 04183/", "สำนักงานทดสอบ", "วันที่ 2 ธันวาคม 2569",
                                          "เรื่อง ขอเชิญประชุม")))
        raw = submission_message(pdfs=[pdf], to=RCPTS, subject="ขอเชิญประชุม", sender=user,
                                 now=store.clock())
        letter_id = await out.accept(raw, user, RCPTS, user, channel="cli")
        assert await out.process(letter_id) == "queued"
        lease = SenderLease(store)
        assert await lease.take()
        while await send_due(store, make_transport(settings), composer=out.compose_for):
            pass
        await lease.drop()
        outbox = sorted(settings.outbox_path.glob("*.eml"))
        confirm = next(p for p in outbox if p.name.endswith("-sent-confirm.eml"))
        to_two = next(p for p in outbox if b"X-Envelope-To: <saraban@two.go.th>" in p.read_bytes())
        verp = to_two.read_bytes().split(b"\r\n", 1)[0].decode().split("<")[1].rstrip(">")
        assert verp.startswith(user.split("@")[0] + "+b.")

        # what the relay and the agencies send back, delivered into the central mailbox
        dovecot.deliver(user, _strip_envelope(confirm.read_bytes()))
        # the agency answers to the Reply-To of the mail it got: its own token (issue #18)
        to_one = next(p for p in outbox if b"X-Envelope-To: <saraban@one.go.th>" in p.read_bytes())
        reply_to = email.message_from_bytes(_strip_envelope(to_one.read_bytes()))["Reply-To"]
        assert reply_to.startswith(user.split("@")[0] + "+r.")
        dovecot.deliver(user, letter_mail(None, subject="ตอบรับ: ที่ ศธ 04183/1 ลงรับเลขที่ 88/2569",
                                          sender=RCPTS[0], to=reply_to, body="ได้รับแล้ว ขอบคุณครับ\n"))
        dovecot.deliver(user, (
            f"From: MAILER-DAEMON@two.go.th\r\nTo: {verp}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
            "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
            "--b\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n"
            "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.two.go.th\r\n\r\n"
            "Final-Recipient: rfc822; saraban@two.go.th\r\nAction: failed\r\nStatus: 5.1.1\r\n"
            "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n--b--\r\n").encode())
        await ingest_once(settings, store=store)

        assert dovecot.message_count(user, "INBOX") == 0
        assert "ส่งแล้ว" in dovecot.list_mailboxes(user)
        sent = dovecot.doveadm("fetch", "-u", user, "hdr", "mailbox", "ส่งแล้ว").stdout
        assert "X-Saraban-Sent:" in sent and dovecot.message_count(user, "ส่งแล้ว") == 1
        assert dovecot.message_count(user, "อื่น ๆ") == 2  # the reply and the bounce, set aside
        async with store.sessions() as s:
            rec = {r.address: r for r in (await s.execute(select(LetterRecipient))).scalars()}
            received = (await s.execute(select(func.count()).select_from(RegisterEntry)
                                        .where(RegisterEntry.book_id == 1))).scalar_one()
        assert (rec[RCPTS[0]].state, rec[RCPTS[0]].ack_number) == ("acknowledged", "88/2569")
        assert rec[RCPTS[1]].state == "failed" and "5.1.1" in rec[RCPTS[1]].error
        assert received == 0
