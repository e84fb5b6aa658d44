"""A reading that failed: counted against the letter, or not, by whose fault it was.

A letter that cannot be read because of what it is (broken, hostile, over its budget) uses up
one of `[intake] max_attempts`, and after the last (or one reading over its budget, which would
be as costly every time) waits for the clerk. A reading that failed because of the environment
(gateway/envfaults.py: disk full, over quota, I/O error, a read-only store) is not the letter's
fault: nothing is counted or written (the store could not take it), and EnvironmentFault goes up
to the caller, which tries the letter again once the store can write (gateway/ops/outage.py).
A letter the listeners kept that is still undecided is tried again while the gateway runs
(`retry_stalled`), not only at its next start.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import select

from gateway import workers
from gateway.envfaults import EnvironmentFault, describe, environmental
from gateway.state import Event, LetterState, advance
from gateway.store import audit, leases
from gateway.store.handle import Store
from gateway.store.letters import LOCK_ROW
from gateway.store.tables import Letter

__all__ = ["count_failure", "over_budget_reason", "read_failed", "refuse_if_environmental",
           "retry_stalled"]

STALLED_AFTER = dt.timedelta(minutes=2)
STALLED_LEASE = "intake:stalled"  # one process of a deployment retries at a time

log = logging.getLogger("gateway.inbound.pipeline")


def refuse_if_environmental(exc: BaseException) -> None:
    """Raise EnvironmentFault (from `exc`) when the environment, not the letter, failed."""
    fault = environmental(exc)
    if fault is not None:
        raise EnvironmentFault(describe(fault)) from exc


def read_failed(store: Store, what: str, key: object, exc: BaseException) -> None:
    """A reading that failed (in an `except`): logged, counted for /metrics. The environment's
    fault is one line (the outage says the rest); the letter's own comes with its trace."""
    extra = {"letter_id": key} if what == "letter" else None
    if environmental(exc) is not None:
        log.warning("%s %s could not be read for now: %s", what, key, describe(exc), extra=extra)
        return
    store.events["read_failed"] += 1
    log.exception("%s %s could not be read", what, key, extra=extra)


async def count_failure(store: Store, letter_id: int, exc: Exception) -> str:
    """One failed reading of a received letter; returns its state (`review` once given up).
    The environment's fault raises EnvironmentFault instead, and counts nothing."""
    refuse_if_environmental(exc)
    now = store.clock()
    async with store.sessions.begin() as s:
        letter = await s.get(Letter, letter_id, with_for_update=LOCK_ROW)
        assert letter is not None
        if letter.state != LetterState.RECEIVED:  # decided already (a copy that came again)
            return letter.state
        letter.attempts += 1
        letter.updated_at = now
        over = exc if isinstance(exc, workers.OverBudget) else None
        if over is None and letter.attempts < store.settings.intake.max_attempts:
            return letter.state
        letter.state = advance(letter.state, Event.READING_FAILED)
        if over is not None:
            letter.review_reason = over_budget_reason(over)
            code = f"over_{over.what}_budget"
        else:
            letter.review_reason = f"ระบบอ่านอีเมลนี้ไม่สำเร็จ {letter.attempts} ครั้ง ({type(exc).__name__})"
            code = "unreadable"
        letter.problems = [{"code": code, "th": letter.review_reason, "en": repr(exc)}]
        await audit.append(s, now=now, actor="pipeline", action="letter.parked",
                           subject_type="letter", subject_id=letter_id,
                           details={"error": repr(exc)[:500], "attempts": letter.attempts})
        return letter.state


def over_budget_reason(over: workers.OverBudget) -> str:
    """The clerk's reason for a letter whose reading went over its budget."""
    if over.what == "memory":
        return (f"อ่านไฟล์หนังสือต้องใช้หน่วยความจำเกิน {over.budget.memory_mb} MB "
                "ระบบจึงส่งให้เจ้าหน้าที่ตรวจ")
    return f"อ่านไฟล์หนังสือไม่เสร็จภายใน {over.budget.seconds:g} วินาที ระบบจึงส่งให้เจ้าหน้าที่ตรวจ"


def _stalled_wait(attempts: int) -> dt.timedelta:
    """How long an undecided letter rests after its last try: 2, 4, 8 … minutes, at most 60."""
    return min(STALLED_AFTER * 2 ** attempts, dt.timedelta(minutes=60))


async def retry_stalled(store: Store, process: Callable[[int], Awaitable[str]], *,
                        holder: str) -> list[int]:
    """While the gateway runs, not only at its next start: letters the listeners kept that
    are still undecided, because their reading failed for their own fault (fewer than
    `max_attempts` times) or their decision met an error, go through `process` again, each
    after 2, 4, 8 … (at most 60) minutes since its last try. The mailboxes' letters need none
    of this: the next round fetches them again. A failure that escapes `process` counts as one
    of the letter's attempts, so a letter that always fails ends in review with a Thai reason
    instead of being tried forever. One process of a deployment does it at a time (a lease);
    the environment's faults go up (the caller waits the outage out). Returns the letters tried."""
    now = store.clock()
    async with store.readers() as s:
        rows = (await s.execute(select(Letter.id, Letter.attempts, Letter.updated_at).where(
            Letter.state == LetterState.RECEIVED, Letter.direction == "in",
            Letter.channel != "imap", Letter.updated_at < now - STALLED_AFTER)
            .order_by(Letter.id))).all()
    due = [lid for lid, attempts, at in rows if at <= now - _stalled_wait(attempts)]
    if not due:
        return []
    if not await leases.claim(store.sessions, name=STALLED_LEASE, holder=holder, now=now,
                              ttl=dt.timedelta(minutes=10)):
        return []
    try:
        for lid in due:
            try:
                state = await process(lid)
            except Exception as exc:
                refuse_if_environmental(exc)
                read_failed(store, "letter", lid, exc)
                state = await count_failure(store, lid, exc)
            log.info("letter %s tried again: %s", lid, state, extra={"letter_id": lid})
    finally:
        with contextlib.suppress(Exception):  # else it lapses in 10 minutes
            await leases.let_go(store.sessions, name=STALLED_LEASE, holder=holder)
    return due
