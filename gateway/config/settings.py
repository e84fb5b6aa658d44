"""The whole settings file: read once, validated into one frozen `Settings`, secrets refused.

A bad file is refused with a message that names the key (`agency.latin_code`) and what is wrong,
in Thai and English. Keys ending in `_env` name the environment variable that holds a secret, and
`secret()` reads it when it is needed.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

from pydantic import Field, ValidationError, field_validator, model_validator

from gateway.config.agency import Agency, Books, Directory, Unit
from gateway.config.letters import Forwarding, Intake, Outbound, Reports, Signing
from gateway.config.mail import Imap, Outbox, Relay, SmtpListener, Submission
from gateway.config.model import ConfigModel, EnvVar
from gateway.config.office import Calendar
from gateway.config.ops import AlarmChannels, BackupSettings, Health, Logging
from gateway.config.trust import Authentication
from gateway.errors import ConfigError

__all__ = ["Settings", "Storage", "load_settings", "parse_settings", "secret"]

_SECRET_KEYS = re.compile(r"(^|_)(password|passphrase|secret|token)$")


class Storage(ConfigModel):
    data_dir: Path = Path("data")
    database_url: str = Field(
        default="",
        description="empty: SQLite file <data_dir>/saraban.sqlite3; or postgresql+psycopg://…",
    )
    database_password_env: EnvVar = ""

    @field_validator("database_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if v and not v.startswith(("sqlite+aiosqlite://", "postgresql+psycopg://")):
            raise ValueError(
                "รองรับเฉพาะ sqlite+aiosqlite:// หรือ postgresql+psycopg:// "
                f"(only sqlite+aiosqlite:// or postgresql+psycopg:// URLs): {v!r}"
            )
        if "@" in v and re.search(r"://[^/@]*:[^/@]*@", v):
            raise ValueError(
                "ห้ามใส่รหัสผ่านใน URL ให้ใช้ database_password_env "
                "(no password in the URL: use database_password_env)"
            )
        return v


class Settings(ConfigModel):
    agency: Agency
    storage: Storage = Storage()
    smtp_listener: SmtpListener = SmtpListener()
    imap: tuple[Imap, ...] = ()
    relay: Relay = Relay()
    outbox: Outbox = Outbox()
    books: Books = Books()
    intake: Intake = Intake()
    signing: Signing = Signing()
    units: tuple[Unit, ...] = ()
    directory: Directory = Directory()
    submission: Submission = Submission()
    outbound: Outbound = Outbound()
    forwarding: Forwarding = Forwarding()
    reports: Reports = Reports()
    calendar: Calendar = Calendar()
    authentication: Authentication = Authentication()
    logging: Logging = Logging()
    health: Health = Health()
    alarm: AlarmChannels = AlarmChannels()
    backup: BackupSettings = BackupSettings()

    # Where the file was read from: relative paths are taken from its folder.
    base_dir: Path = Path(".")

    @model_validator(mode="after")
    def _cross_checks(self) -> Settings:
        codes = [u.code for u in self.units]
        dup = {c for c in codes if codes.count(c) > 1}
        if dup:
            raise ValueError(f"units: รหัสหน่วยงานซ้ำ (duplicate unit code): {', '.join(sorted(dup))}")
        for i, u in enumerate(self.units):
            if u.parent and u.parent not in codes:
                raise ValueError(
                    f"units[{i}].parent: ไม่มีหน่วยงาน {u.parent!r} (no such unit)"
                )
        for i, user in enumerate(self.submission.users):
            if user.unit and user.unit not in codes:
                raise ValueError(f"submission.users[{i}].unit: ไม่มีหน่วยงาน {user.unit!r} (no such unit)")
        for i, rule in enumerate(self.forwarding.rules):
            for code in (rule.unit, *rule.copies):
                if code not in codes:
                    raise ValueError(f"forwarding.rules[{i}]: ไม่มีหน่วยงาน {code!r} (no such unit)")
        names = [m.name for m in self.imap]
        if len(set(names)) != len(names):
            raise ValueError("imap: ชื่อกล่องจดหมายซ้ำ (duplicate mailbox name)")
        return self

    # Derived paths -----------------------------------------------------------
    @property
    def data_path(self) -> Path:
        return (self.base_dir / self.storage.data_dir).resolve()

    @property
    def blob_path(self) -> Path:
        return self.data_path / "blobs"

    @property
    def outbox_lifetime_hours(self) -> float:
        """How long a mail is retried: [outbox] give_up_after_hours, else [outbound] lifetime_days."""
        return self.outbox.give_up_after_hours or self.outbound.lifetime_days * 24.0

    @property
    def outbox_path(self) -> Path:
        return (self.data_path / self.relay.outbox_dir).resolve()

    @property
    def database_url(self) -> str:
        if self.storage.database_url:
            return self.storage.database_url
        return f"sqlite+aiosqlite:///{self.data_path / 'saraban.sqlite3'}"

    def unit(self, code: str) -> Unit | None:
        return next((u for u in self.units if u.code == code), None)


def secret(env_name: str, *, what: str, what_en: str) -> str:
    """Read a secret from the environment at the moment it is needed; `what` names it in
    Thai, `what_en` in English."""
    value = os.environ.get(env_name)
    if not value:
        raise ConfigError(
            f"ไม่พบตัวแปรสภาพแวดล้อม {env_name} สำหรับ{what}",
            f"environment variable {env_name} for the {what_en} is not set",
        )
    return value


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(root)"


def _reject_inline_secrets(data: object, path: str = "") -> None:
    """Secrets in the file are refused: they belong in the environment."""
    if isinstance(data, dict):
        for k, v in data.items():
            key = f"{path}.{k}" if path else str(k)
            if isinstance(k, str) and _SECRET_KEYS.search(k) and not k.endswith("_env"):
                raise ConfigError(
                    f"config.toml: {key}: ห้ามเก็บรหัสลับในไฟล์ ให้ใช้ {k}_env ระบุชื่อตัวแปรสภาพแวดล้อม",
                    f"config.toml: {key}: secrets are not allowed in the file; use {k}_env "
                    "to name an environment variable",
                )
            _reject_inline_secrets(v, key)
    elif isinstance(data, list):
        for i, v in enumerate(data):
            _reject_inline_secrets(v, f"{path}[{i}]")


def parse_settings(data: dict[str, object], *, base_dir: Path, source: str = "config.toml") -> Settings:
    _reject_inline_secrets(data)
    try:
        return Settings.model_validate({**data, "base_dir": base_dir})
    except ValidationError as exc:
        lines_th: list[str] = []
        lines_en: list[str] = []
        for err in exc.errors():
            key = _loc(err["loc"])
            msg = str(err["msg"]).removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                lines_th.append(f"{source}: {key}: ไม่รู้จักคีย์นี้")
                lines_en.append(f"{source}: {key}: unknown key")
            elif err["type"] == "missing":
                lines_th.append(f"{source}: {key}: ต้องระบุ")
                lines_en.append(f"{source}: {key}: required")
            elif not err["loc"]:  # whole-file cross-checks name their own key
                lines_th.append(f"{source}: {msg}")
                lines_en.append(f"{source}: {msg}")
            else:
                lines_th.append(f"{source}: {key}: {msg}")
                lines_en.append(f"{source}: {key}: {msg}")
        raise ConfigError(
            "การตั้งค่าไม่ถูกต้อง:\n  " + "\n  ".join(lines_th),
            "invalid configuration:\n  " + "\n  ".join(lines_en),
        ) from None


def load_settings(path: Path) -> Settings:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"อ่านไฟล์การตั้งค่า {path} ไม่ได้: {exc.strerror}",
            f"cannot read config file {path}: {exc.strerror}",
        ) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(
            f"{path}: ไฟล์ต้องเข้ารหัส UTF-8", f"{path}: the file must be UTF-8"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{path}: รูปแบบ TOML ไม่ถูกต้อง: {exc}", f"{path}: invalid TOML: {exc}"
        ) from None
    return parse_settings(data, base_dir=path.resolve().parent, source=path.name)
