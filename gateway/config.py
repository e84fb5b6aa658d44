"""Typed, frozen settings read once from config.toml (architecture.md, house style 9).

The whole file is parsed and validated at start-up into one `Settings` object that
is passed down; nothing reads the file again. A bad file is refused with a message
that names the key (`agency.latin_code`) and what is wrong, in Thai and English.

Secrets never live in the file: keys ending in `_env` name the environment
variable that holds the secret, and `secret()` reads it when it is needed.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from gateway.errors import ConfigError

BOOK_CODES: tuple[str, ...] = ("receive", "send", "circular", "order")
"""The agency-level register books of the regulation (domain.md §3)."""

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_SECRET_KEYS = re.compile(r"(^|_)(password|passphrase|secret|token)$")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


def _check_email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError(f"ไม่ใช่ที่อยู่อีเมล (not an e-mail address): {value!r}")
    return value.lower()


def _check_env_name(value: str) -> str:
    if value and not _ENV_NAME.match(value):
        raise ValueError(
            "ต้องเป็นชื่อตัวแปรสภาพแวดล้อม เช่น SARABAN_IMAP_PASSWORD "
            f"(must be an environment variable name such as SARABAN_IMAP_PASSWORD): {value!r}"
        )
    return value


EnvVar = Annotated[str, AfterValidator(_check_env_name)]
Email = Annotated[str, AfterValidator(_check_email)]


class Agency(_Model):
    name_th: str = Field(min_length=1)
    letter_code: str = Field(min_length=1, description="Thai letter code, e.g. 'ศธ 04183'")
    latin_code: str = Field(min_length=1, description="ASCII code for file names, e.g. 'OBEC04183'")
    central_addresses: tuple[Email, ...] = Field(min_length=1)
    unit_name_th: str = ""
    contact: str = ""
    thai_digits: bool = Field(
        default=True, description="write Thai digits in letters and the receive stamp"
    )

    @field_validator("latin_code")
    @classmethod
    def _latin(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9.-]+", v):
            raise ValueError(
                "ต้องเป็นอักษรละตินหรือตัวเลขเท่านั้น ใช้ตั้งชื่อไฟล์ "
                f"(only Latin letters and digits, it is used in file names): {v!r}"
            )
        return v

    @field_validator("letter_code")
    @classmethod
    def _thai_code(cls, v: str) -> str:
        if not re.search(r"[\u0E01-\u0E2E]", v):
            raise ValueError(
                f"ต้องมีรหัสพยัญชนะไทย เช่น 'ศธ 04183' (must hold a Thai code such as 'ศธ 04183'): {v!r}"
            )
        return v


class Storage(_Model):
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


class SmtpListener(_Model):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=2525, ge=0, le=65535)
    hostname: str = "saraban-gateway.localhost"
    max_message_bytes: int = Field(default=25 * 1024 * 1024, gt=0)


class Imap(_Model):
    name: str = Field(min_length=1)
    host: str = Field(min_length=1)
    port: int = Field(default=993, ge=1, le=65535)
    user: str = Field(min_length=1)
    password_env: EnvVar = Field(min_length=1)
    mailbox: str = "INBOX"
    ca_file: Path | None = None
    poll_seconds: int = Field(default=60, ge=1)
    enabled: bool = True


class Relay(_Model):
    mode: Literal["outbox-folder", "smtp"] = "outbox-folder"
    outbox_dir: Path = Path("outbox")
    host: str = ""
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = True
    username: str = ""
    password_env: EnvVar = ""
    timeout_seconds: float = Field(default=30.0, gt=0)
    concurrency: int = Field(default=4, ge=1, le=64, description="mails delivered at once")
    ca_file: Path | None = None  # trust this CA for the relay's certificate (else the system's)

    @model_validator(mode="after")
    def _smtp_needs_host(self) -> Relay:
        if self.mode == "smtp" and not self.host:
            raise ValueError(
                "mode = \"smtp\" ต้องระบุ host (mode = \"smtp\" needs relay.host)"
            )
        return self


class BookStart(_Model):
    book: str
    year: int = Field(ge=2400, le=2800, description="Buddhist-era year")
    first_number: int = Field(ge=1)

    @field_validator("book")
    @classmethod
    def _book(cls, v: str) -> str:
        if v not in BOOK_CODES:
            raise ValueError(
                f"ไม่รู้จักทะเบียน {v!r} ต้องเป็นหนึ่งใน {', '.join(BOOK_CODES)} "
                f"(unknown book {v!r}; one of {', '.join(BOOK_CODES)})"
            )
        return v


class Books(_Model):
    start: tuple[BookStart, ...] = ()
    reservation_days: int = Field(default=30, ge=1, description="unused reservations expire")

    @model_validator(mode="after")
    def _unique(self) -> Books:
        seen: set[tuple[str, int]] = set()
        for s in self.start:
            if (s.book, s.year) in seen:
                raise ValueError(
                    f"กำหนดเลขเริ่มต้นซ้ำ {s.book} {s.year} (start number given twice)"
                )
            seen.add((s.book, s.year))
        return self

    def first_number(self, book: str, year: int) -> int:
        for s in self.start:
            if s.book == book and s.year == year:
                return s.first_number
        return 1


class Unit(_Model):
    code: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name_th: str = Field(min_length=1)
    emails: tuple[Email, ...] = Field(min_length=1)
    aliases: tuple[str, ...] = ()
    own_register: bool = False
    parent: str = ""


class Folders(_Model):
    """Folder names in the central mailbox: the clerk's view of the register (Thai by default)."""

    registered: str = "ลงรับแล้ว"
    review: str = "รอตรวจสอบ"
    restricted: str = "รอตรวจสอบ (ลับ)"
    rejected: str = "ไม่รับ"
    other: str = "อื่น ๆ"

    def all(self) -> tuple[str, ...]:
        return (self.registered, self.review, self.restricted, self.rejected, self.other)

    @model_validator(mode="after")
    def _distinct(self) -> Folders:
        names = self.all()
        if len(set(names)) != len(names):
            raise ValueError("ชื่อโฟลเดอร์ต้องไม่ซ้ำกัน (folder names must differ)")
        return self


