"""What of a scan's OCR reading may pre-fill a field (gateway/core/extract/ocr.py, #20)."""

from __future__ import annotations

from datetime import date

import pytest

from gateway.core.extract.ocr import extract_from_ocr, ocr_number_in_directory, ocr_ready_text
from gateway.letter import FieldSource

TODAY = date(2026, 3, 1)
HEADER = ("ดวน\n"
          "ท ศธ {no}                       สำนักงานเขตพื้นที่การศึกษามัธยมศึกษาเชียงใหม่\n"
          "a ๐ ๑4 A a a w a\n"
          "ถนนโชตนา ตำบลช้างเผือก อำเภอเมืองเชียงใหม่ จังหวัดเชียงใหม่ 50300\n"
          "{date}\n"
          "เรือง ขอเชิญประชุมคณะกรรมการติดตามผลการดำเนินงาน\n"
          "เรียน ผู้อำนวยการสำนักงานเขตพื้นที่การศึกษา\n")

# (case, ที่ as OCR read it, date as OCR read it, kept letter_no, kept date)
CASES = [
    ("arabic digits are read", "04299/20", "23 กุมภาพันธ์ 2569", "ศธ 04299/20",
     date(2026, 2, 23)),
    ("thai digits are never trusted", "๐๔๒๙๙/๒๐", "๒๓ กุมภาพันธ์ ๒๕๖๙", None, None),
    ("a year far from now is no date", "04299/20", "23 กุมภาพันธ์ 2539", "ศธ 04299/20", None),
]


@pytest.mark.parametrize(("case", "no", "when", "want_no", "want_date"), CASES,
                         ids=[c[0] for c in CASES])
def test_plausible_fields_only(case: str, no: str, when: str, want_no: str | None,
                               want_date: date | None) -> None:
    got = extract_from_ocr(HEADER.format(no=no, date=when), TODAY)
    assert all(f.source == FieldSource.OCR for f in got.values())
    assert (got["letter_no"].value if "letter_no" in got else None) == want_no
    assert (got["letter_date"].value if "letter_date" in got else None) == want_date
    assert got["subject"].value.startswith("ขอเชิญประชุมคณะกรรมการ")


def test_junk_lines_go_and_labels_are_mended() -> None:
    text = ocr_ready_text(HEADER.format(no="๐๔/๑", date="x"))
    assert "a ๐ ๑4" not in text and "?" in text
    assert "\nเรื่อง ขอเชิญ" in text and text.splitlines()[1].startswith("ที่ ศธ")


def test_no_text_and_no_clock_give_nothing_unsure() -> None:
    assert extract_from_ocr("", TODAY) == {}
    assert "letter_date" not in extract_from_ocr(HEADER.format(no="1/1", date="1 มีนาคม 2569"),
                                                 None)


# (case, ที่ as OCR read it, the directory's codes, kept)
DIRECTORY_CASES = [
    ("the agency's own code", "ศธ 04299/20", ["ศธ 04299", "กค 0305"], True),
    ("a sub-unit of a known agency", "ศธ 04299.12/ว 45", ["ศธ 04299"], True),
    ("spaces and dots as OCR puts them", "ศธ0429 9/20", ["ศธ 04299"], True),
    ("a misread digit no agency has", "ศธ 04799/20", ["ศธ 04299", "กค 0305"], False),
    ("another ministry's letters", "กค 0305/ว 88", ["ศธ 04299"], False),
    ("an empty directory checks nothing", "ศธ 04799/20", [], True),
    ("agencies without codes check nothing", "ศธ 04799/20", ["", "  "], True),
]


@pytest.mark.parametrize(("case", "number", "codes", "kept"), DIRECTORY_CASES,
                         ids=[c[0] for c in DIRECTORY_CASES])
def test_an_ocr_number_is_checked_against_the_directory(case: str, number: str, codes: list[str],
                                                        kept: bool) -> None:
    assert ocr_number_in_directory(number, codes) is kept
