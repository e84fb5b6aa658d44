"""Register exports: the documented JSON keys, spreadsheet-friendly CSV, a readable table."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from dataclasses import replace

from gateway.reports.export import (
    JSON_KEYS,
    ExportRow,
    json_end,
    json_items,
    table_head,
    table_rows,
    table_widths,
    to_csv,
    to_json,
    to_record,
    to_table,
)

ROWS = [
    ExportRow("receive", 2569, 1, "registered", dt.datetime(2026, 11, 21, 17, 30, tzinfo=dt.UTC),
              "ศธ 04010/ว1234", dt.date(2026, 11, 18), "สพฐ.", "ผู้อำนวยการ", "ขอเชิญประชุม, \"ด่วน\"",
              "ส่ง กลุ่มอำนวยการ", "", "ด่วนที่สุด", "ปกติ", "smtp", 7),
    ExportRow("receive", 2569, 2, "cancelled", dt.datetime(2026, 11, 22, 2, 0, tzinfo=dt.UTC),
              "", None, "", "", "", "", "", "", "", "", None, cancel_reason="ลงซ้ำ"),
]


def test_json_is_the_documented_format() -> None:
    data = json.loads(to_json(ROWS))
    assert [list(d) for d in data] == [list(JSON_KEYS)] * 2
    first = data[0]
    # 17:30 UTC on 21 Nov is 00:30 on 22 Nov in Bangkok: the local date is what a register shows.
    assert first["registered_at"] == "2026-11-22T00:30:00+07:00"
    assert first["letter_date"] == "2026-11-18" and first["letter_id"] == 7
    assert data[1]["status"] == "cancelled" and data[1]["remarks"] == "ยกเลิก: ลงซ้ำ"
    assert data[1]["letter_date"] is None


def test_csv_has_bom_thai_heads_and_survives_commas_and_quotes() -> None:
    raw = to_csv(ROWS)
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert table[0][0] == "วันที่ลงทะเบียน" and table[0][7] == "การปฏิบัติ"
    assert table[1][0] == "22 พ.ย. 2569" and table[1][3] == "18 พ.ย. 2569"
    assert table[1][6] == "ขอเชิญประชุม, \"ด่วน\"" and table[1][9] == "00:30 น."
    assert table[2][-1] == "ยกเลิก"


def test_table_aligns_thai_columns() -> None:
    lines = to_table(ROWS).splitlines()
    assert "ขอเชิญประชุม" in lines[2] and "ยกเลิก" in lines[3]
    assert len(lines) == 4


MANY = [*ROWS, replace(ROWS[0], number=3, subject="บรรทัด\nใหม่ \x1b[2J \u202e"), *ROWS]


def test_json_in_chunks_is_json_dumps_of_the_whole_list() -> None:
    for rows in ([], ROWS[:1], MANY):
        whole = json.dumps([to_record(r) for r in rows], ensure_ascii=False, indent=2) + "\n"
        assert to_json(rows) == whole
        for cut in range(len(rows) + 1):  # `registers export` writes it a chunk at a time
            a, b = rows[:cut], rows[cut:]
            pieces = "[" + json_items(a) + json_items(b, first=not a) + json_end(bool(rows))
            assert pieces == whole


def test_table_in_chunks_is_the_whole_table() -> None:
    whole = to_table(MANY)
    for cut in range(len(MANY) + 1):
        a, b = MANY[:cut], MANY[cut:]
        widths = table_widths(b, table_widths(a))
        assert table_head(widths) + table_rows(a, widths) + table_rows(b, widths) == whole
    assert to_table([]).count("\n") == 2  # the heads and the rule
