"""The send side from the command line: send, letter show, followup, outbox, passwd."""

from __future__ import annotations

import datetime as dt
import email
import subprocess
import sys
from email import policy
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.clock import system_clock
from gateway.passwords import verify_password
from gateway.thai import be_year_of
from tests.conftest import FakeClock, make_settings
from tests.corpus.mail import letter_pdf
from tests.integration.test_cli import cli
from tests.processes import config_text

pytestmark = pytest.mark.integration

CONFIG = config_text("""
[directory]
file = "agencies.csv"
""")
CSV = ("thai_name,thai_code,latin_code,central_email,ministry\n"
       "กรมทดสอบหนึ่ง,ทส 0001,TEST1,saraban@one.go.th,กระทรวงทดสอบ\n"
       "กรมทดสอบสอง,ทส 0002,TEST2,saraban@two.go.th,กระทรวงทดสอบ\n")


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "config.toml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "agencies.csv").write_text(CSV, encoding="utf-8")
    (tmp_path / "letter.pdf").write_bytes(letter_pdf(lines=(
        "ที่ ศธ 04183/", "สำนักงานทดสอบ", "วันที่ 2 ธันวาคม 2569", "เรื่อง ขอเชิญประชุม")))
    (tmp_path / "enclosure.pdf").write_bytes(letter_pdf())
    assert cli(tmp_path, "db", "upgrade").returncode == 0
    assert cli(tmp_path, "directory", "import", str(tmp_path / "agencies.csv")).returncode == 0
    return tmp_path


def test_send_writes_one_named_mail_per_recipient_and_show_tells_where_it_is(site: Path) -> None:
    # the command reads the wall clock: the name carries the Buddhist-era year of the send
    before = be_year_of(system_clock())
    r = cli(site, "send", str(site / "letter.pdf"), str(site / "enclosure.pdf"),
            "--to", "saraban@one.go.th", "--to", "saraban@two.go.th",
            "--subject", "[ด่วน] ขอเชิญประชุม", "--circular")
    years = {before, be_year_of(system_clock())}
    assert r.returncode == 0, r.stderr
    assert "ศธ 04183/ว1" in r.stdout
    assert any(f"{y}_TEST04183_W1.pdf" in r.stdout for y in years), r.stdout
    outbox = sorted((site / "data" / "outbox").glob("*.eml"))
    letters = [email.message_from_bytes(p.read_bytes(), policy=policy.default) for p in outbox]
    to = sorted(str(m["To"]) for m in letters if m["X-Saraban-Letter-No"])
    assert to == ["saraban@one.go.th", "saraban@two.go.th"]
    shown = cli(site, "letter", "show", "ศธ 04183/ว1")
    assert shown.returncode == 0
    assert "กรมทดสอบหนึ่ง <saraban@one.go.th>: ส่งแล้ว" in shown.stdout
    assert "กรมทดสอบสอง <saraban@two.go.th>: ส่งแล้ว" in shown.stdout
    exported = cli(site, "registers", "export", "--book", "circular", "--format", "csv")
    assert "ส่งแล้ว 2" in exported.stdout and "ขอเชิญประชุม" in exported.stdout


def test_refused_send_exits_1_with_the_reason_and_uses_no_number(site: Path) -> None:
    r = cli(site, "send", str(site / "letter.pdf"), "--to", "nobody@unknown.go.th", "--subject", "ทดสอบ")
    assert r.returncode == 1
    assert "ไม่อยู่ในทะเบียนหน่วยงาน" in r.stderr
    ok = cli(site, "send", str(site / "letter.pdf"), "--to", "nobody@unknown.go.th", "--subject", "ทดสอบ",
             "--confirm-recipients")
    assert ok.returncode == 0 and "ศธ 04183/1" in ok.stdout  # the refused one took no number


def test_followup_lists_unacknowledged_letters_after_working_days(site: Path) -> None:
    assert cli(site, "send", str(site / "letter.pdf"), "--to", "saraban@one.go.th",
               "--subject", "ขอข้อมูล").returncode == 0
    assert "ไม่มีหนังสือค้างตอบรับ" in cli(site, "followup").stdout
    late = cli(site, "followup", "--days", "0")
    assert "ที่ ศธ 04183/1" in late.stdout and "saraban@one.go.th" in late.stdout


def test_followup_skips_weekends_and_thai_holidays(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sent on Friday 4 Dec 2026; Monday 7 Dec is the substitute day of the King's birthday, so
    two working days have passed on Wednesday 9 Dec, not on Tuesday."""
    from contextlib import asynccontextmanager

    from gateway.app import opened_store
    from gateway.cli import letter, send

    clock = FakeClock(dt.datetime(2026, 12, 4, 10, 0, tzinfo=ZoneInfo("Asia/Bangkok")))

    @asynccontextmanager
    async def at_clock(settings):  # type: ignore[no-untyped-def]
        async with opened_store(settings, clock=clock) as store:
            yield store

    monkeypatch.setattr(send, "command_store", at_clock)
    monkeypatch.setattr(letter, "command_store", at_clock)
    assert cli(site, "send", str(site / "letter.pdf"), "--to", "saraban@one.go.th",
               "--subject", "ขอข้อมูล").returncode == 0
    for day, listed in ((7, False), (8, False), (9, True)):
        clock.now = dt.datetime(2026, 12, day, 10, 0, tzinfo=ZoneInfo("Asia/Bangkok"))
        out = cli(site, "followup", "--days", "2").stdout
        assert ("saraban@one.go.th" in out) is listed, (day, out)


def test_outbox_list_and_passwd(site: Path) -> None:
    assert "ไม่มีรายการค้างส่ง" in cli(site, "outbox", "list").stdout
    r = subprocess.run([sys.executable, "-m", "gateway", "--config", str(site / "config.toml"), "passwd"],
                       input="รหัสผ่านใหม่ 2569\n", capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert verify_password("รหัสผ่านใหม่ 2569", r.stdout.strip())
    short = subprocess.run([sys.executable, "-m", "gateway", "--config", str(site / "config.toml"), "passwd"],
                           input="short\n", capture_output=True, text=True, timeout=60)
    assert short.returncode == 1


def test_followup_counts_working_days_with_thai_holidays(tmp_path: Path) -> None:
    from gateway.workcalendar import work_calendar

    cal = work_calendar(make_settings(tmp_path))
    friday = dt.date(2026, 11, 27)
    assert cal.working_days_between(friday, dt.date(2026, 11, 30)) == 1  # Sat, Sun skipped; Monday counts
    assert cal.working_days_between(friday, friday) == 0
    # Monday 7 Dec (substitute for the King's birthday) and Thursday 10 Dec (Constitution Day)
    # come from the `holidays` package, not from a hand-typed list
    assert cal.working_days_between(dt.date(2026, 12, 4), dt.date(2026, 12, 11)) == 3
    extra = work_calendar(make_settings(tmp_path, calendar={"days_off": ["2026-12-09"]}))
    assert extra.working_days_between(dt.date(2026, 12, 4), dt.date(2026, 12, 11)) == 2
