"""Benchmark: draining a mailbox backlog on an empty store and on one with a long history.

Run: .venv/bin/python bench/bench_history.py [--backlog 2000] [--history 100000] [--pages 2] [--smoke]

Two mailboxes on a real Dovecot on loopback get the same backlog (distinct letters with a
scanned PDF each). One store is empty; the other holds `--history` decided letters (default
100,000), put there by bulk INSERTs straight into the store's tables (tests/history.py
fill_history: raw message, letter, main file, register entry, and the placements of original
and findable copy in the mailbox's real ลงรับแล้ว/ไม่รับ at their UIDVALIDITY, UIDs above
anything the server hands out — as years of the pipeline's work leave them, not through the
pipeline, which would take hours). The server's folders themselves stay small: the past's
messages are only in the store.

For each store, same run, same messages: the baseline (aioimaplib fetch of every message + the
email package walking every part) and then the gateway (`ingest --once`: fetch, keep, read,
decide, register, stamp, move, file the copy, queue the acknowledgement), run in a process of
its own (spawned) so that its peak resident size (VmHWM, /proc) is its own; the reader worker
processes' peaks are given beside it. Printed: letters/s of both, their ratio, and the ratio
of the 100k store's ratio to the empty store's (targets: that ≈ 1, each ≥ 0.5, peak RSS flat and
under 300 MB).

--smoke (CI: the benchmark must not rot): 3 letters, a 200-letter history, 1-page PDFs; the
figures are printed, the targets not checked. Everything talks to 127.0.0.1 only; the working
directory and Dovecot are removed/stopped on exit, also on error.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import multiprocessing.connection
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_inbound: the same baseline

from bench_inbound import baseline  # noqa: E402  (fetch + parse, the same baseline as bench_inbound's)
from sqlalchemy import select  # noqa: E402

from gateway.app import opened_store  # noqa: E402
from gateway.config import Settings  # noqa: E402
from gateway.service import ingest_once  # noqa: E402
from gateway.store.tables import ImapMessage  # noqa: E402
from tests.conftest import central_mailbox_settings  # noqa: E402
from tests.corpus.mail import letter_mail, letter_pdf  # noqa: E402
from tests.history import fill_history  # noqa: E402
from tests.servers.dovecot import DovecotServer  # noqa: E402
from tests.servers.tls import make_test_pki  # noqa: E402

FAR_UID = 1_000_000_000  # the past's placements: UIDs above anything the server hands out here


def message(base_pdf: bytes, n: int) -> bytes:
    """Letter n: its own file, number and subject (as bench_inbound.py's)."""
    body = (f"เรียน ผู้อำนวยการ\n\nส่งหนังสือ ที่ ศธ 04010/{n} ลงวันที่ 20 พฤศจิกายน 2569 "
            f"เรื่อง แจ้งการดำเนินงานฉบับที่ {n} มาเพื่อทราบ\n\nขอแสดงความนับถือ\n")
    return letter_mail(base_pdf + f"\n% letter {n}\n".encode(), body=body, filename=f"2569_OBEC_{n}.pdf",
                       subject=f"ที่ ศธ 04010/{n} แจ้งการดำเนินงานฉบับที่ {n}")


def peak_kib(pid: int | str = "self") -> int:
    """A process's peak resident size (VmHWM), KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def children_peak_kib() -> int:
    """The largest peak of this process's children (the reader workers), KiB."""
    pid = os.getpid()
    kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    peaks = []
    for kid in kids:
        try:
            peaks.append(peak_kib(kid))
        except OSError:  # gone meanwhile
            pass
    return max(peaks, default=0)


def gateway_process(settings: Settings, out: multiprocessing.connection.Connection) -> None:
    """The timed part, in a spawned process: one `ingest --once`, its time and peaks."""
    import logging

    logging.disable(logging.WARNING)

    async def run() -> tuple[dict[str, int], float, int]:
        t = time.perf_counter()
        summary = await ingest_once(settings)
        return summary, time.perf_counter() - t, children_peak_kib()

    summary, took, workers = asyncio.run(run())
    out.send((summary, took, peak_kib(), workers))


async def prepare(server: DovecotServer, tmp: Path, name: str, history: int) -> tuple[Settings, str, str]:
    """A mailbox and its store: one letter taken in (the folders made), then the history."""
    user, password = server.new_user(f"hist{name}")
    env = f"SARABAN_BENCH_{name.upper()}_PASSWORD"
    os.environ[env] = password
    settings = central_mailbox_settings(tmp / name, server, user, password_env=env, poll_seconds=5)
    server.deliver(user, message(letter_pdf(content="scan", pages=1), 0))
    async with opened_store(settings, upgrade=True) as store:
        await ingest_once(settings, store=store)
        if history:
            async with store.sessions() as s:
                validity = (await s.execute(select(ImapMessage.uidvalidity).where(
                    ImapMessage.kind == "original").limit(1))).scalar_one()
            t = time.perf_counter()
            await fill_history(store, history, validity=validity, uid_base=FAR_UID)
            print(f"   {name}: {history} decided letters bulk-inserted in {time.perf_counter() - t:.1f} s "
                  "(tests/history.py, not timed)")
    return settings, user, password


async def measure(server: DovecotServer, site: tuple[Settings, str, str], backlog: int, timeout: float,
                  label: str) -> float:
    settings, user, password = site
    count, base_s = await baseline(server, user, password, timeout)
    if count != backlog:
        raise SystemExit(f"baseline fetched {count} messages, expected {backlog}")
    ctx = multiprocessing.get_context("spawn")
    mine, theirs = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=gateway_process, args=(settings, theirs))
    proc.start()
    try:
        result: Any = None
        deadline = time.monotonic() + max(120.0, backlog * 2.0)
        while result is None and proc.is_alive() and time.monotonic() < deadline:
            if mine.poll(1.0):
                result = mine.recv()
        if result is None:
            raise SystemExit(f"{label}: the gateway process gave no result (exit {proc.exitcode})")
    finally:
        proc.join(30)
        if proc.is_alive():
            proc.kill()
    summary, gw_s, peak, workers = result
    if summary.get("registered") != backlog:
        raise SystemExit(f"{label}: the gateway registered {summary.get('registered')} of {backlog}: {summary}")
    base_rate, gw_rate = count / base_s, backlog / gw_s
    ratio = gw_rate / base_rate
    print(f"   {label}")
    print(f"     baseline (aioimaplib fetch + email parse): {base_rate:7.1f} letters/s")
    print(f"     gateway  (ingest --once, own process):     {gw_rate:7.1f} letters/s")
    print(f"     ratio gateway/baseline: {ratio:.2f}  (target >= 0.5)")
    print(f"     peak RSS: gateway {peak / 1024:.0f} MiB, largest reader worker {workers / 1024:.0f} MiB "
          "(target: flat, gateway < 300 MB)")
    return ratio


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--backlog", type=int, default=None, help="letters waiting (default 2000)")
    ap.add_argument("--history", type=int, default=None, help="decided letters in the store (default 100000)")
    ap.add_argument("--pages", type=int, default=None, help="pages of each letter's scanned PDF (default 2)")
    ap.add_argument("--smoke", action="store_true", help="tiny run for CI: 3 letters, 200 of history")
    args = ap.parse_args()
    smoke = args.smoke
    backlog = args.backlog or (3 if smoke else 2000)
    history = args.history if args.history is not None else (200 if smoke else 100_000)
    pages = args.pages or (1 if smoke else 2)
    timeout = 20.0 if smoke else 60.0
    base_pdf = letter_pdf(content="scan", pages=pages, scan_noise=True)
    with tempfile.TemporaryDirectory(prefix="bench-history-") as workdir:
        tmp = Path(workdir)
        with DovecotServer({}, pki=make_test_pki(tmp / "pki")) as server:
            print(f"preparing: two mailboxes, stores empty and with {history} letters of history")
            sites = {"empty": await prepare(server, tmp, "empty", 0),
                     "history": await prepare(server, tmp, "history", history)}
            t = time.perf_counter()
            for _, user, _ in sites.values():
                for n in range(1, backlog + 1):
                    server.deliver(user, message(base_pdf, n))
            size = len(message(base_pdf, 1))
            print(f"delivered 2 x {backlog} messages of {size / 2**20:.2f} MiB "
                  f"in {time.perf_counter() - t:.1f} s (setup, not timed)\n")
            print(f"backlog of {backlog} letters ({pages}-page scanned PDF each)")
            empty = await measure(server, sites["empty"], backlog, timeout, "empty store")
            full = await measure(server, sites["history"], backlog, timeout,
                                 f"store with {history} decided letters")
            print(f"\n   ratio with history / empty: {full / empty:.2f}  (target ~1.0)")


if __name__ == "__main__":
    import logging

    logging.disable(logging.WARNING)
    asyncio.run(main())
