"""The receive stamp in free space of page 1 (issue #20): the stamp's rectangle overlaps
none of the original's ink (rendered) or text boxes, on every corpus letter and on rotated,
cropped, landscape and Letter pages; with no free space it goes on a white box and says so."""

from __future__ import annotations

import datetime as dt
import io
import re
import subprocess
import tempfile
from pathlib import Path

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from gateway.inbound.stamp import COVERS_TEXT, StampSettings, stamp_bytes
from gateway.pdf.space import InkMap, choose_place, free_places, ink_map
from gateway.pdf.stamp import ReceiptStamp, StampStyle, stamp_receipt_placed
from tests.pdfgen.documents import PdfSpec, make_pdf
from tests.pdfgen.poppler import render_page1

CORPUS = sorted((Path(__file__).resolve().parents[1] / "corpus" / "producers").glob("*/*.pdf"))
STAMP = ReceiptStamp("สำนักงานเขตพื้นที่การศึกษาทดสอบ", 1234,
                     dt.datetime(2026, 11, 22, 3, 5, tzinfo=dt.UTC))
FREE = StampStyle(placement="free")


def _exact_ink(pdf: bytes) -> InkMap:
    """The original's ink at one cell per point, no clearance: rendered pixels and text boxes."""
    ink = ink_map(pdf, cell=1.0, clearance=0.0)
    assert ink is not None
    return ink


def _inked_cells(ink: InkMap, x: float, y: float, w: float, h: float) -> int:
    i0, i1 = int(x), int(x + w) + 1
    bits = ((1 << i1) - 1) ^ ((1 << i0) - 1)
    return sum(1 for r in ink.rows[int(y): int(y + h) + 1] if r & bits)


def _poppler_words(pdf: bytes) -> list[tuple[float, float, float, float]]:
    """Word boxes of page 1 by `pdftotext -bbox` (poppler: independent of PDFium), y down."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in.pdf"
        path.write_bytes(pdf)
        html = subprocess.run(["pdftotext", "-bbox", "-f", "1", "-l", "1", str(path), "-"],
                              capture_output=True, check=True, timeout=60).stdout.decode()
    num = r'"([\d.]+)"'
    return [tuple(float(v) for v in m) for m in re.findall(
        rf"<word xMin={num} yMin={num} xMax={num} yMax={num}", html)]  # type: ignore[misc]


def _independent_check(pdf: bytes, x: float, y: float, w: float, h: float) -> None:
    """poppler's rendering (72 dpi, 1 px a point) and word boxes agree: nothing under the stamp."""
    raster = render_page1(pdf, dpi=72)
    assert raster.dark_count((int(x), int(y), int(x + w), int(y + h)), threshold=200) == 0
    for x0, y0, x1, y1 in _poppler_words(pdf):
        assert x1 <= x or x0 >= x + w or y1 <= y or y0 >= y + h, ((x0, y0, x1, y1), (x, y, w, h))


def _check_free(pdf: bytes) -> None:
    done = stamp_receipt_placed(pdf, STAMP, FREE)
    assert done.pdf.startswith(pdf)
    p = done.placement
    assert p is not None and not p.covers, p
    w, h = done.size
    assert _inked_cells(_exact_ink(pdf), p.x, p.y, w * p.scale, h * p.scale) == 0, p
    _independent_check(pdf, p.x, p.y, w * p.scale, h * p.scale)
    # the stamp is really drawn there on the page as displayed (rotation and crop mapped back)
    after = _exact_ink(done.pdf)
    assert _inked_cells(after, p.x, p.y, w * p.scale, h * p.scale) > 0.5 * h * p.scale, p


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_corpus_letters_stamp_overlaps_no_ink(path: Path) -> None:
    _check_free(path.read_bytes())


def _with(pdf: bytes, **entries: generic.PdfObject) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    page_ref, _ = writer.find_page_for_modification(0)
    page = page_ref.get_object()
    for key, value in entries.items():
        page[pdf_name("/" + key)] = value
    writer.mark_update(page_ref)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


LETTERHEAD = CORPUS[0].read_bytes() if CORPUS else b""


@pytest.mark.parametrize("rotate", [90, 180, 270])
def test_rotated_letterhead(rotate: int) -> None:
    _check_free(_with(LETTERHEAD, Rotate=generic.NumberObject(rotate)))


def test_crop_box_offset() -> None:
    crop = generic.ArrayObject(generic.FloatObject(v) for v in (40, 60, 560, 800))
    _check_free(_with(LETTERHEAD, CropBox=crop))


