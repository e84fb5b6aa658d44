"""Delivering the outbox: to a relay over SMTP, or into a local folder as .eml files.

The sender loop wakes when a transaction of this process enqueues mail, when the next retry
is due, or when it sees (polling the store every [outbox] poll_seconds) a row another process
made due (`outbox retry`); it delivers each due row's bytes unchanged and records the outcome.
Temporary failures wait [outbox] retry_minutes (store/outbox.py `Schedule`); permanent and
expired ones are parked for the clerk. A letter is in doubt only between its final dot and
the answer (`data_in_two_steps`); [outbox] uncertain says whether such a row is sent again
or left to the clerk, who is then told once per letter (`on_in_doubt`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
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
from gateway.errors import Permanent, Transient, Uncertain, UserError
from gateway.logabout import about
from gateway.oauth import smtp_login
from gateway.ports import BeforeEnd, Envelope, OutboxTransport, nothing_before_end
from gateway.progress import SILENT, Progress
from gateway.reconnect import Outage, wait_either
from gateway.store import leases, outbox, recipients
from gateway.store.blobs import sha256_hex
from gateway.store.db import is_disconnect
from gateway.store.handle import Store
from gateway.store.tables import OutboxItem

log = logging.getLogger(__name__)


class FolderTransport:
    """The embedded default: each mail becomes <outbox>/<id>-<kind>.eml (idempotent by name).
    An `OutboxTransport` (gateway/ports.py), as is RelayTransport."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def deliver(self, envelope: Envelope, message: bytes, before_end: BeforeEnd = nothing_before_end,
                      after_end: BeforeEnd = nothing_before_end) -> None:
        tmp = await asyncio.to_thread(self._write, envelope, message)
        try:
            await before_end()
            final = self.folder / f"{envelope.item_id:08d}-{envelope.kind}.eml"
            await asyncio.to_thread(os.replace, tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        await after_end()

    def _write(self, envelope: Envelope, message: bytes) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        head = f"X-Envelope-From: <{envelope.sender}>\r\nX-Envelope-To: <{envelope.recipient}>\r\n"
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=self.folder)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(head.encode("utf-8") + message)  # an internationalized address as it is
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


# A relay that cannot be reached (restarting) is tried again within seconds for this long
# before the delivery counts as a failed attempt (and waits for the outbox's retry schedule).
RELAY_AWAY_WINDOW = 15.0


