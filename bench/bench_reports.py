"""Benchmark: a 10,000-entry receive register printed to PDF and written to XLSX (issue 22).

Run: .venv/bin/python bench/bench_reports.py [--n 10000] [--smoke]

One register (SQLite, Thai subjects and names of realistic length, some long enough to wrap
over several lines) is written by `saraban-gateway report register` in a child process per
format, as an operator runs it: wall time, pages and the child's peak RSS (os.wait4). The
baseline is the same run's CSV of the same rows. Targets (issue 22): PDF within 30 s, XLSX
within 10 s, peak RSS under 300 MB; reported, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import insert  # noqa: E402

from gateway.app import opened_store  # noqa: E402
from gateway.config import load_settings  # noqa: E402
from gateway.store import registers  # noqa: E402
from gateway.store.tables import Counter, RegisterEntry  # noqa: E402
from tests.conftest import FakeClock  # noqa: E402
from tests.dnsserver import quiet_dns  # noqa: E402
from tests.processes import write_config  # noqa: E402

START = dt.datetime(2026, 1, 2, 1, 0, tzinfo=dt.UTC)  # 2 ม.ค. 2569 08:00 in Bangkok
TARGETS = {"pdf": 30.0, "xlsx": 10.0}  # seconds
RSS_TARGET_MB = 300.0

SENDERS = (
    "สำนักงานคณะกรรมการการศึกษาขั้นพื้นฐาน", "กรมส่งเสริมการปกครองท้องถิ่น",
    "โรงเรียนบ้านหนองน้ำใส", "สำนักงานสาธารณสุขจังหวัดร้อยเอ็ด", "มหาวิทยาลัยราชภัฏร้อยเอ็ด",
    "สำนักงานเขตพื้นที่การศึกษามัธยมศึกษาร้อยเอ็ด", "ที่ทำการปกครองอำเภอเมืองร้อยเอ็ด",
)
SUBJECT_HEADS = ("ขอเชิญประชุม", "ขอความร่วมมือ", "แจ้งกำหนดการ", "ส่งคำสั่ง", "ขออนุญาต",
                 "รายงานผลการดำเนินงาน", "ประชาสัมพันธ์", "ขอเชิญเข้าร่วมโครงการ")


def _subject(rng: random.Random, words: list[str]) -> str:
    n = rng.choice((3, 5, 8, 12, 20))  # most one or two lines, some five or six
    return rng.choice(SUBJECT_HEADS) + "".join(rng.choice(words) for _ in range(n))


async def fill(config: Path, n: int) -> None:
    from pythainlp.corpus import thai_words

    rng = random.Random(22)
    words = sorted(w for w in thai_words() if 2 <= len(w) <= 8)
    async with opened_store(load_settings(config), upgrade=True, clock=FakeClock(START)) as store:
        async with store.sessions.begin() as s:
            book = await registers.get_book(s, "receive")
            batch: list[dict[str, object]] = []
            for i in range(1, n + 1):
                at = START + dt.timedelta(minutes=31 * i)
                batch.append(dict(
                    book_id=book.id, year=2569, number=i, status="registered", registered_at=at,
                    letter_no=f"ศธ 0{4000 + i % 900}/ว{i}", letter_date=at.date(),
                    sender=rng.choice(SENDERS), recipient="ผู้อำนวยการสำนักงานเขตพื้นที่การศึกษา",
                    subject=_subject(rng, words), action="ส่งกลุ่มอำนวยการ" if i % 3 else "",
                    remarks="ด่วนที่สุด" if i % 11 == 0 else "", speed="", secrecy="",
                    channel="smtp", unit_code="", cancel_reason=""))
                if len(batch) == 1000:
                    await s.execute(insert(RegisterEntry), batch)
                    batch = []
            if batch:
                await s.execute(insert(RegisterEntry), batch)
            await s.execute(insert(Counter).values(book_id=book.id, year=2569, last=n))


def run(config: Path, fmt: str, out: Path, *, command: tuple[str, ...] = ("report", "register"),
        book: str = "receive") -> tuple[float, float, str]:
    """One report (or `registers export`) in a child process: seconds, its peak RSS in MB,
    what it said."""
    cmd = [sys.executable, "-m", "gateway", "--config", str(config), *command,
           "--book", book, "--year", "2569", "--format", fmt, "-o", str(out), "--quiet"]
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stderr is not None
    err = proc.stderr.read().decode("utf-8", "replace")
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"bench_reports: {fmt} failed ({proc.returncode}):\n{err}")
    return seconds, usage.ru_maxrss / 1024, err


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=None, help="register entries (default 10000)")
    ap.add_argument("--smoke", action="store_true", help="a few seconds: 60 entries")
    args = ap.parse_args()
    n = args.n or (60 if args.smoke else 10_000)
    tmp = Path(tempfile.mkdtemp(prefix="bench-reports-"))
    try:
        config = tmp / "config.toml"
        write_config(config, dns=quiet_dns())
        t = time.perf_counter()
        asyncio.run(fill(config, n))
        print(f"receive register: {n} entries written in {time.perf_counter() - t:.1f} s")
        results = {}
        for fmt in ("csv", "pdf", "xlsx"):
            out = tmp / f"register.{fmt}"
            seconds, rss, said = run(config, fmt, out)
            pages = re.search(r"(\d+) pages", said)
            results[fmt] = (seconds, rss, out.stat().st_size, int(pages[1]) if pages else 0)
        base = results["csv"][0]
        print(f"{'format':<6} {'seconds':>8} {'x csv':>6} {'peak RSS MB':>12} {'size KB':>8} "
              f"{'pages':>6}  target")
        for fmt, (seconds, rss, size, pages) in results.items():
            limit = TARGETS.get(fmt)
            met = "" if limit is None else (
                f"{'met' if seconds <= limit and rss < RSS_TARGET_MB else 'NOT met'} "
                f"(≤ {limit:.0f} s, < {RSS_TARGET_MB:.0f} MB)")
            print(f"{fmt:<6} {seconds:>8.2f} {seconds / base:>6.2f} {rss:>12.1f} "
                  f"{size / 1024:>8.0f} {pages or '-':>6}  {met}")
        pdf_pages = results["pdf"][3]
        print(f"PDF: {n / results['pdf'][0]:.0f} rows/s, {n / max(pdf_pages, 1):.1f} rows a page")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
