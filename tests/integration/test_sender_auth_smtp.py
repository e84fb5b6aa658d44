"""The SMTP listener authenticates each sender and keeps the message under its verdict:
a real gateway (`serve`), a real client, an in-process DNS server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiosmtplib
import pytest
from sqlalchemy import select

from gateway.service import serve
from gateway.store.tables import Letter, OutboxItem, RawMessage, RegisterEntry
from gateway.trust import AuthResult
from gateway.trust.results import read_verdict
from tests.conftest import make_settings
from tests.corpus.mail import letter_mail, numbered_letter_pdf
from tests.dnsserver import DnsServer
from tests.mailauth import Sender, letter

pytestmark = pytest.mark.integration

GW = "saraban-gateway.localhost"  # the listener's hostname: the gateway's authserv-id
MX = "mx.agency.test"


@pytest.fixture
async def gateway(tmp_path: Path, dns_server: DnsServer):
    Sender("moi.go.th").publish(dns_server, spf="v=spf1 ip4:127.0.0.1 -all", dmarc="v=DMARC1; p=reject")
    Sender("mof.go.th", key_no=1).publish(dns_server, spf="v=spf1 ip4:192.0.2.1 -all",
                                          dmarc="v=DMARC1; p=reject")
    settings = make_settings(tmp_path, authentication={
        "dns_servers": [dns_server.address], "authserv_id": MX, "trusted_relays": ["127.0.0.1"]})
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, ready=ready, stop=stop))
    port = await asyncio.wait_for(ready, 30)
    from gateway.app import open_store

    store = await open_store(settings)
    yield port, store
    stop.set()
    await asyncio.wait_for(task, 30)
    await store.close()


async def _kept(store, port: int, raw: bytes, sender: str) -> bytes:
    errors, reply = await aiosmtplib.send(raw, sender=sender, recipients=["saraban@agency.test"],
                                          hostname="127.0.0.1", port=port, timeout=10)
    assert errors == {} and "stored as letter" in reply
    async with store.sessions() as s:
        rows = (await s.execute(select(RawMessage).order_by(RawMessage.id.desc()))).scalars().first()
    return store.blobs.get(rows.sha256)


async def test_the_stored_raw_carries_the_gateways_verdict(gateway) -> None:
    port, store = gateway
    genuine = Sender("moi.go.th").sign(letter())
    kept = await _kept(store, port, genuine, "saraban@moi.go.th")
    assert kept.startswith(f"Authentication-Results: {GW};".encode()) and kept.endswith(genuine)
    v = read_verdict(kept, {GW})
    assert v is not None and (v.result, v.spf, v.dkim, v.dmarc) == (AuthResult.PASS, "pass", "pass", "pass")

    forged = letter("กค. <saraban@mof.go.th>").replace(b"m1@moi", b"m2@moi")
    kept = await _kept(store, port, forged, "saraban@mof.go.th")
    v = read_verdict(kept, {GW})
    assert v is not None and (v.result, v.spf, v.dmarc) == (AuthResult.FAIL, "fail", "fail")
    assert "SPF ไม่ผ่าน: 127.0.0.1 ไม่ได้รับอนุญาตให้ส่งในนาม mof.go.th" in v.reasons_th


async def test_a_trusted_relays_results_are_kept_as_they_are(gateway) -> None:
    port, store = gateway
    relayed = (f"Authentication-Results: {MX}; dmarc=pass header.from=mof.go.th\r\n").encode() + \
        letter("กค. <saraban@mof.go.th>").replace(b"m1@moi", b"m3@moi")
    kept = await _kept(store, port, relayed, "saraban@mof.go.th")
    assert kept == relayed  # believed: not checked again, not stamped
    v = read_verdict(kept, {GW, MX})
    assert v is not None and v.judged_by == MX and v.result is AuthResult.PASS


async def _decided(store, letter_id: int) -> Letter:
    loop = asyncio.get_running_loop()
    end = loop.time() + 30
    while True:
        async with store.sessions() as s:
            got = await s.get(Letter, letter_id)
        if got is not None and got.state != "received" and (
                got.state != "registered" or got.stamped_at is not None):
            return got
        assert loop.time() < end, f"letter {letter_id} not decided"
        await asyncio.sleep(0.1)


async def _automatic_mail(store, letter_id: int) -> list[OutboxItem]:
    async with store.sessions() as s:
        return list((await s.execute(select(OutboxItem).where(
            OutboxItem.letter_id == letter_id))).scalars())


def _letter_from(domain: str, n: int) -> bytes:
    pdf = numbered_letter_pdf(n, code="มท 0211")
    return letter_mail(pdf, sender=f"saraban@{domain}", sender_name="สำนักงานปลัดกระทรวงมหาดไทย",
                       subject=f"หนังสือฉบับที่ {n}")


async def test_a_forged_government_sender_waits_for_the_clerk_and_gets_no_mail(gateway) -> None:
    """Finding 2 of #18: `From: saraban@mof.go.th` sent from a host mof.go.th does not allow
    was registered, numbered and acknowledged. Now: review, with what failed, and no mail."""
    port, store = gateway
    reply = await _send_raw(port, _letter_from("mof.go.th", 1), "saraban@mof.go.th")
    got = await _decided(store, int(reply.rsplit(" ", 1)[1]))
    assert got.state == "review"
    assert "ยืนยันตัวตนผู้ส่งไม่ผ่าน" in got.review_reason and "mof.go.th" in got.review_reason
    assert got.sender_auth is not None and got.sender_auth["result"] == "fail"
    assert await _automatic_mail(store, got.id) == []


async def test_a_genuine_signed_sender_is_registered_with_the_verdict_in_its_remarks(gateway) -> None:
    port, store = gateway
    raw = Sender("moi.go.th").sign(_letter_from("moi.go.th", 2))
    reply = await _send_raw(port, raw, "saraban@moi.go.th")
    got = await _decided(store, int(reply.rsplit(" ", 1)[1]))
    assert got.state == "registered"
    assert got.sender_auth is not None and got.sender_auth["result"] == "pass"
    async with store.sessions() as s:
        entry = (await s.execute(select(RegisterEntry).where(
            RegisterEntry.letter_id == got.id))).scalar_one()
    assert "ยืนยันตัวตนผู้ส่งผ่าน (moi.go.th)" in entry.remarks
    # a passing sender is no stranger: the acknowledgement goes to its From address
    assert [o.kind for o in await _automatic_mail(store, got.id)] == ["ack"]


THAI_DOMAIN = "กรมอนามัย.ไทย"
THAI_ADDRESS = f"สารบรรณ@{THAI_DOMAIN}"


async def test_an_agency_on_a_thai_domain_is_checked_and_named_in_thai(gateway, dns_server) -> None:
    """An internationalized address (SMTPUTF8, สารบรรณ@กรมอนามัย.ไทย): checked under its domain's
    ASCII form, the verdict read back from the stored bytes as it was made (the stamp once wrote
    the address as ??????), and the clerk reads the domain in Thai."""
    port, store = gateway
    ascii_domain = THAI_DOMAIN.encode("idna").decode()
    Sender(ascii_domain).publish(dns_server, spf="v=spf1 ip4:127.0.0.1 -all", dmarc="v=DMARC1; p=reject")
    raw = _letter_from("moi.go.th", 4).replace(b"From: ", b"X-Was-From: ", 1)
    raw = Sender(ascii_domain).sign(f"From: กรมอนามัย <{THAI_ADDRESS}>\r\n".encode() + raw)
    errors, reply = await aiosmtplib.send(raw, sender=THAI_ADDRESS, recipients=["saraban@agency.test"],
                                          hostname="127.0.0.1", port=port, timeout=10,
                                          mail_options=["SMTPUTF8"])
    assert errors == {}
    got = await _decided(store, int(reply.rsplit(" ", 1)[1]))
    async with store.sessions() as s:
        kept = store.blobs.get((await s.get(RawMessage, got.raw_message_id)).sha256)
        entry = (await s.execute(select(RegisterEntry).where(
            RegisterEntry.letter_id == got.id))).scalar_one()
    v = read_verdict(kept, {GW})
    assert v is not None and (v.result, v.spf, v.dkim, v.dmarc) == (AuthResult.PASS, "pass", "pass", "pass")
    assert f"smtp.mailfrom={ascii_domain}" in v.results[0]
    assert got.state == "registered" and got.sender_address == THAI_ADDRESS
    assert f"ยืนยันตัวตนผู้ส่งผ่าน ({THAI_DOMAIN})" in entry.remarks
    assert [(o.kind, o.recipient) for o in await _automatic_mail(store, got.id)] == [("ack", THAI_ADDRESS)]


async def _send_raw(port: int, raw: bytes, sender: str) -> str:
    errors, reply = await aiosmtplib.send(raw, sender=sender, recipients=["saraban@agency.test"],
                                          hostname="127.0.0.1", port=port, timeout=10)
    assert errors == {}
    return reply
