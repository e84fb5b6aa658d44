"""The transactional outbox: mails to send, written in the transaction that caused them.

A row holds the composed message as a blob, or a recipe that composes the same
bytes at delivery, so a retry sends the very same mail (same Message-ID).
`dedupe_key` is unique: re-running the step that enqueued a mail never adds a
second row (durability rule 4). One sender works a store at a time (the sender
lease). Automatic mails are at-least-once: a sender that dies mid-delivery leaves
the row pending. Letters: `mark_in_flight` is committed just before the final dot of DATA
(everything before it failing means not delivered: the relay discards a DATA without its
end), so only a row found in flight after a crash, or without an answer after the dot, is
in doubt. By [outbox] uncertain it is sent again with the same bytes ("resend": same
Message-ID and XML letter ID, which receiving saraban systems link as a duplicate), or
becomes `uncertain` for the clerk ("ask"), told once per letter when its sending settles.
Retries follow [outbox] retry_minutes (`Schedule`) until the row's `expires_at`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.store import audit
from gateway.store.blobs import BlobStore
from gateway.store.letters import ensure_blob
from gateway.store.tables import LetterRecipient, OutboxItem

DEFAULT_LIFETIME = dt.timedelta(days=5)
# the kinds sent at most once without a decision: an in-flight mark guards their final dot
IN_DOUBT_KINDS = ("letter", "letter-copy", "forward")
# Sent again automatically at most this many times after an unanswered final dot (a relay that
# keeps the mail and always answers too late would otherwise get a copy per retry); then the
# row waits for the clerk as under "ask". Counted in the row's recipe ("in_doubt").
RESEND_LIMIT = 3


def _doubts(item: OutboxItem) -> int:
    return int((item.recipe or {}).get("in_doubt", 0))


def _may_resend(item: OutboxItem) -> bool:
    """Counts one more doubt on the row; whether it may still be sent again without the clerk."""
    n = _doubts(item)
    item.recipe = {**(item.recipe or {}), "in_doubt": n + 1}  # a new dict: the JSON column sees it
    return n < RESEND_LIMIT


@dataclass(frozen=True)
class Schedule:
    """When to try again: the n-th failure waits steps[n-1] (the last step repeats); a row is
    given up once its next try would fall after `expires_at` (queued + lifetime)."""

    steps: tuple[dt.timedelta, ...] = tuple(dt.timedelta(minutes=m) for m in (1, 2, 4, 8, 15, 30, 60))
    lifetime: dt.timedelta = DEFAULT_LIFETIME

    @classmethod
    def of(cls, minutes: Sequence[float], lifetime_hours: float) -> Schedule:
        return cls(tuple(dt.timedelta(minutes=m) for m in minutes), dt.timedelta(hours=lifetime_hours))

    def backoff(self, attempts: int) -> dt.timedelta:
        """The wait after the `attempts`-th failed try (1-based)."""
        return self.steps[min(max(attempts, 1), len(self.steps)) - 1]


DEFAULT_SCHEDULE = Schedule()


@dataclass(frozen=True)
class Queued:
    item_id: int
    created: bool


async def _existing(session: AsyncSession, dedupe_key: str) -> Queued | None:
    found = (
        await session.execute(select(OutboxItem.id).where(OutboxItem.dedupe_key == dedupe_key))
    ).scalar_one_or_none()
    return Queued(found, created=False) if found is not None else None


async def _add(session: AsyncSession, *, now: dt.datetime, lifetime: dt.timedelta,
               **fields: object) -> Queued:
    item = OutboxItem(status="pending", attempts=0, next_attempt_at=now, expires_at=now + lifetime,
                      last_error="", created_at=now, sent_digest="", **fields)
    session.add(item)
    await session.flush()
    return Queued(item.id, created=True)


async def enqueue(
    session: AsyncSession,
    blobs: BlobStore,
    *,
    kind: str,
    recipient: str,
    dedupe_key: str,
    message: bytes,
    now: dt.datetime,
    letter_id: int | None = None,
    lifetime: dt.timedelta = DEFAULT_LIFETIME,
) -> Queued:
    """A mail composed now: its bytes are stored, and every attempt sends them."""
    if (queued := await _existing(session, dedupe_key)) is not None:
        return queued
    digest = await ensure_blob(session, blobs, message, now)
    return await _add(session, now=now, lifetime=lifetime, kind=kind, letter_id=letter_id,
                      recipient=recipient, dedupe_key=dedupe_key, message_sha256=digest)


async def enqueue_recipe(
    session: AsyncSession,
    *,
    kind: str,
    recipient: str,
    dedupe_key: str,
    recipe: dict[str, object],
    envelope_from: str,
    now: dt.datetime,
    letter_id: int | None = None,
    lifetime: dt.timedelta = DEFAULT_LIFETIME,
) -> Queued:
    """A mail composed at delivery from `recipe` (deterministically: same bytes every attempt)."""
    if (queued := await _existing(session, dedupe_key)) is not None:
        return queued
    return await _add(session, now=now, lifetime=lifetime, kind=kind, letter_id=letter_id,
                      recipient=recipient, dedupe_key=dedupe_key, message_sha256=None,
                      recipe=recipe, envelope_from=envelope_from)


async def due(session: AsyncSession, *, now: dt.datetime, limit: int = 50) -> list[OutboxItem]:
    rows = await session.execute(
        select(OutboxItem)
        .where(OutboxItem.status.in_(("pending", "sending")), OutboxItem.next_attempt_at <= now)
        .order_by(OutboxItem.next_attempt_at, OutboxItem.id)
        .limit(limit)
    )
    return list(rows.scalars())


async def mark_in_flight(session: AsyncSession, item_id: int, *, now: dt.datetime) -> None:
    """Recorded just before the end of DATA is written: from here on the outcome is uncertain
    until `mark_sent`, and a crash in between must not lead to a second delivery."""
    await session.execute(update(OutboxItem).where(OutboxItem.id == item_id)
                          .values(status="sending", in_flight_at=now))


async def mark_in_doubt(session: AsyncSession, item_id: int, *, now: dt.datetime, error: str,
                        resend: bool, schedule: Schedule = DEFAULT_SCHEDULE) -> str:
    """The final dot went out and no answer came. `resend` (and under RESEND_LIMIT): tried
    again after the schedule's wait, with the same bytes; else `uncertain`. Returns the status."""
    item = await session.get(OutboxItem, item_id)
    assert item is not None
    if resend and _may_resend(item):
        return await mark_failed(session, item_id, now=now, permanent=False, schedule=schedule,
                                 error=f"ไม่ได้รับคำตอบหลังส่งจบ จะส่งซ้ำฉบับเดิม (no answer after the final dot): {error}")
    await mark_uncertain(session, item_id, now=now, error=error)
    return "uncertain"


