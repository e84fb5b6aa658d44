"""Reading a message: everything the gateway can learn from its bytes, before any decision.

CPU work on bytes, no database and no clock of its own: it runs in the gateway's worker
processes (gateway/workers.py), which keep the letter's files in the blob store themselves so
that megabytes never cross the pipe. `examine` adds what else the message may be besides a
letter (our own copy, a delivery report, a unit's or clerk's reply): the facts the
classification table (gateway/core/classify.py) decides on.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from pathlib import Path
from typing import Any

from gateway.config import Settings
from gateway.core.classify import (
    Decision,
    Facts,
    Kind,
    PdfFacts,
    Policy,
    Reading,
    SignatureFact,
    XmlFacts,
    classify,
    validate,
)
from gateway.core.compose import ORIGIN_HEADER, origin_parts
from gateway.core.extract import choose_main_letter, extract_fields, extract_from_text
from gateway.core.extract.ocr import ocr_needed
from gateway.core.parse import parse_message
from gateway.core.parse.corrections import CorrectionReply, correction_reply
from gateway.core.parse.headers import Headers
from gateway.core.parse.reporttag import asks_for_report
from gateway.core.parse.signs import generated_reason
from gateway.forwarding.routing import (
    RETURNED_HEADER,
    ClerkRoute,
    clerk_command,
    recipient_token,
    reply_token,
)
from gateway.letter import (
    Attachment,
    FieldSource,
    LetterFields,
    ParsedMessage,
    Problem,
    mail_system,
)
from gateway.outbound.bounces import Bounce, read_bounce, verp_token
from gateway.outbound.rules import SENT_HEADER, letter_numbers_in
from gateway.pdf.check import Revocation, inspect_pdf, page1_text
from gateway.pdf.ocr import OcrReading, has_text_layer, ocr_page1
from gateway.pdf.text import misspelt_share
from gateway.store.blobs import BlobStore
from gateway.thai import letter_no_key, letter_numbers_equal
from gateway.trust import SenderAuth
from gateway.trust.channels import Origin, clerk_proof
from gateway.trust.secret import InstallSecret
from gateway.xmlletter import ReadStatus, XmlResources, default_resources, read_letter_xml


def _xml_fields(result: Any) -> dict[str, Any] | None:
    letter = result.letter
    if letter is None:
        return None
    sender = letter.sender
    receiver = letter.receiver
    return {
        "letter_no": letter.letter_id,
        "letter_date": letter.correspondence_date,
        "subject": letter.subject,
        # ECMS codes the parties (numeric IDs): a name from the PDF or e-mail reads better then.
        "sender": sender.department_name or None,
        "recipient": receiver.department_name or None,
        "speed": letter.speed.code if letter.speed else None,
        "secrecy": letter.secrecy.code if letter.secrecy else None,
    }


def _xml_main_attachment(result: Any) -> Attachment | None:
    letter = result.letter
    if letter is None or letter.main_letter is None or not letter.main_letter.data:
        return None
    data = letter.main_letter.data
    mime = (letter.main_letter.mime_code or "application/pdf").lower()
    ext = ".pdf" if "pdf" in mime else ".bin"
    return Attachment(
        filename=None,
        safe_name=f"letter-from-xml{ext}",
        content_type=mime,
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        inline=False,
        content_id=None,
        origin="xml",
    )


def read_message(raw: bytes, *, xml_resources: XmlResources, trust_roots: Sequence[bytes],
                 now: dt.datetime, revocation: Revocation = Revocation(), ocr: bool = True) -> Reading:
    """Everything the gateway can read from one message's bytes (`ocr`: a scan's page 1 may
    be read by OCR when worth it, see ocr_needed)."""
    msg = parse_message(raw)
    main, enclosures, xml_att = choose_main_letter(msg.attachments)
    xml_facts: XmlFacts | None = None
    xml_fields: dict[str, Any] | None = None
    notifier = None
    if xml_att is not None:
        result = read_letter_xml(xml_att.data, resources=xml_resources)
        if result.status is ReadStatus.NOTIFIER:
            notifier = result.notifier
        elif result.status is ReadStatus.REFUSED or result.letter is None:
            refusal = result.refusal
            xml_facts = XmlFacts(
                readable=False,
                valid=False,
                reason_th=refusal.message_th if refusal else "ไม่ใช่ไฟล์หนังสือราชการ",
                reason_en=refusal.message_en if refusal else "not a CorrespondenceLetter",
            )
        else:
            xml_fields = _xml_fields(result)
            carried = _xml_main_attachment(result)
            if main is None and carried is not None:
                main = carried
            xml_facts = XmlFacts(
                readable=True,
                valid=result.valid,
                errors=tuple(f"{i.path}: {i.summary_th} ({i.message_en})"
                             for i in result.validation.issues),
                carries_letter=carried is not None,
                dialect=str(result.letter.dialect),
                variants=tuple(str(v) for v in result.variants),
            )
    xml_letter = None
    if xml_att is not None and xml_facts is not None and xml_facts.readable:
        xml_letter = result.letter
    elif notifier is None:
        # A status message (AcceptLetterNotifier …) is not picked out as a letter's XML.
        for att in enclosures:
            if _looks_xml(att):
                got = read_letter_xml(att.data, resources=xml_resources)
                if got.status is ReadStatus.NOTIFIER and got.notifier is not None:
                    notifier = got.notifier
                    break
    pdf: PdfFacts | None = None
    if main is not None:
        report = inspect_pdf(main.data, trust_roots=trust_roots, now=now, revocation=revocation)
        pdf = PdfFacts(
            readable=report.readable,
            reason_th=report.reason_th,
            reason_en=report.reason_en,
            page1_text=report.first_page_text,
            signatures=tuple(
                SignatureFact(s.summary_th, s.intact and s.valid,
                              s.changed_beyond_allowed, s.trusted, s.revoked)
                for s in report.signatures
            ),
            active_content=report.active.remarks_th,
            misspelt=misspelt_share(report.first_page_text),
        )
    fields = extract_fields(xml_fields, pdf.page1_text if pdf else None, msg,
                            main.filename if main else None, today=now.date())
    if main is not None and pdf is not None and pdf.readable and not has_text_layer(pdf.page1_text):
        # a scan: its header read for the clerk's review, page 1 only (#20), when the other
        # sources leave something for OCR to pre-fill (ocr_needed; the switch: [intake] ocr)
        why = ocr_needed(fields) if ocr else ""
        scan = ocr_page1(main.data) if why else OcrReading(
            skipped="switched off ([intake] ocr = false)" if not ocr else "not needed: "
                    "the other sources gave every required field")
        pdf = replace(pdf, ocr_text=scan.text, ocr_skipped=scan.skipped)
        if scan.text:
            fields = extract_fields(xml_fields, pdf.page1_text, msg, main.filename,
                                    ocr_text=scan.text, today=now.date())
    return Reading(msg, main, enclosures, xml_att, pdf, xml_facts, fields, xml_letter, notifier,
                   other_letters=_other_letters(fields, pdf.page1_text, enclosures)
                   if pdf and pdf.readable else ())


MAX_LETTERS_LOOKED_AT = 10  # PDF enclosures read for a letter of their own, at most


def _other_letters(fields: LetterFields, page1: str, enclosures: Sequence[Attachment]) -> tuple[str, ...]:
    """The numbers of the PDF enclosures whose page 1 is a letter of its own (ที่, date and
    เรื่อง) and which the letter does not name (its own number; any number its page 1 quotes,
    in อ้างถึง, สิ่งที่ส่งมาด้วย or the text): a copy of a letter referred to is an enclosure;
    another agency's letter sent along is not."""
    pdfs = [a for a in enclosures if a.is_pdf][:MAX_LETTERS_LOOKED_AT]
    if not pdfs:
        return ()
    own = fields.letter_no.value if fields.letter_no else ""
    named = letter_numbers_in(" ".join([page1, *(str(f.value) for f in (fields.reference,
                                                                         fields.enclosures) if f)]))
    out: list[str] = []
    for a in pdfs:
        head = extract_from_text(page1_text(a.data), FieldSource.PDF)
        number = head.get("letter_no")
        if number is None or "letter_date" not in head or "subject" not in head:
            continue
        if letter_numbers_equal(number.value, own) or letter_no_key(number.value) in named:
            continue
        out.append(str(number.value))
    return tuple(dict.fromkeys(out))



