"""Reading a scanned letter's header with OCR (issue #20, "Scanned letters are read for the clerk").

A letter whose page 1 has no text layer (a scan of signed paper) says nothing to
``gateway.pdf.text``. Here the top part of page 1 (where ที่, the date, เรื่อง and เรียน are) is
rendered with PDFium at about 200 dpi as an 8-bit grey image and read by the ``tesseract``
command (Thai and English), one process, no shell, ``OMP_THREAD_LIMIT=1``, stdin to stdout,
with a timeout. Only page 1 is rendered, whatever the length of the scan.

The reading is a *pre-fill* for the clerk, never grounds to register (gateway/core/extract/ocr.py
decides what of it is plausible; gateway/core/classify.py sends the letter to review). Like the
rest of ``inspect_pdf`` it is CPU work run in the reading worker processes (gateway/workers.py),
never on the event loop. When no ``tesseract`` is installed nothing is read and the letter gets
the outcome it had before OCR existed.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass

from gateway.pdf.pdfium import LOCK as PDFIUM_LOCK
from gateway.pdf.pdfium import drawable

__all__ = ["OcrReading", "has_text_layer", "ocr_page1", "tesseract_path"]

log = logging.getLogger(__name__)

DPI = 200
TOP_FRACTION = 0.40  # the header of a Thai official letter lies in the top 40 % of page 1
TIMEOUT_S = 20.0
LANGUAGES = "tha+eng"
PSM = "6"  # one uniform block of text: the header lines, top to bottom
_MAX_PIXELS = 40_000_000  # a page size no letter has (a 5 m poster) is not rendered


@dataclass(frozen=True, slots=True)
class OcrReading:
    """What OCR gave: ``text`` (may be empty), or why nothing was read (``skipped``, English,
    for the log and ``check``)."""

    text: str = ""
    skipped: str = ""


def tesseract_path() -> str | None:
    """The tesseract command, or None when it is not installed."""
    return shutil.which("tesseract")


def has_text_layer(page1_text: str) -> bool:
    """Page 1 gave text with Thai or Latin letters: it is no scan to OCR."""
    return any(c.isalpha() for c in page1_text)


def _page1_top_pgm(pdf: bytes, dpi: int, top: float) -> bytes:
    """The top `top` of page 1 of `pdf` rendered grey at `dpi`, as a binary PGM."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(pdf)
    try:
        page = doc[0]
        try:
            width, height = page.get_size()
            scale = dpi / 72.0
            if width * height * scale * scale * top > _MAX_PIXELS:
                scale = (_MAX_PIXELS / (width * height * top)) ** 0.5
            bitmap = page.render(scale=scale, grayscale=True,
                                 crop=(0, height * (1.0 - top), 0, 0), may_draw_forms=True)
            try:
                w, h, stride = bitmap.width, bitmap.height, bitmap.stride
                raw = bytes(bitmap.buffer)
                rows: Iterable[bytes]
                if bitmap.n_channels != 1:  # PDFium gave colour after all: keep one channel
                    n = bitmap.n_channels
                    rows = (raw[y * stride:y * stride + w * n:n] for y in range(h))
                elif stride != w:
                    rows = (raw[y * stride:y * stride + w] for y in range(h))
                else:
                    rows = (raw[: w * h],)
                return b"P5\n%d %d\n255\n" % (w, h) + b"".join(rows)
            finally:
                bitmap.close()
        finally:
            page.close()
    finally:
        doc.close()


def ocr_page1(pdf: bytes, *, dpi: int = DPI, top: float = TOP_FRACTION,
              timeout: float = TIMEOUT_S, tesseract: str | None = None) -> OcrReading:
    """The text tesseract reads in the top part of page 1 of `pdf`; never raises."""
    exe = tesseract or tesseract_path()
    if exe is None:
        return OcrReading(skipped="tesseract is not installed")
    if not drawable(pdf):
        return OcrReading(skipped="page 1 is too costly to draw")
    try:
        with PDFIUM_LOCK:
            image = _page1_top_pgm(pdf, dpi, top)
    except Exception as exc:  # noqa: BLE001 - a page PDFium cannot draw is no reading
        return OcrReading(skipped=f"page 1 could not be rendered: {type(exc).__name__}")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "OMP_THREAD_LIMIT": "1",
           "LC_ALL": "C.UTF-8"}
    if "TESSDATA_PREFIX" in os.environ:
        env["TESSDATA_PREFIX"] = os.environ["TESSDATA_PREFIX"]
    try:
        done = subprocess.run(  # noqa: S603 - fixed argument list, no shell
            [exe, "stdin", "stdout", "-l", LANGUAGES, "--psm", PSM, "--dpi", str(dpi)],
            input=image, capture_output=True, timeout=timeout, env=env, check=False,
        )
    except subprocess.TimeoutExpired:
        return OcrReading(skipped=f"tesseract took over {timeout:.0f} s")
    except OSError as exc:
        return OcrReading(skipped=f"tesseract could not run: {exc.strerror or exc}")
    if done.returncode != 0:
        log.info("tesseract failed (%s): %s", done.returncode, done.stderr[-300:])
        return OcrReading(skipped=f"tesseract failed ({done.returncode})")
    return OcrReading(text=done.stdout.decode("utf-8", "replace"))
