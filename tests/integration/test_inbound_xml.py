"""Letters from connected e-Saraban systems (CorrespondenceLetter XML) and their notifiers."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
from email import policy
from pathlib import Path

import aiosmtplib
import pytest
from sqlalchemy import select

from gateway.app import open_store
from gateway.service import serve
from gateway.store.tables import (
    DeliveryNotice,
    Letter,
    LetterFile,
    LetterRecipient,
    OutboxItem,
    RegisterEntry,
)
from gateway.xmlletter import (
    Notifier,
    NotifierKind,
    OutgoingFile,
    OutgoingXmlLetter,
    build_letter_xml,
    build_notifier,
    read_letter_xml,
    validate_xml,
)
from gateway.xmlletter.model import Party
from tests.conftest import TickingClock, add_to_directory, make_settings
from tests.corpus.mail import letter_mail, letter_pdf, numbered_letter_pdf

pytestmark = pytest.mark.integration

XML_DIR = Path(__file__).resolve().parents[1] / "data" / "xml"


def xml_for(letter_no: str, subject: str, *, dialect: str = "dga", pdf: bytes | None = None) -> bytes:
    return build_letter_xml(
        OutgoingXmlLetter(
            letter_id=letter_no, correspondence_date=dt.date(2026, 11, 21), subject=subject,
            sender=Party(department_name="สำนักงานเขตพื้นที่การศึกษาทดสอบ",
                         ministry_name="กระทรวงศึกษาธิการ", department_id="0400000001",
                         ministry_id="04"),
            receiver=Party(department_name="สำนักงานทดสอบ", ministry_name="กระทรวงศึกษาธิการ",
                           department_id="0400000002", ministry_id="04"),
            main_letter=OutgoingFile("application/pdf", pdf) if pdf else None,
        ),
        dialect=dialect,  # type: ignore[arg-type]
    )


def with_xml(pdf: bytes | None, xml: bytes, name: str = "letter.xml", **kw: object) -> bytes:
    return letter_mail(pdf, attachments=[(name, "application/xml", xml)], **kw)  # type: ignore[arg-type]


@pytest.fixture
async def gw(tmp_path: Path, request: pytest.FixtureRequest):
    receive = getattr(request, "param", False)
    settings = make_settings(tmp_path, intake={"receive_notifier": receive})
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


async def _deliver(port: int, raw: bytes, store, *, final: set[str]) -> Letter:
    _, reply = await aiosmtplib.send(raw, sender="saraban@obec.go.th",
                                     recipients=["saraban@agency.test"], hostname="127.0.0.1",
                                     port=port, timeout=30)
    letter_id = int(reply.rsplit("letter", 1)[1].split()[0])
    for _ in range(300):
        async with store.sessions() as s:
            letter = await s.get(Letter, letter_id)
        # a registered letter is done once its stamp is recorded (a moment after the number)
        if letter is not None and letter.state in final and (
                letter.state != "registered" or letter.stamped_at is not None):
            return letter
        await asyncio.sleep(0.1)
    raise AssertionError(f"letter {letter_id} stuck in {letter.state if letter else None}")


async def _mails(settings, kind: str, count: int) -> list[email.message.EmailMessage]:
    for _ in range(100):
        files = sorted(settings.outbox_path.glob(f"*-{kind}.eml"))
        if len(files) >= count:
            return [email.message_from_bytes(f.read_bytes(), policy=policy.default) for f in files]
        await asyncio.sleep(0.1)
    raise AssertionError(f"expected {count} {kind} mail(s)")


def _notifier_of(mail: email.message.EmailMessage) -> bytes:
    att = next(a for a in mail.iter_attachments() if a.get_filename().endswith(".xml"))
    return att.get_content() if isinstance(att.get_content(), bytes) else att.get_content().encode()


async def test_xml_fields_are_most_trusted_and_the_ack_carries_accept_notifier(gw) -> None:
    port, store, settings = gw
    pdf = letter_pdf()
    letter = await _deliver(port, with_xml(pdf, xml_for("ศธ 04183/1234", "ขอเชิญประชุมคณะกรรมการ")),
                            store, final={"registered", "review"})
    assert letter.state == "registered", letter.review_reason
    assert letter.field_sources["letter_no"] == "xml" and letter.field_sources["subject"] == "xml"
    assert letter.sender == "สำนักงานเขตพื้นที่การศึกษาทดสอบ"
    assert letter.xml_report == {"readable": True, "valid": True, "dialect": "dga",
                                     "variants": [], "errors": [], "reason": ""}
    assert "สำนักงานทดสอบ" in letter.xml_receiver  # for routing rules on the receiver
    (ack,) = await _mails(settings, "ack", 1)
    data = _notifier_of(ack)
    assert validate_xml(data).valid
    n = read_letter_xml(data).notifier
    assert n is not None and n.kind is NotifierKind.ACCEPT
    assert n.letter_id == "ศธ 04183/1234" and n.accept_id == "1/2569"


async def test_xml_carrying_the_letter_is_the_letter(gw) -> None:
    port, store, _ = gw
    pdf = numbered_letter_pdf(55, code="ศธ 04010")
    raw = with_xml(None, xml_for("ศธ 04010/55", "แจ้งการดำเนินงานฉบับที่ 55", dialect="ecms", pdf=pdf))
    letter = await _deliver(port, raw, store, final={"registered", "review"})
    assert letter.state == "registered", letter.review_reason
    async with store.sessions() as s:
        main = (await s.execute(select(LetterFile).where(
            LetterFile.letter_id == letter.id, LetterFile.role == "main"))).scalar_one()
        stamped = (await s.execute(select(LetterFile).where(
            LetterFile.letter_id == letter.id, LetterFile.role == "stamped"))).scalar_one()
    assert store.blobs.get(main.sha256) == pdf
    assert store.blobs.get(stamped.sha256).startswith(pdf)


@pytest.mark.parametrize("sample", ["variant_unknown_codes.xml", "hostile_xxe.xml"])
async def test_bad_xml_goes_to_review_with_reasons(gw, sample: str) -> None:
    port, store, _ = gw
    raw = with_xml(letter_pdf(), (XML_DIR / sample).read_bytes())
    letter = await _deliver(port, raw, store, final={"registered", "review"})
    assert letter.state == "review"
    assert "XML" in letter.review_reason
    assert letter.xml_report is not None and letter.xml_report["valid"] is False  # the report is kept with the letter
    assert any(p["en"] for p in letter.problems if p["code"].startswith("xml"))


async def test_notifiers_update_letters_we_sent(gw) -> None:
    port, store, _ = gw
    now = dt.datetime.now(dt.UTC)
    async with store.sessions.begin() as s:
        sent = Letter(direction="out", state="queued", source_key="out:test:77", channel="cli",
                      letter_no="ศธ 04183/77", letter_no_norm="ศธ 04183/77", subject="แจ้งผล",
                      created_at=now, updated_at=now)
        s.add(sent)
        await s.flush()
        # the recipient's own token, in the Reply-To of the mail it got: proves the notifier's
        # sender (issue #18; tests/security/test_forged_mail.py has the forged ones)
        s.add(LetterRecipient(letter_id=sent.id, address="saraban@obec.go.th", name_th="", token="7" * 20,
                              state="sent", error="", ack_number="", ack_source=""))
    accept = build_notifier(Notifier(NotifierKind.ACCEPT, "ศธ 04183/77", dt.date(2026, 11, 20),
                                     "แจ้งผล", accept_id="555", accept_date=dt.date(2026, 11, 22)))
    msg = await _deliver(port, with_xml(None, accept, name="AcceptLetterNotifier.xml",
                                        subject="AcceptLetterNotifier",
                                        to=f"saraban+r.{'7' * 20}@agency.test"),
                         store, final={"not_letter", "review"})
    assert msg.state == "not_letter"
    async with store.sessions() as s:
        sent = (await s.execute(select(Letter).where(Letter.direction == "out"))).scalar_one()
        entries = (await s.execute(select(RegisterEntry))).scalars().all()
        notices = (await s.execute(select(DeliveryNotice))).scalars().all()
    assert sent.delivery_state == "accepted"
    assert [(n.kind, n.state, n.accept_id, n.accept_date, n.notice_letter_id) for n in notices] == [
        ("AcceptLetterNotifier", "accepted", "555", dt.date(2026, 11, 22), msg.id)]
    assert entries == []  # a status message is never registered as a letter


async def test_invalid_accept_id_sends_the_accept_notifier_again(gw) -> None:
    port, store, settings = gw
    await _deliver(port, with_xml(letter_pdf(), xml_for("ศธ 04183/1234", "ขอเชิญประชุมคณะกรรมการ")),
                   store, final={"registered"})
    await _mails(settings, "ack", 1)
    complaint = build_notifier(Notifier(NotifierKind.INVALID_ACCEPT_ID, "ศธ 04183/1234",
                                        dt.date(2026, 11, 21), "ขอเชิญประชุมคณะกรรมการ",
                                        accept_id="1/2569"))
    await _deliver(port, with_xml(None, complaint, name="InvalidAcceptIDNotifier.xml",
                                  subject="InvalidAcceptIDNotifier"), store, final={"not_letter"})
    acks = await _mails(settings, "ack", 2)
    n = read_letter_xml(_notifier_of(acks[-1])).notifier
    assert n is not None and n.kind is NotifierKind.ACCEPT and n.accept_id == "1/2569"
    async with store.sessions() as s:
        kinds = sorted((await s.execute(select(OutboxItem.dedupe_key))).scalars())
    assert sorted(k.split(":")[0] for k in kinds) == ["ack", "ack-again"]


@pytest.mark.parametrize("gw", [True], indirect=True)
async def test_receive_notifier_on_arrival_when_configured(gw) -> None:
    port, store, settings = gw
    await _deliver(port, with_xml(letter_pdf(), xml_for("ศธ 04183/1234", "ขอเชิญประชุมคณะกรรมการ")),
                   store, final={"registered"})
    (receipt,) = await _mails(settings, "receipt", 1)
    n = read_letter_xml(_notifier_of(receipt)).notifier
    assert n is not None and n.kind is NotifierKind.RECEIVE and n.letter_id == "ศธ 04183/1234"
