"""The receive stamp (ตรารับหนังสือ): a clerk's rubber stamp, drawn on page 1 of the
registered copy of a letter (domain.md §4, issue 4).

Effects step of registration: after the receive number is allocated, the pipeline calls
`stamp_receipt` on the main letter's PDF and files the result as the stamped copy that
units receive. The stamp is an incremental update, so the original bytes, and any
signature in them, are a byte-identical prefix of the output; the sender's signatures
must therefore be validated on the original (`gateway.pdf.check.inspect_pdf`) before
stamping.

Thai is shaped and embedded by `gateway.pdf.fonts`; the page as shown is `gateway.pdf.page`.

CPU-bound (font parsing, shaping, subsetting): call from a thread.
"""

from __future__ import annotations

import hashlib
import io
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.font.opentype import CIDFontType0
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.writer import BasePdfFileWriter

from gateway.errors import ConfigError
from gateway.pdf.fonts import (
    BCP47,
    OT_LANGUAGE,
    OT_SCRIPT,
    ThaiGlyphAccumulator,
    default_font_path,
    read_font,
    shape_lines,
)
from gateway.pdf.opening import CORRUPT, PdfUnreadable, open_pdf_for_update
from gateway.pdf.page import PageFrame, page_frame
from gateway.pdf.space import Placement, choose_place, ink_map
from gateway.thai import MONTHS_ABBR, format_short_date, format_time, to_thai_digits

__all__ = [
    "STAMP_GLYPH_TEXT",
    "Corner",
    "ReceiptStamp",
    "StampStyle",
    "Stamped",
    "TextStamp",
    "stamp_receipt",
    "stamp_receipt_placed",
    "stamp_text",
]

STAMP_GLYPH_TEXT = (
    "เลขรับ วันที่ เวลา น. 0123456789 ๐๑๒๓๔๕๖๗๘๙ : / - "
    + " ".join(MONTHS_ABBR)
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
    # "free": in blank space found on the rendered page (gateway.pdf.space; corner and margins
    # then only apply when the page cannot be rendered); "corner": always at the corner.
    placement: str = "corner"
    min_font_size: float = 8.0  # "free": the stamp shrinks down to this size when space is tight

    def __post_init__(self) -> None:
        if self.font_size <= 0 or self.padding < 0 or self.border_width < 0:
            raise ValueError("font_size must be positive, padding and border_width not negative")
        if (self.width is not None and self.width <= 0) or (
            self.height is not None and self.height <= 0
        ):
            raise ValueError("width and height must be positive")
        if self.placement not in ("corner", "free"):
            raise ValueError("placement must be 'corner' or 'free'")


@dataclass(frozen=True)
class Stamped:
    """A stamped PDF and where its stamp went: `placement` None when drawn at the fixed corner."""

    pdf: bytes
    placement: Placement | None = None
    size: tuple[float, float] = (0.0, 0.0)  # the stamp's box before `placement.scale`, points

    @property
    def covers_text(self) -> bool:
        """The stamp had to go over ink, on an opaque white box: say so in the register."""
        return self.placement is not None and self.placement.covers



# --- drawing --------------------------------------------------------------------------------


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
    lines = shape_lines(engine, font_bytes, stamp.lines(), size)
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


def _free_place(pdf: bytes, page_ix: int, style: StampStyle, frame: PageFrame, w: float,
                h: float) -> tuple[float, float, float, Placement] | None:
    """(x, y, scale, placement) in blank space of the page as shown, y up; None when the page
    cannot be rendered or its render does not match the frame (fixed corner then)."""
    ink = ink_map(pdf, page_index=page_ix)
    shown_w, shown_h = frame.shown_size
    slack = max(2.0, ink.cell) if ink is not None else 2.0  # a pixel's rounding, huge pages coarser
    if ink is None or abs(ink.width - shown_w) > slack or abs(ink.height - shown_h) > slack:
        return None
    min_scale = min(1.0, style.min_font_size / style.font_size)
    place = choose_place(ink, w, h, min_scale=min_scale, edge=min(style.margin_x, style.margin_y))
    return place.x, shown_h - place.y - h * place.scale, place.scale, place


def _draw(
    writer: IncrementalPdfFileWriter, stamp: ReceiptStamp | TextStamp, style: StampStyle, font: bytes,
    pdf: bytes,
) -> tuple[Placement | None, float, float]:
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
    scale, placement = 1.0, None
    if style.placement == "free":
        found = _free_place(pdf, page_ix, style, frame, w, h)
        if found is not None:
            x, y, scale, placement = found
    name = "/SarabanStamp" + uuid.uuid4().hex[:12]
    _own_contents(writer, page_ix)
    # Fence the original content in q/Q: a page (scans especially) may leave its CTM or
    # colour changed at the end, which would otherwise move or recolour the stamp.
    writer.add_stream_to_page(
        page_ix, writer.add_object(generic.StreamObject(stream_data=b"q")), prepend=True
    )
    a, b, c, d, e, f = frame.matrix(x, y)
    cm = (a * scale, b * scale, c * scale, d * scale, e, f)
    # Over ink (no blank space anywhere): on an opaque white box, never silently through text.
    under = b"1 g 0 0 %g %g re f " % (w, h) if placement is not None and placement.covers else b""
    paint = b"Q q %g %g %g %g %g %g cm %s%s Do Q" % (*cm, under, name.encode())
    writer.add_stream_to_page(
        page_ix,
        writer.add_object(generic.StreamObject(stream_data=paint)),
        resources=generic.DictionaryObject(
            {pdf_name("/XObject"): generic.DictionaryObject({pdf_name(name): form_ref})}
        ),
    )
    return placement, w, h


def stamp_text(pdf: bytes, text: str, *, x: float, y: float, font_path: str | None = None,
               font_size: int = 16) -> bytes:
    """Write one line of text at (x, y) points from the top-left of page 1, no box, in black:
    an incremental update, like the receive stamp."""
    style = StampStyle(corner=Corner.TOP_LEFT, margin_x=x, margin_y=y, min_width=1.0, max_width=400.0,
                       font_path=font_path, font_size=font_size, padding=0.0, border_width=0.0,
                       color=(0.0, 0.0, 0.0))
    return stamp_receipt(pdf, TextStamp((text,)), style)


def stamp_receipt(pdf: bytes, stamp: ReceiptStamp | TextStamp, style: StampStyle | None = None) -> bytes:
    """Return `pdf` with the receive stamp appended as an incremental update (see
    `stamp_receipt_placed`, which also says where the stamp went)."""
    return stamp_receipt_placed(pdf, stamp, style).pdf


def stamp_receipt_placed(pdf: bytes, stamp: ReceiptStamp | TextStamp,
                         style: StampStyle | None = None) -> Stamped:
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
        placement, w, h = _draw(writer, stamp, style, font, pdf)
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
    return Stamped(result, placement, (w, h))
