"""Signing outgoing letters (gateway.pdf.sign), checked with pyHanko's validator.
poppler's independent verdict on the same files is in tests/integration/test_pdfsig.py."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader

from gateway.errors import ConfigError, Transient
from gateway.pdf.check import Coverage, Modification, PdfUnreadable, Verdict, inspect_pdf
from gateway.pdf.sign import SignerConfig, VisibleSignature, sign_pdf
from tests.pdfgen.documents import PdfSpec, corrupt_pdf, make_pdf, tamper
from tests.pdfgen.pki import AGENCY_CN, Pki
from tests.pdfgen.tsa import running_tsa

# pki, sender_signed_pdf: session fixtures shared by the PDF tests

NOW = dt.datetime.now(dt.UTC)
VISIBLE = VisibleSignature("นายสมชาย รักราชการ", "ผู้อำนวยการสำนักงานเขตพื้นที่การศึกษาทดสอบ")


def _config(pki: Pki, **kw: object) -> SignerConfig:
    return SignerConfig(pki.agency_p12, pki.passphrase, **kw)  # type: ignore[arg-type]


def _sig_dict(pdf: bytes, index: int = -1):  # type: ignore[no-untyped-def]
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    if reader.encrypted:
        reader.decrypt(b"")
    return reader.embedded_regular_signatures[index]


def test_pades_b_b_by_default(pki: Pki) -> None:
    original = make_pdf()
    signed = sign_pdf(original, _config(pki), now=NOW)
    assert signed.startswith(original)
    emb = _sig_dict(signed)
    assert emb.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    assert emb.field_name == "SarabanSignature"
    # B-B: signing-certificate-v2 signed, no signature timestamp
    attrs = {a["type"].native for a in emb.signer_info["signed_attrs"]}
    assert "signing_certificate_v2" in attrs
    assert emb.signer_info["unsigned_attrs"].native is None
    (sig,) = inspect_pdf(signed, trust_roots=[pki.ca_pem], now=NOW).signatures
    assert sig.verdict is Verdict.VALID and sig.signer_name == AGENCY_CN
    assert sig.coverage is Coverage.ENTIRE_FILE and not sig.timestamped


def test_pades_b_t_with_a_local_timestamp_authority(pki: Pki) -> None:
    before = dt.datetime.now(dt.UTC)  # the TSA stamps its own time: near this, not near NOW
    with running_tsa(pki) as url:
        signed = sign_pdf(make_pdf(), _config(pki, timestamp_url=url), now=NOW)
    after = dt.datetime.now(dt.UTC)
    emb = _sig_dict(signed)
    assert "signature_time_stamp_token" in {
        a["type"].native for a in emb.signer_info["unsigned_attrs"]
    }
    (sig,) = inspect_pdf(signed, trust_roots=[pki.ca_pem], now=NOW).signatures
    assert sig.timestamped and sig.verdict is Verdict.VALID
    assert sig.signing_time is not None
    assert before - dt.timedelta(seconds=2) <= sig.signing_time <= after + dt.timedelta(seconds=2)


def test_unreachable_timestamp_authority_is_transient(pki: Pki) -> None:
    with running_tsa(pki) as url:
        pass  # started and stopped: nothing listens on that port any more
    with pytest.raises(Transient):
        sign_pdf(make_pdf(), _config(pki, timestamp_url=url, timestamp_timeout=3), now=NOW)


def test_existing_signature_stays_valid(sender_signed_pdf: bytes, pki: Pki) -> None:
    cosigned = sign_pdf(sender_signed_pdf, _config(pki, visible=VISIBLE), now=NOW)
    assert cosigned.startswith(sender_signed_pdf)
    sender, ours = inspect_pdf(cosigned, trust_roots=[pki.ca_pem], now=NOW).signatures
    assert sender.verdict is Verdict.VALID and sender.modification is Modification.FORM_FILLING
    assert ours.verdict is Verdict.VALID and ours.field_name == "SarabanSignature"


def test_second_signature_gets_a_fresh_field_name(pki: Pki) -> None:
    twice = sign_pdf(sign_pdf(make_pdf(), _config(pki), now=NOW), _config(pki), now=NOW)
    names = [s.field_name for s in inspect_pdf(twice, now=NOW).signatures]
    assert names == ["SarabanSignature", "SarabanSignature2"]
    with pytest.raises(ConfigError):
        sign_pdf(twice, _config(pki, field_name="SarabanSignature"), now=NOW)


def test_visible_box_is_a_widget_with_an_appearance(pki: Pki) -> None:
    signed = sign_pdf(make_pdf(PdfSpec(pages=2)), _config(pki, visible=VISIBLE), now=NOW)
    emb = _sig_dict(signed)
    x1, y1, x2, y2 = (float(v) for v in emb.sig_field["/Rect"])
    assert x2 - x1 > 150 and y2 - y1 > 50
    assert "/N" in emb.sig_field["/AP"]
    reader = PdfFileReader(io.BytesIO(signed), strict=False)
    last_page = reader.root["/Pages"]["/Kids"][1].get_object()
    assert any(a.get_object().get("/FT") == "/Sig" for a in last_page["/Annots"])


def test_owner_password_pdf_is_signed_and_stays_encrypted(pki: Pki) -> None:
    signed = sign_pdf(make_pdf(PdfSpec(encryption="owner-rc4")), _config(pki), now=NOW)
    assert PdfFileReader(io.BytesIO(signed), strict=False).encrypted
    (sig,) = inspect_pdf(signed, trust_roots=[pki.ca_pem], now=NOW).signatures
    assert sig.verdict is Verdict.VALID


def test_byte_flipped_after_signing_fails(pki: Pki) -> None:
    (sig,) = inspect_pdf(tamper(sign_pdf(make_pdf(), _config(pki), now=NOW)), now=NOW).signatures
    assert sig.verdict is Verdict.TAMPERED and not sig.intact


def test_wrong_passphrase_is_a_config_error(pki: Pki) -> None:
    with pytest.raises(ConfigError):
        sign_pdf(make_pdf(), SignerConfig(pki.agency_p12, b"wrong"), now=NOW)
    with pytest.raises(ConfigError):
        sign_pdf(make_pdf(), SignerConfig(b"not pkcs12", None), now=NOW)


def test_passphrase_never_shows_in_repr(pki: Pki) -> None:
    assert pki.passphrase.decode() not in repr(_config(pki))


@pytest.mark.parametrize(
    "make",
    [corrupt_pdf, lambda: make_pdf(PdfSpec(encryption="user-aes128"))],
    ids=["corrupt", "user-password"],
)
def test_unreadable_input_raises_pdf_unreadable(make, pki: Pki) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PdfUnreadable):
        sign_pdf(make(), _config(pki), now=NOW)
