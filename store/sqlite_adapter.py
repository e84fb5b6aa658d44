"""The SQLite driver adapter: each statement in one trip, or inline in a write transaction.

This is the one module that relies on internals of SQLAlchemy's aiosqlite dialect and of
aiosqlite (the house rule: public APIs only, or a private use isolated in one module with a
test that names the package). tests/unit/test_dependency_internals.py checks every item
below against the installed versions and says which package changed what.

SQLAlchemy (sqlalchemy.dialects.sqlite.aiosqlite, 2.0.44 and later, 2.1):
  * `AsyncAdapt_aiosqlite_dbapi(aiosqlite, sqlite3)` is subclassed; its `connect()` returns an
    adapted connection whose (public) `driver_connection` is the aiosqlite connection.
  * `AsyncAdapt_aiosqlite_connection(dbapi, connection)` is subclassed; its `cursor()` is
    overridden for client-side cursors, and its `_handle_exception(error)` turns driver errors
    into the DBAPI errors the dialect expects (e.g. "no active connection").
  * The cursor provides `_async_soft_close()`, which sqlalchemy.ext.asyncio awaits on every
    cursor after a statement.
  Everything else is public: `AdaptedConnection.run_async` (the greenlet hop to the event
  loop: not the private `await_`/`await_only`, whose name differs between 2.0 and 2.1),
  `AdaptedConnection.driver_connection`, and `create_async_engine(..., module=...)`.

aiosqlite (0.20 and later):
  * `Connection._execute(fn, *args)` runs `fn(*args)` in the connection's thread.
  * `Connection._conn` is the sqlite3 connection (ValueError "no active connection" once closed).
"""

from __future__ import annotations

import asyncio
import collections
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_dbapi,
)

__all__ = ["OneHopConnection", "OneHopCursor", "OneHopDbapi", "one_hop_dbapi"]


def _run(raw: sqlite3.Connection, many: bool, operation: str, parameters: Any) -> tuple[Any, ...]:
    """One statement on the sqlite3 connection, with all its results."""
    cur = raw.cursor()
    try:
        if many:
            cur.executemany(operation, parameters)
        else:
            cur.execute(operation, () if parameters is None else parameters)
        rows = cur.fetchall() if cur.description else None
        return cur.description, cur.rowcount, cur.lastrowid, rows
    finally:
        cur.close()


class OneHopCursor:
    """A statement in one trip to the connection's thread, or none inside a write transaction.

    SQLAlchemy's aiosqlite cursor makes four trips per SELECT (open the cursor, execute,
    fetch, close), and each trip waits for the event loop to come round again. Under load
    that wait, not SQLite, was most of a write transaction's time, and every other writer
    queues behind it. Here the whole statement runs in the connection's thread at once and
    the results come back together.

    Once `BEGIN IMMEDIATE` has returned, the transaction holds SQLite's write lock (and, in
    WAL, its snapshot): its statements can no longer wait for another connection, and take
    tens of microseconds. They run at once in the event loop's thread instead, because the
    trip (queue, thread wake-up, event-loop turn) cost ten times the statement and was paid
    while every other writer waited. What can wait stays in the thread: BEGIN (SQLite's busy
    handler), COMMIT (fsync), and everything in read-only transactions (reports can scan).

    Every statement, inline or not, goes through `run_async`, i.e. one switch out of
    SQLAlchemy's greenlet into the event loop's task: SQLAlchemy's AsyncConnection.execute
    (Core, `engine.begin()`) insists that a statement switched at least once (AwaitRequired
    otherwise). An inline statement runs inside a coroutine that never suspends, so the switch
    costs no event-loop turn, and nothing else can run on the connection between the check
    that nothing is queued to it and the statement itself.
    """

    server_side = False
    __slots__ = ("_adapt", "description", "rowcount", "lastrowid", "arraysize", "_rows")

    def __init__(self, adapt_connection: OneHopConnection) -> None:  # no trip to open a cursor
        self._adapt = adapt_connection
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1
        self._rows: collections.deque[Any] = collections.deque()

    def execute(self, operation: Any, parameters: Any = None) -> None:
        try:
            self._adapt.run_async(lambda conn: self._statement(conn, False, operation, parameters))
        except Exception as error:
            self._adapt._handle_exception(error)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> None:
        try:
            self._adapt.run_async(
                lambda conn: self._statement(conn, True, operation, seq_of_parameters))
        except Exception as error:
            self._adapt._handle_exception(error)

    async def _statement(self, conn: Any, many: bool, operation: str, parameters: Any) -> None:
        adapt = self._adapt
        raw = adapt._inline(conn)
        if raw is not None:  # holds the write lock: at once, in this thread
            out = _run(raw, many, operation, parameters)
        else:
            async with adapt._trip:
                out = await conn._execute(_run, conn._conn, many, operation, parameters)
                if operation[:5].upper() == "BEGIN":
                    adapt._writing = operation.split()[1:2] == ["IMMEDIATE"]
        self.description, self.rowcount, self.lastrowid, rows = out
        self._rows = collections.deque(rows or ())

    def setinputsizes(self, *inputsizes: Any) -> None:
        pass

    def nextset(self) -> None:
        return None  # one result set per statement

    async def _async_soft_close(self) -> None:
        return  # nothing is open between statements

    def close(self) -> None:
        self._rows.clear()

    def __enter__(self) -> OneHopCursor:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __iter__(self) -> Iterator[Any]:
        while self._rows:
            yield self._rows.popleft()

    def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        rows = self._rows
        return [rows.popleft() for _ in range(min(size or self.arraysize, len(rows)))]

    def fetchall(self) -> Sequence[Any]:
        rows = list(self._rows)
        self._rows.clear()
        return rows


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    """SQLAlchemy's adapted aiosqlite connection with one-hop cursors (server-side ones, for
    `stream()`, stay SQLAlchemy's own)."""

    __slots__ = ("_writing", "_trip")

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self._writing = False  # inside a transaction begun with BEGIN IMMEDIATE
        self._trip = asyncio.Lock()  # held while a statement is queued to the connection's thread

    def cursor(self, server_side: bool = False) -> Any:
        if server_side:
            return super().cursor(server_side=True)
        return OneHopCursor(self)

    def _inline(self, conn: Any) -> sqlite3.Connection | None:
        """The sqlite3 connection, when a statement may run in the event loop's thread."""
        if not self._writing:
            return None
        raw = conn._conn
        if not raw.in_transaction:  # committed or rolled back since
            self._writing = False
            return None
        return None if self._trip.locked() else raw


class OneHopDbapi(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        return OneHopConnection(self, super().connect(*arg, **kw).driver_connection)


def one_hop_dbapi() -> OneHopDbapi:
    """The `module=` for create_async_engine("sqlite+aiosqlite://...")."""
    import aiosqlite

    return OneHopDbapi(aiosqlite, sqlite3)
