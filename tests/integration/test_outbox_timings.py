"""[outbox] timings and a resent letter at the receiving end.

- The retry schedule and the lifetime come from the settings (a fake clock walks them).
- `outbox retry`, run beside a running gateway (its own store connection, as another process
  has), reaches the running sender within [outbox] poll_seconds, well before its idle round.
- A letter sent again after a crash (same bytes, same Message-ID, same XML letter ID) is
  linked by this gateway's own duplicate check, not numbered again: identical bytes over
  SMTP, and the copy a relay re-wrapped (a new Received line) as a second message.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import email
from email import policy
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gateway.app import open_store, opened_store
from gateway.cli.outbox import outbox_cmd
from gateway.core.compose import template_env
from gateway.inbound.pipeline import Pipeline
from gateway.outbound.flow import Outbound
from gateway.outbound.sender import agency_mail, queue_mail
from gateway.service import accept_smtp, serve
from gateway.store.tables import Letter, OutboxItem, RegisterEntry
from tests.conftest import FakeClock, add_to_directory, make_settings
from tests.integration.test_outbound import RCPTS, _deliver, _directory, _settings, _submit
from tests.servers.smtpsink import SmtpSink

pytestmark = pytest.mark.integration


@pytest.fixture
async def sink():  # type: ignore[no-untyped-def]
    s = await SmtpSink.start()
    yield s
    await s.stop()


async def _queue_notice(store, to: str, key: str) -> int:  # type: ignore[no-untyped-def]
    async with store.sessions.begin() as s:
        mail = agency_mail(store.settings, "help", {"agency": "สำนักงานทดสอบ", "unit": "", "contact": "",
                                                    "central_address": "saraban@agency.test", "folder": "ส่งแล้ว",
                                                    "error": ""}, to=[to], key=key)
        (q,) = await queue_mail(s, store, template_env(), mail, kind="notice", now=store.clock())
    return q.item_id


async def _row(store, item_id: int) -> OutboxItem:  # type: ignore[no-untyped-def]
    async with store.readers() as s:
        item = await s.get(OutboxItem, item_id)
    assert item is not None
    return item


async def test_the_schedule_and_the_lifetime_come_from_the_settings(tmp_path: Path, db_url: str, sink: SmtpSink,
                                                                    clock: FakeClock) -> None:
    sink.script[RCPTS[0]] = ["451 4.2.1 busy"] * 20
    settings = _settings(tmp_path, db_url, sink, outbox={"retry_minutes": [1, 3], "give_up_after_hours": 0.1})
    async with opened_store(settings, upgrade=True, clock=clock) as store:
        await _directory(store)
        out = Outbound.build(store, template_env())
        item_id = await _queue_notice(store, RCPTS[0], "schedule")
        start = clock()
        waits = []
        for _ in range(5):
            await _deliver(store, out)
            item = await _row(store, item_id)
            if item.status != "pending":
                break
            waits.append((item.next_attempt_at - clock()).total_seconds() / 60)
            clock.advance(seconds=(item.next_attempt_at - clock()).total_seconds())
        # 1 minute, then 3 (the last step repeats); the next try would fall after 6 minutes: given up
        assert waits == [1, 3] and item.status == "parked" and item.attempts == 3
        assert item.expires_at == start + dt.timedelta(minutes=6)
        assert len(sink.refused) == 3


async def test_outbox_retry_reaches_the_running_sender(tmp_path: Path, db_url: str, sink: SmtpSink) -> None:
    sink.script[RCPTS[1]] = ["550 5.1.1 no such user"]  # parked at the first try
    settings = _settings(tmp_path, db_url, sink, outbox={"poll_seconds": 0.5})
    store = await open_store(settings, upgrade=True)  # the real clock: the CLI's is real too
    await _directory(store)
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, ready=ready, stop=stop, store=store))
    try:
        await asyncio.wait_for(ready, 30)
        # queued by another connection, without waking this process's sender: its poll finds it
        item_id = await _queue_notice(await open_store(settings), RCPTS[1], "woken")
        await _until(lambda: _status(store, item_id), "parked", within=10)
        args = argparse.Namespace(outbox_command="retry", ids=[item_id], letter=None)
        assert await outbox_cmd(args, settings) == 0  # its own store: as `saraban-gateway outbox retry`
        # the sender's idle round is 30 s; the poll (0.5 s) brings it in well inside 10 s
        await _until(lambda: _status(store, item_id), "sent", within=10)
        assert len(sink.to(RCPTS[1])) == 1
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await store.close()


async def _status(store, item_id: int) -> str:  # type: ignore[no-untyped-def]
    return (await _row(store, item_id)).status


async def _until(read, want: str, *, within: float) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    got = await read()
    while got != want:
        assert loop.time() < end, f"still {got!r} after {within} s, not {want!r}"
        await asyncio.sleep(0.1)
        got = await read()


async def test_a_letter_sent_again_is_linked_not_numbered_again(tmp_path: Path, db_url: str, sink: SmtpSink,
                                                                clock: FakeClock) -> None:
    # the sending agency: one letter to one recipient, delivered twice (as after a crash in doubt)
    async with opened_store(_settings(tmp_path, db_url, sink), upgrade=True, clock=clock) as store:
        await _directory(store)
        out = Outbound.build(store, template_env())
        await _submit(out, "ขอเชิญประชุม", to=[RCPTS[0]], tmp=tmp_path)
        await _deliver(store, out)
        async with store.sessions.begin() as s:  # what a resend does: the row due again
            item = (await s.execute(select(OutboxItem).where(OutboxItem.kind == "letter"))).scalar_one()
            item.status, item.next_attempt_at = "pending", clock()
        await _deliver(store, out)
    first, again = sink.to(RCPTS[0])
    assert first == again  # the same bytes: same Message-ID, same XML letter ID
    # the receiving agency runs this gateway too
    recv = make_settings(tmp_path / "recv", "", agency={
        "name_th": "กรมทดสอบหนึ่ง", "letter_code": "ทส 0001", "latin_code": "TEST1",
        "central_addresses": [RCPTS[0]]})
    async with opened_store(recv, upgrade=True, clock=clock) as store:
        await add_to_directory(store, "saraban@agency.test")
        pipeline = Pipeline.build(store, template_env())
        states = []
        rewrapped = b"Received: from relay2.agency.test by mx.one.go.th; Sun, 22 Nov 2026 10:00:00 +0700\r\n" + again
        for raw in (first, again, rewrapped):
            letter_id = await accept_smtp(store, raw, "saraban@agency.test", [RCPTS[0]])
            states.append((letter_id, await pipeline.process(letter_id)))
        async with store.readers() as s:
            letters = {x.id: x for x in (await s.execute(select(Letter))).scalars()}
            numbers = (await s.execute(select(func.count()).select_from(RegisterEntry))).scalar_one()
    (id1, st1), (id2, _), (id3, st3) = states
    assert id2 == id1  # identical bytes over SMTP: the same message, kept once
    assert st1 in ("registered", "review") and st3 == "duplicate"
    assert letters[id3].duplicate_of == id1
    assert numbers == (1 if st1 == "registered" else 0)  # never a second receive number
    msg = email.message_from_bytes(first, policy=policy.default)
    assert msg["Message-ID"] and letters[id1].letter_no == letters[id3].letter_no
