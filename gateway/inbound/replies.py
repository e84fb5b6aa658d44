"""A clerk's correction reply obeyed (#21): `ลงรับ` registers with the fields given, `แก้ไข`
amends a registered entry, `คืน <เหตุผล>` rejects with the reason sent to the sender, `ยกเลิก
<เหตุผล>` cancels a registration; then the clerk is answered (templates/mail/correction-result.*)
with the resulting entry, the exact line that could not be read and why, or the fields still
missing.

Only a reply with a clerk's proof (gateway/trust/channels.py) gets here. The decision is taken
by the ClerkDesk (gateway/inbound/clerk.py) in its own transaction, before the reply itself is
recorded; a crash between the two takes the reply in again and asks the desk again, which
changes nothing the second time (a registered letter is not registered twice, an amendment
that changes nothing is no amendment). The answer and the audit entry go with the reply's
record, once per reply.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.core.edits import FIELD_TH, EditError, Edits, edits_from_texts
from gateway.core.parse.corrections import AMEND, CANCEL, REGISTER, REJECT, CorrectionReply, Unread
from gateway.inbound.corrections import DeskOutcome, missing_th
from gateway.inbound.report_mail import AUDIT_ACTION as REPORT_ACTION
from gateway.inbound.report_mail import Answered, ReportMail
from gateway.inbound.review_copy import shown_fields
from gateway.outbound.sender import agency_mail, queue_mail
from gateway.state import AWAITING_CLERK, LetterState, label_th
from gateway.store import audit, registers
from gateway.store.tables import About, AuditEntry, Letter, RegisterEntry
from gateway.thai import local_date
from gateway.trust.automail import clean_line
from gateway.trust.secrecy import may_mail

if TYPE_CHECKING:
    from gateway.inbound.clerk import ClerkDesk
    from gateway.inbound.read import Examined

COMMAND_TH = {REGISTER: "ลงรับ", AMEND: "แก้ไข", REJECT: "คืน", CANCEL: "ยกเลิก"}
AMEND_REASON = "แก้ไขตามคำตอบของเจ้าหน้าที่"
SECRET_LINE = "อ่านบรรทัดหนึ่งในคำตอบไม่ได้ (หนังสือชั้นความลับ: ไม่แสดงข้อความนั้นทางอีเมล)"
NO_COMMAND = ("ไม่มีบรรทัดคำสั่ง จึงยังไม่ได้ทำอะไร: เพิ่มบรรทัด «ลงรับ» «แก้ไข <เหตุผล>» "
              "«คืน <เหตุผล>» หรือ «ยกเลิก <เหตุผล>»")


@dataclass(frozen=True)
class Obeyed:
    """What a correction reply did: the letter it is about, the desk's outcome (None: nothing
    asked of the desk), and why not, in Thai, with the line at fault."""

    target: int | None
    command: str | None = None
    outcome: DeskOutcome | None = None
    error_th: str = ""
    line: str = ""  # the exact line that could not be read
    unread: tuple[Unread, ...] = ()

    @property
    def done(self) -> bool:
        return self.outcome is not None and not self.outcome.error_th and not self.outcome.missing


class ClerkReplies:
    def __init__(self, desk: ClerkDesk) -> None:
        self.desk = desk
        self.ctx = desk.ctx
        self.reports = ReportMail(desk.ctx)

    async def target(self, fix: CorrectionReply) -> int | None:
        """The letter a reply is about: the review copy's letter id, or the letter of the
        receive number (its registered entry, else the latest entry of that number)."""
        if fix.review is not None:
            return fix.review
        if fix.receive is None:
            return None
        number, year = fix.receive
        async with self.ctx.store.readers() as s:
            book = await registers.get_book(s, "receive")
            rows = (await s.execute(select(RegisterEntry.letter_id, RegisterEntry.status).where(
                RegisterEntry.book_id == book.id, RegisterEntry.year == year,
                RegisterEntry.number == number, RegisterEntry.letter_id.is_not(None))
                .order_by(RegisterEntry.id.desc()))).all()
        live = [lid for lid, status in rows if status == "registered"]
        return live[0] if live else (rows[0][0] if rows else None)

    async def obey(self, ex: Examined) -> Obeyed | Answered:
        """Take the reply's command to the desk (outside any transaction of the caller); a
        report request to gateway/inbound/report_mail.py."""
        if ex.report is not None:
            return await self.reports.obey(ex)
        assert ex.fix is not None
        fix, c = ex.fix, ex.fix.correction
        target = await self.target(fix)
        if target is None:
            return Obeyed(None, c.command, error_th=f"ไม่พบหนังสือที่อ้างถึง {fix.ref_th}")
        if c.unread:
            return Obeyed(target, c.command, error_th=c.unread[0].why_th, line=c.unread[0].line,
                          unread=c.unread)
        if c.command is None:
            return Obeyed(target, None, error_th=NO_COMMAND)
        store = self.ctx.store
        try:
            edits = edits_from_texts(c.texts, today=local_date(store.clock()), no_number=c.no_number)
        except EditError as e:
            return Obeyed(target, c.command, error_th=e.message_th, line=c.lines.get(e.field, e.text))
        actor = f"clerk:{ex.clerk_proof}"
        if c.command == REGISTER:
            outcome = await self.desk.register(target, actor=actor, edits=edits)
        elif c.command == AMEND:
            outcome = await self.desk.amend(target, edits, actor=actor, reason=c.reason or AMEND_REASON)
        elif c.command == CANCEL:
            outcome = await self.desk.cancel(target, actor=actor, reason=c.reason)
        else:
            outcome = await self._reject(target, actor, c.reason, edits)
        return Obeyed(target, c.command, outcome)

    async def _reject(self, target: int, actor: str, reason: str, edits: Edits) -> DeskOutcome:
        async with self.ctx.store.readers() as s:
            letter = await s.get(Letter, target)
        if letter is None or letter.state not in AWAITING_CLERK:
            state = letter.state if letter else "missing"
            return DeskOutcome(state, target, error_th=f"หนังสือรหัส {target} ไม่ได้รอตรวจสอบ คืนไม่ได้ "
                                                       f"(สถานะ: {label_th(state)})")
        return DeskOutcome(await self.desk.reject(target, actor=actor, reason=reason), target)

    async def record(self, s: AsyncSession, reply: Letter, ex: Examined, now: dt.datetime) -> None:
        """In the reply's recording transaction: what it is about, the audit entry, and the
        answer to the clerk (one per reply)."""
        if ex.report is not None:
            return await self.reports.record(s, reply, ex, now)
        obeyed: Obeyed = ex.obeyed
        assert ex.fix is not None and obeyed is not None
        reply.about, reply.about_letter_id = About.CLERK_ROUTE, obeyed.target
        result = obeyed.outcome
        await audit.append(s, now=now, actor=f"clerk:{ex.clerk_proof}", action="clerk.correction",
                           subject_type="letter", subject_id=reply.id,
                           details={"proof": ex.clerk_proof, "about": obeyed.target,
                                    "command": obeyed.command, "message_id": ex.reading.message.message_id,
                                    "done": obeyed.done, "error": obeyed.error_th or
                                    (result.error_th if result else "")})
        await self._answer(s, reply, ex, obeyed, now)

    async def _answer(self, s: AsyncSession, reply: Letter, ex: Examined, obeyed: Obeyed,
                      now: dt.datetime) -> None:
        assert ex.fix is not None
        store = self.ctx.store
        settings = store.settings
        letter = await s.get(Letter, obeyed.target) if obeyed.target is not None else None
        result = obeyed.outcome
        secret = letter is not None and not may_mail(letter)
        entry = result.entry if result is not None else None
        if entry is None and letter is not None:
            got = await registers.entry_of(s, letter.id)
            entry = f"{got.number}/{got.year}" if got is not None else None
        context = {
            "agency": settings.agency.name_th, "ref": ex.fix.ref_th, "letter_id": obeyed.target,
            "command": COMMAND_TH.get(obeyed.command or "", ""), "done": obeyed.done,
            "state": label_th(letter.state) if letter is not None else "",
            "entry": entry, "secret": secret,
            "error": SECRET_LINE if secret and obeyed.line else
            obeyed.error_th or (result.error_th if result else ""),
            "line": "" if secret else clean_line(obeyed.line, 300),
            "missing": missing_th(result.missing) if result is not None and result.missing else "",
            "fields": [] if letter is None or secret else shown_fields(letter, settings.agency.thai_digits),
            "ignored": [] if secret else [clean_line(u.line, 200) for u in ex.fix.correction.ignored],
            "given": [] if secret else [FIELD_TH.get(k, k) for k in ex.fix.correction.texts],
            "registered": letter is not None and letter.state == LetterState.REGISTERED,
        }
        central = settings.agency.central_addresses[0]
        msg = ex.reading.message
        mail = agency_mail(settings, "correction-result", context, to=[central],
                           key=f"correction:{reply.id}", in_reply_to=msg.message_id,
                           references=msg.references)
        await queue_mail(s, store, self.ctx.templates, mail, kind="correction-result", now=now,
                         letter_id=obeyed.target)

    @staticmethod
    async def done_already(s: AsyncSession, ex: Examined) -> bool:
        """Whether this reply was obeyed already from the clerk's Sent folder: the copy
        delivered to INBOX (which proves nothing) then asks nothing new."""
        mid = ex.reading.message.message_id
        if not mid:
            return False
        needle = json.dumps(mid, ensure_ascii=False)[1:-1]
        return (await s.execute(select(AuditEntry.seq).where(
            AuditEntry.action == ("clerk.correction" if ex.report is None else REPORT_ACTION),
            AuditEntry.details.contains(f'"message_id":"{needle}"', autoescape=True)).limit(1))
        ).scalar_one_or_none() is not None
