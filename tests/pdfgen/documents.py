"""Test PDFs made at test time: the shapes of letters the gateway meets in the wild.

Built with pyHanko's low-level writer (not with the code under test) so a bug in
`gateway.pdf.stamp` cannot hide itself in its own fixtures. Each `PdfSpec`
names one variation: paper size, orientation, `/Rotate`, header version, an
image-only "scan", existing annotations, or encryption with an owner password only
or with a user password.
"""

from __future__ import annotations

import functools
import io
import random
import zlib
from dataclasses import dataclass
from typing import Literal

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.crypt import StandardSecurityHandler
from pyhanko.pdf_utils.crypt.permissions import StandardPermissions
from pyhanko.pdf_utils.crypt.standard import StandardSecuritySettingsRevision
from pyhanko.pdf_utils.font.opentype import GlyphAccumulator
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

FONT = "/usr/share/fonts/opentype/tlwg/Laksaman.otf"

PAGE_SIZES: dict[str, tuple[float, float]] = {
    "A4": (595.28, 841.89),
    "Letter": (612.0, 792.0),
}

# The page-1 text of the sample letter: what a field parser would look for.
LETTER_LINES: tuple[str, ...] = (
    "ที่ ศธ 04183/1234",
    "สำนักงานเขตพื้นที่การศึกษาทดสอบ",
    "วันที่ 21 พฤศจิกายน 2569",
    "เรื่อง ขอเชิญประชุมคณะกรรมการ",
    "เรียน ผู้อำนวยการโรงเรียนทุกแห่ง",
)

# Uncompressed, ASCII and unique: `tamper()` flips it inside the signed bytes.
MARKER = b"ORIGINAL-LETTER-BODY"

OWNER_PASSWORD = "owner-secret"
USER_PASSWORD = "user-secret"

Content = Literal["letter", "blank", "scan"]
Encryption = Literal["none", "owner-rc4", "owner-aes256", "user-aes128"]


@dataclass(frozen=True)
class PdfSpec:
    size: str = "A4"
    landscape: bool = False
    rotate: int = 0
    pages: int = 1
    version: tuple[int, int] = (1, 7)
    content: Content = "letter"
    annotations: bool = False
    encryption: Encryption = "none"
    scan_noise: bool = False  # incompressible scan pages, for the ~1 MB benchmark letter
    lines: tuple[str, ...] = LETTER_LINES  # page-1 text of a "letter"


def _media_box(spec: PdfSpec) -> tuple[float, float]:
    w, h = PAGE_SIZES[spec.size]
    return (h, w) if spec.landscape else (w, h)


def _thai_text_ops(writer: PdfFileWriter, lines: tuple[str, ...], x: float, top: float, size: int):
    """Shaped Thai lines (HarfBuzz) as content-stream operators and the font engine used."""
    with open(FONT, "rb") as fh:
        engine = GlyphAccumulator(
            writer,
            io.BytesIO(fh.read()),
            font_size=size,
            ot_script_tag="thai",
            ot_language_tag="THA ",
            bcp47_lang_code="th",
        )
    ops = []
    for i, line in enumerate(lines):
        shaped = engine.shape(line)
        y = top - i * size * 1.6
        ops.append(b"BT /FTH %d Tf 1 0 0 1 %g %g Tm %s ET" % (size, x, y, shaped.graphics_ops))
    _word_like_tounicode(engine)
    return b"\n".join(ops), engine


def _word_like_tounicode(engine: GlyphAccumulator) -> None:
    """Map every glyph to text the way Word and LibreOffice do: a positional variant
    ("uni0E49.low") to its character, ำ's two glyphs to ํ and า. pyHanko alone leaves
    those unmapped (it relies on /ActualText), which is not what arriving letters carry."""
    for gid, (cid, _) in engine._glyphs.items():
        name = engine.tt.getGlyphName(gid)
        if gid and cid not in engine._cid_to_unicode and name.startswith("uni"):
            engine._cid_to_unicode[cid] = chr(int(name[3:7], 16))


