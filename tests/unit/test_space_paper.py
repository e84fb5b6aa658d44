"""Stamp placement on scans (issue #20): dust is not ink, grey paper is paper (pure parts)."""

from __future__ import annotations

from gateway.pdf.space import INK, _despeckle, ink_level


def _rows(picture: str) -> list[int]:
    """Pixel rows as gateway.pdf.space makes them: a byte a pixel, 1 = dark."""
    return [int.from_bytes(bytes(1 if c == "#" else 0 for c in ln), "little") for ln in picture.split()]


def _picture(rows: list[int], width: int) -> str:
    return "\n".join("".join("#" if b else "." for b in r.to_bytes(width, "little")) for r in rows)


def test_a_lone_speck_is_dust_and_a_blob_or_a_dot_beside_a_stroke_is_not() -> None:
    before = _rows("""
        ...........#.....
        .##........#.....
        .##........#.#...
        ...........#.....
        .................
        ....###..........
        ....###..........
        ....###..........
    """)
    after = _picture(_despeckle(before), 17).split()
    # the 2 x 2 speck goes; the stroke, the dot one pixel from it and the 3 x 3 blob's rim stay
    assert after[1][1:3] == after[2][1:3] == ".."
    assert all(row[11] == "#" for row in after[:4]) and after[2][13] == "#"
    assert after[5][4:7] == "###" and after[7][4:7] == "###"


def test_paper_level_sets_what_ink_is() -> None:
    white = bytes([255] * 900 + [0] * 100)
    grey = bytes([214] * 900 + [20] * 100)
    dark = bytes([150] * 1000)  # a filled page: not paper, all ink
    assert ink_level(white) == INK
    assert ink_level(grey) == 174  # 40 below the grey paper: its grain is not ink
    assert ink_level(dark) == INK
