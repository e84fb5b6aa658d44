"""Benchmark: sending a circular to N recipient agencies through a local SMTP sink.

Run: .venv/bin/python bench/bench_outbound.py [--n 1000] [--concurrency 8] [--repeat 1]
                                              [--trace-memory] [--tmp-dir DIR] [--smoke]

A circular ([เวียน][ยืนยันผู้รับ]) with a ~1 MB scanned PDF (8 noisy pages) goes to N
agencies, saraban@agency-0001.example.go.th …, all delivered by SMTP (no TLS) to one
aiosmtpd sink on 127.0.0.1. The sink runs in its own process, so its CPU is not charged to
the client's event loop; it keeps nothing but counts (messages, recipients, bytes, a CRC
sum of what it received, its own CPU time), which are checked after every phase.

  record    the gateway takes the submission (`Outbound.accept`) and numbers it
            (`Outbound.process`): register line, files, one recipient and outbox row per
            agency and the clerk's confirmation; timed on its own.
  gateway   the sender as `saraban-gateway send` runs it: SenderLease, then `send_due`
            until nothing is due, with relay.mode = "smtp" and relay.concurrency = C. Each
            mail is composed at delivery from the stored letter and sent over its own
            connection (RelayTransport); every row is claimed, marked in flight and marked
            sent in the SQLite store. Recipients/s = N / send time. The clerk's confirmation
            mail goes out in the same rounds (N + 1 mails, N recipients counted).
  baseline  the same N letter mails, byte for byte (composed ahead by `compose_for` from the
            same outbox rows and held in memory), sent with a bare aiosmtplib loop: C workers,
            one `aiosmtplib.send` (connection) per mail, as the gateway does.

The ratio is gateway recipients/s over baseline mails/s (target >= 0.5). CPU per mail is
printed for the client (all its threads) and the sink: on a 2-core machine the sink takes
about one core, so both phases compete with it and the ratio follows the client CPU per
mail more than the sink's. The first round runs the gateway first, while the process does
not yet hold the baseline's N prepared mails, so its peak RSS growth (VmHWM reset via
/proc/self/clear_refs) is the gateway's own; later rounds (--repeat) alternate the order
and the medians are reported.
--trace-memory adds a separate, slower pass of one more circular under tracemalloc.

--smoke (CI: the benchmark must not rot) runs every step above on a tiny scale: N = 3, C = 2,
a 1-page PDF, 2 rounds (both orders), --trace-memory, and short timeouts. The same figures and
ratio are printed; the target is not checked. Any failure exits non-zero.

Everything talks to 127.0.0.1 only, and the temporary store and the sink process are
removed/stopped on exit, also on error.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiosmtplib  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from gateway.app import Store, make_transport, opened_store  # noqa: E402
from gateway.core.compose import template_env  # noqa: E402
from gateway.outbound.flow import Outbound, submission_message  # noqa: E402
from gateway.outbound.sender import SenderLease, send_due  # noqa: E402
from gateway.store.tables import OutboxItem  # noqa: E402
from tests.conftest import make_settings  # noqa: E402
from tests.corpus.mail import letter_pdf  # noqa: E402

AGENCY_DOMAIN = ".example.go.th"
SINK_DATA_LIMIT = 64 * 2**20
TIMEOUT = 120.0  # one SMTP command; --smoke: SMOKE_TIMEOUT
SMOKE_TIMEOUT = 15.0
SINK_START_TIMEOUT = 60.0

# The sink's shared counters (doubles: exact for these magnitudes).
MSGS, RCPTS, BYTES, CRC, LETTERS, LETTER_BYTES, LETTER_CRC, SINK_CPU = range(8)
FIELDS = 8


# ------------------------------------------------------------------------------------------
# The sink (its own process)
# ------------------------------------------------------------------------------------------


def sink_main(counters: Any, conn: Connection, parent_pid: int) -> None:
    """An aiosmtpd server on 127.0.0.1 that counts what it receives and keeps nothing."""
    import logging

    from aiosmtpd.smtp import SMTP

    logging.disable(logging.WARNING)

    class Counting:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            data = envelope.original_content or b""
            crc = zlib.crc32(data)
            counters[MSGS] += 1
            counters[RCPTS] += len(envelope.rcpt_tos)
            counters[BYTES] += len(data)
            counters[CRC] += crc
            if all(r.lower().endswith(AGENCY_DOMAIN) for r in envelope.rcpt_tos):
                counters[LETTERS] += 1
                counters[LETTER_BYTES] += len(data)
                counters[LETTER_CRC] += crc
            counters[SINK_CPU] = time.process_time()
            return "250 OK"

    async def run() -> None:
        handler = Counting()
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: SMTP(handler, hostname="sink", ident="sink", enable_SMTPUTF8=True,
                         decode_data=False, data_size_limit=SINK_DATA_LIMIT),
            "127.0.0.1", 0)
        conn.send(server.sockets[0].getsockname()[1])
        while os.getppid() == parent_pid:  # stops by itself if the benchmark dies
            await asyncio.sleep(1)
        server.close()

    asyncio.run(run())


@dataclass(frozen=True)
class SinkCounts:
    msgs: int
    rcpts: int
    bytes: int
    crc: int
    letters: int
    letter_bytes: int
    letter_crc: int
    cpu: float

    def __sub__(self, o: SinkCounts) -> SinkCounts:
        return SinkCounts(self.msgs - o.msgs, self.rcpts - o.rcpts, self.bytes - o.bytes,
                          self.crc - o.crc, self.letters - o.letters,
                          self.letter_bytes - o.letter_bytes, self.letter_crc - o.letter_crc,
                          self.cpu - o.cpu)


class Sink:
    def __init__(self, start_timeout: float = SINK_START_TIMEOUT) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.counters = ctx.RawArray("d", FIELDS)
        ours, theirs = ctx.Pipe()
        self.proc = ctx.Process(target=sink_main, args=(self.counters, theirs, os.getpid()),
                                name="bench-outbound-sink", daemon=True)
        self.proc.start()
        theirs.close()
        try:
            if not ours.poll(start_timeout):
                raise EOFError
            self.port: int = ours.recv()
        except (EOFError, OSError):
            self.stop()
            raise SystemExit(f"the SMTP sink did not start within {start_timeout:.0f} s") from None
        finally:
            ours.close()

    def counts(self) -> SinkCounts:
        c = list(self.counters)
        return SinkCounts(int(c[MSGS]), int(c[RCPTS]), int(c[BYTES]), int(c[CRC]), int(c[LETTERS]),
                          int(c[LETTER_BYTES]), int(c[LETTER_CRC]), c[SINK_CPU])

    def stop(self) -> None:
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(10)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(10)


# ------------------------------------------------------------------------------------------
# Measuring
# ------------------------------------------------------------------------------------------


def rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def reset_peak_rss() -> bool:
    """Linux >= 4.0: writing 5 to clear_refs resets VmHWM (the peak RSS) to the current RSS."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@dataclass
