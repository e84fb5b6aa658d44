"""No failure of ours reaches a sender as a 5xx or as its own text (issue 23): each row a failure.

A failure while a message is stored (a unique key another gateway process took a moment
before, a database away, a bug) must answer 451: the sending server keeps the message and
tries again, where a 5xx would bounce a letter that may be stored already. And the reply
carries none of the failure's text (database names, SQL, paths are not for a stranger).
The listener is real (aiosmtpd on 127.0.0.1, smtplib as the sender); the submission
server's DATA step is called as aiosmtpd calls it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import smtplib
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, ProgrammingError

from gateway.config import SubmissionUser
from gateway.errors import Transient
from gateway.intake.smtp import CentralMailboxHandler, start_listener
from gateway.intake.submission import SubmissionHandler
from tests.conftest import FakeClock, make_settings

SECRET = "raw_messages_source_key_key"  # what must never be shown: a marker in every failure


class _Orig(Exception):
    pass


# (name, the failure raised while storing, which of accept / vouch raises it)
FAILURES: list[tuple[str, BaseException, str]] = [
    ("unique key taken by another process", IntegrityError(
        "INSERT INTO raw_messages", {}, _Orig(f'duplicate key value violates "{SECRET}"')), "accept"),
    ("database away", OperationalError("SELECT 1", {}, _Orig(f"connection refused {SECRET}")), "accept"),
    ("bad SQL", ProgrammingError("SELECT", {}, _Orig(f"syntax error {SECRET}")), "accept"),
    ("any driver error", DBAPIError("SELECT", {}, _Orig(SECRET)), "accept"),
    ("transient", Transient(f"store busy {SECRET}"), "accept"),
    ("full disk", OSError(28, f"No space left on device: /data/{SECRET}"), "accept"),
    ("timeout", TimeoutError(SECRET), "accept"),
    ("a bug: KeyError", KeyError(SECRET), "accept"),
    ("a bug: AttributeError", AttributeError(SECRET), "accept"),
    ("a bug: assertion", AssertionError(SECRET), "accept"),
    ("a bug: RuntimeError", RuntimeError(SECRET), "accept"),
    ("sender check fails", RuntimeError(SECRET), "vouch"),
    ("sender check times out", TimeoutError(SECRET), "vouch"),
]


def _raising(exc: BaseException):  # type: ignore[no-untyped-def]
    async def fail(*_args: object, **_kw: object) -> int:
        raise exc
    return fail


async def _ok(data: bytes, *_a: object, **_kw: object) -> bytes:
    return data


def _send(port: int) -> tuple[int, str]:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo("mx.example.test")
        client.mail("saraban@obec.go.th")
        client.rcpt("saraban@agency.test")
        try:
            code, text = client.data(b"Subject: test\r\n\r\nbody\r\n")
        except smtplib.SMTPDataError as exc:
            code, text = exc.smtp_code, exc.smtp_error
    return code, text.decode("utf-8", "replace")


def _check(code: int, reply: str) -> None:
    assert code == 451, reply
    assert SECRET not in reply and "Error" not in reply and "sql" not in reply.lower(), reply


@pytest.mark.parametrize(("name", "exc", "where"), FAILURES, ids=[r[0] for r in FAILURES])
async def test_listener_answers_451_without_the_failure(name: str, exc: BaseException, where: str) -> None:
    accept = _raising(exc) if where == "accept" else _raising(AssertionError("not reached"))
    vouch = _raising(exc) if where == "vouch" else _ok
    handler = CentralMailboxHandler(("saraban@agency.test",), accept, vouch)
    server = await start_listener(handler, host="127.0.0.1", port=0, hostname="gw.test",
                                  data_size_limit=1 << 20)
    try:
        port = server.sockets[0].getsockname()[1]
        _check(*await asyncio.to_thread(_send, port))
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(("name", "exc", "where"), [r for r in FAILURES if r[2] == "accept"],
                         ids=[r[0] for r in FAILURES if r[2] == "accept"])
async def test_submission_answers_451_without_the_failure(tmp_path: Path, name: str,
                                                          exc: BaseException, where: str) -> None:
    handler = SubmissionHandler(make_settings(tmp_path), _raising(exc), clock=FakeClock(dt.datetime(2026, 11, 22, 3, 0, tzinfo=dt.UTC)),
                                store=None)  # type: ignore[arg-type]
    user = SubmissionUser(name="saraban@agency.test", password_hash=f"scrypt$16384$8$1${'A' * 44}${'A' * 44}")
    session = SimpleNamespace(auth_data=user)
    envelope = SimpleNamespace(original_content=b"Subject: x\r\n\r\nbody\r\n", mail_from="saraban@agency.test",
                               rcpt_tos=["school@example.test"])
    reply = await handler.handle_DATA(None, session, envelope)  # type: ignore[arg-type]
    _check(int(reply[:3]), reply)
