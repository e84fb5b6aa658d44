"""Settings of the trust work: how senders are authenticated, and what automatic mail may do."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, field_validator

from gateway.config.model import ConfigModel


def parse_server(text: str) -> tuple[str, int]:
    """ "192.0.2.53" → ("192.0.2.53", 53); "127.0.0.1:5353" → (…, 5353); "[::1]:53" for IPv6."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else 53
    elif text.count(":") == 1:
        host, _, p = text.partition(":")
        port = int(p)
    else:
        host, port = text, 53
    ipaddress.ip_address(host)  # dnspython talks to addresses, not names
    if not 0 < port < 65536:
        raise ValueError(f"port out of range: {text!r}")
    return host, port


class Authentication(ConfigModel):
    """[authentication]: SPF, DKIM, DMARC and ARC on incoming mail (issue #18)."""

    mode: Literal["enforce", "monitor"] = Field(
        default="enforce",
        description="enforce: a failing sender waits for the clerk; monitor: results are remarks only",
    )
    none_action: Literal["remark", "review"] = Field(
        default="remark", description="a sender whose domain publishes nothing: a remark, or review"
    )
    authserv_id: str = Field(
        default="", description="authserv-id of the agency's own MX, whose Authentication-Results "
        "are believed (IMAP path; SMTP path from trusted_relays)"
    )
    trusted_relays: tuple[str, ...] = Field(
        default=(), description="IP addresses or CIDRs of the agency's own MX"
    )
    dns_servers: tuple[str, ...] = Field(
        default=(), description="resolvers to ask (host or host:port); empty: the system's"
    )

    @field_validator("dns_servers")
    @classmethod
    def _servers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for v in value:
            try:
                parse_server(v)
            except ValueError as exc:
                raise ValueError(f"ไม่ใช่ที่อยู่ DNS (host หรือ host:port) (not a DNS server address): {v!r}") from exc
        return value
    dns_timeout_seconds: float = Field(
        default=5.0, gt=0, le=60,
        description="the most one message's checks wait for DNS in all; then temperror")

    @field_validator("trusted_relays")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for v in value:
            try:
                ipaddress.ip_network(v, strict=False)
            except ValueError as exc:
                raise ValueError(f"ไม่ใช่ที่อยู่ IP หรือเครือข่าย (not an IP address or network): {v!r}") from exc
        return value
