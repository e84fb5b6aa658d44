"""A corpus of real-world and hostile mail through a real Dovecot: every message ends in a
defined state, in its folder, with its raw bytes kept — no crash, no silent drop."""

from __future__ import annotations

import io
import zipfile
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from gateway.app import opened_store
from gateway.service import ingest_once
from gateway.store.tables import Letter, LetterFile, RawMessage, RegisterEntry
from tests.conftest import central_mailbox_settings
from tests.corpus.mail import letter_mail, numbered_letter_pdf
from tests.pdfgen.documents import not_a_pdf

pytestmark = pytest.mark.integration

EML = Path(__file__).resolve().parents[1] / "data" / "eml"
XML = Path(__file__).resolve().parents[1] / "data" / "xml"
DEFINED = {"registered", "duplicate", "review", "restricted", "rejected", "not_letter"}
FOLDER = {"registered": "ลงรับแล้ว", "duplicate": "ลงรับแล้ว", "review": "รอตรวจสอบ",
          "restricted": "รอตรวจสอบ (ลับ)", "rejected": "ไม่รับ", "not_letter": "อื่น ๆ"}


def _many_parts(n: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = "saraban@many.go.th"
    msg["To"] = "saraban@agency.test"
    msg["Subject"] = "หนังสือพร้อมสิ่งที่ส่งมาด้วยจำนวนมาก"
    msg.set_content("เรียน ผู้อำนวยการ")
    msg.add_attachment(numbered_letter_pdf(901), maintype="application", subtype="pdf",
                       filename="2569_MANY_901.pdf")
    for i in range(n):
        msg.add_attachment(f"สิ่งที่ส่งมาด้วย {i}".encode(), maintype="text", subtype="plain",
                           filename=f"enc-{i}.txt")
    return msg.as_bytes(policy=SMTP)


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("letter.pdf", numbered_letter_pdf(902))
    return buf.getvalue()


# (name, raw message, expected state, a phrase the clerk must see in the reason, or None)
def corpus() -> list[tuple[str, bytes, str, str | None]]:
    cases: list[tuple[str, bytes, str, str | None]] = [
        ("good letter", letter_mail(numbered_letter_pdf(900)), "registered", None),
        ("no pdf", letter_mail(None, subject="ไม่มีไฟล์"), "review", "ไม่พบไฟล์หนังสือ (PDF)"),
        ("pdf that is not a pdf", letter_mail(not_a_pdf(), subject="ไฟล์เสีย",
                                              filename="2569_BAD_1.pdf"),
         "review", "เปิดไฟล์หนังสือไม่ได้"),
        ("a zip only", letter_mail(None, subject="ส่งไฟล์ zip",
                                   attachments=[("letter.zip", "application/zip", _zip())]),
         "review", "ไม่พบไฟล์หนังสือ (PDF)"),
        ("XXE xml next to a pdf",
         letter_mail(numbered_letter_pdf(903), subject="หนังสือพร้อม XML",
                     attachments=[("letter.xml", "application/xml",
                                   (XML / "hostile_xxe.xml").read_bytes())]),
         "review", "XML"),
        ("path traversal name",
         letter_mail(numbered_letter_pdf(904), filename="../../../../etc/cron.d/x.pdf"),
         "registered", None),
        ("500 parts", _many_parts(500), "registered", None),
        # a display name that is another agency's address: the From header itself is ambiguous,
        # so the sender cannot be authenticated (issue #18): the clerk looks
        ("forged from",
         letter_mail(numbered_letter_pdf(905), sender="attacker@evil.example",
                     sender_name="saraban@opm.go.th"),
         "review", "อาจเป็นอีเมลปลอม"),
        ("secret letter",
         letter_mail(numbered_letter_pdf(906, subject="ลับ ข้อมูลบุคลากร"), subject="ลับมาก ข้อมูลบุคลากร"),
         "restricted", "ชั้นความลับ"),
        ("30 MB message",
         letter_mail(numbered_letter_pdf(907), subject="ไฟล์ใหญ่",
                     attachments=[("scan.tif", "image/tiff", b"II*\x00" + bytes(30 * 2**20))]),
         "review", "เกินกำหนด"),
    ]
    for path in sorted(EML.glob("*.eml")):
        cases.append((path.name, path.read_bytes(), "*", None))
    return cases


def by_subject_no(rows: list[Any], suffix: str) -> Letter:
    return next(x for x, _ in rows if (x.letter_no or "").endswith(suffix))


async def test_every_message_ends_in_a_defined_state_with_raw_bytes_kept(
    tmp_path: Path, dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    user, password = dovecot.new_user("corpus")
    monkeypatch.setenv("SARABAN_TEST_IMAP_PASSWORD", password)
    settings = central_mailbox_settings(
        tmp_path, dovecot, user,
    )
    cases = corpus()
    for _, raw, _, _ in cases:
        dovecot.deliver(user, raw)
    async with opened_store(settings, upgrade=True) as store:
        await ingest_once(settings, store=store)
        assert dovecot.message_count(user, "INBOX") == 0  # nothing left behind, nothing dropped
        async with store.sessions() as s:
            rows = (await s.execute(
                select(Letter, RawMessage).join(RawMessage, RawMessage.id == Letter.raw_message_id)
                .order_by(Letter.id))).all()
            files = (await s.execute(select(LetterFile))).scalars().all()
            entries = (await s.execute(select(RegisterEntry))).scalars().all()
        assert len(rows) == len(cases)
        by_subject: dict[str, Letter] = {}
        for letter, raw in rows:
            assert letter.state in DEFINED, (letter.subject, letter.state)
            assert store.blobs.exists(raw.sha256)
            by_subject.setdefault(letter.subject, letter)
        # LMTP prepends trace headers and IMAP serves CRLF: each delivered message is kept
        # whole, at the end of what the server gave us
        def lf(b: bytes) -> bytes:
            return b.replace(b"\r\n", b"\n").rstrip(b"\n")

        kept = [lf(store.blobs.get(raw.sha256)) for _, raw in rows]
        for name, raw_case, _, _ in cases:
            assert any(k.endswith(lf(raw_case)) for k in kept), name
        for name, raw_case, want, phrase in cases:
            if want == "*":
                continue
            letter = next(x for (x, _), k in zip(rows, kept, strict=True) if k.endswith(lf(raw_case)))
            assert letter.state == want, (name, letter.state, letter.review_reason)
            if phrase:
                assert phrase in letter.review_reason, (name, letter.review_reason)
        # attachment names never became paths: files live under their hash only
        for f in files:
            assert "/" not in f.safe_name and "\\" not in f.safe_name and ".." not in f.safe_name
            assert store.blobs.path(f.sha256).is_file()
        forged = by_subject_no(rows, "/905")
        assert any("อาจปลอมแปลง" in f for f in forged.sender_flags)
        # numbers: gapless and once each
        assert sorted(e.number for e in entries) == list(range(1, len(entries) + 1))
        # folders hold what the register says
        states = [x.state for x, _ in rows]
        for folder in set(FOLDER.values()):
            originals = sum(1 for st in states if FOLDER.get(st) == folder)
            copies = sum(1 for st in states if st == "registered") if folder == "ลงรับแล้ว" else 0
            # a letter set aside has its review copy beside it (#21)
            copies += sum(1 for st in states if st in ("review", "restricted") and FOLDER.get(st) == folder)
            assert dovecot.message_count(user, folder) == originals + copies, folder
