"""How this process's writers share a SQLite file: the write gate and the one-trip cursor,
on a real SQLite file (and the same statements on PostgreSQL)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import event, text

from gateway.app import open_store
from tests.conftest import make_settings

pytestmark = pytest.mark.integration


async def _sqlite_store(tmp_path: Path):
    return await open_store(make_settings(tmp_path), upgrade=True)


async def test_urgent_writer_goes_before_writers_queued_earlier(tmp_path: Path) -> None:
    store = await _sqlite_store(tmp_path)
    order: list[str] = []
    release = asyncio.Event()
    try:
        async def writer(name: str, urgent: bool = False, hold: asyncio.Event | None = None) -> None:
            async with store.sessions.begin(urgent=urgent) as s:
                order.append(name)
                await s.execute(text("SELECT 1"))
                if hold is not None:
                    await hold.wait()

        first = asyncio.create_task(writer("holder", hold=release))
        await asyncio.sleep(0.05)
        queued = [asyncio.create_task(writer(f"normal-{i}")) for i in range(3)]
        await asyncio.sleep(0.05)
        urgent = asyncio.create_task(writer("urgent", urgent=True))
        await asyncio.sleep(0.05)
        assert order == ["holder"]  # everyone else waits for the gate
        release.set()
        await asyncio.gather(first, *queued, urgent)
        assert order == ["holder", "urgent", "normal-0", "normal-1", "normal-2"]
    finally:
        await store.close()


async def test_a_cancelled_waiter_does_not_keep_the_gate(tmp_path: Path) -> None:
    store = await _sqlite_store(tmp_path)
    release = asyncio.Event()
    try:
        async def hold() -> None:
            async with store.sessions.begin():
                await release.wait()

        holder = asyncio.create_task(hold())
        await asyncio.sleep(0.05)

        async def wait_in_line() -> None:
            async with store.sessions.begin():
                pass

        waiter = asyncio.create_task(wait_in_line())
        await asyncio.sleep(0.05)
        waiter.cancel()
        release.set()
        await holder
        with pytest.raises(asyncio.CancelledError):
            await waiter
        async with asyncio.timeout(5):  # the gate is free again
            async with store.sessions.begin() as s:
                assert (await s.execute(text("SELECT 2"))).scalar_one() == 2
    finally:
        await store.close()


async def test_a_write_transaction_inside_another_fails_at_once(tmp_path: Path) -> None:
    store = await _sqlite_store(tmp_path)
    try:
        async with asyncio.timeout(5):
            with pytest.raises(RuntimeError, match="inside another"):
                async with store.sessions.begin():
                    async with store.sessions.begin():
                        pass
    finally:
        await store.close()


async def test_write_statements_run_in_the_callers_thread_and_waits_stay_in_the_connections(
        tmp_path: Path) -> None:
    """Inside BEGIN IMMEDIATE a statement cannot wait for anyone, so it runs at once in the
    event loop's thread; BEGIN itself (which may wait for another process) and read-only
    transactions stay in the connection's thread, so the loop keeps running meanwhile."""
    store = await _sqlite_store(tmp_path)
    await store.engine.dispose()

    @event.listens_for(store.engine.sync_engine, "connect")
    def _probe(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.create_function("thread_id", 0, threading.get_ident)

    loop_thread = threading.get_ident()
    db_path = store.engine.url.database
    try:
        async with store.sessions.begin() as s:
            assert (await s.execute(text("SELECT thread_id()"))).scalar_one() == loop_thread
            await s.execute(text("CREATE TABLE t_where (v INTEGER)"))
            await s.execute(text("INSERT INTO t_where VALUES (1)"))
        async with store.readers() as s:
            assert (await s.execute(text("SELECT thread_id()"))).scalar_one() != loop_thread
            assert (await s.execute(text("SELECT count(*) FROM t_where"))).scalar_one() == 1

        # Another process (here: another connection) holds the write lock for 0.5 s.
        other = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        freed = threading.Timer(0.5, lambda: (other.execute("INSERT INTO t_where VALUES (2)"),
                                              other.execute("COMMIT")))
        freed.start()
        started = time.perf_counter()
        async with store.sessions.begin() as s:
            # BEGIN, sent with the first statement, waits in SQLite's busy handler
            assert (await s.execute(text("SELECT count(*) FROM t_where"))).scalar_one() == 2
            waited = time.perf_counter() - started
            assert (await s.execute(text("SELECT thread_id()"))).scalar_one() == loop_thread
        ticker.cancel()
        freed.join()
        other.close()
        assert waited >= 0.4
        assert ticks >= 20  # the event loop ran while BEGIN waited
    finally:
        await store.close()


async def test_statements_report_rows_rowcount_and_lastrowid(store) -> None:
    """What the ORM relies on from each statement: rows, rowcount, inserted ids, and errors."""
    async with store.sessions.begin() as s:
        await s.execute(text("CREATE TABLE t_probe (id INTEGER PRIMARY KEY, v TEXT)"))
        await s.execute(text("INSERT INTO t_probe (id, v) VALUES (:id, :v)"),
                        [{"id": 1, "v": "ก"}, {"id": 2, "v": "ข"}])
        one = await s.execute(text("INSERT INTO t_probe (id, v) VALUES (3, 'ค')"))
        if s.get_bind().dialect.name == "sqlite":
            assert one.lastrowid == 3
        changed = await s.execute(text("UPDATE t_probe SET v = v || '!' WHERE id > 1"))
        assert changed.rowcount == 2
        rows = (await s.execute(text("SELECT id, v FROM t_probe ORDER BY id"))).all()
        assert [tuple(r) for r in rows] == [(1, "ก"), (2, "ข!"), (3, "ค!")]
        none = (await s.execute(text("SELECT v FROM t_probe WHERE id = 99"))).first()
        assert none is None
    with pytest.raises(Exception, match="(?i)t_missing"):
        async with store.sessions.begin() as s:
            await s.execute(text("SELECT * FROM t_missing"))
    async with store.sessions.begin() as s:  # the connection is usable after an error
        assert (await s.execute(text("SELECT count(*) FROM t_probe"))).scalar_one() == 3
        await s.execute(text("DROP TABLE t_probe"))


async def test_core_statements_on_engine_begin(store) -> None:
    """`engine.begin()` with Core statements, outside the write gate (as bench_registers'
    baseline does). SQLAlchemy's AsyncConnection.execute raises AwaitRequired unless the
    driver switched out of its greenlet, which a statement run inline in a BEGIN IMMEDIATE
    transaction once did not: every statement after BEGIN failed on SQLite."""
    engine = store.engine
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t_core (k INTEGER PRIMARY KEY, n INTEGER NOT NULL)"))
        await conn.execute(text("CREATE TABLE t_core_log (k INTEGER NOT NULL, n INTEGER NOT NULL)"))

    async def bump() -> None:
        async with engine.begin() as conn:
            n = (await conn.execute(text(
                "INSERT INTO t_core (k, n) VALUES (1, 1) "
                "ON CONFLICT (k) DO UPDATE SET n = t_core.n + 1 RETURNING n"))).scalar_one()
            await conn.execute(text("INSERT INTO t_core_log (k, n) VALUES (1, :n)"), {"n": n})
            await conn.exec_driver_sql("UPDATE t_core SET n = n WHERE k = 1")

    await asyncio.gather(*(bump() for _ in range(20)))  # writers on several pooled connections
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO t_core_log (k, n) VALUES (:k, :n)"),
                           [{"k": 2, "n": 1}, {"k": 2, "n": 2}])
        assert (await conn.scalar(text("SELECT n FROM t_core WHERE k = 1"))) == 20
        logged = (await conn.execute(text("SELECT n FROM t_core_log WHERE k = 1 ORDER BY n"))).scalars()
        assert list(logged) == list(range(1, 21))
        streamed = await conn.stream(text("SELECT n FROM t_core_log WHERE k = 2 ORDER BY n"))
        assert [n async for (n,) in streamed] == [1, 2]
    with pytest.raises(Exception, match="(?i)t_missing"):
        async with engine.begin() as conn:
            await conn.execute(text("SELECT 1"))
            await conn.execute(text("SELECT * FROM t_missing"))
    async with engine.begin() as conn:  # rolled back, and the connection still works
        assert (await conn.scalar(text("SELECT count(*) FROM t_core_log"))) == 22
        await conn.execute(text("DROP TABLE t_core_log"))
        await conn.execute(text("DROP TABLE t_core"))
