"""`saraban-gateway pdf stamp | verify | sign` as an operator runs them, checked by poppler too."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from gateway.cli.main import main
from tests.pdfgen.documents import PdfSpec, make_pdf, tamper
from tests.pdfgen.poppler import make_nssdb, pdfsig, pdftotext

pytestmark = pytest.mark.integration

CONFIG = """
[agency]
name_th = "สำนักงานทดสอบ"
letter_code = "ศธ 04183"
latin_code = "TEST04183"
central_addresses = ["saraban@agency.test"]

[signing]
pkcs12_file = "agency.p12"
passphrase_env = "SARABAN_TEST_P12"
visible = true
signer_name = "นายสมชาย ใจดี"
position = "ผู้อำนวยการสำนักงานทดสอบ"
"""


def run(tmp: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--config", str(tmp / "config.toml"), "pdf", *args])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def site(tmp_path: Path, pki, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "config.toml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "agency.p12").write_bytes(pki.agency_p12)
    (tmp_path / "ca.pem").write_bytes(pki.ca_pem)
    monkeypatch.setenv("SARABAN_TEST_P12", pki.passphrase.decode())
    (tmp_path / "letter.pdf").write_bytes(make_pdf(PdfSpec()))
    return tmp_path


def test_stamp_then_sign_then_verify(site: Path) -> None:
    code, out, _ = run(site, "stamp", str(site / "letter.pdf"), "-o", str(site / "stamped.pdf"),
                       "--number", "123", "--at", "2026-11-22T10:05")
    assert code == 0 and "123" in out
    original = (site / "letter.pdf").read_bytes()
    stamped = (site / "stamped.pdf").read_bytes()
    assert stamped.startswith(original)
    text = pdftotext(stamped)
    assert "เลขรับ ๑๒๓" in text and "๒๒ พ.ย. ๒๕๖๙" in text and "๑๐:๐๕ น." in text

    code, out, _ = run(site, "sign", str(site / "stamped.pdf"), "-o", str(site / "signed.pdf"))
    assert code == 0 and "PAdES B-B" in out
    signed = (site / "signed.pdf").read_bytes()

    code, out, _ = run(site, "verify", str(site / "signed.pdf"), "--trust", str(site / "ca.pem"))
    assert code == 0 and "✓" in out and "ถูกต้อง" in out
    code, out, _ = run(site, "verify", str(site / "signed.pdf"))
    assert code == 0 and "ไม่ทราบผู้ออกใบรับรอง" in out  # no roots configured: not a failure

    nss = make_nssdb(site / "nss", (site / "ca.pem").read_bytes())
    report = pdfsig(signed, nss)
    assert "Signature is Valid." in report and "Certificate is Trusted." in report

    (site / "bad.pdf").write_bytes(tamper(signed))
    code, out, _ = run(site, "verify", str(site / "bad.pdf"), "--trust", str(site / "ca.pem"))
    assert code == 1 and "✗" in out
    assert "Digest Mismatch" in pdfsig(tamper(signed), nss)


def test_bad_input_is_refused_clearly(site: Path) -> None:
    (site / "not.pdf").write_bytes(b"hello")
    code, _, err = run(site, "verify", str(site / "not.pdf"))
    assert code == 1 and "เปิดไฟล์ไม่ได้" in err
    code, _, err = run(site, "stamp", str(site / "not.pdf"), "-o", str(site / "y.pdf"),
                       "--number", "1")
    assert code == 1 and "cannot open the PDF" in err
    code, _, err = run(site, "stamp", str(site / "missing.pdf"), "-o", str(site / "x.pdf"),
                       "--number", "1")
    assert code == 1 and "cannot read" in err
    code, _, err = run(site, "stamp", str(site / "letter.pdf"), "-o", str(site / "letter.pdf"),
                       "--number", "1")
    assert code == 1 and "not overwriting" in err
