"""pytest plugin: real Dovecot and PostgreSQL servers, started lazily, stopped at session end.

Load it with ``pytest_plugins = ["tests.servers.plugin"]`` in tests/conftest.py (or
``-p tests.servers.plugin``).

Fixtures
--------
``tls_pki``          session  :class:`tests.servers.tls.TestPKI` (``ca_file``, ``cert_file``,
                              ``key_file``, ``chain_file``, ``client_context()``,
                              ``server_context()``) for 127.0.0.1 / localhost.
``dovecot``          session  a running :class:`tests.servers.dovecot.DovecotServer` with the users
                              in :data:`DOVECOT_USERS`.
``dovecot_user``     function a fresh :class:`MailAccount` (``user``, ``password``) on ``dovecot``
                              with an empty mailbox, for tests that must not share INBOX.
``postgres_server``  session  a running :class:`tests.servers.postgres.PostgresServer`.
``pg_url``           function ``postgresql+psycopg://postgres@127.0.0.1:PORT/<fresh db>``; the
                              database is dropped (WITH FORCE) after the test.

Servers start only when a test asks for them.  If a binary is missing the fixture FAILS (never
skips) and says to run ``scripts/install-system-deps.sh``.  Set ``SARABAN_TEST_KEEP_SERVER_DIRS=1``
to keep the servers' temp dirs (config, logs, maildirs, data dir) for debugging.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator
from typing import NamedTuple, TypeVar

import pytest

from . import ServerBinaryMissing, ServerStartError
from .dovecot import DovecotServer
from .postgres import PostgresServer
from .tls import TestPKI, make_test_pki

__all__ = [
    "DOVECOT_USERS",
    "THAI_PASSWORD",
    "THAI_USER",
    "MailAccount",
    "dovecot",
    "dovecot_user",
    "pg_url",
    "postgres_server",
    "tls_pki",
]

THAI_USER = "thai@agency.test"
THAI_PASSWORD = "รหัสผ่านสารบรรณ๒๕๖๘"  # UTF-8, includes Thai digits

DOVECOT_USERS: dict[str, str] = {
    "saraban@agency.test": "secret",
    "unit1@agency.test": "secret1",
    "unit2@agency.test": "secret2",
    THAI_USER: THAI_PASSWORD,
}


class MailAccount(NamedTuple):
    user: str
    password: str


_timings: dict[str, str] = {}


def _keep_dirs() -> bool:
    return os.environ.get("SARABAN_TEST_KEEP_SERVER_DIRS", "") not in ("", "0", "no", "false")


_S = TypeVar("_S", DovecotServer, PostgresServer)


def _missing(name: str, exc: Exception) -> str:
    return f"{name}: {exc} (integration tests need real servers; they are never skipped)"


def _create(name: str, factory: Callable[[], _S]) -> _S:
    """Create a server object; pytest.fail (never skip) if its binaries are missing."""
    try:
        return factory()
    except ServerBinaryMissing as exc:
        message = _missing(name, exc)
    pytest.fail(message, pytrace=False)  # outside the except: no chained traceback


def _start_server(name: str, server: _S) -> None:
    try:
        server.start()
        return
    except ServerBinaryMissing as exc:
        message = _missing(name, exc)
    except ServerStartError as exc:
        message = f"{name} did not start: {exc}"
    pytest.fail(message, pytrace=False)


@pytest.fixture(scope="session")
def tls_pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return make_test_pki(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def dovecot(request: pytest.FixtureRequest, tls_pki: TestPKI) -> Iterator[DovecotServer]:
    server = _create(
        "dovecot",
        lambda: DovecotServer(DOVECOT_USERS, pki=tls_pki, keep_base_dir=_keep_dirs()),
    )
    request.addfinalizer(server.stop)  # runs even if start() fails half-way
    _start_server("dovecot", server)
    _timings["dovecot"] = f"{server.startup_seconds:.3f}s"
    yield server


@pytest.fixture
def dovecot_user(dovecot: DovecotServer) -> Iterator[MailAccount]:
    user, password = dovecot.new_user()
    yield MailAccount(user, password)


@pytest.fixture(scope="session")
def postgres_server(request: pytest.FixtureRequest) -> Iterator[PostgresServer]:
    server = _create("postgres", lambda: PostgresServer(keep_base_dir=_keep_dirs()))
    request.addfinalizer(server.stop)
    _start_server("postgres", server)
    _timings["postgres"] = f"{server.startup_seconds:.3f}s (initdb {server.initdb_seconds:.3f}s)"
    yield server


def _db_name(nodename: str) -> str:
    stem = re.sub(r"[^a-z0-9]+", "_", nodename.lower()).strip("_")[:40]
    return f"t_{stem}_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def pg_url(request: pytest.FixtureRequest, postgres_server: PostgresServer) -> Iterator[str]:
    name = _db_name(request.node.name)
    url = postgres_server.create_database(name)
    yield url
    if postgres_server.running:
        postgres_server.drop_database(name)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:  # type: ignore[no-untyped-def]
    if _timings:
        parts = ", ".join(f"{k} {v}" for k, v in _timings.items())
        terminalreporter.write_line(f"test servers started: {parts}")
