"""What comes back for letters we sent, read by the incoming flow: delivery reports (RFC 3464,
matched by the VERP token), recipients' replies quoting our letter's number, and the
CorrespondenceLetter notifiers a receiving system sends (xml.md). Each updates that
recipient's state in the caller's transaction; nothing here is registered as a letter.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.core.classify import Reading, ack_address
from gateway.outbound.bounces import Bounce
from gateway.outbound.rules import letter_numbers_in, their_receive_number
from gateway.state import LetterState
from gateway.store import audit, recipients, registers
from gateway.store.tables import About, DeliveryNotice, Letter
from gateway.thai import BANGKOK, letter_no_key
from gateway.xmlletter import NotifierKind

if TYPE_CHECKING:
    from gateway.inbound.context import Inbound
    from gateway.inbound.feedback import Feedback

NOTIFIER_STATE = {
    NotifierKind.RECEIVE: "received",
    NotifierKind.ACCEPT: "accepted",
    NotifierKind.REJECT: "rejected",
    NotifierKind.INVALID: "invalid",
}


class Returns:
    def __init__(self, ctx: Inbound, feedback: Feedback) -> None:
        self.ctx, self.feedback = ctx, feedback

    async def take_bounce(self, s: AsyncSession, letter: Letter, bounce: Bounce,
                          now: dt.datetime) -> None:
        """A delivery report: mark the recipient it names failed (RFC 3464; VERP token)."""
        rec = await recipients.by_token(s, bounce.token) if bounce.token else None
        failures = bounce.permanent_failures
        letter.bounce_report = {
            "token": bounce.token, "kind": str(bounce.kind),
            "recipients": [{"to": r.final_recipient, "action": r.action, "status": r.status}
                           for r in bounce.recipients[:20]]}
        if rec is None:
            await audit.append(s, now=now, actor="pipeline", action="bounce.unmatched",
                               subject_type="letter", subject_id=letter.id,
                               details={"token": bounce.token, "message_id": bounce.original_message_id})
            return
        letter.about, letter.about_letter_id = About.BOUNCE, rec.letter_id
        if failures or not bounce.recipients:
            first = failures[0] if failures else None
            why = " ".join(x for x in (first.status if first else "", first.diagnostic if first else "") if x)
            error = f"ตีกลับ (bounce): {why or 'ส่งไม่สำเร็จ'}"
            await recipients.mark_failed(s, rec, error=error, now=now, actor="pipeline")
            from gateway.outbound.flow import enqueue_failure_report  # the send side; imported late

            await enqueue_failure_report(s, self.ctx.store, self.ctx.templates, rec=rec, error=error,
                                         now=now, key=f"failed:bounce:{letter.id}")

    async def take_reply(self, s: AsyncSession, letter: Letter, reading: Reading,
                         now: dt.datetime) -> bool:
        """A reply from a recipient quoting our letter number acknowledges it (with their number)."""
        msg = reading.message
        if not msg.from_addr:
            return False
        candidates = await recipients.open_for(s, msg.from_addr)
        if not candidates:
            return False
        text = f"{msg.subject}\n{msg.body_text}"
        quoted = letter_numbers_in(text)
        for rec, ours in candidates:
            if ours.letter_no_norm and ours.letter_no_norm in quoted:
                number = their_receive_number(text)
                await recipients.acknowledge(s, rec, number=number, date=now.astimezone(BANGKOK).date(),
                                             source="reply", now=now, actor="pipeline")
                letter.about, letter.about_letter_id = About.ACKNOWLEDGEMENT, ours.id
                return True
        return False

    async def take_notifier(self, s: AsyncSession, letter: Letter, reading: Reading,
                            now: dt.datetime) -> None:
        """A status message about a letter: update the letter it names (domain.md §8)."""
        n = reading.notifier
        assert n is not None
        key = letter_no_key(n.letter_id)
        letter.notifier_kind, letter.notifier_letter_no = n.kind.value, n.letter_id
        if n.kind is NotifierKind.INVALID_ACCEPT_ID:
            # The sender says the AcceptID we gave is wrong: send our accept notifier again.
            ours = (await s.execute(select(Letter).where(
                Letter.direction == "in", Letter.letter_no_norm == key,
                Letter.state == LetterState.REGISTERED).order_by(Letter.id).limit(1))).scalar_one_or_none()
            to = ack_address(reading.message, self.ctx.policy, trusted=True)  # trust: Feedback gate
            if ours is None or to is None:
                await audit.append(s, now=now, actor="pipeline", action="notifier.unmatched",
                                   subject_type="letter", subject_id=letter.id,
                                   details={"kind": n.kind.value, "letter": n.letter_id})
                return
            ours.accept_resent += 1
            entry = await registers.entry_of(s, ours.id)
            assert entry is not None  # registered letters have their entry
            await self.feedback.acknowledge(s, ours, reading.message, to, entry.number, entry.year,
                                            now, xml_letter=n, key=f"ack-again:{ours.id}:{ours.accept_resent}")
            return
        target = (await s.execute(select(Letter).where(
            Letter.direction == "out", Letter.letter_no_norm == key).order_by(Letter.id).limit(1)
        )).scalar_one_or_none()
        if target is None:
            await audit.append(s, now=now, actor="pipeline", action="notifier.unmatched",
                               subject_type="letter", subject_id=letter.id,
                               details={"kind": n.kind.value, "letter": n.letter_id})
            return
        state = NOTIFIER_STATE[n.kind]
        event = {"kind": n.kind.value, "state": state, "from": reading.message.from_addr or "",
                 "accept_id": n.accept_id,
                 "accept_date": n.accept_date.isoformat() if n.accept_date else None}
        target.delivery_state = state
        s.add(DeliveryNotice(letter_id=target.id, notice_letter_id=letter.id, kind=n.kind.value,
                             state=state, from_addr=reading.message.from_addr or "",
                             accept_id=n.accept_id, accept_date=n.accept_date, at=now))
        sender = (reading.message.from_addr or "").lower()
        rec = next((r for r, ours in await recipients.open_for(s, sender) if ours.id == target.id), None) \
            if sender else None
        if rec is not None and n.kind is NotifierKind.ACCEPT:
            await recipients.acknowledge(s, rec, number=n.accept_id, date=n.accept_date,
                                         source="notifier", now=now, actor="pipeline")
        elif rec is not None and n.kind in (NotifierKind.REJECT, NotifierKind.INVALID):
            await recipients.mark_failed(s, rec, error=f"ผู้รับแจ้ง {n.kind.value}", now=now, actor="pipeline")
        await audit.append(s, now=now, actor="pipeline", action="letter.notifier",
                           subject_type="letter", subject_id=target.id, details=event)
