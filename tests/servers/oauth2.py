"""A tiny OAuth 2.0 authorization server on 127.0.0.1 for tests (no outside network).

    with TokenServer({"saraban@agency.test"}, client_id="gw", client_secret="s3") as ts:
        ts.token_url        # POST grant_type=client_credentials | refresh_token -> access token
        ts.introspect_url   # POST token=... -> {"active": true, "username": ...} (RFC 7662)
        ts.expire_all()     # every token issued so far stops being active

A Google service account (RFC 7523 jwt-bearer, domain-wide delegation) is accepted when the
server is given the account's e-mail and public key (`service_account=`; `service_account_key()`
makes a key pair and Google's JSON key file at test time): the assertion's RS256 signature, iss,
aud (this server's token_url), sub (its user), scope, exp in the future and exp - iat <= 3600 are
checked, and a failure is answered as Google does: 400 invalid_grant (401 unauthorized_client for
a scope that was not delegated).

Tokens are issued for one user (`user`, the mailbox the token is good for: Microsoft 365's
client credentials grant gives an application token, the mailbox being named in XOAUTH2);
`expires_in` is what the server announces. Dovecot's oauth2 passdb (introspection_mode =
post) and the relay in the tests ask /introspect whether a token is active and for whom.
"""

from __future__ import annotations

import json
import secrets
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = ["JWT_BEARER", "TokenServer", "service_account_key"]

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def service_account_key(email: str = "saraban-gw@agency-project.iam.gserviceaccount.com",
                        ) -> tuple[dict[str, str], rsa.RSAPublicKey]:
    """A new RSA key pair as Google's service account JSON key file, and its public key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return {"type": "service_account", "project_id": "agency-project", "private_key_id": "k1",
            "private_key": pem, "client_email": email, "client_id": "1234567890",
            "token_uri": "https://oauth2.googleapis.com/token"}, key.public_key()


class TokenServer:
    def __init__(self, user: str, *, client_id: str = "saraban-gateway", client_secret: str = "s3cret",
                 refresh_token: str = "refresh-1", expires_in: int = 3600,
                 service_account: tuple[str, rsa.RSAPublicKey] | None = None,
                 delegated_scope: str = "https://mail.google.com/") -> None:
        self.user = user
        self.service_account = service_account  # (client_email, public key) it trusts
        self.delegated_scope = delegated_scope
        self.assertions: list[dict[str, Any]] = []  # the claims of every accepted assertion
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_token = refresh_token
        self.expires_in = expires_in
        self.active: dict[str, str] = {}  # token -> user
        self.issued: list[str] = []
        self.introspections = 0
        self.grants: list[str] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self._httpd is not None
        return int(self._httpd.server_address[1])

    @property
    def token_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    @property
    def introspect_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/introspect"

    def expire_all(self) -> None:
        with self._lock:
            self.active.clear()

    def is_active(self, token: str) -> str | None:
        with self._lock:
            self.introspections += 1
            return self.active.get(token)

    def _assertion(self, assertion: str) -> tuple[int, dict[str, object]] | None:
        """None when the service account's assertion is good, else Google's refusal."""
        if self.service_account is None:
            return 400, {"error": "unsupported_grant_type"}
        email, public_key = self.service_account
        try:
            claims = jwt.decode(assertion, public_key, algorithms=["RS256"], audience=self.token_url,
                                issuer=email, options={"require": ["iss", "sub", "aud", "iat", "exp"]})
        except jwt.PyJWTError as exc:
            return 400, {"error": "invalid_grant", "error_description": f"Invalid JWT: {exc}"}
        if not isinstance(claims["iat"], int) or claims["exp"] - claims["iat"] > 3600:
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT: lifetime over 1 h"}
        if claims["sub"] != self.user:
            return 400, {"error": "invalid_grant", "error_description": "Invalid email or User ID"}
        if claims.get("scope") != self.delegated_scope:
            return 401, {"error": "unauthorized_client",
                         "error_description": "Client is unauthorized to retrieve access tokens using this "
                                              "method, or client not authorized for any of the scopes requested."}
        with self._lock:
            self.assertions.append(claims)
        return None

    def _issue(self, form: dict[str, str]) -> tuple[int, dict[str, object]]:
        grant = form.get("grant_type", "")
        if grant == JWT_BEARER:
            refused = self._assertion(form.get("assertion", ""))
            if refused is not None:
                return refused
        elif form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return 401, {"error": "invalid_client", "error_description": "bad client credentials"}
        if grant == "refresh_token" and form.get("refresh_token") != self.refresh_token:
            return 400, {"error": "invalid_grant", "error_description": "refresh token revoked"}
        if grant not in ("client_credentials", "refresh_token", JWT_BEARER):
            return 400, {"error": "unsupported_grant_type"}
        token = "at-" + secrets.token_urlsafe(16)
        with self._lock:
            self.active[token] = self.user
            self.issued.append(token)
            self.grants.append(grant)
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": self.expires_in,
                     "scope": form.get("scope", "")}

    def start(self) -> Self:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _answer(self, status: int, body: dict[str, object]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                if self.path == "/token":
                    self._answer(*server._issue(form))
                elif self.path == "/introspect":
                    user = server.is_active(form.get("token", ""))
                    self._answer(200, {"active": True, "username": user} if user else {"active": False})
                else:
                    self._answer(404, {"error": "not found"})

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
