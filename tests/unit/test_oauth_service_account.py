"""A Google service account's assertion (#23, RFC 7523): the JWT the gateway signs carries exactly
the claims Google asks for (iss = the key's client_email, sub = the mailbox user, scope, aud =
token_url, iat = the injected clock's now, exp = iat + 1 h), signed RS256 with the key file's key,
and is exchanged at the token endpoint like the other grants (cached, renewed, replaced once)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.config.mail import OAuth2
from gateway.oauth import JWT_BEARER, TokenRefused, TokenSource
from tests.conftest import FakeClock
from tests.servers.oauth2 import TokenServer, service_account_key

ENV = "SARABAN_TEST_GOOGLE_KEY"
USER = "saraban@agency.test"
URL = "https://oauth2.googleapis.com/token"


@pytest.fixture(scope="module")
def key() -> tuple[dict[str, str], rsa.RSAPublicKey]:
    return service_account_key()


def _cfg(url: str = URL, **extra: object) -> OAuth2:
    return OAuth2.model_validate({"token_url": url, "grant": "service_account",
                                  "service_account_key_env": ENV, **extra})


def test_the_assertion_carries_googles_claims_at_the_clocks_time(
        key: tuple[dict[str, str], rsa.RSAPublicKey], monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> None:
    info, public = key
    monkeypatch.setenv(ENV, json.dumps(info))  # the JSON itself in the variable
    tokens = TokenSource(_cfg(), subject=USER, clock=clock)
    assertion = tokens.assertion()
    assert jwt.get_unverified_header(assertion) == {"alg": "RS256", "typ": "JWT", "kid": "k1"}
    claims = jwt.decode(assertion, public, algorithms=["RS256"], audience=URL,
                        options={"verify_exp": False, "verify_iat": False})
    now = int(clock().timestamp())
    assert claims == {"iss": info["client_email"], "sub": USER, "scope": "https://mail.google.com/",
                      "aud": URL, "iat": now, "exp": now + 3600}
    clock.advance(minutes=30)
    later = jwt.decode(tokens.assertion(), public, algorithms=["RS256"], audience=URL,
                       options={"verify_exp": False, "verify_iat": False})
    assert later["iat"] == now + 1800  # each assertion is made at the clock's now


def test_a_key_file_path_and_a_scope_of_ones_own(
        key: tuple[dict[str, str], rsa.RSAPublicKey], monkeypatch: pytest.MonkeyPatch, clock: FakeClock,
        tmp_path: Path) -> None:
    info, public = key
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(info))
    monkeypatch.setenv(ENV, str(path))
    tokens = TokenSource(_cfg(scope="https://mail.google.com/ openid"), subject=USER, clock=clock)
    form = tokens._form()
    assert set(form) == {"grant_type", "assertion"} and form["grant_type"] == JWT_BEARER
    claims = jwt.decode(form["assertion"], public, algorithms=["RS256"], audience=URL,
                        options={"verify_exp": False, "verify_iat": False})
    assert claims["scope"] == "https://mail.google.com/ openid"


def test_without_a_mailbox_user_there_is_no_assertion(
        key: tuple[dict[str, str], rsa.RSAPublicKey], monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> None:
    monkeypatch.setenv(ENV, json.dumps(key[0]))
    with pytest.raises(TokenRefused, match="ชื่อกล่อง"):
        TokenSource(_cfg(), clock=clock).assertion()


def test_the_config_needs_the_key_variable_but_no_client_id() -> None:
    assert _cfg().client_id == ""
    with pytest.raises(ValueError, match="service_account_key_env"):
        OAuth2.model_validate({"token_url": URL, "grant": "service_account"})
    with pytest.raises(ValueError, match="client_id"):  # the other grants still need theirs
        OAuth2.model_validate({"token_url": URL, "client_secret_env": "X"})


async def test_a_service_account_token_is_fetched_cached_and_renewed(
        key: tuple[dict[str, str], rsa.RSAPublicKey], monkeypatch: pytest.MonkeyPatch) -> None:
    info, public = key
    monkeypatch.setenv(ENV, json.dumps(info))
    clock = FakeClock(dt.datetime.now(dt.UTC))  # the token server checks exp against its own time
    now = [0.0]
    with TokenServer(USER, service_account=(info["client_email"], public), expires_in=100) as ts:
        tokens = TokenSource(_cfg(ts.token_url), subject=USER, monotonic=lambda: now[0], clock=clock)
        first, fresh = await tokens.token()
        assert fresh and ts.grants == [JWT_BEARER] and ts.assertions[0]["sub"] == USER
        now[0] = 89.0
        assert await tokens.token() == (first, False)
        now[0] = 90.0  # a tenth of the lifetime before its end
        assert (await tokens.token())[1] is True
        tokens.forget(ts.issued[-1])
        assert (await tokens.token())[1] is True and tokens.fetches == 3
        clock.advance(hours=-2)  # the gateway's clock two hours slow: its assertion has expired
        with pytest.raises(TokenRefused, match="invalid_grant"):
            await tokens.token(renew=True)
        assert len(ts.assertions) == 3
