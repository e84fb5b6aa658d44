"""Text for fonts that carry no ToUnicode: recovered from the embedded font program's own cmap.

Some producers (a web e-Saraban's PDF library, a print driver) embed a subset TrueType font as a
Type0/Identity-H font and leave out the ToUnicode CMap that maps its glyphs back to characters;
every extractor then reads page 1 as nothing or as noise (issue #19). The subset font still
holds its own `cmap` table (character → glyph): reversed, and through the font's CIDToGIDMap, it
says which character each code of the content stream draws. `recover_fonts` gives each such font
of page 1 a ToUnicode CMap made so, in a reader's objects in memory, and pypdf's bounded reading
(gateway/pdf/textwork.py) then reads the page, repaired as usual (gateway/pdf/text.py); the PDF's
bytes are never changed.

A glyph the font's cmap does not name (a shaped form: the second half of ำ, a lowered tone mark)
is mapped to U+0011, the control code the repairs in gateway/core/thaifix.py already read as the
missing า after ำ, or drop. Cost is bounded: at most MAX_FONTS fonts of MAX_FONT_BYTES each.
"""

from __future__ import annotations

import io
import logging
from typing import Any

log = logging.getLogger(__name__)

MAX_FONTS = 8
MAX_FONT_BYTES = 4 * 1024 * 1024
UNNAMED = "\x11"  # a glyph with no character of its own (see the module's docstring)

__all__ = ["lacks_tounicode", "recover_fonts", "tounicode_cmap"]


def _type0_fonts(page: Any) -> list[Any]:
    resources = page.get("/Resources")
    fonts = resources.get_object().get("/Font") if resources is not None else None
    if fonts is None:
        return []
    out = []
    for ref in fonts.get_object().values():
        font = ref.get_object()
        if font.get("/Subtype") == "/Type0" and "/ToUnicode" not in font:
            out.append(font)
    return out


def lacks_tounicode(reader: Any) -> bool:
    """Whether page 1 draws with a composite font that has no ToUnicode CMap."""
    try:
        return bool(_type0_fonts(reader.pages[0]))
    except Exception:  # noqa: BLE001 - parser boundary
        return False


def tounicode_cmap(pairs: dict[int, str]) -> bytes:
    """A ToUnicode CMap (two-byte codes) mapping each code to its text."""
    lines = ["/CIDInit /ProcSet findresource begin", "12 dict begin", "begincmap",
             "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
             "/CMapName /Adobe-Identity-UCS def", "/CMapType 2 def",
             "1 begincodespacerange", "<0000> <FFFF>", "endcodespacerange"]
    items = sorted(pairs.items())
    for i in range(0, len(items), 100):  # at most 100 entries a block (PDF reference)
        chunk = items[i:i + 100]
        lines.append(f"{len(chunk)} beginbfchar")
        lines += [f"<{code:04X}> <{''.join(f'{ord(c):04X}' for c in text)}>" for code, text in chunk]
        lines.append("endbfchar")
    lines += ["endcmap", "CMapName currentdict /CMap defineresource pop", "end", "end"]
    return "\n".join(lines).encode("ascii")


def _code_to_glyph(descendant: Any, glyphs: int) -> dict[int, int]:
    """Code (CID, Identity-H) → glyph id, through /CIDToGIDMap (a stream, or Identity)."""
    mapping = descendant.get("/CIDToGIDMap")
    target = mapping.get_object() if mapping is not None else None
    if target is not None and hasattr(target, "get_data"):
        data = target.get_data()[: 2 * 65536]
        return {i // 2: int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data) - 1, 2)}
    return {g: g for g in range(glyphs)}


def _pairs(font: Any) -> dict[int, str] | None:
    from fontTools.ttLib import TTFont

    descendant = font["/DescendantFonts"][0].get_object()
    file = descendant["/FontDescriptor"].get_object().get("/FontFile2")
    if file is None:
        return None
    data = file.get_object().get_data()
    if len(data) > MAX_FONT_BYTES:
        return None
    tt = TTFont(io.BytesIO(data), lazy=True)
    order = tt.getGlyphOrder()
    named: dict[str, int] = {}
    for code_point, glyph in sorted((tt.getBestCmap() or {}).items()):
        named.setdefault(glyph, code_point)
    pairs: dict[int, str] = {}
    for code, gid in _code_to_glyph(descendant, len(order)).items():
        if 0 < gid < len(order):
            cp = named.get(order[gid])
            pairs[code] = chr(cp) if cp is not None else UNNAMED
    return pairs


def recover_fonts(reader: Any) -> int:
    """Give every font of page 1 that lacks a ToUnicode and embeds a TrueType program with a
    cmap one made from that cmap, in `reader`'s objects in memory (read it again afterwards;
    use a reader of its own: nothing else should see the change). How many fonts got one."""
    from pypdf.generic import DecodedStreamObject, NameObject

    done = 0
    try:
        for font in _type0_fonts(reader.pages[0])[:MAX_FONTS]:
            pairs = _pairs(font)
            if not pairs:
                continue
            stream = DecodedStreamObject()
            stream.set_data(tounicode_cmap(pairs))
            font[NameObject("/ToUnicode")] = stream
            done += 1
    except Exception as exc:  # noqa: BLE001 - a font we cannot read leaves the page unread
        log.info("no text recovered from the fonts: %r", exc)
    return done
