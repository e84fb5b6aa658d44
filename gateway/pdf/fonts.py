"""Thai text in a PDF: the font, pyHanko's OpenType engine made fit for Thai, shaped lines.

Thai is shaped with HarfBuzz through pyHanko's OpenType engine and the font subset is embedded,
so vowels and tone marks sit where a Thai reader expects them on any viewer. The engine here
also maps the glyphs Thai shaping substitutes back to text (ToUnicode), and keeps the compiled
subset of a font for the next document that needs the same glyphs. Used by the receive stamp
(`gateway.pdf.stamp`) and the visible signature (`gateway.pdf.sign`).

CPU-bound (font parsing, shaping, subsetting): call from a thread.
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import os
import re
import shutil
import subprocess
import threading
import zlib
from dataclasses import dataclass
from typing import Any

import uharfbuzz as hb
from fontTools import subset
from fontTools.ttLib import TTFont
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.font.opentype import (
    CIDFontType0,
    GlyphAccumulator,
    GlyphAccumulatorFactory,
    _read_ps_name,
)
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.writer import BasePdfFileWriter

from gateway.errors import ConfigError

__all__ = [
    "BCP47",
    "OT_LANGUAGE",
    "OT_SCRIPT",
    "ShapedLine",
    "ThaiFontFactory",
    "ThaiGlyphAccumulator",
    "default_font_path",
    "read_font",
    "shape_lines",
]

class _ExpectedOfThisFont(logging.Filter):
    """pyHanko warns, for every new font engine, that a CFF font keyed by glyph names (as
    Laksaman is) has no ROS and is taken as Identity: which is what the stamp wants. A warning
    in the log with every stamp would teach the operator to skip warnings."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "No ROS metadata. Assuming identity."


logging.getLogger("pyhanko.pdf_utils.font.opentype").addFilter(_ExpectedOfThisFont())

# Debian's fonts-tlwg-laksaman; fontconfig has no alias for it, so the path is explicit.
_KNOWN_FONT_PATHS = (
    "/usr/share/fonts/opentype/tlwg/Laksaman.otf",
    "/usr/share/fonts/truetype/tlwg/Laksaman.ttf",
    "/usr/local/share/fonts/Laksaman.otf",
)

# OpenType tags for Thai (the language tag is four bytes, space-padded).
OT_SCRIPT = "thai"
OT_LANGUAGE = "THA "
BCP47 = "th"