class Phase:
    seconds: float
    cpu: float  # this process, all threads
    sink: SinkCounts
    peak_growth_mib: float | None = None


async def timed(sink: Sink, coro: Any, *, memory: bool = False) -> tuple[Any, Phase]:
    before = sink.counts()
    rss0 = rss_kib("VmRSS")
    peak_ok = memory and reset_peak_rss()
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    result = await coro
    took = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    growth = None
    if peak_ok:
        growth = (rss_kib("VmHWM") - rss0) / 1024
    # The sink counts a mail before it answers 250, so the counters are complete here.
    return result, Phase(took, cpu, sink.counts() - before, growth)


@dataclass(frozen=True)
class Prepared:
    sender: str
    recipient: str
    data: bytes


class Bench:
    def __init__(self, store: Store, sink: Sink, n: int, concurrency: int, pdf: Path,
                 timeout: float = TIMEOUT) -> None:
        self.store = store
        self.sink = sink
        self.n = n
        self.c = concurrency
        self.pdf = pdf
        self.timeout = timeout
        self.out = Outbound.build(store, template_env())  # the gateway's, as service.py keeps one
        self.central = store.settings.agency.central_addresses[0]
        self.letters = 0

    def recipients(self, n: int) -> list[str]:
        return [f"saraban@agency-{i:04d}{AGENCY_DOMAIN}" for i in range(1, n + 1)]

    async def record(self, n: int) -> tuple[int, float, int]:
        """A new circular to n agencies, taken in and numbered; (letter id, seconds, raw size)."""
        self.letters += 1
        to = self.recipients(n)
        raw = submission_message(
            pdfs=[self.pdf], to=to, sender=self.central, now=self.store.clock(),
            subject=f"[เวียน][ยืนยันผู้รับ] แจ้งกำหนดการประชุมผู้บริหารสถานศึกษา ครั้งที่ {self.letters}")
        t = time.perf_counter()
        letter_id = await self.out.accept(raw, self.central, to, "bench", channel="cli")
        state = await self.out.process(letter_id)
        took = time.perf_counter() - t
        if state != "queued":
            raise SystemExit(f"the circular was not queued: {state}")
        return letter_id, took, len(raw)

    async def gateway_send(self) -> int:
        lease = SenderLease(self.store)
        if not await lease.take():
            raise SystemExit("could not take the sender lease")
        try:
            transport = make_transport(self.store.settings)
            handled = 0
            while n := await send_due(self.store, transport, composer=self.out.compose_for):
                handled += n
            return handled
        finally:
            await lease.drop()

    async def outbox_rows(self, letter_id: int) -> list[tuple[str, str, dict[str, Any]]]:
        async with self.store.readers() as s:
            rows = (await s.execute(
                select(OutboxItem.envelope_from, OutboxItem.recipient, OutboxItem.recipe)
                .where(OutboxItem.letter_id == letter_id, OutboxItem.kind == "letter")
                .order_by(OutboxItem.id))).all()
        return [(str(a), str(b), dict(c)) for a, b, c in rows]

    async def check_sent(self, letter_id: int) -> None:
        async with self.store.readers() as s:
            counts = dict((await s.execute(
                select(OutboxItem.status, func.count()).where(OutboxItem.letter_id == letter_id)
                .group_by(OutboxItem.status))).all())
        if set(counts) != {"sent"}:
            raise SystemExit(f"letter {letter_id}: outbox not all sent: {counts}")

    async def prepare(self, letter_id: int) -> list[Prepared]:
        """The exact mails the gateway sends for this letter (a separate Outbound: cold cache)."""
        composer = Outbound.build(self.store, template_env())
        return [Prepared(frm, to, await composer.compose_for(recipe))
                for frm, to, recipe in await self.outbox_rows(letter_id)]

    async def baseline_send(self, mails: Sequence[Prepared]) -> int:
        todo = iter(mails)
        sent = 0

        async def worker() -> None:
            nonlocal sent
            for m in todo:
                await aiosmtplib.send(m.data, sender=m.sender, recipients=[m.recipient],
                                      hostname="127.0.0.1", port=self.sink.port, start_tls=False,
                                      use_tls=False, timeout=self.timeout)
                sent += 1

        await asyncio.gather(*(worker() for _ in range(self.c)))
        return sent


