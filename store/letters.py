"""Letters in the store: the first durable record of a message, and its state from then on."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.state import LetterState
from gateway.store import audit, leases
from gateway.store.blobs import BlobStore
from gateway.store.db import insert_for
from gateway.store.tables import Blob, Letter, RawMessage

# How a transaction locks a letter's row to change it: FOR NO KEY UPDATE on PostgreSQL (its
# id never changes), not FOR UPDATE. A row that refers to the letter (a duplicate's link, an
# outbox row, a register entry) checks its key with FOR KEY SHARE, which FOR UPDATE would
# block: with the audit chain's head locked in between, two gateway processes could wait
# for each other in a circle (a letter being stamped while its duplicate is linked to it).
# SQLite has no row locks: ignored there.
LOCK_ROW = {"key_share": True}


@dataclass(frozen=True)
class Recorded:
    letter_id: int
    raw_message_id: int
    sha256: str
    created: bool  # False: this source key was seen before (a re-delivery)
    # the new letter, in the caller's session (which holds only weak references to clean rows)
    letter: Letter | None = field(default=None, compare=False, repr=False)


async def ensure_blob(session: AsyncSession, blobs: BlobStore, data: bytes, now: dt.datetime,
                      digest: str | None = None) -> str:
    """Write the bytes durably to disk, then make sure the store knows the blob.

    Callers that wrote the file before opening their transaction (put_blobs) pass its
    digest: the write lock is then not held while megabytes go to disk.
    """
    if digest is None or not blobs.exists(digest):
        digest = await asyncio.to_thread(blobs.put, data)
    await know_blob(session, digest, len(data), now)
    return digest


async def know_blob(session: AsyncSession, digest: str, size: int, now: dt.datetime) -> None:
    """Record a file already written durably (BlobStore.put); one statement, whether or not
    the store already knows it."""
    insert = insert_for(session)
    await session.execute(insert(Blob).values(sha256=digest, size=size, created_at=now)
                          .on_conflict_do_nothing(index_elements=[Blob.sha256]))


async def put_blobs(blobs: BlobStore, *items: bytes) -> list[str]:
    """Write files before a transaction (outside the database's write lock)."""
    return [await asyncio.to_thread(blobs.put, data) for data in items]


async def record_raw(
    session: AsyncSession,
    blobs: BlobStore,
    *,
    channel: str,
    source_key: str,
    data: bytes,
    now: dt.datetime,
    envelope_from: str = "",
    envelope_to: Sequence[str] = (),
    digest: str | None = None,
    direction: str = "in",
    actor: str = "",
) -> Recorded:
    """Keep the exact bytes and open a letter for them, idempotently on the transport's key.

    Incoming mail opens an "in" letter in state ``received``; a clerk's submission opens an
    "out" letter in state ``submitted``.

    The caller commits, and only then acknowledges the transport (SMTP 250, IMAP move):
    durability rule 1.

    The same bytes may reach two gateway processes at once (two listeners, one store): the
    lock on the key makes the second wait for the first's commit and then find its row,
    instead of failing on the unique key.
    """
    await leases.hold(session, f"raw:{source_key}")
    existing = (
        await session.execute(
            select(Letter.id, RawMessage.id, RawMessage.sha256)
            .join(RawMessage, Letter.raw_message_id == RawMessage.id)
            .where(RawMessage.source_key == source_key)
        )
    ).first()
    if existing is not None:
        return Recorded(existing[0], existing[1], existing[2], created=False)
    digest = await ensure_blob(session, blobs, data, now, digest)
    raw = RawMessage(
        channel=channel,
        source_key=source_key,
        sha256=digest,
        size=len(data),
        received_at=now,
        envelope_from=envelope_from,
        envelope_to=list(envelope_to),
    )
    session.add(raw)
    await session.flush()
    letter = Letter(
        direction=direction,
        state=LetterState.RECEIVED if direction == "in" else LetterState.SUBMITTED,
        source_key=source_key,
        raw_message_id=raw.id,
        channel=channel,
        sender_address=envelope_from,
        created_at=now,
        updated_at=now,
    )
    session.add(letter)
    await session.flush()
    await audit.append(
        session,
        now=now,
        actor=actor or f"intake:{channel}",
        action="letter.received" if direction == "in" else "letter.submitted",
        subject_type="letter",
        subject_id=letter.id,
        details={"channel": channel, "source": source_key, "sha256": digest, "size": len(data),
                 "from": envelope_from},
    )
    return Recorded(letter.id, raw.id, digest, created=True, letter=letter)
