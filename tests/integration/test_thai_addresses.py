"""Mail to an internationalized address (EAI: สารบรรณ@กรมอนามัย.ไทย, the Thai domains THNIC
promotes for government use) leaves as RFC 6531/6532 say, or is refused with a reason.

Before: aiosmtplib wrote MAIL/RCPT in ASCII, so delivering to such an address raised
UnicodeEncodeError out of the relay transport: not the Transient or Permanent outcome the sender
records, so nothing marked the row and it stayed due, caught by the sender loop's guard each
round. The To: header was an encoded word (=?utf-8?b?…?=@=?utf-8?b?…?=, which reaches nobody),
and the outbox folder's X-Envelope-To read ???????@?????????.???.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from gateway.core.compose import Mail, compose, template_env
from gateway.core.parse import parse_message
from gateway.errors import Permanent
from gateway.outbound.sender import FolderTransport, RelayTransport
from gateway.ports import Envelope
from gateway.trust.secret import InstallSecret
from tests.conftest import make_settings
from tests.servers.smtpsink import SmtpSink

pytestmark = pytest.mark.integration

THAI = "สารบรรณ@กรมอนามัย.ไทย"
OURS = "saraban@agency.test"
NOW = dt.datetime(2026, 12, 7, 3, 0, tzinfo=dt.UTC)


def _mail(to: str) -> bytes:
    mail = Mail(template="help", context={"central_address": OURS, "folder": "Sent", "agency": "สำนักงานทดสอบ",
                                          "contact": ""}, from_addr=OURS,
                from_name="สารบรรณกลาง", to=(to,), key=f"help:{to}")
    return compose(template_env(), mail, now=NOW, signer=InstallSecret(b"k" * 32))


def test_a_mail_to_a_thai_address_names_it_in_utf8_headers() -> None:
    raw = _mail(THAI)
    assert f"To: {THAI}\r\n".encode() in raw  # RFC 6532, not an encoded word
    assert parse_message(raw).to_addrs == (THAI,)  # as a receiving gateway (this one) reads it
    assert _mail("saraban@obec.go.th").isascii()  # an ASCII address: 7-bit headers as before


@pytest.fixture
async def relays():  # type: ignore[no-untyped-def]
    modern, old = await SmtpSink.start(), await SmtpSink.start(smtputf8=False)
    yield modern, old
    await modern.stop()
    await old.stop()


def _relay(tmp_path: Path, sink: SmtpSink) -> RelayTransport:
    settings = make_settings(tmp_path, relay={"mode": "smtp", "host": "127.0.0.1", "port": sink.port,
                                              "starttls": False, "timeout_seconds": 5})
    return RelayTransport(settings.relay)


async def test_a_relay_with_smtputf8_carries_mail_to_a_thai_address(tmp_path: Path, relays) -> None:
    modern, _ = relays
    raw = _mail(THAI)
    await _relay(tmp_path, modern).deliver(Envelope(OURS, THAI, 1, "ack"), raw)
    assert modern.messages == [(OURS, [THAI], raw)]


async def test_a_relay_without_smtputf8_refuses_it_for_good_with_a_reason(tmp_path: Path, relays) -> None:
    _, old = relays
    with pytest.raises(Permanent) as refused:
        await _relay(tmp_path, old).deliver(Envelope(OURS, THAI, 1, "ack"), _mail(THAI))
    assert "SMTPUTF8" in str(refused.value) and "ภาษาไทย" in str(refused.value)
    assert old.messages == []
    # an ASCII address through the same relay goes as before
    await _relay(tmp_path, old).deliver(Envelope(OURS, "saraban@obec.go.th", 2, "ack"), _mail("saraban@obec.go.th"))
    assert [m[1] for m in old.messages] == [["saraban@obec.go.th"]]


async def test_the_outbox_folder_keeps_a_thai_envelope_address(tmp_path: Path) -> None:
    raw = _mail(THAI)
    await FolderTransport(tmp_path / "outbox").deliver(Envelope(OURS, THAI, 7, "ack"), raw)
    kept = (tmp_path / "outbox" / "00000007-ack.eml").read_bytes()
    assert kept == f"X-Envelope-From: <{OURS}>\r\nX-Envelope-To: <{THAI}>\r\n".encode() + raw
