"""Outages of the mailbox, the database and the relay are recovered within seconds (#23).

Each test stops a real server in the middle of the gateway's work and starts it again on the
same port with the same data (tests/servers: `halt`, `resume`), the way a restart looks to the
gateway. The ceilings are correctness bounds, well above the 5 s the gateway aims at (a 2-core
machine shared with other work); each measured time is printed. The outages are a few seconds
long: what is measured is the time after the server is back, which does not depend on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gateway.app import open_store
from gateway.outbound.sender import OutboxSender, RelayTransport
from gateway.service import serve
from gateway.store import outbox
from gateway.store.handle import Store
from gateway.store.tables import Letter, OutboxItem, RegisterEntry
from tests.conftest import TickingClock, central_mailbox_settings, make_settings
from tests.corpus.mail import letter_mail, letter_pdf
from tests.processes import Noticed
from tests.servers.dovecot import DovecotServer
from tests.servers.postgres import PostgresServer
from tests.servers.smtpsink import SmtpSink
from tests.servers.tls import TestPKI

pytestmark = pytest.mark.integration

OUTAGE = 5.0  # seconds each server is away
CEILING = 15.0  # the bound asserted; the aim (issue #23) is 5 s


@pytest.fixture(scope="module")
def own_dovecot(tls_pki: TestPKI) -> Iterator[DovecotServer]:
    """A Dovecot of this module's own: stopping it disturbs no other test's mailbox."""
    server = DovecotServer(pki=tls_pki)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def letter(i: int) -> bytes:
    """A letter with its own ที่ and subject (never taken for another one's duplicate)."""
    pdf = letter_pdf(lines=(f"ที่ ศธ 04010/{i}", "สำนักงานคณะกรรมการการศึกษาขั้นพื้นฐาน",
                            "วันที่ 2 ธันวาคม 2569", f"เรื่อง ขอเชิญประชุม {i}", "เรียน ผู้อำนวยการ"))
    return letter_mail(pdf, subject=f"ขอเชิญประชุม {i}", filename=f"2569_OBEC_{i}.pdf")



@pytest.fixture
def noticed() -> Iterator[Noticed]:
    handler = Noticed()
    logger = logging.getLogger("gateway.reconnect")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


async def until(what: str, check: Callable[[], Awaitable[bool]], ceiling: float) -> float:
    """Seconds until `check()` holds; fails naming `what` after `ceiling` seconds."""
    t0 = time.monotonic()
    while not await check():
        assert time.monotonic() - t0 < ceiling, f"{what}: not within {ceiling:.0f} s"
        await asyncio.sleep(0.05)
    return time.monotonic() - t0


async def registered(store: Store) -> int:
    async with store.readers() as s:
        return int((await s.execute(select(func.count()).select_from(RegisterEntry))).scalar_one())


@contextlib.asynccontextmanager
async def running_gateway(tmp_path: Path, dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch,
                          database_url: str = "") -> AsyncIterator[tuple[Store, str, asyncio.Task[int]]]:
    """A running gateway watching a fresh mailbox on `dovecot`; the store on `database_url`
    (else SQLite). Stopped, and its store closed, on leaving."""
    user, password = dovecot.new_user("saraban")
    monkeypatch.setenv("SARABAN_TEST_IMAP_PASSWORD", password)
    settings = central_mailbox_settings(tmp_path, dovecot, user, database_url=database_url)
    store = await open_store(settings, upgrade=True, clock=TickingClock())
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, ready=ready, stop=stop, store=store))
    try:
        await asyncio.wait_for(ready, 30)
        yield store, user, task
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)
        await store.close()


@pytest.fixture
async def gateway(request: pytest.FixtureRequest, tmp_path: Path, own_dovecot: DovecotServer,
                  monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Store, str, asyncio.Task[int]]]:
    """`running_gateway` on the database the test asks for (`database_url`, else SQLite)."""
    async with running_gateway(tmp_path, own_dovecot, monkeypatch, getattr(request, "param", "")) as running:
        yield running


