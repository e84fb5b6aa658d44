"""Benchmark: how fast a running gateway recovers from a mailbox outage (issue #23).

Run: .venv/bin/python bench/bench_recovery.py [--outage 30] [--runs 3] [--tmp-dir DIR] [--smoke]

A gateway (`serve`, SQLite store) watches a central mailbox on a throwaway Dovecot on
127.0.0.1 and is idle in IDLE, its first letter registered. Each run then stops Dovecot (all
its processes: the connections close, as in a restart or a crash of the server), keeps it
away for --outage seconds, starts it again on the same ports with the same mail, and at once
delivers a letter over LMTP. Two times are measured:

  noticed     from the stop to the gateway's first log of the lost connection
              (gateway/reconnect.py): how long it believed a dead connection alive;
  registered  from the server's return to the letter's register entry: the time a letter
              waits because of the outage (target <= 5 s).

Medians over the runs are printed; after every run the store must hold each letter once, with
gapless numbers (any failure exits non-zero; the target is reported, not enforced).

--smoke (CI: the benchmark must not rot): one run, a 2 s outage.

Everything talks to 127.0.0.1 only; Dovecot is stopped and the temporary directory removed on
exit, also on error.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select  # noqa: E402

from gateway.app import Store, open_store  # noqa: E402
from gateway.service import serve  # noqa: E402
from gateway.store.tables import Letter, RegisterEntry  # noqa: E402
from tests.conftest import TickingClock, central_mailbox_settings  # noqa: E402
from tests.corpus.mail import letter_mail, letter_pdf  # noqa: E402
from tests.processes import Noticed  # noqa: E402
from tests.servers.dovecot import DovecotServer  # noqa: E402
from tests.servers.tls import make_test_pki  # noqa: E402

TARGET = 5.0  # seconds from the mailbox's return to the first letter registered
CEILING = 120.0  # a run that takes longer has failed



def letter(i: int) -> bytes:
    pdf = letter_pdf(lines=(f"ที่ ศธ 04010/{i}", "สำนักงานคณะกรรมการการศึกษาขั้นพื้นฐาน",
                            "วันที่ 2 ธันวาคม 2569", f"เรื่อง ขอเชิญประชุม {i}", "เรียน ผู้อำนวยการ"))
    return letter_mail(pdf, subject=f"ขอเชิญประชุม {i}", filename=f"2569_OBEC_{i}.pdf")


async def registered(store: Store) -> int:
    async with store.readers() as s:
        return int((await s.execute(select(func.count()).select_from(RegisterEntry))).scalar_one())


async def wait_until(what: str, check, ceiling: float = CEILING) -> float:  # type: ignore[no-untyped-def]
    t0 = time.monotonic()
    while not await check():
        if time.monotonic() - t0 > ceiling:
            raise SystemExit(f"{what}: not within {ceiling:.0f} s")
        await asyncio.sleep(0.02)
    return time.monotonic() - t0


async def run(args: argparse.Namespace, tmp: Path, dc: DovecotServer) -> tuple[list[float], list[float]]:
    user, password = dc.new_user("saraban")
    os.environ["SARABAN_BENCH_IMAP_PASSWORD"] = password
    settings = central_mailbox_settings(tmp, dc, user, password_env="SARABAN_BENCH_IMAP_PASSWORD")
    letters = [letter(i) for i in range(1, args.runs + 2)]
    store = await open_store(settings, upgrade=True, clock=TickingClock())
    noticed = Noticed()
    logging.getLogger("gateway.reconnect").addHandler(noticed)
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, ready=ready, stop=stop, store=store))
    noticing: list[float] = []
    recovery: list[float] = []
    try:
        await asyncio.wait_for(ready, 60)
        dc.deliver(user, letters[0])
        await wait_until("the first letter", lambda: _at_least(store, 1))
        for n in range(1, args.runs + 1):
            await asyncio.sleep(1.5)  # back in IDLE
            noticed.times.clear()
            stopped = time.monotonic()
            await asyncio.to_thread(dc.halt)
            await wait_until("noticing the outage", lambda: _true(bool(noticed.times)))
            noticing.append(noticed.times[0] - stopped)
            await asyncio.sleep(max(0.0, args.outage - (time.monotonic() - stopped)))
            await asyncio.to_thread(dc.resume)
            back = time.monotonic()
            dc.deliver(user, letters[n])
            await wait_until("the letter after the outage", lambda n=n: _at_least(store, n + 1))  # type: ignore[misc]
            recovery.append(time.monotonic() - back)
            print(f"run {n}: outage {back - stopped:5.1f} s  noticed after {noticing[-1]:5.2f} s  "
                  f"first letter registered {recovery[-1]:5.2f} s after the return", flush=True)
            async with store.readers() as s:
                numbers = sorted((await s.execute(select(RegisterEntry.number))).scalars())
                count = (await s.execute(select(func.count()).select_from(Letter))).scalar_one()
            if numbers != list(range(1, n + 2)) or count != n + 1:
                raise SystemExit(f"lost or doubled: numbers {numbers}, {count} letters")
        if task.done():
            raise SystemExit(f"the gateway stopped: {task.exception()!r}")
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)
        await store.close()
        logging.getLogger("gateway.reconnect").removeHandler(noticed)
    return noticing, recovery


async def _at_least(store: Store, n: int) -> bool:
    return await registered(store) >= n


async def _true(value: bool) -> bool:
    return value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--outage", type=float, default=None, help="seconds the mailbox is away (30)")
    ap.add_argument("--runs", type=int, default=None, help="outages, one after the other (3)")
    ap.add_argument("--tmp-dir", type=Path, default=None)
    ap.add_argument("--smoke", action="store_true", help="one run, a 2 s outage")
    args = ap.parse_args()
    args.outage = args.outage if args.outage is not None else (2.0 if args.smoke else 30.0)
    args.runs = args.runs if args.runs is not None else (1 if args.smoke else 3)
    logging.basicConfig(level=logging.WARNING)
    tmp = Path(tempfile.mkdtemp(prefix="bench-recovery-", dir=args.tmp_dir))
    dc = DovecotServer(pki=make_test_pki(tmp / "tls"))
    try:
        dc.start()
        print(f"mailbox outage of {args.outage:.0f} s, {args.runs} run(s); Dovecot on 127.0.0.1:{dc.imaps_port}",
              flush=True)
        noticing, recovery = asyncio.run(run(args, tmp, dc))
    finally:
        dc.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    med_notice, med_recovery = statistics.median(noticing), statistics.median(recovery)
    print(f"median: noticed after {med_notice:.2f} s; first letter registered {med_recovery:.2f} s "
          f"after the mailbox returned (target <= {TARGET:.0f} s: {'met' if med_recovery <= TARGET else 'NOT met'})")


if __name__ == "__main__":
    main()
