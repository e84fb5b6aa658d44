"""Benchmark: register number allocation rate on SQLite and PostgreSQL.

Run: .venv/bin/python bench/bench_registers.py [--n 2000] [--workers 8] [--export-n 20000] [--smoke]

For each database, in the same run:
  baseline  the bare pattern from infrastructure.md: counter upsert + entry insert, SQLAlchemy Core
  gateway   store.registers.allocate: the same plus the ORM entry and a hash-chained audit entry
Both use 8 concurrent workers and one transaction per number; the output gives numbers per
second and the gateway/baseline ratio. PostgreSQL runs as the tests start it (fsync off), SQLite
as the gateway runs it (WAL, synchronous=FULL).

Then `registers export` of a year of --export-n receive entries (default 20,000; SQLite), as
JSON, CSV and the table, each in a child process: the child's peak RSS against the same run's
baseline, the export of an empty book (the imports and the store alone). The export streams the
year a chunk at a time, so the difference stays small however long the book is.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert as core_insert  # noqa: E402
from sqlalchemy.dialects.postgresql import insert as pg_insert  # noqa: E402
from sqlalchemy.dialects.sqlite import insert as sqlite_insert  # noqa: E402

from gateway.app import opened_store  # noqa: E402
from gateway.store import registers  # noqa: E402
from gateway.store.registers import EntryFields  # noqa: E402
from gateway.store.tables import Counter, RegisterEntry  # noqa: E402
from tests.conftest import FakeClock, make_settings  # noqa: E402

NOW = dt.datetime(2026, 11, 22, 3, 0, tzinfo=dt.UTC)


async def _run(workers: int, n: int, one) -> float:  # type: ignore[no-untyped-def]
    left = n

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await one()

    t = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return n / (time.perf_counter() - t)


async def measure(url: str, n: int, workers: int) -> tuple[float, float]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-reg-"))
    try:
        async with opened_store(make_settings(tmp, url), upgrade=True, clock=FakeClock(NOW)) as store:
            async with store.sessions() as s:
                book = await registers.get_book(s, "send")
            insert = pg_insert if store.engine.dialect.name == "postgresql" else sqlite_insert

            async def bare() -> None:
                async with store.engine.begin() as conn:
                    last = (
                        await conn.execute(
                            insert(Counter)
                            .values(book_id=book.id, year=2569, last=1)
                            .on_conflict_do_update(
                                index_elements=[Counter.book_id, Counter.year],
                                set_={"last": Counter.last + 1},
                            )
                            .returning(Counter.last)
                        )
                    ).scalar_one()
                    await conn.execute(
                        core_insert(RegisterEntry).values(
                            book_id=book.id, year=2569, number=last, status="registered",
                            registered_at=NOW, letter_no="", sender="", recipient="", subject="bench",
                            action="", remarks="", speed="", secrecy="", channel="", unit_code="",
                            cancel_reason="",
                        )
                    )

            async def gateway() -> None:
                async with store.sessions.begin() as s:
                    await registers.allocate(
                        s, book_code="receive", now=NOW, fields=EntryFields(subject="bench")
                    )

            base = await _run(workers, n, bare)
            ours = await _run(workers, n, gateway)
            async with store.sessions() as s:
                _, rows = await registers.entries(s, book_code="receive", year=2569)
            if [e.number for e in rows] != list(range(1, n + 1)):
                raise SystemExit("bench_registers: gap or duplicate in the gateway's numbers")
            return base, ours
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


async def export_rss(n: int) -> None:
    from bench_reports import fill, run  # the same realistic register as bench_reports

    from tests.dnsserver import quiet_dns
    from tests.processes import write_config

    with tempfile.TemporaryDirectory(prefix="bench-export-") as d:
        config = write_config(Path(d) / "config.toml", dns=quiet_dns())
        await fill(config, n)
        print(f"registers export, a year of {n} receive entries: peak RSS of the child process")
        print(f"{'format':<6} {'seconds':>8} {'peak RSS MB':>12} {'empty book MB':>14} {'difference':>11}")
        for fmt in ("json", "csv", "table"):
            command = ("registers", "export")
            seconds, rss, _ = run(config, fmt, Path(d) / f"receive.{fmt}", command=command)
            _, base, _ = run(config, fmt, Path(d) / f"send.{fmt}", command=command, book="send")
            print(f"{fmt:<6} {seconds:>8.2f} {rss:>12.1f} {base:>14.1f} {rss - base:>+11.1f}")


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=None, help="numbers per database (default 2000)")
    ap.add_argument("--workers", type=int, default=None, help="concurrent workers (default 8)")
    ap.add_argument("--export-n", type=int, default=None,
                    help="entries of the exported year (default 20000)")
    ap.add_argument("--smoke", action="store_true",
                    help="a few seconds: 20 numbers, 4 workers (CI checks that the benchmark runs)")
    args = ap.parse_args()
    if args.n is None:
        args.n = 20 if args.smoke else 2000
    if args.workers is None:
        args.workers = 4 if args.smoke else 8
    if args.export_n is None:
        args.export_n = 60 if args.smoke else 20_000
    from tests.servers.postgres import PostgresServer

    results = {}
    with tempfile.TemporaryDirectory() as d:
        results["sqlite"] = await measure(f"sqlite+aiosqlite:///{d}/bench.sqlite3", args.n, args.workers)
    with PostgresServer() as pg:
        results["postgresql"] = await measure(pg.create_database("bench"), args.n, args.workers)
    print(f"allocation rate, {args.workers} workers, {args.n} numbers, one transaction each")
    print(f"{'database':<12} {'baseline/s':>11} {'gateway/s':>10} {'ratio':>6}")
    for name, (base, ours) in results.items():
        print(f"{name:<12} {base:>11.0f} {ours:>10.0f} {ours / base:>6.2f}")
    await export_rss(args.export_n)


if __name__ == "__main__":
    asyncio.run(main())
