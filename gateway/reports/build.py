"""Writing each report to a file, for the command line and for a mail command alike.

``build_report(kind, period, settings, store)`` is what a "reports by mail" command calls: the
report's files as ``(filename, bytes, content_type)``, never with secret letters' details (a
report by mail shows a secret letter by its number only). The command line writes the same
things to a file, with a progress bar and, at a local operator's request, secrets shown.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, BinaryIO

from gateway.errors import UserError
from gateway.reports.layout import Period, redact

if TYPE_CHECKING:
    from gateway.config import Settings
    from gateway.reports.export import ExportRow
    from gateway.reports.stats import Month, MonthStats
    from gateway.store.handle import Store
    from gateway.store.tables import RegisterBook

__all__ = ["PDF", "XLSX", "build_report", "write_handover", "write_register", "write_stats"]

PDF = "application/pdf"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _nothing() -> None:
    return None


def _printed(settings: Settings, now: dt.datetime) -> str:
    from gateway.thai import format_short_datetime

    return f"พิมพ์เมื่อ {format_short_datetime(now, thai_digits=settings.agency.thai_digits)}"


def _font(settings: Settings) -> str:
    from gateway.reports.thaifont import report_font_path

    return report_font_path(settings.intake.stamp_font)


async def _rows(store: Store, book: RegisterBook, period: Period, *,
                include_secret: bool) -> AsyncIterator[ExportRow]:
    from gateway.reports.source import stream_rows

    async for row in stream_rows(store, book, period):
        yield row if include_secret else redact(row)


async def write_register(fmt: str, settings: Settings, store: Store, books: list[RegisterBook],
                         period: Period, out: BinaryIO, *, include_secret: bool = False,
                         step: Callable[[], None] = _nothing) -> int:
    """Write the register (pdf, xlsx or csv); the number of pages of a PDF (0 otherwise)."""
    digits = settings.agency.thai_digits
    secret = include_secret
    if fmt == "csv":
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
    if fmt == "xlsx":
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

    pdf = RegisterPdf(font_path=_font(settings), thai_digits=digits, now=store.clock())
    printed = _printed(settings, store.clock())
    label = period.label(thai_digits=digits)
    for b in books:
        pdf.start_book(PrintedHeader(b.name_th, settings.agency.name_th, label, printed), b.kind)
        async for row in _rows(store, b, period, include_secret=secret):
            pdf.add(row)
            step()
    return pdf.output(out)


async def write_handover(fmt: str, settings: Settings, store: Store, unit: str, day: dt.date,
                         out: BinaryIO, *, include_secret: bool = False) -> tuple[int, int]:
    """Write the hand-over sheet of ``unit`` (code or Thai name) for ``day`` as pdf or xlsx;
    (letters, pages)."""
    from gateway.reports.handover import TITLE, HandoverPdf, find_unit, handover_rows, handover_xlsx
    from gateway.thai import format_letter_date

    u = find_unit(settings, unit)
    digits = settings.agency.thai_digits
    rows = handover_rows(store, u.code, day, include_secret=include_secret)
    if fmt == "xlsx":
        items = [r async for r in rows]  # one unit's day: a page or two of letters
        title = f"{TITLE} {settings.agency.name_th} ส่ง {u.name_th} วันที่ {format_letter_date(day, thai_digits=digits)}"
        target = io.BytesIO()
        handover_xlsx(target, items, title=title, now=store.clock(), thai_digits=digits)
        out.write(target.getvalue())
        return len(items), 0
    pdf = HandoverPdf(font_path=_font(settings), thai_digits=digits, now=store.clock(),
                      agency=settings.agency.name_th, unit=u.name_th, day=day,
                      printed=_printed(settings, store.clock()))
    async for r in rows:
        pdf.add(r)
    pdf.finish()
    return pdf.count, pdf.output(out)


async def write_stats(settings: Settings, store: Store, month: Month,
                      out: BinaryIO) -> tuple[MonthStats, int]:
    """Write the month's statistics PDF (tables, then the chart); (the figures, pages)."""
    from gateway.reports.chart import CHART_PX, stats_chart
    from gateway.reports.stats import gather_stats
    from gateway.reports.statspdf import stats_pdf

    st = await gather_stats(store, month)
    font = _font(settings)
    pages = stats_pdf(st, out, font_path=font, thai_digits=settings.agency.thai_digits,
                      now=store.clock(), agency=settings.agency.name_th,
                      printed=_printed(settings, store.clock()), png=stats_chart(st, font), px=CHART_PX)
    return st, pages


async def build_report(kind: str, period: Period | Month | dt.date, settings: Settings,
                       store: Store) -> list[tuple[str, bytes, str]]:
    """A report's files for a mail reply, secrets by number only.

    ``kind``: ``register:<book>`` with a ``Period`` (PDF and XLSX), ``stats`` with a ``Month``
    (PDF), ``handover:<unit>`` with a date (PDF and XLSX).
    """
    from gateway.reports.stats import Month

    what, _, arg = kind.partition(":")
    files: list[tuple[str, bytes, str]] = []
    if what == "register" and isinstance(period, Period):
        from gateway.reports.source import book_of

        book = await book_of(store, arg)
        for fmt, ctype in (("pdf", PDF), ("xlsx", XLSX)):
            buf = io.BytesIO()
            await write_register(fmt, settings, store, [book], period, buf)
            files.append((f"{book.name_th}.{fmt}", buf.getvalue(), ctype))
        return files
    if what == "stats" and isinstance(period, Month):
        buf = io.BytesIO()
        await write_stats(settings, store, period, buf)
        return [(f"สถิติ {period.label()}.pdf", buf.getvalue(), PDF)]
    if what == "handover" and isinstance(period, dt.date) and not isinstance(period, dt.datetime):
        for fmt, ctype in (("pdf", PDF), ("xlsx", XLSX)):
            buf = io.BytesIO()
            await write_handover(fmt, settings, store, arg, period, buf)
            files.append((f"ใบส่งหนังสือ {arg} {period.isoformat()}.{fmt}", buf.getvalue(), ctype))
        return files
    raise UserError(f"ไม่รู้จักรายงาน {kind!r}", f"unknown report {kind!r} for {period!r}")