def check_phase(name: str, p: Phase, *, letters: int, msgs: int) -> None:
    s = p.sink
    if s.letters != letters or s.msgs != msgs or s.rcpts != msgs:
        raise SystemExit(f"{name}: the sink got {s.msgs} mails ({s.letters} letters, {s.rcpts} "
                         f"recipients); expected {msgs} ({letters} letters)")


def mib(n: float) -> str:
    return f"{n / 2**20:.2f} MiB"


async def run(args: argparse.Namespace, sink: Sink, tmp: Path) -> None:
    n, c, timeout = args.n, args.concurrency, args.timeout
    pdf_bytes = letter_pdf(content="scan", pages=args.pages, scan_noise=True)
    pdf = tmp / "2569_circular.pdf"
    pdf.write_bytes(pdf_bytes)
    settings = make_settings(
        tmp,
        relay={"mode": "smtp", "host": "127.0.0.1", "port": sink.port, "starttls": False,
               "concurrency": c, "timeout_seconds": timeout},
        smtp_listener={"enabled": False},
    )
    async with opened_store(settings, upgrade=True) as store:
        b = Bench(store, sink, n, c, pdf, timeout)
        # Warm-up, not timed: imports, templates, XML schemas, connections, the sink.
        wid, _, _ = await b.record(min(n, 4))
        await b.gateway_send()
        await b.check_sent(wid)
        await b.baseline_send((await b.prepare(wid))[:4])

        print(f"circular to N = {n} agencies, concurrency C = {c}, PDF {len(pdf_bytes):,} bytes "
              f"({mib(len(pdf_bytes))}), store SQLite in {tmp}")
        mails: list[Prepared] = []
        first_crc = 0
        gw: list[Phase] = []
        base: list[Phase] = []
        records: list[float] = []
        for k in range(args.repeat):
            letter_id, rec_s, raw_size = await b.record(n)
            records.append(rec_s)
            if k == 0:
                print(f"submission {raw_size:,} bytes ({mib(raw_size)})")
            gateway_first = k % 2 == 0
            for phase in ("gateway", "baseline") if gateway_first else ("baseline", "gateway"):
                if phase == "gateway":
                    handled, p = await timed(sink, b.gateway_send(), memory=k == 0)
                    await b.check_sent(letter_id)
                    check_phase("gateway", p, letters=n, msgs=n + 1)
                    if handled != n + 1:
                        raise SystemExit(f"gateway handled {handled} rows, expected {n + 1}")
                    if k == 0:
                        first_crc = p.sink.letter_crc
                    gw.append(p)
                else:
                    if not mails:  # composed once, from the first timed letter (not timed)
                        t = time.perf_counter()
                        mails = await b.prepare(letter_id)
                        print(f"prepared {len(mails)} mails of {mib(len(mails[0].data))} for the baseline "
                              f"in {time.perf_counter() - t:.1f} s (not timed)")
                    sent, p = await timed(sink, b.baseline_send(mails))
                    check_phase("baseline", p, letters=n, msgs=n)
                    if sent != n:
                        raise SystemExit(f"baseline sent {sent} mails, expected {n}")
                    if p.sink.letter_crc != first_crc:
                        raise SystemExit("the baseline did not send the gateway's bytes")
                    base.append(p)
            g, bl = gw[-1], base[-1]
            print(f"round {k + 1} ({'gateway first' if gateway_first else 'baseline first'}): "
                  f"record {rec_s:.2f} s; baseline {n / bl.seconds:.1f} mails/s "
                  f"({bl.seconds:.2f} s, cpu {bl.cpu:.2f} s, sink cpu {bl.sink.cpu:.2f} s); "
                  f"gateway {n / g.seconds:.1f} recipients/s ({g.seconds:.2f} s, cpu {g.cpu:.2f} s, "
                  f"sink cpu {g.sink.cpu:.2f} s)")

        base_rate = statistics.median(n / p.seconds for p in base)
        gw_rate = statistics.median(n / p.seconds for p in gw)
        gw_s = statistics.median(p.seconds for p in gw)
        rec_s = statistics.median(records)
        first = gw[0]
        msg_size = first.sink.letter_bytes / n
        label = "" if args.repeat == 1 else f", median of {args.repeat}"
        print(f"\nsending a circular, {n} recipients, C = {c}{label}")
        print(f"   PDF {mib(len(pdf_bytes))}, each mail {mib(msg_size)} as received "
              f"(same bytes in both phases: CRC sums equal)")
        print(f"   sink received per phase: {first.sink.letters} letters, "
              f"{mib(first.sink.letter_bytes)} (gateway also: 1 clerk confirmation)")
        print(f"   baseline (bare aiosmtplib, C workers, a connection per mail): {base_rate:7.1f} mails/s")
        print(f"   gateway  (send_due, compose at delivery, outbox rows):        {gw_rate:7.1f} recipients/s")
        print(f"   ratio gateway/baseline: {gw_rate / base_rate:.2f}  (target >= 0.5)")
        cpu = {k: statistics.median(p.cpu / n for p in v) * 1000 for k, v in (("b", base), ("g", gw))}
        sink_cpu = statistics.median(p.sink.cpu / n for p in base + gw) * 1000
        busy = statistics.median(p.sink.cpu / p.seconds for p in base + gw)
        print(f"   CPU per mail: client baseline {cpu['b']:.1f} ms, client gateway {cpu['g']:.1f} ms, "
              f"sink {sink_cpu:.1f} ms (sink busy {busy:.0%} of the phases' wall time)")
        print(f"   record step (accept + process: number, files, {n} outbox rows): {rec_s:.2f} s")
        print(f"   gateway total, record + send: {rec_s + gw_s:.2f} s "
              f"({n / (rec_s + gw_s):.1f} recipients/s)")
        if first.peak_growth_mib is not None:
            print(f"   peak RSS growth during the gateway send (round 1): {first.peak_growth_mib:.1f} MiB "
                  f"for a {mib(len(pdf_bytes))} PDF x {n} recipients "
                  f"(process peak RSS so far {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB)")
        else:
            print("   peak RSS growth: not available (/proc/self/clear_refs not writable)")
        del mails

        if args.trace_memory:
            letter_id, _, _ = await b.record(n)
            tracemalloc.start()
            tracemalloc.reset_peak()
            base_mem, _ = tracemalloc.get_traced_memory()
            t = time.perf_counter()
            await b.gateway_send()
            took = time.perf_counter() - t
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            await b.check_sent(letter_id)
            print(f"   tracemalloc peak during a gateway send: {mib(peak - base_mem)} above the start "
                  f"({took:.1f} s under tracemalloc, not comparable)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--n", type=int, default=None, help="recipient agencies (default 1000)")
    ap.add_argument("--concurrency", "-c", type=int, default=None,
                    help="mails at once (default 8)")
    ap.add_argument("--repeat", type=int, default=None,
                    help="rounds; medians are reported (default 1)")
    ap.add_argument("--trace-memory", action="store_true",
                    help="one more, slower gateway pass under tracemalloc")
    ap.add_argument("--tmp-dir", type=Path, default=None, help="where the temporary store goes")
    ap.add_argument("--smoke", action="store_true",
                    help="tiny run for CI: N 3, C 2, a 1-page PDF, 2 rounds, --trace-memory, "
                         "short timeouts; every step, no target checked")
    args = ap.parse_args()
    # --smoke: small sizes where none are given, every optional step, short timeouts.
    smoke = args.smoke
    for name, full, tiny in (("n", 1000, 3), ("concurrency", 8, 2), ("repeat", 1, 2)):
        if getattr(args, name) is None:
            setattr(args, name, tiny if smoke else full)
    args.trace_memory = args.trace_memory or smoke
    args.pages = 1 if smoke else 8
    args.timeout = SMOKE_TIMEOUT if smoke else TIMEOUT
    if args.n < 1 or args.repeat < 1 or not 1 <= args.concurrency <= 64:
        ap.error("--n and --repeat must be >= 1, --concurrency 1..64")
    tmp = Path(tempfile.mkdtemp(prefix="bench-outbound-", dir=args.tmp_dir))
    sink = None
    try:
        sink = Sink(SMOKE_TIMEOUT if args.smoke else SINK_START_TIMEOUT)
        asyncio.run(run(args, sink, tmp))
    finally:
        if sink is not None:
            sink.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    import logging

    logging.disable(logging.WARNING)
    main()
