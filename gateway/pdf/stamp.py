"""The receive stamp (ตรารับหนังสือ): a clerk's rubber stamp, drawn on page 1 of the
registered copy of a letter (domain.md §4, issue 4).

Effects step of registration: after the receive number is allocated, the pipeline calls
`stamp_receipt` on the main letter's PDF and files the result as the stamped copy that
units receive. The stamp is an incremental update, so the original bytes, and any
signature in them, are a byte-identical prefix of the output; the sender's signatures
must therefore be validated on the original (`gateway.pdf.check.inspect_pdf`) before
stamping.

Thai is shaped with HarfBuzz through pyHanko's OpenType engine and the font subset is
embedded, so vowels and tone marks sit where a Thai reader expects them on any viewer.

CPU-bound (font parsing, shaping, subsetting): call from a thread.
"""

from __future__ import annotations

import functools
import hashlib
import io
import math
import os
import re
import shutil
import subprocess
import threading
import uuid
import zlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
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
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.writer import BasePdfFileWriter

from gateway.errors import ConfigError
from gateway.pdf.opening import CORRUPT, PdfUnreadable, open_pdf_for_update
from gateway.thai import MONTHS_ABBR, format_short_date, format_time, to_thai_digits

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
STAMP_GLYPH_TEXT = (
    "เลขรับ วันที่ เวลา น. 0123456789 ๐๑๒๓๔๕๖๗๘๙ : / - "
    + " ".join(MONTHS_ABBR)
)

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


# --- what the stamp says ---------------------------------------------------------------------


@dataclass(frozen=True)
class ReceiptStamp:
    agency: str  # the receiving agency's name, Thai
    receive_number: int | str  # เลขรับ as allocated in the receive register
    received_at: datetime  # aware; shown in Asia/Bangkok
    thai_digits: bool = True

    def __post_init__(self) -> None:
        if self.received_at.tzinfo is None or self.received_at.utcoffset() is None:
            raise ValueError("received_at must be an aware datetime")

    def lines(self) -> tuple[str, str, str, str]:
        number = str(self.receive_number)
        if self.thai_digits:
            number = to_thai_digits(number)
        return (
            self.agency,
            f"เลขรับ {number}",
            f"วันที่ {format_short_date(self.received_at, thai_digits=self.thai_digits)}",
            f"เวลา {format_time(self.received_at, thai_digits=self.thai_digits)}",
        )


@dataclass(frozen=True)
class TextStamp:
    """Plain text written onto page 1, e.g. the send number into a letter's blank ``ที่ …/``.
    ``agency`` names the extra glyphs the font subset must hold (as for the receive stamp)."""

    text: tuple[str, ...]
    agency: str = "ว"

    def lines(self) -> tuple[str, ...]:
        return self.text


class Corner(StrEnum):
    TOP_RIGHT = "top-right"
    TOP_LEFT = "top-left"
    BOTTOM_RIGHT = "bottom-right"
    BOTTOM_LEFT = "bottom-left"


@dataclass(frozen=True)
class StampStyle:
    """Where and how the stamp is drawn. Lengths are PDF points (1/72 in) on the page
    as the reader sees it, i.e. after /Rotate."""

    corner: Corner = Corner.TOP_RIGHT
    margin_x: float = 28.0  # from the left or right edge of the visible page
    margin_y: float = 28.0  # from the top or bottom edge
    width: float | None = None  # None: as wide as the text needs, within min/max_width
    height: float | None = None  # None: as tall as the four lines need
    min_width: float = 150.0
    max_width: float = 230.0
    font_path: str | None = None  # None: Laksaman (default_font_path)
    font_size: int = 14
    leading: float | None = None  # baseline to baseline; None: 1.4 × font_size for Thai marks
    padding: float = 6.0
    border_width: float = 1.0
    # Stamp-pad blue; dark enough to photocopy and to read in greyscale.
    color: tuple[float, float, float] = (0.05, 0.15, 0.55)
    page: int = 0

    def __post_init__(self) -> None:
        if self.font_size <= 0 or self.padding < 0 or self.border_width < 0:
            raise ValueError("font_size must be positive, padding and border_width not negative")
        if (self.width is not None and self.width <= 0) or (
            self.height is not None and self.height <= 0
        ):
            raise ValueError("width and height must be positive")


