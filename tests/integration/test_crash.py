"""kill -9 at random points, many times: nothing is lost and nothing is numbered twice.

A real `saraban-gateway run` process watches a real Dovecot mailbox and is
killed with SIGKILL at random moments (during start-up, mid-fetch, mid-record,
mid-stamp, mid-filing), while more letters keep arriving. At the end one clean
sweep runs, and the register is checked against the mailbox.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gateway.app import opened_store
from gateway.config import load_settings
from gateway.service import ingest_once
from gateway.store import audit
from gateway.store.tables import Letter, OutboxItem, RawMessage, RegisterEntry
from tests.conftest import add_to_directory
from tests.corpus.mail import letter_mail, numbered_letter_pdf
from tests.processes import imap_table, write_config

pytestmark = pytest.mark.integration

KILLS = int(os.environ.get("SARABAN_CRASH_KILLS", "14"))


def _config(tmp: Path, dovecot, user: str) -> Path:
    return write_config(tmp / "config.toml", f"""
[smtp_listener]
enabled = false
{imap_table(dovecot, user, "SARABAN_CRASH_IMAP_PASSWORD")}
[intake]
max_auto_mail_per_sender_hour = 1000  # every letter is acknowledged: the rate limit is not tested here
""", central=user)


def _entries(db: Path) -> int:
    if not db.exists():
        return 0
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
        try:
            return int(conn.execute("SELECT count(*) FROM register_entries").fetchone()[0])
        except sqlite3.OperationalError:  # not migrated yet
            return 0


def _wait_for_more_entries(db: Path, *, timeout: float) -> None:
    """Until the running gateway has numbered one more letter (on the monotonic clock: the
    wall clock may be shifted), so that some kills land in the middle of real work however
    fast or slow this machine is."""
    start, end = _entries(db), time.monotonic() + timeout
    while _entries(db) <= start:
        if time.monotonic() > end:
            raise AssertionError(f"the gateway numbered nothing in {timeout} s")
        time.sleep(0.02)


async def test_kill_9_at_random_points_loses_nothing(tmp_path: Path, dovecot, monkeypatch) -> None:
    user, password = dovecot.new_user("crash")
    monkeypatch.setenv("SARABAN_CRASH_IMAP_PASSWORD", password)
    cfg = _config(tmp_path, dovecot, user)
    rng = random.Random(20261122)
    sent_numbers: list[int] = []
    n = 0

    def deliver(k: int) -> None:
        nonlocal n
        for _ in range(k):
            n += 1
            sent_numbers.append(n)
            dovecot.deliver(user, letter_mail(numbered_letter_pdf(n), subject=f"หนังสือฉบับที่ {n}"))

    async with opened_store(load_settings(cfg), upgrade=True) as store:
        await add_to_directory(store, "saraban@obec.go.th")  # acknowledged: not a stranger
    deliver(6)
    dovecot.deliver(user, letter_mail(None, subject="ไม่มีไฟล์หนังสือ"))  # → review
    env = {**os.environ, "SARABAN_CRASH_IMAP_PASSWORD": password}
    kill_times = []
    for i in range(KILLS):
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "--config", str(cfg), "run"],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )
        if i % 3 == 0:  # during start-up: imports, migrations, resume
            delay = rng.uniform(0.3, 2.5)
            time.sleep(delay)
        elif i % 3 == 1:  # in the middle of the work: once it has registered one more letter
            delay = rng.uniform(0.0, 1.0)
            _wait_for_more_entries(tmp_path / "data" / "saraban.sqlite3", timeout=30)
            time.sleep(delay)
        else:  # while it works: measured from the moment it says it is ready
            assert proc.stdout is not None
            proc.stdout.readline()  # the banner's first line
            delay = rng.uniform(0.05, 2.5)
            time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()
        kill_times.append(round(delay, 2))
        deliver(rng.randint(1, 4))

    settings = load_settings(cfg)
    async with opened_store(settings) as store:
        async with store.sessions() as s:
            before = (await s.execute(select(func.count()).select_from(RegisterEntry))).scalar_one()
        # the killed processes did real work (the kills did not all land during start-up)
        assert before > 0, kill_times
        print(f"registered by killed processes: {before} of {len(sent_numbers)}; kills at {kill_times}")
        for _ in range(3):  # the operator's clean sweep after the last crash
            await ingest_once(settings, store=store)
        assert dovecot.message_count(user, "INBOX") == 0
        async with store.sessions() as s:
            entries = (await s.execute(select(RegisterEntry).order_by(RegisterEntry.number))).scalars().all()
            letters = (await s.execute(select(Letter))).scalars().all()
            raws = (await s.execute(select(RawMessage))).scalars().all()
            acks = (await s.execute(select(func.count()).select_from(OutboxItem)
                                    .where(OutboxItem.kind == "ack"))).scalar_one()
            report = await audit.verify(s)
        # gapless, no number twice, every letter exactly once
        assert [e.number for e in entries] == list(range(1, len(sent_numbers) + 1)), kill_times
        registered_nos = sorted(int(e.letter_no.rsplit("/", 1)[1]) for e in entries)
        assert registered_nos == sent_numbers
        assert all(e.letter_id is not None for e in entries)
        # every message that reached the mailbox is kept, byte for byte, and decided
        assert len(raws) == len(sent_numbers) + 1
        for r in raws:
            assert store.blobs.exists(r.sha256)
        assert [x.state for x in letters].count("registered") == len(sent_numbers)
        assert [x.state for x in letters if x.subject == "ไม่มีไฟล์หนังสือ"] == ["review"]
        assert all(x.stamped_at is not None for x in letters if x.state == "registered")
        assert acks == len(sent_numbers)  # one acknowledgement each, never two
        # the clerk's folders hold each original once and one findable copy each
        assert dovecot.message_count(user, "ลงรับแล้ว") == 2 * len(sent_numbers)
        assert dovecot.message_count(user, "รอตรวจสอบ") == 2  # the original and its review copy, once (#21)
        assert report.ok