async def mark_uncertain(session: AsyncSession, item_id: int, *, now: dt.datetime, error: str) -> None:
    """The end of DATA went out and no answer came: not resent, shown to the clerk."""
    item = await session.get(OutboxItem, item_id)
    assert item is not None
    item.status = "uncertain"
    item.attempts += 1
    item.last_error = f"ไม่แน่ชัดว่าผู้รับได้รับแล้วหรือไม่ ({error})"[:2000]
    await _recipient_state(session, item_id, "failed", now, item.last_error)
    await audit.append(session, now=now, actor="sender", action="outbox.uncertain",
                       subject_type="outbox", subject_id=item_id,
                       details={"to": item.recipient, "kind": item.kind, "error": error[:300]})


async def recover(session: AsyncSession, *, now: dt.datetime,
                  resend: bool = False) -> tuple[dict[str, int], list[int]]:
    """After a restart (the caller holds the sender lease): rows the dead sender had claimed go
    back to pending, except those whose final dot may have gone out. Those are sent again at
    once with the same bytes (`resend`), or become `uncertain` for the clerk; returns the
    counts and the ids found in flight."""
    rows = list((await session.execute(select(OutboxItem).where(OutboxItem.status == "sending"))).scalars())
    counts = {"pending": 0, "uncertain": 0, "resent": 0}
    in_flight: list[int] = []
    for item in rows:
        if item.in_flight_at is not None:
            in_flight.append(item.id)
        if item.in_flight_at is not None and not (resend and _may_resend(item)):
            item.status = "uncertain"
            item.last_error = "ระบบหยุดทำงานระหว่างส่ง ไม่แน่ชัดว่าผู้รับได้รับแล้วหรือไม่ (process stopped mid-delivery)"
            await _recipient_state(session, item.id, "failed", now, item.last_error)
            await audit.append(session, now=now, actor="sender", action="outbox.uncertain",
                               subject_type="outbox", subject_id=item.id,
                               details={"to": item.recipient, "kind": item.kind})
            counts["uncertain"] += 1
            continue
        if item.in_flight_at is not None:
            await audit.append(session, now=now, actor="sender", action="outbox.resend",
                               subject_type="outbox", subject_id=item.id,
                               details={"to": item.recipient, "kind": item.kind,
                                        "why": "stopped between the final dot and its answer"})
            counts["resent"] += 1
        else:
            counts["pending"] += 1
        item.status = "pending"
        item.in_flight_at = None
        item.next_attempt_at = now
    return counts, in_flight


