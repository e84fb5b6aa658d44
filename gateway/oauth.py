"""OAuth 2.0 access tokens for the mailboxes and the relay (XOAUTH2 / OAUTHBEARER).

A `TokenSource` asks the configured token endpoint (`[imap.oauth2]`, `[relay.oauth2]`) for an
access token by the client credentials grant (Microsoft 365), the refresh token grant (Google) or
a Google service account's signed assertion (RFC 7523 jwt-bearer, domain-wide delegation: a JWT
signed RS256 with the service account's key, `sub` the mailbox's user), keeps it until shortly before its `expires_in`, and fetches a new one after that or when a server
refused it. The request goes to the configured URL only (no redirects), TLS verified, bounded by
a timeout, in a thread (urllib: no new dependency). Secrets are read from the environment at each
fetch. Interval arithmetic uses the monotonic clock (an interval, not a reading of the date); the
assertion's `iat`/`exp` come from the injected wall clock. The service account's key (a JSON key
file whose path, or the JSON itself, is in the environment) never appears in an error or a log.

Failures: the endpoint refused the client or the grant (`TokenRefused`, a UserError worded in
Thai and English: the administrator must fix the settings) or could not be reached or answered
5xx (`TokenUnavailable`, Transient: tried again later).
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from gateway.clock import system_clock
from gateway.config.mail import _LOOPBACK, OAuth2
from gateway.config.settings import secret
from gateway.errors import Transient, UserError
from gateway.ports import Clock

__all__ = ["ServiceAccount", "TokenRefused", "TokenSource", "TokenUnavailable", "oauthbearer",
           "sasl_response", "service_account", "smtp_login", "token_source", "xoauth2"]

DEFAULT_LIFETIME = 600.0  # seconds, when the endpoint does not say (`expires_in` is optional)
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"  # RFC 7523 §2.1
GOOGLE_MAIL_SCOPE = "https://mail.google.com/"  # IMAP and SMTP of Gmail / Google Workspace
ASSERTION_LIFETIME = 3600  # seconds: the longest Google accepts (exp - iat)


class TokenRefused(UserError):
    """The token endpoint said no (wrong client id/secret, revoked refresh token, bad scope)."""


class TokenUnavailable(Transient):
    """The token endpoint could not be reached, timed out or failed (5xx): try again later."""

    def __init__(self, message_th: str, message_en: str) -> None:
        super().__init__(f"{message_th} ({message_en})")
        self.message_th = message_th
        self.message_en = message_en


def xoauth2(user: str, token: str) -> str:
    """The XOAUTH2 initial response: base64 of `user=<u>^Aauth=Bearer <t>^A^A`."""
    return base64.b64encode(f"user={user}\x01auth=Bearer {token}\x01\x01".encode()).decode("ascii")


def oauthbearer(user: str, token: str, host: str, port: int) -> str:
    """The OAUTHBEARER initial response (RFC 7628 §3.1), base64."""
    authzid = user.replace("=", "=3D").replace(",", "=2C")
    text = f"n,a={authzid},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01"
    return base64.b64encode(text.encode()).decode("ascii")


def sasl_response(cfg: OAuth2, user: str, token: str, host: str, port: int) -> tuple[str, str]:
    """(mechanism name, initial response) as the settings choose."""
    if cfg.mechanism == "oauthbearer":
        return "OAUTHBEARER", oauthbearer(user, token, host, port)
    return "XOAUTH2", xoauth2(user, token)


@dataclass(frozen=True)
class ServiceAccount:
    """The parts of a Google service account key file the assertion needs (repr hides the key)."""

    client_email: str
    private_key: RSAPrivateKey = field(repr=False)
    private_key_id: str = ""


def service_account(env_name: str) -> ServiceAccount:
    """The service account key named by $env_name: the path of Google's JSON key file, or the
    JSON itself when the value starts with "{". Every failure says what is wrong in Thai and
    English (TokenRefused) without a word of the key, and without chaining the parser's error
    (a JSONDecodeError holds the whole document)."""
    _NOT_JSON = object()
    value = secret(env_name, what="กุญแจ service account ของ Google", what_en="service account key").strip()
    where = f"${env_name}"
    if value.startswith("{"):
        text, where_th = value, f"JSON ใน ${env_name}"
    else:
        shown = value if len(value) <= 300 and "\n" not in value and "KEY" not in value else "(?)"
        where = where_th = f"แฟ้ม {shown} (${env_name})"
        text, reason = "", ""
        try:
            with open(value, encoding="utf-8") as f:
                text = f.read(1 << 16)
        except (OSError, UnicodeDecodeError, ValueError) as exc:  # a decode error holds the bytes
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        if reason:
            raise TokenRefused(f"อ่านแฟ้มกุญแจ service account ไม่ได้: {where_th}",
                               f"cannot read the service account key file {shown} named by "
                               f"${env_name}: {reason}")

    def bad(th: str, en: str) -> TokenRefused:
        return TokenRefused(f"{where_th}: {th}", f"service account key in {where}: {en}")

    try:
        data = json.loads(text)
    except ValueError:  # raised below, outside: the parser's error holds the document
        data = _NOT_JSON
    if data is _NOT_JSON:
        raise bad("ไม่ใช่ JSON ให้ใช้แฟ้มกุญแจ JSON ที่ดาวน์โหลดจาก Google Cloud",
                  "not JSON; use the JSON key file downloaded from Google Cloud")
    kind = data.get("type") if isinstance(data, dict) else None
    if not isinstance(data, dict) or kind != "service_account":
        said = kind if isinstance(kind, str) and kind.replace("_", "").isalpha() and len(kind) < 40 else "?"
        raise bad(f"ไม่ใช่กุญแจ service account (type = {said}) ต้องเป็นแฟ้มกุญแจของ service account "
                  "ไม่ใช่แฟ้ม OAuth client", f"not a service account key (type = {said})")
    email, pem, key_id = data.get("client_email"), data.get("private_key"), data.get("private_key_id", "")
    if not isinstance(email, str) or "@" not in email:
        raise bad("ไม่มี client_email", "no client_email")
    if not isinstance(pem, str) or not pem:
        raise bad("ไม่มี private_key", "no private_key")
    key: object = None
    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        pass
    if key is None:
        raise bad("private_key อ่านไม่ได้ (ไม่ใช่กุญแจ PEM ที่ไม่เข้ารหัส)",
                  "private_key is not an unencrypted PEM private key")
    if not isinstance(key, RSAPrivateKey):
        raise bad("private_key ไม่ใช่กุญแจ RSA (Google ลงนามด้วย RS256)",
                  "private_key is not an RSA key (RS256 needs one)")
    return ServiceAccount(email, key, key_id if isinstance(key_id, str) else "")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> None:
        raise urllib.error.HTTPError(req.full_url, code, f"redirect to {newurl} refused", headers, fp)


class TokenSource:
    """One token endpoint + client + grant + scope: the cached access token and its renewal."""

    def __init__(self, cfg: OAuth2, *, subject: str = "",
                 monotonic: Callable[[], float] = time.monotonic, clock: Clock = system_clock) -> None:
        self.cfg = cfg
        self.subject = subject  # the mailbox a service account acts for (the IMAP / relay user)
        self.monotonic = monotonic
        self.clock = clock  # the assertion's iat / exp
        self.fetches = 0
        self._token: str | None = None
        self._good_until = 0.0
        self._lock = asyncio.Lock()

    def forget(self, token: str) -> None:
        """A server refused `token` (revoked, expired early): the next call fetches a new one."""
        if self._token == token:
            self._token = None

    async def token(self, *, renew: bool = False) -> tuple[str, bool]:
        """(access token, fresh): the cached one while it lasts (unless `renew`), else a newly
        fetched one."""
        async with self._lock:
            if not renew and self._token is not None and self.monotonic() < self._good_until:
                return self._token, False
            token, lifetime = await asyncio.to_thread(self._fetch)
            self.fetches += 1
            # renew well before the end: a tenth of the lifetime, at most 5 minutes
            self._good_until = self.monotonic() + lifetime - min(300.0, lifetime / 10)
            self._token = token
            return token, True

    def assertion(self) -> str:
        """The service account's signed JWT (RS256) asking for a token in the name of `subject`."""
        if not self.subject:
            raise TokenRefused("service account ต้องรู้ชื่อกล่องที่จะเข้าในนาม (user ของกล่อง)",
                               "a service account needs the mailbox user to act for (sub)")
        sa = service_account(self.cfg.service_account_key_env)
        now = int(self.clock().timestamp())
        claims = {"iss": sa.client_email, "sub": self.subject, "scope": self.cfg.scope or GOOGLE_MAIL_SCOPE,
                  "aud": self.cfg.token_url, "iat": now, "exp": now + ASSERTION_LIFETIME}
        signed = ""
        try:
            signed = jwt.encode(claims, sa.private_key, algorithm="RS256",
                                headers={"kid": sa.private_key_id} if sa.private_key_id else None)
        except (jwt.PyJWTError, ValueError, TypeError):
            pass
        if not signed:  # raised outside the except: nothing about the key is chained
            raise TokenRefused("ลงนาม JWT ด้วยกุญแจ service account ไม่ได้ ตรวจแฟ้มกุญแจ",
                               "cannot sign the assertion with the service account key")
        return signed

    def _form(self) -> dict[str, str]:
        c = self.cfg
        if c.grant == "service_account":
            return {"grant_type": JWT_BEARER, "assertion": self.assertion()}
        form = {"grant_type": c.grant, "client_id": c.client_id}
        if c.client_secret_env:
            form["client_secret"] = secret(c.client_secret_env, what="client secret ของ OAuth", what_en="OAuth client secret")
        if c.grant == "refresh_token":
            form["refresh_token"] = secret(c.refresh_token_env, what="refresh token ของ OAuth", what_en="OAuth refresh token")
        if c.scope:
            form["scope"] = c.scope
        return form

    def _opener(self) -> urllib.request.OpenerDirector:
        ctx = ssl.create_default_context()
        if self.cfg.ca_file is not None:
            ctx.load_verify_locations(cafile=str(self.cfg.ca_file))
        handlers: list[Any] = [_NoRedirect(), urllib.request.HTTPSHandler(context=ctx)]
        if urllib.parse.urlsplit(self.cfg.token_url).hostname in _LOOPBACK:
            handlers.append(urllib.request.ProxyHandler({}))  # never through a proxy
        return urllib.request.build_opener(*handlers)

    def _fetch(self) -> tuple[str, float]:
        url = self.cfg.token_url
        body = urllib.parse.urlencode(self._form()).encode()
        req = urllib.request.Request(url, data=body, method="POST", headers={
            "Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"})
        try:
            with self._opener().open(req, timeout=self.cfg.timeout_seconds) as resp:
                answer = json.loads(resp.read(1 << 20) or b"{}")
        except urllib.error.HTTPError as exc:
            if exc.code >= 500 or exc.code == 429:
                raise TokenUnavailable(f"ผู้ออก token ขัดข้อง HTTP {exc.code} จะลองใหม่",
                                       f"token endpoint failed: HTTP {exc.code} {url}") from exc
            error, detail = _oauth_error(exc)
            hint = (self._service_account_hint(error) if self.cfg.grant == "service_account" else
                    "ตรวจ client_id และ client secret ใน $" + self.cfg.client_secret_env
                    if error in ("invalid_client", "unauthorized_client") else
                    "ตรวจ refresh token ใน $" + self.cfg.refresh_token_env if error == "invalid_grant"
                    else "ตรวจ token_url, grant และ scope")
            raise TokenRefused(f"ผู้ออก token ปฏิเสธคำขอ ({error or exc.code}): {hint}",
                               f"the token endpoint refused: HTTP {exc.code} {error} {detail}".strip()) from exc
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, ssl.SSLCertVerificationError):
                raise TokenRefused("ใบรับรองของผู้ออก token ไม่ผ่านการตรวจ (ตั้ง ca_file ถ้าใช้ CA ของหน่วยงาน)",
                                   f"the token endpoint's certificate failed verification: {reason}") from exc
            raise TokenUnavailable("ติดต่อผู้ออก token ไม่ได้ จะลองใหม่",
                                   f"cannot reach the token endpoint {url}: {reason!r}") from exc
        except ValueError as exc:  # not JSON
            raise TokenRefused("ผู้ออก token ตอบไม่ใช่ JSON ตรวจ token_url",
                               f"the token endpoint's answer is not JSON: {url}") from exc
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            raise TokenRefused("ผู้ออก token ไม่ได้ให้ access_token ตรวจ token_url และ grant",
                               f"no access_token in the token endpoint's answer: {url}")
        try:
            lifetime = float(answer.get("expires_in") or DEFAULT_LIFETIME)
        except (TypeError, ValueError):
            lifetime = DEFAULT_LIFETIME
        return token, max(lifetime, 1.0)

    def _service_account_hint(self, error: str) -> str:
        scope = self.cfg.scope or GOOGLE_MAIL_SCOPE
        if error in ("unauthorized_client", "access_denied"):
            return ("ผู้ดูแล Google Workspace ต้องมอบสิทธิ์ทั้งโดเมน (domain-wide delegation) ให้ client ID "
                    f"ของ service account สำหรับ scope {scope}")
        if error in ("invalid_grant", "invalid_client"):
            return (f"ตรวจแฟ้มกุญแจ service account ใน ${self.cfg.service_account_key_env} (กุญแจถูกยกเลิก"
                    f"หรือไม่ใช่ของบัญชีนี้) และว่า {self.subject} เป็นผู้ใช้ในโดเมน")
        return "ตรวจ token_url และ scope"