# --- geometry -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageFrame:
    """The visible page: crop box in user space and the clockwise /Rotate."""

    x0: float
    y0: float
    w: float  # crop box width in user space
    h: float
    rotate: int  # 0, 90, 180 or 270

    @property
    def shown_size(self) -> tuple[float, float]:
        return (self.h, self.w) if self.rotate in (90, 270) else (self.w, self.h)

    def matrix(self, x: float, y: float) -> tuple[float, float, float, float, float, float]:
        """`cm` operands that put a form's origin at (x, y) of the page as shown, upright.

        /Rotate turns the page clockwise for display (ISO 32000-2 §7.7.3.3), so the
        form is turned the other way in user space.
        """
        if self.rotate == 90:
            return (0, 1, -1, 0, self.x0 + self.w - y, self.y0 + x)
        if self.rotate == 180:
            return (-1, 0, 0, -1, self.x0 + self.w - x, self.y0 + self.h - y)
        if self.rotate == 270:
            return (0, -1, 1, 0, self.x0 + y, self.y0 + self.h - x)
        return (1, 0, 0, 1, self.x0 + x, self.y0 + y)


def _inherited(page: generic.DictionaryObject, key: str) -> generic.PdfObject | None:
    """Page attributes that ISO 32000-2 Table 31 lets a /Pages ancestor supply."""
    node: generic.PdfObject | None = page
    for _ in range(64):  # page trees are shallow; a loop means a broken file
        if not isinstance(node, generic.DictionaryObject):
            return None
        if key in node:
            return node[key]
        node = node.get("/Parent")
    return None


def _box(value: generic.PdfObject | None) -> tuple[float, float, float, float] | None:
    if not isinstance(value, generic.ArrayObject):
        return None
    try:
        x1, y1, x2, y2 = (float(v) for v in value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)) or x1 == x2 or y1 == y2:
        return None
    return min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)


def page_frame(page: generic.DictionaryObject) -> PageFrame:
    media = _box(_inherited(page, "/MediaBox")) or (0.0, 0.0, 595.28, 841.89)
    crop = _box(_inherited(page, "/CropBox")) or media
    # The visible area is the crop box clipped to the media box (ISO 32000-2 §14.11.2).
    x1, y1 = max(crop[0], media[0]), max(crop[1], media[1])
    x2, y2 = min(crop[2], media[2]), min(crop[3], media[3])
    if x2 <= x1 or y2 <= y1:
        x1, y1, x2, y2 = media
    try:
        rotate = int(_inherited(page, "/Rotate") or 0) % 360  # type: ignore[arg-type]
    except (TypeError, ValueError):
        rotate = 0
    if rotate % 90:
        rotate = 0
    return PageFrame(x1, y1, x2 - x1, y2 - y1, rotate)


# --- drawing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Line:
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


def _shape_lines(
    engine: GlyphAccumulator, font_bytes: bytes, lines: tuple[str, ...], size: int
) -> list[_Line]:
    engine.font_size = size  # pyHanko computes its Td offsets with this; must equal Tf size
    hb_font = engine.hb_font
    upem = hb_font.face.upem
    # A reused engine remembers its lines (the agency line and the date repeat all day).
    cache: dict[tuple[str, int], _Line] = engine.__dict__.setdefault("_line_cache", {})
    shaped = []
    for text in lines:
        line = cache.get((text, size))
        if line is None:
            result = engine.shape(text)
            ascent, descent = _ink(hb_font, text, size, upem)
            line = _Line(result.graphics_ops, result.x_advance * size, ascent, descent)
            if len(cache) > 256:
                cache.clear()
            cache[(text, size)] = line
        shaped.append(line)
    return shaped


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


_ENGINES = threading.local()  # per thread: an engine is used by one document at a time


def _engine(writer: BasePdfFileWriter, font_bytes: bytes, size: int,
            agency: str) -> ThaiGlyphAccumulator:
    """This thread's engine for the font, size and agency, bound to `writer`."""
    obj_stream = writer.prepare_object_stream() if writer.stream_xrefs else None
    cache: dict[tuple[str, int, str], ThaiGlyphAccumulator] = getattr(_ENGINES, "cache", None) or {}
    _ENGINES.cache = cache
    key = (hashlib.sha256(font_bytes).hexdigest(), size, agency)
    engine = cache.get(key)
    if engine is not None:
        engine.rebind(writer, obj_stream)
        return engine
    engine = ThaiGlyphAccumulator(
        writer=writer,
        font_handle=io.BytesIO(font_bytes),
        font_size=size,
        ot_script_tag=OT_SCRIPT,
        ot_language_tag=OT_LANGUAGE,
        bcp47_lang_code=BCP47,
        obj_stream=obj_stream,
    )
    # Every glyph any stamp of this agency can need, so the embedded subset (and its cached
    # font program) is the same whatever the number, date and time.
    engine.shape(f"{agency} {STAMP_GLYPH_TEXT}", with_actual_text=False)
    if isinstance(engine.cidfont_obj, CIDFontType0):  # TrueType fonts are subset destructively
        if len(cache) >= 8:
            cache.pop(next(iter(cache)))
        cache[key] = engine
    return engine