class Intake(_Model):
    ack_disabled_domains: tuple[str, ...] = Field(
        default=(), description="no acknowledgement to senders in these domains (e.g. our units)"
    )
    folders: Folders = Folders()
    alarm_after_minutes: int = Field(default=30, ge=1)
    max_attempts: int = Field(default=5, ge=1, description="a letter failing this often goes to review")
    receive_notifier: bool = Field(
        default=False, description="answer XML letters on arrival with a ReceiveLetterNotifier"
    )
    stamp_corner: Literal["top-right", "top-left", "bottom-right", "bottom-left"] = "top-right"
    stamp_margin: float = Field(default=28.0, ge=0)
    stamp_font: Path | None = None
    trust_roots_dir: Path | None = Field(
        default=None, description="folder of CA certificates (PEM/DER) for signature checks"
    )
    read_processes: int | None = Field(
        default=None, ge=0, le=32,
        description="worker processes that read messages (MIME, PDF, XML); unset: one per core "
        "but one, at most 4; 0: read inside the gateway's own process",
    )


class Signing(_Model):
    """The agency's signing certificate for outgoing letters (PAdES)."""

    pkcs12_file: Path | None = None
    passphrase_env: EnvVar = ""
    timestamp_url: str = ""  # set: PAdES B-T; empty: B-B
    visible: bool = False
    signer_name: str = ""
    position: str = ""
    reason: str = "ลงนามหนังสือราชการ"

    @model_validator(mode="after")
    def _visible_needs_name(self) -> Signing:
        if self.visible and not (self.signer_name and self.position):
            raise ValueError(
                "visible = true ต้องระบุ signer_name และ position (needs signer_name and position)"
            )
        return self


class SubmissionUser(_Model):
    """A clerk allowed to send through the submission server (the central mailbox's account)."""

    name: str = Field(min_length=1, description="login name, e.g. saraban@agency.go.th")
    password_hash: str = Field(
        pattern=r"^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$",
        description="from `saraban-gateway passwd`; never the password itself",
    )
    unit: str = ""  # the owning unit (CC on request, owner of its reservations)


