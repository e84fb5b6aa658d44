"""The log of a running gateway is one format all through, its reader processes' lines too.

A real `saraban-gateway run` with one reader process takes in a letter whose PDF pypdf warns
about (its startxref points at the wrong place, as PDFs edited by some tools do): the warning
is logged in the reader, a spawned process that starts with no logging of its own, and once
went out as a bare message, not a JSON object, among the JSON lines a collector parses. And
the stamp's own font is not a warning on every letter (pyHanko's "No ROS metadata"), nor
fontTools' subsetting steps at INFO. The reader's lines name the letter they were
written for, as the gateway's own do.
"""

from __future__ import annotations

import json
import re
import smtplib
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.corpus.mail import letter_mail, numbered_letter_pdf
from tests.dnsserver import quiet_dns
from tests.processes import smtp_gateway_config, stop_processes
from tests.servers import free_port

pytestmark = pytest.mark.integration

TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) \S+: ")
DEADLINE = 120.0  # seconds: a bound on waiting, never a measure of speed


def _bad_startxref(pdf: bytes) -> bytes:
    """The PDF with its startxref off by a few bytes: readable, with a warning from pypdf."""
    head, _, tail = pdf.rpartition(b"startxref")
    offset = int(tail.split()[0])
    return head + b"startxref\n" + str(offset + 3).encode() + b"\n%%EOF\n"


def _stamped(db: Path) -> bool:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    except sqlite3.OperationalError:
        return False
    try:
        return bool(conn.execute("SELECT count(*) FROM letters WHERE state = 'registered' "
                                 "AND stamped_at IS NOT NULL").fetchone()[0])
    except sqlite3.OperationalError:  # not made yet
        return False
    finally:
        conn.close()


def _the_letter(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        (letter_id,) = conn.execute("SELECT id FROM letters").fetchone()
        return int(letter_id)
    finally:
        conn.close()


@pytest.mark.parametrize("form", ["json", "text"])
def test_every_line_of_the_log_is_in_the_configured_form(tmp_path: Path, form: str) -> None:
    port = free_port()
    cfg = smtp_gateway_config(tmp_path / "config.toml", database_url="", port=port, dns=quiet_dns(),
                              intake="read_processes = 1", extra=f"""
[logging]
format = "{form}"
level = "INFO"
""")
    pdf = _bad_startxref(numbered_letter_pdf(7))
    err = tmp_path / "stderr.log"
    with open(err, "wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "gateway", "--config", str(cfg), "run"],
                                cwd=tmp_path, stdout=subprocess.PIPE, stderr=sink)
    try:
        assert proc.stdout is not None and proc.stdout.readline(), "the gateway did not start"
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
            client.sendmail("saraban@obec.go.th", ["saraban@agency.test"],
                            letter_mail(pdf, subject="ที่ ศธ 04010/7 ทดสอบ"))
        end = time.monotonic() + DEADLINE
        while not _stamped(tmp_path / "data" / "saraban.sqlite3"):
            assert time.monotonic() < end, err.read_text(encoding="utf-8", errors="replace")[-3000:]
            time.sleep(0.2)
    finally:
        stop_processes([proc])
    lines = [line for line in err.read_text(encoding="utf-8").splitlines() if line.strip()]
    if form == "json":
        parsed = []
        for line in lines:
            try:
                parsed.append(json.loads(line))
            except ValueError:
                pytest.fail(f"not a JSON line: {line!r}")
        loggers = [p["logger"] for p in parsed]
    else:
        for line in lines:
            assert TEXT_LINE.match(line), f"not a log line: {line!r}"
        loggers = [line.split()[3].rstrip(":") for line in lines]
    assert any(name.startswith("pypdf") for name in loggers), lines  # the reader's warning, formatted
    # ...naming the letter it was read for, every one of them
    letter_id = _the_letter(tmp_path / "data" / "saraban.sqlite3")
    if form == "json":
        about = [{k: p[k] for k in ("letter_id", "source_key") if k in p}
                 for p in parsed if p["logger"].startswith("pypdf")]
    else:
        about = [dict(kv.split("=", 1) for kv in line.rpartition(" [")[2].rstrip("]").split())
                 for line, name in zip(lines, loggers, strict=True)
                 if name.startswith("pypdf") and line.endswith("]")]
        about = [{k: int(v) if k == "letter_id" else v for k, v in a.items()} for a in about]
    # over SMTP the letter is recorded first, then read in a worker, then stamped in one
    assert len(about) >= 2 and all(a == {"letter_id": letter_id} for a in about), about
    assert not any(name.startswith("fontTools") for name in loggers), lines
    assert not any("No ROS metadata" in line for line in lines), lines
