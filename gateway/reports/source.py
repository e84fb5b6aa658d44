"""The rows of a register report, streamed from the store a chunk at a time.

A year's register can hold tens of thousands of rows; reports read them with ``yield_per``
so memory stays flat however long the book is. Rows come as ``ExportRow`` (the one definition
of a register row, gateway.reports.export), in register order: year, then number.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, or_, select

from gateway.reports.export import ExportRow, export_row
from gateway.reports.layout import Period
from gateway.store import registers
from gateway.store.tables import RegisterBook, RegisterEntry

if TYPE_CHECKING:
    from gateway.store.handle import Store

__all__ = ["CHUNK", "Last", "book_of", "count_rows", "last_row", "stream_chunks", "stream_rows"]

CHUNK = 500  # rows fetched from the database at a time


Last = tuple[int, int]  # (year, number) of a book's last row: where a second reading stops


def _where(book: RegisterBook, period: Period, upto: Last | None = None) -> list[Any]:
    conds: list[Any] = [RegisterEntry.book_id == book.id]
    if upto is not None:  # numbers of a book's year are taken in order, under the counter's lock
        year, number = upto
        conds.append(or_(RegisterEntry.year < year,
                         and_(RegisterEntry.year == year, RegisterEntry.number <= number)))
    if period.year is not None:
        conds.append(RegisterEntry.year == registers.check_year(period.year))
    lo, hi = period.bounds()
    if lo is not None:
        conds.append(RegisterEntry.registered_at >= lo)
    if hi is not None:
        conds.append(RegisterEntry.registered_at < hi)
    return conds


async def book_of(store: Store, code: str) -> RegisterBook:
    """The book by its code (receive, send, circular, order, unit-<code>); unknown: UserError."""
    async with store.readers() as s:
        return await registers.get_book(s, code)


async def count_rows(store: Store, book: RegisterBook, period: Period, upto: Last | None = None) -> int:
    async with store.readers() as s:
        n = await s.scalar(select(func.count()).select_from(RegisterEntry)
                           .where(*_where(book, period, upto)))
    return int(n or 0)


async def last_row(store: Store, book: RegisterBook, period: Period) -> Last:
    """The (year, number) of the period's last row now ((0, 0), before every row: none). A
    report that reads the book more than once (a count in its heading, a pass for the table's
    widths, the rows) reads each time up to it, so its heading and its rows agree while the
    gateway registers letters."""
    async with store.readers() as s:
        last = (await s.execute(select(RegisterEntry.year, RegisterEntry.number)
                                .where(*_where(book, period))
                                .order_by(RegisterEntry.year.desc(), RegisterEntry.number.desc())
                                .limit(1))).first()
    return (0, 0) if last is None else (int(last[0]), int(last[1]))


async def stream_rows(store: Store, book: RegisterBook, period: Period,
                      *, chunk: int = CHUNK, upto: Last | None = None) -> AsyncIterator[ExportRow]:
    """The book's rows in the period (up to ``upto``), in register order, ``chunk`` rows in
    memory at a time."""
    async for part in stream_chunks(store, book, period, chunk=chunk, upto=upto):
        for row in part:
            yield row


async def stream_chunks(store: Store, book: RegisterBook, period: Period,
                        *, chunk: int = CHUNK, upto: Last | None = None) -> AsyncIterator[list[ExportRow]]:
    """The same rows as ``stream_rows``, a list of at most ``chunk`` at a time: as the database
    gives them, for a writer that writes a chunk at once."""
    stmt = (select(RegisterEntry).where(*_where(book, period, upto))
            .order_by(RegisterEntry.year, RegisterEntry.number)
            .execution_options(yield_per=chunk))
    async with store.readers() as s:
        result = await s.stream(stmt)
        async for part in result.scalars().partitions():
            async with store.readers() as other:  # amendments and re-registrations of the chunk
                marks = await registers.amendment_marks(other, part)
            # the session holds entries weakly: a written chunk is freed
            yield [export_row(book, entry, *marks.get(entry.id, ("", ""))) for entry in part]
