"""IMAP watcher: takes in the central mailbox's backlog, then waits with IDLE (or polls).

Identity of a message is (mailbox, UIDVALIDITY, UID). A message is moved out of
INBOX into its folder (ลงรับแล้ว, รอตรวจสอบ, ไม่รับ, อื่น ๆ) only after its letter
is committed (durability rule 1), so a crash leaves it in INBOX and the next
round finds its existing letter instead of numbering it again. One worker per
mailbox at a time, by a lease in the store. What each round files besides, and the
clerk's moves, are gateway/intake/filing.py; the connection is a `MailboxClient`
(gateway/ports.py) the composition root makes (gateway/intake/imap_client.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import ssl
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import DBAPIError

from gateway.config import Imap
from gateway.intake.filing import Filing, Placement
from gateway.intake.review_filing import file_review_copy
from gateway.intake.smtp import Vouch
from gateway.logabout import about
from gateway.ports import ImapFailure, LetterIntake, MailboxClient, MailboxClientFactory
from gateway.progress import SILENT, Progress
from gateway.reconnect import Outage
from gateway.state import LetterState
from gateway.store import leases
from gateway.store.blobs import sha256_hex
from gateway.store.db import is_disconnect
from gateway.store.letters import put_blobs

log = logging.getLogger(__name__)

IDLE_SECONDS = 60  # one IDLE round; the lease is renewed between rounds
LEASE_TTL = dt.timedelta(minutes=3)
TAKE_IN_PARALLEL = 6  # letters in flight: enough to keep the readers and the database busy

__all__ = ["InOrder", "MailboxHealth", "Outage", "Watcher"]


class InOrder:
    """Lets step i run only after steps 0 … i-1 have run (or were skipped)."""

    def __init__(self) -> None:
        self._next = 0
        self._finished: set[int] = set()
        self._changed = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def turn(self, i: int) -> AsyncIterator[None]:
        async with self._changed:
            await self._changed.wait_for(lambda: self._next >= i)
        try:
            yield
        finally:
            self.done(i)

    def done(self, i: int) -> None:
        if i in self._finished:
            return
        self._finished.add(i)
        while self._next in self._finished:
            self._next += 1
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()


@dataclass
class MailboxHealth:
    """When each mailbox was last checked successfully; read by the alarm task."""

    last_ok: dict[str, dt.datetime] = field(default_factory=dict)
    last_error: dict[str, str] = field(default_factory=dict)


class Watcher:
    """One [[imap]] mailbox: backlog, IDLE/poll, reconnect with backoff; filing by `Filing`."""

    def __init__(self, cfg: Imap, pipeline: LetterIntake, health: MailboxHealth, *,
                 client_factory: MailboxClientFactory, wake: asyncio.Event | None = None,
                 vouch: Vouch | None = None) -> None:
        self.cfg = cfg
        self.pipeline = pipeline
        self.store = pipeline.store
        self.filing = Filing(cfg, pipeline)
        self.folders = self.filing.folders
        self.health = health
        self.holder = leases.local_holder(self)
        self.lease_name = f"imap:{cfg.name}"
        self.wake = wake or asyncio.Event()
        self.client_factory = client_factory
        self.vouch = vouch
        self.rounds = 0
        self.seen: set[int] = set()  # the UIDs in the watched mailbox at the last round's start
        self.outage = Outage(f"IMAP {cfg.name}", extra={"mailbox": cfg.name})

    async def ensure_folders(self, client: MailboxClient) -> None:
        await client.folders()  # learn the delimiter first
        commands = (self.folders.commands,) if self.folders.commands else ()
        await client.ensure_folders((*self.folders.all(), self.store.settings.outbound.sent_folder,
                                     *commands, *self.filing.forward_folders(client)))

    async def run(self, stop: asyncio.Event) -> None:
        """Watch until `stop`; every lost connection (to the mailbox or the database) is
        noticed at once and retried within seconds (`Outage`), every round being safe to
        repeat (a letter is moved out of INBOX only after its commit)."""
        while not stop.is_set():
            client = self.client_factory()
            try:
                await client.connect()
                await self._session(client, stop)
            except Exception as exc:
                away = _away(exc)
                if away is None:
                    raise
                self.health.last_error[self.cfg.name] = repr(exc)
                delay = self.outage.failed(exc, away=away)
            else:
                delay = 0.0
            finally:
                await client.close()
            if stop.is_set():
                break
            await _sleep(stop, delay)

    async def sweep(self, progress: Progress = SILENT) -> bool:
        """One round and done (`ingest --once`); False when a running gateway holds the mailbox."""
        if not await self.take_lease():
            return False
        client = self.client_factory()
        try:
            await client.connect()
            await self.ensure_folders(client)
            await self.one_round(client, progress)
        finally:
            await client.close()
            await self.drop_lease()
        return True

    async def take_lease(self) -> bool:
        """Hold this mailbox for this process; a lease left by a dead process on this host is
        broken at once rather than waited out (its holder names host and pid)."""
        return await leases.claim(self.store.sessions, name=self.lease_name, holder=self.holder,
                                  now=self.store.clock(), ttl=LEASE_TTL)

    async def drop_lease(self) -> None:
        try:
            await leases.let_go(self.store.sessions, name=self.lease_name, holder=self.holder)
        except DBAPIError as exc:  # the database is away: the lease is ours to take again
            if not is_disconnect(exc):
                raise
            log.debug("IMAP %s: lease not released: %r", self.cfg.name, exc)

    async def _session(self, client: MailboxClient, stop: asyncio.Event) -> None:
        await self.ensure_folders(client)
        try:
            while not stop.is_set():
                if not await self.take_lease():
                    log.info("IMAP %s is being worked by another process; waiting", self.cfg.name)
                    # not overdue here: that process watches it (and raises its alarm)
                    self.health.last_ok[self.cfg.name] = self.store.clock()
                    await _sleep(stop, 10)
                    continue
                await self.one_round(client)
                self.outage.over()
                if stop.is_set():
                    break
                await client.select(self.cfg.mailbox)
                if set(await client.uids("ALL")) - self.seen:
                    continue  # arrived during the round, before IDLE: IDLE would not announce it
                if client.has("IDLE"):
                    # Short enough to renew the lease well within its lifetime.
                    await client.idle(min(self.cfg.poll_seconds * 10, IDLE_SECONDS), stop)
                else:
                    self.wake.clear()
                    await _sleep(stop, self.cfg.poll_seconds, self.wake)
        finally:
            await self.drop_lease()

    async def one_round(self, client: MailboxClient, progress: Progress = SILENT) -> int:
        """Take in everything waiting in the watched mailbox and handle the clerk's moves."""
        with about(mailbox=self.cfg.name):
            return await self._one_round(client, progress)

    async def _one_round(self, client: MailboxClient, progress: Progress) -> int:
        """Everything waiting in the watched mailbox, then the clerk's moves.

        Up to TAKE_IN_PARALLEL letters are read at once (parsing and PDF work overlap the
        IMAP and disk waits of the others); IMAP commands go one at a time through a lock,
        and the recording step runs in UID order, so receive numbers follow arrival.
        """
        # The clerk's commands first (Sent, the command folder): the same reply delivered to
        # INBOX then finds its units already have the letter.
        await self.filing.clerk_commands(client)
        validity = await client.select(self.cfg.mailbox)
        uids = await client.uids("ALL")
        self.seen = set(uids)
        # which of them were recorded before (a crash before the MOVE): one query for all
        recorded = await self.pipeline.seen_keys([self._key(validity, uid) for uid in uids])
        progress.stage(f"รับหนังสือจากกล่อง {self.cfg.name}", len(uids))
        lock = asyncio.Lock()
        order = InOrder()
        slots = asyncio.Semaphore(TAKE_IN_PARALLEL)

        async def one(i: int, uid: int) -> None:
            async with slots:
                try:
                    await self._take_in(client, validity, uid, lock, order.turn(i),
                                        unseen=self._key(validity, uid) not in recorded)
                finally:
                    order.done(i)
                    progress.advance()

        await _all_or_none([one(i, uid) for i, uid in enumerate(uids)])
        await self.filing.after_intake(client)
        self.health.last_ok[self.cfg.name] = self.store.clock()
        self.health.last_error.pop(self.cfg.name, None)
        self.rounds += 1
        return len(uids)

    def _key(self, validity: int, uid: int) -> str:
        """A mailbox message's source key: where the letter came from, once."""
        return f"imap:{self.cfg.name}:{validity}:{uid}"

    async def _take_in(self, client: MailboxClient, validity: int, uid: int, lock: asyncio.Lock,
                       turn: contextlib.AbstractAsyncContextManager[None], *, unseen: bool) -> None:
        async with lock:
            if client.selected != self.cfg.mailbox:
                await client.select(self.cfg.mailbox)
            raw = await client.fetch(uid)
        if raw is None:
            return
        key = self._key(validity, uid)
        # Kept with the verdict on its sender on top (the agency MX's, when believed, else the
        # gateway's own): the stored bytes, and `digest`, are the stamped ones; the mailbox's
        # copy keeps its own bytes, remembered by their hash (`mailbox_sha`) for the clerk's moves.
        mailbox_sha = sha256_hex(raw)
        if self.vouch is not None:
            raw = await self.vouch(raw)
        (digest,) = await put_blobs(self.store.blobs, raw)
        # Kept and decided in one transaction: until it is moved, the server still has it.
        # A registered letter's findable copy will be appended: the intent is committed with
        # its stamp, before the APPEND, so a crash after the APPEND is found by a search
        # instead of filing a second copy.
        letter_id, state, intent_committed = await self.pipeline.take_in(
            raw, digest=digest, channel="imap", source_key=key, envelope_to=[self.cfg.user],
            turn=turn, on_stamp={"copy_appending": True}, unseen=unseen)
        log.info("IMAP %s uid %s: letter %s: %s", self.cfg.name, uid, letter_id, state,
                 extra={"letter_id": letter_id, "mailbox": self.cfg.name})
        folder = self.filing.folder_for(state)
        if folder is None:  # not decided (e.g. a transient read failure): stays in INBOX
            return
        # The findable copy is composed before taking the connection: only IMAP waits for it.
        fresh = intent_committed or not await self.filing.copy_begun(letter_id)
        made = await self.pipeline.registered_copy(letter_id) \
            if state == LetterState.REGISTERED and fresh else None
        copy, copy_sha = made if made is not None else (None, "")
        if copy is not None and not intent_committed:  # stamped before: record the intent now
            await self.filing.set_columns(letter_id, copy_appending=True)
        async with lock:
            if client.selected != self.cfg.mailbox:
                await client.select(self.cfg.mailbox)
            moved = await client.move(uid, folder)
            where = await client.append(self.folders.registered, copy) if copy else None
        # Both placements in one transaction, after the connection is free for the next
        # letter. A crash before it leaves them for the next round's filing to find.
        rows: list[Placement] = [(folder, moved, "original", mailbox_sha)]
        if copy is not None:
            rows.append((self.folders.registered, where, "copy", copy_sha))
        await self.filing.remember_all(rows, letter_id,
                                       {"filed_folder": folder, **({"copy_appended": True} if copy else {})})
        # a letter set aside gets its review copy beside it (reasons, fields, commands; #21)
        await file_review_copy(self.filing, client, letter_id, state, lock)


async def _all_or_none(steps: list[Coroutine[Any, Any, None]]) -> None:
    """Run the steps together and wait for every one of them, then raise the first failure.
    None is left running on a connection being closed, and none is cancelled half-way: a
    database connection attempt cut short leaves a socket PostgreSQL waits on (up to its
    authentication_timeout, 60 s) before a restart can finish."""
    for outcome in await asyncio.gather(*steps, return_exceptions=True):
        if isinstance(outcome, BaseException):
            raise outcome


def _away(exc: BaseException) -> bool | None:
    """True: the mailbox or the database is away (refused, lost, silent): retry within seconds.
    False: the server answered NO or BAD: back off longer. None: not an outage (a bug)."""
    if isinstance(exc, DBAPIError):
        return True if is_disconnect(exc) else None
    if isinstance(exc, (TimeoutError, OSError)):  # MailboxLost is a ConnectionError
        return not isinstance(exc, ssl.SSLCertVerificationError)
    if isinstance(exc, ImapFailure):
        return False
    return None


async def _sleep(stop: asyncio.Event, seconds: float, wake: asyncio.Event | None = None) -> None:
    waits = [asyncio.create_task(stop.wait())]
    if wake is not None:
        waits.append(asyncio.create_task(wake.wait()))
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
