"""PDFium (pypdfium2) as every part of the gateway uses it: one lock, and no drawing of a page
that is too costly to read.

PDFium is not thread-safe, and the readers run in threads: every call holds LOCK. PDFium paints
every form XObject of a page where it is used; a page that paints forms nested ten deep exhausts
the machine's memory (issue #19: the kernel killed the reader). `drawable` says whether a page
is within the work gateway/pdf/textwork.py allows for reading its text (forms counted per
painting); text reading, stamp placement and OCR draw or read only such pages. Nor is a page
drawn whose images decode to more than MAX_IMAGE_PIXELS (an "image bomb": a 30,000 x 30,000
image of a few KB made PDFium take 1 GB where no worker budget applies, `read_processes = 0`
and the `pdf stamp` command).
"""

from __future__ import annotations

import io
import threading
from typing import Any

from gateway.pdf.textwork import text_work

__all__ = ["LOCK", "drawable", "drawable_page"]

LOCK = threading.Lock()

# A4 scanned at 600 dpi is 35 million pixels; a page painting more than six times that is no letter.
MAX_IMAGE_PIXELS = 200_000_000
_MAX_XOBJECTS = 2_000  # XObjects looked at per page (forms nested or repeated)


def drawable_page(page: Any) -> bool:
    """Whether a pypdf page can be drawn at a bounded cost."""
    try:
        return text_work(page) is not None and image_pixels(page) <= MAX_IMAGE_PIXELS
    except Exception:  # noqa: BLE001 - parser boundary: not drawn then
        return False


def image_pixels(page: Any) -> int:
    """The pixels of the images a pypdf page's resources hold (forms' resources included, each
    XObject counted once); past _MAX_XOBJECTS XObjects, more than MAX_IMAGE_PIXELS."""
    seen: set[Any] = set()
    total = 0
    todo: list[Any] = [page.get("/Resources")]
    while todo:
        ref_or_none = todo.pop()
        resources: Any = ref_or_none.get_object() if ref_or_none is not None else None
        found = resources.get("/XObject") if hasattr(resources, "get") else None
        xobjects: Any = found.get_object() if found is not None else None
        if not hasattr(xobjects, "items"):
            continue
        for _, ref in xobjects.items():
            key = (ref.idnum, ref.generation) if hasattr(ref, "idnum") else id(ref)
            if key in seen:
                continue
            seen.add(key)
            if len(seen) > _MAX_XOBJECTS:
                return MAX_IMAGE_PIXELS + 1
            x = ref.get_object()
            if x.get("/Subtype") == "/Image":
                total += int(x.get("/Width", 0) or 0) * int(x.get("/Height", 0) or 0)
            elif x.get("/Subtype") == "/Form":
                todo.append(x.get("/Resources"))
    return total


def drawable(pdf: bytes, page_index: int = 0) -> bool:
    """Whether page `page_index` of `pdf` can be drawn (or read by PDFium) at a bounded cost."""
    import pypdf

    try:
        reader = pypdf.PdfReader(io.BytesIO(pdf))
        return 0 <= page_index < len(reader.pages) and drawable_page(reader.pages[page_index])
    except Exception:  # noqa: BLE001 - pypdf cannot open it: PDFium is not asked either
        return False
