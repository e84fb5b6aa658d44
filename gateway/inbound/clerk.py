"""The clerk's decisions on letters set aside: register a letter from review, reject it (the
sender gets a notice), or route a registered letter to units with a `ส่ง …` reply. They come
from the mail client (folder moves, replies) or the command line; each is one transaction,
and a decision on a letter that is no longer waiting for the clerk changes nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.core.classify import ack_address
from gateway.core.parse import parse_message
from gateway.forwarding.routing import ClerkRoute
from gateway.inbound.context import Inbound
from gateway.inbound.feedback import Feedback
from gateway.inbound.read import xml_letter_of
from gateway.inbound.record import REJECT_AS_INVALID, Recorder
from gateway.inbound.stamp import Stamper
from gateway.letter import ParsedMessage
from gateway.state import AWAITING_CLERK, Event, LetterState, advance
from gateway.store import audit, registers
from gateway.store.tables import About, Letter, RawMessage, RegisterEntry

MISSING = "missing"  # what a decision on a letter id that does not exist returns


class ClerkDesk:
    def __init__(self, ctx: Inbound, recorder: Recorder, feedback: Feedback, stamper: Stamper) -> None:
        self.ctx, self.recorder, self.feedback, self.stamper = ctx, recorder, feedback, stamper

    async def register(self, letter_id: int, *, actor: str) -> str:
        ctx = self.ctx
        msg = await self._message_of(letter_id)  # before the write transaction: no nesting
        now = ctx.store.clock()
        async with ctx.store.sessions.begin() as s:
            letter = await s.get(Letter, letter_id, with_for_update=True)
            if letter is None or letter.state not in AWAITING_CLERK:
                return letter.state if letter else MISSING
            ack_to = ack_address(msg, ctx.policy, trusted=True) if msg is not None else None
            await audit.append(s, now=now, actor=actor, action="letter.clerk_register",
                               subject_type="letter", subject_id=letter.id, details={})
            await self.recorder.register(s, letter, None, ack_to, now, actor=actor,
                                         remarks="ลงทะเบียนโดยเจ้าหน้าที่หลังตรวจสอบ",
                                         xml_letter=xml_letter_of(msg, ctx.xml_resources) if msg else None)
            letter.updated_at = now
        ctx.wake()
        await self.stamper.stamp(letter_id)
        return LetterState.REGISTERED

    async def reject(self, letter_id: int, *, actor: str, reason: str = "") -> str:
        ctx = self.ctx
        msg = await self._message_of(letter_id)  # before the write transaction: no nesting
        now = ctx.store.clock()
        async with ctx.store.sessions.begin() as s:
            letter = await s.get(Letter, letter_id, with_for_update=True)
            if letter is None or letter.state not in AWAITING_CLERK:
                return letter.state if letter else MISSING
            letter.state = advance(letter.state, Event.CLERK_REJECTS)
            letter.updated_at = now
            reasons = [reason] if reason else [p.get("th", "") for p in letter.problems if p.get("th")]
            await audit.append(s, now=now, actor=actor, action="letter.clerk_reject",
                               subject_type="letter", subject_id=letter.id,
                               details={"reasons": reasons})
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
