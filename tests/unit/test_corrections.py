"""Reading a clerk's correction reply (gateway/core/parse/corrections.py): the shapes real mail
clients give a reply — Thunderbird (answer under the quote), Outlook (top-posted over a header
block, English and Thai), Gmail (top-posted over `On … wrote:`, wrapped), Apple Mail, plain —
one row each, and the edge cases of labels, digits, quoting and commands.
"""

from __future__ import annotations

import pytest

from gateway.core.parse.corrections import (
    AMEND,
    CANCEL,
    REGISTER,
    REJECT,
    WHY_LABEL,
    WHY_REASON,
    WHY_TWO,
    read_correction,
    review_ref,
    review_tag,
)

FULL = {"letter_no": "กค 0305/ว 88", "letter_date": "3 ธ.ค. 2569", "sender": "กรมบัญชีกลาง",
        "subject": "ขอเชิญประชุม"}

# what a review copy quoted looks like: nothing in it is a correction line
QUOTED_COPY = """> หนังสือนี้ยังไม่ได้ลงทะเบียนรับ ต้องตรวจสอบก่อน เนื่องจาก
>     - อ่านจากภาพสแกน (OCR) ต้องให้เจ้าหน้าที่ตรวจทาน
> ข้อมูลที่อ่านได้ (ที่มา):
>  • เลขที่หนังสือ (ที่) — กค 0305/ว 8 [OCR]
>  • เรื่อง — ขอเชิญ [อีเมล]
> ตอบกลับอีเมลนี้ บรรทัดละช่อง เช่น «ที่: กค 0305/ว 88» แล้วบรรทัดคำสั่ง «ลงรับ»
> --\x20
> ระบบสารบรรณอิเล็กทรอนิกส์
> จาก: ใครก็ได้
"""

CLIENTS = [
    ("thunderbird: answer under the quote",
     "On 3/12/2569 10:00, สารบรรณกลาง wrote:\n" + QUOTED_COPY +
     "\nที่: กค 0305/ว 88\nลงวันที่: 3 ธ.ค. 2569\nจาก: กรมบัญชีกลาง\nเรื่อง: ขอเชิญประชุม\nลงรับ\n",
     FULL, REGISTER),
    ("thunderbird thai: เมื่อ … เขียน:",
     "เมื่อ 3/12/2569 10:00, สารบรรณกลาง เขียน:\n" + QUOTED_COPY +
     "ที่ กค 0305/ว 88\nลงวันที่ 3 ธ.ค. 2569\nจาก กรมบัญชีกลาง\nเรื่อง ขอเชิญประชุม\nลงรับ\n",
     FULL, REGISTER),
    ("outlook: top-posted over From/Sent",
     "ที่: กค 0305/ว 88\r\nลงวันที่: 3 ธ.ค. 2569\r\nจาก: กรมบัญชีกลาง\r\nเรื่อง: ขอเชิญประชุม\r\nลงรับ\r\n\r\n"
     "________________________________\r\nFrom: สารบรรณกลาง <saraban@agency.test>\r\n"
     "Sent: Thursday, December 3, 2026 10:00 AM\r\nTo: saraban@agency.test\r\n"
     "Subject: [ตรวจ L12] ขอเชิญ\r\n\r\nที่: ผิด 1\r\nคืน ผิด\r\n",
     FULL, REGISTER),
    ("outlook thai: จาก/ส่ง/ถึง header block, no rule",
     "ที่: กค 0305/ว 88\nลงวันที่: 3 ธ.ค. 2569\nจาก: กรมบัญชีกลาง\nเรื่อง: ขอเชิญประชุม\nลงรับ\n\n"
     "จาก: สารบรรณกลาง <saraban@agency.test>\nส่ง: 3 ธันวาคม 2569 10:00\n"
     "ถึง: saraban@agency.test\nเรื่อง: [ตรวจ L12] ขอเชิญ\n\nที่: ผิด 1\n",
     FULL, REGISTER),
    ("outlook: -----Original Message-----",
     "เรื่อง: ขอเชิญประชุม\nแก้ไข\n-----Original Message-----\nFrom: a@b.test\nเรื่อง: ผิด\n",
     {"subject": "ขอเชิญประชุม"}, AMEND),
    ("gmail: top-posted, attribution wrapped over two lines",
     "ที่: กค 0305/ว 88\nลงวันที่: 3 ธ.ค. 2569\nจาก: กรมบัญชีกลาง\nเรื่อง: ขอเชิญประชุม\nลงรับ\n\n"
     "On Thu, Dec 3, 2026 at 10:00 AM สารบรรณกลาง <\nsaraban@agency.test> wrote:\n\n" + QUOTED_COPY,
     FULL, REGISTER),
    ("gmail thai: เมื่อ … เขียนว่า:",
     "ที่: กค ๐๓๐๕/ว ๘๘\nลงวันที่: ๓ ธ.ค. ๒๕๖๙\nจาก: กรมบัญชีกลาง\nเรื่อง: ขอเชิญประชุม\nลงรับ\n\n"
     "เมื่อ พฤ. 3 ธ.ค. 2569 เวลา 10:00 สารบรรณกลาง <saraban@agency.test> เขียนว่า:\n" + QUOTED_COPY,
     {**FULL, "letter_no": "กค ๐๓๐๕/ว ๘๘", "letter_date": "๓ ธ.ค. ๒๕๖๙"}, REGISTER),
    ("apple mail: full-width colons, quoted copy after",
     "ที่：กค 0305/ว 88\nลงวันที่：3 ธ.ค. 2569\nจาก：กรมบัญชีกลาง\nเรื่อง：ขอเชิญประชุม\nลงรับ\n\n"
     "> On 3 Dec 2026, at 10:00, สารบรรณกลาง <saraban@agency.test> wrote:\n>\n" + QUOTED_COPY,
     FULL, REGISTER),
    ("plain: a greeting, a signature, คืน with its reason",
     "เจ้าหน้าที่สารบรรณ\nคืน ไม่ใช่หนังสือของหน่วยงานเรา\nขอบคุณค่ะ\n-- \nสมศรี\nที่: ไม่ใช่\n",
     {}, REJECT),
]


