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
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from gateway.cli.common import Subparsers, add_actions, command_store
from gateway.cli.progress import add_quiet, terminal_progress
from gateway.config import Settings
from gateway.errors import UserError

if TYPE_CHECKING:
    from gateway.reports.export import ExportRow
    from gateway.reports.layout import Period
    from gateway.store.handle import Store
    from gateway.store.tables import RegisterBook


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


async def report_cmd(args: argparse.Namespace, settings: Settings) -> int:
    return await register_report(args, settings)


async def _rows(store: Store, book: RegisterBook, period: Period, *,
                include_secret: bool) -> AsyncIterator[ExportRow]:
    from gateway.reports.layout import redact
    from gateway.reports.source import stream_rows

    async for row in stream_rows(store, book, period):
        yield row if include_secret else redact(row)


def _target(output: Path | None, fmt: str) -> BinaryIO:
    if output is not None:
        try:
            return output.open("wb")
        except OSError as exc:
            raise UserError(f"เขียนไฟล์ {output} ไม่ได้: {exc.strerror}",
                            f"cannot write {output}: {exc.strerror}") from None
    if fmt != "csv" and sys.stdout.isatty():
        raise UserError("ระบุไฟล์ด้วย -o (ไฟล์ PDF/XLSX แสดงบนจอไม่ได้)",
                        "give a file with -o: a PDF or XLSX cannot go to a terminal")
    return sys.stdout.buffer


async def register_report(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.reports.layout import Period
    from gateway.reports.source import book_of, count_rows
    from gateway.thai import local_date

    if args.format == "csv" and len(args.book) > 1:
        raise UserError("CSV มีได้ทะเบียนเดียว", "a CSV holds one book: give --book once")
    async with command_store(settings) as store:
        period = Period.of(year=args.year, start=args.start, end=args.end,
                           today=local_date(store.clock()))
        books = [await book_of(store, code) for code in args.book]
        total = sum([await count_rows(store, b, period) for b in books])
        out = _target(args.output, args.format)
        try:
            with terminal_progress(args.quiet) as bar:
                bar.stage(f"ทะเบียน ({args.format})", total)
                pages = await _write(args, settings, store, books, period, out, bar.advance)
        finally:
            if out is not sys.stdout.buffer:
                out.close()
            else:
                out.flush()
    where = f"เขียนไฟล์ {args.output} แล้ว" if args.output else "เขียนแล้ว"
    counted = f"{total} รายการ" + (f" {pages} หน้า" if pages else "")
    print(f"{where}: {counted} (written: {total} rows{f', {pages} pages' if pages else ''})",
          file=sys.stderr)
    return 0


async def _write(args: argparse.Namespace, settings: Settings, store: Store,
                 books: list[RegisterBook], period: Period, out: BinaryIO,
                 step: Callable[[], None]) -> int:
    """Write the report; the number of pages of a PDF (0 otherwise)."""
    digits = settings.agency.thai_digits
    secret = args.include_secret
    if args.format == "csv":
        from gateway.reports.export import csv_head, csv_rows
        from gateway.reports.source import CHUNK

        out.write(csv_head())
        chunk: list[ExportRow] = []
        async for row in _rows(store, books[0], period, include_secret=secret):
            chunk.append(row)
            step()
            if len(chunk) >= CHUNK:
                out.write(csv_rows(chunk))
                chunk.clear()
        out.write(csv_rows(chunk))
        return 0
    if args.format == "xlsx":
        import io

        from gateway.reports.sheet import RegisterWorkbook

        target = out if out.seekable() else io.BytesIO()  # a zip is written with seeks
        book = RegisterWorkbook(target, thai_digits=digits, now=store.clock())
        for b in books:
            book.start_book(b.name_th, b.kind)
            async for row in _rows(store, b, period, include_secret=secret):
                book.add(row)
                step()
        book.close()
        if isinstance(target, io.BytesIO):
            out.write(target.getvalue())
        return 0
    from gateway.reports.printed import PrintedHeader, RegisterPdf
    from gateway.reports.thaifont import report_font_path
    from gateway.thai import format_short_datetime

    pdf = RegisterPdf(font_path=report_font_path(settings.intake.stamp_font), thai_digits=digits,
                      now=store.clock())
    printed = f"พิมพ์เมื่อ {format_short_datetime(store.clock(), thai_digits=digits)}"
    label = period.label(thai_digits=digits)
    for b in books:
        pdf.start_book(PrintedHeader(b.name_th, settings.agency.name_th, label, printed), b.kind)
        async for row in _rows(store, b, period, include_secret=secret):
            pdf.add(row)
            step()
    return pdf.output(out)
