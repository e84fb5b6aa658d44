"""Benchmark: taking in and registering letters from a real Dovecot on loopback.

Run: .venv/bin/python bench/bench_inbound.py [--n 1000] [--latency-samples 30] [--smoke]

1. Throughput. N letters, each with a ~1 MB scanned PDF (10 noisy pages), are delivered
   to a fresh mailbox. Baseline, same run, same messages: only fetch every message with
   aioimaplib and parse it with the email package (walking every part). Gateway: one
   `ingest --once` sweep (fetch, keep raw bytes with fsync, parse, read the PDF, decide,
   register, stamp, move, file the copy, queue the acknowledgement). Both are timed on the
   same mailbox contents; the ratio is gateway letters/s over baseline letters/s.
2. Latency. The gateway runs (`run`, IDLE on INBOX); one letter at a time is delivered by
   LMTP and the time until its register entry exists is measured: median and p95.

--auth: sender authentication with real work to do. A DNS server in this process publishes
SPF, a DKIM key and DMARC p=reject for the sender (obec.go.th); part 1 is run twice in the same
run, on two mailboxes: the letters as above (the gateway's check finds nothing to verify), and
the same letters DKIM-signed (the IMAP path: DKIM + DMARC + ARC). Both ratios against their own
baseline are printed, and the cost per letter of the checks alone (authenticate(), SPF included
as on the SMTP path, sequentially, answers cached as a resolver would).

--smoke (CI: the benchmark must not rot): both parts on a tiny scale, 3 letters with a
2-page PDF and 2 latency samples, short timeouts; the same figures and ratio are printed, the
targets are not checked. Any failure exits non-zero.

Everything talks to 127.0.0.1 only and stops by itself; the working directory and Dovecot are
removed/stopped on exit, also on error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email
import os
import statistics
import sys
import tempfile
import time
from email import policy
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aioimaplib import aioimaplib  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from gateway.app import Store, open_store, opened_store  # noqa: E402
from gateway.service import ingest_once, serve  # noqa: E402
from gateway.store.tables import RegisterEntry  # noqa: E402
from gateway.trust.auth import authenticate  # noqa: E402
from gateway.trust.dns import Resolver  # noqa: E402
from tests.conftest import central_mailbox_settings  # noqa: E402
from tests.corpus.mail import letter_mail, letter_pdf  # noqa: E402
from tests.dnsserver import DnsServer  # noqa: E402
from tests.mailauth import Sender  # noqa: E402
from tests.servers.dovecot import DovecotServer  # noqa: E402
from tests.servers.tls import make_test_pki  # noqa: E402

SENDER = Sender("obec.go.th")
SENDER_IP = "192.0.2.10"


def message(base_pdf: bytes, n: int, *, signed: bool = False) -> bytes:
    pdf = base_pdf + f"\n% letter {n}\n".encode()  # a distinct file per letter
    body = (f"เรียน ผู้อำนวยการ\n\nส่งหนังสือ ที่ ศธ 04010/{n} ลงวันที่ 20 พฤศจิกายน 2569 "
            f"เรื่อง แจ้งการดำเนินงานฉบับที่ {n} มาเพื่อทราบ\n\nขอแสดงความนับถือ\n")
    raw = letter_mail(pdf, subject=f"ที่ ศธ 04010/{n} แจ้งการดำเนินงานฉบับที่ {n}", body=body,
                      filename=f"2569_OBEC_{n}.pdf")
    return SENDER.sign(raw) if signed else raw


async def throughput(server: DovecotServer, settings: object, user: str, password: str, n: int,
                     timeout: float, label: str) -> tuple[float, Store]:
    """Part 1 on one mailbox: the ratio of the gateway's rate to the baseline's."""
    count, base_s = await baseline(server, user, password, timeout)
    if count != n:
        raise SystemExit(f"baseline fetched {count} messages, expected {n}")
    store = await open_store(settings, upgrade=True)  # type: ignore[arg-type]
    t = time.perf_counter()
    summary = await ingest_once(settings, store=store)  # type: ignore[arg-type]
    gw_s = time.perf_counter() - t
    if summary.get("registered") != n:
        await store.close()
        raise SystemExit(f"the gateway registered {summary.get('registered')} of {n} letters: {summary}")
    base_rate, gw_rate = count / base_s, n / gw_s
    print(f"   {label}")
    print(f"     baseline (aioimaplib fetch + email parse): {base_rate:7.1f} letters/s")
    print(f"     gateway  (take in + register + stamp ...): {gw_rate:7.1f} letters/s")
    print(f"     ratio gateway/baseline: {gw_rate / base_rate:.2f}  (target >= 0.5)")
    return gw_rate / base_rate, store


def check_cost(messages: list[bytes], dns: DnsServer) -> float:
    """ms per letter of SPF + DKIM + DMARC (+ ARC when sealed) alone, one after another."""
    resolver = Resolver((dns.address,), timeout_seconds=5)
    t = time.perf_counter()
    for raw in messages:
        v = authenticate(raw, ip=SENDER_IP, helo="mail.obec.go.th", mail_from="saraban@obec.go.th",
                         resolver=resolver, authserv_id="bench")
        if not v.passed:
            raise SystemExit(f"a signed letter did not pass authentication: {v}")
    return (time.perf_counter() - t) / len(messages) * 1000


async def baseline(server: DovecotServer, user: str, password: str,
                   timeout: float) -> tuple[int, float]:
    client = aioimaplib.IMAP4_SSL(host="127.0.0.1", port=server.imaps_port,
                                  ssl_context=server.ssl_context(), timeout=timeout)
    await client.wait_hello_from_server()
    await client.login(user, password)
    await client.select("INBOX")
    t = time.perf_counter()
    uids = (await client.uid_search("ALL")).lines[0].split()
    parts = 0
    for uid in uids:
        resp = await client.uid("fetch", uid.decode(), "(BODY.PEEK[])")
        raw = next(bytes(x) for x in resp.lines if isinstance(x, bytearray))
        msg = email.message_from_bytes(raw, policy=policy.default)
        for part in msg.walk():
            if not part.is_multipart():
                part.get_content()
                parts += 1
    took = time.perf_counter() - t
    await client.logout()
    return len(uids), took


async def wait_registered(store: Store, before: int, task: asyncio.Task[int], t0: float,
                          timeout: float) -> None:
    """Until the register has more than `before` entries; the gateway failing ends the wait."""
    while True:
        async with store.sessions() as s:
            now = (await s.execute(select(func.count()).select_from(RegisterEntry))).scalar_one()
        if now > before:
            return
        if task.done():  # the gateway stopped on its own: its error, not a timeout
            task.result()
            raise SystemExit("the gateway stopped before the letter was registered")
        if time.perf_counter() - t0 > timeout:
            raise SystemExit(f"a letter was not registered within {timeout:.0f} s")
        await asyncio.sleep(0.01)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--n", type=int, default=None, help="letters for the throughput (default 1000)")
    ap.add_argument("--latency-samples", type=int, default=None,
                    help="letters for the latency (default 30)")
    ap.add_argument("--auth", action="store_true",
                    help="sender authentication on: a local DNS server, DKIM-signed letters")
    ap.add_argument("--smoke", action="store_true",
                    help="tiny run for CI: 3 letters, a 2-page PDF, 2 latency samples, short timeouts")
    args = ap.parse_args()
    smoke = args.smoke
    if args.n is None:
        args.n = 3 if smoke else 1000
    if args.latency_samples is None:
        args.latency_samples = 2 if smoke else 30
    if args.n < 1 or args.latency_samples < 1:
        ap.error("--n and --latency-samples must be >= 1")
    timeout = 20.0 if smoke else 60.0  # IMAP commands, the gateway's start and stop
    register_timeout = 15.0 if smoke else 30.0
    base_pdf = letter_pdf(content="scan", pages=2 if smoke else 10, scan_noise=True)
    # Each run keeps a few GB (mail, blobs): removed afterwards, not left in /tmp.
    with tempfile.TemporaryDirectory(prefix="bench-inbound-") as workdir:
        tmp = Path(workdir)
        pki = make_test_pki(tmp / "pki")
        with DovecotServer({}, pki=pki) as server, DnsServer() as dns:
            SENDER.publish(dns, spf=f"v=spf1 ip4:{SENDER_IP} -all", dmarc="v=DMARC1; p=reject")
            # with --auth, a first untimed round on two letters: both timed runs start warm
            runs = ([("warm", True)] if args.auth else []) + [("plain", False)] + \
                ([("auth", True)] if args.auth else [])
            sites = {}
            t = time.perf_counter()
            size = 0
            for name, signed in runs:
                user, password = server.new_user(f"bench{name}")
                os.environ[f"SARABAN_BENCH_{name.upper()}_PASSWORD"] = password
                settings = central_mailbox_settings(
                    tmp / name, server, user, password_env=f"SARABAN_BENCH_{name.upper()}_PASSWORD",
                    poll_seconds=5,
                    # unsigned letters ask the empty test zone (tests/dnsserver.quiet_dns): nothing
                    # to verify; signed ones the sender's records
                    **({"authentication": {"dns_servers": [dns.address]}} if signed else {}),
                )
                sites[name] = (settings, user, password, signed)
                for n in range(1, (2 if name == "warm" else args.n) + 1):
                    raw = message(base_pdf, n, signed=signed)
                    size += len(raw) if name != "warm" else 0
                    server.deliver(user, raw)
            timed = [r for r in runs if r[0] != "warm"]
            print(f"delivered {len(timed)} x {args.n} messages of {size / len(timed) / args.n / 2**20:.2f} "
                  f"MiB each (PDF {len(base_pdf) / 2**20:.2f} MiB) in {time.perf_counter() - t:.1f} s "
                  f"(setup, not timed)")

            print(f"\n1) throughput, {args.n} letters with a {len(base_pdf) / 2**20:.2f} MiB PDF each")
            ratios = {}
            store = None
            if args.auth:
                settings, _, _, _ = sites["warm"]
                async with opened_store(settings, upgrade=True) as warm:
                    await ingest_once(settings, store=warm)
            for name, signed in timed:
                settings, user, password, _ = sites[name]
                if store is not None:
                    await store.close()
                label = ("DKIM-signed, sender publishes SPF/DKIM/DMARC (checks do their work)" if signed
                         else "unsigned letters (the check finds nothing to verify)")
                ratios[name], store = await throughput(server, settings, user, password, args.n,
                                                       timeout, label)
            if args.auth:
                print(f"   ratio with auth / without: {ratios['auth'] / ratios['plain']:.2f}  "
                      "(target >= 0.9)")
                signed_msgs = [message(base_pdf, n, signed=True) for n in range(1, min(args.n, 50) + 1)]
                ms = await asyncio.to_thread(check_cost, signed_msgs, dns)
                print(f"   cost of SPF + DKIM + DMARC per letter, alone: {ms:.1f} ms "
                      f"({len(signed_msgs)} letters, one after another)")
            settings, user, _, _ = sites[runs[-1][0]]
            assert store is not None
            task: asyncio.Task[int] | None = None
            stop = asyncio.Event()
            try:
                # 2) latency with IDLE
                ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
                task = asyncio.create_task(serve(settings, ready=ready, stop=stop, store=store))
                await asyncio.wait({ready, task}, timeout=timeout,
                                   return_when=asyncio.FIRST_COMPLETED)
                if task.done():  # it failed while starting: its error
                    task.result()
                    raise SystemExit("the gateway stopped while starting")
                if not ready.done():
                    raise SystemExit(f"the gateway was not ready within {timeout:.0f} s")
                await asyncio.sleep(0.5 if smoke else 2)  # the watcher logs in and enters IDLE
                latencies: list[float] = []
                for i in range(args.latency_samples):
                    n = args.n + 1 + i
                    raw = message(base_pdf, n, signed=runs[-1][1])
                    async with store.sessions() as s:
                        before = (await s.execute(select(func.count()).select_from(RegisterEntry))).scalar_one()
                    t0 = time.perf_counter()
                    await asyncio.to_thread(server.deliver, user, raw)
                    await wait_registered(store, before, task, t0, register_timeout)
                    latencies.append(time.perf_counter() - t0)
                    await asyncio.sleep(0.1 if smoke else 0.3)
                stop.set()
                await asyncio.wait_for(task, timeout)
                task = None
                latencies.sort()
                p95 = latencies[max(0, int(round(0.95 * len(latencies))) - 1)]
                print(f"\n2) latency LMTP delivery -> registered, IDLE, {len(latencies)} letters")
                print(f"   median {statistics.median(latencies) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
                      f"max {latencies[-1] * 1000:.0f} ms  (target p95 <= 1000 ms)")
            finally:
                if task is not None:  # an error above: stop the gateway before its store closes
                    stop.set()
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                await store.close()


if __name__ == "__main__":
    import logging

    logging.disable(logging.WARNING)
    asyncio.run(main())
