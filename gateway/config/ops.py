"""Running the gateway unattended, in the settings: log format, the health endpoint, and the
alarm's second channel (a command and/or a webhook, besides the mail to the central mailbox)."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, field_validator

from gateway.config.model import ConfigModel, EnvVar

__all__ = ["AlarmChannels", "BackupSettings", "Health", "Logging"]


class Logging(ConfigModel):
    """`[logging]`: "text" (the default, for a terminal) or "json" (one object a line, for a log
    collector: time, level, logger, message, and the letter / mailbox / outbox row it is about)."""

    format: Literal["text", "json"] = "text"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class Health(ConfigModel):
    """`[health]`: where `/metrics` and `/healthz` are served; "" switches the endpoint off."""

    listen: str = Field(default="127.0.0.1:9108", description='"host:port", or "" for off')

    @field_validator("listen")
    @classmethod
    def _host_port(cls, v: str) -> str:
        if not v:
            return v
        host, sep, port = v.rpartition(":")
        host = host.removeprefix("[").removesuffix("]")
        try:
            ipaddress.ip_address(host)
            ok = bool(sep) and port.isdigit() and 0 <= int(port) <= 65535
        except ValueError:
            ok = host == "localhost" and port.isdigit() and 0 <= int(port) <= 65535
        if not ok:
            raise ValueError('ต้องเป็น "ที่อยู่ IP:พอร์ต" เช่น "127.0.0.1:9108" หรือ "" เพื่อปิด '
                             f'(must be "IP:port" such as "127.0.0.1:9108", or "" for off): {v!r}')
        return v

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].removeprefix("[").removesuffix("]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class AlarmChannels(ConfigModel):
    """`[alarm]`: a second way out for the alarm, for when the mailbox is the thing that is down.
    `command` is run without a shell (the alarm text on stdin and in $SARABAN_ALARM_TEXT);
    `webhook_env` names the environment variable holding a URL that gets the alarm as JSON
    (the URL often carries a secret, so it never lives in config.toml)."""

    command: tuple[str, ...] = ()
    webhook_env: EnvVar = ""
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    @field_validator("command")
    @classmethod
    def _argv(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if v and not v[0]:
            raise ValueError("command[0] ต้องเป็นชื่อโปรแกรม (must name the program)")
        return v


class BackupSettings(ConfigModel):
    """`[backup]`: `max_age_hours`, how old the newest finished `db backup` may get before the
    running gateway raises the alarm (0: not watched). With the nightly timer, 36 lets one
    night fail quietly and raises the alarm the next afternoon."""

    max_age_hours: float = Field(default=0.0, ge=0, le=24 * 366)
