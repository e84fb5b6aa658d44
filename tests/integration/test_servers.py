"""The throwaway servers of tests/servers really work (and the traps noted in the docs hold).

Run: .venv/bin/pytest tests/integration/test_servers.py -q -p tests.servers.plugin
"""

from __future__ import annotations

import asyncio
import imaplib
import re
import time
import uuid
from pathlib import Path

import pytest
from aioimaplib import aioimaplib

from tests.servers import alive, process_tree
from tests.servers.dovecot import DovecotServer, mutf7_decode, mutf7_encode
from tests.servers.plugin import DOVECOT_USERS, THAI_PASSWORD, THAI_USER, MailAccount
from tests.servers.postgres import PostgresServer

pytestmark = pytest.mark.integration

T = 10.0  # upper bound for any single network step


def make_message(
    subject: str = "ทดสอบ", body: str = "เรียน ผู้อำนวยการ\r\nขอส่งหนังสือ\r\n"
) -> tuple[bytes, str]:
    msgid = f"<{uuid.uuid4().hex}@agency.test>"
    raw = (
        "From: =?utf-8?b?4Liq4Liy4Lij4Lia4Lij4Lij4LiT?= <sender@example.test>\r\n"
        "To: saraban@agency.test\r\n"
        f"Subject: {subject}\r\n"
        f"Message-ID: {msgid}\r\n"
        "Date: Mon, 06 Jan 2025 09:30:00 +0700\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
        f"{body}"
    ).encode()
    return raw, msgid


async def imap_login(dovecot: DovecotServer, user: str, password: str) -> aioimaplib.IMAP4_SSL:
    client = aioimaplib.IMAP4_SSL(
        host=dovecot.host, port=dovecot.imaps_port, ssl_context=dovecot.ssl_context(), timeout=T
    )
    await client.wait_hello_from_server()
    # aioimaplib quotes the password but not the user: fine for user@agency.test.
    resp = await client.login(user, password)
    assert resp.result == "OK", resp
    return client


async def logout(client: aioimaplib.IMAP4_SSL) -> None:
    try:
        await asyncio.wait_for(client.logout(), T)
    except (TimeoutError, aioimaplib.Abort):
        pass


def literal_of(resp: aioimaplib.Response) -> bytes:
    """The (single) literal of a FETCH response: aioimaplib returns it as a bytearray line."""
    literals = [bytes(line) for line in resp.lines if isinstance(line, bytearray)]
    assert len(literals) == 1, resp.lines
    return literals[0]


async def uid_search(client: aioimaplib.IMAP4_SSL, *criteria: str) -> list[int]:
    resp = await client.uid_search(*criteria)
    assert resp.result == "OK", resp
    return [int(x) for x in resp.lines[0].split()]


# ------------------------------------------------------------------ Dovecot


def test_dovecot_attributes(dovecot: DovecotServer) -> None:
    assert dovecot.host == "127.0.0.1"
    ports = {dovecot.imap_port, dovecot.imaps_port, dovecot.lmtp_port}
    assert len(ports) == 3 and all(p > 0 for p in ports)
    assert dovecot.ca_file is not None and Path(dovecot.ca_file).is_file()
    assert dovecot.conf.is_file() and dovecot.base_dir.is_dir()
    assert dovecot.users["saraban@agency.test"] == "secret"
    assert dovecot.users["unit1@agency.test"] == "secret1"
    assert dovecot.running


async def test_imaps_login_every_user_including_thai_password(dovecot: DovecotServer) -> None:
    for user, password in DOVECOT_USERS.items():
        client = await imap_login(dovecot, user, password)
        await logout(client)
    assert any(ord(c) > 127 for c in THAI_PASSWORD)
    # The wrong password is refused (auth_failure_delay = 0 keeps this fast).
    client = aioimaplib.IMAP4_SSL(
        host=dovecot.host, port=dovecot.imaps_port, ssl_context=dovecot.ssl_context(), timeout=T
    )
    await client.wait_hello_from_server()
    t0 = time.monotonic()
    resp = await client.login(THAI_USER, THAI_PASSWORD + "x")
    assert resp.result == "NO"
    assert time.monotonic() - t0 < 1.5
    await logout(client)
    # ... and does not slow down later logins from 127.0.0.1 (no anvil auth penalty).
    t0 = time.monotonic()
    await logout(await imap_login(dovecot, THAI_USER, THAI_PASSWORD))
    assert time.monotonic() - t0 < 1.5


def test_plain_port_offers_starttls(dovecot: DovecotServer) -> None:
    # aioimaplib has no STARTTLS; the stdlib client checks the plain port does.
    with imaplib.IMAP4(dovecot.host, dovecot.imap_port, timeout=T) as imap:
        assert "STARTTLS" in imap.capabilities
        imap.starttls(ssl_context=dovecot.ssl_context())
        typ, _ = imap.login("unit1@agency.test", "secret1")
        assert typ == "OK"
        imap.logout()


