"""The transactional outbox: mails to send, written in the transaction that caused them.

A row holds the composed message as a blob, or a recipe that composes the same
bytes at delivery, so a retry sends the very same mail (same Message-ID).
`dedupe_key` is unique: re-running the step that enqueued a mail never adds a
second row (durability rule 4). One sender works a store at a time (the sender
lease). Automatic mails are at-least-once: a sender that dies mid-delivery leaves
the row pending. Letters are at-most-once per recipient: `mark_in_flight` is
committed just before the end of DATA, and a row found in flight after a crash,
or without an answer after the end of DATA, becomes `uncertain` for the clerk.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.store import audit
from gateway.store.blobs import BlobStore
from gateway.store.letters import ensure_blob
from gateway.store.tables import LetterRecipient, OutboxItem

DEFAULT_LIFETIME = dt.timedelta(days=5)
BACKOFF_BASE = dt.timedelta(minutes=1)
BACKOFF_CAP = dt.timedelta(hours=4)


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


async def recover(session: AsyncSession, *, now: dt.datetime) -> tuple[dict[str, int], list[int]]:
    """After a restart (the caller holds the sender lease): rows the dead sender had claimed go
    back to pending, except those whose DATA may have completed: they become `uncertain`, are
    never resent automatically, and are shown to the clerk (`outbox retry` sends them again)."""
    rows = list((await session.execute(select(OutboxItem).where(OutboxItem.status == "sending"))).scalars())
    counts = {"pending": 0, "uncertain": 0}
    uncertain: list[int] = []
    for item in rows:
        if item.in_flight_at is not None:
            item.status = "uncertain"
            uncertain.append(item.id)
            item.last_error = "ระบบหยุดทำงานระหว่างส่ง ไม่แน่ชัดว่าผู้รับได้รับแล้วหรือไม่ (process stopped mid-delivery)"
            await _recipient_state(session, item.id, "failed", now, item.last_error)
            await audit.append(session, now=now, actor="sender", action="outbox.uncertain",
                               subject_type="outbox", subject_id=item.id,
                               details={"to": item.recipient, "kind": item.kind})
        else:
            item.status = "pending"
            item.next_attempt_at = now
        counts[item.status] += 1
    return counts, uncertain


async def retry(session: AsyncSession, item_id: int, *, now: dt.datetime, actor: str) -> OutboxItem:
    """A clerk's decision to send a parked or uncertain row again."""
    item = await session.get(OutboxItem, item_id)
    if item is None or item.status not in ("parked", "uncertain"):
        from gateway.errors import UserError

        raise UserError(f"รายการ {item_id} ไม่ได้ค้างส่ง", f"outbox item {item_id} is not parked")
    item.status = "pending"
    item.next_attempt_at = now
    item.in_flight_at = None
    item.expires_at = max(item.expires_at, now + DEFAULT_LIFETIME)
    await _recipient_state(session, item.id, "queued", now, "")
    await audit.append(session, now=now, actor=actor, action="outbox.retry", subject_type="outbox",
                       subject_id=item_id, details={"to": item.recipient})
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
    """1, 2, 4, 8 … minutes, capped at 4 hours."""
    return min(BACKOFF_CAP, BACKOFF_BASE * (2 ** max(0, attempts - 1)))


async def mark_failed(
    session: AsyncSession, item_id: int, *, now: dt.datetime, error: str, permanent: bool
) -> str:
    """Schedule a retry, or park the row where a clerk can see it; returns the new status."""
    item = await session.get(OutboxItem, item_id)
    assert item is not None
    item.attempts += 1
    item.last_error = error[:2000]
    retry_at = now + backoff(item.attempts)
    if permanent or retry_at > item.expires_at:
        item.status = "parked"
        await _recipient_state(session, item_id, "failed", now, item.last_error)
        await audit.append(session, now=now, actor="sender", action="outbox.parked",
                           subject_type="outbox", subject_id=item_id,
                           details={"to": item.recipient, "error": item.last_error,
                                    "permanent": permanent, "attempts": item.attempts})
    else:
        item.status = "pending"
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
