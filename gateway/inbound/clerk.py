"""The clerk's decisions on letters set aside: register a letter from review (with the fields
the clerk gave), reject it (the sender gets a notice with the clerk's reason), amend a
registered entry, cancel a registration (the letter may be registered again under a new
number), or route a registered letter to units with a `ส่ง …` reply. They come from the mail
client (folder moves, replies) or the command line; each is one transaction, and a decision
on a letter that is not in a state for it changes nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.core.classify import ack_address
from gateway.core.edits import Edits
from gateway.core.parse import parse_message
from gateway.forwarding.routing import ClerkRoute
from gateway.forwarding.units import tell_amended
from gateway.inbound.context import Inbound
from gateway.inbound.corrections import (
    NO_NUMBER_TH,
    DeskOutcome,
    amend_registered,
    apply_edits,
    cancel_registered,
    entry_ref,
    forget_stamp,
    link_replaced,
    missing_fields,
    missing_th,
    review_copy_outdated,
)
from gateway.inbound.feedback import Feedback
from gateway.inbound.read import xml_letter_of
from gateway.inbound.record import REJECT_AS_INVALID, Recorder
from gateway.inbound.stamp import Stamper
from gateway.letter import ParsedMessage
from gateway.outbound.sender import agency_mail, queue_mail
from gateway.state import AWAITING_CLERK, REGISTRABLE, Event, LetterState, advance, label_th
from gateway.store import audit, registers
from gateway.store.letters import LOCK_ROW
from gateway.store.tables import About, Letter, RawMessage, RegisterEntry
from gateway.thai import format_short_date
from gateway.trust.secrecy import SECRET_TH, may_mail

MISSING = "missing"  # what a decision on a letter id that does not exist returns

__all__ = ["MISSING", "ClerkDesk", "DeskOutcome"]


def _not_here(letter_id: int, letter: Letter | None, wanted: str) -> DeskOutcome:
    if letter is None:
        return DeskOutcome(MISSING, letter_id, error_th=f"ไม่พบหนังสือรหัส {letter_id}")
    return DeskOutcome(letter.state, letter_id,
                       error_th=f"หนังสือรหัส {letter_id} {wanted} (สถานะ: {label_th(letter.state)})")


class ClerkDesk:
    def __init__(self, ctx: Inbound, recorder: Recorder, feedback: Feedback, stamper: Stamper) -> None:
        self.ctx, self.recorder, self.feedback, self.stamper = ctx, recorder, feedback, stamper

    async def register(self, letter_id: int, *, actor: str, edits: Edits | None = None,
                       reason: str = "") -> DeskOutcome:
        """Register a letter waiting for the clerk (or cancelled: a new number) with the read
        fields overridden by `edits`. A required field still empty (ที่, ลงวันที่, จาก, เรื่อง)
        registers nothing: the fields given are kept, the letter stays where it is and
        `missing` names the rest — unless `edits.no_number` (ไม่มีเลขที่) allows an empty ที่.
        `reason`, when given, goes into the audit entry."""
        ctx = self.ctx
        edits = edits or Edits()
        msg = await self._message_of(letter_id)  # before the write transaction: no nesting
        now = ctx.store.clock()
        async with ctx.store.sessions.begin() as s:
            letter = await s.get(Letter, letter_id, with_for_update=LOCK_ROW)
            if letter is None or letter.state not in REGISTRABLE:
                return _not_here(letter_id, letter, "ไม่ได้รอตรวจสอบ ลงทะเบียนไม่ได้")
            changes = apply_edits(letter, edits)
            missing = missing_fields(letter, no_number=edits.no_number)
            if missing:
                letter.updated_at = now
                await review_copy_outdated(s, letter, changes)
                await audit.append(s, now=now, actor=actor, action="letter.clerk_register_refused",
                                   subject_type="letter", subject_id=letter.id,
                                   details={"missing": list(missing), "edits": _listed(changes),
                                            **({"reason": reason} if reason else {})})
                return DeskOutcome(letter.state, letter_id, missing=missing,
                                   error_th=f"ยังไม่ได้ลงทะเบียน: ยังไม่มี {missing_th(missing)}")
            again = letter.state == LetterState.CANCELLED
            if again:
                await forget_stamp(s, letter)
            ack_to = ack_address(msg, ctx.policy, trusted=True) if msg is not None else None
            await audit.append(s, now=now, actor=actor, action="letter.clerk_register",
                               subject_type="letter", subject_id=letter.id,
                               details={"edits": _listed(changes), "no_number": edits.no_number,
                                        "again": again, **({"reason": reason} if reason else {})}
                               if changes or edits.no_number or again or reason else {})
            remarks = "ลงทะเบียนใหม่หลังยกเลิก" if again else "ลงทะเบียนโดยเจ้าหน้าที่หลังตรวจสอบ"
            if edits.no_number and not letter.letter_no:
                remarks += f" / {NO_NUMBER_TH}"
            await self.recorder.register(s, letter, None, ack_to, now, actor=actor, remarks=remarks,
                                         xml_letter=xml_letter_of(msg, ctx.xml_resources) if msg else None)
            letter.updated_at = now
            entry = await registers.entry_of(s, letter.id)
            if again:
                await link_replaced(s, letter, entry, actor=actor, now=now)
        ctx.wake()
        await self.stamper.stamp(letter_id)
        return DeskOutcome(LetterState.REGISTERED, letter_id, entry=entry_ref(entry))

    async def correct(self, letter_id: int, edits: Edits, *, actor: str, reason: str = "") -> DeskOutcome:
        """Keep the fields a clerk gave for a letter still in review, without registering it;
        `missing` names the required fields still empty."""
        now = self.ctx.store.clock()
        async with self.ctx.store.sessions.begin() as s:
            letter = await s.get(Letter, letter_id, with_for_update=LOCK_ROW)
            if letter is None or letter.state not in REGISTRABLE:
                return _not_here(letter_id, letter, "ไม่ได้รอตรวจสอบ")
            changes = apply_edits(letter, edits)
            if changes:
                letter.updated_at = now
                await review_copy_outdated(s, letter, changes)
                await audit.append(s, now=now, actor=actor, action="letter.clerk_edit",
                                   subject_type="letter", subject_id=letter.id,
                                   details={"edits": _listed(changes), "reason": reason})
            return DeskOutcome(letter.state, letter_id, missing=missing_fields(letter, no_number=edits.no_number))

    async def amend(self, letter_id: int, edits: Edits, *, actor: str, reason: str) -> DeskOutcome:
        """Correct a registered letter's fields: an amendment row per changed field, the
        current values updated, the audit appended; units that have the letter are told."""
        ctx = self.ctx
        now = ctx.store.clock()
        async with ctx.store.sessions.begin() as s:
            letter = await s.get(Letter, letter_id, with_for_update=LOCK_ROW)
            if letter is None or letter.state != LetterState.REGISTERED:
                return _not_here(letter_id, letter, "ไม่ได้อยู่ในทะเบียนรับ แก้ไขไม่ได้")
            entry, changes = await amend_registered(s, letter, edits, actor=actor, reason=reason, now=now)
            if not changes:
                return DeskOutcome(letter.state, letter_id, entry=entry_ref(entry),
                                   error_th="ไม่มีช่องใดเปลี่ยน (ค่าที่ให้ตรงกับที่บันทึกไว้แล้ว)")
            await tell_amended(ctx.units, s, letter, changes, reason=reason, now=now)
        ctx.wake()
        return DeskOutcome(LetterState.REGISTERED, letter_id, entry=entry_ref(entry))

    async def cancel(self, letter_id: int, *, actor: str, reason: str) -> DeskOutcome:
        """Cancel a registration: the receive entry is marked ยกเลิก with the reason and the
        letter is cancelled; `register` may give it a new number later."""
        ctx = self.ctx
        reason = reason.strip()
        if not reason:
            return DeskOutcome(MISSING, letter_id, error_th="ต้องระบุเหตุผลการยกเลิก")
        now = ctx.store.clock()
        async with ctx.store.sessions.begin() as s:
            letter = await s.get(Letter, letter_id, with_for_update=LOCK_ROW)
            if letter is None or letter.state != LetterState.REGISTERED:
                return _not_here(letter_id, letter, "ไม่ได้อยู่ในทะเบียนรับ ยกเลิกไม่ได้")
            held = await registers.entry_of(s, letter.id)
            if held is not None:  # units holding the letter learn that its number is void
                void = {"เลขทะเบียนรับ": (f"{held.number}/{held.year}", "ยกเลิก")}
                await tell_amended(ctx.units, s, letter, void, reason=reason, now=now)
            entry = await cancel_registered(s, letter, actor=actor, reason=reason, now=now)
        return DeskOutcome(LetterState.CANCELLED, letter_id, entry=entry_ref(entry))

    async def tell_register_refused(self, outcome: DeskOutcome, *, moved_to: str = "") -> None:
        """A folder move into ลงรับแล้ว that registered nothing: the clerk is told by mail which
        fields are missing (a secret letter by its id only), and where the original went."""
        ctx = self.ctx
        settings = ctx.store.settings
        now = ctx.store.clock()
        async with ctx.store.sessions.begin() as s:
            letter = await s.get(Letter, outcome.letter_id)
            if letter is None or not outcome.missing:
                return
            secret = not may_mail(letter)
            central = settings.agency.central_addresses[0]
            context = {"agency": settings.agency.name_th, "letter_id": letter.id,
                       "missing": missing_th(outcome.missing), "secret": secret,
                       "registered_folder": settings.intake.folders.registered,
                       "review_folder": moved_to,
                       "letter_no": "" if secret else letter.letter_no,
                       "letter_date": format_short_date(letter.letter_date)
                       if letter.letter_date and not secret else "",
                       "sender": "" if secret else letter.sender,
                       "subject": SECRET_TH if secret else letter.subject}
            mail = agency_mail(settings, "register-refused", context, to=[central],
                               key=f"register-refused:{letter.id}:{now.isoformat()}", auto=True)
            await queue_mail(s, ctx.store, ctx.templates, mail, kind="register-refused", now=now,
                             letter_id=letter.id)
        ctx.wake()

    async def reject(self, letter_id: int, *, actor: str, reason: str = "") -> str:
        """Refuse a letter waiting for the clerk; the sender's notice (notice.*) carries the
        clerk's reason (or, with none, the reasons it was set aside)."""
        ctx = self.ctx
        msg = await self._message_of(letter_id)  # before the write transaction: no nesting
        now = ctx.store.clock()
        async with ctx.store.sessions.begin() as s:
            letter = await s.get(Letter, letter_id, with_for_update=LOCK_ROW)
            if letter is None or letter.state not in AWAITING_CLERK:
                return letter.state if letter else MISSING
            letter.state = advance(letter.state, Event.CLERK_REJECTS)
            reason = reason.strip()
            letter.updated_at = now
            reasons = [reason] if reason else [p.get("th", "") for p in letter.problems if p.get("th")]
            await audit.append(s, now=now, actor=actor, action="letter.clerk_reject",
                               subject_type="letter", subject_id=letter.id,
                               details={"reasons": reasons, **({"reason": reason} if reason else {})})
            to = ack_address(msg, ctx.policy, trusted=True) if msg is not None else None
            if to:
                codes = {p.get("code") for p in letter.problems}
                await self.feedback.notice(
                    s, letter, msg, to, reasons, now,
                    xml_letter=xml_letter_of(msg, ctx.xml_resources) if msg else None,
                    invalid=bool(codes & REJECT_AS_INVALID))
        ctx.wake()
        return LetterState.REJECTED

    async def route(self, s: AsyncSession, reply: Letter,
                    clerk: tuple[tuple[int, int], ClerkRoute], now: dt.datetime, *,
                    by: str = "clerk:reply") -> None:
        """The clerk's `ส่ง <unit>, …` reply to `[รับ n/ปี]`: forward that registered letter;
        or `ยืนยันส่งลับ`: mail the secret letter held for the units a clerk asked for."""
        (number, year), wanted = clerk
        book = await registers.get_book(s, "receive")
        target_id = (await s.execute(select(RegisterEntry.letter_id).where(
            RegisterEntry.book_id == book.id, RegisterEntry.year == year, RegisterEntry.number == number,
            RegisterEntry.status == "registered"))).scalar_one_or_none()
        target = await s.get(Letter, target_id) if target_id is not None else None
        reply.about, reply.about_letter_id = About.CLERK_ROUTE, target_id
        reply.clerk_route = list(wanted.units)
        if target is None or target.state != LetterState.REGISTERED:
            await audit.append(s, now=now, actor="clerk", action="unit.route_unmatched",
                               subject_type="letter", subject_id=reply.id,
                               details={"receive": f"{number}/{year}"})
            return
        if wanted.confirm_secret:
            if (target.secret_hold or {}).get("state") != "pending":
                await audit.append(s, now=now, actor=by, action="unit.confirm_nothing_held",
                                   subject_type="letter", subject_id=reply.id,
                                   details={"receive": f"{number}/{year}"})
                return
            await self.ctx.units.confirm_secret(s, target, by=by, now=now)
            return
        await self.ctx.units.forward(s, target, wanted.units, via="reply", by=by, now=now)

    async def _message_of(self, letter_id: int) -> ParsedMessage | None:
        store = self.ctx.store
        async with store.readers() as s:
            letter = await s.get(Letter, letter_id)
            if letter is None or letter.raw_message_id is None:
                return None
            raw_row = await s.get(RawMessage, letter.raw_message_id)
        if raw_row is None:
            return None
        raw = await asyncio.to_thread(store.blobs.get, raw_row.sha256)
        return await asyncio.to_thread(parse_message, raw)


def _listed(changes: dict[str, tuple[str, str]]) -> list[dict[str, str]]:
    return [{"field": k, "old": o, "new": n} for k, (o, n) in changes.items()]
