"""Combining the extractors' readings of page 1 (gateway/pdf/text.py, issue #19)."""

from __future__ import annotations

from gateway.pdf.text import _layout, combine, unknown_letters


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
