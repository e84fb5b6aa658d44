"""The command line as an administrator uses it: real processes, a real SQLite file, exit codes."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.cli.main import main
from tests.dnsserver import DnsServer, quiet_dns
from tests.processes import config_text, write_config

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
# A copy of shared/data/ministries-sample.csv, kept in the repository so that a clone alone runs.
SAMPLE_CSV = REPO / "tests" / "data" / "ministries-sample.csv"

UNITS = """
[[units]]
code = "admin"
name_th = "กลุ่มอำนวยการ"
emails = ["admin@agency.test"]
"""
CONFIG = config_text(UNITS)


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the command in-process (the import cost of a new interpreter is ~1 s here)."""
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    err = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--config", str(cwd / "config.toml"), *args])
    out.seek(0)
    return subprocess.CompletedProcess(list(args), code, out.read(), err.getvalue())


def cli_process(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real console entry point in a new process, as an administrator runs it."""
    env = {**os.environ, "SARABAN_CONFIG": str(cwd / "config.toml")}
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args], cwd=cwd, env=env, capture_output=True,
        text=True, timeout=120,
    )


@pytest.fixture
def site(tmp_path: Path) -> Path:
    # sender authentication asks the tests' in-process DNS server, never the real internet
    write_config(tmp_path / "config.toml", UNITS, dns=quiet_dns())
    r = cli(tmp_path, "db", "upgrade")
    assert r.returncode == 0, r.stderr
    return tmp_path


def test_help_lists_commands_in_thai_and_english() -> None:
    r = subprocess.run([sys.executable, "-m", "gateway", "--help"], capture_output=True, text=True)
    assert r.returncode == 0
    for cmd in ("run", "check", "db", "registers", "reserve", "directory", "audit"):
        assert cmd in r.stdout
    assert "สำรองเลข" in r.stdout and "reserve numbers" in r.stdout


def test_commands_without_migration_say_so(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(CONFIG, encoding="utf-8")
    r = cli(tmp_path, "registers", "list")
    assert r.returncode == 1 and "db upgrade" in r.stderr


def test_reserve_use_export_json_csv_table(site: Path) -> None:
    r = cli(site, "reserve", "--book", "send", "--count", "3", "--unit", "admin", "--note", "รอลงนาม")
    assert r.returncode == 0, r.stderr
    # numbered in the wall clock's Buddhist-era year: the exports below ask for that one
    found = re.search(r"1–3/(\d{4})", r.stdout)
    assert found is not None, r.stdout
    year = found.group(1)
    r = cli(site, "reservations", "use", "--book", "send", "--number", "2",
            "--letter-no", "ศธ 04183/2", "--to", "สพฐ.", "--subject", "ขอเชิญประชุม")
    assert r.returncode == 0, r.stderr
    r = cli(site, "reservations", "use", "--book", "send", "--number", "2", "--subject", "ซ้ำ")
    assert r.returncode == 1 and "not a reserved number" in r.stderr

    r = cli(site, "registers", "export", "--book", "send", "--year", year, "--format", "json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [(e["number"], e["status"]) for e in rows] == [
        (1, "reserved"), (2, "registered"), (3, "reserved")]
    assert list(rows[1]) == ["book", "year", "number", "status", "registered_at", "letter_no",
                             "letter_date", "sender", "recipient", "subject", "action", "remarks",
                             "speed", "secrecy", "channel", "letter_id"]
    assert rows[1]["registered_at"].endswith("+07:00") and rows[1]["subject"] == "ขอเชิญประชุม"

    out = site / "send.csv"
    r = cli(site, "registers", "export", "--book", "send", "--year", year, "--format", "csv",
            "-o", str(out))
    assert r.returncode == 0, r.stderr
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert table[0][:3] == ["วันที่ลงทะเบียน", "เลขทะเบียน", "ที่"]
    assert table[2][1:3] == ["2", "ศธ 04183/2"]

    r = cli(site, "registers", "export", "--book", "send", "--year", year)
    assert r.returncode == 0 and "ขอเชิญประชุม" in r.stdout and "สำรอง" in r.stdout

    r = cli(site, "reservations", "release", "1")
    assert r.returncode == 0 and "1, 3" in r.stdout
    r = cli(site, "registers", "list")
    assert r.returncode == 0 and "send" in r.stdout


@pytest.mark.parametrize("args, message", [
    (("reserve", "--book", "nope", "--count", "2"), "unknown book"),
    (("reserve", "--book", "send", "--count", "0"), "at least 1"),
    (("reserve", "--book", "send", "--count", "-4"), "at least 1"),
    (("reserve", "--book", "send", "--count", "2", "--unit", "ghost"), "no unit"),
    (("reservations", "release", "77"), "no reservation 77"),
    (("registers", "export", "--book", "receive", "--year", "1999"), "out of range"),
    (("registers", "export", "--book", "bogus"), "unknown book"),
    (("registers", "cancel", "--book", "send", "--year", "2569", "--number", "5", "--reason", "x"),
     "does not exist"),
])
def test_bad_input_is_refused_and_changes_nothing(site: Path, args: tuple[str, ...], message: str) -> None:
    before = cli(site, "registers", "export", "--book", "send", "--year", "2569", "--format", "json")
    r = cli(site, *args)
    assert r.returncode == 1
    assert message in r.stderr and "ผิดพลาด" in r.stderr
    after = cli(site, "registers", "export", "--book", "send", "--year", "2569", "--format", "json")
    assert before.stdout == after.stdout
    audit = cli(site, "audit", "verify")
    assert audit.returncode == 0 and "0 entries" in audit.stdout


def test_directory_import_good_and_bad_files(site: Path) -> None:
    r = cli(site, "directory", "import", str(SAMPLE_CSV))
    assert r.returncode == 0, r.stderr
    assert "15 added" in r.stdout
    r = cli(site, "directory", "import", str(SAMPLE_CSV))
    assert "0 added, 0 updated" in r.stdout

    missing = site / "missing.csv"
    missing.write_text("thai_name,central_email\nกรมทดสอบ,a@b.go.th\n", encoding="utf-8")
    r = cli(site, "directory", "import", str(missing))
    assert r.returncode == 1 and "missing column" in r.stderr and "thai_code" in r.stderr

    cp874 = site / "cp874.csv"
    cp874.write_bytes(SAMPLE_CSV.read_bytes().decode("utf-8").encode("cp874"))
    r = cli(site, "directory", "import", str(cp874))
    assert r.returncode == 1 and "not UTF-8" in r.stderr

    badrow = site / "badrow.csv"
    badrow.write_text(
        "thai_name,thai_code,latin_code,central_email,ministry\n"
        "กรมใหม่,ทส,NEW,new@dept.go.th,กระทรวงใหม่\n"
        "กรมเสีย,ทส,BAD,not-an-email,กระทรวงใหม่\n",
        encoding="utf-8",
    )
    r = cli(site, "directory", "import", str(badrow))
    assert r.returncode == 1 and "line 3" in r.stderr
    listing = cli(site, "directory", "list")
    assert "new@dept.go.th" not in listing.stdout  # nothing of the bad file was imported
    assert "saraban@opm.go.th" in listing.stdout


def test_audit_verify_fails_on_a_tampered_row(site: Path) -> None:
    assert cli(site, "reserve", "--book", "receive", "--count", "2").returncode == 0
    assert cli(site, "reservations", "release", "1").returncode == 0
    assert cli(site, "audit", "verify").returncode == 0
    import sqlite3

    con = sqlite3.connect(site / "data" / "saraban.sqlite3")
    con.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 1")
    con.commit()
    con.close()
    r = cli_process(site, "audit", "verify")
    assert r.returncode == 1 and "entry 1 was altered" in r.stderr


def test_bad_config_exits_nonzero_naming_the_key(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(CONFIG.replace('"TEST04183"', '"ทดสอบ"'), encoding="utf-8")
    r = cli_process(tmp_path, "check")
    assert r.returncode == 1 and "agency.latin_code" in r.stderr


def test_check_tries_the_submission_server_setup(site: Path) -> None:
    from gateway.passwords import hash_password

    cfg = (site / "config.toml").read_text(encoding="utf-8") + f"""
[submission]
port = 0
[[submission.users]]
name = "saraban@agency.test"
password_hash = "{hash_password('long enough secret')}"
"""
    (site / "config.toml").write_text(cfg, encoding="utf-8")
    r = cli(site, "check")
    assert r.returncode == 0, r.stdout
    assert "✓ submission" in r.stdout and "ผู้ใช้ 1 ราย" in r.stdout
    assert "ต้องนำเข้า" in r.stdout and "submission.pem" in r.stdout  # what the clerks' clients must trust
    assert (site / "data" / "tls").is_dir()  # the self-signed certificate, made once


def test_check_reports_each_connection(site: Path) -> None:
    r = cli(site, "check")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "✓ database" in r.stdout and "✓ outbox folder" in r.stdout
    assert "✓ submission" in r.stdout and "no users" in r.stdout
    cfg = (site / "config.toml").read_text(encoding="utf-8") + """
[[imap]]
name = "central"
host = "127.0.0.1"
port = 1
user = "saraban@agency.test"
password_env = "SARABAN_TEST_IMAP_PW"
"""
    (site / "config.toml").write_text(cfg, encoding="utf-8")
    r = cli(site, "check")
    assert r.returncode == 1 and "✗ imap central" in r.stdout and "SARABAN_TEST_IMAP_PW" in r.stdout


def test_check_prints_the_authentication_mode_and_whether_dns_answers(site: Path) -> None:
    r = cli(site, "check")
    assert r.returncode == 0, r.stdout
    assert "✓ authentication" in r.stdout and "โหมด enforce" in r.stdout and "DNS ตอบ" in r.stdout
    with DnsServer() as down:
        pass  # started and stopped: its port answers nothing now
    cfg = (site / "config.toml").read_text(encoding="utf-8").replace(quiet_dns(), down.address)
    (site / "config.toml").write_text(cfg + "dns_timeout_seconds = 0.5\n", encoding="utf-8")
    r = cli(site, "check")
    assert r.returncode == 1 and "✗ authentication" in r.stdout and "DNS ไม่ตอบ" in r.stdout
    (site / "config.toml").write_text(cfg + 'dns_timeout_seconds = 0.5\nmode = "monitor"\n',
                                      encoding="utf-8")
    r = cli(site, "check")
    assert "✓ authentication" in r.stdout and "โหมด monitor" in r.stdout and "DNS ไม่ตอบ" in r.stdout