def _looks_xml(att: Attachment) -> bool:
    name = (att.filename or att.safe_name).lower()
    return name.endswith(".xml") or "xml" in att.content_type or att.data.lstrip()[:5] == b"<?xml"


def xml_letter_of(msg: ParsedMessage, resources: XmlResources) -> Any:
    """The CorrespondenceLetter carried by a message, for notifiers after a clerk's decision."""
    _, _, xml_att = choose_main_letter(msg.attachments)
    if xml_att is None:
        return None
    return read_letter_xml(xml_att.data, resources=resources).letter


def read_blob(blob_root: str, digest: str, *, trust_roots: Sequence[bytes],
              now: dt.datetime, revocation: Revocation = Revocation(), ocr: bool = True) -> Reading:
    """read_with_default_resources of the message kept as `digest`, and the letter's files
    kept durably next to it (in a worker process: the message is not sent through the pipe,
    and the files are not written by the gateway's own process)."""
    blobs = BlobStore(Path(blob_root))
    reading = read_with_default_resources(blobs.get(digest), trust_roots=trust_roots, now=now,
                                          revocation=revocation, ocr=ocr)
    for a in _files_of(reading):
        blobs.put(a.data, digest=a.sha256)
    return _kept(reading)


def _kept(reading: Reading) -> Reading:
    """The reading without the bytes of its files, which are in the blob store."""
    def files(msg: ParsedMessage) -> ParsedMessage:
        return replace(msg, attachments=tuple(a.kept() for a in msg.attachments),
                       forwarded=tuple(files(f) for f in msg.forwarded))

    def one(a: Attachment | None) -> Attachment | None:
        return a.kept() if a is not None else None

    return replace(reading, message=files(reading.message), main=one(reading.main),
                   enclosures=tuple(a.kept() for a in reading.enclosures),
                   xml_attachment=one(reading.xml_attachment))