class RelayTransport:
    """Through the agency's relay: STARTTLS and AUTH as configured, every await bounded."""

    def __init__(self, relay: Relay, base_dir: Path | None = None) -> None:
        self.relay = relay
        self.tls = relay_tls_context(relay, base_dir or Path("."))
        self.outage = Outage(f"relay {relay.host}:{relay.port}")

    async def _connected(self) -> aiosmtplib.SMTP:
        """A connection to the relay; while it refuses or drops connections (a restart),
        tried again 0.5, 1, 2, 3 s later (gateway/reconnect.py) for RELAY_AWAY_WINDOW.
        Nothing has been sent yet, so trying again is always safe."""
        r = self.relay
        loop = asyncio.get_running_loop()
        give_up = loop.time() + RELAY_AWAY_WINDOW
        while True:
            client = aiosmtplib.SMTP(hostname=r.host, port=r.port, start_tls=r.starttls,
                                     timeout=r.timeout_seconds, tls_context=self.tls)
            try:
                await client.connect()
            except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPServerDisconnected, OSError) as exc:
                if isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code >= 500:
                    raise  # a refusal in its greeting, not a restart
                client.close()
                delay = self.outage.failed(exc, away=True)
                if loop.time() + delay > give_up:
                    raise
                await asyncio.sleep(delay)
                continue
            self.outage.over()
            return client

    async def deliver(self, envelope: Envelope, message: bytes, before_end: BeforeEnd = nothing_before_end,
                      after_end: BeforeEnd = nothing_before_end) -> None:
        r = self.relay
        password = secret(r.password_env, what="รหัสผ่าน relay", what_en="relay password") \
            if r.username and r.auth == "password" else None
        client: aiosmtplib.SMTP | None = None
        delivered = False
        try:
            client = await self._connected()
            if r.auth == "oauth2" and r.oauth2 is not None:
                try:
                    await smtp_login(client, r.username, r.oauth2)
                except UserError as exc:  # the token endpoint refused: keep the mail until fixed
                    raise Transient(f"OAuth token: {exc}") from exc
            elif r.username and password is not None:
                await client.login(r.username, password)
            if client.is_ehlo_or_helo_needed:  # what the relay offers (DSN, SMTPUTF8) is known after EHLO
                await client.ehlo()
            options = []
            if envelope.envelope_id and client.supports_extension("dsn"):
                options = ["RET=HDRS", f"ENVID={envelope.envelope_id}"]
            encoding = "ascii"
            if not (envelope.sender.isascii() and envelope.recipient.isascii()):
                # an internationalized address (สารบรรณ@กรมอนามัย.ไทย) travels only with SMTPUTF8
                if not client.supports_extension("smtputf8"):
                    raise Permanent(f"relay {r.host} does not offer SMTPUTF8, which mail to "
                                    f"{envelope.recipient} needs (ระบบส่งต่อไม่รองรับที่อยู่อีเมลภาษาไทย)")
                options, encoding = [*options, "SMTPUTF8"], "utf-8"
            await client.mail(envelope.sender, options=options, encoding=encoding)
            await client.rcpt(envelope.recipient, encoding=encoding)
            await data_in_two_steps(client, message, before_end, r.timeout_seconds)
            delivered = True
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
            if not delivered:
                await _goodbye(client, r.timeout_seconds)
        try:
            await after_end()  # the 250 is in: recorded before the goodbye, not after its round trip
        finally:
            await _goodbye(client, r.timeout_seconds)


async def _goodbye(client: aiosmtplib.SMTP | None, timeout: float) -> None:
    if client is not None and client.is_connected:
        try:
            await asyncio.wait_for(client.quit(), timeout)
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
                                 message=data, now=now, letter_id=letter_id,
                                 lifetime=dt.timedelta(hours=store.settings.outbox_lifetime_hours))
            for address in mail.to]


SENDER_LEASE = "outbox-sender"
LEASE_TTL = dt.timedelta(minutes=10)


class SenderLease:
    """One sender per store (durability rule 6, as for mailboxes): only the holder may recover
    the rows a dead sender left claimed, and only it delivers."""

    def __init__(self, store: Store, on_parked: OnParked | None = None,
                 on_in_doubt: OnInDoubt | None = None) -> None:
        self.store = store
        self.on_parked = on_parked
        self.on_in_doubt = on_in_doubt
        self.holder = leases.local_holder(self)

    async def take(self) -> bool:
        now = self.store.clock()
        resend = self.store.settings.outbox.uncertain == "resend"
        async with self.store.sessions.begin() as s:
            got, before = await leases.take(s, name=SENDER_LEASE, holder=self.holder, now=now, ttl=LEASE_TTL)
            if got and before != self.holder:
                counts, in_flight = await outbox.recover(s, now=now, resend=resend)
                if self.on_in_doubt is not None:
                    # every letter with rows in doubt whose sending has settled: one mail each
                    # (again only if its set of rows changed: a crash before the mail is covered)
                    letters = {i.letter_id for i in await outbox.in_doubt(s) if i.letter_id is not None}
                    await settle(s, letters, self.on_in_doubt, now)
                elif self.on_parked is not None:
                    for item in await outbox.in_doubt(s, ids=in_flight) if in_flight else ():
                        await self.on_parked(s, item.id, now)
                if any(counts.values()):
                    log.warning("outbox after a restart: %s", counts)
        return got

    async def drop(self) -> None:
        await leases.let_go(self.store.sessions, name=SENDER_LEASE, holder=self.holder)


