"""config.toml: the sample loads; every kind of bad file is refused naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import load_settings, parse_settings, secret
from gateway.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]

GOOD_AGENCY = {
    "name_th": "สำนักงานทดสอบ",
    "letter_code": "ศธ 04183",
    "latin_code": "OBEC04183",
    "central_addresses": ["Saraban@Agency.test"],
}


def test_documented_sample_loads_with_embedded_defaults() -> None:
    s = load_settings(REPO / "config.toml")
    assert s.agency.letter_code == "ศธ 04183" and s.agency.latin_code == "OBEC04183"
    assert s.database_url.startswith("sqlite+aiosqlite:///") and s.database_url.endswith("saraban.sqlite3")
    assert s.smtp_listener.host == "127.0.0.1" and s.relay.mode == "outbox-folder"
    assert s.data_path == (REPO / "data").resolve()
    assert [u.code for u in s.units] == ["admin", "policy", "personnel"]


def test_addresses_are_normalised_and_postgres_url_accepted(tmp_path: Path) -> None:
    s = parse_settings(
        {"agency": GOOD_AGENCY,
         "storage": {"database_url": "postgresql+psycopg://saraban@db.local:5432/saraban",
                     "database_password_env": "SARABAN_DB_PASSWORD"}},
        base_dir=tmp_path,
    )
    assert s.agency.central_addresses == ("saraban@agency.test",)
    assert s.database_url == "postgresql+psycopg://saraban@db.local:5432/saraban"


BAD = [
    ({"agency": {**GOOD_AGENCY, "latin_code": "สพฐ"}}, "agency.latin_code"),
    ({"agency": {**GOOD_AGENCY, "letter_code": "OBEC"}}, "agency.letter_code"),
    ({"agency": {**GOOD_AGENCY, "central_addresses": ["not-an-address"]}}, "agency.central_addresses[0]"),
    ({"agency": {**GOOD_AGENCY, "central_addresses": []}}, "agency.central_addresses"),
    ({"agency": {k: v for k, v in GOOD_AGENCY.items() if k != "name_th"}}, "agency.name_th"),
    ({}, "agency"),
    ({"agency": GOOD_AGENCY, "smtp_listener": {"port": 70000}}, "smtp_listener.port"),
    ({"agency": GOOD_AGENCY, "smtp_listener": {"prot": 25}}, "smtp_listener.prot"),
    ({"agency": GOOD_AGENCY, "storage": {"database_url": "mysql://x/y"}}, "storage.database_url"),
    ({"agency": GOOD_AGENCY, "storage": {"database_url": "postgresql+psycopg://u:pw@h/db"}},
     "storage.database_url"),
    ({"agency": GOOD_AGENCY, "relay": {"mode": "smtp"}}, "relay"),
    ({"agency": GOOD_AGENCY, "relay": {"mode": "carrier-pigeon"}}, "relay.mode"),
    ({"agency": GOOD_AGENCY, "books": {"start": [{"book": "bogus", "year": 2569, "first_number": 5}]}},
     "books.start[0].book"),
    ({"agency": GOOD_AGENCY, "books": {"start": [{"book": "receive", "year": 2026, "first_number": 5}]}},
     "books.start[0].year"),
    ({"agency": GOOD_AGENCY, "books": {"start": [{"book": "receive", "year": 2569, "first_number": 0}]}},
     "books.start[0].first_number"),
    ({"agency": GOOD_AGENCY, "imap": [{"name": "c", "host": "h", "user": "u", "password_env": "bad name"}]},
     "imap[0].password_env"),
    ({"agency": GOOD_AGENCY, "units": [{"code": "a", "name_th": "ก", "emails": ["a@x.test"], "parent": "zz"}]},
     "units"),
    ({"agency": GOOD_AGENCY, "units": [{"code": "A B", "name_th": "ก", "emails": ["a@x.test"]}]},
     "units[0].code"),
]


@pytest.mark.parametrize("data, key", BAD, ids=[k for _, k in BAD])
def test_bad_config_names_the_key(tmp_path: Path, data: dict, key: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_settings(data, base_dir=tmp_path)
    assert f"config.toml: {key}" in e.value.message_en
    assert f"config.toml: {key}" in e.value.message_th


@pytest.mark.parametrize("where", [
    {"imap": [{"name": "c", "host": "h", "user": "u", "password": "hunter2", "password_env": "X"}]},
    {"relay": {"password": "hunter2"}},
    {"storage": {"database_password": "pw"}},
])
def test_secrets_in_the_file_are_refused(tmp_path: Path, where: dict) -> None:
    with pytest.raises(ConfigError, match="secrets are not allowed"):
        parse_settings({"agency": GOOD_AGENCY, **where}, base_dir=tmp_path)


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[agency\nname_th = 1", encoding="utf-8")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_settings(bad)
    cp874 = tmp_path / "cp874.toml"
    cp874.write_bytes('[agency]\nname_th = "สำนักงาน"\n'.encode("cp874"))
    with pytest.raises(ConfigError, match="must be UTF-8"):
        load_settings(cp874)


def test_secret_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SARABAN_TEST_SECRET", "s3cret")
    assert secret("SARABAN_TEST_SECRET", what="รหัสผ่านทดสอบ", what_en="test password") == "s3cret"
    monkeypatch.delenv("SARABAN_TEST_SECRET")
    with pytest.raises(ConfigError, match="SARABAN_TEST_SECRET") as info:
        secret("SARABAN_TEST_SECRET", what="รหัสผ่านทดสอบ", what_en="test password")
    # each line in its own language: the English one is for a log reader without Thai
    assert "รหัสผ่านทดสอบ" in info.value.message_th
    assert info.value.message_en.isascii() and "test password" in info.value.message_en
