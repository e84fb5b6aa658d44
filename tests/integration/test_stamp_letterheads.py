"""The receive stamp on Thai official letterheads (issue #20), stamped as the gateway stamps.

The corpus (tests/corpus/letterheads, made by scripts/make-letterheads) is the pages a clerk
receives: the Garuda emblem centred, the address right, ที่ left, the date right, a red boxed
speed mark, no margins, a full top right, hairline rules, scans (grey paper, dark borders,
grain), /Rotate 90/180/270, a crop box offset, landscape, US Letter, existing annotations; the
signed letter is signed here with the test CA. For every letter, the stamp is drawn by the
worker function the pipeline runs (`stamp_bytes`) with the gateway's own style, and:

- blank space found: the stamp's rectangle holds none of the original's ink, by PDFium (pixels
  and character boxes) and by poppler (its own rendering of the crop box and `pdftotext -bbox`
  word boxes), and the stamp really is drawn there; on a scan (no text layer) the stamp may
  lie over dust (isolated specks of at most 3 x 3 pt), as a clerk's would;
- no blank space: page 1 truly has no blank block of the smallest legible stamp, the stamp is
  on the white box and the remark ตรารับวางทับข้อความ is returned for หมายเหตุ;
- either way poppler reads the stamp's Thai words back from the stamped page.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.inbound.stamp import COVERS_TEXT, StampSettings, stamp_bytes
from gateway.pdf.page import page_frame
from gateway.pdf.space import CLEARANCE, EDGE, InkMap, free_places, ink_map
from gateway.pdf.stamp import Corner, ReceiptStamp, Stamped, StampStyle, stamp_receipt_placed
from gateway.thai import to_thai_digits
from tests.pdfgen.poppler import pdftotext

pytestmark = pytest.mark.integration

DIR = Path(__file__).resolve().parents[1] / "corpus" / "letterheads"
TRUTH = json.loads((DIR / "truth.json").read_text(encoding="utf-8"))["letters"]
AGENCY = "สำนักงานเขตพื้นที่การศึกษาประถมศึกษาทดสอบ"
AT = dt.datetime(2026, 11, 22, 3, 5, tzinfo=dt.UTC)
NUMBER = 1234
# as gateway/inbound/context.py builds it from the default [intake] settings
STYLE = StampStyle(corner=Corner.TOP_RIGHT, margin_x=28.0, margin_y=28.0, placement="free")
SETTINGS = StampSettings(STYLE, AGENCY, True)


def _stamp(pdf: bytes) -> tuple[Stamped, bytes, str]:
    """The stamp as the pipeline's worker draws it (`stamp_bytes`), and where it went (the same
    drawing, which `stamp_bytes` does not return)."""
    stamped, error, remark = stamp_bytes(pdf, SETTINGS, NUMBER, AT)
    assert stamped is not None and error == "", error
    assert stamped.startswith(pdf)  # an incremental update
    placed = stamp_receipt_placed(pdf, ReceiptStamp(AGENCY, NUMBER, AT, True), STYLE)
    return placed, stamped, remark


def _poppler(pdf: bytes, args: list[str]) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in.pdf"
        path.write_bytes(pdf)
        tail = [str(path), "-"] if args[0] == "pdftotext" else [str(path)]
        return subprocess.run([*args, *tail], capture_output=True, check=True, timeout=60).stdout


def _poppler_dark(pdf: bytes, box: tuple[float, float, float, float], *, dust: bool = False) -> int:
    """Pixels of poppler's rendering of the crop box as shown (72 dpi: a pixel a point) in `box`
    that are ink: darker than 200, or than the paper less 40 on light grey paper (190 or
    lighter; the paper being the level nine pixels in ten reach). `dust` (scans): a speck of
    at most 3 x 3 pixels with no other dark pixel within 3 pixels of it is not counted."""
    pgm = _poppler(pdf, ["pdftoppm", "-r", "72", "-cropbox", "-gray", "-singlefile", "-f", "1",
                         "-l", "1"])
    parts = pgm.split(maxsplit=4)
    w, h, px = int(parts[1]), int(parts[2]), parts[4]
    paper = sorted(px[::7])[len(px[::7]) * 9 // 10 - 1] if px else 255
    level = 200 if paper < 190 else min(200, paper - 40)

    def dark(x: int, y: int) -> bool:
        return 0 <= x < w and 0 <= y < h and px[y * w + x] < level

    def is_dust(x: int, y: int) -> bool:
        blob, todo = {(x, y)}, [(x, y)]
        while todo and len(blob) <= 9:
            cx, cy = todo.pop()
            for n in ((cx + dx, cy + dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)):
                if n not in blob and dark(*n):
                    blob.add(n)
                    todo.append(n)
        xs, ys = [p[0] for p in blob], [p[1] for p in blob]
        if len(blob) > 9 or max(xs) - min(xs) > 2 or max(ys) - min(ys) > 2:
            return False
        return not any(dark(qx, qy) and (qx, qy) not in blob
                       for qx in range(min(xs) - 3, max(xs) + 4) for qy in range(min(ys) - 3, max(ys) + 4))

    x0, y0, x1, y1 = (int(v) for v in box)
    return sum(1 for y in range(max(0, y0), min(h, y1 + 1)) for x in range(max(0, x0), min(w, x1 + 1))
               if dark(x, y) and not (dust and is_dust(x, y)))


def _poppler_words(pdf: bytes) -> list[tuple[float, ...]]:
    html = _poppler(pdf, ["pdftotext", "-cropbox", "-bbox", "-f", "1", "-l", "1"]).decode()
    num = r'"([\d.]+)"'
    return [tuple(float(v) for v in m)
            for m in re.findall(rf"<word xMin={num} yMin={num} xMax={num} yMax={num}", html)]


def _inked(ink: InkMap, box: tuple[float, float, float, float]) -> int:
    x0, y0, x1, y1 = box
    i0, i1 = int(x0 / ink.cell), int(x1 / ink.cell) + 1
    bits = ((1 << i1) - 1) ^ ((1 << i0) - 1)
    return sum(1 for r in ink.rows[int(y0 / ink.cell): int(y1 / ink.cell) + 1] if r & bits)


def _box(done: Stamped) -> tuple[float, float, float, float]:
    p = done.placement
    assert p is not None  # free placement always places (fixed corner only when not rendered)
    w, h = done.size
    return p.x, p.y, p.x + w * p.scale, p.y + h * p.scale


def _stamp_words() -> list[str]:
    return ["เลขรับ", to_thai_digits(str(NUMBER)), "วันที่", "เวลา"]


SEEN: dict[int, tuple[str, float]] = {}  # id of the PDF checked: (region, scale), for the counts


def check(pdf: bytes) -> str:
    """Stamp one letter and check it; returns "free" or "covers"."""
    done, stamped, remark = _stamp(pdf)
    if done.placement is not None:
        SEEN[hash(pdf)] = (done.placement.region, done.placement.scale)
    p, box = done.placement, _box(done)
    assert p is not None
    exact = ink_map(pdf, cell=1.0, clearance=0.0)  # PDFium: a cell a point, no clearance
    assert exact is not None
    words = _poppler_words(pdf)
    if not p.covers:
        assert remark == ""
        if words:  # a scan's dust is not ink for the gateway: poppler's check alone, dust apart
            assert _inked(exact, box) == 0, (p, box)
        assert _poppler_dark(pdf, box, dust=not words) == 0, (p, box)
        for x0, y0, x1, y1 in words:
            assert x1 <= box[0] or x0 >= box[2] or y1 <= box[1] or y0 >= box[3], ((x0, y0, x1, y1), box)
        after = ink_map(stamped, cell=1.0, clearance=0.0)
        assert after is not None and _inked(after, box) > 0.5 * (box[3] - box[1])  # drawn there
    else:
        assert remark == COVERS_TEXT and done.covers_text
        # truly no blank block of the smallest legible stamp (and its clearance) within the edges
        w, h = done.size
        bw = int(w * p.scale + 2 * CLEARANCE) + 1
        bh = int(h * p.scale + 2 * CLEARANCE) + 1
        free = free_places(exact, bw, bh)
        edge = int(EDGE)
        span = ((1 << (exact.cols - edge - bw + 1)) - 1) ^ ((1 << edge) - 1)
        rows = free[edge: len(exact.rows) - edge - bh + 1]
        assert not any(r & span for r in rows), "blank space existed, yet the stamp covers text"
        assert _poppler_dark(stamped, (box[0] + 2, box[1] + 2, box[2] - 2, box[3] - 2)) < \
            0.5 * (box[2] - box[0]) * (box[3] - box[1])  # on its white box: mostly paper
    text = pdftotext(stamped)
    for word in _stamp_words():
        assert word in text, (word, text[:400])
    return "covers" if p.covers else "free"


@pytest.mark.parametrize("entry", TRUTH, ids=[e["file"] for e in TRUTH])
def test_letterhead_stamp_overlaps_nothing(entry: dict[str, object],
                                          record_property: Callable[[str, object], None]) -> None:
    pdf = (DIR / str(entry["file"])).read_bytes()
    outcome = check(pdf)
    record_property("outcome", outcome)
    assert outcome == entry["expect"], entry["note"]


def test_signed_letterhead_keeps_its_signature(pki, tmp_path_factory: pytest.TempPathFactory) -> None:  # noqa: ANN001
    """A letterhead signed by the sender: the stamp is an incremental update after the
    signature, and pdfsig still says the signature is valid for the signed revision."""
    from gateway.pdf.sign import SignerConfig, sign_pdf
    from tests.integration.test_pdfsig import _assert_good, _signatures
    from tests.pdfgen.pki import AGENCY_CN
    from tests.pdfgen.poppler import make_nssdb, pdfsig

    signed = sign_pdf((DIR / "garuda-vector.pdf").read_bytes(),
                      SignerConfig(pki.agency_p12, pki.passphrase), now=dt.datetime.now(dt.UTC))
    assert check(signed) == "free"
    _, stamped, _ = _stamp(signed)
    nss = make_nssdb(tmp_path_factory.mktemp("nss"), pki.ca_pem)
    (block,) = _signatures(pdfsig(stamped, nss))
    _assert_good(block, AGENCY_CN, whole_file=False)


@pytest.mark.parametrize("name", ["landscape.pdf", "letter-size.pdf"])
def test_page_size_from_the_page_tree_is_honoured(name: str) -> None:
    """fpdf2 writes the media box once, on /Pages: the stamp's frame inherits it (it was taken
    for A4, so a Letter page's fixed-corner stamp stood 50 pt above the page's top)."""
    from gateway.pdf.opening import open_pdf_for_update

    pdf = (DIR / name).read_bytes()
    writer = open_pdf_for_update(pdf)
    page_ref, _ = writer.find_page_for_modification(0)
    assert "/MediaBox" not in page_ref.get_object()  # inherited: what this test is about
    frame = page_frame(page_ref.get_object())
    ink = ink_map(pdf)
    assert ink is not None and frame.shown_size == pytest.approx((ink.width, ink.height), abs=1.5)
    fixed = stamp_receipt_placed(pdf, ReceiptStamp(AGENCY, NUMBER, AT, True), StampStyle())
    moved = ink_map(fixed.pdf, cell=1.0, clearance=0.0)
    assert moved is not None
    w, h = fixed.size
    # the fixed corner is 28 pt from the top right of the page as shown, inside the page
    assert _inked(moved, (frame.shown_size[0] - 28 - w, 28, frame.shown_size[0] - 28, 28 + h)) > h / 2


def test_counts() -> None:
    """The measure of the corpus: how many letterheads found blank space, how many fell back."""
    pdfs = {str(e["file"]): (DIR / str(e["file"])).read_bytes() for e in TRUTH}
    outcomes = {f: check(pdf) for f, pdf in pdfs.items()}
    free = sorted(f for f, o in outcomes.items() if o == "free")
    covers = sorted(f for f, o in outcomes.items() if o == "covers")
    print(f"letterheads: {len(outcomes)}; blank space: {len(free)}; white box: {len(covers)} {covers}")
    for f, pdf in pdfs.items():
        region, scale = SEEN[hash(pdf)]
        print(f"  {f:24s} {region:9s} scale {scale:.2f}")
    assert outcomes == {str(e["file"]): e["expect"] for e in TRUTH}
