"""A letter as neomutt (Debian's 20220429) sends it with `send_charset="us-ascii:tis-620:utf-8"`,
the setting Thai users long kept: the body in TIS-620 8-bit, headers in UTF-8 words, a display
name half encoded (`=?utf-8?B?…?= 1`), and the PDF's Thai name in RFC 2231 pieces cut in the middle
of a UTF-8 character (`…%E0` / `%B8%AD…`). Made with tests/data/eml/neomutt/muttrc:

    neomutt -n -F muttrc -s "ส่งหนังสือ ขก 0017.3/745 ประชาสัมพันธ์การรับสมัคร" \\
        -a "หนังสือ ขก 0017.3 ว 745.pdf" -- saraban@agency.test < body.txt

(the PDF: tests/corpus/producers/libreoffice/libreoffice-01.pdf; sendmail writes the message)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from gateway.core.extract.merge import extract_fields
from gateway.core.parse.message import parse_message

RAW = (Path(__file__).resolve().parents[1] / "data" / "eml" / "neomutt" / "tis620-letter.eml").read_bytes()


def test_a_tis620_letter_from_neomutt_is_read_whole() -> None:
    assert b"charset=tis-620" in RAW and b"filename*1*=%B8%AD" in RAW  # what the fixture is for
    msg = parse_message(RAW)
    assert not msg.defects
    assert msg.subject == "ส่งหนังสือ ขก 0017.3/745 ประชาสัมพันธ์การรับสมัคร"
    assert msg.from_name == "สพป.ขอนแก่น เขต 1"
    assert [a.filename for a in msg.attachments] == ["หนังสือ ขก 0017.3 ว 745.pdf"]
    assert msg.attachments[0].data.startswith(b"%PDF")
    assert "ลงวันที่ 20 พฤศจิกายน 2568 เรื่อง ประชาสัมพันธ์การรับสมัครคัดเลือกบุคคล" in msg.body_text
    fields = extract_fields(None, None, msg, None, today=dt.date(2026, 12, 7))
    assert fields.letter_no is not None and fields.letter_no.value == "ขก 0017.3/745"
    assert fields.letter_date is not None and fields.letter_date.value == dt.date(2025, 11, 20)
    assert fields.subject is not None and fields.subject.value == "ประชาสัมพันธ์การรับสมัคร"
