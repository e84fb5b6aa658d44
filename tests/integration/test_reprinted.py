"""Letters printed to PDF again on the way to us.

A letter whose text layer lost its vowels when it was printed to PDF again is not registered
from that text: the clerk is told why its pre-filled fields are suspect.

tests/corpus/reprinted/libreoffice-04-cairo.pdf is libreoffice-04 of the producer corpus printed
again through cairo (`pdftocairo -pdf`, poppler-utils 22.12, cairo 1.16: what GNOME's document
viewer and other GTK programs do on "Print to File"). Every า of its LibreOffice text is lost
(pdftotext reads "สำ นักง นเขตพื้ นที่ก รศึกษ"), the date with it: the gateway read the sender as
"สำนักงนเขตพื้นที่กรศึกษประถมศึกษขอนแก่น เขต ๓" and offered that to the clerk without a word.

A letter printed from a web browser (an e-Saraban system's page) carries the browser's header
and footer: tests/corpus/reprinted/chromium-05-browser-print.pdf is chromium-05 of the corpus
printed by Chromium 156 headless with its header and footer on ("12/7/26, 2:37 PM <title>" over
the letterhead, "file:///…/chromium-05.html 1/1" under it). The header made the letterhead's
agency unreadable, and the sender came from the e-mail's From name instead.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from gateway.core.classify import MISSPELT_REVIEW, Outcome, Policy, decide, validate
from gateway.inbound.read import read_with_default_resources
from tests.corpus.mail import letter_mail

pytestmark = pytest.mark.integration

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
NOW = dt.datetime(2026, 12, 7, 3, 0, tzinfo=dt.UTC)
POLICY = Policy(central_addresses=("saraban@agency.test",))


def _read(path: Path):  # type: ignore[no-untyped-def]
    return read_with_default_resources(letter_mail(path.read_bytes(), filename="letter.pdf"),
                                       trust_roots=(), now=NOW, ocr=False)


def test_a_reprint_that_lost_its_vowels_goes_to_review_saying_so() -> None:
    reading = _read(CORPUS / "reprinted" / "libreoffice-04-cairo.pdf")
    assert reading.pdf is not None and reading.pdf.misspelt >= MISSPELT_REVIEW
    problems = validate(reading, POLICY)
    misspelt = [p for p in problems if p.code == "misspelt_text"]
    assert misspelt and "สะกดผิด" in misspelt[0].reason_th
    assert decide(reading, problems, POLICY).outcome is Outcome.REVIEW


def test_the_letter_as_libreoffice_made_it_reads_clean() -> None:
    reading = _read(CORPUS / "producers" / "libreoffice" / "libreoffice-04.pdf")
    assert reading.pdf is not None and reading.pdf.misspelt < 0.03
    assert "misspelt_text" not in {p.code for p in validate(reading, POLICY)}


def test_a_letter_printed_from_a_browser_is_read_without_the_browser_lines() -> None:
    truth = next(t for t in json.loads((CORPUS / "producers" / "truth.json").read_text(
        encoding="utf-8"))["letters"] if t["file"] == "chromium/chromium-05.pdf")
    fields = _read(CORPUS / "reprinted" / "chromium-05-browser-print.pdf").fields
    got = {"letter_no": fields.letter_no and fields.letter_no.value,
           "letter_date": fields.letter_date and fields.letter_date.value.isoformat(),
           "sender": fields.sender and (fields.sender.value, fields.sender.source.value),
           "subject": fields.subject and fields.subject.value}
    assert got == {"letter_no": truth["letter_no"], "letter_date": truth["letter_date"],
                   "sender": (truth["sender"], "pdf"), "subject": truth["subject"]}
