"""The central mailbox on servers laid out unlike our Dovecot's defaults (#23: any provider).

- **Courier IMAP / Cyrus** (and Dovecot set up to stand in for them): the personal namespace
  is "INBOX." with "." between levels; a folder outside it cannot be made ("ลงรับแล้ว" must be
  "INBOX.ลงรับแล้ว"), and the mail client's Sent folder is "INBOX.Sent".
- **Exchange / Microsoft 365**: the client's Sent folder is "Sent Items", marked \\Sent
  (RFC 6154 SPECIAL-USE); Gmail's is "[Gmail]/Sent Mail".

The gateway's folders are named in config.toml as plain names; on such a server they live
under its personal namespace (NAMESPACE, RFC 2342), and [intake.folders] sent = "Sent" means
the folder the server marks \\Sent when none is called Sent. Real Dovecot, each layout its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from gateway.app import opened_store
from gateway.cli.check import run_checks
from gateway.service import ingest_once
from gateway.store.tables import Letter
from tests.conftest import TickingClock, add_to_directory, central_mailbox_settings
from tests.corpus.mail import letter_mail, letter_pdf
from tests.integration.test_corrections_imap import _save, _scanned
from tests.servers.dovecot import DovecotServer
from tests.servers.tls import TestPKI

pytestmark = pytest.mark.integration

LAYOUTS = {
    "courier": {"prefix": "INBOX.", "separator": ".", "sent_folder": "Sent"},
    "exchange": {"sent_folder": "Sent Items"},
}


@pytest.fixture(scope="module", params=sorted(LAYOUTS))
def server(request: pytest.FixtureRequest, tls_pki: TestPKI) -> Iterator[tuple[str, DovecotServer]]:
    with DovecotServer({}, pki=tls_pki, **LAYOUTS[request.param]) as dc:  # type: ignore[arg-type]
        yield request.param, dc


def _full(dc: DovecotServer, name: str) -> str:
    """A folder's name as doveadm (and the clerk's client) sees it on this server."""
    return name if name == "INBOX" else dc.prefix + name.replace("/", dc.separator or "/")


async def test_letters_are_taken_in_and_filed_in_the_servers_own_namespace(server, tmp_path: Path,
                                                                          monkeypatch) -> None:
    layout, dc = server
    user, password = dc.new_user("central")
    monkeypatch.setenv("SARABAN_TEST_IMAP_PASSWORD", password)
    settings = central_mailbox_settings(tmp_path, dc, user)
    dc.deliver(user, letter_mail(letter_pdf()))
    dc.deliver(user, letter_mail(None, subject="สอบถามเรื่องการประชุม"))
    async with opened_store(settings, upgrade=True, clock=TickingClock()) as store:
        await add_to_directory(store, "saraban@obec.go.th")
        summary = await ingest_once(settings, store=store)
        assert summary["registered"] == 1 and summary["review"] == 1
        assert dc.message_count(user, "INBOX") == 0
        assert dc.message_count(user, _full(dc, "ลงรับแล้ว")) == 2  # the original and its copy
        assert dc.message_count(user, _full(dc, "รอตรวจสอบ")) == 2
        again = await ingest_once(settings, store=store)
        assert again.get("registered", 0) == 0


async def test_a_clerks_reply_in_the_servers_sent_folder_is_obeyed(server, tmp_path: Path,
                                                                   monkeypatch) -> None:
    """[intake.folders] sent = "Sent": "INBOX.Sent" on Courier's layout, the \\Sent-marked
    "Sent Items" on Exchange's. A reply the clerk sent from there registers the letter."""
    layout, dc = server
    user, password = dc.new_user("clerk")
    monkeypatch.setenv("SARABAN_TEST_IMAP_PASSWORD", password)
    settings = central_mailbox_settings(tmp_path, dc, user)
    sent = _full(dc, dc.sent_folder)
    dc.create_mailbox(user, sent)  # the client made it long ago: seen from the first round
    dc.deliver(user, _scanned("ส่งหนังสือ"))
    async with opened_store(settings, upgrade=True, clock=TickingClock()) as store:
        await ingest_once(settings, store=store)
        assert dc.doveadm("search", "-u", user, "mailbox", _full(dc, "รอตรวจสอบ"), "header",
                          "X-Saraban-Letter", "R1.").stdout.strip()  # its review copy is there
        _save(dc, user, sent, _reply_to_review(1, user, "ที่: กค 0305/ว 88\nลงวันที่: 3 ธ.ค. 2569\n"
                                                       "จาก: กรมบัญชีกลาง\nเรื่อง: ขอเชิญประชุม\nลงรับ"))
        await ingest_once(settings, store=store)
        async with store.sessions() as s:
            letter = await s.get(Letter, 1)
        assert letter is not None and letter.state == "registered", (layout, letter and letter.state)
        assert (letter.letter_no, letter.subject) == ("กค 0305/ว 88", "ขอเชิญประชุม")


def _reply_to_review(letter_id: int, clerk: str, body: str) -> bytes:
    m = EmailMessage()
    m["From"], m["To"] = clerk, clerk
    m["Subject"] = f"Re: [ตรวจ L{letter_id}] รอตรวจสอบ: ส่งหนังสือ"
    m["Message-ID"] = f"<reply-{letter_id}@client.test>"
    m.set_content(body)
    return m.as_bytes(policy=policy.SMTP)


async def test_check_says_where_the_folders_go_and_which_is_sent(server, tmp_path: Path, monkeypatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    layout, dc = server
    user, password = dc.new_user("check")
    monkeypatch.setenv("SARABAN_TEST_IMAP_PASSWORD", password)
    settings = central_mailbox_settings(tmp_path, dc, user)
    await run_checks(settings)
    line = next(x for x in capsys.readouterr().out.splitlines() if "folders central" in x)
    assert line.startswith("✗") and "ไม่พบโฟลเดอร์จดหมายที่ส่ง \"Sent\"" in line  # none made yet
    dc.create_mailbox(user, _full(dc, dc.sent_folder))
    await run_checks(settings)
    line = next(x for x in capsys.readouterr().out.splitlines() if "folders central" in x)
    assert line.startswith("✓") and f"อ่านจาก \"{_full(dc, dc.sent_folder)}\"" in line
    assert ("อยู่ใต้ INBOX." in line) == (layout == "courier")
    assert ("ที่เซิร์ฟเวอร์ระบุว่าเป็น Sent" in line) == (layout == "exchange")
