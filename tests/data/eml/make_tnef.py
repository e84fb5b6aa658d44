"""Write ``07_outlook_winmail_tnef.eml``: an Outlook message wrapped in winmail.dat (TNEF).

Hand-writing TNEF is impractical, so this script builds one from the MS-OXTNEF layout
(signature, key, then level/id/length/data/checksum attributes) with the pieces Outlook sends:
version, OEM code page 874 (Thai), message class, subject, body, and two attachments, each with an
8.3 title, its data and a MAPI property block holding the long (Unicode) file name.
Run from the repository root: ``.venv/bin/python tests/data/eml/make_tnef.py``; the test suite
reads the .eml it writes, and ``tnefparse`` must be able to read the winmail.dat inside.
"""

from __future__ import annotations

import base64
import struct
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent

TNEF_SIGNATURE = 0x223E9F78
LVL_MESSAGE = 1
LVL_ATTACHMENT = 2

# attribute = (type << 16) | id, MS-OXTNEF 2.1.3.1
ATT_TNEF_VERSION = 0x00089006
ATT_OEM_CODEPAGE = 0x00069007
ATT_MESSAGE_CLASS = 0x00078008
ATT_SUBJECT = 0x00018004
ATT_BODY = 0x0002800C
ATT_ATTACH_REND_DATA = 0x00069002
ATT_ATTACH_TITLE = 0x00018010
ATT_ATTACH_DATA = 0x0006800F
ATT_ATTACHMENT = 0x00069005

PT_UNICODE = 0x001F
PR_ATTACH_LONG_FILENAME = 0x3707


def pdf(tag: str) -> bytes:
    return (
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
        + f"% {tag}\n".encode("ascii")
        + b"1 0 obj <</Type/Catalog/Pages 2 0 R>> endobj\n"
        b"2 0 obj <</Type/Pages/Kids[3 0 R]/Count 1>> endobj\n"
        b"3 0 obj <</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>> endobj\n"
        b"trailer <</Root 1 0 R>>\n%%EOF\n"
    )


def attribute(level: int, attr: int, data: bytes) -> bytes:
    checksum = sum(data) & 0xFFFF
    return struct.pack("<BII", level, attr, len(data)) + data + struct.pack("<H", checksum)


def mapi_unicode(prop_id: int, text: str) -> bytes:
    value = (text + "\0").encode("utf-16-le")
    padded = value + b"\0" * (-len(value) % 4)
    return struct.pack("<HHII", PT_UNICODE, prop_id, 1, len(value)) + padded


def mapi_block(*props: bytes) -> bytes:
    return struct.pack("<I", len(props)) + b"".join(props)


def tnef(subject: str, body: str, files: list[tuple[str, str, bytes]]) -> bytes:
    out = struct.pack("<IH", TNEF_SIGNATURE, 0x1234)
    out += attribute(LVL_MESSAGE, ATT_TNEF_VERSION, struct.pack("<I", 0x00010000))
    out += attribute(LVL_MESSAGE, ATT_OEM_CODEPAGE, struct.pack("<II", 874, 0))
    out += attribute(LVL_MESSAGE, ATT_MESSAGE_CLASS, b"IPM.Microsoft Mail.Note\0")
    out += attribute(LVL_MESSAGE, ATT_SUBJECT, subject.encode("cp874") + b"\0")
    out += attribute(LVL_MESSAGE, ATT_BODY, body.encode("cp874"))
    for short_name, long_name, data in files:
        out += attribute(
            LVL_ATTACHMENT, ATT_ATTACH_REND_DATA, b"\x01\x00" + b"\xff" * 4 + b"\0" * 8
        )
        out += attribute(LVL_ATTACHMENT, ATT_ATTACH_TITLE, short_name.encode("ascii") + b"\0")
        out += attribute(LVL_ATTACHMENT, ATT_ATTACH_DATA, data)
        out += attribute(
            LVL_ATTACHMENT,
            ATT_ATTACHMENT,
            mapi_block(mapi_unicode(PR_ATTACH_LONG_FILENAME, long_name)),
        )
    return out


FROM_NAME = "สสจ.ร้อยเอ็ด"
SUBJECT = "ขอความอนุเคราะห์ข้อมูลบุคลากร"
BODY = (
    "เรียน ผู้ว่าราชการจังหวัดร้อยเอ็ด\r\n\r\n"
    "สำนักงานสาธารณสุขจังหวัดร้อยเอ็ด ขอส่งหนังสือ ที่ รอ 0033.004/1234 ลงวันที่ 20 มิถุนายน 2566 "
    "เรื่อง ขอความอนุเคราะห์ข้อมูลบุคลากร รายละเอียดตามไฟล์แนบ\r\n\r\n"
    "ขอแสดงความนับถือ\r\n"
    "สำนักงานสาธารณสุขจังหวัดร้อยเอ็ด\r\n"
    "กลุ่มงานบริหารทั่วไป โทร. 0 4351 1234\r\n"
)
FILES = [
    ("2566_MOPH~1.PDF", "2566_MOPH_1234.pdf", pdf("tnef letter 2566_MOPH_1234")),
    ("~1.PDF", "สิ่งที่ส่งมาด้วย แบบสำรวจ.pdf", pdf("tnef enclosure")),
]


def eml(winmail: bytes) -> bytes:
    encoded = "\n".join(textwrap.wrap(base64.b64encode(winmail).decode("ascii"), 76))
    subject_b64 = base64.b64encode(SUBJECT.encode("cp874")).decode("ascii")
    from_b64 = base64.b64encode(FROM_NAME.encode("cp874")).decode("ascii")
    text = f"""\
Received: from EXCH01.ssjroiet.go.th (10.10.1.5) by mx.roiet.go.th with Microsoft SMTP Server
 id 15.1.2507.27; Tue, 20 Jun 2023 10:12:44 +0700
From: =?windows-874?B?{from_b64}?= <ssj.roiet@moph.go.th>
To: <saraban@roiet.go.th>
Subject: =?windows-874?B?{subject_b64}?=
Thread-Topic: =?windows-874?B?{subject_b64}?=
Thread-Index: AdmjL7KXQ0x9c0y8TQmBqI0zmVh1Pg==
Date: Tue, 20 Jun 2023 03:12:40 +0000
Message-ID: <8C0A1E2F6B7D4E1C9A@EXCH01.ssjroiet.go.th>
Accept-Language: th-TH, en-US
Content-Language: th-TH
X-MS-Has-Attach: yes
X-MS-TNEF-Correlator: <8C0A1E2F6B7D4E1C9A@EXCH01.ssjroiet.go.th>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="_000_8C0A1E2F6B7D4E1C9AEXCH01_"

--_000_8C0A1E2F6B7D4E1C9AEXCH01_
Content-Type: application/ms-tnef; name="winmail.dat"
Content-Disposition: attachment; filename="winmail.dat"
Content-Transfer-Encoding: base64

{encoded}

--_000_8C0A1E2F6B7D4E1C9AEXCH01_--
"""
    return text.replace("\n", "\r\n").encode("ascii")


def main() -> None:
    winmail = tnef(SUBJECT, BODY, FILES)
    (HERE / "07_outlook_winmail_tnef.eml").write_bytes(eml(winmail))


if __name__ == "__main__":
    main()