def _scan_image(writer: PdfFileWriter, width_px: int, height_px: int, noise: bool, seed: int):
    """A grey 8-bit 'scanned page': white paper with dark bars where text lines would be."""
    rnd = random.Random(seed)
    rows = bytearray()
    for y in range(height_px):
        in_text_band = (height_px * 0.35 < y < height_px * 0.8) and (y // 6) % 3 != 0
        for x in range(width_px):
            # paper grain: sparse grey speckles, which compress about as badly as a real scan
            v = rnd.randrange(150, 256) if noise and rnd.random() < 0.04 else 255
            if in_text_band and width_px * 0.12 < x < width_px * 0.7:
                v = rnd.randrange(0, 90)
            rows.append(v)
    data = zlib.compress(bytes(rows), 6)
    img = generic.StreamObject(
        {
            pdf_name("/Type"): pdf_name("/XObject"),
            pdf_name("/Subtype"): pdf_name("/Image"),
            pdf_name("/Width"): generic.NumberObject(width_px),
            pdf_name("/Height"): generic.NumberObject(height_px),
            pdf_name("/ColorSpace"): pdf_name("/DeviceGray"),
            pdf_name("/BitsPerComponent"): generic.NumberObject(8),
            pdf_name("/Filter"): pdf_name("/FlateDecode"),
        },
        encoded_data=data,
    )
    return writer.add_object(img)


def _annotations(writer: PdfFileWriter, w: float, h: float) -> generic.ArrayObject:
    """A sticky note, a square markup with an appearance stream, and a link."""
    ap = generic.StreamObject(
        {
            pdf_name("/Type"): pdf_name("/XObject"),
            pdf_name("/Subtype"): pdf_name("/Form"),
            pdf_name("/BBox"): generic.ArrayObject(map(generic.FloatObject, (0, 0, 100, 40))),
        },
        stream_data=b"1 0 0 RG 2 w 1 1 98 38 re S",
    )
    square = generic.DictionaryObject(
        {
            pdf_name("/Type"): pdf_name("/Annot"),
            pdf_name("/Subtype"): pdf_name("/Square"),
            pdf_name("/Rect"): generic.ArrayObject(
                map(generic.FloatObject, (72, h * 0.2, 172, h * 0.2 + 40))
            ),
            pdf_name("/C"): generic.ArrayObject(map(generic.FloatObject, (1, 0, 0))),
            pdf_name("/F"): generic.NumberObject(4),
            pdf_name("/AP"): generic.DictionaryObject({pdf_name("/N"): writer.add_object(ap)}),
        }
    )
    note = generic.DictionaryObject(
        {
            pdf_name("/Type"): pdf_name("/Annot"),
            pdf_name("/Subtype"): pdf_name("/Text"),
            pdf_name("/Rect"): generic.ArrayObject(
                map(generic.FloatObject, (w - 60, h * 0.5, w - 40, h * 0.5 + 20))
            ),
            pdf_name("/Contents"): generic.TextStringObject("หมายเหตุของผู้ส่ง"),
            pdf_name("/F"): generic.NumberObject(4),
        }
    )
    link = generic.DictionaryObject(
        {
            pdf_name("/Type"): pdf_name("/Annot"),
            pdf_name("/Subtype"): pdf_name("/Link"),
            pdf_name("/Rect"): generic.ArrayObject(map(generic.FloatObject, (72, 72, 200, 90))),
            pdf_name("/Border"): generic.ArrayObject(map(generic.NumberObject, (0, 0, 0))),
            pdf_name("/A"): generic.DictionaryObject(
                {
                    pdf_name("/S"): pdf_name("/URI"),
                    pdf_name("/URI"): generic.pdf_string("https://example.go.th/"),
                }
            ),
        }
    )
    return generic.ArrayObject(writer.add_object(a) for a in (square, note, link))


@functools.lru_cache(maxsize=64)  # specs are frozen and bytes immutable: share across tests
def make_pdf(spec: PdfSpec = PdfSpec()) -> bytes:
    # PDF 1.4 predates cross-reference streams (PDF 1.5): write a classic xref table.
    classic = spec.version < (1, 5)
    writer = PdfFileWriter(stream_xrefs=not classic)
    w, h = _media_box(spec)
    engine = None
    for page_no in range(spec.pages):
        resources = generic.DictionaryObject(
            {
                pdf_name("/Font"): generic.DictionaryObject(
                    {
                        pdf_name("/Helv"): generic.DictionaryObject(
                            {
                                pdf_name("/Type"): pdf_name("/Font"),
                                pdf_name("/Subtype"): pdf_name("/Type1"),
                                pdf_name("/BaseFont"): pdf_name("/Helvetica"),
                            }
                        )
                    }
                )
            }
        )
        ops: list[bytes] = []
        if spec.content == "scan":
            px_w, px_h = (int(w * 150 / 72) // 2, int(h * 150 / 72) // 2)
            img = _scan_image(writer, px_w, px_h, spec.scan_noise, seed=page_no)
            resources[pdf_name("/XObject")] = generic.DictionaryObject({pdf_name("/Im0"): img})
            # Scanners often leave the CTM changed with no q/Q around it.
            ops.append(b"%g 0 0 %g 0 0 cm /Im0 Do" % (w, h))
        elif spec.content == "letter":
            if page_no == 0:
                text, engine = _thai_text_ops(writer, spec.lines, 72, h * 0.62, 16)
                ops.append(text)
            ops.append(b"BT /Helv 10 Tf 72 60 Td (%s page %d) Tj ET" % (MARKER, page_no + 1))
        content = generic.StreamObject(stream_data=b"\n".join(ops))
        page = PageObject(writer.add_object(content), (0, 0, w, h), resources)
        if spec.rotate:
            page[pdf_name("/Rotate")] = generic.NumberObject(spec.rotate)
        if spec.annotations and page_no == 0:
            page[pdf_name("/Annots")] = _annotations(writer, w, h)
        page_ref = writer.insert_page(page)
        if engine is not None and page_no == 0:
            page_obj = page_ref.get_object()
            page_obj["/Resources"]["/Font"][pdf_name("/FTH")] = engine.as_resource()
    if spec.encryption != "none":
        _encrypt(writer, spec.encryption)
    if spec.encryption == "none":
        writer.output_version = spec.version
    else:  # the security handler may need a newer version than asked for
        writer.output_version = max(writer.output_version, spec.version)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _encrypt(writer: PdfFileWriter, mode: Encryption) -> None:
    # "Restrict editing" exports: printing allowed, changes not (ISO 32000-2 Table 22).
    perms = StandardPermissions.allow_everything() & ~StandardPermissions.ALLOW_MODIFICATION_GENERIC
    if mode == "owner-rc4":
        sh = StandardSecurityHandler.build_from_pw_legacy(
            StandardSecuritySettingsRevision.RC4_OR_AES128,
            writer.document_id[0],
            OWNER_PASSWORD,
            "",
            keylen_bytes=16,
            use_aes128=False,
            perms=perms,
        )
    elif mode == "owner-aes256":
        sh = StandardSecurityHandler.build_from_pw(OWNER_PASSWORD, "", perms=perms, pdf_mac=False)
    else:
        sh = StandardSecurityHandler.build_from_pw_legacy(
            StandardSecuritySettingsRevision.RC4_OR_AES128,
            writer.document_id[0],
            OWNER_PASSWORD,
            USER_PASSWORD,
            keylen_bytes=16,
            use_aes128=True,
        )
    writer._assign_security_handler(sh)


def corrupt_pdf() -> bytes:
    """A real PDF cut off in the middle: no xref, no trailer, no %%EOF."""
    whole = make_pdf(PdfSpec(version=(1, 4)))
    return whole[: len(whole) // 2]


def garbled_pdf() -> bytes:
    """Header and EOF intact, body overwritten: the xref points at garbage."""
    whole = bytearray(make_pdf(PdfSpec(version=(1, 4))))
    for i in range(200, len(whole) - 200):
        whole[i] = 0x41 + (i % 26)
    return bytes(whole)


def not_a_pdf() -> bytes:
    """What arrives when a sender attaches a Word file and names it .pdf."""
    return b"PK\x03\x04\x14\x00\x06\x00" + b"word/document.xml" + bytes(300)


def tamper(pdf: bytes) -> bytes:
    """Change one letter of the uncompressed page text: same length, still a valid PDF."""
    at = pdf.index(MARKER)
    return pdf[:at] + b"X" + pdf[at + 1 :]
