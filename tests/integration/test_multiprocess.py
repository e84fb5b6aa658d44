"""Three gateway processes, one PostgreSQL: the work is shared, nothing is done twice.

Three real `saraban-gateway run` processes share one PostgreSQL database and one data
directory (blobs, outbox folder), each with its own SMTP listener. The test plays the
sending mail servers: 300 distinct letters spread over the three, then 50 pairs of the
same letter sent to two processes at the same moment (the last step of both sessions
released together): 25 pairs of identical bytes, 25 of the same letter with its PDF saved
again (other bytes, the same ที่ and date). A reply 451 is retried, as a real mail server
would; a 5xx is a failure (it bounces a letter that may be stored).
"""

from __future__ import annotations

import asyncio
import os
import re
import smtplib
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gateway.app import opened_store
from gateway.config import load_settings
from gateway.outbound.sender import SENDER_LEASE, FolderTransport, OutboxSender
from gateway.store import audit, leases, outbox
from gateway.store.tables import Letter, OutboxItem, RawMessage, RegisterBook, RegisterEntry
from tests.conftest import add_to_directory, make_settings
from tests.corpus.mail import letter_mail
from tests.corpus.quick import QuickLetters
from tests.dnsserver import quiet_dns
from tests.processes import imap_table, smtp_gateway_config, stop_processes
from tests.servers import free_port

pytestmark = pytest.mark.integration

PROCESSES = 3
DISTINCT = 300
PAIRS = 50
IMAP_PAIRS = 10
SENDER = "saraban@obec.go.th"
TO = "saraban@agency.test"
DEADLINE = 240.0  # seconds: a bound on waiting, never a measure of speed


def _config(tmp: Path, pg_url: str, port: int, name: str, extra: str = "",
            central: str = TO) -> Path:
    """One process's config; every process has the same data directory (the blobs), as on a
    shared volume, and the same database."""
    return smtp_gateway_config(
        tmp / f"{name}.toml", database_url=pg_url, port=port, dns=quiet_dns(), extra=extra,
        central=central, intake="""
stamp_placement = "corner"  # not looking for blank space on the page: not what is tested here
read_processes = 0  # read in the gateway itself: three processes are enough for two cores
""")