async def unsettled(session: AsyncSession, letter_id: int) -> bool:
    """Whether the letter's first round is still going: a mail of it not yet tried, or being
    sent. (One waiting for a retry after a temporary failure does not hold the clerk's mail
    back for days; it has its own report if it is given up.)"""
    return (await session.execute(select(OutboxItem.id).where(
        OutboxItem.letter_id == letter_id, OutboxItem.kind.in_(IN_DOUBT_KINDS),
        or_(OutboxItem.status == "sending", and_(OutboxItem.status == "pending", OutboxItem.attempts == 0)))
        .limit(1))).first() is not None


async def in_doubt(session: AsyncSession, *, letter_id: int | None = None,
                   ids: Sequence[int] = ()) -> list[OutboxItem]:
    """The letters' rows left `uncertain` (not the clerk's own mails about them), of one letter or by id."""
    q = select(OutboxItem).where(OutboxItem.status == "uncertain", OutboxItem.kind.in_(IN_DOUBT_KINDS)
                                 ).order_by(OutboxItem.id)
    if letter_id is not None:
        q = q.where(OutboxItem.letter_id == letter_id)
    if ids:
        q = q.where(OutboxItem.id.in_(list(ids)))
    return list((await session.execute(q)).scalars())


async def retry(session: AsyncSession, item_id: int, *, now: dt.datetime, actor: str,
                lifetime: dt.timedelta = DEFAULT_LIFETIME) -> OutboxItem:
    """A clerk's decision to send a parked or uncertain row again: it is due now, so a running
    sender (which polls the store, [outbox] poll_seconds) picks it up within seconds."""
    item = await _held(session, item_id)
    item.status = "pending"
    item.next_attempt_at = now
    item.in_flight_at = None
    item.expires_at = max(item.expires_at, now + lifetime)
    await _recipient_state(session, item.id, "queued", now, "")
    await audit.append(session, now=now, actor=actor, action="outbox.retry", subject_type="outbox",
                       subject_id=item_id, details={"to": item.recipient})
    return item


async def resolve_delivered(session: AsyncSession, item_id: int, *, now: dt.datetime, actor: str) -> OutboxItem:
    """A clerk's finding that an uncertain row did arrive (asked the recipient): sent, not resent."""
    item = await _held(session, item_id, ("uncertain",))
    item.status = "sent"
    item.sent_at = now
    item.in_flight_at = None
    item.last_error = ""
    if item.kind == "letter":
        await _recipient_state(session, item_id, "sent", now, "")
        if item.letter_id is not None:
            from gateway.store.recipients import refresh_action

            await refresh_action(session, item.letter_id)
    await audit.append(session, now=now, actor=actor, action="outbox.resolved", subject_type="outbox",
                       subject_id=item_id, details={"to": item.recipient, "as": "delivered"})
    return item


