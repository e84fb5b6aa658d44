"""Delivering the outbox: to a relay over SMTP, or into a local folder as .eml files.

The sender loop wakes when a transaction enqueues mail (or when the next retry
is due), claims each due row, delivers the stored bytes unchanged, and records
the outcome. Temporary failures back off exponentially (store/outbox.py);
permanent ones and expired ones are parked for the clerk.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import os
import re
import ssl
import tempfile
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosmtplib
import jinja2
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.config import Relay, Settings, secret
from gateway.core.compose import Mail, compose
from gateway.errors import Permanent, Transient, Uncertain
from gateway.ports import BeforeEnd, Envelope, OutboxTransport, nothing_before_end
from gateway.progress import SILENT, Progress
from gateway.store import leases, outbox, recipients
from gateway.store.blobs import sha256_hex
from gateway.store.handle import Store

log = logging.getLogger(__name__)


class FolderTransport:
    """The embedded default: each mail becomes <outbox>/<id>-<kind>.eml (idempotent by name).
    An `OutboxTransport` (gateway/ports.py), as is RelayTransport."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def deliver(self, envelope: Envelope, message: bytes, before_end: BeforeEnd = nothing_before_end) -> None:
        tmp = await asyncio.to_thread(self._write, envelope, message)
        try:
            await before_end()
            final = self.folder / f"{envelope.item_id:08d}-{envelope.kind}.eml"
            await asyncio.to_thread(os.replace, tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def _write(self, envelope: Envelope, message: bytes) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        head = f"X-Envelope-From: <{envelope.sender}>\r\nX-Envelope-To: <{envelope.recipient}>\r\n"
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=self.folder)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(head.encode("ascii", "replace") + message)
                f.flush()
                os.fsync(f.fileno())
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return Path(tmp)


def relay_tls_context(relay: Relay, base_dir: Path) -> ssl.SSLContext:
    """Certificates are always verified: against [relay] ca_file when given, else the system's."""
    tls = ssl.create_default_context()
    if relay.ca_file is not None:
        tls.load_verify_locations(cafile=str(base_dir / relay.ca_file))
    return tls


