"""OAuth 2.0 mailboxes (#23): a real Dovecot whose oauth2 passdb asks a local token server
(RFC 7662 introspection, 127.0.0.1) whether a bearer token is good; the gateway fetches its tokens
from the same server (client credentials, as for Microsoft 365), logs in with XOAUTH2 or
OAUTHBEARER, takes in a letter, renews an expired or revoked token, and `check` says in Thai
what is wrong with a bad client secret. A Google service account (RFC 7523: a JWT signed with the
key file named in the environment, in the mailbox user's name) logs in the same way, and a foreign
key is a Thai error in `check`. The relay: an aiosmtpd server accepting AUTH XOAUTH2 checked
against the same token server."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult

from gateway import oauth
from gateway.app import opened_store
from gateway.cli.check import run_checks
from gateway.config import Settings
from gateway.errors import Transient
from gateway.intake.imap_client import ImapClient, MailboxLost, client_ssl_context
from gateway.oauth import TokenSource
from gateway.outbound.sender import RelayTransport
from gateway.ports import Envelope, ImapFailure
from gateway.service import ingest_once
from tests.conftest import TickingClock, make_settings
from tests.corpus.mail import letter_mail, letter_pdf
from tests.servers import free_port
from tests.servers.dovecot import DovecotServer
from tests.servers.oauth2 import JWT_BEARER, TokenServer, service_account_key
from tests.servers.tls import TestPKI

pytestmark = pytest.mark.integration

USER = "saraban@agency.test"
SECRET_ENV = "SARABAN_TEST_OAUTH_SECRET"
KEY_ENV = "SARABAN_TEST_GOOGLE_KEY"
SA_KEY, SA_PUBLIC = service_account_key()  # made at test time; no key file is committed


@pytest.fixture(scope="module")
def token_server() -> Iterator[TokenServer]:
    with TokenServer(USER, client_id="saraban-gateway", client_secret="s3cret",
                     service_account=(SA_KEY["client_email"], SA_PUBLIC)) as ts:
        yield ts


@pytest.fixture(scope="module")
def oauth_dovecot(token_server: TokenServer, tls_pki: TestPKI) -> Iterator[DovecotServer]:
    with DovecotServer({USER: "not-used"}, pki=tls_pki,
                       oauth2_introspection_url=token_server.introspect_url) as dc:
        yield dc


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch, token_server: TokenServer) -> None:
    monkeypatch.setattr(oauth, "_SOURCES", {})  # no token cached by an earlier test
    monkeypatch.setenv(SECRET_ENV, "s3cret")
    token_server.expire_all()
    token_server.expires_in = 3600


def _oauth2(ts: TokenServer, **extra: object) -> dict[str, object]:
    return {"token_url": ts.token_url, "client_id": "saraban-gateway", "client_secret_env": SECRET_ENV,
            "scope": "https://outlook.office365.com/.default", **extra}


def _service_account(ts: TokenServer, tmp: Path, monkeypatch: pytest.MonkeyPatch,
                     key: dict[str, str] = SA_KEY) -> dict[str, object]:
    """The [*.oauth2] table of a Google service account; its key file's path in $KEY_ENV."""
    path = tmp / "service-account.json"
    path.write_text(json.dumps(key))
    monkeypatch.setenv(KEY_ENV, str(path))
    return {"token_url": ts.token_url, "grant": "service_account", "service_account_key_env": KEY_ENV}


def _settings(tmp: Path, dc: DovecotServer, ts: TokenServer, table: dict[str, object] | None = None,
              **oauth2: object) -> Settings:
    mailbox = {"name": "central", "host": "127.0.0.1", "port": dc.imaps_port, "user": USER,
               "auth": "oauth2", "oauth2": table or _oauth2(ts, **oauth2), "ca_file": str(dc.ca_file)}
    return make_settings(tmp, agency={"name_th": "สำนักงานทดสอบ", "letter_code": "ศธ 04183",
                                      "latin_code": "TEST04183", "central_addresses": [USER]},
                         imap=[mailbox], smtp_listener={"enabled": False})