async def held_of_letter(session: AsyncSession, letter_id: int, statuses: Sequence[str]) -> list[int]:
    return list((await session.execute(select(OutboxItem.id).where(
        OutboxItem.letter_id == letter_id, OutboxItem.status.in_(list(statuses)))
        .order_by(OutboxItem.id))).scalars())


async def _held(session: AsyncSession, item_id: int,
                statuses: Sequence[str] = ("parked", "uncertain")) -> OutboxItem:
    item = await session.get(OutboxItem, item_id)
    if item is None or item.status not in statuses:
        from gateway.errors import UserError

        raise UserError(f"รายการ {item_id} ไม่ได้ค้างส่ง", f"outbox item {item_id} is not parked")
    return item


async def _recipient_state(session: AsyncSession, item_id: int, state: str, now: dt.datetime,
                           error: str) -> None:
    values: dict[str, object] = {"state": state, "error": error}
    if state == "sent":
        values["sent_at"] = now
    elif state == "failed":
        values["failed_at"] = now
    await session.execute(update(LetterRecipient).where(
        LetterRecipient.outbox_id == item_id, LetterRecipient.state != "acknowledged").values(**values))
    if state == "sent":
        return  # the sender rewrites the register's summary once per batch (refresh_action)
    letter_id = (await session.execute(select(LetterRecipient.letter_id).where(
        LetterRecipient.outbox_id == item_id))).scalar_one_or_none()
    if letter_id is not None:
        from gateway.store.recipients import refresh_action

        await refresh_action(session, letter_id)


async def mark_sent(session: AsyncSession, item_id: int, *, now: dt.datetime, digest: str = "") -> None:
    item = await session.get(OutboxItem, item_id)
    assert item is not None
    item.status = "sent"
    item.attempts += 1
    item.sent_at = now
    item.last_error = ""
    item.sent_digest = digest
    if item.kind == "letter":
        await _recipient_state(session, item_id, "sent", now, "")
    await audit.append(session, now=now, actor="sender", action="outbox.sent", subject_type="outbox",
                       subject_id=item_id, details={"kind": item.kind, "to": item.recipient,
                                                    "letter_id": item.letter_id, "sha256": digest})


def backoff(attempts: int) -> dt.timedelta:
    """The default schedule's wait after the `attempts`-th failure."""
    return DEFAULT_SCHEDULE.backoff(attempts)


async def mark_failed(
    session: AsyncSession, item_id: int, *, now: dt.datetime, error: str, permanent: bool,
    schedule: Schedule = DEFAULT_SCHEDULE,
) -> str:
    """Schedule a retry, or park the row where a clerk can see it; returns the new status."""
    item = await session.get(OutboxItem, item_id)
    assert item is not None
    item.attempts += 1
    item.last_error = error[:2000]
    retry_at = now + schedule.backoff(item.attempts)
    if permanent or retry_at > item.expires_at:
        item.status = "parked"
        await _recipient_state(session, item_id, "failed", now, item.last_error)
        await audit.append(session, now=now, actor="sender", action="outbox.parked",
                           subject_type="outbox", subject_id=item_id,
                           details={"to": item.recipient, "error": item.last_error,
                                    "permanent": permanent, "attempts": item.attempts})
    else:
        item.status = "pending"
        item.in_flight_at = None
        item.next_attempt_at = retry_at
    return item.status


async def next_due_at(session: AsyncSession) -> dt.datetime | None:
    return (
        await session.execute(
            select(OutboxItem.next_attempt_at)
            .where(OutboxItem.status.in_(("pending", "sending")))
            .order_by(OutboxItem.next_attempt_at)
            .limit(1)
        )
    ).scalar_one_or_none()
