"""The submission server against a real client: STARTTLS, AUTH, no relay, lockout, 250 after commit."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiosmtplib
import pytest

from gateway.app import open_store
from gateway.errors import Transient
from gateway.intake.submission import start_submission
from gateway.passwords import hash_password, verify_password
from tests.conftest import FakeClock, make_settings
from tests.servers.tls import TestPKI

pytestmark = pytest.mark.integration

ASCII_USER, ASCII_PASSWORD = "saraban@agency.test", "correct horse battery"
THAI_USER, THAI_PASSWORD = "hr@agency.test", "รหัสผ่านงานบุคคล๒๕๖๙"

MESSAGE = (
    "From: saraban@agency.test\r\n"
    "To: a@obec.go.th, b@moe.go.th, c@opm.go.th\r\n"
    "Subject: =?UTF-8?B?4LiC4Lit4LmA4LiK4Li04LiN4Lib4Lij4Liw4LiK4Li44Lih?=\r\n"
    "Message-ID: <s1@agency.test>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "เรียน ผู้อำนวยการ\r\n"
    ".a line that starts with a dot\r\n"
    "..and one with two\r\n"
).encode()
RCPTS = ["a@obec.go.th", "b@moe.go.th", "c@opm.go.th"]


@pytest.fixture(scope="module")
def users() -> list[dict[str, str]]:
    return [
        {"name": ASCII_USER, "password_hash": hash_password(ASCII_PASSWORD), "unit": "admin"},
        {"name": THAI_USER, "password_hash": hash_password(THAI_PASSWORD), "unit": "hr"},
    ]


class Recorder:
    """The `submit` collaborator: keeps what it was given, or fails as told."""

    def __init__(self) -> None:
        self.calls: list[tuple[bytes, str, list[str], str]] = []
        self.fail: BaseException | None = None

    async def __call__(self, raw: bytes, mail_from: str, rcpts: list[str], user: str) -> int:
        if self.fail is not None:
            raise self.fail
        self.calls.append((raw, mail_from, rcpts, user))
        return 100 + len(self.calls)


class Gateway:
    def __init__(self, server: asyncio.Server, submit: Recorder, clock: FakeClock, ctx: ssl.SSLContext):
        self.server, self.submit, self.clock, self.ctx = server, submit, clock, ctx
        self.port: int = server.sockets[0].getsockname()[1]

    async def client(self, *, tls: bool = True, source: str | None = None) -> aiosmtplib.SMTP:
        c = aiosmtplib.SMTP(
            hostname="127.0.0.1", port=self.port, start_tls=False, tls_context=self.ctx, timeout=5,
            source_address=(source, 0) if source else None,
        )
        await c.connect()
        await c.ehlo()
        if tls:
            await c.starttls()
            await c.ehlo()
        return c


Start = Callable[..., Awaitable[Gateway]]


@pytest.fixture
async def start(tmp_path: Path, tls_pki: TestPKI, users: list[dict[str, str]]) -> AsyncIterator[Start]:
    servers: list[asyncio.Server] = []
    # one clock and one store for every start: a second start is the same gateway restarted
    clock = FakeClock(dt.datetime(2026, 11, 22, 3, 0, tzinfo=dt.UTC))
    store = await open_store(make_settings(tmp_path), upgrade=True, clock=clock)

    async def _start(*, pki: bool = True, ctx: ssl.SSLContext | None = None, **sub: object) -> Gateway:
        conf: dict[str, object] = {
            "host": "127.0.0.1", "port": 0, "users": users, "max_failed_logins": 3,
            "lockout_minutes": 15, "max_message_bytes": 200_000,
        }
        if pki:
            conf |= {"cert_file": str(tls_pki.cert_file), "key_file": str(tls_pki.key_file)}
        conf |= sub
        settings = make_settings(tmp_path, submission=conf)
        recorder = Recorder()
        server = await start_submission(settings, recorder, clock=clock, store=store)
        servers.append(server)
        return Gateway(server, recorder, clock, ctx or tls_pki.client_context())

    yield _start
    for s in servers:
        s.close()
        await s.wait_closed()
    await store.close()


@pytest.fixture
async def gw(start: Start) -> Gateway:
    return await start()


def b64(data: str | bytes) -> bytes:
    return base64.b64encode(data.encode() if isinstance(data, str) else data)


async def test_nothing_but_starttls_before_tls(gw: Gateway) -> None:
    c = await gw.client(tls=False)
    assert c.supports_extension("starttls") and not c.supports_extension("auth")
    with pytest.raises(aiosmtplib.SMTPSenderRefused) as e:
        await c.mail(ASCII_USER)
    assert e.value.code == 530
    r = await c.execute_command(b"AUTH", b"PLAIN", b64(f"\0{ASCII_USER}\0{ASCII_PASSWORD}"))
    assert r.code == 530 and "STARTTLS" in r.message
    r = await c.execute_command(b"AUTH", b"LOGIN")
    assert r.code == 530
    await c.quit()
    assert gw.submit.calls == []


async def test_never_a_relay_without_auth(gw: Gateway) -> None:
    c = await gw.client()
    assert c.supports_extension("auth")
    assert set(c.server_auth_methods) == {"plain", "login"}
    with pytest.raises(aiosmtplib.SMTPSenderRefused) as e:
        await c.mail(ASCII_USER)
    assert e.value.code == 530 and "Authentication required" in e.value.message
    for cmd in (b"RCPT TO:<victim@gmail.com>", b"DATA"):
        r = await c.execute_command(*cmd.split(b" ", 1))
        assert r.code == 530, cmd
    await c.quit()
    with pytest.raises(aiosmtplib.SMTPException):
        await aiosmtplib.send(MESSAGE, sender="x@evil.test", recipients=["victim@gmail.com"],
                              hostname="127.0.0.1", port=gw.port, tls_context=gw.ctx, timeout=5)
    assert gw.submit.calls == []


async def test_wrong_password_or_unknown_user_535(gw: Gateway) -> None:
    c = await gw.client()
    for user, password in ((ASCII_USER, "wrong"), ("nobody@agency.test", ASCII_PASSWORD),
                           (THAI_USER, THAI_PASSWORD[:-1])):
        with pytest.raises(aiosmtplib.SMTPAuthenticationError) as e:
            await c.auth_plain(user, password)
        assert e.value.code == 535
    with pytest.raises(aiosmtplib.SMTPSenderRefused):
        await c.mail(ASCII_USER)
    await c.quit()


@pytest.mark.parametrize(
    ("mechanism", "login", "password", "user"),
    [
        ("plain", ASCII_USER, ASCII_PASSWORD, ASCII_USER),
        ("login", "SARABAN@Agency.Test", ASCII_PASSWORD, ASCII_USER),  # names ignore case
        ("plain", THAI_USER, THAI_PASSWORD, THAI_USER),
        ("login", THAI_USER, THAI_PASSWORD, THAI_USER),
    ],
)
async def test_auth_then_message_reaches_submit(
    gw: Gateway, mechanism: str, login: str, password: str, user: str
) -> None:
    c = await gw.client()
    r = await (c.auth_plain if mechanism == "plain" else c.auth_login)(login, password)
    assert r.code == 235
    errors, reply = await c.sendmail(ASCII_USER, RCPTS, MESSAGE)
    assert errors == {}
    assert gw.submit.calls == [(MESSAGE, ASCII_USER, RCPTS, user)]  # exact bytes, dots unstuffed
    assert reply == "2.0.0 OK queued as letter 101"
    # a second message on the same session, still as the same user
    errors, reply = await c.sendmail(ASCII_USER, ["d@obec.go.th"], MESSAGE)
    assert reply.endswith("letter 102") and gw.submit.calls[1][3] == user
    await c.quit()


async def test_auth_without_initial_response(gw: Gateway) -> None:
    c = await gw.client()
    r = await c.execute_command(b"AUTH", b"LOGIN")
    assert r.code == 334 and base64.b64decode(r.message) == b"User Name\x00"
    r = await c.execute_command(b64(THAI_USER))
    assert r.code == 334 and base64.b64decode(r.message) == b"Password\x00"
    r = await c.execute_command(b64(THAI_PASSWORD))
    assert r.code == 235
    await c.quit()
    c = await gw.client()
    r = await c.execute_command(b"AUTH", b"PLAIN")
    assert r.code == 334
    r = await c.execute_command(b64(f"\0{ASCII_USER}\0{ASCII_PASSWORD}"))
    assert r.code == 235
    await c.quit()
    c = await gw.client()
    r = await c.execute_command(b"AUTH", b"PLAIN", b"not*base64")
    assert r.code == 501
    r = await c.execute_command(b"AUTH", b"PLAIN", b64("no-nul-separators"))
    assert r.code == 501
    r = await c.execute_command(b"AUTH", b"CRAM-MD5")
    assert r.code == 504
    await c.quit()


@pytest.mark.parametrize("failure", [Transient("database busy"), TimeoutError(), OSError(28, "No space")])
async def test_store_failure_answers_451(gw: Gateway, failure: BaseException) -> None:
    gw.submit.fail = failure
    c = await gw.client()
    await c.auth_plain(ASCII_USER, ASCII_PASSWORD)
    with pytest.raises(aiosmtplib.SMTPDataError) as e:
        await c.sendmail(ASCII_USER, RCPTS, MESSAGE)
    assert e.value.code == 451
    gw.submit.fail = None  # the client's retry goes through
    _, reply = await c.sendmail(ASCII_USER, RCPTS, MESSAGE)
    assert "queued as letter 101" in reply
    await c.quit()


async def test_lockout_after_failures_even_with_right_password(gw: Gateway) -> None:
    c = await gw.client()
    for _ in range(3):  # max_failed_logins = 3
        with pytest.raises(aiosmtplib.SMTPAuthenticationError) as e:
            await c.auth_plain(ASCII_USER, "guess")
        assert e.value.code == 535
    with pytest.raises(aiosmtplib.SMTPAuthenticationError) as e:
        await c.auth_plain(ASCII_USER, ASCII_PASSWORD)
    assert e.value.code == 454 and "too many failed logins" in e.value.message
    assert "เข้าสู่ระบบผิดเกินกำหนด" in e.value.message
    await c.quit()

    # a new connection from the same address: refused once the name is given, before the
    # password is asked for
    c = await gw.client()
    r = await c.execute_command(b"AUTH", b"LOGIN", b64(ASCII_USER))
    assert r.code == 454 and "15 minutes" in r.message and "15 นาที" in r.message
    # another client address is not affected (127.0.0.2 is loopback too; still to 127.0.0.1)
    other = await gw.client(source="127.0.0.2")
    assert (await other.auth_login(THAI_USER, THAI_PASSWORD)).code == 235
    await other.quit()

    gw.clock.advance(minutes=14, seconds=59)
    with pytest.raises(aiosmtplib.SMTPAuthenticationError) as e:
        await c.auth_plain(ASCII_USER, ASCII_PASSWORD)
    assert e.value.code == 454 and "1 minute" in e.value.message
    gw.clock.advance(seconds=1)
    assert (await c.auth_plain(ASCII_USER, ASCII_PASSWORD)).code == 235
    _, reply = await c.sendmail(ASCII_USER, RCPTS, MESSAGE)
    assert "queued as letter" in reply
    await c.quit()


async def test_failures_outside_the_window_do_not_add_up(gw: Gateway) -> None:
    c = await gw.client()
    for _ in range(2):
        with pytest.raises(aiosmtplib.SMTPAuthenticationError):
            await c.auth_plain(ASCII_USER, "guess")
    gw.clock.advance(minutes=15)
    for _ in range(2):
        with pytest.raises(aiosmtplib.SMTPAuthenticationError) as e:
            await c.auth_plain(ASCII_USER, "guess")
        assert e.value.code == 535
    assert (await c.auth_plain(ASCII_USER, ASCII_PASSWORD)).code == 235
    await c.quit()


async def test_parallel_guesses_from_one_address_take_turns(gw: Gateway) -> None:
    clients = [await gw.client() for _ in range(5)]

    async def attempt(c: aiosmtplib.SMTP, password: str) -> int:
        try:
            return (await c.auth_plain(ASCII_USER, password)).code
        except aiosmtplib.SMTPAuthenticationError as e:
            return e.code

    # five guesses at once, limit 3: no more than three passwords are checked
    codes = await asyncio.gather(*(attempt(c, f"guess{i}") for i, c in enumerate(clients)))
    assert sorted(codes) == [454, 454, 535, 535, 535]
    # five right passwords at once from an office behind one address (its own window)
    gw.clock.advance(minutes=15)
    codes = await asyncio.gather(*(attempt(c, ASCII_PASSWORD) for c in clients))
    assert codes == [235] * 5
    for c in clients:
        await c.quit()


async def test_password_check_does_not_block_other_clients(gw: Gateway) -> None:
    # scrypt takes tens of milliseconds; in the event loop it would stall every client.
    t0 = asyncio.get_running_loop().time()
    verify_password(ASCII_PASSWORD, hash_password("x"))
    one_check = asyncio.get_running_loop().time() - t0
    clients = [await gw.client(source=f"127.0.0.{i}") for i in (1, 2, 3)]
    gaps: list[float] = []
    done = asyncio.Event()

    async def probe() -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while not done.is_set():
            await asyncio.sleep(0.001)
            now = loop.time()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(probe())
    await asyncio.gather(*(c.auth_plain(ASCII_USER, ASCII_PASSWORD) for c in clients))
    done.set()
    await task
    assert max(gaps) < one_check, (max(gaps), one_check)
    for c in clients:
        await c.quit()


async def test_oversize_message_552(gw: Gateway) -> None:
    big = MESSAGE + (b"x" * 78 + b"\r\n") * 4000  # 320 kB in short lines
    c = await gw.client()
    await c.auth_plain(ASCII_USER, ASCII_PASSWORD)
    with pytest.raises(aiosmtplib.SMTPResponseException) as e:  # refused at MAIL ... SIZE=
        await c.sendmail(ASCII_USER, RCPTS, big)
    assert e.value.code == 552
    await c.rset()
    await c.mail(ASCII_USER)  # a client that does not declare the size: refused after DATA
    await c.rcpt(RCPTS[0])
    with pytest.raises(aiosmtplib.SMTPDataError) as e:
        await c.data(big)
    assert e.value.code == 552
    await c.quit()
    assert gw.submit.calls == []


async def test_at_most_1000_recipients(gw: Gateway) -> None:
    c = await gw.client()
    await c.auth_plain(ASCII_USER, ASCII_PASSWORD)
    await c.mail(ASCII_USER)
    for i in range(1000):
        await c.rcpt(f"school{i}@obec.go.th")
    with pytest.raises(aiosmtplib.SMTPRecipientRefused) as e:
        await c.rcpt("one-too-many@obec.go.th")
    assert e.value.code == 452
    r = await c.data(MESSAGE)
    assert r.code == 250
    assert len(gw.submit.calls[0][2]) == 1000
    await c.quit()


async def test_self_signed_certificate_made_once_and_reused(start: Start, tmp_path: Path) -> None:
    tls_dir = tmp_path / "data" / "tls"
    cert, key = tls_dir / "submission.pem", tls_dir / "submission.key"
    # the client trusts exactly the certificate the gateway made (as a clerk does by accepting it)
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN

    gw = await start(pki=False, ctx=ctx, hostname="mail.agency.test")
    assert cert.is_file() and key.is_file()
    assert key.stat().st_mode & 0o777 == 0o600
    assert not list(tls_dir.glob("*.tmp"))
    first, first_mtime = cert.read_bytes(), cert.stat().st_mtime_ns
    ctx.load_verify_locations(cafile=str(cert))  # checks 127.0.0.1 is in the certificate too
    c = await gw.client()
    assert (await c.auth_plain(ASCII_USER, ASCII_PASSWORD)).code == 235
    await c.quit()

    gw2 = await start(pki=False, ctx=ctx, hostname="mail.agency.test")  # a restart
    assert cert.read_bytes() == first and cert.stat().st_mtime_ns == first_mtime
    c = await gw2.client()
    await c.quit()

    await start(pki=False, ctx=ctx, hostname="other.agency.test")  # renamed host: a new one
    assert cert.read_bytes() != first
