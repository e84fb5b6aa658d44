"""Progress on long work (issue #21): `ingest --once`, `directory import` and `registers export`
draw a bar with Thai labels and counts when run on a terminal (a pseudo-terminal here), and
print nothing more than before when their output goes to a pipe, or with --quiet."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.app import opened_store
from gateway.config import load_settings
from gateway.service import accept_smtp
from tests.corpus.mail import letter_mail, letter_pdf
from tests.dnsserver import quiet_dns
from tests.integration.test_cli import UNITS, cli
from tests.processes import write_config

pytestmark = pytest.mark.integration

AGENCIES = 1200  # more than one slice of the import (500)


def _env(site: Path) -> dict[str, str]:
    return {**os.environ, "SARABAN_CONFIG": str(site / "config.toml"), "TERM": "xterm-256color",
            "COLUMNS": "120", "LINES": "40", "PYTHONIOENCODING": "utf-8"}


def on_terminal(site: Path, *args: str) -> tuple[int, str]:
    """The command with stdin, stdout and stderr on a pseudo-terminal: all it showed there."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "gateway", *args], cwd=site, env=_env(site),
                            stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    shown = bytearray()
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 120)
            if not ready:
                raise AssertionError(f"no output for 120 s: {shown.decode('utf-8', 'replace')}")
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the command ended and closed the terminal
                break
            if not data:
                break
            shown += data
    finally:
        os.close(master)
        code = proc.wait(timeout=120)
    return code, shown.decode("utf-8", "replace")


def piped(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway", *args], cwd=site, env=_env(site),
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    write_config(tmp_path / "config.toml", UNITS, dns=quiet_dns())
    assert cli(tmp_path, "db", "upgrade").returncode == 0
    rows = [f"กรมทดสอบ {i},ทส {i:04d},TEST{i},saraban{i}@t{i}.go.th,กระทรวงทดสอบ" for i in range(AGENCIES)]
    (tmp_path / "agencies.csv").write_text(
        "thai_name,thai_code,latin_code,central_email,ministry\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return tmp_path


def test_directory_import_shows_progress_on_a_terminal_only(site: Path) -> None:
    code, shown = on_terminal(site, "directory", "import", "agencies.csv")
    assert code == 0, shown
    assert "นำเข้าทะเบียนหน่วยงาน" in shown and f"{AGENCIES}/{AGENCIES}" in shown
    assert f"เพิ่ม {AGENCIES} ปรับปรุง 0" in shown  # every slice written, in one transaction
    # through a pipe (cron, a script): the summary only, as before
    again = piped(site, "directory", "import", "agencies.csv")
    assert again.returncode == 0
    assert again.stdout == (f"นำเข้าแล้ว: เพิ่ม 0 ปรับปรุง 0 จาก {AGENCIES} รายการ\n"
                            f"imported: 0 added, 0 updated, {AGENCIES} rows\n")
    assert "นำเข้าทะเบียนหน่วยงาน" not in again.stderr and "\x1b" not in again.stderr + again.stdout
    # --quiet on a terminal: no bar either
    code, shown = on_terminal(site, "directory", "import", "agencies.csv", "--quiet")
    assert code == 0 and "นำเข้าทะเบียนหน่วยงาน" not in shown and "เพิ่ม 0 ปรับปรุง 0" in shown


async def _letters_waiting(site: Path, n: int) -> None:
    """Letters taken in over SMTP but not yet worked: the backlog `ingest --once` finishes."""
    settings = load_settings(site / "config.toml")
    async with opened_store(settings) as store:
        for i in range(1, n + 1):
            raw = letter_mail(letter_pdf(lines=(f"ที่ ศธ 04010/{i}", "สำนักงานคณะกรรมการการศึกษาขั้นพื้นฐาน",
                                                "วันที่ 2 ธันวาคม 2569", f"เรื่อง ขอเชิญประชุม {i}",
                                                "เรียน ผู้อำนวยการ")),
                              subject=f"ขอเชิญประชุม {i}", filename=f"2569_OBEC_{i}.pdf")
            await accept_smtp(store, raw, "saraban@obec.go.th", ["saraban@agency.test"])


async def test_ingest_once_and_export_show_progress_on_a_terminal(site: Path) -> None:
    await _letters_waiting(site, 3)
    code, shown = on_terminal(site, "ingest", "--once")
    assert code == 0, shown
    assert "หนังสือที่ค้างอยู่" in shown and "3/3" in shown
    assert "ส่งอีเมลออก" in shown  # the acknowledgements, counted as they go
    assert "สรุปการรับหนังสือ" in shown
    code, shown = on_terminal(site, "registers", "export", "--book", "receive",
                              "--format", "csv", "-o", "receive.csv")
    assert code == 0, shown
    entries = (site / "receive.csv").read_bytes().decode("utf-8-sig").count("ขอเชิญประชุม")
    assert entries == 3 and "ส่งออกทะเบียน" in shown and "3/3" in shown
    assert "\x1b" not in (site / "receive.csv").read_text(encoding="utf-8-sig")  # the file is clean
    code, shown = on_terminal(site, "report", "register", "--book", "receive",
                              "--format", "pdf", "-o", "receive.pdf")
    assert code == 0, shown
    assert "ทะเบียน (pdf)" in shown and "3/3" in shown
    assert (site / "receive.pdf").read_bytes().startswith(b"%PDF")


async def test_ingest_once_without_a_terminal_prints_the_summary_only(site: Path) -> None:
    await _letters_waiting(site, 2)
    r = piped(site, "ingest", "--once")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("สรุปการรับหนังสือ (ingest summary):\n")
    assert "หนังสือที่ค้างอยู่" not in r.stdout + r.stderr and "\x1b" not in r.stdout + r.stderr
    exported = piped(site, "registers", "export", "--book", "receive", "--format", "csv")
    assert exported.returncode == 0 and exported.stdout.count("ขอเชิญประชุม") == 2
    assert "ส่งออกทะเบียน" not in exported.stdout + exported.stderr
    assert "\x1b" not in exported.stdout + exported.stderr
    printed = piped(site, "report", "register", "--book", "receive",
                    "--format", "pdf", "-o", "receive.pdf")
    assert printed.returncode == 0, printed.stderr
    assert "ทะเบียน (pdf)" not in printed.stderr and "\x1b" not in printed.stdout + printed.stderr
