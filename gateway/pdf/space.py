"""Where on page 1 a stamp can go without covering the letter (issue #20).

A clerk with a rubber stamp looks for blank paper near the top right; so does the gateway.
Page 1 is rendered by PDFium as it is displayed (/Rotate and the crop box honoured), in
greyscale at a modest resolution; a pixel darker than `INK` is ink (on light grey paper, a
pixel `PAPER_MARGIN` darker than the paper: a scan of recycled paper is not all ink), and so
is every character box of PDFium's text page (faint or invisible text still counts). A
scanned page is one image: blank means blank pixels.

The ink is pooled into square cells of `CELL` points; each cell row is a Python int whose bit
i says "cell i holds ink" (or lies within `CLEARANCE` of ink), so the search is a few big-int
shifts per row, pure and fast (`free_places`). The preference, in order:

1. the top-right region (right half of the top third), nearest the top-right corner;
2. the rest of the top third, nearest the top-right corner;
3. the other margins of page 1 (left and right strips, bottom third), nearest a corner;
4. any other blank part of page 1, nearest the top-right corner.

Each region is tried at full size first and then smaller, down to `min_scale`; a larger
stamp in a later region never beats a fitting one in an earlier region. When nothing blank
is big enough even at `min_scale`, the stamp goes where the top third is least inked, on an
opaque white box, and the caller must say so (`Placement.covers`).

Coordinates: points on the page as shown, origin at the TOP-left, y down (the renderer's
frame); `gateway.pdf.page.PageFrame` turns them into user space.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["CELL", "INK", "InkMap", "Placement", "choose_place", "free_places", "ink_level", "ink_map"]

INK = 200  # grey level (0 black .. 255 white) below which a pixel is ink (on white paper)
PAPER_MARGIN = 40  # on light grey paper: ink is this much darker than the paper
PAPER_MIN = 190  # paper is never darker than this (0.75 grey)
CELL = 4.0  # points per search cell
CLEARANCE = 4.0  # points of blank kept between the stamp and any ink or text line
EDGE = 12.0  # points kept from the page's edges (printers' unprintable margin)
DPI = 54.0  # render resolution: 0.75 px per point, 3 px per cell
MAX_PIXELS = 2_000_000  # a bigger page is rendered coarser (A4 is 0.28 Mpx; a 200-inch page 117)


@dataclass(frozen=True)
class InkMap:
    """Page 1 as cells: `rows[j]` bit i set when cell (i, j) holds ink, top row first."""

    cols: int
    rows: tuple[int, ...]
    cell: float  # points per cell
    width: float  # the page as shown, points
    height: float


@dataclass(frozen=True)
class Placement:
    """Where the stamp goes: top-left corner (x, y) in points on the shown page, y down,
    its scale (1.0: the stamp's own size), and whether it covers ink (on a white box)."""

    x: float
    y: float
    scale: float
    covers: bool
    region: str


def _dilate(mask: int, n: int) -> int:
    """Bit i set when any of bits i .. i+n-1 of `mask` is (n >= 1)."""
    out, span = mask, 1
    while span * 2 <= n:
        out |= out >> span
        span *= 2
    if span < n:
        out |= out >> (n - span)
    return out


def free_places(ink: InkMap, w_cells: int, h_cells: int) -> list[int]:
    """For each cell row j, a bitmask of the columns i where a w x h block of cells with its
    top-left cell at (i, j) holds no ink (pure; a few big-int operations per row)."""
    rows, cols = ink.rows, ink.cols
    full = (1 << cols) - 1
    if w_cells > cols or h_cells > len(rows) or w_cells < 1 or h_cells < 1:
        return [0] * len(rows)
    valid = (1 << (cols - w_cells + 1)) - 1  # a block must end on the page
    # horizontally: block starting at i is free of a row's ink
    horiz = [~_dilate(r, w_cells) & full & valid for r in rows]
    out = [0] * len(rows)
    for j in range(len(rows) - h_cells + 1):
        acc = valid
        for k in range(j, j + h_cells):
            acc &= horiz[k]
            if not acc:
                break
        out[j] = acc
    return out


@dataclass(frozen=True)
class _Region:
    name: str
    x0: float  # fractions of the shown page
    y0: float
    x1: float
    y1: float
    anchors: tuple[tuple[float, float], ...]  # preferred corners, fractions


_TOP = 1 / 3
REGIONS = (
    _Region("top-right", 0.5, 0.0, 1.0, _TOP, ((1.0, 0.0),)),
    _Region("top", 0.0, 0.0, 1.0, _TOP, ((1.0, 0.0),)),
    _Region("margins", 0.0, 0.0, 1.0, 1.0, ((1.0, 1.0), (0.0, 1.0), (0.0, 0.0))),
    _Region("page", 0.0, 0.0, 1.0, 1.0, ((1.0, 0.0),)),
)


def _in_margins(ink: InkMap, i: int, j: int, w: int, h: int) -> bool:
    """A block lying in a side strip (outer fifth) or the bottom third."""
    cols, nrows = ink.cols, len(ink.rows)
    return i + w <= cols * 0.2 or i >= cols * 0.8 or j >= nrows * (1 - _TOP)


def _best_in(ink: InkMap, region: _Region, free: Sequence[int], w: int, h: int,
             edge: int) -> tuple[int, int] | None:
    cols, nrows = ink.cols, len(ink.rows)
    lo_i, hi_i = max(edge, int(region.x0 * cols)), min(cols - edge, round(region.x1 * cols)) - w
    lo_j, hi_j = max(edge, int(region.y0 * nrows)), min(nrows - edge, round(region.y1 * nrows)) - h
    if hi_i < lo_i or hi_j < lo_j:
        return None
    span = ((1 << (hi_i + 1)) - 1) ^ ((1 << lo_i) - 1)
    best: tuple[float, int, int] | None = None
    for j in range(lo_j, hi_j + 1):
        m = free[j] & span
        if not m:
            continue
        # the extreme free columns of the row are the only ones a corner can prefer
        for i in {m.bit_length() - 1, (m & -m).bit_length() - 1}:
            if region.name == "margins" and not _in_margins(ink, i, j, w, h):
                continue
            for ax, ay in region.anchors:
                cx = (i + w) if ax else i  # the block's corner nearest the anchor
                cy = (j + h) if ay else j
                d = abs(cx - ax * cols) + abs(cy - ay * nrows)
                if best is None or d < best[0]:
                    best = (d, i, j)
        if region.name == "margins":  # strips: any free column in them, not just extremes
            for i in _strip_columns(m, cols, w):
                if _in_margins(ink, i, j, w, h):
                    for ax, ay in region.anchors:
                        d = abs((i + w if ax else i) - ax * cols) + abs((j + h if ay else j) - ay * nrows)
                        if best is None or d < best[0]:
                            best = (d, i, j)
    return None if best is None else (best[1], best[2])


def _strip_columns(m: int, cols: int, w: int) -> list[int]:
    """Free columns of a row inside the left or right strip (few: the strips are narrow)."""
    out = []
    left_end, right_start = int(cols * 0.2) - w, int(cols * 0.8 + 0.999)
    for i in (*range(0, max(left_end + 1, 0)), *range(right_start, cols)):
        if m >> i & 1:
            out.append(i)
    return out


def _least_inked(ink: InkMap, w: int, h: int, edge: int) -> tuple[int, int]:
    """The block of the top third holding the fewest ink cells (ties: nearest top-right)."""
    cols, nrows = ink.cols, len(ink.rows)
    counts = [[(r >> i) & 1 for i in range(cols)] for r in ink.rows[: max(int(nrows * _TOP), h + edge)]]
    # integral image over the top third only
    integ = [[0] * (cols + 1) for _ in range(len(counts) + 1)]
    for j, row in enumerate(counts):
        acc = 0
        above, here = integ[j], integ[j + 1]
        for i, v in enumerate(row):
            acc += v
            here[i + 1] = above[i + 1] + acc
    best: tuple[int, int, int, int] | None = None
    top = len(counts)
    for j in range(min(edge, max(top - h, 0)), max(top - h, 0) + 1):
        for i in range(max(cols - edge - w, 0), -1, -1):
            s = integ[j + h][i + w] - integ[j][i + w] - integ[j + h][i] + integ[j][i]
            key = (s, (cols - i - w) + j, i, j)
            if best is None or key < best:
                best = key
    assert best is not None
    return best[2], best[3]


def choose_place(ink: InkMap, width: float, height: float, *, min_scale: float = 1.0,
                 steps: int = 6, edge: float = EDGE) -> Placement:
    """The best place for a `width` x `height` point stamp on the page of `ink` (pure).
    `edge`: points kept from the page's edges; when nothing blank is found so, `EDGE` is tried."""
    scales = [1.0]
    if min_scale < 1.0:
        scales += [1.0 - (1.0 - min_scale) * k / steps for k in range(1, steps + 1)]
    for e in dict.fromkeys((edge, min(edge, EDGE))):
        found = _search(ink, width, height, scales, max(1, round(e / ink.cell)))
        if found is not None:
            return found
    c, s = ink.cell, scales[-1]
    w, h = int(-(-width * s // c)), int(-(-height * s // c))
    i, j = _least_inked(ink, min(w, ink.cols), min(h, len(ink.rows)), max(1, round(EDGE / c)))
    return Placement(i * c, j * c, s, True, "covering")


def _search(ink: InkMap, width: float, height: float, scales: Sequence[float],
            edge: int) -> Placement | None:
    c = ink.cell
    free: dict[tuple[int, int], list[int]] = {}
    for region in REGIONS:
        for s in scales:
            w, h = int(-(-width * s // c)), int(-(-height * s // c))
            if (w, h) not in free:
                free[w, h] = free_places(ink, w, h)
            spot = _best_in(ink, region, free[w, h], w, h, edge)
            if spot is not None:
                return Placement(spot[0] * c, spot[1] * c, s, False, region.name)
    return None


# --- rendering (PDFium) -----------------------------------------------------------------------


def ink_level(buf: bytes) -> int:
    """The grey level below which a pixel of the greyscale bitmap `buf` is ink: `INK` on white
    paper; on light grey paper (a scan of recycled paper, a scanner's grey background)
    `PAPER_MARGIN` below the paper, so the grain of grey paper is not ink. The paper is the
    level nine pixels in ten reach (a letter is mostly paper; a sample is enough); a page
    darker than `PAPER_MIN` is not paper at all (a filled background, a photograph): `INK`,
    and it is all ink."""
    sample = buf[::7]
    need = len(sample) // 10
    if sample.translate(_WHITE).count(1) > need:  # white paper: one pass, C speed
        return INK
    acc = 0
    for v in range(INK + PAPER_MARGIN - 1, PAPER_MIN - 1, -1):
        acc += sample.count(v)
        if acc > need:
            return min(INK, v - PAPER_MARGIN)
    return INK


_WHITE = bytes(1 if v >= INK + PAPER_MARGIN else 0 for v in range(256))


def _despeckle(px: list[int]) -> list[int]:
    """Pixel rows (a byte a pixel, 0/1) without dust: a dark pixel with no dark pixel two
    pixels away in any direction (the ring of the 5 x 5 block around it) is part of a speck of
    at most 2 x 2 pixels standing alone, and is dropped. Anything bigger, or within a pixel of
    other ink (a full stop beside its word), stays."""
    n, out = len(px), []
    for y, p in enumerate(px):
        ring = 0
        if p:
            for dy in (-2, -1, 0, 1, 2):
                r = px[y + dy] if 0 <= y + dy < n else 0
                if r:
                    ring |= (r << 16) | (r >> 16)
                    if dy in (-2, 2):
                        ring |= r | (r << 8) | (r >> 8)
        out.append(p & ring)
    return out


def _cells_from_pixels(buf: bytes, width: int, height: int, stride: int, px_per_cell: int,
                       level: int = INK, despeckle: bool = False) -> list[int]:
    """Cell rows from a greyscale bitmap: a cell is ink when any pixel in it is darker than
    `level`. Each pixel becomes a byte 0/1, a cell's pixel rows are OR-ed as big ints, and every
    `px_per_cell`-th byte after a horizontal OR is one cell: C speed, no loop over pixels.
    `despeckle`: dust is not ink (`_despeckle`; for scans)."""
    to_bit = _TO_BIT if level == INK else bytes(1 if v < level else 0 for v in range(256))
    px = [int.from_bytes(buf[y * stride: y * stride + width].translate(to_bit), "little")
          for y in range(height)]
    if despeckle:
        px = _despeckle(px)
    cols = -(-width // px_per_cell)
    rows = []
    for cj in range(-(-height // px_per_cell)):
        acc = 0
        for y in range(cj * px_per_cell, min(height, (cj + 1) * px_per_cell)):
            acc |= px[y]
        if not acc:
            rows.append(0)
            continue
        for k in range(1, px_per_cell):
            acc |= acc >> (8 * k)
        cells = acc.to_bytes(width + 8, "little")[0: cols * px_per_cell: px_per_cell]
        rows.append(int(cells.translate(_TO_DIGIT)[::-1], 2))
    return rows


_TO_BIT = bytes(1 if v < INK else 0 for v in range(256))
_TO_DIGIT = bytes(49 if v else 48 for v in range(256))  # b"1" / b"0"


def _grow(rows: list[int], cols: int, grow: int) -> list[int]:
    if grow <= 0:
        return rows
    full = (1 << cols) - 1
    wide = [(r | _dilate(r, grow + 1) | (_dilate(r, grow + 1) << grow)) & full for r in rows]
    out = []
    for j in range(len(rows)):
        acc = 0
        for k in range(max(0, j - grow), min(len(rows), j + grow + 1)):
            acc |= wide[k]
        out.append(acc)
    return out


def ink_map(pdf: bytes, *, page_index: int = 0, cell: float = CELL, clearance: float = CLEARANCE,
            text_boxes: bool = True) -> InkMap | None:
    """Page `page_index` of `pdf` as cells of ink, as displayed; None when PDFium cannot
    render it (the caller falls back to its fixed corner)."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as raw

    from gateway.pdf.pdfium import LOCK, drawable

    if not drawable(pdf, page_index):  # a page too costly to draw: the fixed corner
        return None
    px_per_cell = max(1, round(cell * DPI / 72))
    scale = px_per_cell / cell  # pixels per point, so that cells are whole pixels
    with LOCK:
        try:
            doc = pdfium.PdfDocument(pdf)
        except Exception:  # noqa: BLE001 - PDFium cannot open what pyHanko did
            return None
        try:
            if not 0 <= page_index < len(doc):
                return None
            page = doc[page_index]
            try:
                w_pt, h_pt = page.get_size()
                if w_pt * h_pt * scale * scale > MAX_PIXELS:  # a huge page: coarser cells
                    cell *= math.sqrt(w_pt * h_pt * scale * scale / MAX_PIXELS)
                    scale = px_per_cell / cell
                bitmap = page.render(scale=scale, grayscale=True, may_draw_forms=True)
                w_px, h_px, stride = bitmap.width, bitmap.height, bitmap.stride
                buf = bytes(bitmap.buffer)
                boxes: list[tuple[float, float, float, float]] = []
                if text_boxes:
                    boxes = _text_boxes(page, raw, w_px, h_px)
                shown_w, shown_h = w_px / scale, h_px / scale
            finally:
                page.close()
        except Exception:  # noqa: BLE001 - a page PDFium cannot draw: no map
            return None
        finally:
            doc.close()
    if bitmap.n_channels != 1:  # pragma: no cover - grayscale=True gives one byte a pixel
        return None
    # a page without a text layer is a scan: its dust is not ink (a clerk stamps over it)
    rows = _cells_from_pixels(buf, w_px, h_px, stride, px_per_cell, ink_level(buf),
                              despeckle=text_boxes and not boxes)
    cols = -(-w_px // px_per_cell)
    for x0, y0, x1, y1 in boxes:  # device pixels
        i0, i1 = max(0, int(x0 // px_per_cell)), min(cols - 1, int(x1 // px_per_cell))
        j0, j1 = max(0, int(y0 // px_per_cell)), min(len(rows) - 1, int(y1 // px_per_cell))
        if i1 < i0 or j1 < j0:
            continue
        bits = ((1 << (i1 + 1)) - 1) ^ ((1 << i0) - 1)
        for j in range(j0, j1 + 1):
            rows[j] |= bits
    rows = _grow(rows, cols, round(clearance / cell) if clearance > 0 else 0)
    return InkMap(cols, tuple(rows), cell, shown_w, shown_h)


_ABOVE, _BELOW = 1.5, 0.6


def _text_boxes(page: object, raw: object, w_px: int, h_px: int) -> list[tuple[float, float, float, float]]:
    """Every character's line box in the rendered bitmap's pixels: its glyph box widened to
    `_ABOVE` em above the baseline and `_BELOW` em below, the room Thai fonts keep for stacked
    marks (tone over upper vowel; lower vowels), as readers box words (`pdftotext -bbox`
    gives 1.48 / 0.55 em for Chromium's Thai font)."""
    import ctypes

    def device(px: float, py: float) -> tuple[int, int]:
        dx, dy = ctypes.c_int(), ctypes.c_int()
        raw.FPDF_PageToDevice(page.raw, 0, 0, w_px, h_px, 0, px, py,  # type: ignore[attr-defined]
                              ctypes.byref(dx), ctypes.byref(dy))
        return dx.value, dy.value

    # page space to bitmap pixels is affine (rotation, crop offset, scale): three points fix it
    (ex, ey), (ax, ay), (bx, by) = device(0.0, 0.0), device(1000.0, 0.0), device(0.0, 1000.0)
    m = ((ax - ex) / 1000, (ay - ey) / 1000, (bx - ex) / 1000, (by - ey) / 1000)
    textpage = page.get_textpage()  # type: ignore[attr-defined]
    out: list[tuple[float, float, float, float]] = []
    try:
        ox, oy = ctypes.c_double(), ctypes.c_double()
        n = textpage.count_chars()
        text = textpage.get_text_range(0, n) if n > 0 else ""
        for k in range(n):
            if k < len(text) and text[k].isspace():
                continue
            left, bottom, right, top = textpage.get_charbox(k)
            if right <= left or top <= bottom:
                continue
            em = raw.FPDFText_GetFontSize(textpage.raw, k)  # type: ignore[attr-defined]
            if raw.FPDFText_GetCharOrigin(textpage.raw, k, ctypes.byref(ox), ctypes.byref(oy)):  # type: ignore[attr-defined]
                bottom, top = min(bottom, oy.value - _BELOW * em), max(top, oy.value + _ABOVE * em)
            xs = (ex + m[0] * left + m[2] * bottom, ex + m[0] * right + m[2] * top)
            ys = (ey + m[1] * left + m[3] * bottom, ey + m[1] * right + m[3] * top)
            out.append((min(xs), min(ys), max(xs), max(ys)))
    finally:
        textpage.close()
    return out