@dataclass
class Replies:
    """Every final SMTP reply, per message; the 451s that were retried."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    final: dict[str, tuple[int, str]] = field(default_factory=dict)
    retried: list[tuple[str, int, str]] = field(default_factory=list)
    refused: list[tuple[str, int, str]] = field(default_factory=list)


def _send(port: int, raw: bytes, tag: str, replies: Replies,
          barrier: threading.Barrier | None = None, to: str = TO) -> None:
    """Deliver `raw` as a mail server would: a 4xx is tried again, a 5xx gives up."""
    for _attempt in range(50):
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
            client.ehlo("mx.obec.go.th")
            client.mail(SENDER)
            client.rcpt(to)
            if barrier is not None:
                barrier.wait(timeout=60)  # both copies' DATA at the same moment
                barrier = None  # a retry goes on its own
            try:
                code, text = client.data(raw)
            except smtplib.SMTPDataError as exc:
                code, text = exc.smtp_code, exc.smtp_error
        reply = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        if 400 <= code < 500:
            with replies.lock:
                replies.retried.append((tag, code, reply))
            time.sleep(0.2)
            continue
        with replies.lock:
            if code >= 500:
                replies.refused.append((tag, code, reply))
            replies.final[tag] = (code, reply)
        return
    raise AssertionError(f"{tag}: still refused after 50 attempts")


def _letter_id(reply: str) -> int:
    found = re.search(r"letter (\d+)", reply)
    assert found, reply
    return int(found.group(1))


async def _until(store, what, check, *, timeout: float = DEADLINE) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while True:
        async with store.readers() as s:
            if await check(s):
                return
        if time.monotonic() > end:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        await asyncio.sleep(0.25)


def _start(configs: list[Path], logs: list[Path], cwd: Path,
           env: dict[str, str] | None = None) -> list[subprocess.Popen[bytes]]:
    procs = []
    for cfg, log in zip(configs, logs, strict=True):
        with open(log, "wb") as err:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "gateway", "--config", str(cfg), "run"],
                cwd=cwd, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=err))
    for p in procs:  # the banner: every listener is open
        assert p.stdout is not None and p.stdout.readline(), "a gateway did not start"
    return procs



def _clean_logs(logs: list[Path]) -> None:
    """No process met a deadlock, a unique-key clash or any other failure."""
    for log in logs:
        text = log.read_text(encoding="utf-8", errors="replace")
        assert "Traceback" not in text and "deadlock" not in text.lower(), text[-3000:]


async def test_three_processes_share_one_postgresql(tmp_path: Path, pg_url: str) -> None:
    ports = [free_port() for _ in range(PROCESSES)]
    configs = [_config(tmp_path, pg_url, port, f"gw{i}") for i, port in enumerate(ports)]
    settings = load_settings(configs[0])
    async with opened_store(settings, upgrade=True) as store:
        await add_to_directory(store, SENDER)  # acknowledged: not a stranger
    quick = QuickLetters()
    logs = [tmp_path / f"gw{i}.log" for i in range(PROCESSES)]
    procs = _start(configs, logs, tmp_path)
    try:
        t0 = time.monotonic()

        replies = Replies()
        pairs: dict[str, tuple[bytes, bytes]] = {}
        for k in range(PAIRS):
            n = 1000 + DISTINCT + k
            if k % 2 == 0:  # identical bytes at two listeners
                raw = letter_mail(quick.pdf(n), subject=f"หนังสือฉบับที่ {n}")
                pairs[f"same-{n}"] = (raw, raw)
            else:  # the same letter, its PDF saved again, in another mail
                pairs[f"resaved-{n}"] = (letter_mail(quick.pdf(n), subject=f"หนังสือฉบับที่ {n}"),
                                         letter_mail(quick.resaved(n), subject=f"หนังสือฉบับที่ {n}"))
        with ThreadPoolExecutor(max_workers=8) as pool:
            for k, (tag, (a, b)) in enumerate(pairs.items()):
                barrier = threading.Barrier(2)
                both = [pool.submit(_send, ports[k % PROCESSES], a, f"{tag}/a", replies, barrier),
                        pool.submit(_send, ports[(k + 1) % PROCESSES], b, f"{tag}/b", replies, barrier)]
                for f in both:
                    f.result()
            sent = [pool.submit(_send, ports[i % PROCESSES],
                                letter_mail(quick.pdf(1000 + i), subject=f"หนังสือฉบับที่ {1000 + i}"),
                                f"distinct-{1000 + i}", replies)
                    for i in range(DISTINCT)]
            for f in sent:
                f.result()
        t_sent = time.monotonic()

        # every sender got 250 in the end, none a 5xx; no reply carried database text
        assert replies.refused == []
        assert all(code == 250 for code, _ in replies.final.values())
        for _tag, _code, text in replies.retried:
            assert "Error" not in text and "sql" not in text.lower(), text
        total = DISTINCT + PAIRS
        async with opened_store(settings) as store:
            async def all_decided(s) -> bool:  # type: ignore[no-untyped-def]
                numbered = (await s.execute(select(func.count()).select_from(RegisterEntry))).scalar_one()
                waiting = (await s.execute(select(func.count()).select_from(Letter)
                                           .where(Letter.state == "received"))).scalar_one()
                return numbered >= total and waiting == 0

            await _until(store, f"{total} letters registered", all_decided)
            t_done = time.monotonic()

            async def acks_sent(s) -> bool:  # type: ignore[no-untyped-def]
                return (await s.execute(select(func.count()).select_from(OutboxItem).where(
                    OutboxItem.kind == "ack", OutboxItem.status == "sent"))).scalar_one() >= total

            await _until(store, "every acknowledgement sent", acks_sent)
            print(f"sent in {t_sent - t0:.1f} s, registered after {t_done - t0:.1f} s, "
                  f"acknowledged after {time.monotonic() - t0:.1f} s; 451 retried: {len(replies.retried)}")
            async with store.readers() as s:
                entries = (await s.execute(select(RegisterEntry))).scalars().all()
                letters = (await s.execute(select(Letter))).scalars().all()
                raws = (await s.execute(select(func.count()).select_from(RawMessage))).scalar_one()
                acks = (await s.execute(select(OutboxItem.letter_id, OutboxItem.status)
                                        .where(OutboxItem.kind == "ack"))).all()
                report = await audit.verify(s)
    finally:
        stop_processes(procs)

    # gapless 1..350, no number twice, each letter number of the sender registered exactly once
    assert sorted(e.number for e in entries) == list(range(1, total + 1))
    by_no = Counter(e.letter_no for e in entries)
    assert sorted(by_no) == sorted(f"ศธ 04010/{1000 + i}" for i in range(total))
    assert set(by_no.values()) == {1}
    # one acknowledgement per registered letter, never two, all sent
    assert len(acks) == total and len({a.letter_id for a in acks}) == total
    assert {a.status for a in acks} == {"sent"}
    outbox = list(settings.outbox_path.glob("*-ack.eml"))
    assert len(outbox) == total
    # identical bytes: stored once, and both senders told the same letter
    # saved again: two letters, one numbered, the other linked to it as its duplicate
    state = {x.id: x for x in letters}
    for tag in pairs:
        a, b = _letter_id(replies.final[f"{tag}/a"][1]), _letter_id(replies.final[f"{tag}/b"][1])
        if tag.startswith("same-"):
            assert a == b and state[a].state == "registered", tag
        else:
            assert a != b, tag
            (first,) = [x for x in (state[a], state[b]) if x.state == "registered"]
            (again,) = [x for x in (state[a], state[b]) if x.state == "duplicate"]
            assert again.duplicate_of == first.id, tag
    assert raws == DISTINCT + PAIRS + PAIRS // 2
    assert report.ok  # one audit chain, never forked by the three writers
    _clean_logs(logs)


async def test_same_letter_by_imap_and_smtp_at_two_processes(tmp_path: Path, pg_url: str,
                                                             dovecot) -> None:
    """One process watches the central mailbox, another listens for SMTP; each letter
    reaches both at the same moment (identical bytes, or its PDF saved again): one number,
    the other copy linked to it."""
    user, password = dovecot.new_user("multi")
    imap = imap_table(dovecot, user, "SARABAN_MULTI_IMAP_PASSWORD")
    ports = [free_port(), free_port()]
    configs = [_config(tmp_path, pg_url, ports[0], "imap", imap, central=user),
               _config(tmp_path, pg_url, ports[1], "smtp", central=user)]
    settings = load_settings(configs[0])
    async with opened_store(settings, upgrade=True) as store:
        await add_to_directory(store, SENDER)
    quick = QuickLetters()
    logs = [tmp_path / "imap.log", tmp_path / "smtp.log"]
    procs = _start(configs, logs, tmp_path, {"SARABAN_MULTI_IMAP_PASSWORD": password})
    replies = Replies()
    numbers = range(2000, 2000 + IMAP_PAIRS)
    try:
        async with opened_store(settings) as store:
            async def watched(s) -> bool:  # type: ignore[no-untyped-def]
                return await leases.holder_of(s, name="imap:central", now=store.clock()) is not None

            await _until(store, "the mailbox watched", watched)
            for n in numbers:
                raw = letter_mail(quick.pdf(n), subject=f"หนังสือฉบับที่ {n}", to=user)
                other = raw if n % 2 == 0 else \
                    letter_mail(quick.resaved(n), subject=f"หนังสือฉบับที่ {n}", to=user)
                sending = threading.Thread(target=_send, args=(ports[1], other, str(n), replies),
                                           kwargs={"to": user})
                sending.start()
                dovecot.deliver(user, raw)
                sending.join()

            async def decided(s) -> bool:  # type: ignore[no-untyped-def]
                rows = (await s.execute(select(Letter.state))).scalars().all()
                return len(rows) == 2 * IMAP_PAIRS and "received" not in rows

            await _until(store, "both copies of every letter decided", decided)
            async with store.readers() as s:
                entries = (await s.execute(select(RegisterEntry))).scalars().all()
                letters = (await s.execute(select(Letter))).scalars().all()
                acks = (await s.execute(select(func.count()).select_from(OutboxItem)
                                        .where(OutboxItem.kind == "ack"))).scalar_one()
    finally:
        stop_processes(procs)
    assert replies.refused == [] and all(code == 250 for code, _ in replies.final.values())
    assert sorted(e.number for e in entries) == list(range(1, IMAP_PAIRS + 1))
    assert sorted(e.letter_no for e in entries) == [f"ศธ 04010/{n}" for n in numbers]
    assert acks == IMAP_PAIRS
    registered = {x.letter_no: x.id for x in letters if x.state == "registered"}
    again = [x for x in letters if x.state != "registered"]
    assert len(registered) == IMAP_PAIRS
    assert all(x.state == "duplicate" and x.duplicate_of == registered[x.letter_no] for x in again)
    assert {x.channel for x in letters} == {"imap", "smtp"}
    _clean_logs(logs)


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
async def test_mail_queued_by_another_process_is_sent_without_waiting(tmp_path: Path, db: str,
                                                                      request) -> None:  # type: ignore[no-untyped-def]
    """The sender (lease holder) of one process finds mail another process queued (an
    acknowledgement, `outbox retry`): it does not wait out its idle time."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'store.sqlite3'}" if db == "sqlite" \
        else str(request.getfixturevalue("pg_url"))
    settings = make_settings(tmp_path, url)
    async with opened_store(settings, upgrade=True) as one, opened_store(settings) as other:
        sender = OutboxSender(one, FolderTransport(settings.outbox_path))
        stop, wake = asyncio.Event(), asyncio.Event()
        running = asyncio.create_task(sender.run(stop=stop, wake=wake, idle_seconds=3600))
        try:
            async def holding(s) -> bool:  # type: ignore[no-untyped-def]
                return await leases.holder_of(s, name=SENDER_LEASE, now=one.clock()) is not None

            await _until(other, "the sender holds its lease", holding, timeout=60)
            async with other.sessions.begin() as s:  # the other process: nobody wakes `wake`
                await outbox.enqueue(s, other.blobs, kind="ack", recipient=SENDER, dedupe_key="ack:x",
                                     message=b"Subject: x\r\n\r\nbody\r\n", now=other.clock())

            async def sent(s) -> bool:  # type: ignore[no-untyped-def]
                return (await s.execute(select(OutboxItem.status))).scalar_one() == "sent"

            # an hour of idle time: found by looking again, not by waiting it out
            await _until(other, "the mail sent", sent, timeout=60)
        finally:
            stop.set()
            await running
    assert len(list(settings.outbox_path.glob("*-ack.eml"))) == 1


async def test_processes_starting_together_on_a_fresh_database(tmp_path: Path, pg_url: str) -> None:
    """Three gateways started at the same moment on an empty PostgreSQL: one migrates and
    writes the books and units, the others wait for it and find them (no unique-key clash)."""
    settings = make_settings(tmp_path, pg_url)

    async def start() -> int:
        async with opened_store(settings, upgrade=True) as store, store.readers() as s:
            return (await s.execute(select(func.count()).select_from(RegisterBook))).scalar_one()

    books = await asyncio.gather(*(start() for _ in range(PROCESSES)))
    assert len(set(books)) == 1 and books[0] > 0