@pytest.mark.parametrize(("body", "texts", "command"), [c[1:] for c in CLIENTS],
                         ids=[c[0] for c in CLIENTS])
def test_mail_clients_reply_shapes(body: str, texts: dict[str, str], command: str) -> None:
    got = read_correction(body)
    assert dict(got.texts) == texts
    assert got.command == command
    assert got.unread == ()


CASES = [
    # (case, body, texts, command, reason, no_number, unread reasons)
    ("quoted values count below unquoted ones",
     "ที่: ใหม่ 2\n> ที่: เก่า 1\n> เรื่อง: เรื่องเดิม\n>> เรื่อง: เก่ากว่า\nแก้ไข",
     {"letter_no": "ใหม่ 2", "subject": "เรื่องเดิม"}, AMEND, "", False, ()),
    ("a quoted line needs the colon", "> เรื่อง ขอเชิญ\nลงรับ", {}, REGISTER, "", False, ()),
    ("first unquoted value wins", "เรื่อง: หนึ่ง\nเรื่อง: สอง\nลงรับ", {"subject": "หนึ่ง"},
     REGISTER, "", False, ()),
    ("a quoted command never acts", "ที่: กค 1\n> ลงรับ\n> ยกเลิก ซ้ำ", {"letter_no": "กค 1"},
     None, "", False, ()),
    ("ไม่มีเลขที่ with ลงรับ", "ไม่มีเลขที่\nลงวันที่: 1 ม.ค. 2570\nลงรับ",
     {"letter_date": "1 ม.ค. 2570"}, REGISTER, "", True, ()),
    ("labels เลขที่ วันที่ ถึง เรียน ความเร็ว",
     "เลขที่ ศธ 04010/1\nวันที่: 2 ธ.ค. 69\nเรียน ผู้อำนวยการ\nความเร็ว: ด่วนที่สุด\nแก้ไข ผิดตัว",
     {"letter_no": "ศธ 04010/1", "letter_date": "2 ธ.ค. 69", "recipient": "ผู้อำนวยการ",
      "speed": "ด่วนที่สุด"}, AMEND, "ผิดตัว", False, ()),
    ("ถึง and ชั้นความเร็ว", "ถึง: อธิบดี\nชั้นความเร็ว: ด่วน\nแก้ไข",
     {"recipient": "อธิบดี", "speed": "ด่วน"}, AMEND, "", False, ()),
    ("ยกเลิก needs a reason", "ยกเลิก", {}, None, "", False, (WHY_REASON,)),
    ("ยกเลิก with a reason", "ยกเลิก: ลงรับซ้ำกับ 5/2569", {}, CANCEL, "ลงรับซ้ำกับ 5/2569", False, ()),
    ("คืน without a reason is allowed", "คืน", {}, REJECT, "", False, ()),
    ("two commands: none obeyed", "ลงรับ\nคืน ผิด", {}, None, "", False, (WHY_TWO, WHY_TWO)),
    ("the same command twice is one", "ลงรับ\nลงรับ", {}, REGISTER, "", False, ()),
    ("an unknown label is not read (and told)", "เลขรับ: 5\nลงรับ", {}, REGISTER, "", False, ()),
    ("words that start like a label are not one", "ที่ประชุมมีมติ\nเรื่องนี้ด่วน\nลงรับแล้วหรือยัง",
     {}, None, "", False, ()),
    ("a field in a sentence is not one", "ช่วยแก้ ที่: กค 1 ด้วย", {}, None, "", False, ()),
    ("a zero-width space and NBSP are cleaned", "เรื่อง:\u00a0ขอ\u200bเชิญ\nลงรับ",
     {"subject": "ขอเชิญ"}, REGISTER, "", False, ()),
    ("a จาก: line with a clerk's next field is a field, not Outlook",
     "จาก: กรมบัญชีกลาง\nถึง: อธิบดี\nแก้ไข", {"sender": "กรมบัญชีกลาง", "recipient": "อธิบดี"},
     AMEND, "", False, ()),
    ("nothing at all", "ขอบคุณครับ\n", {}, None, "", False, ()),
    # hard-wrapped by the client at 72 (Claws Mail, Outlook at 76): the rest of a cut line goes on
    ("a field cut by the client's wrapping goes on",
     "เรื่อง: ขอเชิญประชุมคณะกรรมการ การจัดทำแผนพัฒนาการศึกษาขั้นพื้นฐาน ระยะ\n5 ปี (พ.ศ. 2570 - 2574)\nลงรับ",
     {"subject": "ขอเชิญประชุมคณะกรรมการ การจัดทำแผนพัฒนาการศึกษาขั้นพื้นฐาน ระยะ 5 ปี (พ.ศ. 2570 - 2574)"},
     REGISTER, "", False, ()),
    ("a reason cut by the client's wrapping goes on",
     "คืน ไม่ใช่หนังสือของหน่วยงานเรา เรื่องนี้เป็นงานของสำนักงานเขตพื้นที่การศึกษา\nมัธยมศึกษาขอนแก่น",
     {}, REJECT, "ไม่ใช่หนังสือของหน่วยงานเรา เรื่องนี้เป็นงานของสำนักงานเขตพื้นที่การศึกษา มัธยมศึกษาขอนแก่น",
     False, ()),
    ("a short line then the clerk's words: no wrapping, not joined",
     "เรื่อง: ขอเชิญประชุม\nขอบคุณครับ\nลงรับ", {"subject": "ขอเชิญประชุม"}, REGISTER, "", False, ()),
    ("a long line, a blank line, then words: not joined",
     "เรื่อง: ขอเชิญประชุมคณะกรรมการ การจัดทำแผนพัฒนาการศึกษาขั้นพื้นฐาน ระยะ\n\nขอบคุณครับ\nลงรับ",
     {"subject": "ขอเชิญประชุมคณะกรรมการ การจัดทำแผนพัฒนาการศึกษาขั้นพื้นฐาน ระยะ"}, REGISTER, "", False, ()),
    ("the rest of a line that lost to the first is not given to the first",
     "เรื่อง: ขอเชิญประชุมคณะกรรมการ การจัดทำแผนพัฒนาการศึกษาขั้นพื้นฐาน ระยะห้าปี\n"
     "เรื่อง: ขอเชิญประชุมคณะกรรมการ การจัดทำแผนพัฒนาการศึกษาขั้นพื้นฐาน ระยะสามปี\n"
     "ของสำนักงานเขตพื้นที่การศึกษา\nลงรับ",
     {"subject": "ขอเชิญประชุมคณะกรรมการ การจัดทำแผนพัฒนาการศึกษาขั้นพื้นฐาน ระยะห้าปี"}, REGISTER, "", False, ()),
    ("a command after a long field is the command, not its rest",
     "เรื่อง: ขอเชิญประชุมคณะกรรมการ การจัดทำแผนพัฒนาการศึกษาขั้นพื้นฐาน ระยะห้าปี\nลงรับ",
     {"subject": "ขอเชิญประชุมคณะกรรมการ การจัดทำแผนพัฒนาการศึกษาขั้นพื้นฐาน ระยะห้าปี"}, REGISTER, "", False, ()),
]


