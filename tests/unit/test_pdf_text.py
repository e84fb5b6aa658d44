"""Combining the extractors' readings of page 1 (gateway/pdf/text.py, issue #19)."""

from __future__ import annotations

import math

import pytest

from gateway.pdf.text import (
    _across,
    _layout,
    _secrecy_across,
    combine,
    misspelt_share,
    unknown_letters,
)


def test_a_line_is_taken_from_the_reading_that_spells_it_right() -> None:
    # Chromium: PDFium doubles a shaped cluster and misplaces a tone; pypdf gives PUA forms
    pdfium = "ด้วยกรมสรรพากรได้กำหนดจัดประชุมเพื่อชี้แชี้จงแนวทางการ\nขันพื \u0e49 \u0e49นฐาน"
    pypdf = "ด\uf70bวยกรมสรรพากรได\uf70bกําหนดจัดประชุมเพื่อชี้แจงแนวทางการ\nขั้นพื้นฐาน"
    lines, doubt = combine([pdfium, pypdf])
    assert lines == ["ด้วยกรมสรรพากรได้กำหนดจัดประชุมเพื่อชี้แจงแนวทางการ", "ขั้นพื้นฐาน"]
    assert not doubt


def test_two_clean_readings_that_differ_are_in_doubt() -> None:
    _, doubt = combine(["ทำงาน ดี", "ทำ งานดี x"])
    assert doubt


def test_unknown_letters_count_what_the_dictionary_does_not_cover() -> None:
    assert unknown_letters("สำนักงานเขตพื้นที่การศึกษา saraban@obec.go.th") == 0
    assert unknown_letters("ชี้แชี้จง") > unknown_letters("ชี้แจง") == 0


def test_pdfium_made_up_spaces_and_breaks_inside_a_line_are_left_out() -> None:
    box = {"ก": (10.0, 100.0, 16.0, 108.0), "ำ": (16.0, 100.0, 20.0, 108.0),
           "ห": (22.0, 100.0, 28.0, 108.0), "น": (30.0, 100.0, 36.0, 108.0)}
    chars = [("ก", box["ก"], False), ("ำ", box["ำ"], False),
             (" ", (12.0, 100.0, 12.0, 100.0), True),  # made up, over ำ
             ("ห", box["ห"], False),
             ("\r", (28.0, 100.0, 28.0, 100.0), True), ("\n", (28.0, 100.0, 28.0, 100.0), True),
             ("น", box["น"], False),  # same baseline: no new line
             ("\r", (36.0, 100.0, 36.0, 100.0), True), ("\n", (36.0, 100.0, 36.0, 100.0), True),
             ("ด", (10.0, 140.0, 16.0, 148.0), False)]  # drawn last, higher on the page
    assert _layout(chars) == "ด\nกำหน"


def test_chromium_made_up_space_between_words_is_kept_by_the_gap() -> None:
    # chromium-13 "ภาคเรียนที่ ๒": PDFium's made-up space stands over ท (376.4), yet ๒ starts
    # 6 pt right of the cluster: a typed space. Before, the space's own box dropped it.
    chars = [("ท", (376.8, 619.2, 379.4, 627.1), False), ("ี", (379.4, 619.2, 382.0, 627.1), False),
             ("่", (382.0, 619.2, 384.7, 627.1), False), (" ", (376.4, 619.2, 376.4, 619.2), True),
             ("๒", (390.8, 619.2, 398.6, 627.0), False)]
    assert _layout(chars) == "ที่ ๒"


def test_chromium_made_up_space_after_sara_am_is_left_out() -> None:
    # chromium-13 "การสำรวจ": the gap after ำ is its unmapped second glyph (า), not a space
    chars = [("ส", (149.1, 619.1, 152.8, 627.6), False), ("ำ", (152.8, 619.1, 156.6, 627.6), False),
             (" ", (148.3, 619.2, 148.3, 619.2), True), ("ร", (165.4, 619.1, 171.8, 627.1), False)]
    assert _layout(chars) == "สำร"


def test_a_glyph_whose_raw_code_is_cr_does_not_break_the_line() -> None:
    # fpdf2-13 (Norasi): ำ's second glyph comes out of PDFium as a real (not made-up) "\r";
    # it was taken as a line break and the sender read as "สำ"
    chars = [("ส", (301.1, 697.4, 307.9, 706.5), False), ("ำ", (305.7, 707.2, 308.2, 709.9), False),
             ("\r", (309.3, 697.4, 313.9, 706.0), False), ("น", (315.8, 697.3, 324.4, 706.0), False)]
    text = _layout(chars)
    assert "\n" not in text
    assert combine([text])[0] == ["สำน"]


def test_poppler_space_for_sara_am_second_glyph_is_left_out_when_another_reading_lacks_it() -> None:
    # fpdf2-04: PDFium misplaces a tone (flawed), pypdf gives ำ's second glyph as \x10,
    # poppler a space: the line came out `ผู้อำ นวยการ`
    pdfium = "เรียน ผู้อำนวยการโรงพยาบาลศูนย์และโรงพยาบาลทัวไป \u0e48"
    poppler = "เรียน ผู้อำ นวยการโรงพยาบาลศูนย์และโรงพยาบาลทั่วไป"
    lines, _ = combine([pdfium, poppler])
    assert lines == ["เรียน ผู้อำนวยการโรงพยาบาลศูนย์และโรงพยาบาลทั่วไป"]


