"""The append-only audit log: every state change leaves a hash-chained entry.

Each entry's hash is sha256 over its sequence number, time, actor, action,
subject and canonical-JSON details, and the previous entry's hash. The chain's
tip lives in `audit_head`, locked for update by each append, so concurrent
transactions line up instead of forking the chain, and deleting the newest
entry is caught as surely as editing an old one. `verify` walks the chain.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.store.tables import AuditEntry, AuditHead

GENESIS = "0" * 64
_HEAD = "saraban.audit_head"  # session.info key: (transaction, locked head row)
_TIP = "saraban.audit_tip"  # session.info key: (head row, seq, hash) to write at commit


def canonical_json(details: Mapping[str, Any]) -> str:
    return json.dumps(details, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def entry_hash(
    *,
    seq: int,
    at: dt.datetime,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str,
    details: str,
    prev_hash: str,
) -> str:
    stamp = at.astimezone(dt.UTC).isoformat(timespec="microseconds")
    material = "\x1f".join(
        [str(seq), stamp, actor, action, subject_type, subject_id, details, prev_hash]
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


async def append(
    session: AsyncSession,
    *,
    now: dt.datetime,
    actor: str,
    action: str,
    subject_type: str = "",
    subject_id: str | int = "",
    details: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Add one entry in the caller's transaction.

    The head row is read (and locked) once per transaction; later appends in the same
    transaction continue from it in memory, and the rows go to the database with the
    session's next flush or the commit.
    """
    txn = session.sync_session.get_transaction()
    cached = session.info.get(_HEAD)
    if txn is not None and cached is not None and cached[0] is txn:
        head = cached[1]
        tip = session.info.get(_TIP)
        if tip is not None and tip[0] is head:  # this transaction's latest entry, not yet written
            head_seq, head_hash = tip[1], tip[2]
        else:
            head_seq, head_hash = head.seq, head.hash
    else:
        head = (
            await session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update())
        ).scalar_one_or_none()
        if head is None:  # first use of a fresh database
            head = AuditHead(id=1, seq=0, hash=GENESIS)
            session.add(head)
        session.info[_HEAD] = (session.sync_session.get_transaction(), head)
        session.info.pop(_TIP, None)
        head_seq, head_hash = head.seq, head.hash
    # Both databases keep microseconds and the store returns UTC: the hash survives a round trip.
    at = now.astimezone(dt.UTC)
    body = canonical_json(details or {})
    seq = head_seq + 1
    digest = entry_hash(
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        subject_type=subject_type,
        subject_id=str(subject_id),
        details=body,
        prev_hash=head_hash,
    )
    entry = AuditEntry(
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        subject_type=subject_type,
        subject_id=str(subject_id),
        details=body,
        prev_hash=head_hash,
        hash=digest,
    )
    session.add(entry)
    # The head row is written once, when the transaction commits, not at every flush.
    pending = session.info.get(_TIP)
    session.info[_TIP] = (head, seq, digest, session.sync_session.get_transaction())
    if pending is None or pending[0] is not head or pending[3] is not session.sync_session.get_transaction():
        event.listen(session.sync_session, "before_commit", _write_tip, once=True)
    return entry


def _write_tip(sync_session: Any) -> None:
    tip = sync_session.info.pop(_TIP, None)
    # Only the committing transaction's own tip (a rolled-back one left nothing to write).
    if tip is not None and tip[3] is sync_session.get_transaction():
        head, seq, digest, _ = tip
        head.seq = seq
        head.hash = digest


@dataclass(frozen=True)
class AuditProblem:
    seq: int
    problem_th: str
    problem_en: str


@dataclass(frozen=True)
class AuditReport:
    entries: int
    problems: tuple[AuditProblem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


async def _entries(session: AsyncSession, batch: int = 2000) -> AsyncIterator[AuditEntry]:
    last = 0
    while True:
        rows = (
            await session.execute(
                select(AuditEntry).where(AuditEntry.seq > last).order_by(AuditEntry.seq).limit(batch)
            )
        ).scalars().all()
        if not rows:
            return
        for row in rows:
            yield row
        last = rows[-1].seq


async def verify(session: AsyncSession) -> AuditReport:
    problems: list[AuditProblem] = []
    expected_seq = 1
    prev = GENESIS
    count = 0
    async for e in _entries(session):
        count += 1
        if e.seq != expected_seq:
            problems.append(
                AuditProblem(
                    expected_seq,
                    f"รายการที่ {expected_seq}–{e.seq - 1} หายไป (ถูกลบ)",
                    f"entries {expected_seq}–{e.seq - 1} are missing (deleted)",
                )
            )
        if e.prev_hash != prev:
            problems.append(
                AuditProblem(
                    e.seq,
                    f"รายการที่ {e.seq} ไม่ต่อเนื่องกับรายการก่อนหน้า",
                    f"entry {e.seq} does not chain to the entry before it",
                )
            )
        recomputed = entry_hash(
            seq=e.seq,
            at=e.at,
            actor=e.actor,
            action=e.action,
            subject_type=e.subject_type,
            subject_id=e.subject_id,
            details=e.details,
            prev_hash=e.prev_hash,
        )
        if recomputed != e.hash:
            problems.append(
                AuditProblem(
                    e.seq,
                    f"รายการที่ {e.seq} ถูกแก้ไข (ค่าแฮชไม่ตรงกับเนื้อหา)",
                    f"entry {e.seq} was altered (its hash does not match its content)",
                )
            )
        prev = e.hash
        expected_seq = e.seq + 1
    head = (await session.execute(select(AuditHead).where(AuditHead.id == 1))).scalar_one_or_none()
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS)
    if head_seq != expected_seq - 1 or head_hash != prev:
        problems.append(
            AuditProblem(
                head_seq,
                f"รายการล่าสุดไม่ตรงกับหัวสาย (บันทึกไว้ {head_seq} รายการ พบ {expected_seq - 1}) "
                "— รายการท้ายสุดถูกลบหรือแก้ไข",
                f"the chain's tip does not match (recorded {head_seq}, found {expected_seq - 1}): "
                "the newest entries were deleted or altered",
            )
        )
    return AuditReport(entries=count, problems=tuple(problems))


async def trail(session: AsyncSession, subject_type: str, subject_id: str | int) -> list[AuditEntry]:
    rows = await session.execute(
        select(AuditEntry)
        .where(AuditEntry.subject_type == subject_type, AuditEntry.subject_id == str(subject_id))
        .order_by(AuditEntry.seq)
    )
    return list(rows.scalars().all())