NEVER_TWICE = frozenset({"letter", "letter-copy", "forward"})
Composer = Callable[[dict[str, Any]], Awaitable[bytes]]
# Called in the transaction that parks a row.
OnParked = Callable[[AsyncSession, int, dt.datetime], Awaitable[None]]
# Called once a letter's sending has settled with rows in doubt ([outbox] uncertain = "ask"):
# the letter and its uncertain rows, in the caller's transaction.
OnInDoubt = Callable[[AsyncSession, int, Sequence[OutboxItem], dt.datetime], Awaitable[None]]


async def settle(s: AsyncSession, letter_ids: set[int], on_in_doubt: OnInDoubt, now: dt.datetime) -> None:
    """Tell the clerk about each letter whose remaining rows are all tried and some in doubt."""
    for letter_id in sorted(letter_ids):
        if not await outbox.unsettled(s, letter_id):
            rows = await outbox.in_doubt(s, letter_id=letter_id)
            if rows:
                await on_in_doubt(s, letter_id, rows, now)


async def _about_item(sending: Awaitable[None], item_id: int, letter_id: int | None) -> None:
    """One row's sending, its log lines (aiosmtplib's too) about the row and its letter."""
    with about(outbox_id=item_id, letter_id=letter_id):
        await sending


async def send_due(store: Store, transport: OutboxTransport, *, limit: int = 200,
                   composer: Composer | None = None, concurrency: int | None = None,
                   on_parked: OnParked | None = None, on_in_doubt: OnInDoubt | None = None) -> int:
    """Deliver what is due now, several at a time; returns how many rows were handled."""
    now = store.clock()
    cfg = store.settings.outbox
    schedule = outbox.Schedule.of(cfg.retry_minutes, store.settings.outbox_lifetime_hours)
    resend = cfg.uncertain == "resend"
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

                sent_digest = await asyncio.to_thread(sha256_hex, message)
                recorded = False

                async def before_end() -> None:
                    async with store.sessions.begin() as s:
                        await outbox.mark_in_flight(s, item_id, now=store.clock())

                async def after_end() -> None:
                    # Ahead of the queue (urgent): the row is in doubt until this commits.
                    nonlocal recorded
                    async with store.sessions.begin(urgent=True) as s:
                        await outbox.mark_sent(s, item_id, now=store.clock(), digest=sent_digest)
                    recorded = True

                envelope = Envelope(env_from or central, recipient, item_id, kind,
                                    envelope_id=str(recipe.get("token", "")))
                # Letters are never sent twice (the in-flight mark); automatic mails (acks,
                # notices, reports) are at-least-once and spare the extra commit.
                if kind in NEVER_TWICE:
                    await transport.deliver(envelope, message, before_end, after_end)
                else:
                    await transport.deliver(envelope, message)
            except Uncertain as exc:
                async with store.sessions.begin(urgent=True) as s:
                    # resend: the same bytes again later, which a receiving system links
                    # (automatic mails are at-least-once: always sent again, within the limit)
                    status = await outbox.mark_in_doubt(s, item_id, now=store.clock(), error=str(exc),
                                                        resend=resend or kind not in NEVER_TWICE,
                                                        schedule=schedule)
                    if on_parked is not None and (status == "parked" or (
                            status == "uncertain" and on_in_doubt is None and kind in NEVER_TWICE)):
                        await on_parked(s, item_id, store.clock())
                store.events["send_failed"] += 1  # /metrics (gateway/ops/metrics.py)
                log.warning("outbox %s to %s: no answer after the final dot (%s): %s", item_id, recipient,
                            status, exc, extra={"outbox_id": item_id, "letter_id": letter_id})
                return
            except (Transient, Permanent, OSError) as exc:
                permanent = isinstance(exc, Permanent)
                async with store.sessions.begin() as s:
                    status = await outbox.mark_failed(s, item_id, now=store.clock(), error=str(exc),
                                                      permanent=permanent, schedule=schedule)
                    if status == "parked" and on_parked is not None:
                        await on_parked(s, item_id, store.clock())
                store.events["send_failed"] += 1
                log.warning("outbox %s to %s failed (%s): %s", item_id, recipient, status, exc,
                            extra={"outbox_id": item_id, "letter_id": letter_id})
                return
            if kind not in NEVER_TWICE:
                automatic.append((item_id, sent_digest))  # recorded together after the batch
                return
            if not recorded:  # a transport that does not call after_end
                await after_end()
            if kind == "letter" and letter_id is not None:
                sent_letters.add(letter_id)

    sent_letters: set[int] = set()
    touched = {i[6] for i in items if i[2] in NEVER_TWICE and i[6] is not None}
    automatic: list[tuple[int, str]] = []
    try:
        await asyncio.gather(*(_about_item(one(i), i[0], i[6]) for i in items))
    finally:
        if automatic:  # at-least-once mails: one commit for the batch
            async with store.sessions.begin() as s:
                for item_id, digest in automatic:
                    await outbox.mark_sent(s, item_id, now=store.clock(), digest=digest)
    for letter_id in sorted(sent_letters):  # the send register's การปฏิบัติ, once per batch
        async with store.sessions.begin() as s:
            await recipients.refresh_action(s, letter_id)
    if on_in_doubt is not None and touched:
        async with store.sessions.begin() as s:
            await settle(s, touched, on_in_doubt, store.clock())
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
    on_in_doubt: OnInDoubt | None = None

    def lease(self) -> SenderLease:
        return SenderLease(self.store, self.on_parked, self.on_in_doubt)

    async def send_due(self) -> int:
        return await send_due(self.store, self.transport, composer=self.composer, on_parked=self.on_parked,
                              on_in_doubt=self.on_in_doubt)

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
        database = Outage("outbox sender: the database")
        while not stop.is_set():
            wake.clear()
            try:
                if not await lease.take():
                    log.info("another gateway process is sending this store's mail; waiting")
                    await wait_either(stop, wake, idle_seconds)
                    continue
                while await self.send_due():
                    await lease.take()
                database.over()
            except Exception as exc:  # the task guard: the loop goes on
                if is_disconnect(exc):  # the database restarting: again within seconds
                    await wait_either(stop, wake, database.failed(type(exc).__name__, away=True))
                    continue
                log.exception("outbox sender failed; retrying shortly")
            await self._until_due(stop, wake, idle_seconds)

    async def _until_due(self, stop: asyncio.Event, wake: asyncio.Event, idle_seconds: float) -> None:
        """Wait for a wake-up, the next due row, or `idle_seconds`, looking at the store every
        [outbox] poll_seconds: a row another process made due (`outbox retry`, a second
        gateway's mail) is found within that time, on SQLite and PostgreSQL alike."""
        store = self.store
        poll = store.settings.outbox.poll_seconds
        loop = asyncio.get_running_loop()
        end = loop.time() + idle_seconds
        await wait_either(stop, wake, 0.05)  # never a busy loop, even when a due row keeps failing
        while not stop.is_set() and not wake.is_set():
            try:
                async with store.readers() as s:
                    nxt = await outbox.next_due_at(s)
            except Exception as exc:
                if not is_disconnect(exc):  # a database restart: _rounds' outage says so once
                    log.exception("outbox sender cannot read the store; waiting")
                nxt = None
            left = end - loop.time()
            if (nxt is not None and nxt <= store.clock()) or left <= 0:
                return
            step = min(poll, left)
            if nxt is not None:
                step = min(step, (nxt - store.clock()).total_seconds())
            await wait_either(stop, wake, max(0.05, step))

