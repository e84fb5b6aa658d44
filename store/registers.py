"""Register books (ทะเบียน) and their numbers: where every receive and send number is allocated.

Rules (domain.md §3): each book runs 1, 2, 3 … through a Buddhist-era calendar
year in Asia/Bangkok and restarts on 1 January; numbers are gapless, strictly
increasing, never duplicated, never reused; a cancelled number stays in its book
marked ยกเลิก with the reason.

How (infrastructure.md, "Numbers that never gap"): the counter row is bumped by
one `INSERT … ON CONFLICT DO UPDATE … RETURNING` in the caller's transaction, and
the entry using the number is written in that same transaction, with a UNIQUE
(book, year, number) behind it. A rollback takes back both, so no gap appears;
the row lock on the counter serialises concurrent writers of one book.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.core.edits import FIELD_TH
from gateway.errors import UserError
from gateway.store import audit, leases
from gateway.store.db import insert_for
from gateway.store.tables import Amendment, Counter, RegisterBook, RegisterEntry, Reservation
from gateway.thai import be_year_of, format_short_datetime

MIN_YEAR, MAX_YEAR = 2500, 2800


@dataclass(frozen=True)
class BookDef:
    code: str
    name_th: str
    kind: str  # receive | send


# The agency books of the regulation; unit books are added from config (own_register).
AGENCY_BOOKS: tuple[BookDef, ...] = (
    BookDef("receive", "ทะเบียนหนังสือรับ", "receive"),
    BookDef("send", "ทะเบียนหนังสือส่ง", "send"),
    BookDef("circular", "ทะเบียนหนังสือส่ง (หนังสือเวียน ว)", "send"),
    BookDef("order", "ทะเบียนคำสั่ง", "send"),
)

STATUS_TH = {"registered": "ลงทะเบียน", "reserved": "สำรอง", "cancelled": "ยกเลิก"}


def unit_book_code(unit_code: str) -> str:
    return f"unit-{unit_code}"


@dataclass(frozen=True)
class EntryFields:
    """What a register line says about a letter (the official columns plus ours)."""

    letter_no: str = ""
    letter_date: dt.date | None = None
    sender: str = ""
    recipient: str = ""
    subject: str = ""
    action: str = ""
    remarks: str = ""
    speed: str = ""
    secrecy: str = ""
    channel: str = ""
    unit_code: str = ""


def check_year(year: int) -> int:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise UserError(
            f"ปี {year} อยู่นอกช่วง ต้องเป็นปี พ.ศ. {MIN_YEAR}–{MAX_YEAR} เช่น 2569",
            f"year {year} is out of range: give a Buddhist-era year {MIN_YEAR}–{MAX_YEAR}, e.g. 2569",
        )
    return year


def check_count(count: int) -> int:
    if count < 1:
        raise UserError(
            f"จำนวนต้องมากกว่าศูนย์ (ได้ {count})", f"the count must be at least 1 (got {count})"
        )
    if count > 10_000:
        raise UserError(
            f"จำนวนมากเกินไป ({count}) สำรองได้ครั้งละไม่เกิน 10000 เลข",
            f"too many ({count}): at most 10000 numbers at a time",
        )
    return count


async def ensure_books(session: AsyncSession, extra: Sequence[BookDef] = ()) -> None:
    """Create any book that does not exist yet (agency books and units' own books)."""
    have = set((await session.execute(select(RegisterBook.code))).scalars())
    for b in (*AGENCY_BOOKS, *extra):
        if b.code not in have:
            unit = b.code.removeprefix("unit-") if b.code.startswith("unit-") else None
            session.add(RegisterBook(code=b.code, name_th=b.name_th, kind=b.kind, unit_code=unit))
    await session.flush()


async def get_book(session: AsyncSession, code: str) -> RegisterBook:
    book = (
        await session.execute(select(RegisterBook).where(RegisterBook.code == code))
    ).scalar_one_or_none()
    if book is None:
        known = ", ".join((await session.execute(select(RegisterBook.code))).scalars())
        raise UserError(
            f"ไม่รู้จักทะเบียน {code!r} (ทะเบียนที่มี: {known})",
            f"unknown book {code!r} (books: {known})",
        )
    return book


async def list_books(session: AsyncSession) -> list[RegisterBook]:
    return list((await session.execute(select(RegisterBook).order_by(RegisterBook.id))).scalars())


async def _take_numbers(
    session: AsyncSession, book: RegisterBook, year: int, count: int, first_number: int
) -> int:
    """Bump the counter by `count`; return the first number taken."""
    insert = insert_for(session)
    stmt = (
        insert(Counter)
        .values(book_id=book.id, year=year, last=first_number + count - 1)
        .on_conflict_do_update(
            index_elements=[Counter.book_id, Counter.year], set_={"last": Counter.last + count}
        )
        .returning(Counter.last)
    )
    last = (await session.execute(stmt)).scalar_one()
    return int(last) - count + 1


async def last_number(session: AsyncSession, book: RegisterBook, year: int) -> int:
    got = (
        await session.execute(
            select(Counter.last).where(Counter.book_id == book.id, Counter.year == year)
        )
    ).scalar_one_or_none()
    return int(got) if got is not None else 0


async def allocate(
    session: AsyncSession,
    *,
    book_code: str,
    now: dt.datetime,
    fields: EntryFields,
    first_number: int = 1,
    letter_id: int | None = None,
    actor: str = "gateway",
) -> RegisterEntry:
    """Give the next number of the book for the year of `now` and write its register line."""
    book = await get_book(session, book_code)
    year = check_year(be_year_of(now))
    number = await _take_numbers(session, book, year, 1, first_number)
    entry = _entry(book, year, number, "registered", now, fields, letter_id)
    session.add(entry)
    await session.flush()
    await audit.append(
        session,
        now=now,
        actor=actor,
        action="register.allocate",
        subject_type="entry",
        subject_id=f"{book.code}/{year}/{number}",
        details={"book": book.code, "year": year, "number": number, "letter_id": letter_id},
    )
    return entry


def _entry(
    book: RegisterBook,
    year: int,
    number: int,
    status: str,
    now: dt.datetime,
    f: EntryFields,
    letter_id: int | None,
    reservation_id: int | None = None,
) -> RegisterEntry:
    return RegisterEntry(
        book_id=book.id,
        year=year,
        number=number,
        status=status,
        registered_at=now,
        letter_no=f.letter_no,
        letter_date=f.letter_date,
        sender=f.sender,
        recipient=f.recipient,
        subject=f.subject,
        action=f.action,
        remarks=f.remarks,
        speed=f.speed,
        secrecy=f.secrecy,
        channel=f.channel,
        unit_code=f.unit_code,
        letter_id=letter_id,
        reservation_id=reservation_id,
        cancel_reason="",
    )


async def reserve(
    session: AsyncSession,
    *,
    book_code: str,
    count: int,
    now: dt.datetime,
    expires_at: dt.datetime,
    unit_code: str = "",
    note: str = "",
    first_number: int = 1,
    actor: str = "gateway",
) -> tuple[Reservation, list[int]]:
    """สำรองเลข: hold `count` consecutive numbers for a unit; each stays in the book as สำรอง."""
    check_count(count)
    book = await get_book(session, book_code)
    year = check_year(be_year_of(now))
    first = await _take_numbers(session, book, year, count, first_number)
    res = Reservation(
        book_id=book.id,
        year=year,
        unit_code=unit_code,
        first_number=first,
        count=count,
        note=note,
        created_at=now,
        expires_at=expires_at,
        status="open",
    )
    session.add(res)
    await session.flush()
    numbers = list(range(first, first + count))
    held = EntryFields(unit_code=unit_code, remarks=f"สำรองเลข {note}".strip())
    session.add_all(_entry(book, year, n, "reserved", now, held, None, res.id) for n in numbers)
    await session.flush()
    await audit.append(
        session,
        now=now,
        actor=actor,
        action="register.reserve",
        subject_type="reservation",
        subject_id=res.id,
        details={"book": book.code, "year": year, "numbers": [first, first + count - 1], "unit": unit_code},
    )
    return res, numbers


async def _find_entry(
    session: AsyncSession, book: RegisterBook, year: int, number: int
) -> RegisterEntry:
    entry = (
        await session.execute(
            select(RegisterEntry)
            .where(
                RegisterEntry.book_id == book.id,
                RegisterEntry.year == year,
                RegisterEntry.number == number,
            )
            .with_for_update()
        )
    ).scalar_one_or_none()
    if entry is None:
        raise UserError(
            f"ไม่มีเลข {number}/{year} ใน{book.name_th}",
            f"number {number}/{year} does not exist in book {book.code}",
        )
    return entry


async def use_reserved(
    session: AsyncSession,
    *,
    book_code: str,
    number: int,
    now: dt.datetime,
    fields: EntryFields,
    year: int | None = None,
    letter_id: int | None = None,
    actor: str = "gateway",
) -> RegisterEntry:
    """Fill a reserved number with the letter it was held for."""
    book = await get_book(session, book_code)
    year = check_year(year if year is not None else be_year_of(now))
    entry = await _find_entry(session, book, year, number)
    if entry.status != "reserved":
        state = STATUS_TH.get(entry.status, entry.status)
        raise UserError(
            f"เลข {number}/{year} ไม่ใช่เลขสำรอง (สถานะ: {state})",
            f"number {number}/{year} is not a reserved number (status: {entry.status})",
        )
    reserved_for = entry.unit_code
    for name in ("letter_no", "letter_date", "sender", "recipient", "subject", "action", "speed",
                 "secrecy", "channel"):
        setattr(entry, name, getattr(fields, name))
    entry.remarks = fields.remarks
    entry.unit_code = fields.unit_code or reserved_for
    entry.status = "registered"
    entry.registered_at = now
    entry.letter_id = letter_id
    await session.flush()
    await _close_if_spent(session, entry.reservation_id)
    await audit.append(
        session,
        now=now,
        actor=actor,
        action="register.use_reserved",
        subject_type="entry",
        subject_id=f"{book.code}/{year}/{number}",
        details={"book": book.code, "year": year, "number": number, "letter_id": letter_id},
    )
    return entry


async def _close_if_spent(session: AsyncSession, reservation_id: int | None) -> None:
    if reservation_id is None:
        return
    left = (
        await session.execute(
            select(RegisterEntry.id).where(
                RegisterEntry.reservation_id == reservation_id, RegisterEntry.status == "reserved"
            )
        )
    ).first()
    if left is None:
        res = await session.get(Reservation, reservation_id)
        if res is not None:
            res.status = "closed"


async def cancel_number(
    session: AsyncSession,
    *,
    book_code: str,
    year: int,
    number: int,
    reason: str,
    now: dt.datetime,
    actor: str = "gateway",
) -> RegisterEntry:
    """Mark a number ยกเลิก: it stays in the book with the reason and is never given again."""
    if not reason.strip():
        raise UserError("ต้องระบุเหตุผลการยกเลิก", "a reason for the cancellation is required")
    book = await get_book(session, book_code)
    entry = await _find_entry(session, book, check_year(year), number)
    if entry.status == "cancelled":
        raise UserError(
            f"เลข {number}/{year} ถูกยกเลิกไปแล้ว", f"number {number}/{year} is already cancelled"
        )
    entry.status = "cancelled"
    entry.cancel_reason = reason.strip()
    entry.cancelled_at = now
    await session.flush()
    await _close_if_spent(session, entry.reservation_id)
    await audit.append(
        session,
        now=now,
        actor=actor,
        action="register.cancel",
        subject_type="entry",
        subject_id=f"{book.code}/{year}/{number}",
        details={"reason": entry.cancel_reason},
    )
    return entry


async def release_reservation(
    session: AsyncSession,
    *,
    reservation_id: int,
    now: dt.datetime,
    reason: str = "คืนเลขสำรองที่ไม่ได้ใช้",
    actor: str = "gateway",
    action: str = "register.release",
) -> list[int]:
    """Give up the unused numbers of a reservation; they are cancelled, never handed out again."""
    res = await session.get(Reservation, reservation_id, with_for_update=True)
    if res is None:
        raise UserError(
            f"ไม่มีการสำรองเลขหมายเลข {reservation_id}", f"no reservation {reservation_id}"
        )
    if res.status != "open":
        raise UserError(
            f"การสำรองเลขหมายเลข {reservation_id} ปิดไปแล้ว (ใช้หรือคืนครบแล้ว)",
            f"reservation {reservation_id} is already closed (used or released)",
        )
    unused = list(
        (
            await session.execute(
                select(RegisterEntry)
                .where(
                    RegisterEntry.reservation_id == reservation_id,
                    RegisterEntry.status == "reserved",
                )
                .order_by(RegisterEntry.number)
            )
        ).scalars()
    )
    for e in unused:
        e.status = "cancelled"
        e.cancel_reason = reason
        e.cancelled_at = now
    res.status = "closed"
    await session.flush()
    numbers = [e.number for e in unused]
    await audit.append(
        session,
        now=now,
        actor=actor,
        action=action,
        subject_type="reservation",
        subject_id=reservation_id,
        details={"numbers": numbers, "reason": reason},
    )
    return numbers


async def expire_reservations(session: AsyncSession, *, now: dt.datetime) -> dict[int, list[int]]:
    """Release every open reservation whose time is up; returns {reservation id: numbers}.
    One gateway process at a time (each runs this timer): the next finds them closed."""
    await leases.hold(session, "timer:reservations")
    due = list(
        (
            await session.execute(
                select(Reservation.id).where(
                    Reservation.status == "open", Reservation.expires_at <= now
                )
            )
        ).scalars()
    )
    out: dict[int, list[int]] = {}
    for rid in due:
        out[rid] = await release_reservation(
            session,
            reservation_id=rid,
            now=now,
            reason="เลขสำรองหมดอายุ",
            actor="scheduler",
            action="register.expire",
        )
    return out


async def entry_of(session: AsyncSession, letter_id: int) -> RegisterEntry | None:
    """The register entry that numbers a letter, the one place its number lives: the receive
    number of an incoming letter, the send (circular, order) number of an outgoing one. A unit's
    own number for the same letter is taken later, so it is never the first."""
    return (await session.execute(select(RegisterEntry).where(
        RegisterEntry.letter_id == letter_id, RegisterEntry.status == "registered",
    ).order_by(RegisterEntry.id).limit(1))).scalar_one_or_none()


async def entries(
    session: AsyncSession, *, book_code: str, year: int
) -> tuple[RegisterBook, list[RegisterEntry]]:
    book = await get_book(session, book_code)
    rows = await session.execute(
        select(RegisterEntry)
        .where(RegisterEntry.book_id == book.id, RegisterEntry.year == check_year(year))
        .order_by(RegisterEntry.number)
    )
    return book, list(rows.scalars())


async def amendment_marks(session: AsyncSession, rows: Sequence[RegisterEntry]) -> dict[int, tuple[str, str]]:
    """For the lines of an export: {entry id: (the amended mark, the number that replaced a
    cancelled line)}. The mark names the fields corrected, the last time and who."""
    ids = [e.id for e in rows]
    if not ids:
        return {}
    marks: dict[int, tuple[str, str]] = {}
    amended: dict[int, list[Amendment]] = {}
    for a in (await session.execute(select(Amendment).where(Amendment.entry_id.in_(ids))
                                    .order_by(Amendment.id))).scalars():
        if a.entry_id is not None:
            amended.setdefault(a.entry_id, []).append(a)
    successors = {e.replaced_by_id for e in rows if e.replaced_by_id is not None}
    new = {e.id: f"{e.number}/{e.year}" for e in (await session.execute(
        select(RegisterEntry).where(RegisterEntry.id.in_(successors)))).scalars()} if successors else {}
    for e in rows:
        made = amended.get(e.id, [])
        mark = ""
        if made:
            last = made[-1]
            fields = ", ".join(dict.fromkeys(FIELD_TH.get(a.field, a.field) for a in made))
            mark = f"แก้ไข {fields} เมื่อ {format_short_datetime(last.at)} โดย {last.actor}"
        replaced = new.get(e.replaced_by_id, "") if e.replaced_by_id is not None else ""
        if mark or replaced:
            marks[e.id] = (mark, replaced)
    return marks
