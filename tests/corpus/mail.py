"""Build e-mails carrying letters the way Outlook, Gmail, Thunderbird, DGA's service and AMSS++ do."""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP
from email.utils import make_msgid

from tests.pdfgen.documents import PdfSpec, make_pdf


def letter_pdf(**spec: object) -> bytes:
    return make_pdf(PdfSpec(**spec))  # type: ignore[arg-type]


def letter_mail(
    pdf: bytes | None = None,
    *,
    subject: str = "ขอเชิญประชุมคณะกรรมการ",
    sender: str = "saraban@obec.go.th",
    sender_name: str = "สำนักงานคณะกรรมการการศึกษาขั้นพื้นฐาน",
    to: str = "saraban@agency.test",
    body: str = "เรียน ผู้อำนวยการ\n\nส่งหนังสือมาเพื่อทราบ\n\nขอแสดงความนับถือ\n",
    filename: str = "2569_OBEC_1234.pdf",
    extra: dict[str, str] | None = None,
    attachments: list[tuple[str, str, bytes]] | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"{sender_name} <{sender}>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain=sender.split("@")[1])
    msg["Date"] = "Sun, 22 Nov 2026 09:30:00 +0700"
    for k, v in (extra or {}).items():
        msg[k] = v
    msg.set_content(body)
    if pdf is not None:
        msg.add_attachment(pdf, maintype="application", subtype="pdf", filename=filename)
    for name, ctype, data in attachments or []:
        maintype, _, subtype = ctype.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes(policy=SMTP)


def numbered_letter_pdf(n: int, *, code: str = "ศธ 04010", subject: str | None = None,
                        **spec: object) -> bytes:
    """A distinct letter: its own number (and so its own file); page 1 in the external layout."""
    lines = (
        f"ที่ {code}/{n}",
        "สำนักงานคณะกรรมการการศึกษาขั้นพื้นฐาน",
        "วันที่ 20 พฤศจิกายน 2569",
        f"เรื่อง {subject or f'แจ้งการดำเนินงานฉบับที่ {n}'}",
        "เรียน ผู้อำนวยการสำนักงานเขตพื้นที่การศึกษา",
    )
    return letter_pdf(lines=lines, **spec)