def _files_of(reading: Reading) -> list[Attachment]:
    return [a for a in (reading.main, *reading.enclosures, reading.xml_attachment) if a]


def read_with_default_resources(raw: bytes, *, trust_roots: Sequence[bytes],
                                now: dt.datetime, revocation: Revocation = Revocation(),
                                ocr: bool = True) -> Reading:
    """read_message in a worker process, with that process's own copy of the schemas."""
    return read_message(raw, xml_resources=default_resources(), trust_roots=trust_roots, now=now,
                        revocation=revocation, ocr=ocr)

@dataclass(frozen=True)
class Examined:
    """A message read, what else it is besides a letter (at most one of the four), and the
    facts and decision of the classification table, all before the write transaction."""

    reading: Reading
    kind: Kind
    facts: Facts
    decision: Decision
    bounce: Bounce | None = None
    own: tuple[str, int] | None = None  # our own copy come back: (header, letter id)
    unit_token: str | None = None  # a unit's reply to a forward
    clerk: tuple[tuple[int, int], ClerkRoute] | None = None  # the clerk's `ส่ง <unit>` reply
    fix: CorrectionReply | None = None  # the clerk's correction reply (ลงรับ / แก้ไข / คืน / ยกเลิก)
    clerk_proof: str | None = None  # what proved the clerk (gateway/trust/channels.py); None: not obeyed
    # a clerk's `[รายงาน] …` request: its subject (gateway/reports/request.py reads it when obeyed)
    report: str | None = None
    obeyed: Any = None  # what obeying `fix` or `report` did (replies.py Obeyed, report_mail.py Answered)
    recipient_token: str | None = None  # a reply to a letter we sent, naming its recipient
    generated: str | None = None  # a sign that a program sent it: as an answer, it never acts


COMMAND_UNPROVED = Problem(
    "command_unproved",
    "คำสั่งนี้ไม่ได้มาจากช่องทางของเจ้าหน้าที่ (ไม่ยืนยันตัวตน) จึงไม่ดำเนินการ "
    "ให้สั่งโดยตอบกลับจากโปรแกรมอีเมลของกล่องจดหมายกลาง หรือส่งผ่านเซิร์ฟเวอร์ส่งจดหมายของระบบ",
    "a command not from a clerk's channel (no proof of who sent it): not obeyed",
)


def examine(reading: Reading, raw: bytes, *, envelope_from: str, envelope_to: Sequence[str],
            policy: Policy, settings: Settings, secret: InstallSecret, origin: Origin = Origin(),
            auth: SenderAuth | None = None) -> Examined:
    """What else the message is, in order of precedence: our own mail (signed by us), a
    delivery report, an automatic answer (never acts), a unit's reply, a clerk's command (only
    with a clerk's proof). Parsing a report means reading the message again: only for what
    may be one."""
    msg = reading.message
    problems = validate(reading, policy)
    head = _head(raw)
    generated = msg.auto_reply_reason or generated_reason(Headers(head, []))
    addresses = [*envelope_to, *msg.to_addrs, *msg.cc_addrs]
    rtoken = recipient_token(addresses, msg.subject)

    def examined(kind: Kind, **what: Any) -> Examined:
        facts = Facts(reading, problems, policy, envelope_from, kind, auth)
        return Examined(reading, kind, facts, classify(facts), recipient_token=rtoken,
                        generated=generated, **what)

    own = own_mail(head, msg, policy, secret)
    if own is not None:
        name, letter_id = own
        if name == SENT_HEADER:
            return examined(Kind(own_copy="sent"), own=(name, letter_id))
        if name == RETURNED_HEADER:
            return examined(Kind(own_copy="returned"), own=(name, letter_id))
        return examined(Kind(own_copy="mail"))
    if may_be_bounce(msg, envelope_to, envelope_from):
        bounce = read_bounce(raw, envelope_to=envelope_to)
        if bounce is not None:
            return examined(Kind(bounce=True), bounce=bounce)
    token = reply_token(addresses, msg.subject)
    command = clerk_command(msg.subject, msg.body_text, settings.units)
    fix = correction_reply(msg.subject, msg.body_text) if token is None and command is None else None
    report = msg.subject if token is None and command is None and fix is None \
        and settings.reports.by_mail and asks_for_report(msg.subject) else None
    if generated is not None and (token or command or fix or report):  # an out-of-office answer
        return examined(Kind(auto_answer=generated))
    if token is not None:
        return examined(Kind(unit_reply=True), unit_token=token)
    if command is not None or fix is not None or report is not None:
        proof = clerk_proof(origin, auth, msg, settings)
        if proof is None:
            return examined(Kind(unproved=COMMAND_UNPROVED), clerk=command, fix=fix, report=report)
        if fix is not None:
            return examined(Kind(clerk_fix=True), fix=fix, clerk_proof=proof)
        if report is not None:
            return examined(Kind(clerk_report=True), report=report, clerk_proof=proof)
        assert command is not None
        return examined(Kind(clerk_route=command[1].unknown), clerk=command, clerk_proof=proof)
    return examined(Kind())


