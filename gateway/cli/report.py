"""`saraban-gateway report`: registers a clerk can print, file or hand to an auditor (#22).

`report register --book receive --year 2569 --format pdf -o ทะเบียนรับ.pdf` prints a book in
the regulation's layout (gateway.reports.printed), or writes it as a spreadsheet
(gateway.reports.sheet) or as the CSV of `registers export`. Rows stream from the store a chunk
at a time (gateway.reports.source); a secret letter (ลับ and above) shows its number only
unless the operator at this machine asks for `--include-secret` — a report by mail never can.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from gateway.cli.common import Subparsers, add_actions, command_store
from gateway.cli.output import output_file
from gateway.cli.progress import add_quiet, terminal_progress
from gateway.config import Settings
from gateway.errors import UserError


def add_parser(sub: Subparsers) -> None:
    act = add_actions(sub, "report", "รายงาน: ทะเบียนสำหรับพิมพ์และสเปรดชีต (reports)",
                      "report_command", report_cmd)
    rg = act.add_parser(
        "register", help="ทะเบียนหนังสือเป็น PDF ตามแบบของระเบียบ, XLSX หรือ CSV (a register as PDF, "
        "XLSX or CSV)")
    rg.add_argument("--book", required=True, action="append",
                    help="receive | send | circular | order | unit-<code> (ให้ซ้ำได้: หนึ่งชีต/ตอนต่อทะเบียน)")
    rg.add_argument("--from", dest="start", default=None,
                    help="ตั้งแต่วันที่ลงทะเบียน เช่น 2569-12-01, 1/12/2569 หรือ '1 ธ.ค. 2569'")
    rg.add_argument("--to", dest="end", default=None, help="ถึงวันที่ (รวมวันนั้น) (until, inclusive)")
    rg.add_argument("--year", type=int, default=None,
                    help="ปี พ.ศ. ของทะเบียน (Buddhist-era year; default this year without --from/--to)")
    rg.add_argument("--format", required=True, choices=("pdf", "xlsx", "csv"))
    rg.add_argument("--output", "-o", type=Path, default=None, help="เขียนลงไฟล์ (write to a file)")
    rg.add_argument("--include-secret", action="store_true",
                    help="แสดงเรื่องและคู่หนังสือของหนังสือชั้นความลับ (local operator only; "
                    "default: number only)")
    add_quiet(rg)
    ho = act.add_parser(
        "handover", help="ใบส่งหนังสือประจำวันของหน่วยงาน มีช่องลงชื่อผู้รับ (a unit's daily hand-over "
        "sheet, with columns to sign)")
    ho.add_argument("--unit", required=True, help="รหัสหรือชื่อหน่วยงาน (unit code or Thai name)")
    ho.add_argument("--date", required=True,
                    help="วันที่ส่ง เช่น 2569-12-01, 1/12/2569 หรือ '1 ธ.ค. 2569' (the day)")
    ho.add_argument("--format", choices=("pdf", "xlsx"), default="pdf")
    ho.add_argument("--output", "-o", type=Path, default=None, help="เขียนลงไฟล์ (write to a file)")
    ho.add_argument("--include-secret", action="store_true",
                    help="แสดงเรื่องของหนังสือชั้นความลับ (local operator only; default: number only)")
    st = act.add_parser(
        "stats", help="สถิติประจำเดือน: จำนวน ระยะเวลา หนังสือค้าง พร้อมแผนภูมิ (a month's "
        "statistics as PDF and text)")
    st.add_argument("--month", required=True, help="เดือน เช่น 12, ธันวาคม, ธ.ค. หรือ 2569-12")
    st.add_argument("--year", type=int, default=None, help="ปี พ.ศ. (Buddhist-era year; default this year)")
    st.add_argument("--output", "-o", type=Path, default=None,
                    help="เขียน PDF ลงไฟล์ (the PDF; without it, the figures as text only)")


async def report_cmd(args: argparse.Namespace, settings: Settings) -> int:
    if args.report_command == "handover":
        return await handover_report(args, settings)
    if args.report_command == "stats":
        return await stats_report(args, settings)
    return await register_report(args, settings)


@contextmanager
def _target(output: Path | None, fmt: str) -> Iterator[BinaryIO]:
    """Where a report goes: the file, whole or not at all (gateway.cli.output), or stdout."""
    if output is not None:
        with output_file(output) as file:
            yield file
        return
    if fmt != "csv" and sys.stdout.isatty():
        raise UserError("ระบุไฟล์ด้วย -o (ไฟล์ PDF/XLSX แสดงบนจอไม่ได้)",
                        "give a file with -o: a PDF or XLSX cannot go to a terminal")
    try:
        yield sys.stdout.buffer
    finally:
        sys.stdout.buffer.flush()


async def register_report(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.reports.build import write_register
    from gateway.reports.layout import Period
    from gateway.reports.source import book_of, count_rows
    from gateway.thai import local_date

    if args.format == "csv" and len(args.book) > 1:
        raise UserError("CSV มีได้ทะเบียนเดียว", "a CSV holds one book: give --book once")
    async with command_store(settings) as store:
        period = Period.of(year=args.year, start=args.start, end=args.end,
                           today=local_date(store.clock()))
        books = [await book_of(store, code) for code in args.book]
        total = sum([await count_rows(store, b, period) for b in books])  # for the progress bar
        written = 0
        with _target(args.output, args.format) as out, terminal_progress(args.quiet) as bar:
            bar.stage(f"ทะเบียน ({args.format})", total)

            def step() -> None:  # what was written, not what was counted before a letter came
                nonlocal written
                written += 1
                bar.advance()

            pages = await write_register(args.format, settings, store, books, period, out,
                                         include_secret=args.include_secret, step=step)
    where = f"เขียนไฟล์ {args.output} แล้ว" if args.output else "เขียนแล้ว"
    counted = f"{written} รายการ" + (f" {pages} หน้า" if pages else "")
    print(f"{where}: {counted} (written: {written} rows{f', {pages} pages' if pages else ''})",
          file=sys.stderr)
    return 0


def _done(output: Path | None, what: str, english: str) -> None:
    where = f"เขียนไฟล์ {output} แล้ว" if output else "เขียนแล้ว"
    print(f"{where}: {what} ({english})", file=sys.stderr)


async def handover_report(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.reports.build import write_handover
    from gateway.reports.layout import parse_report_date

    day = parse_report_date(args.date)
    async with command_store(settings) as store:
        with _target(args.output, args.format) as out:
            n, pages = await write_handover(args.format, settings, store, args.unit, day, out,
                                            include_secret=args.include_secret)
    _done(args.output, f"{n} ฉบับ" + (f" {pages} หน้า" if pages else ""),
          f"{n} letters" + (f", {pages} pages" if pages else ""))
    return 0


async def stats_report(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.reports.build import write_stats
    from gateway.reports.stats import gather_stats, parse_month, stats_text
    from gateway.thai import local_date

    async with command_store(settings) as store:
        month = parse_month(args.month, args.year, local_date(store.clock()))
        if args.output is None:
            st = await gather_stats(store, month)
        else:
            with _target(args.output, "pdf") as out:
                st, pages = await write_stats(settings, store, month, out)
            _done(args.output, f"{pages} หน้า", f"{pages} pages")
    sys.stdout.write(stats_text(st))
    return 0
