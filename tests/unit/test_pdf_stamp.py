"""The receive stamp (gateway.pdf.stamp) over the shapes of PDF letters that arrive.

Tests marked `integration` read the result back with poppler (pdftotext, pdftoppm): an
independent renderer, so a stamp that only pyHanko can see does not pass.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path

import pytest
from fontTools.ttLib import TTFont
from pyhanko.pdf_utils.reader import PdfFileReader

from gateway.errors import ConfigError
from gateway.pdf.check import PdfUnreadable, normalise_extracted_thai
from gateway.pdf.fonts import default_font_path
from gateway.pdf.page import PageFrame
from gateway.pdf.stamp import Corner, ReceiptStamp, StampStyle, stamp_receipt
from gateway.thai import to_arabic_digits
from tests.pdfgen.documents import (
    PdfSpec,
    corrupt_pdf,
    garbled_pdf,
    make_pdf,
    not_a_pdf,
)
from tests.pdfgen.poppler import pdftotext, render_page1

# pki, sender_signed_pdf: session fixtures shared by the PDF tests

AGENCY = "สำนักงานเขตพื้นที่การศึกษาทดสอบ"
# 03:05 UTC is 10:05 in Bangkok; 22 Nov 2026 is 22 พ.ย. 2569.
RECEIVED = dt.datetime(2026, 11, 22, 3, 5, tzinfo=dt.UTC)
STAMP = ReceiptStamp(AGENCY, 1234, RECEIVED, thai_digits=True)
EXPECTED_LINES = (AGENCY, "เลขรับ 1234", "วันที่ 22 พ.ย. 2569", "เวลา 10:05 น.")

VARIANTS: dict[str, PdfSpec] = {
    "a4": PdfSpec(),
    "letter": PdfSpec(size="Letter"),
    "landscape": PdfSpec(landscape=True),
    "rotate90": PdfSpec(rotate=90),
    "rotate270": PdfSpec(rotate=270),
    "scan": PdfSpec(content="scan"),
    "annotations": PdfSpec(annotations=True),
    "pdf14": PdfSpec(version=(1, 4)),
    "pdf20": PdfSpec(version=(2, 0)),
    "owner_rc4": PdfSpec(encryption="owner-rc4"),
    "owner_aes256": PdfSpec(encryption="owner-aes256"),
    "three_pages": PdfSpec(pages=3),
}


def _read(pdf: bytes) -> PdfFileReader:
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    if reader.encrypted:
        reader.decrypt(b"")
    return reader


def _readback(pdf: bytes) -> list[str]:
    text = to_arabic_digits(normalise_extracted_thai(pdftotext(pdf)))
    return [line.strip() for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("name", VARIANTS)
def test_original_is_a_byte_identical_prefix(name: str) -> None:
    original = make_pdf(VARIANTS[name])
    stamped = stamp_receipt(original, STAMP)
    assert stamped[: len(original)] == original
    assert len(stamped) > len(original)
    # the update is a proper revision: one more xref section, same pages
    before, after = _read(original), _read(stamped)
    assert after.xrefs.total_revisions == before.xrefs.total_revisions + 1
    assert after.root["/Pages"]["/Count"] == before.root["/Pages"]["/Count"]


@pytest.mark.integration
@pytest.mark.parametrize("name", VARIANTS)
def test_four_fields_read_back_from_the_text_layer(name: str) -> None:
    lines = _readback(stamp_receipt(make_pdf(VARIANTS[name]), STAMP))
    for expected in EXPECTED_LINES:
        assert expected in lines, (expected, lines)


@pytest.mark.integration
def test_thai_digits_are_written_as_configured() -> None:
    thai = pdftotext(stamp_receipt(make_pdf(PdfSpec(content="blank")), STAMP))
    arabic = pdftotext(
        stamp_receipt(
            make_pdf(PdfSpec(content="blank")), ReceiptStamp(AGENCY, 1234, RECEIVED, False)
        )
    )
    assert "๑๒๓๔" in thai and "1234" not in thai
    assert "1234" in arabic and "๑๒๓๔" not in arabic
    assert "\u25cc" not in thai + arabic  # no dotted circle in the text layer either


def test_stamp_lines_follow_the_regulation_format() -> None:
    assert STAMP.lines() == (AGENCY, "เลขรับ ๑๒๓๔", "วันที่ ๒๒ พ.ย. ๒๕๖๙", "เวลา ๑๐:๐๕ น.")
    # just before midnight UTC is already the next morning in Bangkok
    late = ReceiptStamp("ก", "7/2569", dt.datetime(2026, 12, 31, 17, 30, tzinfo=dt.UTC), False)
    assert late.lines()[1:] == ("เลขรับ 7/2569", "วันที่ 1 ม.ค. 2570", "เวลา 00:30 น.")


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError):
        ReceiptStamp(AGENCY, 1, dt.datetime(2026, 1, 1, 9, 0))


@pytest.mark.parametrize(
    "make",
    [
        corrupt_pdf,
        garbled_pdf,
        not_a_pdf,
        lambda: b"",
        lambda: b"%PDF-1.7\n%%EOF\n",
        lambda: make_pdf(PdfSpec(encryption="user-aes128")),
    ],
    ids=["truncated", "garbled", "zip", "empty", "header-only", "user-password"],
)
def test_unreadable_pdfs_raise_pdf_unreadable_with_a_thai_reason(make) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PdfUnreadable) as info:
        stamp_receipt(make(), STAMP)
    assert re.search("[\u0e01-\u0e4f]", info.value.reason_th)
    assert info.value.reason_en


def test_user_password_reason_says_password() -> None:
    with pytest.raises(PdfUnreadable) as info:
        stamp_receipt(make_pdf(PdfSpec(encryption="user-aes128")), STAMP)
    assert "รหัสผ่าน" in info.value.reason_th


def test_damage_anywhere_gives_pdf_unreadable_or_a_stamped_copy() -> None:
    """Truncations and byte flips across the file: never an exception of another type."""
    original = make_pdf(PdfSpec(version=(1, 4)))
    cases = [original[:cut] for cut in range(0, len(original), max(1, len(original) // 25))]
    for i in range(25):
        flipped = bytearray(original)
        at = (i * 7919) % len(flipped)
        flipped[at] ^= 0xFF
        cases.append(bytes(flipped))
    outcomes = {"stamped": 0, "unreadable": 0}
    for case in cases:
        try:
            out = stamp_receipt(case, STAMP)
        except PdfUnreadable:
            outcomes["unreadable"] += 1
        else:
            assert out.startswith(case)
            outcomes["stamped"] += 1
    assert outcomes["unreadable"] >= 20  # the truncations, at least


def test_owner_password_file_stays_encrypted_after_stamping() -> None:
    stamped = stamp_receipt(make_pdf(PdfSpec(encryption="owner-aes256")), STAMP)
    reader = PdfFileReader(io.BytesIO(stamped), strict=False)
    assert reader.encrypted
    assert reader.decrypt(b"").status.name == "USER"


def test_existing_annotations_are_kept() -> None:
    original = make_pdf(PdfSpec(annotations=True))
    before = [
        a.get_object()["/Subtype"] for a in _read(original).root["/Pages"]["/Kids"][0]["/Annots"]
    ]
    page = _read(stamp_receipt(original, STAMP)).root["/Pages"]["/Kids"][0]
    assert (
        [a.get_object()["/Subtype"] for a in page["/Annots"]]
        == before
        == ["/Square", "/Text", "/Link"]
    )


def test_missing_font_is_a_config_error_not_a_pdf_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        stamp_receipt(make_pdf(), STAMP, StampStyle(font_path=str(tmp_path / "none.otf")))
    not_font = tmp_path / "x.ttf"
    not_font.write_bytes(b"not a font at all")
    with pytest.raises(ConfigError):
        stamp_receipt(make_pdf(), STAMP, StampStyle(font_path=str(not_font)))


def test_page_that_does_not_exist_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        stamp_receipt(make_pdf(), STAMP, StampStyle(page=3))


def test_default_font_is_laksaman() -> None:
    assert Path(default_font_path()).name.lower().startswith("laksaman")


def _stamp_font_descriptor(pdf: bytes):  # type: ignore[no-untyped-def]
    page = _read(pdf).root["/Pages"]["/Kids"][0].get_object()
    form = next(
        v.get_object()
        for k, v in page["/Resources"]["/XObject"].items()
        if k.startswith("/SarabanStamp")
    )
    type0 = form["/Resources"]["/Font"]["/FTH"]
    return type0["/DescendantFonts"][0]["/FontDescriptor"]


def test_font_is_embedded_otf_by_default_and_ttf_when_configured() -> None:
    assert "/FontFile3" in _stamp_font_descriptor(stamp_receipt(make_pdf(), STAMP))
    ttf = StampStyle(font_path="/usr/share/fonts/truetype/tlwg/Laksaman.ttf")
    assert "/FontFile2" in _stamp_font_descriptor(stamp_receipt(make_pdf(), STAMP, ttf))


# --- geometry without a renderer ------------------------------------------------------------


@pytest.mark.parametrize(
    ("rotate", "expected"),
    [
        # the shown top-right corner of a 100x200 crop box at (10, 20), per /Rotate
        (0, (110, 220)),
        (90, (10, 220)),  # turned clockwise: the user-space top-left is shown top-right
        (180, (10, 20)),
        (270, (110, 20)),
    ],
)
def test_frame_maps_the_shown_top_right_corner(rotate: int, expected: tuple[int, int]) -> None:
    frame = PageFrame(10, 20, 100, 200, rotate)
    shown_w, shown_h = frame.shown_size
    a, b, _, _, e, f = frame.matrix(shown_w, shown_h)
    assert (round(e), round(f)) == expected  # the form origin placed at that corner
    # and the form's x axis runs along the shown page's x axis, i.e. text stays upright
    assert (a, b) == {0: (1, 0), 90: (0, 1), 180: (-1, 0), 270: (0, -1)}[rotate]


# --- what the reader sees -------------------------------------------------------------------

DPI = 100
PT = DPI / 72  # pixels per point


def _check_top_right(pdf: bytes, png: Path | None = None) -> None:
    style = StampStyle()
    raster = render_page1(pdf, DPI, png_to=png)
    bbox = raster.dark_bbox()
    assert bbox is not None, "nothing was drawn"
    x0, y0, x1, y1 = bbox
    # right and top edges of the border sit at the configured margins (±3 px of rounding)
    assert abs(x1 - (raster.width - style.margin_x * PT)) <= 3, (bbox, raster.width)
    assert abs(y0 - style.margin_y * PT) <= 3, bbox
    # a box wider than tall: drawn upright as the page is shown, even with /Rotate
    assert (x1 - x0) > 1.5 * (y1 - y0), bbox
    assert x0 > raster.width / 3 and y1 < raster.height / 3, bbox
    # the border's top edge is a solid line across the box
    assert raster.dark_count((x0, y0, x1, y0 + 1)) >= 0.9 * (x1 - x0), "no top border"
    # text inside the border
    assert raster.dark_count((x0 + 4, y0 + 4, x1 - 4, y1 - 4)) > 300


@pytest.mark.integration
@pytest.mark.parametrize(
    "spec",
    [
        PdfSpec(content="blank"),
        PdfSpec(content="blank", size="Letter"),
        PdfSpec(content="blank", landscape=True),
        PdfSpec(content="blank", rotate=90),
        PdfSpec(content="blank", rotate=180),
        PdfSpec(content="blank", rotate=270),
        PdfSpec(content="blank", landscape=True, rotate=90),
    ],
    ids=["a4", "letter", "landscape", "rot90", "rot180", "rot270", "landscape-rot90"],
)
def test_box_is_top_right_as_shown_and_the_rest_stays_blank(spec: PdfSpec) -> None:
    # a blank page renders white everywhere, so every dark pixel is the stamp's
    blank = render_page1(make_pdf(spec), DPI)
    assert blank.dark_bbox(250) is None
    _check_top_right(stamp_receipt(make_pdf(spec), STAMP))


@pytest.mark.integration
def test_configured_corner_margins_and_size() -> None:
    style = StampStyle(corner=Corner.BOTTOM_LEFT, margin_x=50, margin_y=70, width=200, height=90)
    raster = render_page1(stamp_receipt(make_pdf(PdfSpec(content="blank")), STAMP, style), DPI)
    x0, y0, x1, y1 = raster.dark_bbox() or (0, 0, 0, 0)
    assert abs(x0 - 50 * PT) <= 3 and abs(y1 - (raster.height - 70 * PT)) <= 3
    assert abs((x1 - x0) - 200 * PT) <= 3 and abs((y1 - y0) - 90 * PT) <= 3


@pytest.mark.integration
def test_long_agency_name_shrinks_inside_the_box() -> None:
    long_name = "สำนักงานเขตพื้นที่การศึกษาประถมศึกษาทดสอบ เขต ๑ กระทรวงศึกษาธิการ"
    stamp = ReceiptStamp(long_name, 1, RECEIVED)
    raster = render_page1(stamp_receipt(make_pdf(PdfSpec(content="blank")), stamp), DPI)
    x0, _, x1, _ = raster.dark_bbox() or (0, 0, 0, 0)
    assert (x1 - x0) <= StampStyle().max_width * PT + 2  # the border still bounds all ink
    assert long_name in normalise_extracted_thai(pdftotext(stamp_receipt(make_pdf(), stamp)))


@pytest.mark.integration
def test_scan_page_keeps_its_image_and_gets_the_stamp(tmp_path: Path) -> None:
    original = make_pdf(PdfSpec(content="scan"))
    before = render_page1(original, DPI)
    after = render_page1(stamp_receipt(original, STAMP), DPI, png_to=tmp_path / "scan.png")
    # the scan's dark text bands (left and middle of the page) are unchanged
    band = (
        int(before.width * 0.15),
        int(before.height * 0.4),
        int(before.width * 0.6),
        int(before.height * 0.75),
    )
    assert after.dark_count(band) == before.dark_count(band) > 1000
    # and the top-right corner, blank on the scan, now holds the stamp
    corner = (int(after.width * 0.6), 0, after.width - 1, int(after.height * 0.2))
    assert before.dark_count(corner) == 0 and after.dark_count(corner) > 1000


# --- shaping --------------------------------------------------------------------------------


def _stamp_glyph_names(pdf: bytes, font_path: str) -> list[str]:
    """Names of the glyphs the stamp's text operators show (CID = glyph id in pyHanko's
    Identity embedding), looked up in the original font."""
    reader = _read(pdf)
    page = reader.root["/Pages"]["/Kids"][0].get_object()
    xobjects = page["/Resources"]["/XObject"]
    form = next(v.get_object() for k, v in xobjects.items() if k.startswith("/SarabanStamp"))
    hexes = re.findall(rb"<([0-9a-fA-F]+)>", form.data)
    order = TTFont(font_path).getGlyphOrder()
    return [order[int(h[i : i + 4], 16)] for h in hexes for i in range(0, len(h), 4)]


def test_no_dotted_circle_glyph_is_used() -> None:
    font = default_font_path()
    names = _stamp_glyph_names(stamp_receipt(make_pdf(), STAMP), font)
    assert len(names) > 40
    assert "dottedcircle" not in names
    assert ".notdef" not in names
    # shaping did its job: Laksaman's low tone mark variant under an ascender-less base
    shaped = _stamp_glyph_names(
        stamp_receipt(make_pdf(), ReceiptStamp("ผู้อำนวยการ น้ำ", 1, RECEIVED)), font
    )
    assert "uni0E49.low" in shaped


def test_dotted_circle_detector_can_fail() -> None:
    """The check above does see a ◌ when one is drawn (HarfBuzz's Thai shaper inserts none
    for broken clusters, so the control draws one on purpose)."""
    broken = ReceiptStamp("\u25cc\u0e48 ทดสอบ", 1, RECEIVED)
    names = _stamp_glyph_names(stamp_receipt(make_pdf(), broken), default_font_path())
    assert "dottedcircle" in names


# --- signed letters -------------------------------------------------------------------------


def test_signed_revision_survives_byte_for_byte(sender_signed_pdf: bytes) -> None:
    from gateway.pdf.check import Verdict, inspect_pdf

    stamped = stamp_receipt(sender_signed_pdf, STAMP)
    assert stamped.startswith(sender_signed_pdf)
    reader = _read(stamped)
    (sig,) = reader.embedded_regular_signatures
    # the signed byte range ends inside the original: it is the original revision
    start, _, start2, len2 = (int(v) for v in sig.sig_object["/ByteRange"])
    assert start == 0 and start2 + len2 == len(sender_signed_pdf)
    now = dt.datetime.now(dt.UTC)
    # validated on the original: genuine; on the stamped copy: digest intact, but the
    # stamp counts as a change after signing, which is why the gateway checks first
    assert inspect_pdf(sender_signed_pdf, now=now).signatures[0].intact
    copy = inspect_pdf(stamped, now=now).signatures[0]
    assert copy.intact and copy.verdict is Verdict.MODIFIED


def _two_pages_sharing_contents() -> bytes:
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

    writer = PdfFileWriter()
    text = generic.StreamObject(stream_data=b"BT /Helv 12 Tf 72 72 Td (shared) Tj ET")
    shared = writer.add_object(generic.ArrayObject([writer.add_object(text)]))
    helv = generic.DictionaryObject(
        {
            generic.pdf_name("/Type"): generic.pdf_name("/Font"),
            generic.pdf_name("/Subtype"): generic.pdf_name("/Type1"),
            generic.pdf_name("/BaseFont"): generic.pdf_name("/Helvetica"),
        }
    )
    for _ in range(2):
        page = PageObject(
            writer.add_object(generic.ArrayObject()),
            (0, 0, 595, 842),
            generic.DictionaryObject(
                {
                    generic.pdf_name("/Font"): generic.DictionaryObject(
                        {generic.pdf_name("/Helv"): helv}
                    )
                }
            ),
        )
        page[generic.pdf_name("/Contents")] = shared
        writer.insert_page(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.integration
def test_stamp_stays_on_page_one_when_pages_share_contents() -> None:
    stamped = stamp_receipt(_two_pages_sharing_contents(), STAMP)
    page1 = pdftotext(stamped)
    both = pdftotext(stamped, first_page_only=False)
    assert "shared" in page1 and "เลขรับ" in page1
    assert both.count("เลขรับ") == 1 and both.count("shared") == 2


def _font_program(original: bytes, stamped: bytes) -> bytes:
    """The embedded CFF font program's stream bytes in the stamp's revision."""
    added = stamped[len(original):]
    m = re.search(rb"/CIDFontType0C.*?stream\r?\n(.*?)endstream", added, re.S)
    assert m is not None, "no embedded CFF font program in the stamp's revision"
    return m.group(1)


def test_stamps_share_one_font_program_and_each_reads_back_its_own_fields() -> None:
    """The compiled subset is reused across stamps (the cost of a stamp), so every glyph a
    stamp can need is in it: each stamp must still read back its own number, date, time."""
    pdf = make_pdf(PdfSpec())
    outs = []
    for n, minutes in ((7, 0), (98765, 61), (2024, 725)):
        at = dt.datetime(2026, 11, 22, 2, 5, tzinfo=dt.UTC) + dt.timedelta(minutes=minutes)
        out = stamp_receipt(pdf, ReceiptStamp("สำนักงานทดสอบการประทับตรา", n, at), StampStyle())
        text = to_arabic_digits(normalise_extracted_thai(pdftotext(out)))
        local = at + dt.timedelta(hours=7)
        assert f"เลขรับ {n}" in text and f"เวลา {local:%H:%M} น." in text
        outs.append(out)
    programs = {_font_program(pdf, out) for out in outs}
    assert len(programs) == 1
