"""Shared fixtures: a migrated store on SQLite and on a real PostgreSQL (tests/servers)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from gateway.config import Settings, parse_settings
from tests.dnsserver import DnsServer, quiet_dns

pytest_plugins = ["tests.servers.plugin", "tests.pdfgen.fixtures"]

REPO = Path(__file__).resolve().parents[1]


def make_settings(tmp: Path, database_url: str = "", **overrides: object) -> Settings:
    data: dict[str, object] = {
        "agency": {
            "name_th": "สำนักงานทดสอบ",
            "letter_code": "ศธ 04183",
            "latin_code": "TEST04183",
            "central_addresses": ["saraban@agency.test"],
        },
        "storage": {"data_dir": str(tmp / "data"), "database_url": database_url},
        "smtp_listener": {"port": 0},
        "units": [
            {"code": "admin", "name_th": "กลุ่มอำนวยการ", "emails": ["admin@agency.test"]},
            {"code": "hr", "name_th": "กลุ่มบริหารงานบุคคล", "emails": ["hr@agency.test"],
             "own_register": True},
        ],
    }
    data.update(overrides)
    # Sender authentication asks an in-process DNS server (empty unless a test gives its own):
    # never the real internet.
    data["authentication"] = {"dns_servers": [quiet_dns()], **data.get("authentication", {})}  # type: ignore[dict-item]
    # Scheduled work that depends on the hour of the day is off unless a test asks for it (and
    # then sets the clock): a gateway started at 16:31 Bangkok must not slip a digest in.
    data.setdefault("forwarding", {})
    # The health endpoint on a port of the system's choosing: gateways run side by side in tests.
    data.setdefault("health", {"listen": "127.0.0.1:0"})
    data["forwarding"] = {"digest": False, **data["forwarding"]}  # type: ignore[dict-item]
    return parse_settings(data, base_dir=tmp)


def central_mailbox_settings(tmp: Path, server: object, user: str, *,
                             password_env: str = "SARABAN_TEST_IMAP_PASSWORD",
                             poll_seconds: int | None = None, **overrides: object) -> Settings:
    """An agency whose central mailbox is `user` on the test Dovecot `server`, watched over
    IMAPS on 127.0.0.1, with no SMTP listener; `overrides` as for make_settings."""
    mailbox: dict[str, object] = {
        "name": "central", "host": "127.0.0.1", "port": server.imaps_port,  # type: ignore[attr-defined]
        "user": user, "password_env": password_env,
        "ca_file": str(server.ca_file),  # type: ignore[attr-defined]
    }
    if poll_seconds is not None:
        mailbox["poll_seconds"] = poll_seconds
    return make_settings(
        tmp,
        agency={"name_th": "สำนักงานทดสอบ", "letter_code": "ศธ 04183", "latin_code": "TEST04183",
                "central_addresses": [user]},
        imap=[mailbox],
        smtp_listener={"enabled": False},
        **overrides,
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same store tests run on both databases."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'store.sqlite3'}"
    return str(request.getfixturevalue("pg_url"))


class FakeClock:
    """A clock a test can move; the store never reads the real time itself."""

    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += dt.timedelta(**kw)


class TickingClock:
    """A clock that starts at a set instant and ticks on with the monotonic clock: for tests
    that run a whole gateway (timeouts and retries need time to pass) but assert dates."""

    def __init__(self, start: dt.datetime = dt.datetime(2026, 11, 22, 3, 0, tzinfo=dt.UTC)) -> None:
        self.start, self.t0 = start, time.monotonic()

    def __call__(self) -> dt.datetime:
        return self.start + dt.timedelta(seconds=time.monotonic() - self.t0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(dt.datetime(2026, 11, 22, 3, 0, tzinfo=dt.UTC))


@pytest.fixture
async def store(tmp_path: Path, db_url: str, clock: FakeClock) -> AsyncIterator[object]:
    from gateway.app import opened_store

    async with opened_store(make_settings(tmp_path, db_url), upgrade=True, clock=clock) as s:
        yield s


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    """A DNS server of the test's own (tests/dnsserver.py), zone empty until the test adds."""
    with DnsServer() as server:
        yield server


SettingsFactory = Callable[..., Settings]


async def add_to_directory(store: object, *addresses: str) -> None:
    """Senders the agency directory knows (what `directory import` does): they are not
    strangers, so automatic mail (acknowledgements, notices) may go to them (issue 18)."""
    from gateway.directory import AgencyRecord
    from gateway.store.directory import import_agencies

    records = [AgencyRecord(f"หน่วยงาน {a.partition('@')[2]}", "", "", a.lower(), "") for a in addresses]
    async with store.sessions.begin() as s:  # type: ignore[attr-defined]
        await import_agencies(s, records, now=store.clock(), actor="test")  # type: ignore[attr-defined]


def kept_as_received(stored: bytes, raw: bytes) -> bool:
    """The stored bytes are the message as it came, whole: byte for byte, or under the trace
    header the gateway writes on arrival (its Authentication-Results, issue #18) and nothing else."""
    if stored == raw:
        return True
    head = stored[: len(stored) - len(raw)]
    return stored.endswith(raw) and head.startswith(b"Authentication-Results:") and \
        head.count(b"\nAuthentication-Results:") == 0 and b"\n\n" not in head.replace(b"\r\n", b"\n")
