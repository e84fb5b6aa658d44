"""The page as a reader sees it: the visible box and the turn of /Rotate (ISO 32000-2).

A stamp or a visible signature is placed in the coordinates of the page as shown; `PageFrame`
turns them into the page's user space, whatever its crop box and rotation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pyhanko.pdf_utils import generic

__all__ = ["PageFrame", "page_frame"]

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
        node = node.get("/Parent")  # dict.get: the reference itself, not the /Pages node
        if isinstance(node, generic.IndirectObject):
            node = node.get_object()
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
