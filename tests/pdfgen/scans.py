"""Scanned letters for the OCR tests and bench (issue #20): a corpus PDF printed and scanned.

Each page is rendered grey with PDFium at a chosen dpi, optionally soiled with speckles and a
little grain (a cheap office scanner), and the images are wrapped, one per page, in a new PDF
with no text layer — what a clerk's scanner produces. Only pypdfium2 is needed (no Pillow).
"""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "producers"

__all__ = ["CORPUS", "corpus_letters", "scan_pdf"]


def corpus_letters() -> list[dict[str, object]]:
    """The corpus letters' truth (file, subject, letter_no, …), from truth.json."""
    data = json.loads((CORPUS / "truth.json").read_text(encoding="utf-8"))
    return list(data["letters"])


def _noisy(raw: bytearray, width: int, height: int, stride: int, seed: int) -> None:
    """Grain on every pixel and dark speckles, in place (deterministic for a seed)."""
    rnd = random.Random(seed)
    grain = bytes(rnd.randrange(0, 40) for _ in range(4096))
    for y in range(height):
        row = y * stride
        off = rnd.randrange(4096 - 1)
        for x in range(0, width, 3):  # every third pixel: enough grain, fast enough
            v = raw[row + x] - grain[(off + x) % 4096]
            raw[row + x] = v if v > 0 else 0
    for _ in range(width * height // 2000):
        x, y = rnd.randrange(width), rnd.randrange(height)
        raw[y * stride + x] = rnd.randrange(0, 90)


def scan_pdf(pdf: bytes | Path, *, dpi: int = 200, noise: bool = False, pages: int | None = None,
             seed: int = 1) -> bytes:
    """`pdf` as a scanner would give it back: one grey image per page at `dpi`, no text."""
    src = pdfium.PdfDocument(pdf.read_bytes() if isinstance(pdf, Path) else pdf)
    out = pdfium.PdfDocument.new()
    try:
        count = len(src) if pages is None else min(pages, len(src))
        for i in range(count):
            page = src[i]
            width, height = page.get_size()
            bitmap = page.render(scale=dpi / 72.0, grayscale=True)
            if noise:
                raw = bytearray(bytes(bitmap.buffer))
                _noisy(raw, bitmap.width, bitmap.height, bitmap.stride, seed + i)
                bitmap.close()
                bitmap = pdfium.PdfBitmap.new_native(bitmap.width, bitmap.height,
                                                     pdfium_c.FPDFBitmap_Gray, rev_byteorder=False)
                bitmap.buffer[:] = raw[: len(bitmap.buffer)]
            new_page = out.new_page(width, height)
            image = pdfium.PdfImage.new(out)
            image.set_bitmap(bitmap)
            image.set_matrix(pdfium.PdfMatrix().scale(width, height))
            new_page.insert_obj(image)
            new_page.gen_content()
            bitmap.close()
            page.close()
        buf = io.BytesIO()
        out.save(buf)
        return buf.getvalue()
    finally:
        out.close()
        src.close()
