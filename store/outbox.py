"""The transactional outbox: mails to send, written in the transaction that caused them.

A row is added with the composed message already stored as a blob, so a retry
sends the very same bytes (same Message-ID). `dedupe_key` is unique: re-running
the step that enqueued a mail never adds a second row (durability rule 4).
Delivery is at-least-once: a row is claimed for `CLAIM_SECONDS`; if the sender
dies mid-delivery the claim lapses and the row is tried again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store import audit
from store.blobs import BlobStore
from store.letters import ensure_blob
from store.tables import OutboxItem

CLAIM_SECONDS = 600
DEFAULT_LIFETIME = dt.timedelta(days=5)
BACKOFF_BASE = dt.timedelta(minutes=1)
BACKOFF_CAP = dt.timedelta(hours=4)


@dataclass(frozen=True)
class Queued:
    item_id: int
    created: bool


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
    existing = (
        await session.execute(select(OutboxItem.id).where(OutboxItem.dedupe_key == dedupe_key))
    ).scalar_one_or_none()
    if existing is not None:
        return Queued(existing, created=False)
    digest = await ensure_blob(session, blobs, message, now)
    item = OutboxItem(
        kind=kind,
        letter_id=letter_id,
        recipient=recipient,
        dedupe_key=dedupe_key,
        message_sha256=digest,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        expires_at=now + lifetime,
        last_error="",
        created_at=now,
    )
    session.add(item)
    await session.flush()
    return Queued(item.id, created=True)


async def due(session: AsyncSession, *, now: dt.datetime, limit: int = 50) -> list[OutboxItem]:
    rows = await session.execute(
        select(OutboxItem)
        .where(OutboxItem.status.in_(("pending", "sending")), OutboxItem.next_attempt_at <= now)
        .order_by(OutboxItem.next_attempt_at, OutboxItem.id)
        .limit(limit)
    )
    return list(rows.scalars())


async def claim(session: AsyncSession, item_id: int, *, now: dt.datetime) -> bool:
    """Take a due row for delivery; False if another sender took it first."""
    res = await session.execute(
        update(OutboxItem)
        .where(
            OutboxItem.id == item_id,
            OutboxItem.status.in_(("pending", "sending")),
            OutboxItem.next_attempt_at <= now,
        )
        .values(status="sending", next_attempt_at=now + dt.timedelta(seconds=CLAIM_SECONDS),
                attempts=OutboxItem.attempts + 1)
    )
    return bool(res.rowcount)  # type: ignore[attr-defined]


async def mark_sent(session: AsyncSession, item_id: int, *, now: dt.datetime) -> None:
    item = await session.get(OutboxItem, item_id)
    assert item is not None
    item.status = "sent"
    item.sent_at = now
    item.last_error = ""
    await audit.append(session, now=now, actor="sender", action="outbox.sent", subject_type="outbox",
                       subject_id=item_id, details={"kind": item.kind, "to": item.recipient,
                                                    "letter_id": item.letter_id})


def backoff(attempts: int) -> dt.timedelta:
    """1, 2, 4, 8 … minutes, capped at 4 hours."""
    return min(BACKOFF_CAP, BACKOFF_BASE * (2 ** max(0, attempts - 1)))


async def mark_failed(
    session: AsyncSession, item_id: int, *, now: dt.datetime, error: str, permanent: bool
) -> str:
    """Schedule a retry, or park the row where a clerk can see it; returns the new status."""
    item = await session.get(OutboxItem, item_id)
    assert item is not None
    item.last_error = error[:2000]
    retry_at = now + backoff(item.attempts)
    if permanent or retry_at > item.expires_at:
        item.status = "parked"
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