def _oauth_error(exc: urllib.error.HTTPError) -> tuple[str, str]:
    """RFC 6749 §5.2 `error` and `error_description`, when the body says."""
    try:
        data = json.loads(exc.read(1 << 16) or b"{}")
    except (ValueError, OSError):
        return "", ""
    if not isinstance(data, dict):
        return "", ""
    return str(data.get("error", ""))[:100], str(data.get("error_description", ""))[:300]


_SOURCES: dict[tuple[OAuth2, str], TokenSource] = {}


def token_source(cfg: OAuth2, subject: str = "") -> TokenSource:
    """The one TokenSource of these settings (and mailbox user, which a service account's token
    is for) in this process: IMAP reconnects share its token."""
    src = _SOURCES.get((cfg, subject))
    if src is None:
        src = _SOURCES[(cfg, subject)] = TokenSource(cfg, subject=subject)
    return src


async def smtp_login(client: Any, user: str, cfg: OAuth2, tokens: TokenSource | None = None) -> bool:
    """AUTH XOAUTH2 / OAUTHBEARER on an aiosmtplib connection; a cached token that is refused is
    replaced once by a fresh one. True when a new token was fetched (for `check`).
    Raises aiosmtplib.SMTPAuthenticationError when the relay refuses a fresh token too."""
    import aiosmtplib

    tokens = tokens or token_source(cfg, user)
    while True:
        token, fresh = await tokens.token()
        if client.last_ehlo_response is None:
            await client.ehlo()
        mech, initial = sasl_response(cfg, user, token, client.hostname or "", client.port or 0)
        response = await client.execute_command(b"AUTH", mech.encode(), initial.encode())
        if response.code == 334:  # the error, as a challenge: an empty line ends it
            response = await client.execute_command(b"")
        if response.code == 235:
            return fresh
        tokens.forget(token)
        if fresh:
            raise aiosmtplib.SMTPAuthenticationError(response.code, response.message)
