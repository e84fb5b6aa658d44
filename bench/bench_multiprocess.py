"""Benchmark: throughput of 1, 2 and 3 gateway processes sharing one PostgreSQL.

Run: .venv/bin/python bench/bench_multiprocess.py [--n 300] [--processes 1,2,3] [--smoke]

For each process count k, a fresh database on one throwaway PostgreSQL (tests/servers) and
k real `saraban-gateway run` processes sharing it and one data directory, each with its own
SMTP listener. N distinct letters (a one-page PDF each, the sender in the directory so each
is acknowledged) are delivered by SMTP, round-robin over the k listeners, by 8 sending
threads; the time is from the first connection until every letter has its register entry.
Printed: letters/s for each k, the ratio to one process, and the machine's CPU count: the
issue's target is 3 processes >= 2.5x one, which needs about three free cores; on a smaller
machine the processes share the cores, and the ratio says how much the sharing costs, not
how far the gateway scales. So each run also prints the CPU time the gateway processes and
their reader workers spent per letter (/proc, user + system, children included) and how many
cores they kept busy: when k processes need no more CPU per letter than one, the work divides
without loss, and what limits the ratio is the cores the machine has.

--smoke (CI: the benchmark must not rot): 6 letters, the same steps and figures, no target.

Everything talks to 127.0.0.1 only; the gateways and PostgreSQL are stopped and the working
directory removed on exit, also on error.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import smtplib
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, func, select  # noqa: E402

from gateway.app import opened_store  # noqa: E402
from gateway.config import load_settings  # noqa: E402
from gateway.store.tables import Letter, RegisterEntry  # noqa: E402
from tests.conftest import add_to_directory  # noqa: E402
from tests.corpus.mail import letter_mail  # noqa: E402
from tests.corpus.quick import QuickLetters  # noqa: E402
from tests.dnsserver import DnsServer  # noqa: E402
from tests.processes import smtp_gateway_config, stop_processes  # noqa: E402
from tests.servers import free_port  # noqa: E402
from tests.servers.postgres import PostgresServer  # noqa: E402

SENDER = "saraban@obec.go.th"
TO = "saraban@agency.test"


def send(port: int, raw: bytes) -> None:
    for _ in range(100):
        with smtplib.SMTP("127.0.0.1", port, timeout=120) as client:
            client.ehlo("mx.obec.go.th")
            client.mail(SENDER)
            client.rcpt(TO)
            try:
                code, _text = client.data(raw)
            except smtplib.SMTPDataError as exc:
                code = exc.smtp_code
        if code == 250:
            return
        if code >= 500:
            raise RuntimeError(f"refused with {code}")
        time.sleep(0.2)  # 4xx: a mail server tries again
    raise RuntimeError("still refused after 100 attempts")


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(roots: list[int]) -> float:
    """User + system CPU time of these processes and every descendant still running, with the
    children they have already reaped (/proc/<pid>/stat fields 14-17)."""
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:  # gone meanwhile
                continue
            stats[int(entry.name)] = (int(fields[1]), sum(int(x) for x in fields[11:15]) / TICK)
    total, todo = 0.0, list(roots)
    while todo:
        pid = todo.pop()
        total += stats.get(pid, (0, 0.0))[1]
        todo.extend(child for child, (parent, _) in stats.items() if parent == pid)
    return total


def one_run(pg: PostgresServer, work: Path, dns: str, k: int, n: int, quick: QuickLetters,
            timeout: float) -> tuple[float, float, float]:
    """Letters/s of k processes for n letters, their CPU seconds per letter, cores kept busy."""
    name = f"bench_{k}_{os.getpid()}"
    url = pg.create_database(name)
    run_dir = work / f"k{k}"
    run_dir.mkdir()
    ports = [free_port() for _ in range(k)]
    configs = [smtp_gateway_config(run_dir / f"gw{i}.toml", database_url=url, port=p, dns=dns, central=TO)
               for i, p in enumerate(ports)]

    async def prepare() -> None:
        async with opened_store(load_settings(configs[0]), upgrade=True) as store:
            await add_to_directory(store, SENDER)

    asyncio.run(prepare())
    mails = [letter_mail(quick.pdf(1000 + i), subject=f"หนังสือฉบับที่ {1000 + i}") for i in range(n)]
    procs: list[subprocess.Popen[bytes]] = []
    engine = create_engine(url)
    try:
        for i, cfg in enumerate(configs):
            with open(run_dir / f"gw{i}.log", "wb") as log:
                procs.append(subprocess.Popen([sys.executable, "-m", "gateway", "--config", str(cfg), "run"],
                                              cwd=run_dir, stdout=subprocess.PIPE, stderr=log))
        for p in procs:
            if p.stdout is None or not p.stdout.readline():
                raise RuntimeError(f"a gateway did not start: see {run_dir}")
        pids = [p.pid for p in procs]
        cpu_before = cpu_seconds(pids)
        start = time.monotonic()
        with ThreadPoolExecutor(max_workers=8) as pool:
            for f in [pool.submit(send, ports[i % k], raw) for i, raw in enumerate(mails)]:
                f.result()
        while True:
            with engine.connect() as conn:
                numbered = conn.execute(select(func.count()).select_from(RegisterEntry)).scalar_one()
                waiting = conn.execute(select(func.count()).select_from(Letter)
                                       .where(Letter.state == "received")).scalar_one()
            if numbered >= n and waiting == 0:
                break
            if time.monotonic() - start > timeout:
                raise RuntimeError(f"{k} processes: {numbered} of {n} registered in {timeout:.0f} s")
            time.sleep(0.05)
        elapsed = time.monotonic() - start
        cpu = cpu_seconds(pids) - cpu_before
        if numbered != n:
            raise RuntimeError(f"{k} processes: {numbered} register entries for {n} letters")
    finally:
        stop_processes(procs)
        engine.dispose()
        pg.drop_database(name)
    return n / elapsed, cpu / n, cpu / elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300, help="letters per run")
    ap.add_argument("--processes", default="1,2,3", help="process counts to run, comma-separated")
    ap.add_argument("--smoke", action="store_true", help="tiny run: the steps, not the figures")
    args = ap.parse_args()
    n = 6 if args.smoke else args.n
    counts = [int(x) for x in args.processes.split(",")]
    timeout = 90.0 if args.smoke else max(300.0, n * 2.0)
    cpus = os.cpu_count() or 1
    quick = QuickLetters()
    rates: dict[int, float] = {}
    per_letter: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-multi-") as tmp, DnsServer() as dns, \
            PostgresServer() as pg:
        for k in counts:
            rates[k], per_letter[k], busy = one_run(pg, Path(tmp), dns.address, k, n, quick, timeout)
            print(f"{k} process{'es' if k > 1 else ''}: {n} letters in {n / rates[k]:.1f} s, "
                  f"{rates[k]:.1f} letters/s; gateway CPU {per_letter[k] * 1000:.0f} ms per letter, "
                  f"{busy:.2f} cores busy", flush=True)
    base = rates.get(1)
    print(f"CPUs on this machine: {cpus}")
    if base:
        for k, rate in rates.items():
            print(f"ratio {k} processes / 1: {rate / base:.2f}x; CPU per letter {k} / 1: "
                  f"{per_letter[k] / per_letter[1]:.2f}x")
        if 3 in rates and not args.smoke:
            ok = rates[3] / base >= 2.5
            print(f"target 3 processes >= 2.5x one: {'met' if ok else 'not met'}"
                  + ("" if ok or cpus >= 3 else f" (only {cpus} CPUs: three processes share them)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
