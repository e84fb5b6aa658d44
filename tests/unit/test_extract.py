"""extract: the main letter among the attachments, and the letter's fields with their sources.

Tables over tests/data/letters/*.txt (page-1 text as pdftotext gives it, each with a .json of the
fields it must yield) and over the .eml corpus (the "letter" section of expected/<name>.json)."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.core.extract import (
    FIELD_NAMES,
    choose_main_letter,
    extract_fields,
    extract_from_filename,
    extract_from_subject,
    extract_from_text,
    parse_appendix7_filename,
)
from gateway.core.extract.layout import without_print_margins
from gateway.core.parse import parse_message
from gateway.letter import (
    Appendix7Name,
    Attachment,
    Field,
    FieldSource,
    LetterFields,
    ParsedMessage,
    Secrecy,
    Speed,
)

DATA = Path(__file__).resolve().parents[1] / "data"
LETTERS = sorted(p.stem for p in (DATA / "letters").glob("*.txt"))
EMLS = sorted(p.stem for p in (DATA / "eml").glob("*.eml"))


def _plain(value: Any) -> Any:
    """A field value as the expectation files write it (dates ISO, enums by their Thai value)."""
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _view(fields: dict[str, Field[Any]]) -> dict[str, Any]:
    return {name: _plain(f.value) for name, f in fields.items()}


# --------------------------------------------------------------------------------------------
# Page-1 letter texts
# --------------------------------------------------------------------------------------------


def test_letter_corpus_is_complete() -> None:
    assert len(LETTERS) >= 10
    assert {p.stem for p in (DATA / "letters").glob("*.json")} == set(LETTERS)


@pytest.mark.parametrize("name", LETTERS)
def test_letter_text_yields_expected_fields(name: str) -> None:
    text = (DATA / "letters" / f"{name}.txt").read_text("utf-8")
    expected = json.loads((DATA / "letters" / f"{name}.json").read_text("utf-8"))
    found = extract_from_text(text, FieldSource.PDF)
    assert _view(found) == expected
    assert all(f.source is FieldSource.PDF for f in found.values())
    assert set(found) <= set(FIELD_NAMES)


@pytest.mark.parametrize("name", LETTERS)
def test_letter_text_survives_crlf_and_nbsp(name: str) -> None:
    """The same page through another extractor: CRLF line ends and no-break spaces."""
    text = (DATA / "letters" / f"{name}.txt").read_text("utf-8")
    mangled = text.replace("\n", "\r\n").replace(" ", "\u00a0")
    assert _view(extract_from_text(mangled, FieldSource.PDF)) == _view(
        extract_from_text(text, FieldSource.PDF)
    )


def test_body_source_ignores_unlabelled_layout() -> None:
    """A body is prose: a date on its own line is not the letter's date, and a ที่ inside a
    sentence only counts with a letter number after it."""
    body = "เรียน ผู้ว่าราชการจังหวัด\n\nที่ประชุมได้มีมติ\n20 มิถุนายน 2566\n"
    found = extract_from_text(body, FieldSource.BODY)
    assert _view(found) == {"salutation": "ผู้ว่าราชการจังหวัด"}


def test_thai_digits_and_split_sara_am_in_labels() -> None:
    text = "ที่  ศธ  ๐๔๑๘๓ / ว ๑๘๙๑\nเรื่อง  การสํารวจน้ํา\nเรียน  ผู้อํานวยการ"
    found = _view(extract_from_text(text, FieldSource.PDF))
    assert found["letter_no"] == "ศธ ๐๔๑๘๓ / ว ๑๘๙๑"
    assert found["subject"] == "การสำรวจน้ำ"
    assert found["salutation"] == "ผู้อำนวยการ"


# --------------------------------------------------------------------------------------------
# Subject lines and file names
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Fw: ขอเชิญประชุม", {"subject": "ขอเชิญประชุม"}),
        ("RE: FW: Fwd: ขอเชิญประชุม", {"subject": "ขอเชิญประชุม"}),
        ("ตอบกลับ: ขอเชิญประชุม", {"subject": "ขอเชิญประชุม"}),
        ("[External] [รับ 12/2566] ขอเชิญประชุม", {"subject": "ขอเชิญประชุม"}),
        (
            "ด่วนที่สุด ที่ ศธ 04183/ว1891 เรื่อง ขอเชิญประชุม",
            {"speed": "ด่วนที่สุด", "letter_no": "ศธ 04183/ว1891", "subject": "ขอเชิญประชุม"},
        ),
        (
            "(ด่วนมาก) ที่ มท 0808.2/ว 4567 ลว. 15 มิ.ย. 66 เรื่อง: การจัดงาน",
            {
                "speed": "ด่วนมาก",
                "letter_no": "มท 0808.2/ว 4567",
                "letter_date": "2023-06-15",
                "subject": "การจัดงาน",
            },
        ),
        (
            "ส่งหนังสือราชการ ที่ รอ 0017.2/ว30 ลงวันที่ 10 กรกฎาคม 2566",
            {"letter_no": "รอ 0017.2/ว30", "letter_date": "2023-07-10"},
        ),
        ("ลับ ขอข้อมูลบุคคล", {"secrecy": "ลับ", "subject": "ขอข้อมูลบุคคล"}),
        ("กลับบ้านแล้ว", {"subject": "กลับบ้านแล้ว"}),  # ลับ inside a word is not secrecy
        ("ด่วนจี๋ รับสมัคร", {"subject": "ด่วนจี๋ รับสมัคร"}),  # nor ด่วน inside a word
        ("ขอออกเลขรับจังหวัด (กลุ่มงานบริหารทั่วไป)", {}),  # Roi Et: the letter is in the body
        ("ส่งหนังสือ", {}),
        # a number without ที่ at the start, as agencies name their e-mails: a number, not the
        # subject (the letter's เรื่อง is then read from the body or the PDF)
        ("ส่งหนังสือ ศธ 04010/ว 2345", {"letter_no": "ศธ 04010/ว 2345"}),
        ("ศธ 04010/ว 2345", {"letter_no": "ศธ 04010/ว 2345"}),
        ("ศธ 04010/ว 2345 ขอความร่วมมือ", {"letter_no": "ศธ 04010/ว 2345", "subject": "ขอความร่วมมือ"}),
        ("หนังสือ กค 0305/ว 88 ลว. 3 ธ.ค. 2569", {"letter_no": "กค 0305/ว 88", "letter_date": "2026-12-03"}),
        ("Fw: ด่วนที่สุด นร0105/ว123 ขอเชิญ",
         {"speed": "ด่วนที่สุด", "letter_no": "นร0105/ว123", "subject": "ขอเชิญ"}),
        ("ประชุมครั้งที่ 2/2569", {"subject": "ประชุมครั้งที่ 2/2569"}),  # no agency initials: no number
        ("หนังสือแจ้งเวียน ว 88", {"subject": "หนังสือแจ้งเวียน ว 88"}),
        ("2564_DGA_2487", {}),
        (
            "คำสั่ง ที่ 12/2566 เรื่อง แต่งตั้งคณะกรรมการ",
            {"letter_no": "12/2566", "subject": "แต่งตั้งคณะกรรมการ"},
        ),
        ("", {}),
    ],
)
def test_extract_from_subject(subject: str, expected: dict[str, str]) -> None:
    found = extract_from_subject(subject)
    assert _view(found) == expected
    assert all(f.source is FieldSource.SUBJECT for f in found.values())


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("2564_DGA_2487.pdf", {}),
        ("หนังสือ มท 0808.2-ว4567.pdf", {"letter_no": "มท 0808.2/ว4567"}),
        ("คำสั่ง 12-2566.pdf", {"letter_no": "12/2566"}),
        ("ขอเชิญประชุมผู้บริหาร.pdf", {"subject": "ขอเชิญประชุมผู้บริหาร"}),
        ("สิ่งที่ส่งมาด้วย 1.pdf", {}),
        ("scan0001.pdf", {}),
        (
            "../../ศธ 04183_ว1891 ขอเชิญประชุม 20 มิ.ย. 66.pdf",
            {"letter_no": "ศธ 04183/ว1891", "letter_date": "2023-06-20", "subject": "ขอเชิญประชุม"},
        ),
        (None, {}),
    ],
)
def test_extract_from_filename(name: str | None, expected: dict[str, str]) -> None:
    assert _view(extract_from_filename(name)) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("2564_DGA_2487.pdf", (2564, "DGA", 2487, False, None)),
        ("2564_DGA_W2487.pdf", (2564, "DGA", 2487, True, None)),
        ("2564_dga_w2487_2.PDF", (2564, "DGA", 2487, True, 2)),
        ("2566_MOE_1891_1.xlsx", (2566, "MOE", 1891, False, 1)),
        ("2564_DGA_2487 (1).pdf", (2564, "DGA", 2487, False, None)),
        ("๒๕๖๔_DGA_๒๔๘๗.pdf", (2564, "DGA", 2487, False, None)),
        ("2564_DGA_2487", (2564, "DGA", 2487, False, None)),
        ("../x/2564_DGA_2487.pdf", (2564, "DGA", 2487, False, None)),
        ("2021_DGA_2487.pdf", None),  # a Gregorian year is not Appendix 7
        ("2564_ศธ_2487.pdf", None),  # the code is Latin
        ("2564_DGA_0.pdf", None),
        ("2564-DGA-2487.pdf", None),
        ("letter.pdf", None),
        ("", None),
    ],
)
def test_parse_appendix7_filename(name: str, expected: tuple[Any, ...] | None) -> None:
    result = parse_appendix7_filename(name)
    assert result == (Appendix7Name(*expected) if expected else None)


# --------------------------------------------------------------------------------------------
# Choosing the main letter
# --------------------------------------------------------------------------------------------

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\n%%EOF\n"


def _att(
    name: str | None, data: bytes = PDF, ctype: str = "application/pdf", **kw: Any
) -> Attachment:
    return Attachment(
        filename=name,
        safe_name=name or "attachment-1.bin",
        content_type=ctype,
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        inline=kw.get("inline", False),
        content_id=kw.get("content_id"),
        origin="mime",
    )


def _names(result: tuple[Attachment | None, tuple[Attachment, ...], Attachment | None]) -> Any:
    main, enclosures, xml = result
    return (main and main.filename, [a.filename for a in enclosures], xml and xml.filename)


XML_LETTER = (
    b'<?xml version="1.0" encoding="UTF-8"?><CorrespondenceLetterOutboundRequest>'
    b"<CorrespondenceLetterSpecial><ID>x</ID></CorrespondenceLetterSpecial>"
    b"</CorrespondenceLetterOutboundRequest>"
)


@pytest.mark.parametrize(
    ("attachments", "expected"),
    [
        # Appendix 7 name wins even when listed after another PDF
        ([_att("scan.pdf"), _att("2564_DGA_2487.pdf")], ("2564_DGA_2487.pdf", ["scan.pdf"], None)),
        # ..but not its enclosure form
        (
            [_att("2564_DGA_2487_1.pdf"), _att("2564_DGA_2487.pdf")],
            ("2564_DGA_2487.pdf", ["2564_DGA_2487_1.pdf"], None),
        ),
        # enclosure-looking names are passed over
        (
            [_att("สิ่งที่ส่งมาด้วย 1.pdf"), _att("หนังสือเชิญ.pdf")],
            ("หนังสือเชิญ.pdf", ["สิ่งที่ส่งมาด้วย 1.pdf"], None),
        ),
        # only enclosure-looking PDFs: the first is taken
        (
            [_att("เอกสารแนบ.pdf"), _att("2564_DGA_2487_2.pdf")],
            ("เอกสารแนบ.pdf", ["2564_DGA_2487_2.pdf"], None),
        ),
        # a PDF sent as octet-stream without a name is found by its bytes
        (
            [
                _att("a.docx", b"PK\x03\x04", "application/msword"),
                _att(None, PDF, "application/octet-stream"),
            ],
            (None, ["a.docx"], None),
        ),
        # a file that only claims to be a PDF is the main letter only when nothing real is there
        ([_att("fake.pdf", b"<html>not a pdf</html>")], ("fake.pdf", [], None)),
        ([_att("fake.pdf", b"<html>"), _att("real.pdf")], ("real.pdf", ["fake.pdf"], None)),
        # the CorrespondenceLetter XML is singled out; another XML is an enclosure
        (
            [
                _att("2564_DGA_2487.pdf"),
                _att("letter.xml", XML_LETTER, "text/xml"),
                _att("other.xml", b"<?xml version='1.0'?><x/>", "application/xml"),
            ],
            ("2564_DGA_2487.pdf", ["other.xml"], "letter.xml"),
        ),
        # UTF-16 XML without a name
        (
            [_att(None, XML_LETTER.decode().encode("utf-16"), "application/octet-stream")],
            (None, [], None),
        ),
        # inline logo referenced from the HTML is neither letter nor enclosure
        (
            [
                _att("logo.png", b"\x89PNG", "image/png", inline=True, content_id="l@x"),
                _att("photo.jpg", b"\xff\xd8", "image/jpeg"),
            ],
            (None, ["photo.jpg"], None),
        ),
        ([], (None, [], None)),
    ],
)
def test_choose_main_letter(attachments: list[Attachment], expected: Any) -> None:
    result = choose_main_letter(attachments)
    assert _names(result) == expected


def test_choose_main_letter_nameless_pdf_and_utf16_xml_by_identity() -> None:
    pdf = _att(None, PDF, "application/octet-stream")
    xml = _att(None, XML_LETTER.decode().encode("utf-16"), "application/octet-stream")
    main, enclosures, found_xml = choose_main_letter([xml, pdf])
    assert main is pdf and found_xml is xml and enclosures == ()


# --------------------------------------------------------------------------------------------
# The .eml corpus end to end: parse → choose → extract
# --------------------------------------------------------------------------------------------


def _letter_expectation(name: str) -> dict[str, Any] | None:
    exp = json.loads((DATA / "eml" / "expected" / f"{name}.json").read_text("utf-8"))
    letter: dict[str, Any] | None = exp.get("letter")
    return letter


@pytest.mark.parametrize("name", [n for n in EMLS if _letter_expectation(n) is not None])
def test_eml_letter_fields(name: str) -> None:
    exp = _letter_expectation(name)
    assert exp is not None
    msg = parse_message((DATA / "eml" / f"{name}.eml").read_bytes())
    main, enclosures, xml = choose_main_letter(msg.attachments)
    assert (main and main.safe_name) == exp["main"]
    assert [a.safe_name for a in enclosures] == exp["enclosures"]
    assert (xml and xml.safe_name) == exp["xml"]
    fields = extract_fields(exp.get("xml_fields"), None, msg, main.filename if main else None)
    got = {
        n: [_plain(getattr(fields, n).value), getattr(fields, n).source.value]
        for n in FIELD_NAMES
        if getattr(fields, n) is not None
    }
    assert got == exp["fields"]
    ref = exp["file_name_ref"]
    assert fields.file_name_ref == (Appendix7Name(*ref) if ref else None)


# --------------------------------------------------------------------------------------------
# Merging: trust order, alternatives, secrecy, fallbacks
# --------------------------------------------------------------------------------------------


def _msg(**kw: Any) -> ParsedMessage:
    base = parse_message(b"From: a@b.go.th\r\n\r\n")
    return replace(base, **kw)


PAGE1 = """ด่วน
ที่ ศธ ๐๔๑๘๓/ว๑๘๙๑                         สำนักงานคณะกรรมการการศึกษาขั้นพื้นฐาน
                    ๑๙ มิถุนายน ๒๕๖๖
