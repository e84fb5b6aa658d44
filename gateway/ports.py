"""The ports: what the gateway's flow needs from the outside world, as typed Protocols.

The composition root (`gateway.app`) builds the adapters that implement them — the outbox
folder or the agency's relay for `OutboxTransport`, the wall clock for `Clock` — and the rest
of the gateway is typed against these names only, so a test passes an in-process server or a
fake that satisfies the same Protocol (house style 7).
The adapters implement them structurally (no inheritance); tests/unit/test_ports.py checks
each one against its port.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """Returns the current instant as an aware datetime (any zone; callers convert)."""

    def __call__(self) -> dt.datetime: ...


# -- the outbox sender's way out: a relay over SMTP, or a folder of .eml files ------------------


@dataclass(frozen=True)
class Envelope:
    sender: str
    recipient: str
    item_id: int
    kind: str
    envelope_id: str = ""  # RFC 3461 ENVID, where the relay offers DSN


# Called once the whole message is written and just before its end is (the final "." of
# DATA, the rename of a file): the sender records that the outcome is now uncertain.
BeforeEnd = Callable[[], Awaitable[None]]


async def nothing_before_end() -> None:
    """The `BeforeEnd` of mail that may be sent twice: nothing to record."""


@runtime_checkable
class OutboxTransport(Protocol):
    """Delivers one outbox row's message to one recipient."""

    async def deliver(self, envelope: Envelope, message: bytes,
                      before_end: BeforeEnd = nothing_before_end) -> None:
        """Deliver, or raise Transient / Permanent (gateway.errors); Uncertain when the end of
        the message was sent but its outcome is unknown."""
