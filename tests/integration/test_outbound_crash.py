"""kill -9 while a circular is being sent: no agency gets it twice, none is lost.

A real `saraban-gateway send` (then `ingest --once`) process delivers a circular to many
agencies through a real aiosmtpd sink running as a process of its own, and is killed with
SIGKILL at random moments: while numbering, composing, mid-DATA, between the 250 and its
record. After a last clean sweep, the sink's own log is compared with the store: every
recipient has the letter exactly once, except a row the store itself marks `uncertain`
(the process died between the end of DATA and the record of its 250), which has it at most
once and is reported to the clerk instead of being sent again.
"""

from __future__ import annotations

import collections
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gateway.app import opened_store
from gateway.config import load_settings
from gateway.store import audit
from gateway.store.tables import Letter, OutboxItem, RegisterEntry
from tests.corpus.mail import letter_pdf

pytestmark = pytest.mark.integration

KILLS = int(os.environ.get("SARABAN_SEND_CRASH_KILLS", "12"))
RECIPIENTS = [f"saraban@agency-{i:02d}.example.go.th" for i in range(40)]
GATEWAY = [sys.executable, "-m", "gateway.cli.main"]


def _config(tmp: Path, port: int) -> Path:
    cfg = tmp / "config.toml"
    cfg.write_text(f"""
[agency]
name_th = "สำนักงานทดสอบ"
letter_code = "ศธ 04183"
latin_code = "TEST04183"
central_addresses = ["saraban@agency.test"]

[storage]
data_dir = "data"

[smtp_listener]
enabled = false

[submission]
enabled = false

[relay]
mode = "smtp"
host = "127.0.0.1"
port = {port}
starttls = false
concurrency = 4
timeout_seconds = 10

[outbound]
allow_unlisted_recipients = true

[forwarding]
digest = false  # scheduled work off: the daily digest would depend on the hour the test runs

[health]
listen = "127.0.0.1:0"  # gateways side by side in tests: no fixed port
""", encoding="utf-8")
    return cfg


def _sink_log(path: Path) -> list[tuple[str, str, str]]:
    if not path.exists():
        return []
    return [tuple(line.split("\t")) for line in path.read_text(encoding="utf-8").splitlines() if line]  # type: ignore[misc]


async def _letters(cfg: Path) -> int:
    async with opened_store(load_settings(cfg), upgrade=True) as store:
        async with store.readers() as s:
            return int((await s.execute(select(func.count()).select_from(Letter)
                                        .where(Letter.direction == "out"))).scalar_one())


async def test_kill_9_while_sending_a_circular(tmp_path: Path) -> None:
    log = tmp_path / "sink.log"
    sink = subprocess.Popen([sys.executable, "-m", "tests.servers.smtpsink", "--log", str(log),
                             "--delay", "0.01"], stdout=subprocess.PIPE, text=True)
    try:
        assert sink.stdout is not None
        port = int(sink.stdout.readline())
        cfg = _config(tmp_path, port)
        (tmp_path / "letter.pdf").write_bytes(letter_pdf(lines=(
            "ที่ ศธ 04183/", "สำนักงานทดสอบ", "วันที่ 2 ธันวาคม 2569", "เรื่อง แจ้งเวียน")))
        send = [*GATEWAY, "--config", str(cfg), "send", str(tmp_path / "letter.pdf"),
                "--subject", "[เวียน] แจ้งเวียนทดสอบการหยุดกลางคัน"]
        for r in RECIPIENTS:
            send += ["--to", r]
        ingest = [*GATEWAY, "--config", str(cfg), "ingest", "--once"]
        rng = random.Random(20261202)
        kills = 0
        for _ in range(KILLS):
            submitted = await _letters(cfg) > 0
            proc = subprocess.Popen(ingest if submitted else send, cwd=tmp_path,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.4, 3.0))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait(30)
        # the last sweeps run to the end
        if await _letters(cfg) == 0:
            subprocess.run(send, cwd=tmp_path, check=True, capture_output=True, timeout=120)
        for _ in range(2):
            subprocess.run(ingest, cwd=tmp_path, check=True, capture_output=True, timeout=120)
    finally:
        sink.send_signal(signal.SIGTERM)
        sink.wait(10)

    assert kills >= KILLS // 2, "the kills must land while the gateway is working"
    got = collections.Counter(rcpt for rcpt, _, kind in _sink_log(log) if kind == "letter")
    ids = collections.defaultdict(set)
    for rcpt, mid, kind in _sink_log(log):
        if kind == "letter":
            ids[rcpt].add(mid)
    async with opened_store(load_settings(cfg)) as store:
        async with store.readers() as s:
            letters = (await s.execute(select(Letter).where(Letter.direction == "out"))).scalars().all()
            entries = (await s.execute(select(RegisterEntry))).scalars().all()
            rows = {i.recipient: i for i in (await s.execute(
                select(OutboxItem).where(OutboxItem.kind == "letter"))).scalars()}
            reports = (await s.execute(select(func.count()).select_from(OutboxItem).where(
                OutboxItem.kind == "delivery-failed"))).scalar_one()
            assert (await audit.verify(s)).ok
    assert len(letters) == 1 and letters[0].state == "queued"
    assert [(e.number, e.status) for e in entries] == [(1, "registered")]  # one number, no gap
    assert set(rows) == set(RECIPIENTS)
    uncertain = {r for r, i in rows.items() if i.status == "uncertain"}
    for r in RECIPIENTS:
        assert got[r] <= 1, f"{r} got the letter {got[r]} times"
        assert len(ids[r]) <= 1
        if r not in uncertain:
            assert rows[r].status == "sent" and got[r] == 1, f"{r}: {rows[r].status}, delivered {got[r]}"
    assert reports == len(uncertain)  # the clerk is told about each one, once
    print(f"kills={kills} recipients={len(RECIPIENTS)} delivered={sum(got.values())} "
          f"uncertain={len(uncertain)} (of which delivered {sum(got[r] for r in uncertain)})")
