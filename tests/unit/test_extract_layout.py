"""The layout of a Thai letter's page 1, labelled e-mail bodies, and the cross-check of the
sources (issue #19), as tables: one case, one row.

Page texts here are what a reader gives line by line (pdftotext -raw); ``_page`` adds body
paragraphs that run to the margin, so that a line "as wide as the page" means what it does on
a real page.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from email.message import EmailMessage
from typing import Any

import pytest

from gateway.core.extract import extract_fields, extract_from_text
from gateway.core.extract.crosscheck import conflict_problems, damaged, similar_text
from gateway.core.extract.labels import extract_labelled
from gateway.core.extract.layout import is_address, join_wrapped
from gateway.core.parse import parse_message
from gateway.inbound.filed_copy import field_sources_th
from gateway.inbound.record import apply_fields
from gateway.letter import Field, FieldSource, LetterFields, ParsedMessage, Speed
from gateway.store.tables import Letter

BODY = (
    "ด้วยสำนักงานได้กำหนดจัดประชุมเพื่อชี้แจงแนวทางการดำเนินงานประจำปีงบประมาณ\n"
    "ตามที่คณะรัฐมนตรีได้มีมติเห็นชอบแนวทางการขับเคลื่อนนโยบายดังกล่าวให้ดำเนินการ\n"
    "จึงขอให้หน่วยงานในสังกัดถือปฏิบัติตามแนวทางที่กำหนดอย่างเคร่งครัดและรายงานผล\n"
    "ทั้งนี้ ขอให้จัดส่งข้อมูลตามแบบรายงานที่แนบมาพร้อมนี้ภายในวันที่ ๒๑ มกราคม ๒๕๖๙\n"
    "จึงเรียนมาเพื่อโปรดทราบและพิจารณาดำเนินการต่อไปด้วยจะขอบคุณยิ่งขอบคุณมากครับ\n"
    "ขอแสดงความนับถือ\n"
)


def _page(head: str) -> str:
    return head + BODY


def _pdf(head: str) -> dict[str, Any]:
    found = extract_from_text(_page(head), FieldSource.PDF)
    return {k: v.value.isoformat() if isinstance(v.value, date) else str(v.value)
            for k, v in found.items()}


# --------------------------------------------------------------------------------------------
# Layout: the letter's own date, the agency, wrapped lines, stamps
# --------------------------------------------------------------------------------------------

LAYOUT = [
    pytest.param(
        "ที่ ศธ 04299/20 สำนักงานเขตพื้นที่การศึกษามัธยมศึกษา\nเชียงใหม่\n"
        "ถนนโชตนา ตำบลช้างเผือก\nอำเภอเมืองเชียงใหม่ จังหวัดเชียงใหม่\n50300\n"
        "23 กุมภาพันธ์ 2569\nเรื่อง ขอเชิญประชุม\nเรียน ผู้อำนวยการโรงเรียน\n",
        {"sender": "สำนักงานเขตพื้นที่การศึกษามัธยมศึกษาเชียงใหม่", "letter_date": "2026-02-23"},
        id="agency-beside-wrapped",
    ),
    pytest.param(
        "ที่ ศธ 04049/209 สำนักงานเขตพื้นที่การศึกษาประถม\nศึกษาขอนแก่น เขต 3\n"
        "ถนนมะลิวัลย์ ตำบลบ้านฝาง\n8 กุมภาพันธ์ 2569\nเรื่อง ขอเชิญประชุม\nเรียน อธิบดี\n",
        {"sender": "สำนักงานเขตพื้นที่การศึกษาประถมศึกษาขอนแก่น เขต 3"},
        id="agency-beside-zone-number-is-not-an-address",
    ),
    pytest.param(
        "ที่ ขก 0017.3/745 สำนักงานจังหวัดขอนแก่น\nศาลากลางจังหวัดขอนแก่น ถนนหน้าศูนย์\nราชการ\n"
        "20 พฤศจิกายน 2568\nเรื่อง ขอเชิญประชุม\nเรียน นายอำเภอ\n",
        {"sender": "สำนักงานจังหวัดขอนแก่น", "letter_date": "2025-11-20"},
        id="agency-beside-then-building-address",
    ),
    pytest.param(
        "ด่วน\nกรมสรรพากร\nถนนพหลโยธิน แขวงสามเสนใน\nเขตพญาไท กรุงเทพมหานคร 10400\n"
        "ที่ กค 0702/117\n27 ตุลาคม 2568\nเรื่อง ขอเชิญประชุม\nเรียน นายอำเภอ ทุกอำเภอ\n",
        {"sender": "กรมสรรพากร", "letter_no": "กค 0702/117", "speed": "ด่วน"},
        id="agency-above-ที่",
    ),
    pytest.param(
        "ที่ มท 0309.1/12\nกรมการปกครอง\nถนนอัษฎางค์ แขวงวังบูรพาภิรมย์\n6 ธันวาคม 2568\n"
        "เรื่อง ขอเชิญประชุม\nเรียน อธิบดี\n",
        {"sender": "กรมการปกครอง", "letter_date": "2025-12-06"},
        id="agency-below-ที่",
    ),
    pytest.param(
        "ที่ ศธ 0206.4/ว 112 สำนักงานปลัดกระทรวงศึกษาธิการ\nกระทรวงศึกษาธิการ\nกทม. 10300\n"
        "21 มิถุนายน 2566\nเรื่อง ขอเชิญประชุม\nเรียน ศึกษาธิการจังหวัด\n",
        {"sender": "สำนักงานปลัดกระทรวงศึกษาธิการ"},
        id="agency-then-its-ministry",
    ),
    pytest.param(
        "ที่ อบ 51001/ว 74 องค์การบริหารส่วนจังหวัดอุบลราชธานี\nถนนแจ้งสนิท\n14 ตุลาคม 2568\n"
        "เรื่อง ขอเชิญประชุม\nเรียน ปลัดกระทรวง\n"
        "อ้างถึง หนังสือสำนักงานเขตพื้นที่การศึกษา ด่วนที่สุด\n"
        "ที่ ศธ 04049/ว 678 ลงวันที่ 28 สิงหาคม 2568\n",
        {"letter_date": "2025-10-14", "letter_no": "อบ 51001/ว 74"},
        id="date-never-from-อ้างถึง-ที่-line",
    ),
    pytest.param(
        "ที่ มท 0309.1/12 กรมการปกครอง\nถนนอัษฎางค์\n6 ธันวาคม 2568\nเรื่อง ขอเชิญประชุม\n"
        "เรียน อธิบดี\nอ้างถึง หนังสือองค์การบริหารส่วนจังหวัด ที่ อบ 51001/ว 890\n"
        "ลงวันที่ 29 กันยายน 2568\n",
        {"letter_date": "2025-12-06"},
        id="date-never-from-wrapped-ลงวันที่",
    ),
    pytest.param(
        "ที่ มท 0309.1/12 กรมการปกครอง\nถนนอัษฎางค์\nเรื่อง ขอเชิญประชุม\nเรียน อธิบดี\n"
        "อ้างถึง หนังสือกรม ลงวันที่ 29 กันยายน 2568\n",
        {"speed": None, "letter_date": None},
        id="no-own-date-is-no-date",
    ),
    pytest.param(
        "ที่ กค 0702/117 กรมสรรพากร\nถนนพหลโยธิน\n27 ตุลาคม 2568\n"
        "เรื่อง ขอความอนุเคราะห์ส่งรายชื่อผู้เข้ารับการอบรมหลักสูตรการพัฒนาศักยภาพบุคลากร\n"
        "ด้านการจัดการเรียนรู้เชิงรุก ประจำปีงบประมาณ พ.ศ. 2\n569\nเรียน นายอำเภอ\n",
        {"subject": "ขอความอนุเคราะห์ส่งรายชื่อผู้เข้ารับการอบรมหลักสูตรการพัฒนาศักยภาพบุคลากร"
                    "ด้านการจัดการเรียนรู้เชิงรุก ประจำปีงบประมาณ พ.ศ. 2569"},
        id="เรื่อง-three-lines-number-broken",
    ),
    pytest.param(
        "ที่ ศธ 04049/ว 928 กรมบัญชีกลาง\nถนนพระราม 6\n29 ธันวาคม 2568\n"
        "เรื่อง ซักซ้อมความเข้าใจแนวทางการดำเนินการจัดซื้อจัดจ้างภาครัฐตามระเบียบกระทรวงการคลัง\n"
        "ด้วยวิธีเฉพาะเจาะจง\nเรียน ผู้อำนวยการ\n",
        {"subject": "ซักซ้อมความเข้าใจแนวทางการดำเนินการจัดซื้อจัดจ้างภาครัฐตามระเบียบกระทรวงการคลัง"
                    "ด้วยวิธีเฉพาะเจาะจง"},
        id="เรื่อง-wraps-onto-a-line-starting-ด้วย",
    ),
    pytest.param(
        "ที่ ศธ 04299/20 กรมอนามัย\nถนนติวานนท์\n23 กุมภาพันธ์ 2569\nเรื่อง ขอเชิญประชุม\n"
        "เรียน ผู้อำนวยการสำนักงานเขตพื้นที่การศึกษาประถมศึกษาและผู้อำนวยการสำนักงาน\n"
        "เขตพื้นที่การศึกษามัธยมศึกษา ทุกเขต\nสิ่งที่ส่งมาด้วย สำเนาประกาศ จำนวน 1 ฉบับ\n",
        {"salutation": "ผู้อำนวยการสำนักงานเขตพื้นที่การศึกษาประถมศึกษาและผู้อำนวยการสำนักงาน"
                       "เขตพื้นที่การศึกษามัธยมศึกษา ทุกเขต"},
        id="เรียน-wraps-at-the-margin",
    ),
    pytest.param(
        "ที่ ศธ 04299/20 กรมอนามัย\nถนนติวานนท์\n23 กุมภาพันธ์ 2569\nเรื่อง ขอเชิญประชุม\n"
        "เรียน อธิบดีกรมบัญชีกลาง\nสำหรับรายละเอียดเพิ่มเติม สามารถดาวน์โหลดเอกสารได้\n",
        {"salutation": "อธิบดีกรมบัญชีกลาง"},
        id="short-เรียน-then-body-does-not-wrap",
    ),
    pytest.param(
        "ลับ\nด่วนมาก\nที่ ศธ 04002/ว 173 กรมอนามัย\nถนนราชดำเนินนอก\n25 พฤศจิกายน 2568\n"
        "เรื่อง ขอเชิญประชุม\nเรียน อธิบดี\n",
        {"speed": "ด่วนมาก", "secrecy": "ลับ"},
        id="stamps-above-ที่",
    ),
    pytest.param(
        "ด\uf70aวนที่สุด\nที่ กค 0702/342 กรมสรรพากร\nถนนพหลโยธิน\n10 ธันวาคม 2568\n"
        "เรื่อง ขอเชิญประชุม\nเรียน อธิบดี\n",
        {"speed": "ด่วนที่สุด"},
        id="stamp-read-through-PUA-tone-mark",
    ),
    pytest.param(
        "ดวนทีสุด\nที่ มท 0309.1/3446 กรมการปกครอง\nถนนอัษฎางค์\n5 ธันวาคม 2568\n"
        "เรื่อง ขอเชิญประชุม\nเรียน อธิบดี\n",
        {"speed": "ด่วนที่สุด"},
        id="stamp-whose-tone-marks-a-reprint-lost",  # cairo's reprint of chromium-08
    ),
    pytest.param(
        "ที่ กค 0702/342 กรมสรรพากร\nถนนพหลโยธิน\n10 ธันวาคม 2568\nเรื่อง ขอเชิญประชุม\n"
        "เรียน อธิบดี\nอ้างถึง หนังสือกรมอนามัย ด่วนที่สุด ที่ สธ 0904/ว 332\nด่วน\n",
        {"speed": None},
        id="ด่วน-inside-อ้างถึง-or-body-is-no-stamp",
    ),
    pytest.param(
        "ที่ กค 0702/342 กรมสรรพากร\nถนนพหลโยธิน\n10 ธันวาคม 2568\nเรื่อง ขอเชิญประชุม\n"
        "เรียน ผู\uf70bอำนวยการ\nอ\uf70bางถึง หนังสือกรมอนามัย ที่ สธ 0904/ว 332\n",
        {"salutation": "ผู\uf70bอำนวยการ"},
        id="label-read-through-PUA-ends-เรียน",
    ),
]


@pytest.mark.parametrize(("head", "expected"), LAYOUT)
def test_page1_layout(head: str, expected: dict[str, str | None]) -> None:
    got = _pdf(head)
    assert {k: got.get(k) for k in expected} == expected


@pytest.mark.parametrize(
    ("line", "address"),
    [
        ("ถนนโชตนา ตำบลช้างเผือก", True),
        ("อำเภอเมืองเชียงใหม่ จังหวัดเชียงใหม่", True),
        ("50300", True),
        ("เขตดุสิต กรุงเทพมหานคร 10300", True),
        ("ศาลากลางจังหวัดขอนแก่น", True),
        ("เลขที่ 99 หมู่ 4", True),
        ("สำนักงานเขตพื้นที่การศึกษาประถมศึกษาขอนแก่น เขต ๓", False),
        ("สำนักงานจังหวัดขอนแก่น", False),
        ("องค์การบริหารส่วนจังหวัดอุบลราชธานี", False),
        ("เชียงใหม่", False),
    ],
)
def test_address_lines(line: str, address: bool) -> None:
    assert is_address(line) is address


@pytest.mark.parametrize(
    ("first", "more", "joined"),
    [
        ("สำนักงานเขตพื้นที่การศึกษามัธยมศึกษา", ["เชียงใหม่"], "สำนักงานเขตพื้นที่การศึกษามัธยมศึกษาเชียงใหม่"),
        ("ประจำปีงบประมาณ พ.ศ. 2", ["569"], "ประจำปีงบประมาณ พ.ศ. 2569"),
        ("ที่ อบ 51001/", ["ว 154"], "ที่ อบ 51001/ ว 154"),
        ("Meeting", ["agenda"], "Meeting agenda"),
        # real corpus wraps (tests/corpus/producers): the break took the space before a phrase
        ("ขอเชิญประชุมคณะกรรมการติดตามและประเมินผลการดำเนินงาน", ["ประจำปีงบประมาณ พ.ศ. 2569"],
         "ขอเชิญประชุมคณะกรรมการติดตามและประเมินผลการดำเนินงาน ประจำปีงบประมาณ พ.ศ. 2569"),  # chromium-05
        ("ด้านการจัดการเรียนรู้เชิงรุก ประจำปีงบประมาณ", ["พ.ศ. 2569"],
         "ด้านการจัดการเรียนรู้เชิงรุก ประจำปีงบประมาณ พ.ศ. 2569"),  # chromium-08, fpdf2-11
        ("ข้าราชการครูและบุคลากรทางการศึกษา", ["ตำแหน่งครูผู้ช่วย กรณีที่มี"],
         "ข้าราชการครูและบุคลากรทางการศึกษา ตำแหน่งครูผู้ช่วย กรณีที่มี"),  # fpdf2-07
        ("การศึกษา ตำแหน่งครูผู้ช่วย", ["กรณีที่มีความจำเป็น"],
         "การศึกษา ตำแหน่งครูผู้ช่วย กรณีที่มีความจำเป็น"),  # chromium-04
        # ... and broke between words written without one
        ("การดำเนินงาน ประจำ", ["ปีงบประมาณ พ.ศ. 2569"], "การดำเนินงาน ประจำปีงบประมาณ พ.ศ. 2569"),  # lo-02
        ("เพื่อบรรจุและแต่งตั้งเข้า", ["รับราชการ"], "เพื่อบรรจุและแต่งตั้งเข้ารับราชการ"),  # libreoffice-01
        ("การพัฒนา", ["ศักยภาพบุคลากร"], "การพัฒนาศักยภาพบุคลากร"),  # chromium-08
    ],
)
def test_join_wrapped(first: str, more: list[str], joined: str) -> None:
    assert join_wrapped(first, more) == joined


# --------------------------------------------------------------------------------------------
# Labelled e-mail bodies: plain, HTML, TIS-620, windows-874
# --------------------------------------------------------------------------------------------

ESARABAN = {
    "letter_no": "กค 0305/ว88",
    "letter_date": date(2026, 1, 15),
    "sender": "กรมบัญชีกลาง",
    "subject": "ขอเชิญประชุมชี้แจงระบบการเบิกจ่าย",
}


def _mail(body: str, *, charset: str = "utf-8", subtype: str = "plain",
          subject: str = "ส่งหนังสือราชการ") -> ParsedMessage:
    msg = EmailMessage()
    msg["From"] = "saraban@cgd.go.th"
    msg["To"] = "saraban@agency.test"
    msg["Subject"] = subject
    msg.set_content(body.encode(charset), maintype="text", subtype=subtype, cte="8bit")
    msg.set_param("charset", charset)
    return parse_message(msg.as_bytes())


PLAIN = ("เรียน ผู้อำนวยการ\n\nเลขที่หนังสือ: กค 0305/ว88\nวันที่หนังสือ: 15 มกราคม 2569\n"
         "จากหน่วยงาน: กรมบัญชีกลาง\nชื่อเรื่อง: ขอเชิญประชุมชี้แจงระบบการเบิกจ่าย\n")
THAI_NO_COLON = ("เลขที่หนังสือ กค ๐๓๐๕/ว๘๘\nวันที่หนังสือ ๑๕ ม.ค. ๒๕๖๙\n"
                 "จากหน่วยงาน กรมบัญชีกลาง\nชื่อเรื่อง ขอเชิญประชุมชี้แจงระบบการเบิกจ่าย\n")
HTML = ("<html><body><p>เรียน ผู้อำนวยการ</p><table>"
        "<tr><td><b>เลขที่หนังสือ</b></td><td>กค 0305/ว88</td></tr>"
        "<tr><td>วันที่หนังสือ:</td><td>15 มกราคม 2569</td></tr>"
        "<tr><td>จากหน่วยงาน</td><td>กรมบัญชีกลาง</td></tr>"
        "<tr><td>ชื่อเรื่อง</td><td>ขอเชิญประชุมชี้แจงระบบการเบิกจ่าย</td></tr></table></body></html>")


@pytest.mark.parametrize(
    ("body", "charset", "subtype"),
    [
        pytest.param(PLAIN, "utf-8", "plain", id="plain-utf8-colon"),
        pytest.param(THAI_NO_COLON, "utf-8", "plain", id="thai-digits-no-colon"),
        pytest.param(PLAIN, "tis-620", "plain", id="tis-620"),
        pytest.param(PLAIN, "windows-874", "plain", id="windows-874"),
        pytest.param(HTML, "utf-8", "html", id="html-table"),
        pytest.param(HTML, "tis-620", "html", id="html-tis-620"),
    ],
)
def test_labelled_body_fields(body: str, charset: str, subtype: str) -> None:
    if charset == "windows-874":  # the name Outlook writes; Python's codec is cp874
        msg = parse_message(
            b"From: saraban@cgd.go.th\r\nTo: saraban@agency.test\r\nSubject: x\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=windows-874\r\n"
            b"Content-Transfer-Encoding: 8bit\r\n\r\n" + body.replace("\n", "\r\n").encode("cp874"))
    else:
        msg = _mail(body, charset=charset, subtype=subtype)
    f = extract_fields(None, None, msg, "letter.pdf")
    got = {k: getattr(f, k).value for k in ESARABAN}
    assert {k: str(v).translate(str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789"))
            for k, v in got.items()} == {k: str(v) for k, v in ESARABAN.items()}
    assert {getattr(f, k).source for k in ESARABAN} == {FieldSource.BODY}
    assert f.speed == Field(Speed.NORMAL, FieldSource.DEFAULT)


def test_prose_body_lines_are_not_labels() -> None:
    """จาก/เรื่อง/วันที่ opening a sentence, with no colon, claim nothing."""
    body = ("จากการประชุมเมื่อวันที่ 5 มกราคม 2569\nเรื่องนี้ขอให้ดำเนินการ\n"
            "ที่ประชุมมีมติ\nวันที่ 6 มกราคม 2569 จะประชุมอีก\n")
    assert extract_labelled(body) == {}


def test_labelled_line_outranks_the_free_mail_subject() -> None:
    msg = _mail("ชื่อเรื่อง: ขอเชิญประชุมชี้แจง\n", subject="ขอเชิญประชุม (ตามหัวเรื่อง)")
    f = extract_fields(None, None, msg, None)
    assert f.subject == Field("ขอเชิญประชุมชี้แจง", FieldSource.BODY)


# --------------------------------------------------------------------------------------------
# Cross-check: damaged PDF readings mended, disagreements shown
# --------------------------------------------------------------------------------------------

PAGE = ("ที่ กค 0305/ว88 กรมบัญชีกลาง\nถนนพระราม 6\n15 มกราคม 2569\n"
        "เรื่อง {subject}\nเรียน {salutation}\n")
CLEAN_SUBJECT = "การสำรวจข้อมูลผู้อำนวยการสำนักงาน"


@pytest.mark.parametrize(
    ("pdf_subject", "body", "mail_subject", "subject", "source", "problem"),
    [
        pytest.param("การสำ2รวจข้อมูลผู้อำ2นวยการสำ2นักงาน", "ชื่อเรื่อง: " + CLEAN_SUBJECT,
                     "ส่งหนังสือ", CLEAN_SUBJECT, FieldSource.BODY, None,
                     id="damaged-pdf-mended-from-labelled-body"),
        pytest.param("การส\uf70aำรวจข้อมูลผู้อำนวยการสำนักงาน", "", CLEAN_SUBJECT,
                     CLEAN_SUBJECT, FieldSource.SUBJECT, None,
                     id="damaged-pdf-mended-from-mail-subject"),
        pytest.param("การสำรวจข้อมูลผู้อำนวยการสำนักงน", "", CLEAN_SUBJECT,
                     "การสำรวจข้อมูลผู้อำนวยการสำนักงน", FieldSource.PDF, None,
                     id="clean-pdf-keeps-its-reading"),
        pytest.param(CLEAN_SUBJECT, "", "ส่งหนังสือขอความร่วมมือตอบแบบสำรวจ",
                     CLEAN_SUBJECT, FieldSource.PDF, None,
                     id="free-mail-subject-worded-otherwise-is-no-conflict"),
        pytest.param(CLEAN_SUBJECT, "ชื่อเรื่อง: ขอเชิญประชุมคณะกรรมการบริหาร", "",
                     CLEAN_SUBJECT, FieldSource.PDF,
                     f"เรื่องในไฟล์ PDF ({CLEAN_SUBJECT}) ไม่ตรงกับในอีเมล (ขอเชิญประชุมคณะกรรมการบริหาร)",
                     id="labelled-subject-contradicts-pdf"),
        pytest.param(CLEAN_SUBJECT, "เลขที่หนังสือ: กค 0305/ว99", "", CLEAN_SUBJECT, FieldSource.PDF,
                     "เลขที่หนังสือในไฟล์ PDF (กค 0305/ว88) ไม่ตรงกับในอีเมล (กค 0305/ว99)",
                     id="labelled-number-contradicts-pdf"),
        pytest.param(CLEAN_SUBJECT, "วันที่หนังสือ: 16 มกราคม 2569", "", CLEAN_SUBJECT,
                     FieldSource.PDF,
                     "วันที่ของหนังสือในไฟล์ PDF (๑๕ มกราคม ๒๕๖๙) ไม่ตรงกับในอีเมล (๑๖ มกราคม ๒๕๖๙)",
                     id="labelled-date-contradicts-pdf"),
        pytest.param(CLEAN_SUBJECT, "เลขที่หนังสือ: กค ๐๓๐๕/ว๘๘\nวันที่หนังสือ: ๑๕ ม.ค. ๒๕๖๙", "",
                     CLEAN_SUBJECT, FieldSource.PDF, None, id="labelled-lines-agree"),
    ],
)
def test_cross_check(pdf_subject: str, body: str, mail_subject: str, subject: str,
                     source: FieldSource, problem: str | None) -> None:
    page = PAGE.format(subject=pdf_subject, salutation="อธิบดี")
    msg = replace(_mail(body or "เรียน ท่าน\n"), subject=mail_subject)
    f = extract_fields(None, page, msg, None)
    assert f.subject == Field(subject, source)
    reasons = [p.reason_th for p in conflict_problems(f)]
    assert reasons == ([problem] if problem else [])


@pytest.mark.parametrize(
    ("text", "junk"),
    [("สำ\x11นักงาน", True), ("ผู้อำ2นวยการ", True), ("ส\uf70aง", True), ("\u0e48ดี", True),
     ("ร\ufffdาย", True), ("ศธ 04049/ว 678", False), ("สำนักงาน เขต 3", False)],
)
def test_damage_is_recognised(text: str, junk: bool) -> None:
    assert damaged(text) is junk


def test_similar_text_is_the_same_text_read_twice() -> None:
    assert similar_text("สำนักงน", "สำนักงาน")
    assert similar_text("ผู้อำ2นวยการ", "ผู้อำนวยการ")
    assert not similar_text("ขอเชิญประชุม", "ขอส่งรายงาน")
    assert not similar_text("ลับ", "ลบ")  # too short to call nearly equal


# --------------------------------------------------------------------------------------------
# Speed ปกติ by default, and the clerk's copy shows each source
# --------------------------------------------------------------------------------------------


def test_speed_defaults_to_normal_in_fields_and_register() -> None:
    f = extract_fields(None, None, _mail("เรียน ท่าน\n"), None)
    assert f.speed == Field(Speed.NORMAL, FieldSource.DEFAULT)
    letter = Letter()
    letter.sender_address = ""
    apply_fields(letter, LetterFields(), _mail("x\n"))
    assert (letter.speed, letter.field_sources["speed"]) == ("ปกติ", "default")
    shown = replace(f, speed=Field(Speed.URGENT, FieldSource.PDF))
    apply_fields(letter, shown, _mail("x\n"))
    assert (letter.speed, letter.field_sources["speed"]) == ("ด่วน", "pdf")


def test_clerk_copy_shows_value_and_source_of_each_field() -> None:
    from gateway.core.compose import template_env

    letter = Letter()
    letter.field_sources = {"letter_no": "pdf", "letter_date": "xml", "sender": "body",
                            "recipient": "pdf", "subject": "filename", "salutation": "pdf",
                            "speed": "default"}
    context = {
        "secret": False, "number": 7, "year": 2569, "subject": "ขอเชิญประชุม",
        "received_date": "1 ม.ค. 69", "received_time": "09:00", "channel": "email",
        "letter_no": "กค 0305/ว88", "letter_date": "๑๕ มกราคม ๒๕๖๙", "sender": "กรมบัญชีกลาง",
        "recipient": "อธิบดี", "salutation": "อธิบดี", "speed": "ปกติ", "secrecy": "",
        "sources": field_sources_th(letter), "signatures": [], "remarks": "", "sha256": "ab",
        "units": "", "folder_prefix": "ส่งต่อ",
    }
    text = template_env().get_template("mail/registered-copy.txt.j2").render(**context)
    for line in ("  • ที่ — กค 0305/ว88  [ที่มา: PDF]",
                 "  • ลงวันที่ — ๑๕ มกราคม ๒๕๖๙  [ที่มา: XML]",
                 "  • จาก — กรมบัญชีกลาง  [ที่มา: อีเมล (เนื้อความ)]",
                 "  • เรื่อง — ขอเชิญประชุม  [ที่มา: ชื่อไฟล์]",
                 "  • ชั้นความเร็ว — ปกติ  [ที่มา: ค่าเริ่มต้น]",
                 "  • ชั้นความลับ — ปกติ  [ที่มา: ค่าเริ่มต้น]"):
        assert line in text.splitlines(), line
    # a reply quoting the copy (or the copy itself pasted) re-sends nothing as a correction (#21)
    from gateway.core.parse.corrections import read_correction

    assert read_correction("".join(f"> {x}\n" for x in text.splitlines())).empty
    assert not read_correction(text).texts
