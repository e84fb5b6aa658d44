"""`registers export` of a book longer than the store's chunk (gateway.reports.source.CHUNK):
the rows stream from the store a chunk at a time, so memory stays flat with the book's size,
and the bytes are those of the whole year written at once (to_json, to_csv, to_table)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import io
import weakref
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select, update

from gateway.app import opened_store
from gateway.cli.main import main
from gateway.config import load_settings
from gateway.reports.export import export_row, to_csv, to_json, to_table
from gateway.reports.source import CHUNK
from gateway.store import registers
from gateway.store.registers import EntryFields
from gateway.store.tables import Amendment, Letter, RegisterEntry
from tests.conftest import FakeClock
from tests.processes import write_config

pytestmark = pytest.mark.integration

N = 3 * CHUNK + 123  # four chunks, the last one short
YEAR = 2569
START = dt.datetime(2026, 12, 1, 1, 30, tzinfo=dt.UTC)
# filled lines at both sides of each chunk's edge, and the last
FILLED = (1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 2 * CHUNK + 1, N)


async def _fill(site: Path) -> None:
    """A receive book of N numbers: reserved, filled, cancelled, one re-registered in another
    chunk (the mark `→ ลงทะเบียนใหม่`), one amended (the mark `แก้ไข เรื่อง …`)."""
    clock = FakeClock(START)
    async with opened_store(load_settings(site / "config.toml"), upgrade=True, clock=clock) as store:
        async with store.sessions.begin() as s:
            await registers.reserve(s, book_code="receive", count=N, now=clock(),
                                    expires_at=clock() + dt.timedelta(days=30), note="รอเสนอ")
        for n in FILLED:
            clock.advance(minutes=7)
            async with store.sessions.begin() as s:
                await registers.use_reserved(s, book_code="receive", number=n, now=clock(), fields=EntryFields(
                    letter_no=f"ศธ 0{4000 + n}/ว{n}", letter_date=dt.date(2026, 11, 20),
                    sender="สำนักงานคณะกรรมการการศึกษาขั้นพื้นฐาน", recipient="ผู้อำนวยการ",
                    subject=f"ขอเชิญประชุม, \"ครั้งที่ {n}\"" + " ยาวมาก" * (n % 9), channel="smtp"))
        async with store.sessions.begin() as s:
            for n in (2, CHUNK + 2):
                await registers.cancel_number(s, book_code="receive", year=YEAR, number=n,
                                              reason="ลงซ้ำ", now=clock(), actor="ธุรการ")
            book = await registers.get_book(s, "receive")
            ids = dict((await s.execute(select(RegisterEntry.number, RegisterEntry.id)
                                        .where(RegisterEntry.book_id == book.id))).all())
            await s.execute(update(RegisterEntry).where(RegisterEntry.id == ids[2])
                            .values(replaced_by_id=ids[N]))
            letter = Letter(direction="in", state="registered", source_key="amended", created_at=clock(),
                            updated_at=clock())
            s.add(letter)
            await s.flush()
            s.add(Amendment(letter_id=letter.id, entry_id=ids[CHUNK + 1], field="subject",
                            old_value="ขอเชิญประชม", new_value="ขอเชิญประชุม", actor="ธุรการ", at=clock()))


async def _whole(site: Path, fmt: str) -> bytes:
    """The export as `registers export` wrote it before it streamed: every row read at once."""
    async with opened_store(load_settings(site / "config.toml")) as store:
        async with store.readers() as s:
            book, entries = await registers.entries(s, book_code="receive", year=YEAR)
            marks = await registers.amendment_marks(s, entries)
    rows = [export_row(book, e, *marks.get(e.id, ("", ""))) for e in entries]
    if fmt == "csv":
        return to_csv(rows)
    if fmt == "json":
        return to_json(rows).encode()
    return f"{book.name_th} ปี พ.ศ. {YEAR} — {len(rows)} รายการ\n{to_table(rows)}".encode()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("export")
    write_config(path / "config.toml")
    asyncio.run(_fill(path))
    return path


class _Watched(io.BytesIO):
    """stdout's bytes; at each write, how many register entries the export had loaded from the
    store by then, and how many of them were still in memory."""

    def __init__(self) -> None:
        super().__init__()
        self.loaded: list[weakref.ref[RegisterEntry]] = []
        self.writes: list[tuple[int, int, bytes]] = []

    def write(self, data: Any) -> int:
        gc.collect()
        alive = sum(1 for r in self.loaded if r() is not None)
        self.writes.append((len(self.loaded), alive, bytes(data)))
        return super().write(data)


def _watched_export(site: Path, fmt: str) -> _Watched:
    watched = _Watched()

    def loaded(target: RegisterEntry, _context: object) -> None:
        watched.loaded.append(weakref.ref(target))

    out = io.TextIOWrapper(watched, encoding="utf-8", write_through=True)
    event.listen(RegisterEntry, "load", loaded)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            code = main(["--config", str(site / "config.toml"), "registers", "export",
                         "--book", "receive", "--year", str(YEAR), "--format", fmt])
    finally:
        event.remove(RegisterEntry, "load", loaded)
        out.detach()  # the bytes stay readable
    assert code == 0
    return watched


@pytest.mark.parametrize("fmt", ["json", "csv", "table"])
def test_a_long_book_exports_the_bytes_of_the_whole_year(site: Path, fmt: str) -> None:
    watched = _watched_export(site, fmt)
    assert watched.getvalue() == asyncio.run(_whole(site, fmt))
    assert watched.getvalue().count("ขอเชิญประชุม".encode()) == len(FILLED)


@pytest.mark.parametrize("fmt", ["json", "csv", "table"])
def test_a_long_book_is_read_and_written_a_chunk_at_a_time(site: Path, fmt: str) -> None:
    watched = _watched_export(site, fmt)
    rows = [(loaded, alive) for loaded, alive, data in watched.writes if "สำรองเลข".encode() in data]
    assert len(rows) >= N // CHUNK  # the rows in several writes, not one
    # never more than about a chunk of the book in memory (all N when it was read at once) …
    assert max(alive for _, alive in rows) <= CHUNK + len(FILLED)
    if fmt != "table":  # … and the first rows written before the last chunk was read
        assert rows[0][0] < N  # (a table reads the book once before, for its columns' widths)


# (command line, which file it writes): each cut short after its first chunk of rows
CUT_SHORT = [
    (["registers", "export", "--book", "receive", "--year", str(YEAR), "--format", "json"], "book.json"),
    (["registers", "export", "--book", "receive", "--year", str(YEAR), "--format", "table"], "book.txt"),
    (["report", "register", "--book", "receive", "--year", str(YEAR), "--format", "csv"], "book.csv"),
    (["report", "register", "--book", "receive", "--year", str(YEAR), "--format", "xlsx"], "book.xlsx"),
]


@pytest.mark.parametrize(("args", "name"), CUT_SHORT, ids=lambda x: x if isinstance(x, str) else x[-1])
def test_a_file_cut_short_is_not_left_looking_finished(site: Path, tmp_path: Path, args: list[str],
                                                        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store goes away after the first 500 rows: no half-written register is left under
    the name asked for, a file of that name from before stays as it was, and no temporary
    file is left beside it (gateway/cli/output.py)."""
    from gateway.reports import source

    real = source.stream_chunks

    async def failing(*a: Any, **k: Any) -> Any:
        async for part in real(*a, **k):
            yield part
            raise OSError(5, "Input/output error")

    monkeypatch.setattr(source, "stream_chunks", failing)
    target = tmp_path / name
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        assert main(["--config", str(site / "config.toml"), *args, "-o", str(target)]) == 1
    assert "อุปกรณ์จัดเก็บข้อมูลขัดข้อง" in err.getvalue()  # one Thai line, no traceback
    assert not target.exists() and list(tmp_path.iterdir()) == []
    target.write_bytes(b"last month's export")
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["--config", str(site / "config.toml"), *args, "-o", str(target)]) == 1
    assert target.read_bytes() == b"last month's export"
    assert [p.name for p in tmp_path.iterdir()] == [name]
    monkeypatch.setattr(source, "stream_chunks", real)  # and whole when nothing fails
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["--config", str(site / "config.toml"), *args, "-o", str(target)]) == 0
    assert target.stat().st_size > 10_000 and [p.name for p in tmp_path.iterdir()] == [name]


