"""The recipients of outgoing letters: delivery and acknowledgement, per agency.

Each row is one recipient agency of one outgoing letter (outbound.py writes them
with the letter's outbox rows). The sender marks them sent or failed; bounces
(DSN) mark them failed; replies and AcceptLetterNotifiers mark them
acknowledged with the receiver's own receive number. The send register's
การปฏิบัติ column is kept as the summary of these rows.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.store import audit
from gateway.store.tables import Letter, LetterRecipient, RegisterEntry

STATE_TH = {"queued": "รอส่ง", "sent": "ส่งแล้ว", "failed": "ส่งไม่สำเร็จ", "acknowledged": "ลงรับแล้ว"}


async def by_token(session: AsyncSession, token: str) -> LetterRecipient | None:
    return (await session.execute(select(LetterRecipient).where(LetterRecipient.token == token))
            ).scalar_one_or_none()


async def refresh_action(session: AsyncSession, letter_id: int) -> str:
    """Rewrite the send-register line's การปฏิบัติ from the recipients' states.

    The register line is locked first: concurrent deliveries of one letter then count in
    turn, each seeing the others' committed states (PostgreSQL's READ COMMITTED).
    """
    await session.execute(select(RegisterEntry.id).where(
        RegisterEntry.letter_id == letter_id, RegisterEntry.status == "registered").with_for_update())
    states = Counter((await session.execute(
        select(LetterRecipient.state).where(LetterRecipient.letter_id == letter_id))).scalars())
    total = sum(states.values())
    parts = [f"{STATE_TH[k]} {states[k]}" for k in ("acknowledged", "sent", "queued", "failed") if states[k]]
    text = f"ส่งทางไปรษณีย์อิเล็กทรอนิกส์ {total} หน่วยงาน: " + ", ".join(parts)
    await session.execute(update(RegisterEntry).where(
        RegisterEntry.letter_id == letter_id, RegisterEntry.status == "registered").values(action=text))
    return text


async def mark_failed(session: AsyncSession, rec: LetterRecipient, *, error: str, now: dt.datetime,
                      actor: str) -> None:
    if rec.state == "acknowledged":
        return  # they registered it: a late bounce from another hop does not undo that
    rec.state = "failed"
    rec.error = error[:2000]
    rec.failed_at = now
    await audit.append(session, now=now, actor=actor, action="recipient.failed", subject_type="letter",
                       subject_id=rec.letter_id, details={"to": rec.address, "error": rec.error[:300]})
    await refresh_action(session, rec.letter_id)


async def acknowledge(session: AsyncSession, rec: LetterRecipient, *, number: str,
                      date: dt.date | None, source: str, now: dt.datetime, actor: str) -> None:
    rec.state = "acknowledged"
    rec.ack_number = number or rec.ack_number
    rec.ack_date = date or rec.ack_date
    rec.ack_at = now
    rec.ack_source = source
    rec.error = ""
    await audit.append(session, now=now, actor=actor, action="recipient.acknowledged",
                       subject_type="letter", subject_id=rec.letter_id,
                       details={"to": rec.address, "number": number, "source": source})
    await refresh_action(session, rec.letter_id)


async def open_for(session: AsyncSession, address: str) -> list[tuple[LetterRecipient, Letter]]:
    """The letters we sent to `address` that it has not acknowledged yet, newest first."""
    return [(r, letter) for r, letter in (await session.execute(
        select(LetterRecipient, Letter).join(Letter, Letter.id == LetterRecipient.letter_id)
        .where(LetterRecipient.address == address.lower(), LetterRecipient.state != "acknowledged")
        .order_by(Letter.id.desc()).limit(200))).all()]
