"""A registered letter with no blank space on page 1 (issue #20): the receive stamp goes over
the text on a white box, and the register's หมายเหตุ and the letter's remarks say so."""

from __future__ import annotations

import io

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from sqlalchemy import select

from gateway.inbound.stamp import COVERS_TEXT
from gateway.store.tables import LetterFile, RegisterEntry
from tests.corpus.mail import letter_mail, letter_pdf
from tests.integration.test_inbound_smtp import _id, _send, _until, gw  # noqa: F401 - fixture

pytestmark = pytest.mark.integration


def _grey_background(pdf: bytes) -> bytes:
    """The letter on a page filled grey under its text: ink everywhere, text still readable."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    fill = generic.StreamObject(stream_data=b"q 0.6 g -10 -10 2000 2000 re f Q")
    writer.add_stream_to_page(0, writer.add_object(fill), prepend=True)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


async def test_stamp_over_text_is_remarked_in_the_register(gw) -> None:  # noqa: F811
    port, store, _ = gw
    letter = await _until(store, _id(await _send(port, letter_mail(_grey_background(letter_pdf())))),
                          states={"registered"})
    async with store.sessions() as s:
        entry = (await s.execute(select(RegisterEntry).where(
            RegisterEntry.letter_id == letter.id))).scalar_one()
        stamped = (await s.execute(select(LetterFile).where(
            LetterFile.letter_id == letter.id, LetterFile.role == "stamped"))).scalar_one()
    assert COVERS_TEXT in entry.remarks
    assert COVERS_TEXT in letter.sender_flags
    assert stamped.sha256


async def test_stamp_in_blank_space_adds_no_remark(gw) -> None:  # noqa: F811
    port, store, _ = gw
    letter = await _until(store, _id(await _send(port, letter_mail(letter_pdf()))),
                          states={"registered"})
    async with store.sessions() as s:
        entry = (await s.execute(select(RegisterEntry).where(
            RegisterEntry.letter_id == letter.id))).scalar_one()
    assert COVERS_TEXT not in entry.remarks and COVERS_TEXT not in letter.sender_flags