def _stamp_form(
    writer: BasePdfFileWriter, stamp: ReceiptStamp | TextStamp, style: StampStyle, font_bytes: bytes
) -> tuple[generic.IndirectObject, float, float]:
    """The stamp as a form XObject; returns it with its width and height."""
    size = style.font_size
    engine = _engine(writer, font_bytes, size, stamp.agency)
    lines = _shape_lines(engine, font_bytes, stamp.lines(), size)
    leading = style.leading if style.leading is not None else 1.4 * size
    ascent = max(max(ln.ascent for ln in lines), 0.75 * size)
    descent = max(max(ln.descent for ln in lines), 0.25 * size)
    nat_w = max(ln.width for ln in lines)
    nat_h = ascent + leading * (len(lines) - 1) + descent

    inset = style.padding + style.border_width
    if style.width is not None:
        box_w = style.width
    else:
        box_w = min(style.max_width, max(style.min_width, nat_w + 2 * inset))
    box_h = style.height if style.height is not None else nat_h + 2 * inset
    inner_w, inner_h = box_w - 2 * inset, box_h - 2 * inset
    if inner_w <= 0 or inner_h <= 0:
        raise ConfigError(
            "กรอบตรารับหนังสือเล็กเกินไป", "the receive stamp box is too small for its padding"
        )
    # A box set too low shrinks all lines; a line too long for the box (a long agency
    # name) shrinks alone. The text never spills over the border.
    v_scale = min(1.0, inner_h / nat_h)
    top = box_h - inset - (inner_h - v_scale * nat_h) / 2

    r, g, b = style.color
    ops = [b"q %g %g %g RG %g %g %g rg" % (r, g, b, r, g, b)]
    if style.border_width:
        half = style.border_width / 2
        ops.append(
            b"%g w %g %g %g %g re S"
            % (
                style.border_width,
                half,
                half,
                box_w - style.border_width,
                box_h - style.border_width,
            )
        )
    for i, ln in enumerate(lines):
        scale = min(v_scale, inner_w / ln.width) if ln.width else v_scale
        # The agency's name is centred like the top of a rubber stamp; the fields below
        # start at the left edge, where the clerk's pen would fill them in.
        x = inset + (inner_w - scale * ln.width) / 2 if i == 0 else inset
        y = top - v_scale * (ascent + i * leading)
        ops.append(b"BT /FTH %d Tf %g 0 0 %g %g %g Tm %s ET" % (size, scale, scale, x, y, ln.ops))
    ops.append(b"Q")

    form = generic.StreamObject(
        {
            pdf_name("/Type"): pdf_name("/XObject"),
            pdf_name("/Subtype"): pdf_name("/Form"),
            pdf_name("/BBox"): generic.ArrayObject(
                generic.FloatObject(v) for v in (0, 0, box_w, box_h)
            ),
            pdf_name("/Resources"): generic.DictionaryObject(
                {
                    pdf_name("/Font"): generic.DictionaryObject(
                        {pdf_name("/FTH"): engine.as_resource()}
                    )
                }
            ),
        },
        stream_data=b"\n".join(ops),
    )
    form.compress()
    return writer.add_object(form), box_w, box_h


def _position(style: StampStyle, frame: PageFrame, w: float, h: float) -> tuple[float, float]:
    shown_w, shown_h = frame.shown_size
    right = style.corner in (Corner.TOP_RIGHT, Corner.BOTTOM_RIGHT)
    top = style.corner in (Corner.TOP_RIGHT, Corner.TOP_LEFT)
    x = shown_w - style.margin_x - w if right else style.margin_x
    y = shown_h - style.margin_y - h if top else style.margin_y
    return x, y


