"""The private parts of dependencies the project relies on, checked against the installed versions.

House rule: use only public APIs of dependencies, or isolate a private use in one module with a
test that names the package. store/sqlite_adapter.py is that module for SQLAlchemy's aiosqlite
dialect and for aiosqlite, gateway/intake/aioimaplib_quiet.py for aioimaplib, gateway/trust/hooks.py
for pyspf's module-level DNS hook; this is their test. A failure says which package, at which installed
version, changed what, e.g.
    SQLAlchemy 2.2.0 changed AsyncAdapt_aiosqlite_connection: no method _handle_exception;
    store/sqlite_adapter.py needs updating
(aiosmtplib: gateway/outbound/sender.py uses its public API only, so nothing of it is checked here.)
"""

from __future__ import annotations

import inspect
import sqlite3
import threading
from importlib.metadata import version
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import event, exc, text
from sqlalchemy.dialects.sqlite import aiosqlite as sa_aiosqlite
from sqlalchemy.engine.interfaces import AdaptedConnection

from gateway.store import sqlite_adapter
from gateway.store.db import make_engine, make_readers, make_sessionmaker

ADAPTER = "store/sqlite_adapter.py"


def _changed(package: str, what: str) -> str:
    return f"{package} {version(package)} changed {what}; {ADAPTER} needs updating"


def _require(ok: bool, package: str, what: str) -> None:
    if not ok:
        pytest.fail(_changed(package, what), pytrace=False)


def _sa_class(name: str) -> Any:
    cls = getattr(sa_aiosqlite, name, None)
    _require(isinstance(cls, type), "SQLAlchemy",
             f"sqlalchemy.dialects.sqlite.aiosqlite: no class {name}")
    return cls


def _accepts(package: str, owner: str, fn: Any, *args: Any, **kw: Any) -> None:
    name = getattr(fn, "__name__", repr(fn))
    try:
        inspect.signature(fn).bind(*args, **kw)
    except TypeError as exc:
        shown = ", ".join([*map(repr, args[1:]), *(f"{k}={v!r}" for k, v in kw.items())])
        pytest.fail(_changed(package, f"{owner}.{name}: it no longer accepts ({shown}): {exc}"),
                    pytrace=False)


# --- SQLAlchemy ---------------------------------------------------------------------------


def test_sqlalchemy_dbapi_class_can_be_subclassed_as_the_adapter_does() -> None:
    dbapi = _sa_class("AsyncAdapt_aiosqlite_dbapi")
    _accepts("SQLAlchemy", "AsyncAdapt_aiosqlite_dbapi", dbapi.__init__, None, aiosqlite, sqlite3)
    _require(callable(getattr(dbapi, "connect", None)), "SQLAlchemy",
             "AsyncAdapt_aiosqlite_dbapi: no method connect")
    _accepts("SQLAlchemy", "AsyncAdapt_aiosqlite_dbapi", dbapi.connect, None, "file.db",
             timeout=30.0, check_same_thread=False)


def test_sqlalchemy_connection_class_can_be_subclassed_as_the_adapter_does() -> None:
    conn = _sa_class("AsyncAdapt_aiosqlite_connection")
    _require(issubclass(conn, AdaptedConnection), "SQLAlchemy",
             "AsyncAdapt_aiosqlite_connection: no longer an AdaptedConnection "
             "(driver_connection, run_async)")
    _accepts("SQLAlchemy", "AsyncAdapt_aiosqlite_connection", conn.__init__, None, None, None)
    for name in ("cursor", "_handle_exception"):
        _require(callable(getattr(conn, name, None)), "SQLAlchemy",
                 f"AsyncAdapt_aiosqlite_connection: no method {name}")
    _accepts("SQLAlchemy", "AsyncAdapt_aiosqlite_connection", conn.cursor, None, server_side=True)
    _accepts("SQLAlchemy", "AsyncAdapt_aiosqlite_connection", conn._handle_exception, None,
             ValueError("x"))
    for name in ("driver_connection", "run_async"):  # public (AdaptedConnection), used as such
        _require(hasattr(conn, name), "SQLAlchemy",
                 f"AsyncAdapt_aiosqlite_connection: no attribute {name}")


