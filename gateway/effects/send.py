"""Delivering the outbox: to a relay over SMTP, or into a local folder as .eml files.

The sender loop wakes when a transaction enqueues mail (or when the next retry
is due), claims each due row, delivers the stored bytes unchanged, and records
the outcome. Temporary failures back off exponentially (store/outbox.py);
permanent ones and expired ones are parked for the clerk.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import aiosmtplib

from gateway.app import Store
from gateway.config import Relay, secret
from gateway.errors import Permanent, Transient
from store import outbox

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Envelope:
    sender: str
    recipient: str
    item_id: int
    kind: str


class Transport(Protocol):
    async def deliver(self, envelope: Envelope, message: bytes) -> None:
        """Deliver or raise Transient / Permanent."""


class FolderTransport:
    """The embedded default: each mail becomes <outbox>/<id>-<kind>.eml (idempotent by name)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def deliver(self, envelope: Envelope, message: bytes) -> None:
        await asyncio.to_thread(self._write, envelope, message)

    def _write(self, envelope: Envelope, message: bytes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        final = self.folder / f"{envelope.item_id:08d}-{envelope.kind}.eml"
        head = f"X-Envelope-From: <{envelope.sender}>\r\nX-Envelope-To: <{envelope.recipient}>\r\n"
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=self.folder)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(head.encode("ascii", "replace") + message)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, final)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class RelayTransport:
    """Through the agency's relay: STARTTLS and AUTH as configured, every await bounded."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay

    async def deliver(self, envelope: Envelope, message: bytes) -> None:
        r = self.relay
        password = secret(r.password_env, what="รหัสผ่าน relay") if r.username else None
        try:
            await aiosmtplib.send(
                message,
                sender=envelope.sender,
                recipients=[envelope.recipient],
                hostname=r.host,
                port=r.port,
                start_tls=r.starttls,
                username=r.username or None,
                password=password,
                timeout=r.timeout_seconds,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [e.code for e in exc.recipients]
            err = "; ".join(f"{e.code} {e.message}" for e in exc.recipients)
            raise (Permanent(err) if all(500 <= c < 600 for c in codes) else Transient(err)) from exc
        except aiosmtplib.SMTPResponseException as exc:
            err = f"{exc.code} {exc.message}"
            raise (Permanent(err) if 500 <= exc.code < 600 else Transient(err)) from exc
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            raise Transient(repr(exc)) from exc


def make_transport(store: Store) -> Transport:
    s = store.settings
    if s.relay.mode == "smtp":
        return RelayTransport(s.relay)
    return FolderTransport(s.outbox_path)


async def send_due(store: Store, transport: Transport, *, limit: int = 50) -> int:
    """Deliver what is due now; returns how many rows were handled."""
    now = store.clock()
    sender = store.settings.agency.central_addresses[0]
    async with store.readers() as s:
        items = [(i.id, i.recipient, i.kind, i.message_sha256) for i in await outbox.due(s, now=now, limit=limit)]
    handled = 0
    for item_id, recipient, kind, digest in items:
        async with store.sessions.begin() as s:
            if not await outbox.claim(s, item_id, now=store.clock()):
                continue
        handled += 1
        try:
            message = await asyncio.to_thread(store.blobs.get, digest)
            await transport.deliver(Envelope(sender, recipient, item_id, kind), message)
        except (Transient, Permanent, OSError) as exc:
            permanent = isinstance(exc, Permanent)
            async with store.sessions.begin() as s:
                status = await outbox.mark_failed(s, item_id, now=store.clock(), error=str(exc),
                                                  permanent=permanent)
            log.warning("outbox %s to %s failed (%s): %s", item_id, recipient, status, exc)
            continue
        async with store.sessions.begin() as s:
            await outbox.mark_sent(s, item_id, now=store.clock())
    return handled


async def sender_loop(store: Store, transport: Transport, *, stop: asyncio.Event,
                      wake: asyncio.Event, idle_seconds: float = 30.0) -> None:
    while not stop.is_set():
        wake.clear()
        try:
            while await send_due(store, transport):
                pass
        except Exception:
            log.exception("outbox sender failed; retrying shortly")
        async with store.readers() as s:
            nxt = await outbox.next_due_at(s)
        delay = idle_seconds
        if nxt is not None:
            delay = max(0.05, min(idle_seconds, (nxt - store.clock()).total_seconds()))
        await _wait_any(stop, wake, delay)


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event, timeout: float) -> None:
    waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
