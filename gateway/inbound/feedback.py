"""What the sender of a letter is told: the acknowledgement with our receive number, the
notice for a letter we cannot take, and the CorrespondenceLetter notifier XML that goes with
each for connected e-Saraban systems (xml.md). Queued in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.core.compose import FileToAttach
from gateway.inbound.context import Inbound
from gateway.letter import ParsedMessage
from gateway.outbound.sender import agency_mail, queue_mail
from gateway.store import audit
from gateway.store.tables import Letter
from gateway.thai import BANGKOK, format_letter_date, format_short_date, format_time
from gateway.xmlletter import Notifier, NotifierKind, build_notifier, validate_xml

log = logging.getLogger(__name__)


def notifier_for(kind: NotifierKind, xml_letter: Any, accept_id: str = "",
                 accept_date: dt.date | None = None) -> Notifier:
    return Notifier(kind=kind, letter_id=xml_letter.letter_id,
                    correspondence_date=xml_letter.correspondence_date,
                    subject=xml_letter.subject, accept_id=accept_id, accept_date=accept_date)


class Feedback:
    def __init__(self, ctx: Inbound) -> None:
        self.ctx = ctx

    def letter_context(self, letter: Letter, now: dt.datetime) -> dict[str, Any]:
        local = now.astimezone(BANGKOK)
        return {"addressee": letter.sender or "ผู้ส่ง", "letter_no": letter.letter_no,
                "letter_date": self.date_th(letter.letter_date), "subject": letter.subject,
                "received_date": format_short_date(local.date()), "received_time": format_time(local)}

    def agency_context(self) -> dict[str, str]:
        a = self.ctx.store.settings.agency
        return {"agency": a.name_th, "unit": a.unit_name_th, "contact": a.contact,
                "central_address": a.central_addresses[0]}

    def date_th(self, d: dt.date | None) -> str:
        if d is None:
            return ""
        return format_letter_date(d, thai_digits=self.ctx.store.settings.agency.thai_digits)

    async def receipt(self, s: AsyncSession, letter: Letter, msg: ParsedMessage, to: str,
                      xml_letter: Any, now: dt.datetime) -> None:
        """ReceiveLetterNotifier: the letter arrived (before it is decided), when configured."""
        await self.enqueue(s, "receipt", letter, msg, to,
                           {**self.agency_context(), **self.letter_context(letter, now)}, now,
                           notifier=notifier_for(NotifierKind.RECEIVE, xml_letter))

    async def acknowledge(self, s: AsyncSession, letter: Letter, msg: ParsedMessage | None,
                          to: str, number: int, year: int, now: dt.datetime, *,
                          xml_letter: Any = None, key: str | None = None) -> None:
        local = now.astimezone(BANGKOK)
        ctx = {
            **self.agency_context(),
            "addressee": letter.sender or (msg.from_name if msg else "") or "ผู้ส่ง",
            "letter_no": letter.letter_no,
            "letter_date": self.date_th(letter.letter_date),
            "subject": letter.subject,
            "number": number,
            "year": year,
            "received_date": format_short_date(local.date()),
            "received_time": format_time(local),
        }
        notifier = None
        if xml_letter is not None:  # a connected e-Saraban system: AcceptID = our number
            notifier = notifier_for(NotifierKind.ACCEPT, xml_letter, accept_id=f"{number}/{year}",
                                    accept_date=local.date())
        await self.enqueue(s, "ack", letter, msg, to, ctx, now, notifier=notifier, key=key)

    async def notice(self, s: AsyncSession, letter: Letter, msg: ParsedMessage | None,
                     to: str, reasons: list[str], now: dt.datetime, *,
                     xml_letter: Any = None, invalid: bool = False) -> None:
        local = now.astimezone(BANGKOK)
        ctx = {
            **self.agency_context(),
            "addressee": (msg.from_name if msg else "") or "ผู้ส่ง",
            "email_subject": msg.subject if msg else letter.subject,
            "subject": letter.subject,
            "reasons": reasons or ["ไม่ใช่หนังสือราชการที่ลงทะเบียนรับได้"],
            "received_date": format_short_date(local.date()),
            "received_time": format_time(local),
        }
        notifier = None
        if xml_letter is not None:
            kind = NotifierKind.INVALID if invalid else NotifierKind.REJECT
            notifier = notifier_for(kind, xml_letter)
        await self.enqueue(s, "notice", letter, msg, to, ctx, now, notifier=notifier)

    async def enqueue(self, s: AsyncSession, kind: str, letter: Letter, msg: ParsedMessage | None,
                      to: str, ctx: dict[str, Any], now: dt.datetime, *,
                      notifier: Notifier | None = None, key: str | None = None) -> None:
        key = key or f"{kind}:{letter.id}"
        files: list[FileToAttach] = []
        if notifier is not None:
            data = build_notifier(notifier)
            report = validate_xml(data, resources=self.ctx.xml_resources)
            if not report.valid:  # never send what our own schema refuses
                log.error("notifier for letter %s does not validate: %s", letter.id, report.issues)
            else:
                files.append(FileToAttach(f"{notifier.kind.value}.xml", "application/xml", data))
        store = self.ctx.store
        mail = agency_mail(store.settings, kind, ctx, to=[to], key=key,
                           in_reply_to=msg.message_id if msg else None,
                           references=msg.references if msg else (), attachments=files)
        (q,) = await queue_mail(s, store, self.ctx.templates, mail, kind=kind, now=now,
                                letter_id=letter.id)
        if q.created:
            await audit.append(s, now=now, actor="pipeline", action=f"outbox.{kind}",
                               subject_type="letter", subject_id=letter.id,
                               details={"to": to, "outbox_id": q.item_id})