@functools.lru_cache(maxsize=1)  # fontconfig's answer does not change while we run
def default_font_path() -> str:
    """Laksaman, as fontconfig knows it, or at Debian's install path."""
    fc_match = shutil.which("fc-match")
    if fc_match:
        try:
            found = subprocess.run(
                [fc_match, "-f", "%{file}", "Laksaman"],
                capture_output=True,
                text=True,
                timeout=5,
                check=False,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            found = ""
        # fc-match always answers with *some* font; only take it if it is Laksaman.
        if found and "laksaman" in os.path.basename(found).lower() and os.path.isfile(found):
            return found
    for path in _KNOWN_FONT_PATHS:
        if os.path.isfile(path):
            return path
    raise ConfigError(
        "ไม่พบฟอนต์ Laksaman สำหรับตรารับหนังสือ ติดตั้งแพ็กเกจ fonts-tlwg-laksaman หรือกำหนดไฟล์ฟอนต์เอง",
        "the Laksaman font for the receive stamp is not installed: install "
        "fonts-tlwg-laksaman or configure a TTF/OTF font file",
    )


def read_font(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise ConfigError(
            f"อ่านไฟล์ฟอนต์ {path} ไม่ได้", f"cannot read font file {path}: {exc.strerror}"
        ) from exc
    if data[:4] not in (b"\x00\x01\x00\x00", b"OTTO", b"true"):
        raise ConfigError(
            f"{path} ไม่ใช่ไฟล์ฟอนต์ TrueType/OpenType",
            f"{path} is not a TrueType/OpenType font file",
        )
    return data


# --- font engine ---------------------------------------------------------------------------

# Compiled, compressed font programs by (font, glyph set); a few agencies' stamps at most.
_FONT_PROGRAMS: dict[tuple[str, frozenset[int]], bytes] = {}
_FONT_PROGRAMS_MAX = 16
_FONT_CACHE_LOCK = threading.Lock()
# …and the widths array and compressed ToUnicode map of the same (font, glyph set).
_FONT_EXTRAS: dict[tuple[str, frozenset[int]], tuple[Any, bytes]] = {}


def _type0_font(writer: BasePdfFileWriter, cid: Any, widths: Any, obj_stream: Any) -> Any:
    """pyHanko's _build_type0_font_from_cidfont for horizontal text, widths given."""
    cid.embed(writer, obj_stream=obj_stream)
    cid[pdf_name("/W")] = widths
    cid_ref = writer.add_object(cid, obj_stream=obj_stream)
    return generic.DictionaryObject({
        pdf_name("/Type"): pdf_name("/Font"),
        pdf_name("/Subtype"): pdf_name("/Type0"),
        pdf_name("/DescendantFonts"): generic.ArrayObject([cid_ref]),
        pdf_name("/Encoding"): pdf_name("/Identity-H"),
        pdf_name("/BaseFont"): pdf_name(f"/{cid.name}-Identity-H"),
    })


def _compile_subset(font_bytes: bytes, gids: list[int], retain_gids: bool, full_name: str) -> bytes:
    """The compressed CFF program of `font_bytes` cut down to `gids` (as pyHanko subsets)."""
    tt = TTFont(io.BytesIO(font_bytes))
    options = subset.Options(layout_closure=False)
    options.drop_tables += ["GPOS", "GDEF", "GSUB", "JSTF", "BASE", "FFTM"]
    options.retain_gids = retain_gids
    subsetter = subset.Subsetter(options=options)
    subsetter.populate(gids=gids)
    subsetter.subset(tt)
    cff = tt["CFF "].cff
    cff[0].rawDict["FullName"] = full_name
    buf = io.BytesIO()
    cff.compile(buf, tt)
    return zlib.compress(buf.getvalue())


_UNI_NAME = re.compile(r"^(?:uni((?:[0-9A-F]{4})+)|u([0-9A-F]{4,6}))(?:[._].*)?$")


class ThaiGlyphAccumulator(GlyphAccumulator):
    """pyHanko's engine, plus ToUnicode entries for the glyphs it leaves unmapped.

    pyHanko maps a glyph to text only when the cmap knows it; Thai shaping substitutes
    positional variants ("uni0E49.low") and splits ำ into ํ + า, which the cmap does not
    list for that cluster. Viewers that honour /ActualText are unaffected, but search,
    copy-paste and extractors that read ToUnicode alone (pypdf) would get nothing or
    garbage. The variant's glyph name still says which character it draws.
    """

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        handle = kwargs.get("font_handle")
        self._font_bytes: bytes = handle.getvalue() if isinstance(handle, io.BytesIO) else b""
        super().__init__(*args, **kwargs)
        self.base_postscript_name = _read_ps_name(self.tt)
        # HarfBuzz shapes from the raw font bytes; the fontTools copy only measures and
        # subsets, and pyHanko's subset drops the layout tables anyway. Removing them
        # first spares decompiling them on every stamp: most of the stamp's time.
        for tag in ("GSUB", "GPOS", "GDEF", "JSTF", "BASE", "FFTM"):
            if tag in self.tt:
                del self.tt[tag]
        # Keep the whole font's bounding box in the subset instead of recomputing it by
        # running every CFF charstring: a valid (if loose) /FontBBox, at half the cost.
        self.tt.recalcBBoxes = False

    def rebind(self, writer: BasePdfFileWriter, obj_stream: Any = None) -> None:
        """Use this engine (its parsed font, shaping, glyph set) for another document.

        Parsing the font and shaping the pre-fed glyphs cost more than the rest of a stamp;
        an engine whose previous document is written can serve the next one. Only the
        per-document state is renewed: the writer, the font's object number, the subset
        registration (as FontEngine.__init__ does it).
        """
        fsc = writer.get_subset_collection(self.base_postscript_name)
        fsc.subsets[self.subset_prefix] = self
        self.writer = writer
        self.obj_stream = obj_stream
        self._font_ref = writer.allocate_placeholder()
        self._write_prepared = False

    def prepare_write(self) -> None:
        """pyHanko's prepare_write, with the subset font program reused across documents.

        Subsetting the CFF font and compiling it is most of a stamp's cost, and every stamp of
        one agency uses the same glyphs (the stamp pre-feeds them: STAMP_GLYPH_TEXT), so the
        compiled program is kept per (font, glyph set) and only the small per-document
        objects (widths, ToUnicode) are written anew.
        """
        if self._write_prepared or not isinstance(self.cidfont_obj, CIDFontType0):
            return super().prepare_write()  # type: ignore[no-any-return]
        key = (hashlib.sha256(self._font_bytes).hexdigest(), frozenset(self._glyphs))
        program = _FONT_PROGRAMS.get(key)
        if program is None:
            # Subset a fresh copy: fontTools subsets in place, and this engine's own font
            # must stay whole for the next document it serves.
            program = _compile_subset(self._font_bytes, sorted(self._glyphs),
                                      self.use_raw_gids, f"{self.subset_prefix}+{self.cidfont_obj.name}")
            with _FONT_CACHE_LOCK:  # stamps run in several threads at once
                if len(_FONT_PROGRAMS) >= _FONT_PROGRAMS_MAX:
                    _FONT_PROGRAMS.pop(next(iter(_FONT_PROGRAMS)))
                    _FONT_EXTRAS.clear()
                _FONT_PROGRAMS[key] = program
        self._subset_created = True  # the font program below stands for the subset
        cid = self.cidfont_obj
        extras = _FONT_EXTRAS.get(key)

        def set_font_file(writer: BasePdfFileWriter) -> generic.IndirectObject:
            stream = generic.StreamObject(
                {pdf_name("/Subtype"): pdf_name("/CIDFontType0C"),
                 pdf_name("/Filter"): pdf_name("/FlateDecode")},
                encoded_data=program,
            )
            ref = writer.add_object(stream)
            cid._font_descriptor[pdf_name("/FontFile3")] = ref
            return ref

        cid.set_font_file = set_font_file  # type: ignore[method-assign]
        if extras is None:
            super().prepare_write()
            # Widths and ToUnicode depend on the glyph set only: keep them for the next one.
            with _FONT_CACHE_LOCK:
                _FONT_EXTRAS[key] = (cid["/W"], self._format_tounicode_cmap().encoded_data)
            return None
        widths, to_unicode_data = extras
        type0 = _type0_font(self.writer, cid, widths, self.obj_stream)
        type0[pdf_name("/ToUnicode")] = self.writer.add_object(generic.StreamObject(
            {pdf_name("/Filter"): pdf_name("/FlateDecode")}, encoded_data=to_unicode_data))
        self.writer.add_object(type0, self.obj_stream, idnum=self._font_ref.idnum)
        self._write_prepared = True
        return None

    def shape(self, txt: str, with_actual_text: bool = True):  # type: ignore[no-untyped-def]
        result = super().shape(txt, with_actual_text)
        try:
            self._fill_unmapped()
        except (AttributeError, KeyError):  # private pyHanko state moved: lose only this nicety
            pass
        return result

    def _fill_unmapped(self) -> None:
        mapped = self._cid_to_unicode
        for gid, (cid, _) in self._glyphs.items():
            if gid == 0 or cid in mapped:
                continue
            m = _UNI_NAME.match(self.tt.getGlyphName(gid))
            if m and m.group(1):
                hexes = m.group(1)
                mapped[cid] = "".join(
                    chr(int(hexes[i : i + 4], 16)) for i in range(0, len(hexes), 4)
                )
            elif m:
                mapped[cid] = chr(int(m.group(2), 16))


@dataclass(frozen=True)
class ThaiFontFactory(GlyphAccumulatorFactory):
    """GlyphAccumulatorFactory for Thai: script/language preset, font read into memory
    (pyHanko's own factory leaves the font file open), ToUnicode gaps filled."""

    ot_script_tag: str | None = OT_SCRIPT
    ot_language_tag: str | None = OT_LANGUAGE
    bcp47_lang_code: str | None = BCP47

    def create_font_engine(
        self,
        writer: BasePdfFileWriter,
        obj_stream=None,  # type: ignore[no-untyped-def]
    ) -> ThaiGlyphAccumulator:
        if obj_stream is None and writer.stream_xrefs and self.create_objstream_if_needed:
            obj_stream = writer.prepare_object_stream()
        return ThaiGlyphAccumulator(
            writer=writer,
            font_handle=io.BytesIO(read_font(self.font_file)),
            font_size=self.font_size,
            ot_script_tag=self.ot_script_tag,
            ot_language_tag=self.ot_language_tag,
            writing_direction=self.writing_direction,
            bcp47_lang_code=self.bcp47_lang_code,
            obj_stream=obj_stream,
        )



# --- shaped lines --------------------------------------------------------------------------


@dataclass(frozen=True)
class ShapedLine:
    ops: bytes  # shaped glyph operators from pyHanko
    width: float  # advance, points
    ascent: float  # ink above the baseline, points
    descent: float  # ink below the baseline, points (positive)


def _ink(font: hb.Font, text: str, size: float, upem: int) -> tuple[float, float]:
    """Highest and lowest ink of the shaped line: Thai stacks tone marks over vowels."""
    buf = hb.Buffer()
    buf.add_str(text)
    buf.set_script_from_ot_tag(OT_SCRIPT)
    buf.set_language_from_ot_tag(OT_LANGUAGE)
    buf.guess_segment_properties()
    hb.shape(font, buf)
    top, bottom = 0.0, 0.0
    for info, pos in zip(buf.glyph_infos, buf.glyph_positions, strict=True):
        ext = font.get_glyph_extents(info.codepoint)
        if ext is None:
            continue
        top = max(top, pos.y_offset + ext.y_bearing)
        bottom = min(bottom, pos.y_offset + ext.y_bearing + ext.height)
    return top * size / upem, -bottom * size / upem


def shape_lines(
    engine: GlyphAccumulator, font_bytes: bytes, lines: tuple[str, ...], size: int
) -> list[ShapedLine]:
    engine.font_size = size  # pyHanko computes its Td offsets with this; must equal Tf size
    hb_font = engine.hb_font
    upem = hb_font.face.upem
    # A reused engine remembers its lines (the agency line and the date repeat all day).
    cache: dict[tuple[str, int], ShapedLine] = engine.__dict__.setdefault("_line_cache", {})
    shaped = []
    for text in lines:
        line = cache.get((text, size))
        if line is None:
            result = engine.shape(text)
            ascent, descent = _ink(hb_font, text, size, upem)
            line = ShapedLine(result.graphics_ops, result.x_advance * size, ascent, descent)
            if len(cache) > 256:
                cache.clear()
            cache[(text, size)] = line
        shaped.append(line)
    return shaped