async def test_append_then_uid_search_fetch_byte_identical(
    dovecot: DovecotServer, dovecot_user: MailAccount
) -> None:
    raw, msgid = make_message()
    client = await imap_login(dovecot, *dovecot_user)
    try:
        resp = await client.append(raw, mailbox="INBOX", flags=r"(\Seen)")
        assert resp.result == "OK", resp
        assert b"APPENDUID" in resp.lines[-1]  # UIDPLUS
        assert (await client.select("INBOX")).result == "OK"
        uids = await uid_search(client, "HEADER", "Message-ID", f'"{msgid}"')
        assert len(uids) == 1
        fetched = await client.uid("fetch", str(uids[0]), "(UID BODY.PEEK[])")
        assert fetched.result == "OK", fetched
        assert literal_of(fetched) == raw
    finally:
        await logout(client)
    assert dovecot.message_count(dovecot_user.user) == 1


async def test_lmtp_delivery_is_seen_over_imap(
    dovecot: DovecotServer, dovecot_user: MailAccount
) -> None:
    raw, msgid = make_message(subject="lmtp")
    t0 = time.monotonic()
    dovecot.deliver(dovecot_user.user, raw)
    lmtp_seconds = time.monotonic() - t0
    assert dovecot.message_count(dovecot_user.user) == 1
    client = await imap_login(dovecot, *dovecot_user)
    try:
        await client.select("INBOX")
        uids = await uid_search(client, "HEADER", "Message-ID", f'"{msgid}"')
        assert len(uids) == 1
        fetched = literal_of(await client.uid("fetch", str(uids[0]), "BODY.PEEK[]"))
        # LMTP prepends Return-Path / Delivered-To / Received; the rest is byte-identical.
        assert fetched.endswith(raw)
        assert b"Delivered-To: " + dovecot_user.user.encode() in fetched[: -len(raw)]
    finally:
        await logout(client)
    assert lmtp_seconds < 2.0


async def test_lmtp_delivery_to_shared_saraban_mailbox(dovecot: DovecotServer) -> None:
    before = dovecot.message_count("saraban@agency.test")
    dovecot.deliver(["saraban@agency.test", "unit1@agency.test"], make_message()[0])
    assert dovecot.message_count("saraban@agency.test") == before + 1
    assert dovecot.message_count("unit1@agency.test") >= 1


async def test_idle_push_after_other_clients_append(
    dovecot: DovecotServer, dovecot_user: MailAccount
) -> None:
    watcher = await imap_login(dovecot, *dovecot_user)
    writer = await imap_login(dovecot, *dovecot_user)
    try:
        assert (await watcher.select("INBOX")).result == "OK"
        idle = await asyncio.wait_for(watcher.idle_start(timeout=60), T)
        t0 = time.monotonic()
        assert (await writer.append(make_message()[0], mailbox="INBOX")).result == "OK"

        async def wait_exists() -> list[bytes]:
            while True:
                push = await watcher.wait_server_push()
                if (
                    push is aioimaplib.STOP_WAIT_SERVER_PUSH
                    or push == aioimaplib.STOP_WAIT_SERVER_PUSH
                ):
                    raise AssertionError("IDLE stopped before a push arrived")
                lines = [bytes(x) for x in push] if isinstance(push, list) else [bytes(push)]
                if any(line.endswith(b"EXISTS") for line in lines):
                    return lines
                # e.g. b"OK Still here" keepalives: keep waiting

        lines = await asyncio.wait_for(wait_exists(), 3.0)
        latency = time.monotonic() - t0
        assert any(re.fullmatch(rb"1 EXISTS", line) for line in lines), lines
        watcher.idle_done()
        done = await asyncio.wait_for(idle, T)
        assert done.result == "OK", done
        # After IDLE ends, normal commands work again.
        assert await uid_search(watcher, "ALL")
    finally:
        await logout(writer)
        await logout(watcher)
    assert latency < 3.0


