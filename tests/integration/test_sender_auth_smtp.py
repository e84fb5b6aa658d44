"""The SMTP listener authenticates each sender and keeps the message under its verdict:
a real gateway (`serve`), a real client, an in-process DNS server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiosmtplib
import pytest
from sqlalchemy import select

from gateway.service import serve
from gateway.store.tables import RawMessage
from gateway.trust import AuthResult
from gateway.trust.results import read_verdict
from tests.conftest import make_settings
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