def test_crop_box_offset_and_rotation() -> None:
    crop = generic.ArrayObject(generic.FloatObject(v) for v in (40, 60, 560, 800))
    _check_free(_with(LETTERHEAD, CropBox=crop, Rotate=generic.NumberObject(90)))


@pytest.mark.parametrize("spec", [PdfSpec(), PdfSpec(size="Letter"), PdfSpec(landscape=True),
                                  PdfSpec(rotate=90), PdfSpec(rotate=270), PdfSpec(annotations=True),
                                  PdfSpec(content="scan"), PdfSpec(encryption="owner-aes256")],
                         ids=["a4", "letter", "landscape", "rot90", "rot270", "annotations", "scan",
                              "owner-password"])
def test_generated_geometries(spec: PdfSpec) -> None:
    _check_free(make_pdf(spec))


def _page(content: bytes) -> bytes:
    """A one-page A4 PDF drawing `content`."""
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
            b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content)]
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for k, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (k, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


def _full_page() -> bytes:
    """A page with ink everywhere (a solid grey fill): no free space of any size."""
    return _page(b"0.3 g 0 0 595 842 re f")


# The standard Thai layout with a full top (y up): Garuda centred from 30 pt below the top,
# the agency's address at the right from 40 pt, ที่ left, date right, body below.
STANDARD = _page(b"0 g 262 712 70 100 re f 350 702 210 100 re f 60 690 150 16 re f "
                 b"330 660 150 16 re f 60 200 470 440 re f 1 0 0 rg 40 800 60 20 re f")


def test_standard_layout_with_a_full_top_right_is_not_covered() -> None:
    fixed = stamp_receipt_placed(STANDARD, STAMP, StampStyle())
    w, h = fixed.size
    ink = _exact_ink(STANDARD)
    assert _inked_cells(ink, 595 - 28 - w, 28, w, h) > 0  # the old corner covers the address
    _check_free(STANDARD)


def test_no_free_space_goes_on_a_white_box_and_says_so() -> None:
    pdf = _full_page()
    done = stamp_receipt_placed(pdf, STAMP, FREE)
    p = done.placement
    assert p is not None and p.covers and done.covers_text
    assert p.y < 842 / 3  # in the top part of the page
    assert p.scale == pytest.approx(8 / 14)  # the legible minimum, covering as little as can be
    # the box is opaque: most of the stamp's area is white on the rendered stamped page
    w, h = done.size
    after = ink_map(done.pdf, cell=1.0, clearance=0.0)
    assert after is not None
    assert _inked_cells(after, p.x + 3, p.y + 3, w * p.scale - 6, h * p.scale - 6) < h * p.scale - 6
    stamped, error, remark = stamp_bytes(pdf, StampSettings(FREE, STAMP.agency, True), 7,
                                         STAMP.received_at)
    assert stamped is not None and error == "" and remark == COVERS_TEXT


def test_free_space_remark_is_empty_when_blank_space_exists() -> None:
    _, _, remark = stamp_bytes(LETTERHEAD, StampSettings(FREE, STAMP.agency, True), 7,
                               STAMP.received_at)
    assert remark == ""


# --- the search alone (pure) -------------------------------------------------------------------


def _grid(picture: str) -> InkMap:
    lines = picture.split()
    rows = tuple(sum(1 << i for i, ch in enumerate(ln) if ch == "#") for ln in lines)
    return InkMap(len(lines[0]), rows, 1.0, float(len(lines[0])), float(len(lines)))


def test_free_places_marks_exactly_the_blank_blocks() -> None:
    ink = _grid("""
        ......
        .#....
        ......
    """)
    free = free_places(ink, 2, 2)
    assert [[i for i in range(6) if free[j] >> i & 1] for j in range(3)] == [[2, 3, 4], [2, 3, 4], []]


def test_top_right_is_preferred_then_shrinks_before_leaving_it() -> None:
    blank = InkMap(60, (0,) * 90, 1.0, 60.0, 90.0)
    p = choose_place(blank, 20, 10, edge=2)
    assert (p.region, p.x + 20, p.y, p.scale) == ("top-right", 58, 2, 1.0)
    # ink fills the top third except a small hole at the top right: the stamp shrinks into it
    rows = [((1 << 60) - 1) if j < 30 else 0 for j in range(90)]
    for j in range(2, 10):
        rows[j] &= ~(((1 << 58) - 1) ^ ((1 << 42) - 1))
    p = choose_place(InkMap(60, tuple(rows), 1.0, 60.0, 90.0), 20, 10, min_scale=0.5, edge=2)
    assert p.region == "top-right" and p.scale < 1.0 and not p.covers
