"""VERP: the return path that names one outgoing mail, ``<local>+b.<token>@<domain>`` (pure).

Each outgoing letter leaves the outbox as one e-mail per recipient, with a return path built by
:func:`verp_address` from the central address and the outbox row's token, the same token as the
RFC 3461 ENVID where the relay offers DSN. A report that comes back names the token in the
address it is sent to, or in its ``Original-Envelope-Id``.
"""

from __future__ import annotations

import re

__all__ = ["MAX_ADDRESS_CHARS", "envid_token", "verp_address", "verp_token"]

_TOKEN = re.compile(r"[a-z0-9]{12,40}")
_ADDR_CHARS = r"[^\s@<>()\[\]\\,;:\"]"
_VERP = re.compile(
    rf"(?P<local>{_ADDR_CHARS}+)\+b\.(?P<token>[a-z0-9]{{12,40}})@(?P<domain>{_ADDR_CHARS}+)"
)
MAX_ADDRESS_CHARS = 320  # RFC 5321 §4.5.3.1: 64 for the local part, 255 for the domain


def verp_address(central: str, token: str) -> str:
    """The return path for one outgoing mail: ``saraban+b.<token>@agency.test``.

    Raises ValueError when ``token`` is not ``[a-z0-9]{12,40}`` or ``central`` is not an address
    that :func:`verp_token` could read back (both are programming errors, not mail input).
    """
    if not _TOKEN.fullmatch(token):
        raise ValueError(f"VERP token must be 12-40 of [a-z0-9], got {token!r}")
    local, at, domain = central.strip().rpartition("@")
    address = f"{local}+b.{token}@{domain}"
    if not at or verp_token(address) != token:
        raise ValueError(f"central address cannot carry a VERP token: {central!r}")
    return address


def verp_token(address: str) -> str | None:
    """The token of a VERP return path, lower-cased; None for anything else. Never raises."""
    if not isinstance(address, str) or len(address) > MAX_ADDRESS_CHARS + 2:
        return None
    value = address.strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1].strip()
    m = _VERP.fullmatch(value.lower())
    return m["token"] if m else None


def envid_token(value: str | None) -> str | None:
    # RFC 3461 §4.4: the ENVID comes back as sent; ours is the bare token (no xtext escapes).
    if not value:
        return None
    token = value.strip().strip("<>").strip().lower()
    return token if _TOKEN.fullmatch(token) else None
