"""A letter with a watermark across it is read as the letter, and as secret as it shows.

The files are LibreOffice's own PDF export with its watermark options (scripts/make-watermarks,
from a letter of the producer corpus): "ใช้ภายในเท่านั้น" tiled over the page, "ลับ" tiled, and
one "สำเนาคู่ฉบับ". The tiled words are text at a slant that PDFium put into the letter's lines:
the sender was read as "สำนักงานจังหวัดขอนแก่นใช้ภายในเท่านั้นใช้ภายในเท่านั้น" and the subject
cut off with the watermark after it, and the letter was registered so. A "ลับ" across the page
keeps the letter ลับ (restricted: never e-mailed by an automatic path).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from gateway.inbound.read import read_with_default_resources
from gateway.inbound.stamp import StampSettings, stamp_bytes
from gateway.letter import Secrecy
from gateway.pdf.stamp import StampStyle
from tests.corpus.mail import letter_mail

pytestmark = pytest.mark.integration

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "watermarks"
TRUTH: list[dict[str, Any]] = json.loads((CORPUS / "truth.json").read_text(encoding="utf-8"))["letters"]
NOW = dt.datetime(2026, 12, 7, 3, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize("truth", TRUTH, ids=[t["file"] for t in TRUTH])
def test_a_watermarked_letter_is_read_as_printed(truth: dict[str, Any]) -> None:
    pdf = (CORPUS / truth["file"]).read_bytes()
    reading = read_with_default_resources(letter_mail(pdf, filename="letter.pdf"), trust_roots=(),
                                          now=NOW, ocr=False)
    fields = reading.fields
    got = {"letter_no": fields.letter_no and fields.letter_no.value,
           "letter_date": fields.letter_date and fields.letter_date.value.isoformat(),
           "sender": fields.sender and fields.sender.value,
           "subject": fields.subject and fields.subject.value}
    assert got == {k: truth[k] for k in got}
    secrecy = fields.secrecy.value if fields.secrecy else Secrecy.NORMAL
    assert secrecy == Secrecy(truth["secrecy"])
    stamped, why, _ = stamp_bytes(pdf, StampSettings(StampStyle(placement="free"), "สำนักงานทดสอบ",
                                                      False), 1, NOW)
    assert stamped is not None and stamped.startswith(pdf), why
