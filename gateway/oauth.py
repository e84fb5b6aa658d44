"""OAuth 2.0 access tokens for the mailboxes and the relay (XOAUTH2 / OAUTHBEARER).

A `TokenSource` asks the configured token endpoint (`[imap.oauth2]`, `[relay.oauth2]`) for an
access token by the client credentials grant (Microsoft 365) or the refresh token grant (Google),
keeps it until shortly before its `expires_in`, and fetches a new one after that or when a server
refused it. The request goes to the configured URL only (no redirects), TLS verified, bounded by
a timeout, in a thread (urllib: no new dependency). Secrets are read from the environment at each
fetch. Interval arithmetic uses the monotonic clock (an interval, not a reading of the date).

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
from typing import Any

from gateway.config.mail import _LOOPBACK, OAuth2
from gateway.config.settings import secret
from gateway.errors import Transient, UserError

__all__ = ["TokenRefused", "TokenSource", "TokenUnavailable", "oauthbearer", "sasl_response",
           "smtp_login", "token_source", "xoauth2"]

DEFAULT_LIFETIME = 600.0  # seconds, when the endpoint does not say (`expires_in` is optional)


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


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> None:
        raise urllib.error.HTTPError(req.full_url, code, f"redirect to {newurl} refused", headers, fp)


class TokenSource:
    """One token endpoint + client + grant + scope: the cached access token and its renewal."""

    def __init__(self, cfg: OAuth2, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        self.monotonic = monotonic
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

    def _form(self) -> dict[str, str]:
        c = self.cfg
        form = {"grant_type": c.grant, "client_id": c.client_id}
        if c.client_secret_env:
            form["client_secret"] = secret(c.client_secret_env, what="client secret ของ OAuth (OAuth client secret)")
        if c.grant == "refresh_token":
            form["refresh_token"] = secret(c.refresh_token_env, what="refresh token ของ OAuth (OAuth refresh token)")
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
            hint = ("ตรวจ client_id และ client secret ใน $" + self.cfg.client_secret_env
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


def _oauth_error(exc: urllib.error.HTTPError) -> tuple[str, str]:
    """RFC 6749 §5.2 `error` and `error_description`, when the body says."""
    try:
        data = json.loads(exc.read(1 << 16) or b"{}")
    except (ValueError, OSError):
        return "", ""
    if not isinstance(data, dict):
        return "", ""
    return str(data.get("error", ""))[:100], str(data.get("error_description", ""))[:300]


_SOURCES: dict[OAuth2, TokenSource] = {}


def token_source(cfg: OAuth2) -> TokenSource:
    """The one TokenSource of these settings in this process (IMAP reconnects share its token)."""
    src = _SOURCES.get(cfg)
    if src is None:
        src = _SOURCES[cfg] = TokenSource(cfg)
    return src


async def smtp_login(client: Any, user: str, cfg: OAuth2, tokens: TokenSource | None = None) -> bool:
    """AUTH XOAUTH2 / OAUTHBEARER on an aiosmtplib connection; a cached token that is refused is
    replaced once by a fresh one. True when a new token was fetched (for `check`).
    Raises aiosmtplib.SMTPAuthenticationError when the relay refuses a fresh token too."""
    import aiosmtplib

    tokens = tokens or token_source(cfg)
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