def unit_reply_unproved(msg: ParsedMessage, why: str) -> Problem:
    """Why a message with a forward's token was not taken as the unit's answer."""
    sender = msg.from_addr or "-"
    if why == "unmatched":
        return Problem("reply_unmatched", f"อ้างรหัสการส่งต่อที่ไม่มีในระบบ (จาก {sender}) จึงไม่ดำเนินการ",
                       "a forward token that matches no forward: nothing done")
    return Problem("reply_unproved",
                   f"อ้างรหัสการส่งต่อของหน่วยงาน แต่ส่งจาก {sender} ซึ่งไม่ใช่อีเมลของหน่วยงานนั้น "
                   "จึงไม่บันทึกการลงรับหรือคืนเรื่อง",
                   "a forward's token from an address that is not the unit's: not obeyed")


def _head(raw: bytes) -> Message:
    """The message's header block only (the body is not decoded again)."""
    end = min((i for i in (raw.find(b"\r\n\r\n", 0, _HEAD_LIMIT), raw.find(b"\n\n", 0, _HEAD_LIMIT))
               if i >= 0), default=min(len(raw), _HEAD_LIMIT))
    return BytesParser(policy=compat32).parsebytes(raw[:end] + b"\r\n\r\n", headersonly=True)


_HEAD_LIMIT = 256 * 1024
_OWN_ORIGIN = re.compile(r"([0-9a-f]{8,64})\.([0-9a-f]{24,64})")


def own_mail(head: Message, msg: ParsedMessage, policy: Policy,
             secret: InstallSecret) -> tuple[str, int] | None:
    """Mail the gateway itself sent, come back (issue #18): From a central address, a
    Message-ID of its own domain and an X-Saraban-Origin its secret signed over that
    Message-ID and the copy headers. (header, letter id) for our copy of a sent letter or of
    a returned one, ("", 0) for any other mail of ours; None for anything else, forged
    headers included."""
    if (msg.from_addr or "").lower() not in {a.lower() for a in policy.central_addresses}:
        return None
    origins = head.get_all(ORIGIN_HEADER) or []
    mids = head.get_all("Message-ID") or []
    if len(origins) != 1 or len(mids) != 1:
        return None
    mid = str(mids[0]).strip()
    domains = {a.rpartition("@")[2].lower() for a in policy.central_addresses}
    name, at, domain = mid.strip("<>").rpartition("@")
    m = _OWN_ORIGIN.fullmatch(str(origins[0]).strip().lower())
    if m is None or not at or domain.lower() not in domains or m.group(1) != name.lower():
        return None
    bound: dict[str, str] = {}
    for header in (SENT_HEADER, RETURNED_HEADER):
        values = head.get_all(header) or []
        if len(values) > 1:
            return None
        if values:
            bound[header] = str(values[0])
    if not secret.verify(m.group(2), "origin", *origin_parts(mid, bound)):
        return None
    for header, value in bound.items():
        if value.strip().isdigit():
            return header, int(value.strip())
    return "", 0


def may_be_bounce(msg: ParsedMessage, envelope_to: Sequence[str], envelope_from: str) -> bool:
    """A cheap filter before read_bounce: reports, auto-submitted mail, mail-system senders, the
    null return path, and anything sent to a VERP path. An IMAP letter's envelope sender is
    unknown (""), not null: there a null `Return-Path` already makes msg.is_auto_reply."""
    return (msg.is_auto_reply or envelope_from == "<>"
            or mail_system((msg.from_addr or "").rsplit("@", 1)[0])
            or any(verp_token(a) for a in (*envelope_to, *msg.to_addrs)))