class RelayTransport:
    """Through the agency's relay: STARTTLS and AUTH as configured, every await bounded."""

    def __init__(self, relay: Relay, base_dir: Path | None = None) -> None:
        self.relay = relay
        self.tls = relay_tls_context(relay, base_dir or Path("."))

    async def deliver(self, envelope: Envelope, message: bytes, before_end: BeforeEnd = nothing_before_end) -> None:
        r = self.relay
        password = secret(r.password_env, what="รหัสผ่าน relay") if r.username else None
        client = aiosmtplib.SMTP(hostname=r.host, port=r.port, start_tls=r.starttls,
                                 timeout=r.timeout_seconds, tls_context=self.tls)
        try:
            await client.connect()
            if r.username and password is not None:
                await client.login(r.username, password)
            options = []
            if envelope.envelope_id and client.supports_extension("dsn"):
                options = ["RET=HDRS", f"ENVID={envelope.envelope_id}"]
            await client.mail(envelope.sender, options=options)
            await client.rcpt(envelope.recipient)
            await data_in_two_steps(client, message, before_end, r.timeout_seconds)
        except Uncertain:
            raise
        except aiosmtplib.SMTPAuthenticationError as exc:
            # Our login, not the recipient, is wrong: keep the mail until the password is fixed.
            raise Transient(f"relay refused the login: {exc.code} {exc.message}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            err = f"{exc.code} {exc.message}"
            raise (Permanent(err) if 500 <= exc.code < 600 else Transient(err)) from exc
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            raise Transient(repr(exc)) from exc
        finally:
            if client.is_connected:
                try:
                    await asyncio.wait_for(client.quit(), r.timeout_seconds)
                except (TimeoutError, aiosmtplib.SMTPException, OSError):
                    client.close()


async def data_in_two_steps(client: aiosmtplib.SMTP, message: bytes, before_end: BeforeEnd,
                            timeout: float) -> None:
    """DATA with a pause before the final ".": a crash before it means the server discards the
    message (RFC 5321 §4.1.1.4), so only the short span from `before_end` to the 250 is
    uncertain. aiosmtplib's `data()` writes body and dot in one go, so DATA is sent here with
    its public API: `SMTP.execute_command` for "DATA" and for the final ".", each with its
    reply, and `SMTP.protocol.write` for the dot-stuffed body in between."""

    def dot_stuffed() -> bytes:
        # RFC 5321 §2.3.8, §4.5.2: CRLF line endings (a lone CR or LF becomes CRLF, as in
        # aiosmtplib's own data()), a final CRLF, and a "." doubled at the start of each line.
        body = re.sub(rb"\r\n|\n|\r(?!\n)", b"\r\n", message)
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        return re.sub(rb"(?m)^\.", b"..", body)

    body = await asyncio.to_thread(dot_stuffed)
    start = await client.execute_command(b"DATA", timeout=timeout)
    if start.code != 354:
        raise aiosmtplib.SMTPDataError(start.code, start.message)
    protocol = client.protocol
    if protocol is None:
        raise aiosmtplib.SMTPServerDisconnected("Connection lost")
    protocol.write(body)
    await before_end()
    try:
        done = await client.execute_command(b".", timeout=timeout)
    except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
        # The relay may have taken the mail: sending it again could deliver it twice.
        raise Uncertain(f"no answer after the end of DATA: {exc!r}") from exc
    if done.code != 250:
        raise aiosmtplib.SMTPDataError(done.code, done.message)


def agency_mail(settings: Settings, template: str, context: Mapping[str, Any], *, to: Sequence[str],
                key: str, **options: Any) -> Mail:
    """A mail from the agency's central address (every mail the gateway writes is)."""
    a = settings.agency
    return Mail(template=template, context=context, from_addr=a.central_addresses[0], from_name=a.name_th,
                to=list(to), key=key, **options)


async def queue_mail(s: AsyncSession, store: Store, templates: jinja2.Environment, mail: Mail, *, kind: str,
                     now: dt.datetime, letter_id: int | None = None) -> list[outbox.Queued]:
    """Compose `mail` and put it in the outbox in the caller's transaction: one row per address
    (deduplicated on the mail's key, with the address when there are several)."""
    if mail.attachments:  # letter-sized: base64 work off the event loop
        data = await asyncio.to_thread(compose, templates, mail, now=now, signer=store.secret)
    else:
        data = compose(templates, mail, now=now, signer=store.secret)
    many = len(mail.to) > 1
    return [await outbox.enqueue(s, store.blobs, kind=kind, recipient=address,
                                 dedupe_key=f"{mail.key}:{address}" if many else mail.key,
                                 message=data, now=now, letter_id=letter_id)
            for address in mail.to]


SENDER_LEASE = "outbox-sender"
LEASE_TTL = dt.timedelta(minutes=10)
PEER_POLL_SECONDS = 1.0  # how long mail queued by another process may wait for the sender


class SenderLease:
    """One sender per store (durability rule 6, as for mailboxes): only the holder may recover
    the rows a dead sender left claimed, and only it delivers."""

    def __init__(self, store: Store, on_parked: OnParked | None = None) -> None:
        self.store = store
        self.on_parked = on_parked
        self.holder = leases.local_holder(self)

    async def take(self) -> bool:
        now = self.store.clock()
        async with self.store.sessions.begin() as s:
            got, before = await leases.take(s, name=SENDER_LEASE, holder=self.holder, now=now, ttl=LEASE_TTL)
            if got and before != self.holder:
                counts, uncertain = await outbox.recover(s, now=now)
                for item_id in uncertain if self.on_parked is not None else ():
                    await self.on_parked(s, item_id, now)  # type: ignore[misc]
                if any(counts.values()):
                    log.warning("outbox after a restart: %s", counts)
        return got

    async def drop(self) -> None:
        async with self.store.sessions.begin() as s:
            await leases.release(s, name=SENDER_LEASE, holder=self.holder)


NEVER_TWICE = frozenset({"letter", "letter-copy", "forward"})
Composer = Callable[[dict[str, Any]], Awaitable[bytes]]
# Called in the transaction that parks a row (or finds it uncertain after a crash).
OnParked = Callable[[AsyncSession, int, dt.datetime], Awaitable[None]]


async def send_due(store: Store, transport: OutboxTransport, *, limit: int = 200,
                   composer: Composer | None = None, concurrency: int | None = None,
                   on_parked: OnParked | None = None) -> int:
    """Deliver what is due now, several at a time; returns how many rows were handled."""
    now = store.clock()
    central = store.settings.agency.central_addresses[0]
    async with store.readers() as s:
        items = [(i.id, i.recipient, i.kind, i.message_sha256, dict(i.recipe or {}), i.envelope_from,
                  i.letter_id) for i in await outbox.due(s, now=now, limit=limit)]
    if not items:
        return 0
    gate = asyncio.Semaphore(concurrency or store.settings.relay.concurrency)
    handled = 0

    async def one(item: tuple[int, str, str, str | None, dict[str, Any], str, int | None]) -> None:
        nonlocal handled
        item_id, recipient, kind, digest, recipe, env_from, letter_id = item
        async with gate:
            # No claim: the sender lease makes this the only sender; a crash before the
            # in-flight mark leaves the row pending, to be sent again.
            handled += 1
            try:
                if digest is not None:
                    message = await asyncio.to_thread(store.blobs.get, digest)
                elif composer is not None:
                    try:
                        message = await composer(recipe)
                    except (Transient, Permanent, OSError):
                        raise
                    except Exception as exc:  # a row that cannot be composed is parked, not looped
                        log.exception("outbox %s: cannot compose the mail", item_id)
                        raise Permanent(f"cannot compose: {type(exc).__name__}: {exc}") from exc
                else:
                    raise Transient("no composer for a composed-at-delivery mail")

                async def before_end() -> None:
                    async with store.sessions.begin() as s:
                        await outbox.mark_in_flight(s, item_id, now=store.clock())

                envelope = Envelope(env_from or central, recipient, item_id, kind,
                                    envelope_id=str(recipe.get("token", "")))
                # Letters are never sent twice (the in-flight mark); automatic mails (acks,
                # notices, reports) are at-least-once and spare the extra commit.
                await transport.deliver(envelope, message, before_end if kind in NEVER_TWICE else nothing_before_end)
            except Uncertain as exc:
                async with store.sessions.begin() as s:
                    await outbox.mark_uncertain(s, item_id, now=store.clock(), error=str(exc))
                    if on_parked is not None:
                        await on_parked(s, item_id, store.clock())
                store.events["send_failed"] += 1  # /metrics (gateway/ops/metrics.py)
                log.warning("outbox %s to %s: outcome unknown, left for the clerk: %s", item_id, recipient, exc,
                            extra={"outbox_id": item_id, "letter_id": letter_id})
                return
            except (Transient, Permanent, OSError) as exc:
                permanent = isinstance(exc, Permanent)
                async with store.sessions.begin() as s:
                    status = await outbox.mark_failed(s, item_id, now=store.clock(), error=str(exc),
                                                      permanent=permanent)
                    if status == "parked" and on_parked is not None:
                        await on_parked(s, item_id, store.clock())
                store.events["send_failed"] += 1
                log.warning("outbox %s to %s failed (%s): %s", item_id, recipient, status, exc,
                            extra={"outbox_id": item_id, "letter_id": letter_id})
                return
            digest = await asyncio.to_thread(sha256_hex, message)
            if kind not in NEVER_TWICE:
                automatic.append((item_id, digest))  # recorded together after the batch
                return
            async with store.sessions.begin() as s:
                await outbox.mark_sent(s, item_id, now=store.clock(), digest=digest)
            if kind == "letter" and letter_id is not None:
                sent_letters.add(letter_id)

    sent_letters: set[int] = set()
    automatic: list[tuple[int, str]] = []
    try:
        await asyncio.gather(*(one(i) for i in items))
    finally:
        if automatic:  # at-least-once mails: one commit for the batch
            async with store.sessions.begin() as s:
                for item_id, digest in automatic:
                    await outbox.mark_sent(s, item_id, now=store.clock(), digest=digest)
    for letter_id in sorted(sent_letters):  # the send register's การปฏิบัติ, once per batch
        async with store.sessions.begin() as s:
            await recipients.refresh_action(s, letter_id)
    return handled


@dataclass
class OutboxSender:
    """The store's one sender (by the lease): a transport, and what composed-at-delivery mail
    needs. `run` is the long-lived loop of `saraban-gateway run`; `drain` sends what is due
    once (`ingest --once`)."""

    store: Store
    transport: OutboxTransport
    composer: Composer | None = None
    on_parked: OnParked | None = None

    def lease(self) -> SenderLease:
        return SenderLease(self.store, self.on_parked)

    async def send_due(self) -> int:
        return await send_due(self.store, self.transport, composer=self.composer, on_parked=self.on_parked)

    async def drain(self, progress: Progress = SILENT) -> int | None:
        """Send until nothing is due; None when another process holds the sender lease."""
        lease = self.lease()
        if not await lease.take():
            return None
        sent = 0
        progress.stage("ส่งอีเมลออก")
        try:
            while n := await self.send_due():
                sent += n
                progress.advance(n)
        finally:
            await lease.drop()
        return sent

    async def run(self, *, stop: asyncio.Event, wake: asyncio.Event, idle_seconds: float = 30.0) -> None:
        lease = self.lease()
        try:
            await self._rounds(lease, stop=stop, wake=wake, idle_seconds=idle_seconds)
        finally:
            await lease.drop()

    async def _rounds(self, lease: SenderLease, *, stop: asyncio.Event, wake: asyncio.Event,
                      idle_seconds: float) -> None:
        while not stop.is_set():
            wake.clear()
            try:
                if not await lease.take():
                    log.info("another gateway process is sending this store's mail; waiting")
                    await _wait_any(stop, wake, idle_seconds)
                    continue
                while await self.send_due():
                    await lease.take()
            except Exception:
                log.exception("outbox sender failed; retrying shortly")
            await self._idle(stop, wake, idle_seconds)

    async def _idle(self, stop: asyncio.Event, wake: asyncio.Event, idle_seconds: float) -> None:
        """Until woken, stopped, something is due, or `idle_seconds`. `wake` is this process's
        own; mail another process queues (another gateway on the same database, the CLI) is
        found by looking again every PEER_POLL_SECONDS, a read, not a write."""
        store = self.store
        for _ in range(max(1, math.ceil(idle_seconds / PEER_POLL_SECONDS))):
            try:
                async with store.readers() as s:
                    nxt = await outbox.next_due_at(s)
            except Exception:  # the store is away: look again at the next step
                log.debug("outbox: cannot look for due mail", exc_info=True)
                nxt = None
            left = PEER_POLL_SECONDS
            if nxt is not None:
                left = min(left, (nxt - store.clock()).total_seconds())
            await _wait_any(stop, wake, max(0.05, left))
            if stop.is_set() or wake.is_set() or left <= 0:
                return


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event, timeout: float) -> None:
    waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