เรื่อง ขอเชิญประชุม (จาก PDF)
เรียน ผู้ว่าราชการจังหวัดร้อยเอ็ด
"""


def test_trust_order_xml_over_pdf_over_subject_over_body_over_filename() -> None:
    msg = _msg(
        subject="ด่วนที่สุด ที่ ศธ 04183/ว1891 เรื่อง ขอเชิญประชุม (จาก subject)",
        body_text="เรียน ท่าน\nขอส่งหนังสือ เรื่อง ขอเชิญประชุม (จาก body) มาเพื่อทราบ\n",
    )
    xml = {"ID": "ศธ 04183/ว1891", "Subject": "ขอเชิญประชุม (จาก XML)", "SpeedCode": "003"}
    f = extract_fields(xml, PAGE1, msg, "ขอเชิญประชุม จากชื่อไฟล์.pdf")
    assert f.subject == Field("ขอเชิญประชุม (จาก XML)", FieldSource.XML)
    assert f.letter_no == Field("ศธ 04183/ว1891", FieldSource.XML)
    assert f.speed == Field(Speed.VERY_URGENT, FieldSource.XML)
    assert f.letter_date == Field(date(2023, 6, 19), FieldSource.PDF)
    assert f.sender == Field("สำนักงานคณะกรรมการการศึกษาขั้นพื้นฐาน", FieldSource.PDF)
    assert f.salutation == Field("ผู้ว่าราชการจังหวัดร้อยเอ็ด", FieldSource.PDF)
    assert f.recipient == f.salutation
    # the same number in Thai digits from the PDF agrees with the XML: not an alternative
    alt = {(n, a.source, _plain(a.value)) for n, a in f.alternatives}
    assert ("letter_no", FieldSource.PDF, "ศธ ๐๔๑๘๓/ว๑๘๙๑") not in alt
    assert {
        ("subject", FieldSource.PDF, "ขอเชิญประชุม (จาก PDF)"),
        ("subject", FieldSource.SUBJECT, "ขอเชิญประชุม (จาก subject)"),
        ("subject", FieldSource.BODY, "ขอเชิญประชุม (จาก body)"),
        ("subject", FieldSource.FILENAME, "ขอเชิญประชุม จากชื่อไฟล์"),
        ("speed", FieldSource.PDF, "ด่วน"),
        ("speed", FieldSource.SUBJECT, "ด่วนที่สุด"),
        ("salutation", FieldSource.BODY, "ท่าน"),
    } <= alt

    without_xml = extract_fields(None, PAGE1, msg, None)
    assert without_xml.subject == Field("ขอเชิญประชุม (จาก PDF)", FieldSource.PDF)
    without_pdf = extract_fields(None, None, msg, None)
    assert without_pdf.subject == Field("ขอเชิญประชุม (จาก subject)", FieldSource.SUBJECT)
    only_body = extract_fields(None, "   \n", replace(msg, subject=""), None)
    assert only_body.subject == Field("ขอเชิญประชุม (จาก body)", FieldSource.BODY)


def test_secrecy_takes_the_highest_class_from_any_source() -> None:
    msg = _msg(subject="ลับมาก เรื่อง ขอข้อมูล")
    f = extract_fields({"SecretCode": "001"}, "ลับ\nที่ กห ๐๒๐๔/๓๓๓\nเรื่อง ขอข้อมูล", msg, None)
    assert f.secrecy == Field(Secrecy.SECRET, FieldSource.SUBJECT)
    assert ("secrecy", Field(Secrecy.NORMAL, FieldSource.XML)) in f.alternatives


def test_sender_falls_back_to_from_header() -> None:
    named = extract_fields(None, None, _msg(from_name="สพป.ร้อยเอ็ด เขต 1"), None)
    assert named.sender == Field("สพป.ร้อยเอ็ด เขต 1", FieldSource.EMAIL)
    bare = extract_fields(None, None, _msg(from_name=None, from_addr="x@y.go.th"), None)
    assert bare.sender == Field("x@y.go.th", FieldSource.EMAIL)
    nobody = extract_fields(None, None, _msg(from_name=None, from_addr=None), None)
    assert nobody.sender is None
    assert nobody.missing_required() == ("letter_no", "letter_date", "sender", "subject")


def test_forwarded_original_sender_before_forwarder() -> None:
    original = _msg(from_name="สำนักงานคณะกรรมการการศึกษาขั้นพื้นฐาน", from_addr="s@obec.go.th")
    outer = _msg(from_name="สมชาย", from_addr="somchai@school.ac.th", forwarded=(original,))
    f = extract_fields(None, None, outer, None)
    assert f.sender == Field("สำนักงานคณะกรรมการการศึกษาขั้นพื้นฐาน", FieldSource.EMAIL)


@pytest.mark.parametrize(
    ("xml", "expected"),
    [
        ({"letter_date": date(2023, 6, 19)}, {"letter_date": "2023-06-19"}),
        ({"CorrespondenceDate": "2023-06-19"}, {"letter_date": "2023-06-19"}),
        ({"correspondence_date": "19 มิถุนายน 2566"}, {"letter_date": "2023-06-19"}),
        ({"CorrespondenceDate": "not a date"}, {}),
        (
            {"speed": "ด่วนที่สุด", "secrecy": Secrecy.TOP_SECRET},
            {"speed": "ด่วนที่สุด", "secrecy": "ลับที่สุด"},
        ),
        ({"SpeedCode": "002", "SecretCode": "004"}, {"speed": "ด่วน", "secrecy": "ลับที่สุด"}),
        ({"SpeedCode": "999"}, {}),  # unknown code: no value (xmlletter reports it)
        ({"Attachment": "-"}, {}),
        ({"Attachment": "กำหนดการ"}, {"enclosures": "กำหนดการ"}),
        ({"unrelated": "x", "ID": "  ศธ 04183/ว1891 "}, {"letter_no": "ศธ 04183/ว1891"}),
    ],
)
def test_xml_fields_mapping(xml: dict[str, Any], expected: dict[str, str]) -> None:
    f = extract_fields(xml, None, _msg(from_addr=None), None)
    got = {
        n: _plain(getattr(f, n).value)
        for n in FIELD_NAMES
        if getattr(f, n) is not None and getattr(f, n).source is FieldSource.XML
    }
    assert got == expected


def test_letter_fields_defaults_and_required() -> None:
    empty = LetterFields()
    assert all(getattr(empty, n) is None for n in FIELD_NAMES)
    assert empty.missing_required() == ("letter_no", "letter_date", "sender", "subject")
    assert Secrecy.TOP_SECRET.rank > Secrecy.SECRET.rank > Secrecy.CONFIDENTIAL.rank


def test_outlook_inline_forward_block_in_body() -> None:
    """Thai Outlook quotes the forwarded header block as จาก:/ส่ง:/ถึง:/เรื่อง: lines."""
    body = (
        "ส่งต่อเพื่อลงรับ\n\n"
        "จาก: สพฐ. กลุ่มอำนวยการ <saraban04183@obec.go.th>\n"
        "ส่ง: 19 มิถุนายน 2566 16:40\n"
        "ถึง: saraban@roiet.go.th\n"
        "เรื่อง: ด่วนที่สุด ที่ ศธ 04183/ว1891 เรื่อง ขอเชิญประชุมผู้บริหารสถานศึกษา\n"
    )
    assert _view(extract_from_text(body, FieldSource.BODY)) == {
        "sender": "สพฐ. กลุ่มอำนวยการ",
        "speed": "ด่วนที่สุด",
        "letter_no": "ศธ 04183/ว1891",
        "subject": "ขอเชิญประชุมผู้บริหารสถานศึกษา",
    }


# --------------------------------------------------------------------------------------------
# Robustness: arbitrary and pathological text
# --------------------------------------------------------------------------------------------

_PIECES = st.sampled_from(
    [
        "ที่ ",
        "ที่",
        "ศธ",
        "๐๔๑๘๓",
        "04183",
        "/",
        "ว",
        "ว ",
        "๑๘๙๑",
        "12",
        "2566",
        "๒๕๖๖",
        "มิถุนายน",
        "มิ.ย.",
        "พ.ศ.",
        "เรื่อง",
        "เรียน",
        "จาก:",
        "ถึง:",
        "ส่วนราชการ",
        "วันที่",
        "ลงวันที่",
        "ลว.",
        "ด่วน",
        "ด่วนที่สุด",
        "ด่วนภายใน",
        "ลับ",
        "ลับมาก",
        "คำสั่ง",
        "ประกาศ",
        "บันทึกข้อความ",
        "สิ่งที่ส่งมาด้วย",
        "อ้างถึง",
        "ขอแสดงความนับถือ",
        "สำนักงาน",
        "ํ",
        "า",
        " ",
        "   ",
        "\n",
        "\r\n",
        "\u00a0",
        "\u200b",
        "(",
        ")",
        ":",
        "-",
        "Fw:",
        "[x]",
        "_",
        ".pdf",
        "@",
        "<a@b>",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=60).map("".join))
def test_extractors_accept_any_text(text: str) -> None:
    for source in (FieldSource.PDF, FieldSource.BODY):
        found = extract_from_text(text, source)
        assert set(found) <= set(FIELD_NAMES)
        assert all(f.source is source and f.value not in ("", None) for f in found.values())
    for result, source in (
        (extract_from_subject(text), FieldSource.SUBJECT),
        (extract_from_filename(text), FieldSource.FILENAME),
    ):
        assert set(result) <= set(FIELD_NAMES)
        assert all(f.source is source for f in result.values())
    parse_appendix7_filename(text)


@pytest.mark.parametrize(
    "unit",
    ["ที่ ", "ลงวันที่ ", "เรื่อง ", "ลว. ", "ด่วน ", "Re: ", "12 มิ.ย. ", "ที่ ศธ 1/", "จาก: "],
)
@pytest.mark.parametrize("sep", ["", "\n"])
def test_pathological_text_is_read_in_linear_time(unit: str, sep: str) -> None:
    """100 kB of one repeated label: a quadratic scan would take a minute here."""
    text = (unit + sep) * (100_000 // len(unit))
    started = time.perf_counter()
    extract_from_subject(text)
    extract_from_text(text, FieldSource.PDF)
    extract_from_text(text, FieldSource.BODY)
    extract_from_filename(text)
    assert time.perf_counter() - started < 5


# (a page's text as read, what is left for the letter) — a web browser's print header and footer
PRINT_MARGINS = [
    ("12/7/26, 2:37 PM ขอเชิญประชุม\nที่ ศธ ๐๔๐๔๙/๕๕๙\nเรื่อง ขอเชิญประชุม\nfile:///tmp/a.html 1/1",
     "ที่ ศธ ๐๔๐๔๙/๕๕๙\nเรื่อง ขอเชิญประชุม"),
    ("7/12/69 14:37 หนังสือ\nที่ ศธ ๑/๒\nhttps://esaraban.example.go.th/view?id=12 1/2\n2/2\n",
     "ที่ ศธ ๑/๒\n"),
    ("๗/๑๒/๒๕๖๙ ๑๔.๓๗ หนังสือ\nที่ ศธ ๑/๒", "ที่ ศธ ๑/๒"),
    # the letter's own lines stay
    ("3/12/2568\nที่ ศธ ๑/๒", "3/12/2568\nที่ ศธ ๑/๒"),  # a date without a time is the letter's
    ("ที่ ศธ ๑/๒\nโทร. ๐ ๒๒๘๘ ๕๕๕๕\nเว็บไซต์ https://www.obec.go.th", "ที่ ศธ ๑/๒\nโทร. ๐ ๒๒๘๘ ๕๕๕๕\n"
     "เว็บไซต์ https://www.obec.go.th"),
    ("ที่ ศธ ๑/๒\nหน้า https://www.obec.go.th 1/2 ลับ", "ที่ ศธ ๑/๒\nหน้า https://www.obec.go.th 1/2 ลับ"),
]


@pytest.mark.parametrize(("text", "left"), PRINT_MARGINS)
def test_a_browser_print_header_and_footer_are_not_the_letters(text: str, left: str) -> None:
    assert without_print_margins(text) == left
