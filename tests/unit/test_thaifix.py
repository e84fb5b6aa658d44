"""Repairs of Thai text as PDF extractors return it (gateway/core/thaifix.py, issue #19).

Each broken string is what an extractor really gave on the producer corpus (tests/corpus/
producers): pypdf on LibreOffice's and fpdf2's ำ, pypdf and PDFium on Chromium's and the legacy
fonts' Private Use Area forms, PDFium's and pdfminer's mark order and doubling.
"""

from __future__ import annotations

import pytest

from gateway.core.thaifix import (
    damage,
    flaws,
    join_broken_lines,
    junk,
    reorder_marks,
    repair_line,
    repair_page,
)

# (producer and extractor, as read, as the letter prints it)
REPAIRED = [
    # LibreOffice, pypdf: the า glyph has no ToUnicode (its text is /ActualText); the code that
    # follows ำ on the page is that glyph, wherever it stands
    ("libreoffice pypdf", "ที่ ขก ๐๐๑๗.๓/๗๔๕ สำ\x11นักง\x11นจังหวัดขอนแก่น",
     "ที่ ขก ๐๐๑๗.๓/๗๔๕ สำนักงานจังหวัดขอนแก่น"),
    ("libreoffice pypdf", "เรียน ผู้อำ\x11นวยก\x11รโรงพย\x11บ\x11ลศูนย์",
     "เรียน ผู้อำนวยการโรงพยาบาลศูนย์"),
    # fpdf2 (HarfBuzz), pypdf and PDFium: the second glyph of ำ as its raw code
    ("fpdf2 pypdf", "สำ\x0fนักงานเขตพื้นที่การศึกษา", "สำนักงานเขตพื้นที่การศึกษา"),
    ("fpdf2 pypdf", "ผู้อำ2นวยการสำ2นักงานเขตพื้นที่การศึกษา",
     "ผู้อำนวยการสำนักงานเขตพื้นที่การศึกษา"),
    ("fpdf2 pypdf", "สำ&รวจ", "สำรวจ"),
    ("fpdf2 pypdf", "ประจำ.ปี", "ประจำปี"),
    # Chromium, pypdf: lowered tone marks in the PUA, ำ split as ํ + า
    ("chromium pypdf", "เรื่อง การจัดทําแผนปฏิบัติราชการประจําปีงบประมาณ พ.ศ. ๒๕๗๐",
     "เรื่อง การจัดทำแผนปฏิบัติราชการประจำปีงบประมาณ พ.ศ. ๒๕๗๐"),
    ("chromium pypdf", "อ\uf70bางถึง หนังสือกรมบัญชีกลาง ด\uf70aวนที่สุด",
     "อ้างถึง หนังสือกรมบัญชีกลาง ด่วนที่สุด"),
    ("chromium pypdf", "กุมภาพันธ\uf70e ๒๕๖๙", "กุมภาพันธ์ ๒๕๖๙"),
    # legacy Thai font (Word, TH SarabunPSK): shifted-left vowels and marks
    ("pua pypdf", "ประจำป\uf702งบประมาณ", "ประจำปีงบประมาณ"),
    ("pua pypdf", "เพื่อให\uf70bการดำเนินงานเป\uf712นไป", "เพื่อให้การดำเนินงานเป็นไป"),
    ("pua table", "\uf700าน ห\uf70fิง ป\uf701 ก\uf710\uf713น ป\uf718 ป\uf719 ก\uf711\u0e32",
     "ฐาน หญิง ปิ กั่น ปุ ปู กำ"),
    # symbol-encoded Thai font: TIS-620 at U+F0A1-U+F0FB
    ("symbol font", "\uf0a1\uf0c3\uf0c1\uf0ca\uf0c3\uf0c3\uf0be\uf0d2\uf0a1\uf0c3", "กรมสรรพากร"),
    # tone before its vowel, doubled marks (PDFium, pdfminer)
    ("fpdf2 pdfium", "เร\u0e48\u0e37อง", "เรื่อง"),
    ("doubled tone", "ที\u0e35\u0e48\u0e48", "ที่"),
    ("pdfminer", "สำานักงาน", "สำนักงาน"),
    ("split am with tone", "น\u0e4d\u0e49\u0e32", "น\u0e49\u0e33"),
    # fpdf2-13 (Norasi) through PDFium: the tone of ขั้ carried onto พื, which has it twice
    ("tone carried on", "การศึกษาขันพื \u0e49\u0e49นฐาน", "การศึกษาขั้นพื้นฐาน"),
    # clean text stays as it is
    ("clean", "ที่ กค ๐๓๐๕/ว ๘๘ saraban@rd.go.th", "ที่ กค ๐๓๐๕/ว ๘๘ saraban@rd.go.th"),
]