def _own_contents(writer: IncrementalPdfFileWriter, page_ix: int) -> None:
    """Give page 1 a /Contents array of its own before the stamp is appended to it.

    A blank page may have no /Contents at all (legal), and a page may share an indirect
    /Contents array with other pages; appending to that shared array would stamp every
    page that uses it. A fresh array listing the same streams changes neither case's
    look and confines the stamp to this page.
    """
    page_ref, _ = writer.find_page_for_modification(page_ix)
    page = page_ref.get_object()
    contents = page.raw_get("/Contents") if "/Contents" in page else None
    if isinstance(contents, generic.IndirectObject):
        target = contents.get_object()
        if isinstance(target, generic.StreamObject):
            return  # pyHanko wraps a single stream in a new array itself
        streams = list(target) if isinstance(target, generic.ArrayObject) else []
    elif isinstance(contents, generic.ArrayObject):
        return  # a direct array belongs to this page alone
    else:
        streams = []
    page[pdf_name("/Contents")] = writer.add_object(generic.ArrayObject(streams))
    writer.mark_update(page_ref)


def _draw(
    writer: IncrementalPdfFileWriter, stamp: ReceiptStamp | TextStamp, style: StampStyle, font: bytes
) -> None:
    page_count = int(writer.root["/Pages"]["/Count"])
    page_ix = style.page if style.page >= 0 else page_count + style.page
    if not 0 <= page_ix < page_count:
        raise ConfigError(
            f"ไม่มีหน้าที่ {style.page + 1} สำหรับตรารับหนังสือ",
            f"page {style.page} does not exist for the receive stamp",
        )
    page_ref, _ = writer.find_page_for_modification(page_ix)
    frame = page_frame(page_ref.get_object())
    form_ref, w, h = _stamp_form(writer, stamp, style, font)
    x, y = _position(style, frame, w, h)
    name = "/SarabanStamp" + uuid.uuid4().hex[:12]
    _own_contents(writer, page_ix)
    # Fence the original content in q/Q: a page (scans especially) may leave its CTM or
    # colour changed at the end, which would otherwise move or recolour the stamp.
    writer.add_stream_to_page(
        page_ix, writer.add_object(generic.StreamObject(stream_data=b"q")), prepend=True
    )
    paint = b"Q q %g %g %g %g %g %g cm %s Do Q" % (*frame.matrix(x, y), name.encode())
    writer.add_stream_to_page(
        page_ix,
        writer.add_object(generic.StreamObject(stream_data=paint)),
        resources=generic.DictionaryObject(
            {pdf_name("/XObject"): generic.DictionaryObject({pdf_name(name): form_ref})}
        ),
    )


def stamp_text(pdf: bytes, text: str, *, x: float, y: float, font_path: str | None = None,
               font_size: int = 16) -> bytes:
    """Write one line of text at (x, y) points from the top-left of page 1, no box, in black:
    an incremental update, like the receive stamp."""
    style = StampStyle(corner=Corner.TOP_LEFT, margin_x=x, margin_y=y, min_width=1.0, max_width=400.0,
                       font_path=font_path, font_size=font_size, padding=0.0, border_width=0.0,
                       color=(0.0, 0.0, 0.0))
    return stamp_receipt(pdf, TextStamp((text,)), style)


def stamp_receipt(pdf: bytes, stamp: ReceiptStamp | TextStamp, style: StampStyle | None = None) -> bytes:
    """Return `pdf` with the receive stamp appended as an incremental update.

    `pdf` is a byte-identical prefix of the result. Raises `PdfUnreadable` (with a Thai
    reason) for a file that cannot be opened, `ConfigError` for a missing font or a
    page or box that does not fit; nothing else.
    """
    style = style or StampStyle()
    # A configuration fault is reported as one, before the PDF is touched.
    font = read_font(style.font_path or default_font_path())
    writer = open_pdf_for_update(pdf)
    try:
        _draw(writer, stamp, style, font)
        out = io.BytesIO()
        writer.write(out)
    except (PdfUnreadable, ConfigError):
        raise
    except Exception as exc:
        # Parser boundary (see pdfcheck._open_reader): a file that opened may still
        # hold a broken page tree or resources that only show up when changed.
        th, en = CORRUPT
        raise PdfUnreadable(th, f"{en}: {type(exc).__name__}: {exc}") from exc
    result = out.getvalue()
    if not result.startswith(pdf):  # the whole point of an incremental update
        raise AssertionError("stamped PDF does not begin with the original bytes")
    return result