async def test_thai_mailbox_names_in_modified_utf7(
    dovecot: DovecotServer, dovecot_user: MailAccount
) -> None:
    # Known vector from RFC 3501 section 5.1.3 and a round trip.
    assert mutf7_encode("~peter/mail/台北/日本語") == "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
    assert mutf7_encode("A&B") == "A&-B"
    thai = "หนังสือรับ ๒๕๖๘"
    assert mutf7_decode(mutf7_encode(thai)) == thai

    # Created by doveadm (UTF-8 in, mUTF-7 on the wire) ...
    wire = dovecot.create_mailbox(dovecot_user.user, thai)
    assert wire.isascii() and wire.startswith("&")
    # ... and one created over IMAP (name sent in mUTF-7, quoted: no UTF8=ACCEPT).
    thai2 = "หนังสือส่ง"
    client = await imap_login(dovecot, *dovecot_user)
    try:
        assert "UTF8=ACCEPT" not in client.protocol.capabilities
        assert (await client.create(f'"{mutf7_encode(thai2)}"')).result == "OK"
        resp = await client.list('""', "*")
        assert resp.result == "OK", resp
        names = []
        for line in resp.lines:
            m = re.match(rb'\(.*?\) (?:"[^"]*"|NIL) (.*)$', bytes(line))
            if m:
                names.append(m.group(1).decode("ascii").strip('"'))
        assert wire in names, names
        assert mutf7_encode(thai2) in names, names
        assert {mutf7_decode(n) for n in names} >= {"INBOX", thai, thai2}
        st = await client.select(f'"{wire}"')
        assert st.result == "OK", st
    finally:
        await logout(client)
    assert set(dovecot.list_mailboxes(dovecot_user.user)) >= {"INBOX", thai, thai2}
    assert dovecot.message_count(dovecot_user.user, thai) == 0


def test_dovecot_add_user_and_reset(dovecot: DovecotServer) -> None:
    user, _password = dovecot.new_user("reset")
    dovecot.deliver(user, make_message()[0])
    dovecot.create_mailbox(user, "ชั่วคราว")
    assert dovecot.message_count(user) == 1
    dovecot.reset_user(user)
    assert dovecot.message_count(user) == 0
    assert "ชั่วคราว" not in dovecot.list_mailboxes(user)


def test_separate_dovecot_stops_cleanly() -> None:
    with DovecotServer({"x@agency.test": "ลับ"}) as dc:
        base = dc.base_dir
        assert dc.doveadm("auth", "test", "x@agency.test", "ลับ").returncode == 0
        tree = process_tree(dc.pid or 0)
        assert len(tree) >= 2  # master + its services (auth, log, config, ...)
    assert not base.exists()
    assert not dc.running
    # (an orphaned child may linger as a zombie until PID 1 reaps it: that is not alive)
    survivors = [pid for pid, start in tree if alive(pid, start)]
    assert not survivors, f"dovecot processes survived stop(): {survivors}"


# ------------------------------------------------------------------ PostgreSQL


async def test_postgres_async_engine_query(pg_url: str, postgres_server: PostgresServer) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    assert pg_url.startswith(f"postgresql+psycopg://postgres@127.0.0.1:{postgres_server.port}/")
    engine = create_async_engine(pg_url)
    try:
        async with engine.begin() as conn:
            row = (await conn.execute(text("SELECT current_database(), version(), 1 + 1"))).one()
            assert row[0] == pg_url.rsplit("/", 1)[1]
            assert row[1].startswith("PostgreSQL")
            assert row[2] == 2
            await conn.execute(text("CREATE TABLE t (id int PRIMARY KEY, subject text)"))
            await conn.execute(text("INSERT INTO t VALUES (1, :s)"), {"s": "เรื่อง ขอความอนุเคราะห์"})
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT subject FROM t"))).scalar_one() == (
                "เรื่อง ขอความอนุเคราะห์"
            )
            assert (await conn.execute(text("SHOW server_encoding"))).scalar_one() == "UTF8"
    finally:
        await engine.dispose()


@pytest.mark.parametrize("run", [1, 2])
async def test_pg_url_is_a_fresh_database_each_time(pg_url: str, run: int) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(pg_url)
    try:
        async with engine.begin() as conn:
            # No IF NOT EXISTS: the second run fails if it got the first run's database.
            await conn.execute(text("CREATE TABLE marker (run int)"))
            await conn.execute(text("INSERT INTO marker VALUES (:r)"), {"r": run})
    finally:
        await engine.dispose()


async def test_two_databases_are_isolated(pg_url: str, postgres_server: PostgresServer) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    other = postgres_server.create_database()
    assert other != pg_url
    e1, e2 = create_async_engine(pg_url), create_async_engine(other)
    try:
        async with e1.begin() as conn:
            await conn.execute(text("CREATE TABLE only_here (x int)"))
        async with e2.connect() as conn:
            found = await conn.execute(text("SELECT to_regclass('only_here')"))
            assert found.scalar_one() is None
    finally:
        await e1.dispose()
        await e2.dispose()
        postgres_server.drop_database(other.rsplit("/", 1)[1])


def test_sync_psycopg_dsn(postgres_server: PostgresServer) -> None:
    import psycopg

    with psycopg.connect(postgres_server.dsn(), connect_timeout=10) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("postgres",)
        tz = conn.execute("SHOW TimeZone").fetchone()
        assert tz == ("Asia/Bangkok",)
