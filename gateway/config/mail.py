"""The mail servers in the settings: the SMTP listener, the IMAP mailboxes, the relay, and the
submission server the clerks send through."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from gateway.config.model import ConfigModel, EnvVar

__all__ = ["Imap", "OAuth2", "Outbox", "Relay", "SmtpListener", "Submission", "SubmissionUser"]

_LOOPBACK = ("127.0.0.1", "::1", "localhost")

class SmtpListener(ConfigModel):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=2525, ge=0, le=65535)
    hostname: str = "saraban-gateway.localhost"
    max_message_bytes: int = Field(default=25 * 1024 * 1024, gt=0)


class OAuth2(ConfigModel):
    """`[imap.oauth2]` / `[relay.oauth2]`: where the access token for XOAUTH2 / OAUTHBEARER comes
    from. Microsoft 365: grant "client_credentials" at the tenant's token URL, scope
    https://outlook.office365.com/.default; Google: grant "refresh_token" (a refresh token made
    once with the agency's OAuth client) or "service_account" (domain-wide delegation: a JWT
    signed with the service account's key, RFC 7523, in the name of the mailbox's user;
    `service_account_key_env` names the variable holding the path of the JSON key file, or the
    JSON itself; scope https://mail.google.com/ unless set). The secrets are named, never
    written here."""

    token_url: str = Field(min_length=1)
    client_id: str = ""  # not used by "service_account" (the key file names its client)
    client_secret_env: EnvVar = ""
    scope: str = ""
    grant: Literal["client_credentials", "refresh_token", "service_account"] = "client_credentials"
    refresh_token_env: EnvVar = ""
    service_account_key_env: EnvVar = ""
    mechanism: Literal["xoauth2", "oauthbearer"] = "xoauth2"
    ca_file: Path | None = None  # trust this CA for the token endpoint (else the system's)
    timeout_seconds: float = Field(default=15.0, gt=0, le=120)

    @model_validator(mode="after")
    def _complete(self) -> OAuth2:
        parts = urlsplit(self.token_url)
        if not parts.hostname or parts.scheme not in ("https", "http") or (
                parts.scheme == "http" and parts.hostname not in _LOOPBACK):
            raise ValueError("token_url ต้องเป็น https:// (http:// ได้เฉพาะเครื่องนี้ 127.0.0.1) "
                             f"(token_url must be https://, http only on loopback): {self.token_url!r}")
        if self.grant != "service_account" and not self.client_id:
            raise ValueError(f"grant = \"{self.grant}\" ต้องระบุ client_id (client_id is required)")
        if self.grant == "service_account" and not self.service_account_key_env:
            raise ValueError("grant = \"service_account\" ต้องระบุ service_account_key_env "
                             "ชื่อตัวแปรสภาพแวดล้อมที่เก็บที่อยู่แฟ้มกุญแจ JSON ของ service account "
                             "(the service_account grant needs service_account_key_env)")
        if self.grant == "client_credentials" and not self.client_secret_env:
            raise ValueError("grant = \"client_credentials\" ต้องระบุ client_secret_env "
                             "(client credentials need client_secret_env)")
        if self.grant == "refresh_token" and not self.refresh_token_env:
            raise ValueError("grant = \"refresh_token\" ต้องระบุ refresh_token_env "
                             "(the refresh_token grant needs refresh_token_env)")
        return self


def _auth_complete(auth: str, oauth2: OAuth2 | None, where: str) -> None:
    if auth == "oauth2" and oauth2 is None:
        raise ValueError(f"auth = \"oauth2\" ต้องมีตาราง [{where}.oauth2] "
                         f"(auth = \"oauth2\" needs a [{where}.oauth2] table)")
    if auth == "password" and oauth2 is not None:
        raise ValueError(f"มีตาราง [{where}.oauth2] แต่ auth = \"password\" ให้ตั้ง auth = \"oauth2\" "
                         f"([{where}.oauth2] is given but auth = \"password\")")


class Imap(ConfigModel):
    name: str = Field(min_length=1)
    host: str = Field(min_length=1)
    port: int = Field(default=993, ge=1, le=65535)
    user: str = Field(min_length=1)
    auth: Literal["password", "oauth2"] = "password"
    password_env: EnvVar = ""
    oauth2: OAuth2 | None = None
    mailbox: str = "INBOX"
    ca_file: Path | None = None
    poll_seconds: int = Field(default=60, ge=1)
    enabled: bool = True

    @model_validator(mode="after")
    def _credentials(self) -> Imap:
        if self.auth == "password" and not self.password_env:
            raise ValueError("auth = \"password\" ต้องระบุ password_env (password_env is required)")
        _auth_complete(self.auth, self.oauth2, "imap")
        return self


class Relay(ConfigModel):
    mode: Literal["outbox-folder", "smtp"] = "outbox-folder"
    outbox_dir: Path = Path("outbox")
    host: str = ""
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = True
    username: str = ""
    auth: Literal["password", "oauth2"] = "password"
    password_env: EnvVar = ""
    oauth2: OAuth2 | None = None
    timeout_seconds: float = Field(default=30.0, gt=0)
    concurrency: int = Field(default=4, ge=1, le=64, description="mails delivered at once")
    ca_file: Path | None = None  # trust this CA for the relay's certificate (else the system's)

    @model_validator(mode="after")
    def _smtp_needs_host(self) -> Relay:
        if self.mode == "smtp" and not self.host:
            raise ValueError(
                "mode = \"smtp\" ต้องระบุ host (mode = \"smtp\" needs relay.host)"
            )
        _auth_complete(self.auth, self.oauth2, "relay")
        if self.auth == "oauth2" and not self.username:
            raise ValueError("auth = \"oauth2\" ต้องระบุ username คือกล่องที่ส่งในนาม "
                             "(auth = \"oauth2\" needs relay.username, the mailbox sent as)")
        return self


class Outbox(ConfigModel):
    """`[outbox]`: how the sender retries, when it gives up, and what it does with a mail whose
    end of DATA went out without an answer (the process died, or the relay fell silent).

    `uncertain = "resend"` sends it again with the same Message-ID and XML letter ID (a
    receiving saraban system links the copy to the first); `"ask"` leaves it to the clerk, who
    is told once per letter which recipients are in doubt."""

    uncertain: Literal["resend", "ask"] = "resend"
    # minutes between tries: the n-th retry waits retry_minutes[n-1]; the last step repeats
    retry_minutes: tuple[float, ...] = (1, 2, 4, 8, 15, 30, 60)
    # give up (park the row, tell the clerk) this long after the mail was queued;
    # unset: [outbound] lifetime_days (5 days)
    give_up_after_hours: float | None = Field(default=None, gt=0, le=24 * 90)
    # how often the running sender looks for mail another process made due (`outbox retry`)
    poll_seconds: float = Field(default=2.0, gt=0, le=60)

    @field_validator("retry_minutes")
    @classmethod
    def _steps(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if not v:
            raise ValueError("ต้องมีอย่างน้อยหนึ่งช่วง (at least one step)")
        if any(not 0 < m <= 24 * 60 for m in v):
            raise ValueError("แต่ละช่วงต้องมากกว่า 0 และไม่เกิน 1440 นาที "
                             f"(each step must be > 0 and at most 1440 minutes): {list(v)}")
        if any(b < a for a, b in zip(v, v[1:], strict=False)):
            raise ValueError(f"ช่วงต้องไม่สั้นลง (steps must not get shorter): {list(v)}")
        return v


class SubmissionUser(ConfigModel):
    """A clerk allowed to send through the submission server (the central mailbox's account)."""

    name: str = Field(min_length=1, description="login name, e.g. saraban@agency.go.th")
    password_hash: str = Field(
        pattern=r"^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$",
        description="from `saraban-gateway passwd`; never the password itself",
    )
    unit: str = ""  # the owning unit (CC on request, owner of its reservations)


class Submission(ConfigModel):
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
    max_failed_logins: int = Field(
        default=5, ge=1,
        description="failed logins of one name from one client address, within lockout_minutes, "
                    "that lock that name out from that address (others behind the same address "
                    "are not)",
    )
    lockout_minutes: int = Field(
        default=15, ge=1,
        description="the window failures are counted in, and how long a lockout lasts after the "
                    "failure that caused it; kept in the store, so a restart does not lift it",
    )
    max_message_bytes: int = Field(default=25 * 1024 * 1024, gt=0)