async def _small_book(site: Path, n: int) -> None:
    async with opened_store(load_settings(site / "config.toml"), upgrade=True, clock=FakeClock(START)) as store:
        for k in range(1, n + 1):
            async with store.sessions.begin() as s:
                await registers.allocate(s, book_code="receive", now=START, fields=EntryFields(
                    letter_no=f"ศธ 0410/{k}", letter_date=dt.date(2026, 11, 20), sender="สพฐ.",
                    recipient="ผู้อำนวยการ", subject=f"เรื่องที่ {k}", channel="smtp"))


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_a_letter_registered_during_an_export_waits_for_the_next(tmp_path: Path, fmt: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The gateway registers a letter while `registers export` runs (here: after the export
    counted the book, before it read a row). The export is the book as it was when it began:
    the count in a table's heading and the rows agree, and no row is wider than its column."""
    from gateway.reports import source

    write_config(tmp_path / "config.toml")
    asyncio.run(_small_book(tmp_path, 3))
    real, registered = source.stream_chunks, []

    async def meanwhile(store: Any, *a: Any, **k: Any) -> Any:
        if not registered:
            async with store.sessions.begin() as s:
                entry = await registers.allocate(s, book_code="receive", now=START, fields=EntryFields(
                    letter_no="ศธ 0410/999", sender="สำนักงานที่มาระหว่างส่งออกและมีชื่อยาวกว่าทุกแถว",
                    subject="มาระหว่างส่งออก", channel="smtp"))
                registered.append(entry.number)
        async for part in real(store, *a, **k):
            yield part

    monkeypatch.setattr(source, "stream_chunks", meanwhile)
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert main(["--config", str(tmp_path / "config.toml"), "registers", "export", "--book", "receive",
                     "--year", str(YEAR), "--format", fmt]) == 0
    out.seek(0)
    text = out.read()
    assert registered == [4]  # it was registered, and is not in this export
    assert "มาระหว่างส่งออก" not in text
    if fmt == "json":
        import json

        assert [row["number"] for row in json.loads(text)] == [1, 2, 3]
    else:
        lines = text.splitlines()
        assert "— 3 รายการ" in lines[0]
        assert sum("เรื่องที่" in line for line in lines) == 3
