"""One incoming message through the flow, as a list of steps; and resuming by state after a crash.

    received ─ read ─ examine ─ classify ─┬ record (one transaction: fields, files, number,
      (raw bytes durable)  (inbound/read)  │  register entry, outbox rows, audit)   inbound/record
                                           ├ what comes back for letters we sent  outbound/returns
                                           ├ units' and clerks' replies         forwarding, inbound/clerk
             ── then, outside that transaction: the receive stamp              inbound/stamp
                and the copy filed for the clerk (done by the IMAP adapter)    inbound/filed_copy

Each step is idempotent on the letter's state (gateway/state.py): `process` on a letter that
is already decided does nothing but its missing effects, so a restart after `kill -9`
anywhere finishes what was unfinished and never numbers twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import replace
from typing import Any

import jinja2
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway import workers
from gateway.core.classify import Outcome, Reading, classify
from gateway.errors import Permanent
from gateway.forwarding.routing import ClerkRoute
from gateway.forwarding.units import OPEN, Units
from gateway.inbound.attempts import count_failure, read_failed, refuse_if_environmental
from gateway.inbound.clerk import ClerkDesk
from gateway.inbound.context import Inbound
from gateway.inbound.feedback import Feedback
from gateway.inbound.filed_copy import filed_copy
from gateway.inbound.read import (
    Examined,
    Origin,
    _files_of,
    examine,
    may_be_bounce,
    read_blob,
    read_message,
    unit_reply_unproved,
)
from gateway.inbound.record import NEW_LETTERS, NUMBERED_NOW, Recorder, identity_keys
from gateway.inbound.replies import ClerkReplies
from gateway.inbound.review_copy import review_copy
from gateway.inbound.stamp import Stamper, ToStamp
from gateway.logabout import about
from gateway.outbound.returns import PROOF, REPLY_UNPROVED, ReplyProof, Returns
from gateway.progress import SILENT, Progress
from gateway.state import LetterState
from gateway.store import audit, leases, registers
from gateway.store.handle import Store
from gateway.store.letters import LOCK_ROW, Recorded, put_blobs, record_raw
from gateway.store.tables import About, Forward, Letter, RawMessage, RegisterEntry
from gateway.trust import SenderAuth
from gateway.trust.results import read_verdict
from gateway.xmlletter import default_resources

log = logging.getLogger(__name__)

Turn = contextlib.AbstractAsyncContextManager[None]


def _verdict(raw: bytes, origin: Origin, authserv_ids: Collection[str]) -> SenderAuth | None:
    """The sender's authentication as the intake wrote it on the stored message (the gateway's
    own Authentication-Results, or the agency MX's where it is believed). Mail the gateway did
    not receive from the network (a clerk's import, the submission server) carries no verdict
    of ours: a header in it proves nothing."""
    if origin.channel not in ("smtp", "imap"):
        return None
    return read_verdict(raw, authserv_ids)


class Pipeline:
    """The incoming flow's steps, in order; each step is its own module's class."""

    def __init__(self, ctx: Inbound) -> None:
        self.ctx = ctx
        self.feedback = Feedback(ctx)
        self.returns = Returns(ctx, self.feedback)
        self.recorder = Recorder(ctx, self.feedback, self.returns)
        self.stamper = Stamper(ctx)
        self.clerk = ClerkDesk(ctx, self.recorder, self.feedback, self.stamper)
        self.replies = ClerkReplies(self.clerk)
        # the clerk's decisions as the adapters call them (gateway/ports.py, LetterIntake)
        self.clerk_register, self.clerk_reject = self.clerk.register, self.clerk.reject
        self.tell_register_refused = self.clerk.tell_register_refused

    @classmethod
    def build(cls, store: Store, templates: jinja2.Environment) -> Pipeline:
        return cls(Inbound.build(store, templates))

    # what the adapters and the service use
    @property
    def store(self) -> Store:
        return self.ctx.store

    @property
    def templates(self) -> jinja2.Environment:
        return self.ctx.templates

    @property
    def units(self) -> Units:
        return self.ctx.units

    @property
    def read_processes(self) -> int:
        return self.ctx.read_processes

    @property
    def wake_sender(self) -> asyncio.Event | None:
        return self.ctx.wake_sender

    @wake_sender.setter
    def wake_sender(self, event: asyncio.Event | None) -> None:
        self.ctx.wake_sender = event

    async def stamp_letter(self, letter_id: int, *, also: dict[str, Any] | None = None,
                           known: ToStamp | None = None) -> bool:
        with about(letter_id=letter_id):
            return await self.stamper.stamp(letter_id, also=also, known=known)

    async def registered_copy(self, letter_id: int) -> tuple[bytes, str] | None:
        with about(letter_id=letter_id):
            return await filed_copy(self.ctx, letter_id, known=self.stamper.pop_stamped(letter_id))

    async def review_copy(self, letter_id: int) -> tuple[bytes, str] | None:
        with about(letter_id=letter_id):
            return await review_copy(self.ctx, letter_id)

    def warm_up(self) -> None:
        """Start the worker processes now, in the background (they take a second to load)."""
        if self.ctx.read_processes > 0:
            workers.warm(self.ctx.read_processes)

    # -- the flow ---------------------------------------------------------------------------

    async def process(self, letter_id: int, *, raw: bytes | None = None,
                      turn: Turn | None = None, on_stamp: dict[str, Any] | None = None) -> str:
        """Take one letter as far as it can go; returns its state.

        `on_stamp`: columns committed with the stamp when the letter is registered.
        `raw` saves reading the bytes back from disk when the caller has them; `turn`, when
        given, is entered around the recording transaction only, so letters read in parallel
        are still numbered in the order they arrived.
        """
        with about(letter_id=letter_id):  # the log lines of its reading, a worker's too
            return await self._process(letter_id, raw=raw, turn=turn, on_stamp=on_stamp)

    async def _process(self, letter_id: int, *, raw: bytes | None, turn: Turn | None,
                       on_stamp: dict[str, Any] | None) -> str:
        async with self.store.readers() as s:
            letter = await s.get(Letter, letter_id)
            if letter is None:
                raise Permanent(f"no letter {letter_id}")
            state = letter.state
            raw_row = await s.get(RawMessage, letter.raw_message_id) if letter.raw_message_id else None
        if state == LetterState.RECEIVED and raw_row is not None:
            state = await self._read_and_record(letter_id, raw_row, raw, turn)
        if state == LetterState.REGISTERED:
            await self.stamp_letter(letter_id, also=on_stamp)  # once per letter
        return state

    async def take_in(self, raw: bytes, *, digest: str, channel: str, source_key: str,
                      envelope_to: Sequence[str], envelope_from: str = "", turn: Turn | None = None,
                      on_stamp: dict[str, Any] | None = None,
                      unseen: bool = False) -> tuple[int, str, bool]:
        """Keep and decide a message the transport still holds (IMAP: until it is moved):
        read first, then the raw record and the decision in one transaction. Returns
        (letter id, state, whether `on_stamp` was committed with the stamp just now).
        Nothing is lost by a crash before the commit: the transport still has the message,
        and the raw bytes are on disk. `unseen`: the caller found no letter for `source_key`
        a moment ago (seen_keys, for a whole batch), so it is not looked up again here; were
        it recorded meanwhile, the recording transaction finds it anyway."""
        with about(source_key=source_key):  # the log lines of its reading, a worker's too
            return await self._take_in(raw, digest=digest, channel=channel, source_key=source_key,
                                       envelope_to=envelope_to, envelope_from=envelope_from,
                                       turn=turn, on_stamp=on_stamp, unseen=unseen)

    async def _take_in(self, raw: bytes, *, digest: str, channel: str, source_key: str,
                       envelope_to: Sequence[str], envelope_from: str, turn: Turn | None,
                       on_stamp: dict[str, Any] | None, unseen: bool) -> tuple[int, str, bool]:
        seen = None if unseen else (await self.seen_keys([source_key])).get(source_key)
        if seen is not None:  # fetched again: finish it the usual way
            return seen, await self.process(seen, raw=raw, turn=turn, on_stamp=on_stamp), False

        async def record(s: AsyncSession, now: dt.datetime) -> Recorded:
            return await record_raw(s, self.store.blobs, channel=channel, source_key=source_key,
                                    data=raw, now=now, envelope_from=envelope_from,
                                    envelope_to=envelope_to, digest=digest)

        try:
            examined = await self._examine(raw, digest, envelope_from, list(envelope_to),
                                           Origin(channel, source_key))
        except Exception as exc:
            read_failed(self.store, "message", source_key, exc)
            refuse_if_environmental(exc)  # nothing kept: the transport still has it
            async with self.store.sessions.begin() as s:
                rec = await record(s, self.store.clock())
            return rec.letter_id, await count_failure(self.store, rec.letter_id, exc), False
        examined = await self._obey(examined)
        letter_id = 0
        to_stamp: ToStamp | None = None

        async def record_and_decide(s: AsyncSession, now: dt.datetime) -> str:
            nonlocal letter_id, to_stamp
            rec = await record(s, now)
            letter_id = rec.letter_id
            if rec.created:
                s.info.setdefault(NEW_LETTERS, {})[rec.letter_id] = rec.letter
            state = await self._decide(s, rec.letter_id, examined, envelope_from, now)
            numbered = s.info.get(NUMBERED_NOW, {}).get(rec.letter_id)
            if rec.created and numbered is not None:  # its files are this reading's
                main = examined.reading.main
                to_stamp = ToStamp(numbered[0], numbered[1], main.sha256 if main else None,
                                   main.safe_name if main else "", numbered[2], digest)
            return state

        state = await self._in_turn(turn, record_and_decide, identity_keys(examined.reading))
        stamped = state == LetterState.REGISTERED and \
            await self.stamp_letter(letter_id, also=on_stamp, known=to_stamp)
        return letter_id, state, stamped

    async def seen_keys(self, source_keys: Sequence[str]) -> dict[str, int]:
        """The letters already opened for these transport keys: {source key: letter id}."""
        found: dict[str, int] = {}
        async with self.store.readers() as s:
            for i in range(0, len(source_keys), 500):
                found.update((await s.execute(select(RawMessage.source_key, Letter.id).join(
                    Letter, Letter.raw_message_id == RawMessage.id).where(
                    RawMessage.source_key.in_(source_keys[i:i + 500])))).all())
        return found

    async def resume(self, progress: Progress = SILENT) -> int:
        """After a restart: finish every letter left half-way. Returns how many were touched."""
        async with self.store.readers() as s:
            pending = list((await s.execute(select(Letter.id).where(Letter.state == LetterState.RECEIVED)
                                            .order_by(Letter.id))).scalars())
            unstamped = list((await s.execute(select(Letter.id).where(
                Letter.state == LetterState.REGISTERED, Letter.stamped_at.is_(None))
                .order_by(Letter.id))).scalars())
        work = [(self.process, lid) for lid in pending] + [(self.stamp_letter, lid) for lid in unstamped]
        for step, lid in progress.each(work, "หนังสือที่ค้างอยู่", len(work)):
            await step(lid)
        return len(work)

    # -- the steps --------------------------------------------------------------------------

    async def _read_and_record(self, letter_id: int, raw_row: RawMessage, raw: bytes | None,
                               turn: Turn | None) -> str:
        envelope_from = raw_row.envelope_from
        try:
            data = raw if raw is not None else \
                await asyncio.to_thread(self.store.blobs.get, raw_row.sha256)
            examined = await self._examine(data, raw_row.sha256, envelope_from,
                                           [str(a) for a in raw_row.envelope_to],
                                           Origin(raw_row.channel, raw_row.source_key))
        except Exception as exc:
            read_failed(self.store, "letter", letter_id, exc)
            return await count_failure(self.store, letter_id, exc)  # the letter's own fault only
        examined = await self._obey(examined)
        return await self._in_turn(turn, lambda s, now: self._decide(s, letter_id, examined,
                                                                     envelope_from, now),
                                   identity_keys(examined.reading))

    async def _obey(self, ex: Examined) -> Examined:
        """A clerk's proved correction reply is taken to the desk before the reply is recorded."""
        asked = ex.fix is not None or ex.report is not None
        return replace(ex, obeyed=await self.replies.obey(ex)) if asked and ex.clerk_proof else ex

    async def _examine(self, raw: bytes, digest: str, envelope_from: str,
                       envelope_to: list[str], origin: Origin) -> Examined:
        """Read (the letter's files on disk by then, not written under the write lock) and
        find what else the message is: all before the write transaction."""
        reading = await self._read(raw, digest, self.store.clock())
        look = functools.partial(examine, reading, raw, envelope_from=envelope_from,
                                 envelope_to=envelope_to, policy=self.ctx.policy,
                                 settings=self.store.settings, secret=self.store.secret,
                                 origin=origin, auth=_verdict(raw, origin, self.ctx.authserv_ids))
        if may_be_bounce(reading.message, envelope_to, envelope_from):  # parses it again: a thread
            return await asyncio.to_thread(look)
        return look()

    async def _read(self, raw: bytes, digest: str, now: dt.datetime) -> Reading:
        """The message read, and its files kept durably in the blob store."""
        ctx = self.ctx
        if ctx.read_processes > 0 and ctx.xml_resources is default_resources():
            # the message is already on disk: the worker reads it and keeps the files, within
            # the letter's budget (over it: workers.OverBudget, see inbound/attempts.py)
            intake = self.store.settings.intake
            return await workers.run(ctx.read_processes, read_blob, str(self.store.blobs.root),
                                     digest, trust_roots=ctx.trust_roots, now=now,
                                     revocation=ctx.revocation, ocr=intake.ocr,
                                     budget=workers.Budget(intake.read_budget_seconds,
                                                           intake.read_memory_mb))
        # in the gateway's own process (read_processes = 0, or XML schemas of a test's own):
        # a thread cannot be stopped, so no budget here
        reading = await workers.run(0, read_message, raw, xml_resources=ctx.xml_resources,
                                    trust_roots=ctx.trust_roots, now=now,
                                    revocation=ctx.revocation,
                                    ocr=self.store.settings.intake.ocr)
        await put_blobs(self.store.blobs, *(a.data for a in _files_of(reading)))
        return reading

    async def _in_turn(self, turn: Turn | None,
                       step: Callable[[AsyncSession, dt.datetime], Awaitable[str]],
                       identity: Sequence[str] = ()) -> str:
        """The recording transaction, in this letter's turn when letters are numbered in
        arrival order; the letters behind it wait for that turn, so it goes first. Its first
        act is to lock the letter's `identity` (record.identity_keys): the same letter decided
        by another process at the same moment is then found as a duplicate, not numbered
        again; first, before any other lock (the audit chain's head), so no two
        transactions wait for each other in a circle."""
        async with turn if turn is not None else contextlib.nullcontext():
            async with self.store.sessions.begin(urgent=turn is not None) as s:
                await leases.hold(s, *identity)
                state = await step(s, self.store.clock())
        self.ctx.wake()
        return state

    async def _decide(self, s: AsyncSession, letter_id: int, ex: Examined, envelope_from: str,
                      now: dt.datetime) -> str:
        """Classify (core/classify.RULES) and record, in the recording transaction."""
        # A letter this transaction created is at hand, and its row is this transaction's (the
        # INSERT locks it): no second read of its forty columns.
        letter = s.info.get(NEW_LETTERS, {}).get(letter_id) or \
            await s.get(Letter, letter_id, with_for_update=LOCK_ROW)
        assert letter is not None
        if letter.state != LetterState.RECEIVED:  # another worker got here first
            return letter.state
        reading, msg, decision = ex.reading, ex.reading.message, ex.decision
        s.info.setdefault(PROOF, {})[letter_id] = ReplyProof(ex.recipient_token, ex.facts.auth,
                                                             ex.generated)
        if ex.own is not None:
            letter.about, letter.about_letter_id = About.OWN_COPY, ex.own[1]
        elif ex.kind.own_copy is not None:  # other mail of ours (a confirmation …): set aside
            letter.about = About.OWN_COPY
        elif ex.unit_token is not None:
            taken = await self.units.take_reply(s, letter, ex.unit_token, msg, now)
            if taken in ("refused", "unmatched"):  # a fact only the store knows: not the unit's
                decision = classify(replace(ex.facts, kind=replace(
                    ex.kind, unit_reply=False, unproved=unit_reply_unproved(msg, taken))))
        elif (ex.fix or ex.report) is not None and ex.clerk_proof is None:  # never obeyed (#18)
            if await self.replies.done_already(s, ex):  # its copy from Sent was obeyed first
                decision = replace(decision, outcome=Outcome.NOT_LETTER, problems=(),
                                   notes=("clerk mail done already",))
        elif (ex.fix or ex.report) is not None:
            await self.replies.record(s, letter, ex, now)
        elif ex.clerk is not None and ex.clerk_proof is None:  # never obeyed (issue #18)
            if await done_already(s, ex.clerk):  # its copy from Sent was obeyed first
                decision = replace(decision, outcome=Outcome.NOT_LETTER, problems=(),
                                   notes=("clerk route done already",))
        elif ex.clerk is not None:
            await audit.append(s, now=now, actor=f"clerk:{ex.clerk_proof}", action="clerk.command",
                               subject_type="letter", subject_id=letter_id,
                               details={"proof": ex.clerk_proof, "route": list(ex.clerk[1].units)})
            if not ex.clerk[1].unknown:  # unknown names: the clerk is asked (classification)
                await self.clerk.route(s, letter, ex.clerk, now, by=f"clerk:{ex.clerk_proof}")
        elif ex.bounce is not None:
            await self.returns.take_bounce(s, letter, ex.bounce, now)
        else:
            answered = await self.returns.take_reply(s, letter, reading, now)  # only the store knows
            if answered == "acknowledged":
                decision = classify(replace(ex.facts, kind=replace(ex.kind, acknowledgement=True)))
            elif answered == "unproved" and decision.outcome is Outcome.REVIEW:
                decision = replace(decision, problems=(*decision.problems, REPLY_UNPROVED))
        return await self.recorder.record(s, letter, reading, decision, now, ex.facts.auth)


async def done_already(s: AsyncSession, clerk: tuple[tuple[int, int], ClerkRoute]) -> bool:
    """Whether every unit a command names has the letter already: then the unproved copy
    of a command (the clerk's reply also delivered to INBOX) asks nothing new."""
    (number, year), wanted = clerk
    if wanted.unknown or not (wanted.units or wanted.confirm_secret):
        return False
    book = await registers.get_book(s, "receive")
    target = (await s.execute(select(RegisterEntry.letter_id).where(
        RegisterEntry.book_id == book.id, RegisterEntry.year == year, RegisterEntry.number == number,
        RegisterEntry.status == "registered"))).scalar_one_or_none()
    if target is None:
        return False
    if wanted.confirm_secret:  # confirmed already from the clerk's Sent folder
        held = await s.get(Letter, target)
        return held is not None and (held.secret_hold or {}).get("state") == "confirmed"
    have = set((await s.execute(select(Forward.unit_code).where(
        Forward.letter_id == target, Forward.state.in_(OPEN)))).scalars())
    return set(wanted.units) <= have
