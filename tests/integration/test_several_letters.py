"""Several letters in one e-mail: each needs its own receive number, so the e-mail waits for the
clerk, saying which letters came along. A copy of a letter the first one quotes (อ้างถึง,
สิ่งที่ส่งมาด้วย, its text) is an enclosure, as before.

Before, the first PDF was registered and the other letters became its enclosures: an agency that
sent three letters in one e-mail got one receive number, and two letters were never registered.
The letters attached are other producers' files (tests/corpus/producers).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.core.classify import Outcome, Policy, decide, validate
from gateway.inbound.read import read_with_default_resources
from tests.corpus.mail import letter_mail, letter_pdf

pytestmark = pytest.mark.integration

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "producers"
NOW = dt.datetime(2026, 12, 7, 3, 0, tzinfo=dt.UTC)
POLICY = Policy(central_addresses=("saraban@agency.test",))
CHROMIUM_05 = "ศธ 04049/559"  # chromium-05's number (truth.json)
FPDF2_02 = "อบ 51001/ว 74"


def _corpus(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def _main(*extra: str) -> bytes:
    """Our own letter of the e-mail, with `extra` lines after เรียน (อ้างถึง, สิ่งที่ส่งมาด้วย)."""
    return letter_pdf(lines=("ที่ ศธ 04010/77", "สำนักงานคณะกรรมการการศึกษาขั้นพื้นฐาน",
                             "วันที่ 20 พฤศจิกายน 2569", "เรื่อง ขอเชิญประชุมคณะกรรมการ",
                             "เรียน ผู้อำนวยการสำนักงานเขตพื้นที่การศึกษา", *extra))


def _pdf(name: str, data: bytes) -> tuple[str, str, bytes]:
    return (name, "application/pdf", data)


# (the e-mail, its PDFs after the first, the other letters it must name; none: registered)
CASES: list[tuple[str, Callable[[], bytes], list[Callable[[], tuple[str, str, bytes]]], tuple[str, ...]]] = [
    ("two other agencies' letters sent along", _main,
     [lambda: _pdf("หนังสือ2.pdf", _corpus("chromium/chromium-05.pdf")),
      lambda: _pdf("หนังสือ3.pdf", _corpus("fpdf2/fpdf2-02.pdf"))], (CHROMIUM_05, FPDF2_02)),
    ("the letter referred to (อ้างถึง), attached", lambda: _main(f"อ้างถึง หนังสือ ที่ {CHROMIUM_05}"),
     [lambda: _pdf("อ้างถึง.pdf", _corpus("chromium/chromium-05.pdf"))], ()),
    ("a copy listed in สิ่งที่ส่งมาด้วย", lambda: _main(f"สิ่งที่ส่งมาด้วย สำเนาหนังสือ ที่ {FPDF2_02}"),
     [lambda: _pdf("สำเนา.pdf", _corpus("fpdf2/fpdf2-02.pdf"))], ()),
    ("one referred to, one not", lambda: _main(f"อ้างถึง หนังสือ ที่ {CHROMIUM_05}"),
     [lambda: _pdf("อ้างถึง.pdf", _corpus("chromium/chromium-05.pdf")),
      lambda: _pdf("อีกฉบับ.pdf", _corpus("fpdf2/fpdf2-02.pdf"))], (FPDF2_02,)),
    ("a letter the text quotes, attached", lambda: _main(f"ด้วยกรมอนามัยมีหนังสือ ที่ {CHROMIUM_05} แจ้งว่า"),
     [lambda: _pdf("สำเนา.pdf", _corpus("chromium/chromium-05.pdf"))], ()),
    ("the same letter twice", _main, [lambda: _pdf("สำเนา.pdf", _main())], ()),
    ("a form, not a letter", _main,
     [lambda: _pdf("แบบฟอร์ม.pdf", letter_pdf(lines=("แบบรายงานผลการดำเนินงาน", "ชื่อหน่วยงาน ....")))], ()),
]


@pytest.mark.parametrize(("case", "main", "others", "named"), CASES, ids=[c[0] for c in CASES])
def test_other_letters_in_one_email_wait_for_the_clerk(case: str, main: Callable[[], bytes],
                                                       others: list[Callable[[], tuple[str, str, bytes]]],
                                                       named: tuple[str, ...]) -> None:
    raw = letter_mail(main(), filename="หนังสือ1.pdf", attachments=[make() for make in others])
    reading = read_with_default_resources(raw, trust_roots=(), now=NOW, ocr=False)
    assert reading.fields.letter_no is not None and reading.fields.letter_no.value == "ศธ 04010/77"
    assert reading.other_letters == named
    problems = validate(reading, POLICY)
    several = [p for p in problems if p.code == "several_letters"]
    if named:
        assert len(several) == 1 and all(n in several[0].reason_th for n in named)
        assert decide(reading, problems, POLICY).outcome is Outcome.REVIEW
    else:
        assert several == [] and decide(reading, problems, POLICY).outcome is Outcome.REGISTER
