"""Registers and numbers on a real SQLite file and a real PostgreSQL server."""

from __future__ import annotations

import asyncio
import datetime as dt
import random

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from gateway.errors import UserError
from gateway.store import audit, registers
from gateway.store.registers import EntryFields
from gateway.store.tables import Counter, RegisterEntry
from tests.conftest import FakeClock

pytestmark = pytest.mark.integration

UTC = dt.UTC


async def _numbers(store, book: str, year: int) -> list[tuple[int, str]]:
    async with store.sessions() as s:
        _, rows = await registers.entries(s, book_code=book, year=year)
    return [(e.number, e.status) for e in rows]


class _Rollback(Exception):
    pass


async def test_eight_workers_2000_allocations_are_gapless(store) -> None:
    """8 concurrent workers, 2,000 allocations, some rolled back: exactly 501..2500."""
    total, start = 2000, 501
    done = 0
    lock = asyncio.Lock()
    rng = random.Random(7)
    rolled_back = 0

    async def worker() -> None:
        nonlocal done, rolled_back
        while True:
            async with lock:
                if done >= total:
                    return
                done += 1
            while True:
                fail = rng.random() < 0.05
                try:
                    async with store.sessions.begin() as s:
                        await registers.allocate(
                            s, book_code="receive", now=store.clock(),
                            fields=EntryFields(subject="ทดสอบพร้อมกัน"), first_number=start,
                        )
                        if fail:
                            raise _Rollback
                    break
                except _Rollback:
                    rolled_back += 1  # this allocation is retried, so the book must not gap

    await asyncio.gather(*(worker() for _ in range(8)))
    got = await _numbers(store, "receive", 2569)
    assert [n for n, _ in got] == list(range(start, start + total))
    assert rolled_back > 0
    async with store.sessions() as s:
        last = (await s.execute(select(Counter.last))).scalar_one()
        assert last == start + total - 1
        assert (await audit.verify(s)).ok


async def test_year_rolls_over_at_bangkok_midnight(store, clock: FakeClock) -> None:
    clock.now = dt.datetime(2026, 12, 31, 16, 59, 59, tzinfo=UTC)  # 23:59:59 in Bangkok
    async with store.sessions.begin() as s:
        a = await registers.allocate(s, book_code="send", now=clock(), fields=EntryFields())
        b = await registers.allocate(s, book_code="send", now=clock(), fields=EntryFields())
    clock.now = dt.datetime(2026, 12, 31, 17, 0, 0, tzinfo=UTC)  # 00:00 on 1 Jan 2027 (2570)
    async with store.sessions.begin() as s:
        c = await registers.allocate(s, book_code="send", now=clock(), fields=EntryFields())
    assert (a.year, a.number, b.number) == (2569, 1, 2)
    assert (c.year, c.number) == (2570, 1)


async def test_configured_start_number_and_books_are_separate(store) -> None:
    async with store.sessions.begin() as s:
        first = await registers.allocate(
            s, book_code="receive", now=store.clock(), fields=EntryFields(), first_number=1501
        )
        second = await registers.allocate(
            s, book_code="receive", now=store.clock(), fields=EntryFields(), first_number=1501
        )
        other = await registers.allocate(
            s, book_code="circular", now=store.clock(), fields=EntryFields()
        )
        unit = await registers.allocate(
            s, book_code="unit-hr", now=store.clock(), fields=EntryFields()
        )
    assert (first.number, second.number, other.number, unit.number) == (1501, 1502, 1, 1)


async def test_unknown_book_is_refused_and_changes_nothing(store) -> None:
    with pytest.raises(UserError) as e:
        async with store.sessions.begin() as s:
            await registers.allocate(s, book_code="nope", now=store.clock(), fields=EntryFields())
    assert "nope" in e.value.message_en and "ไม่รู้จักทะเบียน" in e.value.message_th
    async with store.sessions() as s:
        assert (await s.execute(select(Counter))).first() is None


async def test_duplicate_number_is_rejected_by_the_database(store) -> None:
    async with store.sessions.begin() as s:
        e = await registers.allocate(s, book_code="receive", now=store.clock(), fields=EntryFields())
    with pytest.raises(IntegrityError):
        async with store.sessions.begin() as s:
            s.add(RegisterEntry(book_id=e.book_id, year=e.year, number=e.number, status="registered",
                                registered_at=store.clock()))


