"""The submission lockout is per (login name, client address), kept in the store (issue 18, finding 7).

It used to count failures per client address, in memory: a restart lifted every lockout, and
one office behind a NAT address was locked out entirely by one clerk's typos. Each scenario is
one row: a list of steps against the real submission server (STARTTLS + AUTH over 127.0.0.x),
where a step is a login attempt with the reply it must get, a restart (a new server on the
same store), or the injected clock moving on.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiosmtplib
import pytest
from sqlalchemy import select

from gateway.app import open_store
from gateway.intake.submission import start_submission
from gateway.passwords import hash_password
from gateway.store import audit
from gateway.store.handle import Store
from gateway.store.tables import AuditEntry, LoginFailure
from tests.conftest import FakeClock, make_settings
from tests.servers.tls import TestPKI

pytestmark = pytest.mark.integration

A, B, NOBODY = "saraban@agency.test", "hr@agency.test", "nobody@agency.test"
PASSWORDS = {A: "correct horse battery", B: "รหัสผ่านงานบุคคล๒๕๖๙", NOBODY: "x"}
OFFICE, HOME = "127.0.0.1", "127.0.0.2"  # an office NAT address, and somewhere else
LIMIT, WINDOW = 3, 15


def fail(who: str = A, ip: str = OFFICE, code: int = 535) -> tuple[str, str, str, bool, int]:
    return ("login", who, ip, False, code)


def ok(who: str = A, ip: str = OFFICE) -> tuple[str, str, str, bool, int]:
    return ("login", who, ip, True, 235)


def locked(who: str = A, ip: str = OFFICE) -> tuple[str, str, str, bool, int]:
    return ("login", who, ip, True, 454)  # even with the right password


RESTART = ("restart",)


def wait(minutes: int, seconds: int = 0) -> tuple[str, int, int]:
    return ("wait", minutes, seconds)


# (what happens, the steps)
SCENARIOS = [
    ("three failures lock the pair out", [fail(), fail(), fail(), locked()]),
    ("a restart keeps the lockout", [fail(), fail(), fail(), RESTART, locked()]),
    ("another clerk behind the same address is not locked out",
     [fail(), fail(), fail(), ok(B), locked()]),
    ("the same clerk from another address is not locked out",
     [fail(), fail(), fail(), ok(A, HOME), locked()]),
    ("an unknown name locks out only itself",
     [fail(NOBODY), fail(NOBODY), fail(NOBODY), locked(NOBODY), ok()]),
    ("past the window the clerk logs in again, restart or not",
     [fail(), fail(), fail(), RESTART, wait(WINDOW - 1, 59), locked(), wait(0, 1), ok()]),
    ("the lockout lasts a window from the failure that caused it",
     [fail(), wait(10), fail(), fail(), wait(WINDOW - 1), locked(), wait(1), ok()]),
    ("failures spread wider than the window do not add up",
     [fail(), wait(8), fail(), wait(8), fail(), ok()]),
    ("a success forgets earlier failures", [fail(), fail(), ok(), fail(), fail(), ok()]),
    ("refused attempts while locked out are not counted (the lock does not grow)",
     [fail(), fail(), fail(), wait(10), locked(), locked(), wait(5), ok()]),
]


@dataclass
class Site:
    tmp: Path
    pki: TestPKI
    clock: FakeClock
    store: Store
    server: asyncio.Server | None = None

    async def start(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        users = [{"name": n, "password_hash": hash_password(p)} for n, p in PASSWORDS.items()
                 if n != NOBODY]
        settings = make_settings(self.tmp, submission={
            "host": "127.0.0.1", "port": 0, "users": users, "max_failed_logins": LIMIT,
            "lockout_minutes": WINDOW, "cert_file": str(self.pki.cert_file),
            "key_file": str(self.pki.key_file)})

        async def submit(raw: bytes, frm: str, rcpts: list[str], user: str) -> int:
            return 1

        self.server = await start_submission(settings, submit, clock=self.clock, store=self.store)

    async def login(self, who: str, ip: str, right: bool) -> int:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        c = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=5,
                            tls_context=self.pki.client_context(), source_address=(ip, 0))
        await c.connect()
        await c.ehlo()
        await c.starttls()
        await c.ehlo()
        try:
            return (await c.auth_plain(who, PASSWORDS[who] if right else "guess")).code
        except aiosmtplib.SMTPAuthenticationError as e:
            assert e.code != 454 or "เข้าสู่ระบบผิดเกินกำหนด" in e.message
            return e.code
        finally:
            await c.quit()


@pytest.fixture
async def site(tmp_path: Path, tls_pki: TestPKI, db_url: str) -> AsyncIterator[Site]:
    clock = FakeClock(dt.datetime(2026, 11, 22, 3, 0, tzinfo=dt.UTC))
    store = await open_store(make_settings(tmp_path, db_url), upgrade=True, clock=clock)
    s = Site(tmp_path, tls_pki, clock, store)
    await s.start()
    yield s
    if s.server is not None:
        s.server.close()
        await s.server.wait_closed()
    await store.close()


@pytest.mark.parametrize(("scenario", "steps"), SCENARIOS, ids=[s for s, _ in SCENARIOS])
async def test_lockout_per_name_and_address(site: Site, scenario: str, steps: list[tuple]) -> None:
    for n, step in enumerate(steps):
        if step[0] == "restart":
            await site.start()
        elif step[0] == "wait":
            site.clock.advance(minutes=step[1], seconds=step[2])
        else:
            _, who, ip, right, code = step
            assert await site.login(who, ip, right) == code, f"step {n}: {step}"


async def test_a_lockout_is_audited_and_the_failures_are_rows(site: Site) -> None:
    for _ in range(LIMIT):
        assert await site.login(A, OFFICE, False) == 535
    async with site.store.sessions() as s:
        rows = (await s.execute(select(LoginFailure))).scalars().all()
        entries = (await s.execute(
            select(AuditEntry).where(AuditEntry.action == "login.locked_out"))).scalars().all()
        assert (await audit.verify(s)).ok
    assert {(r.username, r.client_ip) for r in rows} == {(A, OFFICE)} and len(rows) == LIMIT
    (entry,) = entries
    assert entry.subject_id == A and json.loads(entry.details)["client_ip"] == OFFICE
    # a success clears the pair's rows; old rows of others are pruned with the next failure
    site.clock.advance(minutes=WINDOW)
    assert await site.login(A, OFFICE, True) == 235
    site.clock.advance(minutes=2 * WINDOW)
    assert await site.login(B, HOME, False) == 535
    async with site.store.sessions() as s:
        left = (await s.execute(select(LoginFailure))).scalars().all()
    assert [(r.username, r.client_ip) for r in left] == [(B, HOME)]
