"""A Google service account key that is missing, wrong or foreign (#23): one case a row.

Settings: the key written into config.toml, the grant without its variable, a clear-text token URL
to another host are refused when the file is read. Key material: whatever is wrong with the file
the variable names (missing, a folder, not JSON, not a service account key, a key that is not
RSA, encrypted or broken) is a refusal worded in Thai, and the private key appears in no error
text, no chained exception and no log line. The endpoint: an assertion signed with another key,
for a mailbox not delegated, or a scope not granted is refused with the Thai hint that fits.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway.config.mail import OAuth2
from gateway.errors import ConfigError, UserError
from gateway.oauth import TokenSource
from tests.conftest import make_settings
from tests.servers.oauth2 import TokenServer, service_account_key

ENV = "SARABAN_TEST_GOOGLE_KEY"
USER = "saraban@agency.test"
MAILBOX = {"name": "central", "host": "127.0.0.1", "user": USER, "auth": "oauth2"}
GOOD = {"token_url": "https://oauth2.googleapis.com/token", "grant": "service_account",
        "service_account_key_env": ENV}
PEM_MARK = "MIIE"  # how every PKCS#8 RSA key's base64 body begins

# (case, mailbox changes, text the refusal must carry)
BAD_SETTINGS = [
    ("no key variable", {"oauth2": {**GOOD, "service_account_key_env": ""}}, "service_account_key_env"),
    ("key inline", {"oauth2": {**GOOD, "private_key": "-----BEGIN PRIVATE KEY-----\nMIIEx"}}, "private_key"),
    ("key variable not a name", {"oauth2": {**GOOD, "service_account_key_env": "/etc/sa.json"}},
     "service_account_key_env"),
    ("clear-text token URL to another host",
     {"oauth2": {**GOOD, "token_url": "http://oauth2.googleapis.com/token"}}, "https"),
]


@pytest.mark.parametrize(("case", "change", "said"), BAD_SETTINGS, ids=[r[0] for r in BAD_SETTINGS])
def test_bad_service_account_settings_are_refused(tmp_path: Path, case: str, change: dict[str, object],
                                                  said: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make_settings(tmp_path, imap=[{**MAILBOX, **change}])
    assert said in str(caught.value) and PEM_MARK not in str(caught.value)


def _pem(key: object, encryption: serialization.KeySerializationEncryption | None = None) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,  # type: ignore[attr-defined]
                             encryption or serialization.NoEncryption()).decode()


_INFO, _ = service_account_key()
_EC = _pem(ec.generate_private_key(ec.SECP256R1()))
_LOCKED = _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048),
               serialization.BestAvailableEncryption(b"pass"))

# (case, the variable's value made from a temporary folder (None: unset), Thai words expected)
BAD_KEYS: list[tuple[str, Callable[[Path], str | None], str]] = [
    ("variable unset", lambda d: None, "ไม่พบตัวแปรสภาพแวดล้อม"),
    ("file missing", lambda d: str(d / "nowhere.json"), "อ่านแฟ้มกุญแจ service account ไม่ได้"),
    ("a folder", lambda d: str(d), "อ่านแฟ้มกุญแจ service account ไม่ได้"),
    ("not text (DER bytes)", lambda d: _write_bytes(d, b"\x30\x82\xff" + _INFO["private_key"].encode()),
     "อ่านแฟ้มกุญแจ service account ไม่ได้"),
    ("the PEM alone, not JSON", lambda d: _write(d, _INFO["private_key"]), "ไม่ใช่ JSON"),
    ("JSON cut short in the variable", lambda d: json.dumps(_INFO)[:900], "ไม่ใช่ JSON"),
    ("JSON list", lambda d: _write(d, json.dumps([_INFO])), "ไม่ใช่กุญแจ service account"),
    ("an OAuth client file", lambda d: _write(d, json.dumps({"installed": {"client_id": "x"}})),
     "ไม่ใช่กุญแจ service account"),
    ("a user's credentials", lambda d: _write(d, json.dumps({**_INFO, "type": "authorized_user"})),
     "type = authorized_user"),
    ("no client_email", lambda d: json.dumps({**_INFO, "client_email": ""}), "ไม่มี client_email"),
    ("no private_key", lambda d: json.dumps({k: v for k, v in _INFO.items() if k != "private_key"}),
     "ไม่มี private_key"),
    ("private key broken", lambda d: json.dumps({**_INFO, "private_key": _INFO["private_key"][:400]}),
     "private_key อ่านไม่ได้"),
    ("private key encrypted", lambda d: json.dumps({**_INFO, "private_key": _LOCKED}), "private_key อ่านไม่ได้"),
    ("private key not RSA", lambda d: json.dumps({**_INFO, "private_key": _EC}), "ไม่ใช่กุญแจ RSA"),
]


def _write(folder: Path, text: str) -> str:
    path = folder / "sa.json"
    path.write_text(text)
    return str(path)


def _write_bytes(folder: Path, data: bytes) -> str:
    path = folder / "sa.der"
    path.write_bytes(data)
    return str(path)


def _chain(exc: BaseException | None) -> str:
    out = ""
    while exc is not None:
        out += f"{exc!s} {exc!r} {getattr(exc, 'doc', '')}\n"
        exc = exc.__cause__ or exc.__context__
    return out


@pytest.mark.parametrize(("case", "value", "said"), BAD_KEYS, ids=[r[0] for r in BAD_KEYS])
async def test_a_bad_key_is_a_thai_refusal_that_never_shows_the_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        case: str, value: Callable[[Path], str | None], said: str) -> None:
    caplog.set_level(logging.DEBUG)
    made = value(tmp_path)
    if made is None:
        monkeypatch.delenv(ENV, raising=False)
    else:
        monkeypatch.setenv(ENV, made)
    tokens = TokenSource(OAuth2.model_validate(GOOD), subject=USER)
    with pytest.raises(UserError) as caught:
        await tokens.token()
    assert said in caught.value.message_th and tokens.fetches == 0
    told = _chain(caught.value) + caplog.text
    for secret_part in (PEM_MARK, "PRIVATE KEY", "pass", _INFO["private_key"].splitlines()[5]):
        assert secret_part not in told


FOREIGN, _ = service_account_key()

# (case, what the token server trusts, its delegated scope, mailbox asked for, Thai words expected)
REFUSALS = [
    ("signed with another key", "foreign", "https://mail.google.com/", USER, "ตรวจแฟ้มกุญแจ service account"),
    ("a mailbox outside the domain", "ours", "https://mail.google.com/", "boss@elsewhere.test",
     "boss@elsewhere.test เป็นผู้ใช้ในโดเมน"),
    ("scope not delegated", "ours", "https://www.googleapis.com/auth/gmail.readonly", USER,
     "domain-wide delegation"),
]


@pytest.mark.parametrize(("case", "trusted", "scope", "sub", "said"), REFUSALS, ids=[r[0] for r in REFUSALS])
async def test_a_refused_assertion_names_what_to_fix(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        case: str, trusted: str, scope: str, sub: str, said: str) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv(ENV, json.dumps(_INFO))
    public = service_account_public(_INFO if trusted == "ours" else FOREIGN)
    with TokenServer(USER, service_account=(_INFO["client_email"], public), delegated_scope=scope) as ts:
        tokens = TokenSource(OAuth2.model_validate({**GOOD, "token_url": ts.token_url}), subject=sub)
        with pytest.raises(UserError) as caught:
            await tokens.token()
        assert ts.issued == []
    assert said in caught.value.message_th
    assert PEM_MARK not in _chain(caught.value) + caplog.text


def service_account_public(info: dict[str, str]) -> rsa.RSAPublicKey:
    key = serialization.load_pem_private_key(info["private_key"].encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key.public_key()
