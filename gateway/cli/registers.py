"""`saraban-gateway registers`, `reserve` and `reservations`: the books and their numbers."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from gateway.cli.common import ACTOR, Subparsers, add_actions, command_store
from gateway.cli.output import output_file
from gateway.cli.progress import add_quiet, terminal_progress
from gateway.config import Settings
from gateway.errors import UserError
from gateway.reports.export import json_end, json_items, table_head, table_rows, table_widths
from gateway.thai import BANGKOK, be_year_of, format_short_date

if TYPE_CHECKING:

    from gateway.store.handle import Store


def add_parser(sub: Subparsers) -> None:
    act = add_actions(sub, "registers", "ทะเบียนหนังสือ (registers)", "reg_command", registers_cmd)
    act.add_parser("list", help="รายการทะเบียนและเลขล่าสุด (books and their last numbers)")
    ex = act.add_parser("export", help="ส่งออกทะเบียน (export a register)")
    ex.add_argument("--book", required=True, help="receive | send | circular | order | unit-<code>")
    ex.add_argument("--year", type=int, default=None, help="ปี พ.ศ. (Buddhist-era year, default this year)")
    ex.add_argument("--format", choices=("table", "csv", "json"), default="table")
    ex.add_argument("--output", "-o", type=Path, default=None, help="เขียนลงไฟล์ (write to a file)")
    add_quiet(ex)
    cn = act.add_parser("cancel", help="ยกเลิกเลขทะเบียน หนังสือรับที่ยกเลิกลงทะเบียนใหม่ได้ "
                                       "(cancel a number; it stays marked ยกเลิก; a received letter "
                                       "may be registered again)")
    cn.add_argument("--book", required=True)
    cn.add_argument("--year", type=int, required=True)
    cn.add_argument("--number", type=int, required=True)
    cn.add_argument("--reason", required=True, help="เหตุผล (reason)")

    rs = sub.add_parser("reserve", help="สำรองเลข (reserve numbers of a book)")
    rs.set_defaults(handler=reserve)
    rs.add_argument("--book", required=True)
    rs.add_argument("--count", type=int, required=True, help="จำนวนเลข (how many)")
    rs.add_argument("--unit", default="", help="รหัสหน่วยงานที่ขอ (unit code)")
    rs.add_argument("--note", default="", help="หมายเหตุ (note)")
    rs.add_argument("--days", type=int, default=None, help="หมดอายุในกี่วัน (expiry in days)")

    act = add_actions(sub, "reservations", "การสำรองเลข (reservations)", "res_command", reservations)
    act.add_parser("list", help="รายการสำรองเลขที่ยังเปิดอยู่ (open reservations)")
    rl = act.add_parser("release", help="คืนเลขสำรองที่ไม่ได้ใช้ (release unused numbers)")
    rl.add_argument("id", type=int)
    rl.add_argument("--reason", default="คืนเลขสำรองที่ไม่ได้ใช้")
    ru = act.add_parser("use", help="ใช้เลขสำรอง (use a reserved number)")
    ru.add_argument("--book", required=True)
    ru.add_argument("--number", type=int, required=True)
    ru.add_argument("--year", type=int, default=None)
    ru.add_argument("--letter-no", default="", help="ที่ (letter number)")
    ru.add_argument("--to", default="", dest="recipient", help="ถึง (recipient)")
    ru.add_argument("--subject", required=True, help="เรื่อง (subject)")
    act.add_parser("expire", help="ยกเลิกเลขสำรองที่หมดอายุ (expire overdue reservations)")


class _Sink:
    """Where an export goes, a piece at a time: a file, or stdout, where text passes the command
    line's filter of escape sequences (gateway.cli.main) and CSV bytes go as they are."""

    def __init__(self, file: BinaryIO | None) -> None:
        self.file = file
        self.binary: BinaryIO = file if file is not None else sys.stdout.buffer

    def text(self, piece: str) -> None:
        if self.file is not None:
            self.file.write(piece.encode("utf-8"))
        else:
            sys.stdout.write(piece)


