"""PDFium (pypdfium2) as every part of the gateway uses it: one lock, and no drawing of a page
that is too costly to read.

PDFium is not thread-safe, and the readers run in threads: every call holds LOCK. PDFium paints
every form XObject of a page where it is used; a page that paints forms nested ten deep exhausts
the machine's memory (issue #19: the kernel killed the reader). `drawable` says whether a page
is within the work gateway/pdf/textwork.py allows for reading its text (forms counted per
painting); text reading, stamp placement and OCR draw or read only such pages.
"""

from __future__ import annotations

import io
import threading
from typing import Any

from gateway.pdf.textwork import text_work

__all__ = ["LOCK", "drawable", "drawable_page"]

LOCK = threading.Lock()


def drawable_page(page: Any) -> bool:
    """Whether a pypdf page can be drawn at a bounded cost."""
    try:
        return text_work(page) is not None
    except Exception:  # noqa: BLE001 - parser boundary: not drawn then
        return False


def drawable(pdf: bytes, page_index: int = 0) -> bool:
    """Whether page `page_index` of `pdf` can be drawn (or read by PDFium) at a bounded cost."""
    import pypdf

    try:
        reader = pypdf.PdfReader(io.BytesIO(pdf))
        return 0 <= page_index < len(reader.pages) and drawable_page(reader.pages[page_index])
    except Exception:  # noqa: BLE001 - pypdf cannot open it: PDFium is not asked either
        return False
