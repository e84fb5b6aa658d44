"""What the sender of a letter is told: the acknowledgement with our receive number, the
notice for a letter we cannot take, and the CorrespondenceLetter notifier XML that goes with
each for connected e-Saraban systems (xml.md). Queued in the caller's transaction.

No mail to strangers (issue 18): `enqueue` is the one gate every such mail passes, whoever
calls it. A recipient that is a stranger (gateway.trust.automail.stranger_reason: no passed
verdict and not in the directory, or a failed one), or one that already had
[intake] max_auto_mail_per_sender_hour automatic mails in the last hour (counted in the
outbox, by the injected clock), gets nothing; the letter carries a Thai remark saying why and
the audit log an `outbox.withheld` entry. What the mails quote of the sender's words is one
cleaned line of at most 120 characters; secret letters are quoted by number only.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.core.compose import FileToAttach
from gateway.inbound.context import Inbound
from gateway.letter import ParsedMessage
from gateway.outbound.sender import agency_mail, queue_mail
from gateway.store import audit
from gateway.store.directory import find_by_email
from gateway.store.tables import Letter, OutboxItem
from gateway.thai import BANGKOK, format_letter_date, format_short_date, format_time
from gateway.trust import SenderAuth
from gateway.trust.automail import clean_line, stranger_reason
from gateway.trust.secrecy import SECRET_TH, may_mail
from gateway.xmlletter import Notifier, NotifierKind, build_notifier, validate_xml

log = logging.getLogger(__name__)

AUTO_KINDS = ("ack", "notice", "receipt")  # what an incoming message makes us mail its sender
KIND_TH = {"ack": "อีเมลตอบรับ", "notice": "อีเมลแจ้งไม่รับหนังสือ", "receipt": "อีเมลแจ้งได้รับหนังสือ"}
ADDRESSEE = "ผู้ส่งหนังสือ"  # when the directory does not name the recipient
REASON_LIMIT = 200


def notifier_for(kind: NotifierKind, xml_letter: Any, accept_id: str = "",
                 accept_date: dt.date | None = None) -> Notifier:
    return Notifier(kind=kind, letter_id=xml_letter.letter_id,
                    correspondence_date=xml_letter.correspondence_date,
                    subject=xml_letter.subject, accept_id=accept_id, accept_date=accept_date)


class Feedback:
    def __init__(self, ctx: Inbound) -> None:
        self.ctx = ctx

    def letter_context(self, letter: Letter, now: dt.datetime) -> dict[str, Any]:
        """The letter as an automatic mail may quote it: cleaned single lines; a secret letter
        by its level only."""
        local = now.astimezone(BANGKOK)
        secret = not may_mail(letter)
        return {"addressee": ADDRESSEE, "letter_no": "" if secret else clean_line(letter.letter_no, 60),
                "letter_date": self.date_th(letter.letter_date),
                "subject": SECRET_TH if secret else clean_line(letter.subject),
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
                          xml_letter: Any = None, key: str | None = None, replaces: str = "") -> None:
        """`replaces`: the cancelled number this registration replaces ("" for a first one)."""
        local = now.astimezone(BANGKOK)
        ctx = {**self.agency_context(), **self.letter_context(letter, now), "number": number,
               "year": year, "replaces": replaces}
        notifier = None
        if xml_letter is not None:  # a connected e-Saraban system: AcceptID = our number
            notifier = notifier_for(NotifierKind.ACCEPT, xml_letter, accept_id=f"{number}/{year}",
                                    accept_date=local.date())
        await self.enqueue(s, "ack", letter, msg, to, ctx, now, notifier=notifier, key=key)

    async def notice(self, s: AsyncSession, letter: Letter, msg: ParsedMessage | None,
                     to: str, reasons: list[str], now: dt.datetime, *,
                     xml_letter: Any = None, invalid: bool = False) -> None:
        quoted = self.letter_context(letter, now)
        ctx = {
            **self.agency_context(), **quoted,
            "email_subject": quoted["subject"] if not may_mail(letter) or msg is None
            else clean_line(msg.subject),
            "reasons": [clean_line(r, REASON_LIMIT) for r in reasons if clean_line(r)]
            or ["ไม่ใช่หนังสือราชการที่ลงทะเบียนรับได้"],
        }
        notifier = None
        if xml_letter is not None:
            kind = NotifierKind.INVALID if invalid else NotifierKind.REJECT
            notifier = notifier_for(kind, xml_letter)
        await self.enqueue(s, "notice", letter, msg, to, ctx, now, notifier=notifier)

    async def withheld_reason(self, s: AsyncSession, letter: Letter, to: str, now: dt.datetime) -> str:
        """Why automatic mail to `to` about `letter` may not go (Thai), or "" when it may."""
        to = to.lower()
        auth = None  # the letter's verdict speaks for its own From address only
        if letter.sender_auth and to == (letter.sender_address or "").lower():
            auth = SenderAuth.from_json(letter.sender_auth)
        reason = stranger_reason(auth, await find_by_email(s, to) is not None, to)
        if reason:
            return reason
        limit = self.ctx.store.settings.intake.max_auto_mail_per_sender_hour
        sent = (await s.execute(select(func.count()).select_from(OutboxItem).where(
            OutboxItem.recipient == to, OutboxItem.kind.in_(AUTO_KINDS),
            OutboxItem.created_at > now - dt.timedelta(hours=1)))).scalar_one()
        if sent >= limit:
            return f"ส่งอีเมลอัตโนมัติถึง {to} ครบ {limit} ฉบับใน 1 ชั่วโมงแล้ว"
        return ""

    async def _withhold(self, s: AsyncSession, kind: str, letter: Letter, to: str, reason: str,
                        now: dt.datetime) -> None:
        """Nothing silently dropped: the clerk reads why on the letter, the audit log keeps it."""
        remark = f"ไม่ได้ส่ง{KIND_TH.get(kind, 'อีเมลอัตโนมัติ')}: {reason}"
        if remark not in letter.sender_flags:
            letter.sender_flags = [*letter.sender_flags, remark]
        await audit.append(s, now=now, actor="pipeline", action="outbox.withheld",
                           subject_type="letter", subject_id=letter.id,
                           details={"kind": kind, "to": to, "reason": reason})

    async def enqueue(self, s: AsyncSession, kind: str, letter: Letter, msg: ParsedMessage | None,
                      to: str, ctx: dict[str, Any], now: dt.datetime, *,
                      notifier: Notifier | None = None, key: str | None = None) -> None:
        key = key or f"{kind}:{letter.id}"
        to = to.lower()
        if kind in AUTO_KINDS:
            reason = await self.withheld_reason(s, letter, to, now)
            if reason:
                await self._withhold(s, kind, letter, to, reason, now)
                return
            agency = await find_by_email(s, to)  # the directory's name, never the sender's words
            ctx = {**ctx, "addressee": clean_line(agency.thai_name) if agency else ADDRESSEE}
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
