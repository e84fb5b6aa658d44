"""Submission users: scrypt hashes in the config's format, and the users file."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from gateway.config import SubmissionUser
from gateway.errors import ConfigError
from gateway.passwords import hash_password, load_users, verify_password
from tests.conftest import make_settings

# The pattern SubmissionUser.password_hash accepts (gateway/config.py).
STORED = re.compile(r"^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$")

THAI = "รหัสผ่านสารบรรณ๒๕๖๙"


@pytest.fixture(scope="module")
def hashes() -> dict[str, str]:
    return {"ascii": hash_password("correct horse"), "thai": hash_password(THAI)}


def test_format_matches_config_and_parameters(hashes: dict[str, str]) -> None:
    for stored in hashes.values():
        assert STORED.match(stored)
        _, n, r, p, salt, digest = stored.split("$")
        assert (n, r, p) == ("16384", "8", "1")
        assert len(base64.b64decode(salt)) == 32 and len(base64.b64decode(digest)) == 32
        SubmissionUser(name="clerk", password_hash=stored)  # accepted by the config model
    assert hashes["ascii"] != hash_password("correct horse")  # fresh salt each time


def test_given_salt_is_deterministic() -> None:
    salt = bytes(range(32))
    assert hash_password("x", salt=salt) == hash_password("x", salt=salt)
    assert base64.b64decode(hash_password("x", salt=salt).split("$")[4]) == salt


@pytest.mark.parametrize(
    ("kind", "password", "ok"),
    [
        ("ascii", "correct horse", True),
        ("ascii", "correct horse ", False),
        ("ascii", "Correct horse", False),
        ("ascii", "", False),
        ("thai", THAI, True),
        ("thai", THAI[:-1], False),
        ("thai", "correct horse", False),
    ],
)
def test_verify(hashes: dict[str, str], kind: str, password: str, ok: bool) -> None:
    assert verify_password(password, hashes[kind]) is ok


def test_password_is_compared_after_nfc() -> None:
    # RFC 8265 OpaqueString: a composed letter and its decomposed spelling are one password.
    stored = hash_password("caf\u00e9")
    assert verify_password("cafe\u0301", stored)


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "plain-text-password",
        "bcrypt$16384$8$1$AAAA$AAAA",
        "scrypt$16384$8$1$AAAA",
        "scrypt$x$8$1$AAAA$AAAA",
        "scrypt$16384$8$1$not*base64$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "scrypt$16383$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "scrypt$1073741824$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "scrypt$16384$0$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA",
    ],
)
def test_malformed_stored_value_is_false(stored: str) -> None:
    assert verify_password("anything", stored) is False


def _settings(tmp_path: Path, users: list[dict[str, str]] | None = None, users_file: str | None = None):
    sub: dict[str, object] = {"users": users or []}
    if users_file is not None:
        sub["users_file"] = users_file
    return make_settings(tmp_path, submission=sub)


def test_users_from_config_and_file_by_lowercased_name(tmp_path: Path, hashes: dict[str, str]) -> None:
    (tmp_path / "users.txt").write_text(
        "# ผู้ใช้ที่ส่งหนังสือออกได้\n"
        "\n"
        f"hr@agency.test:{hashes['thai']}:hr\n"
        f"  Admin@Agency.test : {hashes['ascii']}  \n"
        f"plain@agency.test:{hashes['ascii']}:\n",
        encoding="utf-8",
    )
    s = _settings(
        tmp_path,
        [{"name": "Saraban@Agency.test", "password_hash": hashes["ascii"], "unit": "admin"}],
        "users.txt",  # relative: taken from base_dir
    )
    users = load_users(s)
    assert sorted(users) == ["admin@agency.test", "hr@agency.test", "plain@agency.test", "saraban@agency.test"]
    assert users["saraban@agency.test"].name == "Saraban@Agency.test"
    assert users["saraban@agency.test"].unit == "admin"
    assert users["hr@agency.test"].unit == "hr" and users["hr@agency.test"].password_hash == hashes["thai"]
    assert users["admin@agency.test"].name == "Admin@Agency.test" and users["admin@agency.test"].unit == ""
    assert users["plain@agency.test"].unit == ""


def test_no_users_file(tmp_path: Path) -> None:
    assert load_users(_settings(tmp_path)) == {}


@pytest.mark.parametrize(
    "bad_line",
    [
        "no-hash-here",
        "clerk:plaintext-password",
        "clerk:scrypt$16384$8$1$AAAA$AAAA:hr:extra",
        ":scrypt$16384$8$1$AAAA$AAAA",
    ],
)
def test_malformed_line_names_file_and_line(tmp_path: Path, hashes: dict[str, str], bad_line: str) -> None:
    f = tmp_path / "users.txt"
    f.write_text(f"# header\nok@agency.test:{hashes['ascii']}\n\n{bad_line}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_users(_settings(tmp_path, users_file=str(f)))  # absolute path
    err = e.value
    assert "บรรทัด 4" in err.message_th and str(f) in err.message_th
    assert "line 4" in err.message_en and str(f) in err.message_en
    assert "plaintext-password" not in str(err)  # the line itself is not echoed


def test_duplicate_between_config_and_file_is_an_error(tmp_path: Path, hashes: dict[str, str]) -> None:
    (tmp_path / "users.txt").write_text(
        f"other@agency.test:{hashes['ascii']}\nSARABAN@agency.test:{hashes['thai']}\n", encoding="utf-8"
    )
    s = _settings(tmp_path, [{"name": "saraban@agency.test", "password_hash": hashes["ascii"]}], "users.txt")
    with pytest.raises(ConfigError) as e:
        load_users(s)
    assert "บรรทัด 2" in e.value.message_th and "line 2" in e.value.message_en
    assert "SARABAN@agency.test" in e.value.message_en


def test_duplicate_within_file_and_within_config(tmp_path: Path, hashes: dict[str, str]) -> None:
    (tmp_path / "users.txt").write_text(
        f"a@agency.test:{hashes['ascii']}\nA@AGENCY.TEST:{hashes['ascii']}\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="line 2"):
        load_users(_settings(tmp_path, users_file="users.txt"))
    twice = [{"name": "b@agency.test", "password_hash": hashes["ascii"]},
             {"name": "B@agency.test", "password_hash": hashes["thai"]}]
    with pytest.raises(ConfigError, match=r"submission\.users\[1\]"):
        load_users(_settings(tmp_path, twice))


def test_unknown_unit_and_unreadable_file(tmp_path: Path, hashes: dict[str, str]) -> None:
    (tmp_path / "users.txt").write_text(f"a@agency.test:{hashes['ascii']}:nosuchunit\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="line 1: no such unit"):
        load_users(_settings(tmp_path, users_file="users.txt"))
    with pytest.raises(ConfigError, match="cannot read users file"):
        load_users(_settings(tmp_path, users_file="missing.txt"))
    (tmp_path / "latin1.txt").write_bytes(b"a\xe9:x\n")
    with pytest.raises(ConfigError, match="UTF-8"):
        load_users(_settings(tmp_path, users_file="latin1.txt"))