async def test_the_gateway_logs_in_with_xoauth2_and_takes_in_a_letter(
        tmp_path: Path, oauth_dovecot: DovecotServer, token_server: TokenServer) -> None:
    oauth_dovecot.reset_user(USER)
    settings = _settings(tmp_path, oauth_dovecot, token_server)
    oauth_dovecot.deliver(USER, letter_mail(letter_pdf()))
    asked = token_server.introspections
    async with opened_store(settings, upgrade=True, clock=TickingClock()) as store:
        summary = await ingest_once(settings, store=store)
    assert summary["registered"] == 1
    assert oauth_dovecot.message_count(USER, "INBOX") == 0
    assert token_server.grants[-1] == "client_credentials"
    assert token_server.introspections > asked  # Dovecot checked the bearer token with the server
    assert f"Login: user=<{USER}>, method=XOAUTH2" in oauth_dovecot.log_tail(200)


async def test_an_expired_or_revoked_token_is_replaced_at_the_next_login(
        tmp_path: Path, oauth_dovecot: DovecotServer, token_server: TokenServer) -> None:
    cfg = _settings(tmp_path, oauth_dovecot, token_server).imap[0]
    assert cfg.oauth2 is not None
    token_server.expires_in = 60
    now = [1000.0]
    tokens = TokenSource(cfg.oauth2, monotonic=lambda: now[0])

    async def login() -> bool:
        client = ImapClient(cfg, "", client_ssl_context(cfg), tokens=tokens)
        try:
            await client.connect()
            await client.select("INBOX")
            return client.fresh_token
        finally:
            await client.close()

    assert await login() is True  # the first login fetches a token
    assert await login() is False  # a reconnect within its lifetime reuses it
    now[0] += 55  # past 60 s less the margin (a tenth): renewed before the server says no
    token_server.expire_all()
    assert await login() is True
    token_server.expire_all()  # revoked (or expired early) while still cached here
    assert await login() is True  # refused once, then a fresh token
    assert tokens.fetches == 3 and len(token_server.issued) >= 3


async def test_oauthbearer_logs_in_too(tmp_path: Path, oauth_dovecot: DovecotServer,
                                       token_server: TokenServer) -> None:
    cfg = _settings(tmp_path, oauth_dovecot, token_server, mechanism="oauthbearer").imap[0]
    client = ImapClient(cfg, "", client_ssl_context(cfg))
    try:
        await client.connect()
        assert await client.select("INBOX") > 0
    finally:
        await client.close()


async def test_a_wrong_client_secret_is_a_clear_thai_error_not_a_crash(
        tmp_path: Path, oauth_dovecot: DovecotServer, token_server: TokenServer,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(SECRET_ENV, "Wr0ng-Sekr1t")
    settings = _settings(tmp_path, oauth_dovecot, token_server)
    assert await run_checks(settings) == 1
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if "oauth2 central" in x)
    assert line.startswith("✗") and "ผู้ออก token ปฏิเสธคำขอ (invalid_client)" in line
    assert f"ตรวจ client_id และ client secret ใน ${SECRET_ENV}" in line
    assert "Wr0ng-Sekr1t" not in out  # the secret itself is never printed
    # the watcher's client: a refusal it backs off from (ImapFailure), not a crash or an outage
    client = ImapClient(settings.imap[0], "", client_ssl_context(settings.imap[0]))
    with pytest.raises(ImapFailure) as caught:
        await client.connect()
    await client.close()
    assert not isinstance(caught.value, MailboxLost) and "invalid_client" in str(caught.value)


