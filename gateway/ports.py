"""The ports: what the gateway's flow needs from the outside world, as typed Protocols.

The composition root (`gateway.app`) builds the adapters that implement them — the outbox
folder or the agency's relay for `OutboxTransport`, aioimaplib for `MailboxClient`, the wall
clock for `Clock` — and the rest of the gateway is typed against these names only, so a test
passes an in-process server or a fake that satisfies the same Protocol (house style 7).
The adapters implement them structurally (no inheritance); tests/unit/test_ports.py checks
each one against its port. `LetterIntake` is the other way in: what the IMAP adapter asks of
the inbound flow.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from gateway.core.edits import Edits
    from gateway.inbound.corrections import DeskOutcome
    from gateway.store.handle import Store


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
# DATA, the rename of a file): the sender records that the outcome is now uncertain. The same
# type is the `after_end` hook: called as soon as the end was accepted (the 250, the rename),
# before the connection is closed, so that the span in doubt ends with the answer.
BeforeEnd = Callable[[], Awaitable[None]]


async def nothing_before_end() -> None:
    """The `BeforeEnd` of mail that may be sent twice: nothing to record."""


@runtime_checkable
class OutboxTransport(Protocol):
    """Delivers one outbox row's message to one recipient."""

    async def deliver(self, envelope: Envelope, message: bytes,
                      before_end: BeforeEnd = nothing_before_end,
                      after_end: BeforeEnd = nothing_before_end) -> None:
        """Deliver, or raise Transient / Permanent (gateway.errors); Uncertain when the end of
        the message was sent but its outcome is unknown."""


# -- the IMAP watcher's connection to a mailbox -------------------------------------------------


class ImapFailure(Exception):
    """The server said NO/BAD or the connection broke; the watcher reconnects."""


@runtime_checkable
class MailboxClient(Protocol):
    """The IMAP commands the watcher and the filing use, each bounded by a timeout (raising
    ImapFailure, TimeoutError or OSError). Folder names are as the clerk sees them (Thai); a
    message is named by its UID in the selected folder."""

    selected: str | None  # the folder last selected
    delimiter: str  # the server's hierarchy delimiter, learnt by `folders()`

    async def connect(self) -> None: ...

    async def close(self) -> None: ...

    def has(self, capability: str) -> bool: ...

    async def folders(self) -> set[str]: ...

    async def ensure_folders(self, names: tuple[str, ...]) -> None: ...

    async def select(self, folder: str) -> int:
        """Select `folder`; returns its UIDVALIDITY."""

    async def uids(self, criteria: str = "ALL") -> list[int]: ...

    async def fetch(self, uid: int) -> bytes | None:
        """The message's bytes, or None when it was expunged meanwhile."""

    async def move(self, uid: int, folder: str) -> tuple[int, int] | None:
        """Move a message; (destination UIDVALIDITY, new UID) when the server says."""

    async def delete(self, uid: int) -> None:
        """Remove a message of the selected folder (by UID: no other message is expunged)."""

    async def search_header(self, folder: str, header: str, value: str) -> tuple[int, int] | None:
        """(UIDVALIDITY, UID) of a message in `folder` whose header contains `value`."""

    async def append(self, folder: str, data: bytes, flags: str = r"(\Seen)") -> tuple[int, int] | None:
        """File `data` in `folder`; (UIDVALIDITY, UID) when the server says."""

    async def idle(self, seconds: float, stop: asyncio.Event) -> bool:
        """Wait (IDLE) for new mail in the selected folder; True if the server announced some."""


# A new, not yet connected client for one mailbox: the watcher reconnects with a fresh one.
MailboxClientFactory = Callable[[], MailboxClient]


# -- the IMAP watcher's way into the inbound flow (gateway/inbound/pipeline.py) --------------------


class ClerkRouting(Protocol):
    async def clerk_route(self, letter_id: int, codes: Sequence[str], *, via: str, by: str,
                          folder: str = "") -> list[str]:
        """Forward a registered letter to the units named; returns the units it went to (none
        for a secret letter: it is held and the clerk asked to confirm)."""


class LetterIntake(Protocol):
    """What the watcher and the filing ask of the inbound flow."""

    @property
    def store(self) -> Store: ...

    @property
    def units(self) -> ClerkRouting: ...

    async def take_in(self, raw: bytes, *, digest: str, channel: str, source_key: str,
                      envelope_to: Sequence[str], envelope_from: str = "",
                      turn: contextlib.AbstractAsyncContextManager[None] | None = None,
                      on_stamp: dict[str, Any] | None = None,
                      unseen: bool = False) -> tuple[int, str, bool]:
        """Keep and decide a message the mailbox still holds: (letter id, state, whether
        `on_stamp` was committed with the receive stamp). `unseen`: seen_keys found no letter
        for `source_key` already."""

    async def seen_keys(self, source_keys: Sequence[str]) -> dict[str, int]:
        """The letters already opened for these transport keys: {source key: letter id}."""

    async def registered_copy(self, letter_id: int) -> tuple[bytes, str] | None:
        """The findable copy `[รับ n/ปี] …` of a registered letter, and its sha256."""

    async def review_copy(self, letter_id: int) -> tuple[bytes, str] | None:
        """The review copy `[ตรวจ L<id>] …` of a letter waiting for the clerk, and its sha256."""

    async def clerk_register(self, letter_id: int, *, actor: str,
                             edits: Edits | None = None) -> DeskOutcome:
        """The clerk registers a letter from review (gateway/inbound/clerk.py ClerkDesk.register)."""

    async def tell_register_refused(self, outcome: DeskOutcome, *, moved_to: str = "") -> None:
        """Tell the clerk by mail which required fields kept a letter from being registered."""

    async def clerk_reject(self, letter_id: int, *, actor: str, reason: str = "") -> str: ...