def test_sqlalchemy_handle_exception_translates_a_closed_connection() -> None:
    """The adapter hands every error to `_handle_exception`, which must turn aiosqlite's
    ValueError for a closed connection into the sqlite3.OperationalError the dialect's
    is_disconnect() recognises, and pass database errors through unchanged."""
    dbapi = sa_aiosqlite.AsyncAdapt_aiosqlite_dbapi(aiosqlite, sqlite3)
    conn = sqlite_adapter.OneHopConnection(dbapi, object())
    with pytest.raises(Exception) as closed:
        conn._handle_exception(ValueError("no active connection"))
    _require(isinstance(closed.value, sqlite3.OperationalError), "SQLAlchemy",
             "AsyncAdapt_aiosqlite_connection._handle_exception: ValueError('no active "
             f"connection') became {closed.value!r}, not sqlite3.OperationalError")
    error = sqlite3.IntegrityError("UNIQUE constraint failed: t.k")
    with pytest.raises(Exception) as passed:
        conn._handle_exception(error)
    _require(passed.value is error, "SQLAlchemy",
             f"AsyncAdapt_aiosqlite_connection._handle_exception: {error!r} became "
             f"{passed.value!r}")


# What SQLAlchemy's own cursor has that the one-hop cursor deliberately does not: its
# implementation (slots, helpers). Anything else new on SQLAlchemy's cursor may be a method
# SQLAlchemy now calls on every adapted cursor, which OneHopCursor would then lack.
_SA_CURSOR_IMPLEMENTATION = {
    "_adapt_connection", "_connection", "_cursor", "_rows", "_soft_closed_memoized",
    "_awaitable_cursor_close", "_aenter_cursor", "_make_new_cursor", "_execute_async",
    "_executemany_async", "await_",
}


def test_sqlalchemy_cursor_has_nothing_the_one_hop_cursor_lacks() -> None:
    cursor = _sa_class("AsyncAdapt_aiosqlite_cursor")
    names = {n for klass in cursor.__mro__ if klass is not object for n in vars(klass)}
    names -= {"__slots__", "__module__", "__doc__", "__init__", "__dict__", "__weakref__",
              "__annotations__", "__qualname__", "__firstlineno__", "__static_attributes__",
              "__orig_bases__", "__parameters__", "__abstractmethods__", "_abc_impl"}
    lacking = sorted(n for n in names - _SA_CURSOR_IMPLEMENTATION
                     if not hasattr(sqlite_adapter.OneHopCursor, n))
    _require(not lacking, "SQLAlchemy",
             f"AsyncAdapt_aiosqlite_cursor: it now has {', '.join(lacking)}, which OneHopCursor "
             "lacks (add them, or list them in _SA_CURSOR_IMPLEMENTATION if SQLAlchemy never "
             "calls them on an adapted cursor)")
    _require(hasattr(cursor, "_async_soft_close"), "SQLAlchemy",
             "AsyncAdapt_aiosqlite_cursor: no method _async_soft_close (the hook "
             "sqlalchemy.ext.asyncio awaits after each statement; OneHopCursor provides it)")


# --- aiosqlite ----------------------------------------------------------------------------


def test_aiosqlite_connection_internals_exist() -> None:
    execute = getattr(aiosqlite.Connection, "_execute", None)
    _require(execute is not None and inspect.iscoroutinefunction(execute), "aiosqlite",
             "Connection: no coroutine method _execute(fn, *args)")
    assert execute is not None
    _accepts("aiosqlite", "Connection", execute, None, print, 1, 2)
    _require(isinstance(inspect.getattr_static(aiosqlite.Connection, "_conn", None), property),
             "aiosqlite", "Connection: no property _conn (the sqlite3 connection)")


async def test_aiosqlite_execute_runs_in_the_connections_thread_on_its_sqlite3_connection() -> None:
    conn = await aiosqlite.connect(":memory:")
    try:
        raw = conn._conn
        _require(isinstance(raw, sqlite3.Connection), "aiosqlite",
                 f"Connection._conn: it is {type(raw).__name__}, not sqlite3.Connection")
        where = await conn._execute(threading.get_ident)
        _require(where != threading.get_ident(), "aiosqlite",
                 "Connection._execute: it no longer runs the function in the connection's thread")
        total = await conn._execute(lambda a, b, *, c: a + b + c, 1, 2, c=3)
        _require(total == 6, "aiosqlite",
                 f"Connection._execute(fn, *args, **kw): fn(1, 2, c=3) gave {total!r}")
        await conn._execute(raw.execute, "CREATE TABLE t (v)")
        await conn.execute("INSERT INTO t VALUES (1)")  # the public API sees the same database
        rows = await conn._execute(lambda: raw.execute("SELECT v FROM t").fetchall())
        _require(rows == [(1,)], "aiosqlite",
                 f"Connection._conn: not the connection aiosqlite itself uses ({rows!r})")
    finally:
        await conn.close()
    try:
        gone = conn._conn
    except ValueError as exc:
        _require("no active connection" in str(exc), "aiosqlite",
                 f"Connection._conn after close(): ValueError({exc}), which SQLAlchemy does not "
                 "recognise as 'no active connection'")
    else:
        pytest.fail(_changed("aiosqlite", f"Connection._conn after close(): {gone!r}, no ValueError"),
                    pytrace=False)