def test_a_stretched_gap_on_a_justified_line_is_not_a_space() -> None:
    """libreoffice-10 (justified): typed spaces are glyphs about 7 pt wide; PDFium makes up a
    space from a 2.2 pt stretch inside `ปีการศึกษา`. One made-up space between words (4.3 pt,
    after a label) stays."""
    def box(x0: float, x1: float) -> tuple[float, float, float, float]:
        return (x0, 100.0, x1, 109.0)
    chars = [("๒", box(0, 5), False), (" ", box(5, 12), False),  # typed: 7 pt
             ("ป", box(12, 17), False), ("ี", box(15, 17), False),
             (" ", box(17, 19), True),  # made up from a 2.2 pt stretch
             ("ก", box(19.2, 24), False), ("า", box(24, 28), False),
             (" ", box(28, 32), True),  # made up, 4.3 pt: a word gap
             ("ร", box(32.3, 37), False)]
    assert _layout(chars) == "๒ ปีกา ร"
    # without typed spaces on the line there is nothing to compare with: the gap decides alone
    assert _layout([c for c in chars if not (c[0] == " " and not c[2])]) == "๒ปี กา ร"


R = math.pi / 2  # a right angle
# (case, the page's characters, their angles as PDFium gives them, those written across the page)
ACROSS = [
    ("upright text only", "ที่ ศธ", [0.0] * 6, ""),
    ("a tiled watermark at 45 degrees, its breaks too", "เรื่อง ลับ\r\nลับ",
     [0.0] * 7 + [R / 2] * 3 + [0.0, 0.0] + [R / 2] * 3, "ลับ\r\nลับ"),
    ("one word turned up the page among upright lines", "เรียน ท่านลับ",
     [0.0] * 10 + [R] * 3, "ลับ"),
    ("a page whose whole text is turned stays", "ที่ ศธ", [R] * 6, ""),
    ("an OCR layer 3 degrees askew stays", "ที่ ศธ", [math.radians(357)] * 6, ""),
    ("an angle PDFium does not know stays", "ที่ ศธ", [-1.0] * 6, ""),
]


@pytest.mark.parametrize(("case", "text", "angles", "across"), ACROSS, ids=[a[0] for a in ACROSS])
def test_text_across_the_page_is_not_part_of_its_lines(case: str, text: str, angles: list[float],
                                                       across: str) -> None:
    assert "".join(text[i] for i in sorted(_across(text, angles))) == across


# (what is written across the page, the secrecy word the letter is then read with)
SECRECY_ACROSS = [
    ("ลับลับลับ", "ลับ"),  # LibreOffice's tiled watermark: no space between the tiles
    ("ลับ\r\nม\r\nา\r\nก", "ลับมาก"),  # a turned word, broken after each letter
    ("ลับมาก ลับ", "ลับมาก"),  # the highest class
    ("(ลับที่สุด)", "ลับที่สุด"),
    ("ลับ - ห้ามเผยแพร่", "ลับ"),
    ("ปกปิด", "ปกปิด"),  # the lowest class's old name
    ("กลับ", ""),  # a word that holds ลับ is not the mark
    ("ใช้ภายในเท่านั้น", ""),
    ("ปกติ", ""),
    ("", ""),
]


@pytest.mark.parametrize(("text", "word"), SECRECY_ACROSS)
def test_a_secrecy_word_across_the_page_keeps_the_letter_secret(text: str, word: str) -> None:
    assert _secrecy_across(text) == word


PAGE = ("ที่ ศธ ๐๔๐๔๙/๓๕๗ สำนักงานเขตพื้นที่การศึกษาประถมศึกษาขอนแก่น เขต ๓ "
        "เรื่อง ขอให้ดำเนินการรายงานผลการใช้จ่ายงบประมาณ ไตรมาสที่ ๑ "
        "เรียน ผู้อำนวยการโรงเรียนในสังกัด ด้วยสำนักงานได้รับแจ้งจากกระทรวงให้ดำเนินการสำรวจ"
        "ข้อมูลการใช้จ่ายงบประมาณรายจ่ายประจำปีของหน่วยงานในสังกัด จึงขอความร่วมมือรายงานผล "
        "ตามแบบที่แนบมาพร้อมนี้ภายในวันที่กำหนด จึงเรียนมาเพื่อโปรดทราบและดำเนินการต่อไป")


def test_a_page_that_lost_its_vowels_reads_as_misspelt() -> None:
    assert misspelt_share(PAGE) < 0.03
    assert misspelt_share(PAGE.replace("\u0e32", "")) >= 0.05  # every า lost (cairo's reprint)
    assert misspelt_share(PAGE.replace("\u0e32", "")[:150]) == 0.0  # too little to judge