async def test_reservation_use_release_and_misuse(store, clock: FakeClock) -> None:
    now = clock()
    async with store.sessions.begin() as s:
        before = await registers.allocate(s, book_code="send", now=now, fields=EntryFields())
        res, numbers = await registers.reserve(
            s, book_code="send", count=4, now=now, expires_at=now + dt.timedelta(days=30),
            unit_code="admin", note="รอลงนาม",
        )
        after = await registers.allocate(s, book_code="send", now=now, fields=EntryFields())
    assert before.number == 1 and numbers == [2, 3, 4, 5] and after.number == 6

    async with store.sessions.begin() as s:
        used = await registers.use_reserved(
            s, book_code="send", number=3, now=now,
            fields=EntryFields(letter_no="ศธ 04183/3", subject="แจ้งกำหนดการ", recipient="สพฐ."),
        )
    assert used.status == "registered" and used.unit_code == "admin"

    with pytest.raises(UserError, match="not a reserved number"):
        async with store.sessions.begin() as s:
            await registers.use_reserved(s, book_code="send", number=3, now=now, fields=EntryFields())
    with pytest.raises(UserError, match="not a reserved number"):
        async with store.sessions.begin() as s:
            await registers.use_reserved(s, book_code="send", number=6, now=now, fields=EntryFields())
    with pytest.raises(UserError, match="does not exist"):
        async with store.sessions.begin() as s:
            await registers.use_reserved(s, book_code="send", number=99, now=now, fields=EntryFields())

    async with store.sessions.begin() as s:
        released = await registers.release_reservation(s, reservation_id=res.id, now=now)
    assert released == [2, 4, 5]
    with pytest.raises(UserError, match="already closed"):
        async with store.sessions.begin() as s:
            await registers.release_reservation(s, reservation_id=res.id, now=now)
    with pytest.raises(UserError, match="no reservation"):
        async with store.sessions.begin() as s:
            await registers.release_reservation(s, reservation_id=12345, now=now)

    async with store.sessions.begin() as s:
        nxt = await registers.allocate(s, book_code="send", now=now, fields=EntryFields())
    assert nxt.number == 7  # released numbers are never handed out again
    assert await _numbers(store, "send", 2569) == [
        (1, "registered"), (2, "cancelled"), (3, "registered"), (4, "cancelled"),
        (5, "cancelled"), (6, "registered"), (7, "registered"),
    ]


@pytest.mark.parametrize("count", [0, -3, 10_001])
async def test_bad_reservation_count_changes_nothing(store, count: int) -> None:
    now = store.clock()
    with pytest.raises(UserError):
        async with store.sessions.begin() as s:
            await registers.reserve(s, book_code="send", count=count, now=now,
                                    expires_at=now + dt.timedelta(days=1))
    assert await _numbers(store, "send", 2569) == []


async def test_unused_reservations_expire(store, clock: FakeClock) -> None:
    now = clock()
    async with store.sessions.begin() as s:
        res, _ = await registers.reserve(s, book_code="order", count=2, now=now,
                                         expires_at=now + dt.timedelta(days=1))
        await registers.use_reserved(s, book_code="order", number=1, now=now,
                                     fields=EntryFields(subject="คำสั่งแต่งตั้ง"))
    async with store.sessions.begin() as s:
        assert await registers.expire_reservations(s, now=now) == {}
    clock.advance(days=2)
    async with store.sessions.begin() as s:
        assert await registers.expire_reservations(s, now=clock()) == {res.id: [2]}
    got = await _numbers(store, "order", 2569)
    assert got == [(1, "registered"), (2, "cancelled")]
    async with store.sessions() as s:
        _, rows = await registers.entries(s, book_code="order", year=2569)
    assert rows[1].cancel_reason == "เลขสำรองหมดอายุ"


async def test_cancelled_number_stays_in_the_book(store) -> None:
    now = store.clock()
    async with store.sessions.begin() as s:
        await registers.allocate(s, book_code="receive", now=now, fields=EntryFields(subject="ก"))
    async with store.sessions.begin() as s:
        e = await registers.cancel_number(s, book_code="receive", year=2569, number=1,
                                          reason="ลงทะเบียนซ้ำ", now=now)
    assert e.status == "cancelled" and e.cancel_reason == "ลงทะเบียนซ้ำ" and e.subject == "ก"
    with pytest.raises(UserError, match="already cancelled"):
        async with store.sessions.begin() as s:
            await registers.cancel_number(s, book_code="receive", year=2569, number=1,
                                          reason="อีกครั้ง", now=now)
    with pytest.raises(UserError, match="reason"):
        async with store.sessions.begin() as s:
            await registers.cancel_number(s, book_code="receive", year=2569, number=1,
                                          reason="  ", now=now)
    with pytest.raises(UserError, match="out of range"):
        async with store.sessions.begin() as s:
            await registers.cancel_number(s, book_code="receive", year=2026, number=1,
                                          reason="x", now=now)


async def _audit_rows(store, n: int) -> None:
    async with store.sessions.begin() as s:
        for i in range(n):
            await audit.append(s, now=store.clock(), actor="test", action="test.event",
                               subject_type="t", subject_id=i, details={"i": i, "ข้อความ": "ไทย"})


async def test_audit_verify_accepts_an_untouched_chain(store) -> None:
    await _audit_rows(store, 5)
    async with store.sessions() as s:
        report = await audit.verify(s)
    assert report.ok and report.entries == 5


@pytest.mark.parametrize(
    "tamper, seq",
    [
        ("UPDATE audit_log SET details = replace(details, 'ไทย', 'ลาว') WHERE seq = 3", 3),
        ("UPDATE audit_log SET actor = 'someone-else' WHERE seq = 2", 2),
        ("DELETE FROM audit_log WHERE seq = 3", 3),
        ("DELETE FROM audit_log WHERE seq = 5", 5),
    ],
)
async def test_audit_verify_catches_edited_or_deleted_rows(store, tamper: str, seq: int) -> None:
    await _audit_rows(store, 5)
    async with store.sessions.begin() as s:
        await s.execute(text(tamper))
    async with store.sessions() as s:
        report = await audit.verify(s)
    assert not report.ok
    assert seq in {p.seq for p in report.problems}


async def test_audit_chain_survives_concurrent_writers(store) -> None:
    async def writer(k: int) -> None:
        for i in range(25):
            async with store.sessions.begin() as s:
                await audit.append(s, now=store.clock(), actor=f"w{k}", action="test.event",
                                   details={"i": i})

    await asyncio.gather(*(writer(k) for k in range(6)))
    async with store.sessions() as s:
        report = await audit.verify(s)
    assert report.ok and report.entries == 150
