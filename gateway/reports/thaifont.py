"""A Thai font for fpdf2 whose text layer reads back exactly (pdftotext, copy and paste, search).

fpdf2 shapes Thai with HarfBuzz and maps each glyph back to text for the PDF's ToUnicode map.
Two things go wrong with Thai as fpdf2 2.8 does it: ำ is drawn as two glyphs (ํ and า) and
fpdf2 gives its text to the first, the mark of no width, so the า after it reads as a gap
(``กำ หนด``); and a tone or vowel mark moved left of its consonant reads as a separate word
or in the wrong order (``ปู ่``, ``ทีก ่``). Here each consonant with its marks is one unit: its
text goes on its glyphs that advance (the consonant's, and า of ำ), and marks carry none.

Which font: the configured one ([intake] stamp_font), else the receive stamp's Laksaman
(gateway.pdf.fonts), as TrueType when Debian ships that too (its OpenType/CFF file embeds with
a font-type warning in poppler).
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.fonts import TTFFont

__all__ = ["LineWriter", "ThaiTTFFont", "add_thai_font", "report_font_path"]


def report_font_path(configured: Path | None = None) -> str:
    if configured is not None:
        return str(configured)
    from gateway.pdf.fonts import default_font_path

    path = Path(default_font_path())
    ttf = Path(str(path.parent).replace("/opentype/", "/truetype/")) / (path.stem + ".ttf")
    return str(ttf) if path.suffix.lower() == ".otf" and ttf.is_file() else str(path)


_THAI_MARKS = frozenset("\u0e31\u0e34\u0e35\u0e36\u0e37\u0e38\u0e39\u0e3a"
                        "\u0e47\u0e48\u0e49\u0e4a\u0e4b\u0e4c\u0e4d\u0e4e")


def _is_mark(ch: str) -> bool:
    if ch in _THAI_MARKS:
        return True
    return ch >= "\u0300" and not "\u0e00" <= ch <= "\u0e7f" and unicodedata.category(ch) == "Mn"


def _units(text: str) -> list[str]:
    """A spacing character with the marks after it (ำ is spacing: its า advances)."""
    out: list[str] = []
    for ch in text:
        if out and _is_mark(ch):
            out[-1] += ch
        else:
            out.append(ch)
    return out


def _glyph_texts(text: str, clusters: Sequence[int], advances: Sequence[int]) -> list[str]:
    """The text each shaped glyph stands for in the text layer ('' for a mark).

    ``clusters`` and ``advances`` are HarfBuzz's, glyph by glyph; left-to-right at cluster
    level 1 the clusters never decrease, so the glyphs of a consonant with its marks (a
    cluster, and the clusters after it that begin with a mark) are neighbours.
    """
    n, out = len(clusters), [""] * len(clusters)
    i = 0
    while i < n:
        j = i + 1
        while j < n and (clusters[j] == clusters[j - 1] or _is_mark(text[clusters[j]])):
            j += 1
        part = text[clusters[i]:clusters[j] if j < n else len(text)]
        if j == i + 1:
            out[i] = part
        else:
            units = _units(part)
            advancing = [g for g in range(i, j) if advances[g] > 0]
            if len(advancing) == len(units):
                for g, unit in zip(advancing, units, strict=True):
                    out[g] = unit
            else:
                out[(advancing or [i])[0]] = part
        i = j
    return out


class ThaiTTFFont(TTFFont):
    """fpdf2's TrueType font with the Thai text mapping above (fpdf2 2.8's shape_text, with
    the text of each glyph chosen by ``_glyph_texts``)."""

    __slots__ = ()

    def shape_text(self, text: str, font_size_pt: float,
                   text_shaping_params: dict[str, Any] | None) -> Sequence[dict[str, Any]]:
        if not text:
            return []
        infos, positions = self.perform_harfbuzz_shaping(text, font_size_pt, text_shaping_params)
        texts = _glyph_texts(text, [g.cluster for g in infos], [p.x_advance for p in positions])
        shaped = []
        for gi, pos, unit in zip(infos, positions, texts, strict=True):
            name = self.ttfont.getGlyphName(gi.codepoint)
            width = round(self.scale * self.ttfont["hmtx"].metrics[name][0])
            glyph = self.subset.get_glyph(glyph=gi.codepoint, unicode=tuple(map(ord, unit)),
                                          glyph_name=name, glyph_width=width)
            if glyph is None:
                continue
            shaped.append({
                "mapped_char": self.subset.pick_glyph(glyph),
                "x_advance": pos.x_advance, "y_advance": pos.y_advance,
                "x_offset": pos.x_offset, "y_offset": pos.y_offset,
                "force_positioning": bool(width != pos.x_advance or pos.x_offset
                                          or pos.y_offset or pos.y_advance),
            })
        return shaped


def add_thai_font(pdf: FPDF, family: str, path: str, style: str = "") -> None:
    """``pdf.add_font`` with the Thai text mapping."""
    pdf.add_font(family, style=style, fname=path)
    font = pdf.fonts[family.lower() + style.upper()]
    if type(font) is TTFFont:
        font.__class__ = ThaiTTFFont



class LineWriter:
    """Lines of shaped Thai text written straight into the page, and their widths.

    What ``FPDF.cell`` writes for a line of shaped text (fpdf2 2.8's
    ``Fragment.render_with_text_shaping``), without its bidi and markdown passes, and with
    each glyph's code looked up once per document: cell() took four fifths of the time of a
    10,000-row register. The text of each glyph is chosen as ``ThaiTTFFont`` chooses it.
    """

    def __init__(self, pdf: FPDF) -> None:
        self.pdf = pdf
        self._codes: dict[tuple[int, int, str], tuple[str, int]] = {}
        self._bodies: dict[tuple[int, float, str], str] = {}

    def _font(self) -> TTFFont:
        font = self.pdf.current_font
        assert isinstance(font, TTFFont)
        return font

    def width(self, text: str) -> float:
        """The shaped width of ``text`` in the current font, in the document's units."""
        if not text:
            return 0.0
        font, size = self._font(), self.pdf.font_size_pt
        _, positions = font.perform_harfbuzz_shaping(text, size, None)
        return sum(p.x_advance for p in positions) * font.scale * size / 1000 / self.pdf.k

    def _code(self, font: TTFFont, gid: int, unit: str) -> tuple[str, int]:
        """The glyph's code in the font's subset (escaped for a PDF string) and its advance."""
        key = (font.i, gid, unit)
        code = self._codes.get(key)
        if code is None:
            name = font.ttfont.getGlyphName(gid)
            width = round(font.scale * font.ttfont["hmtx"].metrics[name][0])
            glyph = font.subset.get_glyph(glyph=gid, unicode=tuple(map(ord, unit)),
                                          glyph_name=name, glyph_width=width)
            mapped = font.subset.pick_glyph(glyph) if glyph is not None else None
            code = ("" if mapped is None else font.escape_text(chr(mapped)), width)
            self._codes[key] = code
        return code

    def write(self, x: float, baseline: float, text: str) -> None:
        """One line at ``x`` on ``baseline`` (document units, from the top), in black."""
        pdf, font = self.pdf, self._font()
        if not pdf.current_font_is_set_on_page:
            pdf._out(pdf._set_font_for_page(font, pdf.font_size_pt))
        key = (font.i, pdf.font_size_pt, text)
        body = self._bodies.get(key)
        if body is None:
            body = self._body(font, text)
            if len(self._bodies) >= 4096:  # names and dates repeat; subjects do not
                self._bodies.clear()
            self._bodies[key] = body
        pdf._out(f"q 0 g BT {x * pdf.k:.2f} {(pdf.h - baseline) * pdf.k:.2f} Td {body} ET Q")

    def _body(self, font: TTFFont, text: str) -> str:
        """The line's text operators, relative to its start (so the same line is shaped once)."""
        size = self.pdf.font_size_pt
        scale = font.scale * size / 1000  # font units to points
        infos, positions = font.perform_harfbuzz_shaping(text, size, None)
        advances = [p.x_advance for p in positions]
        texts = _glyph_texts(text, [g.cluster for g in infos], advances)
        ops: list[str] = []
        run, pen = "", 0.0  # points from the line's start
        origin = (0.0, 0.0)  # where the last Td put the line matrix, in rounded points

        def move(tx: float, ty: float, *, pen: bool = False) -> None:
            # Back on the pen, never short of it: a glyph starting a thousandth of a point
            # inside the last one's width reads as a new word to pdftotext.
            nonlocal origin
            to = (math.ceil(tx * 1000) / 1000 if pen else round(tx, 3), round(ty, 3))
            ops.append(f"{to[0] - origin[0]:.3f} {to[1] - origin[1]:.3f} Td")
            origin = to

        marks: list[tuple[float, float, str]] = []  # glyphs that carry no text: drawn last
        off_pen = False  # the viewer's pen is not where HarfBuzz's is
        for gi, pos, unit in zip(infos, positions, texts, strict=True):
            char, width = self._code(font, gi.codepoint, unit)
            if not char:
                continue
            dx, dy = pos.x_offset * scale, pos.y_offset * scale
            if not unit:
                # Drawn after the text, so the text layer reads on without a break: a mark
                # amid the words (the more so one moved left of its consonant) splits them.
                marks.append((pen + dx, dy, char))
                pen += pos.x_advance * scale
                off_pen = off_pen or bool(pos.x_advance)
                continue
            if off_pen or dx or dy:
                if run:
                    ops.append(f"({run}) Tj")
                    run = ""
                move(pen + dx, dy, pen=not (dx or dy))
                off_pen = False
            run += char
            pen += pos.x_advance * scale
            if width != pos.x_advance or dx or dy:
                off_pen = True
        if run:
            ops.append(f"({run}) Tj")
        for x, y, char in marks:
            move(x, y)
            ops.append(f"({char}) Tj")
        return " ".join(ops)
