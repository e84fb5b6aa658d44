"""Reconnecting after outages (#23): the schedule, a log that does not flood, which database
errors are an outage, the unit of work run again, and a lost IMAP connection noticed at once.

The real outages (Dovecot, PostgreSQL, a relay stopped and started) are
tests/integration/test_recovery.py; these pin the rules without waiting for anything.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3
import ssl
from types import SimpleNamespace
from typing import Any

import psycopg
import psycopg.errors
import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from gateway.intake.imap import _away
from gateway.intake.imap_client import ImapClient, MailboxLost
from gateway.ports import ImapFailure
from gateway.reconnect import Outage
from gateway.store.db import is_disconnect, retrying


@pytest.mark.parametrize(("away", "bases"), [
    (True, [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]),  # the server is away: capped at 3 s
    (False, [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]),  # it answers NO: up to a minute
])
def test_the_schedule_is_short_while_the_server_is_away_with_jitter_on_top(away: bool, bases: list[float]) -> None:
    outage = Outage("IMAP x", rng=random.Random(7))
    for base in bases:
        delay = outage.failed(OSError("refused"), away=away, now=0.0)
        assert base <= delay <= base * 1.25


def test_the_jitter_differs_between_gateways() -> None:
    a, b = Outage("a", rng=random.Random(1)), Outage("b", rng=random.Random(2))
    assert a.failed("x", away=True, now=0.0) != b.failed("x", away=True, now=0.0)


def test_an_outage_is_logged_when_noticed_once_a_minute_and_when_over(caplog: pytest.LogCaptureFixture) -> None:
    outage = Outage("IMAP central")
    with caplog.at_level(logging.DEBUG, logger="gateway.reconnect"):
        for second in range(0, 120):  # an attempt every second for two minutes
            outage.failed(OSError("refused"), away=True, now=float(second))
        outage.over(now=121.0)
        outage.failed(OSError("refused"), away=True, now=130.0)  # a new outage is told again
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert len(warnings) == 3, warnings  # noticed, a minute on, the next outage
    assert "still failing after 61 attempts" in warnings[1]
    assert infos == ["IMAP central: working again after 121.0 s (120 attempts)"]
    assert outage.delay(away=True) < 0.5 * 1.25 + 1e-9  # the schedule starts again


def _pg(orig: Exception, *, invalidated: bool = False, cls: type[DBAPIError] = OperationalError) -> DBAPIError:
    return cls("SELECT 1", {}, orig, connection_invalidated=invalidated)


@pytest.mark.parametrize(("error", "disconnect"), [
    (_pg(psycopg.OperationalError("connection refused")), True),  # no SQLSTATE: could not connect
    (_pg(psycopg.errors.AdminShutdown("terminating connection")), True),  # 57P01
    (_pg(psycopg.errors.CannotConnectNow("the database system is starting up")), True),  # 57P03
    (_pg(psycopg.errors.UniqueViolation("duplicate key"), cls=IntegrityError), False),
    (_pg(psycopg.errors.QueryCanceled("statement timeout")), False),  # 57014: not a restart
    (_pg(sqlite3.OperationalError("database or disk is full")), False),  # SQLite: never
    (_pg(sqlite3.OperationalError("database is locked")), False),
    (_pg(RuntimeError("whatever"), invalidated=True), True),  # SQLAlchemy's own verdict
    (ValueError("not a database error"), False),
])
def test_which_errors_say_the_database_server_went_away(error: BaseException, disconnect: bool) -> None:
    assert is_disconnect(error) is disconnect


async def test_the_unit_of_work_is_run_again_while_the_database_is_away() -> None:
    calls, pauses = [], []

    async def unit() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise _pg(psycopg.OperationalError("connection refused"))
        return "done"

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    assert await retrying(unit, delays=(0.2, 0.5, 1.0), sleep=sleep) == "done"
    assert len(calls) == 3 and len(pauses) == 2 and 0.2 <= pauses[0] <= 0.25


async def test_the_unit_of_work_is_not_run_again_for_other_errors_nor_for_ever() -> None:
    calls: list[int] = []

    async def duplicate() -> None:
        calls.append(1)
        raise _pg(psycopg.errors.UniqueViolation("duplicate key"), cls=IntegrityError)

    async def away() -> None:
        calls.append(1)
        raise _pg(psycopg.OperationalError("connection refused"))

    async def sleep(seconds: float) -> None:
        pass

    with pytest.raises(IntegrityError):
        await retrying(duplicate, sleep=sleep)
    assert len(calls) == 1
    calls.clear()
    with pytest.raises(OperationalError):
        await retrying(away, delays=(0.1, 0.1), sleep=sleep)
    assert len(calls) == 3  # the first try and two more


@pytest.mark.parametrize(("error", "away"), [
    (MailboxLost("IDLE: connection lost"), True),
    (ConnectionRefusedError(111, "refused"), True),
    (TimeoutError(), True),
    (ImapFailure("LOGIN: NO [AUTHENTICATIONFAILED]"), False),  # it answers: no hammering
    (ssl.SSLCertVerificationError("bad certificate"), False),  # a wrong CA is no outage
    (_pg(psycopg.OperationalError("connection refused")), True),
    (_pg(psycopg.errors.UniqueViolation("duplicate key"), cls=IntegrityError), None),  # a bug: raised
    (ValueError("a bug"), None),
])
def test_the_watcher_tells_an_outage_from_a_refusal_and_from_a_bug(error: BaseException, away: bool | None) -> None:
    assert _away(error) is away


class _Pending:
    """An aioimaplib client whose every command waits for ever, as on a closed connection."""

    def __init__(self) -> None:
        self.protocol = SimpleNamespace(closed=asyncio.get_running_loop().create_future())

    async def select(self, mailbox: str) -> Any:
        await asyncio.Event().wait()


async def test_a_command_fails_the_moment_the_connection_is_lost() -> None:
    client = ImapClient(SimpleNamespace(), "secret", ssl.create_default_context(), timeout=3600)  # type: ignore[arg-type]
    client.client = _Pending()
    asyncio.get_running_loop().call_soon(client.client.protocol.closed.set_result, None)
    with pytest.raises(MailboxLost, match="SELECT INBOX: connection lost"):
        await client.select("INBOX")  # not after the hour of its timeout