class Submission(_Model):
    """The submission server a clerk's mail client sends through (STARTTLS + AUTH required)."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=2587, ge=0, le=65535)
    hostname: str = "saraban-gateway.localhost"
    # PEM files; left empty, a self-signed certificate is made once in <data_dir>/tls.
    cert_file: Path | None = None
    key_file: Path | None = None
    users: tuple[SubmissionUser, ...] = ()
    users_file: Path | None = Field(
        default=None, description="more users, one per line: name:password_hash[:unit]"
    )
    max_failed_logins: int = Field(default=5, ge=1, description="per client address and window")
    lockout_minutes: int = Field(default=15, ge=1)
    max_message_bytes: int = Field(default=25 * 1024 * 1024, gt=0)


class Outbound(_Model):
    """Sending letters: names, recipients, retries, follow-up (domain.md §5)."""

    # Appendix 7 item 4.3: <BE year>_<Latin code>_<number>.pdf; {w} is the circular mark.
    file_name: str = "{year}_{code}_{number}"
    circular_file_name: str = "{year}_{code}_W{number}"
    order_file_name: str = "{year}_{code}_C{number}"
    subject_rule: Literal["subject", "number-subject"] = "subject"
    allow_unlisted_recipients: bool = Field(
        default=False, description="send to addresses not in the directory without [ยืนยันผู้รับ]"
    )
    max_message_bytes: int = Field(default=25 * 1024 * 1024, gt=0, description="the relay's size limit")
    lifetime_days: int = Field(default=5, ge=1, description="give up retrying after this many days")
    followup_working_days: int = Field(default=5, ge=1)
    holidays: tuple[dt.date, ...] = Field(default=(), description="public holidays, not working days")
    xml_dialect: Literal["dga", "ecms"] = "dga"
    xml_dialects: dict[str, Literal["dga", "ecms"]] = Field(
        default_factory=dict, description="per recipient address or domain"
    )
    sent_folder: str = "ส่งแล้ว"
    stamp_number: bool = False  # write the number on page 1 when the letter left it blank
    number_position: tuple[float, float] = (120.0, 95.0)  # points from the top-left of page 1
    cc_owning_unit: bool = False

    def dialect_for(self, address: str) -> str:
        a = address.lower()
        return self.xml_dialects.get(a) or self.xml_dialects.get(a.partition("@")[2]) or self.xml_dialect


class RoutingRule(_Model):
    """One routing rule (a row of the table, tried in order): every criterion given must match,
    any word of a criterion may. The first rule that matches decides."""

    name: str = Field(min_length=1)
    to: tuple[str, ...] = ()  # words in ถึง / เรียน
    subject: tuple[str, ...] = ()  # words in เรื่อง
    sender: tuple[str, ...] = ()  # words in จาก, or sender addresses / @domains
    xml_receiver: tuple[str, ...] = ()  # words in the XML's receiver
    unit: str = Field(min_length=1)  # the primary unit (code)
    copies: tuple[str, ...] = ()  # units that get a copy
    sure: bool = True  # false: suggest to the clerk, do not forward by itself

    @model_validator(mode="after")
    def _has_criteria(self) -> RoutingRule:
        if not (self.to or self.subject or self.sender or self.xml_receiver):
            raise ValueError("กฎต้องมีเงื่อนไขอย่างน้อยหนึ่งข้อ: to, subject, sender หรือ xml_receiver "
                             "(a rule needs at least one criterion)")
        return self


class Forwarding(_Model):
    """Passing registered letters to units, and following them up (domain.md §6)."""

    folder_prefix: str = "ส่งต่อ"  # ส่งต่อ/<unit name>: moving a letter there forwards it
    remind_after_hours: float = Field(default=24.0, gt=0)
    remind_after_hours_urgent: dict[str, float] = Field(
        default_factory=lambda: {"ด่วน": 8.0, "ด่วนมาก": 4.0, "ด่วนที่สุด": 2.0})
    tell_clerk_after_hours: float = Field(default=24.0, gt=0, description="after the reminder")
    digest: bool = True
    digest_time: str = Field(default="16:30", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    rules: tuple[RoutingRule, ...] = ()

    def remind_after(self, speed: str) -> float:
        return self.remind_after_hours_urgent.get(speed, self.remind_after_hours)


class Directory(_Model):
    file: Path | None = None


class Settings(_Model):
    agency: Agency
    storage: Storage = Storage()
    smtp_listener: SmtpListener = SmtpListener()
    imap: tuple[Imap, ...] = ()
    relay: Relay = Relay()
    books: Books = Books()
    intake: Intake = Intake()
    signing: Signing = Signing()
    units: tuple[Unit, ...] = ()
    directory: Directory = Directory()
    submission: Submission = Submission()
    outbound: Outbound = Outbound()
    forwarding: Forwarding = Forwarding()

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
    def outbox_path(self) -> Path:
        return (self.data_path / self.relay.outbox_dir).resolve()

    @property
    def database_url(self) -> str:
        if self.storage.database_url:
            return self.storage.database_url
        return f"sqlite+aiosqlite:///{self.data_path / 'saraban.sqlite3'}"

    def unit(self, code: str) -> Unit | None:
        return next((u for u in self.units if u.code == code), None)


def secret(env_name: str, *, what: str) -> str:
    """Read a secret from the environment at the moment it is needed."""
    value = os.environ.get(env_name)
    if not value:
        raise ConfigError(
            f"ไม่พบตัวแปรสภาพแวดล้อม {env_name} สำหรับ{what}",
            f"environment variable {env_name} for {what} is not set",
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
