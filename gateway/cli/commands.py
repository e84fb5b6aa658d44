"""What each `saraban-gateway` command does (parsing the arguments is cli.py's job)."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

from sqlalchemy import func, select

from gateway.app import Store, open_store
from gateway.config import Settings
from gateway.directory import parse_directory_csv
from gateway.errors import UserError
from gateway.reports.export import ExportRow, to_csv, to_json, to_table
from gateway.state import label_th
from gateway.thai import BANGKOK, be_year_of, format_short_date, format_time
from store import audit, registers
from store.directory import import_agencies, list_agencies
from store.registers import EntryFields
from store.tables import Counter, RegisterBook, RegisterEntry, Reservation

ACTOR = "cli:" + os.environ.get("USER", "admin")


def _write(data: str | bytes, output: Path | None) -> None:
    if output is not None:
        output.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
        print(f"เขียนไฟล์ {output} แล้ว (written)", file=sys.stderr)
    elif isinstance(data, bytes):
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        sys.stdout.write(data)


async def run(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.service import serve

    return await serve(settings)




async def ingest(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.service import ingest_once

    summary = await ingest_once(settings)
    sent = summary.pop("sent", 0)
    print("สรุปการรับหนังสือ (ingest summary):")
    for state, n in sorted(summary.items()):
        if n:
            print(f"  {label_th(state)} ({state}): {n:+d}")
    print(f"  ส่งอีเมลออก (mail sent): {sent}")
    return 0


async def check(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.cli.check import run_checks

    return await run_checks(settings)


async def db(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.app import schema_revision, upgrade_schema

    if args.db_command == "upgrade":
        before, after = await upgrade_schema(settings)  # books and units too, from config
        print(f"ฐานข้อมูลเป็นรุ่นล่าสุดแล้ว (schema {before or 'empty'} → {after})")
    else:
        settings.data_path.mkdir(parents=True, exist_ok=True)
        print(await schema_revision(settings) or "(ว่าง / empty)")
    return 0


async def _with_store(settings: Settings) -> Store:
    return await open_store(settings)


async def registers_list(store: Store) -> int:
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
    store = await _with_store(settings)
    try:
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
        year = args.year if args.year is not None else be_year_of(store.clock())
        async with store.readers() as s:
            book, rows = await registers.entries(s, book_code=args.book, year=year)
        out = [export_row(book, e) for e in rows]
        if args.format == "json":
            _write(to_json(out), args.output)
        elif args.format == "csv":
            _write(to_csv(out), args.output)
        else:
            head = f"{book.name_th} ปี พ.ศ. {year} — {len(out)} รายการ\n"
            _write(head + to_table(out), args.output)
        return 0
    finally:
        await store.close()


def export_row(book: RegisterBook, e: RegisterEntry) -> ExportRow:
    return ExportRow(
        book=book.code,
        year=e.year,
        number=e.number,
        status=e.status,
        registered_at=e.registered_at,
        letter_no=e.letter_no,
        letter_date=e.letter_date,
        sender=e.sender,
        recipient=e.recipient,
        subject=e.subject,
        action=e.action,
        remarks=e.remarks,
        speed=e.speed,
        secrecy=e.secrecy,
        channel=e.channel,
        letter_id=e.letter_id,
        cancel_reason=e.cancel_reason,
    )


def _check_unit(settings: Settings, code: str) -> None:
    if code and settings.unit(code) is None:
        known = ", ".join(u.code for u in settings.units) or "-"
        raise UserError(
            f"ไม่มีหน่วยงานรหัส {code!r} (ที่มี: {known})", f"no unit {code!r} (units: {known})"
        )


async def reserve(args: argparse.Namespace, settings: Settings) -> int:
    _check_unit(settings, args.unit)
    days = args.days if args.days is not None else settings.books.reservation_days
    if days < 1:
        raise UserError("จำนวนวันต้องมากกว่าศูนย์", "--days must be at least 1")
    store = await _with_store(settings)
    try:
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
    finally:
        await store.close()


async def reservations(args: argparse.Namespace, settings: Settings) -> int:
    store = await _with_store(settings)
    try:
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
    finally:
        await store.close()


async def directory(args: argparse.Namespace, settings: Settings) -> int:
    if args.dir_command == "import":
        try:
            data = args.file.read_bytes()
        except OSError as exc:
            raise UserError(
                f"อ่านไฟล์ {args.file} ไม่ได้: {exc.strerror}", f"cannot read {args.file}: {exc.strerror}"
            ) from None
        records = parse_directory_csv(data, source=args.file.name)
    store = await _with_store(settings)
    try:
        if args.dir_command == "import":
            async with store.sessions.begin() as s:
                added, updated = await import_agencies(s, records, now=store.clock(), actor=ACTOR)
            print(
                f"นำเข้าแล้ว: เพิ่ม {added} ปรับปรุง {updated} จาก {len(records)} รายการ\n"
                f"imported: {added} added, {updated} updated, {len(records)} rows"
            )
            return 0
        async with store.readers() as s:
            for a in await list_agencies(s):
                print(f"{a.thai_code:<8} {a.latin_code:<12} {a.central_email:<36} {a.thai_name}")
        return 0
    finally:
        await store.close()


async def audit_cmd(args: argparse.Namespace, settings: Settings) -> int:
    store = await _with_store(settings)
    try:
        async with store.readers() as s:
            report = await audit.verify(s)
        if report.ok:
            print(
                f"บันทึกการตรวจสอบครบถ้วน {report.entries} รายการ ไม่มีการแก้ไขหรือลบ\n"
                f"audit log intact: {report.entries} entries, chain verified"
            )
            return 0
        print(f"พบปัญหาในบันทึกการตรวจสอบ {len(report.problems)} จุด (audit log FAILED):", file=sys.stderr)
        for p in report.problems:
            print(f"  #{p.seq}: {p.problem_th} / {p.problem_en}", file=sys.stderr)
        return 1
    finally:
        await store.close()


def describe_time(now: dt.datetime) -> str:
    local = now.astimezone(BANGKOK)
    return f"{format_short_date(local.date())} {format_time(local)}"


async def trace_cmd(args: argparse.Namespace, settings: Settings) -> int:
    """`letter trace 12[/2569]`: the path of a received letter, from the audit log."""
    import json

    from gateway.reports.trace import Step, render
    from store.tables import AuditEntry, Forward, Letter

    number_text, _, year_text = args.ref.partition("/")
    if not number_text.strip().isdigit() or (year_text and not year_text.strip().isdigit()):
        raise UserError(f"เลขรับ {args.ref!r} ไม่ถูกต้อง ตัวอย่าง: 12 หรือ 12/2569",
                        f"bad receive number {args.ref!r}: e.g. 12 or 12/2569")
    store = await _with_store(settings)
    try:
        year = int(year_text) if year_text else be_year_of(store.clock())
        async with store.readers() as s:
            book = await registers.get_book(s, "receive")
            entry = (await s.execute(select(RegisterEntry).where(
                RegisterEntry.book_id == book.id, RegisterEntry.year == year,
                RegisterEntry.number == int(number_text)))).scalar_one_or_none()
            if entry is None or entry.letter_id is None:
                raise UserError(f"ไม่มีเลขรับ {number_text}/{year}", f"no receive number {number_text}/{year}")
            letter = await s.get(Letter, entry.letter_id)
            assert letter is not None
            lid = str(letter.id)
            rows = (await s.execute(select(AuditEntry).where(
                ((AuditEntry.subject_type == "letter") & (AuditEntry.subject_id == lid))
                | AuditEntry.details.like(f'%"letter_id":{lid}%')).order_by(AuditEntry.seq))).scalars().all()
            forwards = (await s.execute(select(Forward).where(Forward.letter_id == letter.id))).scalars().all()
        steps = []
        for r in rows:
            details = json.loads(r.details or "{}")
            if r.subject_type != "letter" and str(details.get("letter_id")) != lid:
                continue
            if r.action == "letter.received" and not details.get("from"):
                details["from"] = letter.sender_address  # IMAP has no envelope: the From address
            steps.append(Step(r.at, r.actor, r.action, details))
        units = {u.code: u.name_th for u in settings.units}
        print(f"เส้นทางเดินของหนังสือ เลขรับ {entry.number}/{entry.year}")
        print(f"  ที่ {letter.letter_no or '-'}  จาก {letter.sender or '-'}  เรื่อง {letter.subject or '-'}")
        for line in render(steps, units):
            print("  " + line)
        waiting = [units.get(f.unit_code, f.unit_code) for f in forwards if f.state == "sent"]
        if waiting:
            print("  รอลงรับ: " + ", ".join(waiting))
        elif not forwards:
            print("  ยังไม่ได้ส่งต่อหน่วยงาน (not forwarded yet)")
        return 0
    finally:
        await store.close()