@contextmanager
def _sink(output: Path | None) -> Iterator[_Sink]:
    if output is None:
        yield _Sink(None)
        sys.stdout.flush()
        return
    with output_file(output) as file:
        yield _Sink(file)
    print(f"เขียนไฟล์ {output} แล้ว (written)", file=sys.stderr)


async def export_register(args: argparse.Namespace, settings: Settings, store: Store) -> None:
    """`registers export`: the book's year streamed from the store a chunk at a time
    (gateway.reports.source), so memory stays flat however long the book is; the bytes are
    those of the whole list written at once (to_json, to_csv, to_table)."""
    from gateway.reports.build import write_register
    from gateway.reports.layout import Period
    from gateway.reports.source import book_of, count_rows, last_row, stream_chunks

    year = args.year if args.year is not None else be_year_of(store.clock())
    period = Period(year=year)
    book = await book_of(store, args.book)
    upto = await last_row(store, book, period)  # refuses a year out of range before writing
    total = await count_rows(store, book, period, upto)
    table = args.format == "table"
    widths = table_widths([])
    if table:  # a first pass for the columns' widths
        async for part in stream_chunks(store, book, period, upto=upto):
            widths = table_widths(part, widths)
    with _sink(args.output) as out, terminal_progress(args.quiet) as bar:
        bar.stage("ส่งออกทะเบียน", total)
        if args.format == "csv":  # as `report register --format csv --include-secret`
            await write_register("csv", settings, store, [book], period, out.binary,
                                 include_secret=True, step=bar.advance)
            return
        out.text(f"{book.name_th} ปี พ.ศ. {year} — {total} รายการ\n" + table_head(widths) if table
                 else "[")
        written = 0
        async for part in stream_chunks(store, book, period, upto=upto):
            out.text(table_rows(part, widths) if table else json_items(part, first=not written))
            written += len(part)
            bar.advance(len(part))
        if not table:
            out.text(json_end(written > 0))


async def registers_list(store: Store) -> int:
    from sqlalchemy import func, select

    from gateway.store import registers
    from gateway.store.tables import Counter, RegisterEntry

    year = be_year_of(store.clock())
    async with store.readers() as s:
        books = await registers.list_books(s)
        counts = dict(
            (
                await s.execute(
                    select(RegisterEntry.book_id, func.count())
                    .where(RegisterEntry.year == year)
                    .group_by(RegisterEntry.book_id)
                )
            ).all()
        )
        lasts = dict(
            (await s.execute(select(Counter.book_id, Counter.last).where(Counter.year == year))).all()
        )
    print(f"ทะเบียนปี พ.ศ. {year} (registers, year {year})")
    print(f"{'รหัส (code)':<18} {'เลขล่าสุด':>9} {'รายการ':>7}  ชื่อทะเบียน")
    for b in books:
        print(f"{b.code:<18} {lasts.get(b.id, 0):>9} {counts.get(b.id, 0):>7}  {b.name_th}")
    return 0


