"""The SMTP listener against real clients: durable before 250, never a relay, size limit."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import aiosmtplib
import pytest
from sqlalchemy import func, select

from gateway.service import serve
from gateway.store.tables import Letter, RawMessage
from tests.conftest import make_settings

pytestmark = pytest.mark.integration

MESSAGE = (
    "From: สพฐ. <saraban@obec.go.th>\r\n"
    "To: saraban@agency.test\r\n"
    "Subject: =?UTF-8?B?4LiC4Lit4LmA4LiK4Li04LiN4Lib4Lij4Liw4LiK4Li44Lih?=\r\n"
    "Message-ID: <t1@obec.go.th>\r\n"
    "\r\n"
    "เรียน ผู้อำนวยการ\r\n"
).encode()


@pytest.fixture
async def gateway(tmp_path: Path):
    settings = make_settings(tmp_path, smtp_listener={"port": 0, "max_message_bytes": 200_000})
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, ready=ready, stop=stop))
    port = await asyncio.wait_for(ready, 30)
    from gateway.app import open_store

    store = await open_store(settings)
    yield port, store, task
    stop.set()
    await asyncio.wait_for(task, 30)
    await store.close()


async def test_accepts_for_central_address_and_stores_before_250(gateway) -> None:
    port, store, _ = gateway
    errors, reply = await aiosmtplib.send(
        MESSAGE, sender="saraban@obec.go.th", recipients=["SARABAN@agency.test"],
        hostname="127.0.0.1", port=port, timeout=10,
    )
    assert errors == {} and "stored as letter" in reply
    async with store.sessions() as s:
        raw = (await s.execute(select(RawMessage))).scalar_one()
        letter = (await s.execute(select(Letter))).scalar_one()
    assert raw.channel == "smtp" and raw.envelope_from == "saraban@obec.go.th"
    kept = store.blobs.get(raw.sha256)  # the exact bytes, under the gateway's verdict on the sender
    assert kept.startswith(b"Authentication-Results: saraban-gateway.localhost;")
    assert kept.endswith(b"\r\n" + MESSAGE)
    assert letter.state in ("received", "review") and f"letter {letter.id}" in reply

    # the same bytes again (a sender's retry): same letter, no second row
    _, reply2 = await aiosmtplib.send(
        MESSAGE, sender="saraban@obec.go.th", recipients=["saraban@agency.test"],
        hostname="127.0.0.1", port=port, timeout=10,
    )
    assert f"letter {letter.id}" in reply2
    async with store.sessions() as s:
        assert (await s.execute(select(func.count()).select_from(Letter))).scalar_one() == 1


async def test_never_relays(gateway) -> None:
    port, store, _ = gateway
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as e:
        await aiosmtplib.send(MESSAGE, sender="spammer@evil.test", recipients=["victim@gmail.com"],
                              hostname="127.0.0.1", port=port, timeout=10)
    assert e.value.recipients[0].code == 550
    # swaks, an independent client, sees the same
    r = await asyncio.to_thread(
        subprocess.run,
        ["swaks", "--server", f"127.0.0.1:{port}", "--from", "a@evil.test", "--to", "x@other.test",
         "--timeout", "10"], capture_output=True, text=True, timeout=30,
    )
    assert "550 5.7.1" in r.stdout and r.returncode != 0
    async with store.sessions() as s:
        assert (await s.execute(select(func.count()).select_from(RawMessage))).scalar_one() == 0


async def test_size_limit(gateway) -> None:
    port, store, _ = gateway
    big = MESSAGE + b"x" * 300_000 + b"\r\n"
    with pytest.raises(aiosmtplib.SMTPResponseException) as e:
        await aiosmtplib.send(big, sender="a@obec.go.th", recipients=["saraban@agency.test"],
                              hostname="127.0.0.1", port=port, timeout=10)
    assert e.value.code == 552
    async with store.sessions() as s:
        assert (await s.execute(select(func.count()).select_from(RawMessage))).scalar_one() == 0
