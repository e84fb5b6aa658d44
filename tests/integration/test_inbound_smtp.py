"""Inbound end to end over the SMTP listener: registered, stamped, acknowledged — exactly once."""

from __future__ import annotations

import asyncio
import email
from email import policy
from pathlib import Path

import aiosmtplib
import pytest
from sqlalchemy import select

from gateway.app import open_store
from gateway.service import serve
from gateway.store import audit
from gateway.store.tables import Letter, LetterFile, OutboxItem, RegisterEntry
from tests.conftest import TickingClock, add_to_directory, make_settings
from tests.corpus.mail import letter_mail, letter_pdf
from tests.pdfgen.poppler import pdftotext

pytestmark = pytest.mark.integration


@pytest.fixture
async def gw(tmp_path: Path, db_url: str):
    settings = make_settings(tmp_path, db_url)
    store = await open_store(settings, upgrade=True, clock=TickingClock())  # dates asserted: set, ticking
    await add_to_directory(store, "saraban@obec.go.th")  # acknowledged: not a stranger
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, ready=ready, stop=stop, store=store))
    port = await asyncio.wait_for(ready, 30)
    yield port, store, settings
    stop.set()
    await asyncio.wait_for(task, 30)
    await store.close()


async def _send(port: int, raw: bytes, sender: str = "saraban@obec.go.th") -> str:
    _, reply = await aiosmtplib.send(raw, sender=sender, recipients=["saraban@agency.test"],
                                     hostname="127.0.0.1", port=port, timeout=30)
    return reply


async def _until(store, letter_id: int, *, states: set[str], timeout: float = 30) -> Letter:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        async with store.sessions() as s:
            letter = await s.get(Letter, letter_id)
        if letter is not None and letter.state in states and (
            letter.state != "registered" or letter.stamped_at is not None
        ):
            return letter
        if loop.time() > end:
            raise AssertionError(f"letter {letter_id} stuck in {letter.state if letter else None}")
        await asyncio.sleep(0.1)


def _id(reply: str) -> int:
    return int(reply.rsplit("letter", 1)[1].split()[0])


async def test_letter_is_registered_stamped_and_acknowledged(gw) -> None:
    port, store, settings = gw
    raw = letter_mail(letter_pdf())
    letter = await _until(store, _id(await _send(port, raw)), states={"registered"})
    assert letter.letter_no == "ศธ 04183/1234"
    assert letter.subject == "ขอเชิญประชุมคณะกรรมการ"
    assert letter.field_sources["letter_no"] == "pdf"
    async with store.sessions() as s:
        entry = (await s.execute(select(RegisterEntry).where(RegisterEntry.letter_id == letter.id))).scalar_one()
        files = {f.role: f for f in (await s.execute(
            select(LetterFile).where(LetterFile.letter_id == letter.id))).scalars()}
        assert (await audit.verify(s)).ok
    assert (entry.number, entry.year, entry.status) == (1, 2569, "registered")
    assert entry.letter_no == "ศธ 04183/1234" and entry.channel == "smtp"
    stamped = store.blobs.get(files["stamped"].sha256)
    original = store.blobs.get(files["main"].sha256)
    assert stamped.startswith(original)  # incremental update: the original stays intact inside
    text = pdftotext(stamped)
    assert "เลขรับ ๑" in text and settings.agency.name_th in text

    # the acknowledgement leaves through the outbox folder (embedded default)
    outbox_dir = settings.outbox_path
    for _ in range(100):
        files_out = sorted(outbox_dir.glob("*-ack.eml"))
        if files_out:
            break
        await asyncio.sleep(0.1)
    assert len(files_out) == 1
    ack = email.message_from_bytes(files_out[0].read_bytes(), policy=policy.default)
    assert ack["To"] == "saraban@obec.go.th" and ack["Auto-Submitted"] == "auto-replied"
    assert "1/2569" in ack["Subject"]
    body = ack.get_body(("plain",)).get_content()
    assert "ศธ 04183/1234" in body and "เลขทะเบียนรับ  1/2569" in body


async def test_same_letter_resent_is_linked_not_numbered_again(gw) -> None:
    port, store, _ = gw
    pdf = letter_pdf()
    first = await _until(store, _id(await _send(port, letter_mail(pdf))), states={"registered"})
    # a new Message-ID, another sender address: the same letter file
    again = letter_mail(pdf, sender="saraban2@obec.go.th", subject="Fwd: ขอเชิญประชุมคณะกรรมการ")
    second = await _until(store, _id(await _send(port, again, "saraban2@obec.go.th")),
                          states={"duplicate", "registered", "review"})
    assert second.state == "duplicate" and second.duplicate_of == first.id
    async with store.sessions() as s:
        entries = (await s.execute(select(RegisterEntry))).scalars().all()
        acks = (await s.execute(select(OutboxItem).where(OutboxItem.kind == "ack"))).scalars().all()
    assert [e.number for e in entries] == [1]
    assert len(acks) == 1


async def test_mail_without_pdf_goes_to_review_with_a_thai_reason(gw) -> None:
    port, store, _ = gw
    letter = await _until(store, _id(await _send(port, letter_mail(None))), states={"review"})
    assert "ไม่พบไฟล์หนังสือ (PDF)" in letter.review_reason
    async with store.sessions() as s:
        assert (await s.execute(select(RegisterEntry))).first() is None
        assert (await s.execute(select(OutboxItem))).first() is None


async def test_auto_reply_is_set_aside_without_ack(gw) -> None:
    port, store, _ = gw
    raw = letter_mail(None, subject="Automatic reply: ประชุม", extra={"Auto-Submitted": "auto-replied"})
    letter = await _until(store, _id(await _send(port, raw)), states={"not_letter"})
    async with store.sessions() as s:
        assert (await s.execute(select(OutboxItem))).first() is None
    assert letter.state == "not_letter"


async def test_a_letter_thunderbird_sent_is_registered_from_its_pdf(gw) -> None:
    """An agency's letter as Thunderbird itself sent it (scripts/make-thunderbird): flowed Thai
    text, the PDF under a Thai name in RFC 2231 pieces. Registered from the PDF, name kept."""
    port, store, _ = gw
    tb = Path(__file__).resolve().parents[1] / "data" / "eml" / "thunderbird"
    raw = (tb / "letter-from-agency.eml").read_bytes()
    letter = await _until(store, _id(await _send(port, raw, "saraban@khonkaen.test")),
                          states={"registered", "review"})
    assert letter.state == "registered", letter.review_reason
    assert (letter.letter_no, letter.subject, letter.sender) == (
        "ขก ๐๐๑๗.๓/๗๔๕",
        "ประชาสัมพันธ์การรับสมัครคัดเลือกบุคคลเพื่อบรรจุและแต่งตั้งเข้ารับราชการเป็นข้าราชการครู"
        "และบุคลากรทางการศึกษา ตำแหน่งครูผู้ช่วย กรณีที่มีความจำเป็นหรือมีเหตุพิเศษ",
        "สำนักงานจังหวัดขอนแก่น")
    async with store.sessions() as s:
        main = (await s.execute(select(LetterFile).where(
            LetterFile.letter_id == letter.id, LetterFile.role == "main"))).scalar_one()
    assert main.filename == "หนังสือ ขก 0017.3 ว 745 ประชาสัมพันธ์การรับสมัคร.pdf"