async def test_the_first_letter_after_the_mailbox_returns_is_registered_within_seconds(
        gateway: tuple[Store, str, asyncio.Task[int]], own_dovecot: DovecotServer, noticed: Noticed,
        caplog: pytest.LogCaptureFixture) -> None:
    store, user, task = gateway
    caplog.set_level(logging.ERROR, logger="asyncio")
    gc.collect()  # what an earlier test on this worker left is that test's to answer for
    caplog.clear()
    first, second = letter(1), letter(2)
    own_dovecot.deliver(user, first)
    await until("the letter before the outage", lambda: _count_is(store, 1), 30)
    await asyncio.sleep(1.0)  # the watcher is in IDLE

    stopped = time.monotonic()
    await asyncio.to_thread(own_dovecot.halt)
    await until("noticing the outage", lambda: _true(bool(noticed.times)), CEILING)
    noticing = noticed.times[0] - stopped
    await asyncio.sleep(max(0.0, OUTAGE - (time.monotonic() - stopped)))
    await asyncio.to_thread(own_dovecot.resume)
    back = time.monotonic()
    own_dovecot.deliver(user, second)
    took = await until("the first letter after the mailbox returned", lambda: _count_is(store, 2), CEILING)
    print(f"\nmailbox outage {time.monotonic() - stopped - took:.1f} s: noticed after {noticing:.2f} s; "
          f"first letter registered {took:.2f} s after it returned")
    assert noticing < CEILING and time.monotonic() - back < CEILING

    # nothing lost, nothing doubled: two letters, two numbers, INBOX empty
    async with store.readers() as s:
        numbers = sorted((await s.execute(select(RegisterEntry.number))).scalars())
        letters = (await s.execute(select(func.count()).select_from(Letter))).scalar_one()
    assert numbers == [1, 2] and letters == 2
    await until("INBOX emptied", lambda: _true(own_dovecot.message_count(user, "INBOX") == 0), CEILING)
    assert not task.done()
    # the lost connection's IDLE left nothing pending behind: an operator's log shows one
    # warning per outage, not an asyncio ERROR "Task was destroyed but it is pending"
    idle = [t for t in asyncio.all_tasks() if getattr(t.get_coro(), "__qualname__", "") == "IMAP4.idle"]
    assert len(idle) <= 1, idle  # the live connection's, if it is in IDLE now
    gc.collect()
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []


async def _count_is(store: Store, n: int) -> bool:
    return await registered(store) >= n


async def _true(value: bool) -> bool:
    return value


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL of this module's own, to be restarted."""
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_database(request: pytest.FixtureRequest, own_postgres: PostgresServer) -> str:
    return own_postgres.create_database(f"recovery_{abs(hash(request.node.name)) % 10**8}")


LETTERS = 10


async def test_a_postgresql_restart_mid_intake_loses_and_doubles_nothing(
        tmp_path: Path, own_dovecot: DovecotServer, own_postgres: PostgresServer,
        pg_database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    mails = [letter(i) for i in range(1, LETTERS + 1)]
    async with running_gateway(tmp_path, own_dovecot, monkeypatch, pg_database) as (store, user, task):
        for raw in mails[:6]:
            own_dovecot.deliver(user, raw)
        await until("the first letters", lambda: _count_is(store, 2), 60)
        # the database restarts while the rest are being taken in, and more arrive meanwhile
        before = await registered(store)
        await asyncio.to_thread(own_postgres.halt)
        for raw in mails[6:]:
            own_dovecot.deliver(user, raw)
        await asyncio.sleep(OUTAGE)
        await asyncio.to_thread(own_postgres.resume)
        took = await until("registering the rest", lambda: _count_is(store, LETTERS), 60)
        print(f"\nPostgreSQL restart after {before} of {LETTERS} letters: all registered {took:.2f} s "
              "after it returned")
        assert not task.done(), "the gateway stopped with the database"
        async with store.readers() as s:
            numbers = sorted((await s.execute(select(RegisterEntry.number))).scalars())
            letters = (await s.execute(select(func.count()).select_from(Letter))).scalar_one()
        assert numbers == list(range(1, LETTERS + 1))  # gapless, none twice
        assert letters == LETTERS  # no message taken in twice
        await until("INBOX emptied", lambda: _true(own_dovecot.message_count(user, "INBOX") == 0), 30)


async def test_mail_queued_while_the_relay_restarts_goes_out_when_it_returns(
        tmp_path: Path, noticed: Noticed) -> None:
    sink = await SmtpSink.start()
    settings = make_settings(tmp_path, relay={"mode": "smtp", "host": "127.0.0.1", "port": sink.port,
                                              "starttls": False, "timeout_seconds": 5})
    store = await open_store(settings, upgrade=True, clock=TickingClock())
    sender = OutboxSender(store, RelayTransport(settings.relay))
    stop, wake = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(sender.run(stop=stop, wake=wake))
    try:
        await sink.halt()
        stopped = time.monotonic()
        async with store.sessions.begin() as s:
            await outbox.enqueue(s, store.blobs, kind="notice", recipient="hr@agency.test",
                                 dedupe_key="recovery:1", now=store.clock(),
                                 message=b"From: saraban@agency.test\r\nTo: hr@agency.test\r\n"
                                         b"Subject: test\r\n\r\nbody\r\n")
        wake.set()
        await until("noticing the relay is away", lambda: _true(bool(noticed.times)), CEILING)
        await asyncio.sleep(max(0.0, OUTAGE - (time.monotonic() - stopped)))
        await sink.resume()
        took = await until("the queued mail going out", lambda: _true(bool(sink.messages)), CEILING)
        print(f"\nrelay restart: the queued mail went out {took:.2f} s after it returned")
        async with store.readers() as s:
            item = (await s.execute(select(OutboxItem))).scalar_one()
        assert (item.status, item.attempts) == ("sent", 1)  # the outage was no failed attempt
        assert len(sink.to("hr@agency.test")) == 1
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await store.close()
        await sink.stop()
