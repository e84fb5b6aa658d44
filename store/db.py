"""Engine and session factory for SQLite (default) and PostgreSQL, one code path.

SQLite needs three things to behave like a real transactional store under
concurrency (infrastructure.md, "Numbers that never gap"): pysqlite's implicit
BEGIN switched off, WAL with a busy timeout, and `BEGIN IMMEDIATE` so that a
writer takes the write lock at the start of its transaction instead of failing
with "database is locked" when it upgrades a read lock half-way through.

PostgreSQL may restart under a running gateway: the pool tests each connection before use
(`pool_pre_ping`), and `WriteSessions.transact` runs a unit of work again, after a short
pause, when the server was away (`is_disconnect`); SQLite has no server to lose.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from gateway.store.sqlite_adapter import one_hop_dbapi

SQLITE_BUSY_TIMEOUT_MS = 30_000
READ_ONLY = "saraban_read_only"
# Pauses before a unit of work is run again while the database server is away: about 7 s in
# all, enough for a restart; a longer outage is the caller's (the watcher reconnects).
DISCONNECT_DELAYS = (0.2, 0.5, 1.0, 2.0, 3.0)

log = logging.getLogger(__name__)
T = TypeVar("T")


def is_disconnect(exc: BaseException) -> bool:
    """True when `exc` says the database server went away (restarted, shutting down, refusing
    connections), so the same unit of work may simply be run again; never for SQLite."""
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:  # SQLAlchemy's own verdict on a broken connection
        return True
    orig = exc.orig
    if not type(orig).__module__.startswith("psycopg"):
        return False
    state = getattr(orig, "sqlstate", None) or ""
    # no SQLSTATE: could not connect; 08xxx connection exceptions; 57P0x shutdown / starting up
    return isinstance(exc, (OperationalError, InterfaceError)) and \
        (not state or state.startswith(("08", "57P")))


async def retrying(unit: Callable[[], Awaitable[T]], *, what: str = "database",
                   delays: tuple[float, ...] = DISCONNECT_DELAYS,
                   sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> T:
    """`unit()`, run again after a short pause (with jitter) each time it fails because the
    database server is away, at most len(delays) times; other errors are raised at once."""
    for attempt, delay in enumerate((*delays, None)):
        try:
            return await unit()
        except DBAPIError as exc:
            if delay is None or not is_disconnect(exc):
                raise
            (log.warning if attempt == 0 else log.debug)(
                "%s: the database is away (%s); trying again", what, type(exc.orig).__name__)
            await sleep(delay * (1 + random.uniform(0, 0.25)))
    raise AssertionError("unreachable")


def insert_for(session: AsyncSession) -> Any:
    """The INSERT construct with ON CONFLICT for the session's database (SQLite or PostgreSQL)."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def make_engine(url: str, *, password: str | None = None, echo: bool = False) -> AsyncEngine:
    u = make_url(url)
    if password is not None:
        u = u.set(password=password)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            u, echo=echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
                          # write transactions' statements run in the event loop's thread
                          "check_same_thread": False},
            module=one_hop_dbapi(),  # store/sqlite_adapter.py
        )
        _tune_sqlite(engine)
        return engine
    return create_async_engine(u, echo=echo, pool_size=10, max_overflow=10, pool_pre_ping=True)


def _tune_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN itself.
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=FULL")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Readers (see make_readers) need no write lock: in WAL they read a snapshot while
        # a writer works. Everything else may write, so it takes the lock up front.
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


class _Gate:
    """A lock that hands over in order, but to urgent waiters first."""

    def __init__(self) -> None:
        self._held = False
        self._urgent: collections.deque[asyncio.Future[None]] = collections.deque()
        self._normal: collections.deque[asyncio.Future[None]] = collections.deque()

    async def acquire(self, urgent: bool) -> None:
        if not self._held and not self._urgent and not self._normal:
            self._held = True
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._urgent if urgent else self._normal
        queue.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():  # handed over just as we were cancelled
                self.release()
            raise
        finally:
            if fut in queue:
                queue.remove(fut)

    def release(self) -> None:
        for queue in (self._urgent, self._normal):
            while queue:
                fut = queue.popleft()
                if not fut.done():
                    fut.set_result(None)  # the gate stays held: it passes to that waiter
                    return
        self._held = False


class WriteSessions:
    """Sessions that may write; `begin()` is a transaction the caller owns.

    SQLite lets one writer in at a time, and a writer that finds the lock taken sleeps in
    SQLite's busy handler (1, 2, 5 … 100 ms steps), often long after the lock was freed. So on
    SQLite this process's writers queue on a gate instead and start the moment the previous
    one commits; `urgent` writers (the letter whose turn it is to be numbered, which the
    letters behind it wait for) go to the front of that queue. Other processes (the CLI, a
    second gateway) still meet SQLite's busy handler. PostgreSQL writers run concurrently,
    guarded by their row locks.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._maker = async_sessionmaker(engine, expire_on_commit=False)
        self._gated = engine.dialect.name == "sqlite"
        self._gate: _Gate | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._holder: asyncio.Task[Any] | None = None

    def __call__(self, **kw: Any) -> AsyncSession:
        return self._maker(**kw)

    @contextlib.asynccontextmanager
    async def begin(self, *, urgent: bool = False) -> AsyncIterator[AsyncSession]:
        if not self._gated:
            async with self._maker.begin() as s:
                yield s
            return
        loop, task = asyncio.get_running_loop(), asyncio.current_task()
        if self._gate is None or self._loop is not loop:
            self._gate, self._loop = _Gate(), loop
        if task is not None and task is self._holder:
            # On SQLite the inner transaction would wait for the outer one for ever.
            raise RuntimeError("a write transaction was opened inside another one")
        gate = self._gate
        await gate.acquire(urgent)
        self._holder = task
        try:
            async with self._maker.begin() as s:
                yield s
        finally:
            self._holder = None
            gate.release()


    async def transact(self, unit: Callable[[AsyncSession], Awaitable[T]], *, urgent: bool = False) -> T:
        """`unit(session)` in a transaction of its own, run again from the start (a new
        transaction) when the database server was away (`retrying`)."""
        async def once() -> T:
            async with self.begin(urgent=urgent) as s:
                return await unit(s)

        return await retrying(once)


def make_sessionmaker(engine: AsyncEngine) -> WriteSessions:
    return WriteSessions(engine)


def make_readers(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for reading only: on SQLite they do not take the write lock."""
    return async_sessionmaker(engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False)