@pytest.mark.parametrize(("body", "texts", "command", "reason", "no_number", "unread"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_correction_lines(body: str, texts: dict[str, str], command: str | None, reason: str,
                          no_number: bool, unread: tuple[str, ...]) -> None:
    got = read_correction(body)
    assert dict(got.texts) == texts
    assert (got.command, got.reason, got.no_number) == (command, reason, no_number)
    assert tuple(u.why_th for u in got.unread) == unread


def test_unknown_labels_are_told_not_obeyed() -> None:
    got = read_correction("ลงวันท: 3 ธ.ค. 2569\nหมายเหตุ: ด่วน\nลงรับ")
    assert got.command == REGISTER and not got.texts and got.unread == ()
    assert [(u.line, u.why_th) for u in got.ignored] == [("ลงวันท: 3 ธ.ค. 2569", WHY_LABEL),
                                                         ("หมายเหตุ: ด่วน", WHY_LABEL)]


def test_the_line_of_each_field_is_kept_for_the_answer() -> None:
    got = read_correction("> ลงวันที่: 31 ก.พ. 2569\nลงวันที่ :  32 ธ.ค. 2569\nลงรับ")
    assert got.texts["letter_date"] == "32 ธ.ค. 2569"
    assert got.lines["letter_date"] == "ลงวันที่ : 32 ธ.ค. 2569"


@pytest.mark.parametrize(("subject", "want"), [
    ("Re: [ตรวจ L12] ขอเชิญประชุม", 12),
    ("ตอบกลับ: RE: Fwd: [ตรวจ L๑๒] ขอเชิญ", 12),
    ("แก้แล้ว [ ตรวจ 7 ]", 7),
    ("[รับ 3/2569] ขอเชิญ", None),
    ("ตรวจ L12", None),
])
def test_review_reference_in_a_reply_subject(subject: str, want: int | None) -> None:
    assert review_ref(subject) == want


def test_review_tag_is_read_back() -> None:
    assert review_ref("Re: " + review_tag(4051) + " เรื่อง") == 4051


@pytest.mark.parametrize("secret", [False, True], ids=["letter", "secret letter"])
def test_the_review_copy_read_as_a_reply_asks_nothing(secret: bool) -> None:
    """The copy's own text, pasted or quoted, is never a correction: its fields are shown
    `• ที่ — value` and its examples sit inside a sentence."""
    from gateway.core.compose import render, template_env

    fields = [{"name": n, "label": lab, "what": lab, "value": "ค่า" if n != "letter_no" else "",
               "source": "ภาพสแกน (OCR) ต้องตรวจทาน"}
              for n, lab in (("letter_no", "ที่"), ("letter_date", "ลงวันที่"), ("sender", "จาก"),
                             ("recipient", "ถึง"), ("subject", "เรื่อง"), ("speed", "ชั้นความเร็ว"))]
    context = {"tag": review_tag(9), "letter_id": 9, "secret": secret, "secrecy": "ลับ",
               "agency": "สำนักงานทดสอบ", "channel": "imap", "received_date": "3 ธ.ค. 69",
               "received_time": "10:00", "folder_registered": "ลงรับแล้ว", "folder_rejected": "ไม่รับ",
               "subject": "ขอเชิญ", "email_subject": "สแกน", "reasons": ["อ่านจากภาพสแกน (OCR)"],
               "fields": fields, "missing": ["ที่"], "remarks": ["ผู้ส่งไม่อยู่ในทะเบียน"], "sha256": "ab"}
    subject, text = render(template_env(), "review-copy", context)
    assert review_ref("Re: " + subject) == 9
    assert "ค่า" not in text if secret else "• จาก (จาก) — ค่า  [ภาพสแกน (OCR) ต้องตรวจทาน]" in text
    for body in (text, "".join(f"> {x}\n" for x in text.splitlines())):
        got = read_correction(body)
        assert (dict(got.texts), got.command, got.no_number, got.unread) == ({}, None, False, ())