async def test_check_reports_the_token_and_the_login(
        tmp_path: Path, oauth_dovecot: DovecotServer, token_server: TokenServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    await run_checks(_settings(tmp_path, oauth_dovecot, token_server))
    out = capsys.readouterr().out.splitlines()
    token = next(x for x in out if "oauth2 central" in x)
    login = next(x for x in out if "imap central" in x)
    assert token.startswith("✓") and "ได้ access token จาก 127.0.0.1 (client_credentials" in token
    assert login.startswith("✓") and "เข้าสู่ระบบด้วย XOAUTH2 และเปิดกล่อง INBOX ได้" in login


async def test_an_unreachable_token_endpoint_is_an_outage(
        tmp_path: Path, oauth_dovecot: DovecotServer, token_server: TokenServer) -> None:
    cfg = _settings(tmp_path, oauth_dovecot, token_server,
                    token_url=f"http://127.0.0.1:{free_port()}/token").imap[0]
    client = ImapClient(cfg, "", client_ssl_context(cfg))
    with pytest.raises(MailboxLost, match="token"):  # retried within seconds, like a server restart
        await client.connect()
    await client.close()


async def test_a_google_service_account_logs_in_and_takes_in_a_letter(
        tmp_path: Path, oauth_dovecot: DovecotServer, token_server: TokenServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    oauth_dovecot.reset_user(USER)
    table = _service_account(token_server, tmp_path, monkeypatch)
    settings = _settings(tmp_path, oauth_dovecot, token_server, table)
    oauth_dovecot.deliver(USER, letter_mail(letter_pdf()))
    async with opened_store(settings, upgrade=True, clock=TickingClock()) as store:
        summary = await ingest_once(settings, store=store)
    assert summary["registered"] == 1
    assert token_server.grants[-1] == JWT_BEARER
    claims = token_server.assertions[-1]  # verified by the server: signature, aud, exp, scope
    assert claims["iss"] == SA_KEY["client_email"] and claims["sub"] == USER
    assert f"Login: user=<{USER}>, method=XOAUTH2" in oauth_dovecot.log_tail(200)


async def test_check_proves_the_service_account_login_and_names_a_foreign_key(
        tmp_path: Path, oauth_dovecot: DovecotServer, token_server: TokenServer,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    settings = _settings(tmp_path, oauth_dovecot, token_server,
                         _service_account(token_server, tmp_path, monkeypatch))
    await run_checks(settings)
    out = capsys.readouterr().out.splitlines()
    token = next(x for x in out if "oauth2 central" in x)
    login = next(x for x in out if "imap central" in x)
    assert token.startswith("✓") and "ได้ access token จาก 127.0.0.1 (service_account" in token
    assert login.startswith("✓") and "เข้าสู่ระบบด้วย XOAUTH2 และเปิดกล่อง INBOX ได้" in login

    foreign, _ = service_account_key(SA_KEY["client_email"])  # the same account, a key Google never saw
    _service_account(token_server, tmp_path, monkeypatch, foreign)
    assert await run_checks(settings) == 1
    text = capsys.readouterr().out
    line = next(x for x in text.splitlines() if "oauth2 central" in x)
    assert line.startswith("✗") and "ผู้ออก token ปฏิเสธคำขอ (invalid_grant)" in line
    assert f"ตรวจแฟ้มกุญแจ service account ใน ${KEY_ENV}" in line
    assert "PRIVATE KEY" not in text and foreign["private_key"].splitlines()[3] not in text

    monkeypatch.setenv(KEY_ENV, str(tmp_path / "gone.json"))
    await run_checks(settings)
    line = next(x for x in capsys.readouterr().out.splitlines() if "oauth2 central" in x)
    assert line.startswith("✗") and "อ่านแฟ้มกุญแจ service account ไม่ได้" in line


# ------------------------------------------------------------------------------------ the relay


class _Relay:
    """Accepts AUTH XOAUTH2 when the token server says the token is active for that user; a
    refusal is sent as Google and Microsoft do: a 334 error challenge, then 535."""

    def __init__(self, ts: TokenServer) -> None:
        self.ts = ts
        self.received: list[tuple[str, list[str], bytes]] = []
        self.logins: list[str] = []

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:  # noqa: N802 - aiosmtpd
        fields = dict(part.split("=", 1) for part in
                      base64.b64decode(args[1]).decode().split("\x01") if "=" in part)
        token = fields.get("auth", "").removeprefix("Bearer ")
        if self.ts.is_active(token) == fields.get("user"):
            self.logins.append(token)
            return AuthResult(success=True, auth_data=fields.get("user"))
        await server.challenge_auth(json.dumps({"status": "401", "schemes": "bearer"}))
        return AuthResult(success=False, handled=False)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if not session.authenticated:
            return "530 5.7.0 Authentication required"
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@pytest.fixture
def relay(token_server: TokenServer) -> Iterator[tuple[_Relay, int]]:
    handler = _Relay(token_server)
    port = free_port()
    ctl = Controller(handler, hostname="127.0.0.1", port=port, auth_require_tls=False)
    ctl.start()
    try:
        yield handler, port
    finally:
        ctl.stop()


def _relay_settings(tmp: Path, ts: TokenServer, port: int, table: dict[str, object] | None = None) -> Settings:
    return make_settings(tmp, relay={"mode": "smtp", "host": "127.0.0.1", "port": port, "starttls": False,
                                     "username": USER, "auth": "oauth2", "oauth2": table or _oauth2(ts)})


async def test_the_relay_login_uses_xoauth2_and_renews_a_refused_token(
        tmp_path: Path, token_server: TokenServer, relay: tuple[_Relay, int]) -> None:
    handler, port = relay
    transport = RelayTransport(_relay_settings(tmp_path, token_server, port).relay, tmp_path)
    message = b"From: saraban@agency.test\r\nSubject: test\r\n\r\nbody\r\n"
    for n in (1, 2):
        await transport.deliver(Envelope(USER, "hr@other.test", n, "letter"), message)
        token_server.expire_all()  # the next delivery's cached token is refused, then renewed
    assert [r[1] for r in handler.received] == [["hr@other.test"], ["hr@other.test"]]
    assert len(handler.logins) == 2 and handler.logins[0] != handler.logins[1]


async def test_the_relay_keeps_the_mail_when_the_secret_is_wrong(
        tmp_path: Path, token_server: TokenServer, relay: tuple[_Relay, int],
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    handler, port = relay
    settings = _relay_settings(tmp_path, token_server, port)
    monkeypatch.setenv(SECRET_ENV, "Wr0ng-Sekr1t")
    with pytest.raises(Transient, match="invalid_client"):  # kept for a retry, not bounced
        await RelayTransport(settings.relay, tmp_path).deliver(
            Envelope(USER, "hr@other.test", 1, "letter"), b"Subject: x\r\n\r\nx\r\n")
    assert handler.received == []
    await run_checks(settings)
    line = next(x for x in capsys.readouterr().out.splitlines() if "oauth2 relay" in x)
    assert line.startswith("✗") and "ผู้ออก token ปฏิเสธคำขอ" in line
    monkeypatch.setenv(SECRET_ENV, "s3cret")
    await run_checks(settings)
    out = capsys.readouterr().out
    assert "เข้าสู่ระบบด้วย XOAUTH2 ได้ (relay reachable, OAuth login ok)" in out


async def test_the_relay_logs_in_as_the_mailbox_with_a_service_account(
        tmp_path: Path, token_server: TokenServer, relay: tuple[_Relay, int],
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    handler, port = relay
    settings = _relay_settings(tmp_path, token_server, port,
                               _service_account(token_server, tmp_path, monkeypatch))
    await RelayTransport(settings.relay, tmp_path).deliver(
        Envelope(USER, "hr@other.test", 1, "letter"), b"Subject: x\r\n\r\nx\r\n")
    assert [r[1] for r in handler.received] == [["hr@other.test"]]
    assert token_server.grants[-1] == JWT_BEARER and token_server.assertions[-1]["sub"] == USER
    await run_checks(settings)
    out = capsys.readouterr().out
    assert "เข้าสู่ระบบด้วย XOAUTH2 ได้ (relay reachable, OAuth login ok)" in out