@pytest.mark.parametrize(("case", "read", "printed"), REPAIRED, ids=[r[0] for r in REPAIRED])
def test_repair_page_gives_back_what_the_letter_prints(case: str, read: str, printed: str) -> None:
    assert repair_page(read) == [printed]
    assert not junk(printed) and flaws(printed) == 0


def test_a_control_code_stands_for_sara_aa_only_where_the_page_shows_it_after_am() -> None:
    # on a page without ำ + code, the code is dropped, never guessed
    assert repair_page("ก\x11ข") == ["กข"]
    assert repair_page("ทำ\x11งาน\nก\x11ร") == ["ทำงาน", "การ"]
    assert repair_line("ก\x11ร", {"\x11"}) == "การ"


def test_page_lines_end_at_cr_lf_and_form_feed_and_empty_lines_go() -> None:
    assert repair_page("หนึ่ง\r\nสอง\rสาม\x0c\n  \nสี่ ") == ["หนึ่ง", "สอง", "สาม", "สี่"]


def test_reorder_marks_puts_the_vowel_before_the_tone() -> None:
    assert reorder_marks("ท\u0e48\u0e35") == "ท\u0e35\u0e48"
    assert reorder_marks("ผ\u0e49\u0e39") == "ผ\u0e39\u0e49"
    assert reorder_marks("ส\u0e34\u0e4c") == "ส\u0e34\u0e4c"  # ์ after its vowel stays


# (value, what damage() says): what a register field may never hold
DAMAGE = [
    ("สำนักงานเขตพื้นที่การศึกษาประถมศึกษาขอนแก่น เขต ๓", None),
    ("กค 0305/ว88", None),
    ("ศธ ๐๔๐๔๙/ว ๙๒๘๙", None),
    ("saraban@kkn3.go.th", None),
    ("สำ\x11นักงาน", "มีอักขระแปลกปน"),
    ("สำนัก\ufffdงาน", "มีอักขระแปลกปน"),
    ("อ\uf70bางถึง", "มีอักขระแปลกปน"),
    ("ผู้อำ2นวยการ", "มีอักขระแปลกปนในคำ"),
    ("ประจำ&ปี", "มีอักขระแปลกปนในคำ"),
    ("สำนักงานabcเขต", "มีอักขระแปลกปนในคำ"),
    ("ขันพื \u0e49 \u0e49นฐาน", "มีอักขระแปลกปนในคำ"),  # PDFium: marks with no base
]


@pytest.mark.parametrize(("value", "said"), DAMAGE, ids=[repr(d[0]) for d in DAMAGE])
def test_damage_names_what_no_register_field_may_hold(value: str, said: str | None) -> None:
    assert damage(value) == said
    assert junk(value) == (said is not None)


def test_flaws_count_odd_spelling_as_well_as_junk() -> None:
    assert flaws("เรื่อง") == 0
    assert flaws("เร\u0e48\u0e37อง") == 1  # tone before vowel
    assert flaws("ใ ห้") == 1  # a leading vowel ending a word
    assert flaws("ขันพื \u0e49 \u0e49นฐาน") == 2  # two marks with no base
    assert flaws("สำ\x11นัก") == 1


WORDS = {"บรรลุ", "วัตถุประสงค์", "ภาครัฐ", "ด้วย", "วิธี", "ประชุม", "ให้", "พร้อม", "เรื่อง"}


def _unknown(text: str) -> int:
    """Letters outside WORDS in the best cut of `text` (a stand-in for the dictionary)."""
    best = [0] + [len(text)] * len(text)
    for i in range(1, len(text) + 1):
        best[i] = min([best[i - 1] + 1, *(best[i - len(w)] for w in WORDS
                                             if text[:i].endswith(w))])
    return best[-1]


JOINS = [
    # fpdf2 wraps by width, inside words
    (["บรรลุวัตถุประส", "งค์ จึงขอให้"], ["บรรลุวัตถุประสงค์ จึงขอให้"]),
    (["เอกสารประกอบการประชุมใ", "ห้พร้อม และมอบหมาย"], ["เอกสารประกอบการประชุมให้พร้อม และมอบหมาย"]),
    (["ทำ", "ามนี้"], ["ทำามนี้"]),  # a line cannot begin with า
    # a subject that wraps between words stays two lines; the field reader joins them
    (["เรื่อง ซักซ้อมแนวทางภาครัฐ", "ด้วยวิธี เฉพาะเจาะจง"],
     ["เรื่อง ซักซ้อมแนวทางภาครัฐ", "ด้วยวิธี เฉพาะเจาะจง"]),
    (["saraban@rd.go.th", "ขอแสดงความนับถือ"], ["saraban@rd.go.th", "ขอแสดงความนับถือ"]),
]


@pytest.mark.parametrize(("lines", "joined"), JOINS, ids=[j[0][0] for j in JOINS])
def test_lines_broken_inside_a_word_are_joined(lines: list[str], joined: list[str]) -> None:
    assert join_broken_lines(lines, _unknown) == joined
