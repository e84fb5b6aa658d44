"""Signing what the agency sends: PAdES signatures with the agency's certificate (issue 4).

Effects step of an outgoing letter, after it has its send number and its name: the
pipeline calls `sign_pdf` with the agency's PKCS#12 (the caller reads the passphrase
from the environment) and sends the result. The signature is an incremental update,
so a signature already in the file (a co-signer, an earlier approval) stays valid.

PAdES baseline B-B by default; B-T when a timestamp authority URL is configured (the
TSA's RFC 3161 token proves the signature existed at that time, which outlives the
certificate). An optional visible box shows the signer's name and position in Thai,
shaped and embedded like the receive stamp.

CPU-bound, and with B-T one HTTP request bounded by `timestamp_timeout`: call from a
thread.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import datetime

from pyhanko.pdf_utils.layout import AxisAlignment, Margins, SimpleBoxLayoutRule
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError
from pyhanko.sign.timestamps import HTTPTimeStamper, TimestampRequestError
from pyhanko.stamp import TextStampStyle

from gateway.errors import ConfigError, Permanent, Transient
from gateway.pdf.fonts import ThaiFontFactory, default_font_path, read_font
from gateway.pdf.opening import CORRUPT, PdfUnreadable, open_pdf_for_update
from gateway.pdf.page import page_frame
from gateway.thai import BANGKOK, format_short_date, format_time


@dataclass(frozen=True)
class VisibleSignature:
    """The box a reader sees where the letter is signed."""

    signer_name: str  # e.g. "นายสมชาย ใจดี"
    position: str  # ตำแหน่ง, e.g. "ผู้อำนวยการสำนักงานเขตพื้นที่การศึกษา"
    page: int = -1  # the signature block of a Thai letter is on its last page
    # (x1, y1, x2, y2) in PDF points, page user space; None: lower right of the page.
    box: tuple[float, float, float, float] | None = None
    font_path: str | None = None  # None: Laksaman
    font_size: int = 12
    thai_digits: bool = True


@dataclass(frozen=True)
class SignerConfig:
    pkcs12: bytes = field(repr=False)  # the agency's certificate, key and chain
    passphrase: bytes | None = field(repr=False)  # from the environment, never config.toml
    timestamp_url: str | None = None  # set: PAdES B-T; unset: B-B
    timestamp_timeout: float = 10.0
    field_name: str | None = None  # None: a fresh "SarabanSignature<n>"
    reason: str | None = None  # /Reason, e.g. "ลงนามหนังสือส่งออก"
    location: str | None = None
    visible: VisibleSignature | None = None
    md_algorithm: str = "sha256"


def _load_signer(config: SignerConfig) -> signers.SimpleSigner:
    try:
        return signers.SimpleSigner.load_pkcs12_data(
            config.pkcs12, other_certs=[], passphrase=config.passphrase
        )
    except ValueError as exc:
        raise ConfigError(
            "เปิดไฟล์ใบรับรอง PKCS#12 ไม่ได้ (ไฟล์ไม่ถูกต้องหรือรหัสผ่านผิด)",
            "cannot open the PKCS#12 certificate file (damaged file or wrong passphrase)",
        ) from exc


def _reserve(cms_signer: signers.SimpleSigner, *, timestamped: bool) -> int:
    """Room for the CMS blob in /Contents, so pyHanko need not sign a dummy first to
    measure it (that dry run costs as much as the signature itself).

    The blob holds the signer's certificate and chain, about 1.5 KB of signed attributes
    and the signature value; a B-T timestamp token carries the TSA's own certificates,
    whose size we cannot know before asking, so it gets a generous allowance.
    """
    chain = [*cms_signer.cert_registry, cms_signer.signing_cert]
    certs = sum(len(c.dump()) for c in chain if c is not None)
    size = certs + 4096 + (24_576 if timestamped else 0)
    return (size + 1023) // 1024 * 1024


def _free_field_name(writer, wanted: str | None) -> str:  # type: ignore[no-untyped-def]
    taken = {name for name, _, _ in fields.enumerate_sig_fields(writer)}
    if wanted is not None:
        if wanted in taken:
            raise ConfigError(
                f"มีช่องลายมือชื่อ {wanted} อยู่แล้วในเอกสาร",
                f"the document already has a signature field named {wanted}",
            )
        return wanted
    n = 1
    while (name := "SarabanSignature" + (str(n) if n > 1 else "")) in taken:
        n += 1
    return name


def _visible_box(writer, visible: VisibleSignature) -> tuple[int, tuple[int, int, int, int]]:  # type: ignore[no-untyped-def]
    page_count = int(writer.root["/Pages"]["/Count"])
    page_ix = visible.page if visible.page >= 0 else page_count + visible.page
    if not 0 <= page_ix < page_count:
        raise ConfigError(
            f"ไม่มีหน้าที่ {visible.page + 1} สำหรับกรอบลายมือชื่อ",
            f"page {visible.page} does not exist for the visible signature",
        )
    if visible.box is not None:
        x1, y1, x2, y2 = visible.box
    else:
        page_ref, _ = writer.find_page_for_modification(page_ix)
        frame = page_frame(page_ref.get_object())
        # Lower right of the crop box in user space: pyHanko turns the appearance with
        # the page (rotate_with_page), so on a rotated page it still reads upright.
        x2, y1 = frame.x0 + frame.w - 48, frame.y0 + 56
        x1, y2 = x2 - 230, y1 + 84
    return page_ix, (round(x1), round(y1), round(x2), round(y2))


def _appearance(visible: VisibleSignature, now: datetime) -> tuple[TextStampStyle, dict[str, str]]:
    font = visible.font_path or default_font_path()
    read_font(font)
    size = visible.font_size
    style = TextStampStyle(
        # Text params go in as values, so a "%" in a name cannot break the template.
        stamp_text="ลงนามด้วยลายมือชื่อดิจิทัล\n(%(name)s)\n%(position)s\n%(when)s",
        text_box_style=TextBoxStyle(
            font=ThaiFontFactory(font, font_size=size),
            font_size=size,
            leading=round(1.4 * size),  # room for stacked Thai vowels and tone marks
            box_layout_rule=SimpleBoxLayoutRule(
                x_align=AxisAlignment.ALIGN_MID,
                y_align=AxisAlignment.ALIGN_MID,
                margins=Margins.uniform(4),
            ),
        ),
        border_width=1,
    )
    when = (
        f"{format_short_date(now, thai_digits=visible.thai_digits)} "
        f"{format_time(now, thai_digits=visible.thai_digits)}"
    )
    return style, {"name": visible.signer_name, "position": visible.position, "when": when}


def sign_pdf(pdf: bytes, signer: SignerConfig, *, now: datetime) -> bytes:
    """Return `pdf` with the agency's PAdES signature appended as an incremental update.

    Raises `PdfUnreadable` for a file that cannot be opened, `ConfigError` for a bad
    PKCS#12, passphrase, font or box, `Transient` when the timestamp authority cannot
    be reached, and `Permanent` when the document forbids further signatures.
    """
    cms_signer = _load_signer(signer)
    writer = open_pdf_for_update(pdf)
    try:
        name = _free_field_name(writer, signer.field_name)
        field_spec = None
        stamp_style = None
        text_params: dict[str, str] | None = None
        if signer.visible is not None:
            page_ix, box = _visible_box(writer, signer.visible)
            field_spec = fields.SigFieldSpec(sig_field_name=name, on_page=page_ix, box=box)
            stamp_style, text_params = _appearance(signer.visible, now.astimezone(BANGKOK))
        meta = signers.PdfSignatureMetadata(
            field_name=name,
            md_algorithm=signer.md_algorithm,
            # ETSI.CAdES.detached: PAdES baseline (ETSI EN 319 142-1), not adbe.pkcs7.
            subfilter=fields.SigSeedSubFilter.PADES,
            reason=signer.reason,
            location=signer.location,
        )
        timestamper = (
            HTTPTimeStamper(signer.timestamp_url, timeout=signer.timestamp_timeout)
            if signer.timestamp_url
            else None
        )
        pdf_signer = signers.PdfSigner(
            meta,
            cms_signer,
            timestamper=timestamper,
            stamp_style=stamp_style,
            new_field_spec=field_spec,
        )
        out = pdf_signer.sign_pdf(
            writer,
            appearance_text_params=text_params,
            bytes_reserved=_reserve(cms_signer, timestamped=timestamper is not None),
        )
    except (PdfUnreadable, ConfigError):
        raise
    except TimestampRequestError as exc:
        raise Transient(
            f"ติดต่อผู้ให้บริการประทับรับรองเวลาไม่ได้ (timestamp authority unreachable): {exc}"
        ) from exc
    except SigningError as exc:
        raise Permanent(f"ลงนามเอกสารนี้ไม่ได้ (cannot sign this document): {exc}") from exc
    except Exception as exc:
        # Parser boundary (see pdfcheck._open_reader): damage that only shows on writing.
        th, en = CORRUPT
        raise PdfUnreadable(th, f"{en}: {type(exc).__name__}: {exc}") from exc
    result = out.getvalue() if isinstance(out, io.BytesIO) else bytes(out.read())
    if not result.startswith(pdf):
        raise AssertionError("signed PDF does not begin with the original bytes")
    return result