async def registers_cmd(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.cli.corrections import cancel_letter
    from gateway.store import registers

    if args.reg_command == "cancel" and await cancel_letter(
            settings, book=args.book, year=args.year, number=args.number, reason=args.reason):
        return 0  # a registered letter's receive number: the letter is cancelled too
    async with command_store(settings) as store:
        if args.reg_command == "list":
            return await registers_list(store)
        if args.reg_command == "cancel":
            async with store.sessions.begin() as s:
                e = await registers.cancel_number(
                    s,
                    book_code=args.book,
                    year=args.year,
                    number=args.number,
                    reason=args.reason,
                    now=store.clock(),
                    actor=ACTOR,
                )
            print(f"ยกเลิกเลข {e.number}/{e.year} แล้ว (cancelled): {e.cancel_reason}")
            return 0
        await export_register(args, settings, store)
        return 0


def _check_unit(settings: Settings, code: str) -> None:
    if code and settings.unit(code) is None:
        known = ", ".join(u.code for u in settings.units) or "-"
        raise UserError(
            f"ไม่มีหน่วยงานรหัส {code!r} (ที่มี: {known})", f"no unit {code!r} (units: {known})"
        )


async def reserve(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.store import registers

    _check_unit(settings, args.unit)
    days = args.days if args.days is not None else settings.books.reservation_days
    if days < 1:
        raise UserError("จำนวนวันต้องมากกว่าศูนย์", "--days must be at least 1")
    async with command_store(settings) as store:
        now = store.clock()
        year = be_year_of(now)
        async with store.sessions.begin() as s:
            res, numbers = await registers.reserve(
                s,
                book_code=args.book,
                count=args.count,
                now=now,
                expires_at=now + dt.timedelta(days=days),
                unit_code=args.unit,
                note=args.note,
                first_number=settings.books.first_number(args.book, year),
                actor=ACTOR,
            )
        until = format_short_date(res.expires_at.astimezone(BANGKOK).date())
        span = f"{numbers[0]}" if len(numbers) == 1 else f"{numbers[0]}–{numbers[-1]}"
        print(
            f"สำรองเลข {span}/{year} ({args.book}) แล้ว รหัสการสำรอง {res.id} ใช้ได้ถึง {until}\n"
            f"reserved {span}/{year} of {args.book}, reservation {res.id}, expires {until}"
        )
        return 0


async def reservations(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy import select

    from gateway.store import registers
    from gateway.store.registers import EntryFields
    from gateway.store.tables import RegisterBook, Reservation

    async with command_store(settings) as store:
        now = store.clock()
        if args.res_command == "list":
            async with store.readers() as s:
                rows = (
                    await s.execute(
                        select(Reservation, RegisterBook.code)
                        .join(RegisterBook, RegisterBook.id == Reservation.book_id)
                        .where(Reservation.status == "open")
                        .order_by(Reservation.id)
                    )
                ).all()
            if not rows:
                print("ไม่มีเลขสำรองที่ค้างอยู่ (no open reservations)")
            for r, code in rows:
                last = r.first_number + r.count - 1
                until = format_short_date(r.expires_at.astimezone(BANGKOK).date())
                print(f"{r.id:>5}  {code:<10} {r.first_number}–{last}/{r.year}  "
                      f"หน่วยงาน {r.unit_code or '-'}  หมดอายุ {until}  {r.note}")
            return 0
        if args.res_command == "release":
            async with store.sessions.begin() as s:
                numbers = await registers.release_reservation(
                    s, reservation_id=args.id, now=now, reason=args.reason, actor=ACTOR
                )
            listed = ", ".join(map(str, numbers)) or "-"
            print(f"คืนเลขสำรองแล้ว เลขที่ยกเลิก: {listed} (released; cancelled numbers: {listed})")
            return 0
        if args.res_command == "use":
            async with store.sessions.begin() as s:
                e = await registers.use_reserved(
                    s,
                    book_code=args.book,
                    number=args.number,
                    year=args.year,
                    now=now,
                    fields=EntryFields(
                        letter_no=args.letter_no,
                        recipient=args.recipient,
                        subject=args.subject,
                        sender=settings.agency.name_th,
                        channel="cli",
                    ),
                    actor=ACTOR,
                )
            print(f"ใช้เลขสำรอง {e.number}/{e.year} แล้ว (reserved number used)")
            return 0
        async with store.sessions.begin() as s:
            expired = await registers.expire_reservations(s, now=now)
        n = sum(len(v) for v in expired.values())
        print(f"ยกเลิกเลขสำรองที่หมดอายุ {n} เลข จาก {len(expired)} รายการ (expired)")
        return 0