# --- both, through the adapter ------------------------------------------------------------


async def test_the_adapter_round_trip(tmp_path: Path) -> None:
    """A real SQLite file through store.db's engine: write transactions run their statements
    in the event loop's thread, reads and BEGIN in the connection's; ORM sessions and Core
    `engine.begin()` both work, with rows, rowcount, lastrowid and errors."""
    versions = f"SQLAlchemy {version('SQLAlchemy')} / aiosqlite {version('aiosqlite')}"
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'internals.sqlite3'}")

    @event.listens_for(engine.sync_engine, "connect")
    def _probe(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.create_function("thread_id", 0, threading.get_ident)

    sessions, readers = make_sessionmaker(engine), make_readers(engine)
    loop_thread = threading.get_ident()
    soft_closed = 0
    real_soft_close = sqlite_adapter.OneHopCursor._async_soft_close

    async def counting_soft_close(self: Any) -> None:
        nonlocal soft_closed
        soft_closed += 1
        await real_soft_close(self)

    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(sqlite_adapter.OneHopCursor, "_async_soft_close", counting_soft_close)
            async with engine.connect() as conn:
                raw = await conn.get_raw_connection()
                adapted = raw.dbapi_connection
                _require(isinstance(adapted, sqlite_adapter.OneHopConnection), "SQLAlchemy",
                         f"create_async_engine(module=...): the pool holds {adapted!r}, "
                         "not the adapter's connection")
                assert adapted is not None
                _require(isinstance(adapted.driver_connection, aiosqlite.Connection), "SQLAlchemy",
                         "AdaptedConnection.driver_connection: not the aiosqlite connection")
            async with sessions.begin() as s:
                inline = (await s.execute(text("SELECT thread_id()"))).scalar_one()
                await s.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
                one: Any = await s.execute(text("INSERT INTO t (v) VALUES ('ก')"))
                assert one.lastrowid == 1, versions
                await s.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": "ข"}, {"v": "ค"}])
            assert inline == loop_thread, f"{versions}: a write statement ran in another thread"
            async with engine.begin() as conn:  # Core, outside the gate: AwaitRequired once
                changed = await conn.execute(text("UPDATE t SET v = v || '!' WHERE id > 1"))
                assert changed.rowcount == 2, versions
                assert (await conn.scalar(text("SELECT thread_id()"))) == loop_thread, versions
            async with readers() as s:
                assert (await s.execute(text("SELECT thread_id()"))).scalar_one() != loop_thread
                rows = (await s.execute(text("SELECT id, v FROM t ORDER BY id"))).all()
                assert [tuple(r) for r in rows] == [(1, "ก"), (2, "ข!"), (3, "ค!")], versions
            with pytest.raises(exc.IntegrityError):
                async with sessions.begin() as s:
                    await s.execute(text("INSERT INTO t (id, v) VALUES (1, 'dup')"))
            async with readers() as s:  # the connection is usable after an error
                assert (await s.execute(text("SELECT count(*) FROM t"))).scalar_one() == 3
        _require(soft_closed > 0, "SQLAlchemy",
                 "sqlalchemy.ext.asyncio: it no longer awaits cursor._async_soft_close() after a "
                 "statement (harmless for the adapter, but check what replaced it)")
    finally:
        await engine.dispose()


async def test_the_adapter_reports_a_closed_connection_as_a_disconnect(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'closed.sqlite3'}")
    try:
        async with engine.connect() as conn:
            raw = await conn.get_raw_connection()
            assert raw.dbapi_connection is not None
            await raw.dbapi_connection.driver_connection.close()
            with pytest.raises(exc.OperationalError, match="no active connection") as closed:
                await conn.exec_driver_sql("SELECT 1")
        _require(closed.value.connection_invalidated, "SQLAlchemy",
                 "the aiosqlite dialect: a statement on a closed aiosqlite connection, reported "
                 "through _handle_exception, is no longer seen as a disconnect")
    finally:
        await engine.dispose()


# --- aioimaplib (gateway/intake/aioimaplib_quiet.py) ------------------------------------------

QUIET = "gateway/intake/aioimaplib_quiet.py"


def _aioimaplib_changed(what: str) -> str:
    return f"aioimaplib {version('aioimaplib')} changed {what}; {QUIET} needs updating"


def _body(fn: Any) -> list[str]:
    """A function's statements as source lines, without its signature, comments or blanks."""
    import ast
    import textwrap

    node = ast.parse(textwrap.dedent(inspect.getsource(fn))).body[0]
    assert isinstance(node, ast.FunctionDef)
    return [ast.unparse(stmt) for stmt in node.body]


def test_aioimaplib_data_received_is_the_one_we_mirror() -> None:
    from aioimaplib import aioimaplib

    from gateway.intake.aioimaplib_quiet import QuietProtocol

    theirs = _body(aioimaplib.IMAP4ClientProtocol.data_received)
    ours = [line.replace("aioimaplib.IncompleteRead", "IncompleteRead")
            for line in _body(QuietProtocol.data_received)]
    # the only difference: their unconditional debug formatting, our guarded one
    if theirs[1:] != ours[1:] or "log.debug" not in theirs[0]:
        pytest.fail(_aioimaplib_changed("IMAP4ClientProtocol.data_received"), pytrace=False)
    for name in ("_handle_responses", "_handle_line"):
        if not callable(getattr(aioimaplib.IMAP4ClientProtocol, name, None)):
            pytest.fail(_aioimaplib_changed(f"IMAP4ClientProtocol: no method {name}"), pytrace=False)
    cmd_data = {"cmd", "data"} <= set(inspect.signature(aioimaplib.IncompleteRead).parameters)
    if not cmd_data:
        pytest.fail(_aioimaplib_changed("IncompleteRead(cmd, data)"), pytrace=False)


def test_aioimaplib_create_client_is_the_one_we_mirror() -> None:
    from aioimaplib import aioimaplib

    from gateway.intake.aioimaplib_quiet import QuietImap4Ssl

    theirs = [line.replace("get_running_loop()", "asyncio.get_running_loop()")
              .replace("IMAP4ClientProtocol(", "QuietProtocol(")
              for line in _body(aioimaplib.IMAP4.create_client)]
    if theirs != _body(QuietImap4Ssl.create_client):
        pytest.fail(_aioimaplib_changed("IMAP4.create_client"), pytrace=False)
    params = list(inspect.signature(aioimaplib.IMAP4_SSL.create_client).parameters)
    if params != ["self", "host", "port", "loop", "conn_lost_cb", "ssl_context"]:
        pytest.fail(_aioimaplib_changed(f"IMAP4_SSL.create_client{tuple(params)}"), pytrace=False)


# --- pyspf (gateway/trust/hooks.py) ---------------------------------------------------------


def test_pyspf_still_looks_names_up_through_its_module_level_dnslookup() -> None:
    """hooks.py replaces spf.DNSLookup(name, qtype, strict, timeout); pyspf must still call it
    by that name at lookup time, expect [((name, qtype), value)], and know TempError."""
    import spf

    from gateway.trust import hooks

    where = "gateway/trust/hooks.py needs updating"
    for name in ("DNSLookup", "TempError", "check2", "query"):
        if not hasattr(spf, name):
            pytest.fail(f"pyspf {version('pyspf')} changed: no spf.{name}; {where}", pytrace=False)
    _accepts("pyspf", "spf", spf.DNSLookup, "example.org", "TXT", True, 20)
    _accepts("pyspf", "spf", spf.check2, i="192.0.2.1", s="a@example.org", h="example.org",
             timeout=1.0, querytime=1.0)
    if "DNSLookup(" not in inspect.getsource(spf.query.dns):
        pytest.fail(f"pyspf {version('pyspf')} changed query.dns: it no longer calls the module's "
                    f"DNSLookup; {where}", pytrace=False)
    asked: list[tuple[str, str]] = []
    saved = spf.DNSLookup
    try:
        def fake(name: str, qtype: str, strict: object = True, timeout: object = None) -> list:
            asked.append((name, qtype))
            return [((name, qtype), (b"v=spf1 ip4:192.0.2.1 -all",))] if qtype == "TXT" else []

        spf.DNSLookup = fake
        assert spf.check2(i="192.0.2.1", s="a@example.org", h="example.org")[0] == "pass"
        assert ("example.org", "TXT") in asked
    finally:
        spf.DNSLookup = saved
    hooks.install()
    assert spf.DNSLookup is hooks.spf_lookup
    with pytest.raises(spf.TempError):  # no lookup of a message: never the system's resolver
        hooks.spf_lookup("example.org", "TXT")


def test_aioimaplib_protocol_keeps_its_transport_and_tells_a_lost_connection() -> None:
    """QuietImap4Ssl.abort closes `protocol.transport`; QuietProtocol.closed is set by
    `connection_lost` (both through aioimaplib's protocol, #23)."""
    import asyncio

    from gateway.intake.aioimaplib_quiet import QuietProtocol

    loop = asyncio.new_event_loop()
    try:
        protocol = QuietProtocol(loop)
        transport = object()
        protocol.connection_made(transport)  # type: ignore[arg-type]
        if protocol.transport is not transport:
            pytest.fail(_aioimaplib_changed("IMAP4ClientProtocol.connection_made: no .transport"), pytrace=False)
        protocol.connection_lost(None)
        assert protocol.closed.done() and protocol.closed.result() is None
    finally:
        loop.close()
