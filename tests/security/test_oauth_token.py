"""OAuth 2.0 settings and token endpoints that must not be trusted (#23): one case a row.

Settings: a secret written into config.toml, a token URL in clear text to another machine, a
grant without its secret are refused when the file is read. Token endpoint answers: a redirect
is not followed (the secret goes to the configured URL only), a broken or hostile answer gives a
clear refusal or a retry later, never a token and never a crash; a slow endpoint is cut off.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gateway.config.mail import OAuth2
from gateway.errors import ConfigError
from gateway.oauth import TokenRefused, TokenSource, TokenUnavailable
from tests.conftest import make_settings

ENV = "SARABAN_TEST_OAUTH_SECRET"
MAILBOX = {"name": "central", "host": "127.0.0.1", "user": "saraban@agency.test", "auth": "oauth2"}
GOOD = {"token_url": "https://login.example.test/t/oauth2/v2.0/token", "client_id": "c",
        "client_secret_env": ENV}

# (case, [imap.oauth2] table or mailbox changes, text the refusal must carry)
BAD_SETTINGS = [
    ("secret inline", {"oauth2": {**GOOD, "client_secret": "hunter2"}}, "client_secret_env"),
    ("refresh token inline", {"oauth2": {**GOOD, "grant": "refresh_token", "refresh_token": "1//x"}},
     "refresh_token_env"),
    ("clear-text token URL to another host", {"oauth2": {**GOOD, "token_url": "http://login.example.test/t"}},
     "https"),
    ("not a URL", {"oauth2": {**GOOD, "token_url": "file:///etc/passwd"}}, "https"),
    ("client credentials without a secret", {"oauth2": {**GOOD, "client_secret_env": ""}}, "client_secret_env"),
    ("refresh grant without a refresh token", {"oauth2": {**GOOD, "grant": "refresh_token"}},
     "refresh_token_env"),
    ("oauth2 without its table", {}, "oauth2"),
    ("secret env name not a name", {"oauth2": {**GOOD, "client_secret_env": "a b"}}, "client_secret_env"),
]


@pytest.mark.parametrize(("case", "change", "said"), BAD_SETTINGS, ids=[r[0] for r in BAD_SETTINGS])
def test_bad_oauth_settings_are_refused(tmp_path: Path, case: str, change: dict[str, object], said: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make_settings(tmp_path, imap=[{**MAILBOX, **change}])
    assert said in str(caught.value)
    assert "hunter2" not in str(caught.value) and "1//x" not in str(caught.value)


# (case, HTTP status, headers, body, the error expected)
ANSWERS: list[tuple[str, int, dict[str, str], bytes, type[Exception]]] = [
    ("redirect elsewhere", 302, {"Location": "http://127.0.0.1:9/steal"}, b"", TokenRefused),
    ("client refused", 401, {}, b'{"error":"invalid_client"}', TokenRefused),
    ("grant refused", 400, {}, b'{"error":"invalid_grant"}', TokenRefused),
    ("server error", 503, {}, b"down", TokenUnavailable),
    ("rate limited", 429, {}, b"", TokenUnavailable),
    ("not JSON", 200, {}, b"<html>login page</html>", TokenRefused),
    ("JSON without a token", 200, {}, b'{"token_type":"Bearer"}', TokenRefused),
    ("token not a string", 200, {}, b'{"access_token":["a"]}', TokenRefused),
    ("JSON list", 200, {}, b'["access_token"]', TokenRefused),
]


@pytest.fixture(scope="module")
def endpoint() -> Iterator[tuple[str, dict[str, object]]]:
    answer: dict[str, object] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(int(answer["status"]))  # type: ignore[call-overload]
            for k, v in answer["headers"].items():  # type: ignore[attr-defined]
                self.send_header(k, v)
            body = answer["body"]
            assert isinstance(body, bytes)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/token", answer
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize(("case", "status", "headers", "body", "error"), ANSWERS, ids=[r[0] for r in ANSWERS])
async def test_a_bad_token_answer_gives_no_token(
        endpoint: tuple[str, dict[str, object]], monkeypatch: pytest.MonkeyPatch, case: str, status: int,
        headers: dict[str, str], body: bytes, error: type[Exception]) -> None:
    url, answer = endpoint
    answer.update(status=status, headers=headers, body=body)
    monkeypatch.setenv(ENV, "s3cret")
    tokens = TokenSource(OAuth2(token_url=url, client_id="c", client_secret_env=ENV))
    with pytest.raises(error) as caught:
        await tokens.token()
    assert "s3cret" not in str(caught.value)
    assert tokens.fetches == 0


async def test_a_good_answer_is_cached_until_shortly_before_it_expires(
        endpoint: tuple[str, dict[str, object]], monkeypatch: pytest.MonkeyPatch) -> None:
    url, answer = endpoint
    answer.update(status=200, headers={}, body=b'{"access_token":"at-1","expires_in":100}')
    monkeypatch.setenv(ENV, "s3cret")
    now = [0.0]
    tokens = TokenSource(OAuth2(token_url=url, client_id="c", client_secret_env=ENV), monotonic=lambda: now[0])
    assert await tokens.token() == ("at-1", True)
    now[0] = 89.0
    assert await tokens.token() == ("at-1", False)
    now[0] = 90.0  # a tenth of the lifetime before its end
    assert await tokens.token() == ("at-1", True) and tokens.fetches == 2
    tokens.forget("at-1")
    assert (await tokens.token())[1] is True and tokens.fetches == 3
