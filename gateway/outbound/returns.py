"""What comes back for letters we sent, read by the incoming flow: delivery reports (RFC 3464,
matched by the VERP token), recipients' replies quoting our letter's number, and the
CorrespondenceLetter notifiers a receiving system sends (xml.md). Each updates that
recipient's state in the caller's transaction; nothing here is registered as a letter.
"""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.core.classify import Reading, ack_address
from gateway.forwarding.routing import recipient_token
from gateway.letter import Problem
from gateway.outbound.bounces import Bounce
from gateway.outbound.rules import letter_numbers_in, their_receive_number
from gateway.state import LetterState
from gateway.store import audit, recipients, registers
from gateway.store.tables import About, DeliveryNotice, Letter, LetterRecipient
from gateway.thai import BANGKOK, letter_no_key
from gateway.trust import SenderAuth
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


NOTIFIER_UNPROVED = ("แจ้งสถานะหนังสือที่ส่งไป แต่พิสูจน์ไม่ได้ว่ามาจากผู้รับ (ไม่มีรหัสอ้างอิงของผู้รับ และผู้ส่งไม่ผ่าน"
                     "การยืนยันตัวตนของโดเมนผู้รับ) จึงไม่เปลี่ยนสถานะ")
REPLY_UNPROVED = Problem(
    "reply_unproved",
    "อ้างถึงหนังสือที่ส่งไป แต่พิสูจน์ไม่ได้ว่ามาจากผู้รับ (ไม่มีรหัสอ้างอิงของผู้รับ และผู้ส่งไม่ผ่านการยืนยันตัวตน) "
    "จึงไม่บันทึกการลงรับ",
    "quotes a letter we sent but proves no recipient (no token, no passing authentication): "
    "not taken as an acknowledgement",
)
PROOF = "saraban_reply_proof"  # session.info: {letter id: ReplyProof}, set by the pipeline


@dataclass(frozen=True)
class ReplyProof:
    """What a message about a letter we sent proves of its sender (issue #18)."""

    token: str | None = None  # a recipient's token in the address it was sent to, or subject
    auth: SenderAuth | None = None  # the sender's authentication, when checked
    generated: str | None = None  # a sign that a program sent it (out-of-office …)


def proof_of(s: AsyncSession, letter_id: int, reading: Reading) -> ReplyProof:
    """What the pipeline found (examine), else what the message's own headers say."""
    kept = s.info.get(PROOF, {}).get(letter_id)
    if isinstance(kept, ReplyProof):
        return kept
    m = reading.message
    return ReplyProof(recipient_token([*m.to_addrs, *m.cc_addrs], m.subject), None, m.auto_reply_reason)


def proved(rec: LetterRecipient, sender: str, proof: ReplyProof) -> str | None:
    """How a message proves it is from this recipient of ours, or None: never when a program
    answered; by the recipient's own token; or by a sender authenticated (DMARC pass) for
    the recipient's address or domain."""
    if proof.generated:
        return None
    if proof.token and hmac.compare_digest(proof.token.encode(), rec.token.lower().encode()):
        return "token"
    auth, domain = proof.auth, rec.address.rpartition("@")[2].lower()
    sender_domain = sender.lower().rpartition("@")[2]
    if auth is not None and auth.passed and auth.from_domain.lower() == domain == sender_domain:
        return "auth"
    return None


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
                         now: dt.datetime) -> str:
        """A reply from a recipient quoting our letter number acknowledges it (with their
        number), when it proves whose it is (`proved`): "acknowledged"; "unproved" when it
        quotes a letter we sent to an open recipient but proves nothing (kept for the
        clerk, nothing changes); "" when it is no reply to a letter of ours."""
        msg = reading.message
        proof = proof_of(s, letter.id, reading)
        text = f"{msg.subject}\n{msg.body_text}"
        quoted = letter_numbers_in(text)
        if not quoted:
            return ""
        candidates = await self._candidates(s, proof, msg.from_addr or "")
        found = ""
        for rec, ours in candidates:
            if not ours.letter_no_norm or ours.letter_no_norm not in quoted:
                continue
            how = proved(rec, msg.from_addr or "", proof)
            if how is None:
                found = "unproved"
                continue
            number = their_receive_number(text)
            await recipients.acknowledge(s, rec, number=number, date=now.astimezone(BANGKOK).date(),
                                         source="reply", now=now, actor=f"pipeline:{how}")
            letter.about, letter.about_letter_id = About.ACKNOWLEDGEMENT, ours.id
            return "acknowledged"
        if found:
            await audit.append(s, now=now, actor="pipeline", action="recipient.reply_unproved",
                               subject_type="letter", subject_id=letter.id,
                               details={"from": msg.from_addr or "", "generated": proof.generated or ""})
        return found

    @staticmethod
    async def _candidates(s: AsyncSession, proof: ReplyProof,
                          sender: str) -> list[tuple[LetterRecipient, Letter]]:
        """The open recipients a reply may be from: the one its token names, those at its From."""
        out: list[tuple[LetterRecipient, Letter]] = []
        if proof.token:
            rec = await recipients.by_token(s, proof.token)
            if rec is not None and rec.state != "acknowledged":
                ours = await s.get(Letter, rec.letter_id)
                if ours is not None:
                    out.append((rec, ours))
        if sender:
            out.extend(p for p in await recipients.open_for(s, sender) if p[0] not in [o[0] for o in out])
        return out

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
        sender = (reading.message.from_addr or "").lower()
        proof = proof_of(s, letter.id, reading)
        rec = None
        for r in (await s.execute(select(LetterRecipient).where(
                LetterRecipient.letter_id == target.id).order_by(LetterRecipient.id))).scalars():
            if proved(r, sender, replace(proof, generated=None)) is not None:  # notifiers are machine-made
                rec = r
                break
        if rec is None:  # a notifier that proves no recipient changes nothing (issue #18)
            letter.review_reason = NOTIFIER_UNPROVED
            await audit.append(s, now=now, actor="pipeline", action="notifier.unproved",
                               subject_type="letter", subject_id=target.id, details=event)
            return
        target.delivery_state = state
        s.add(DeliveryNotice(letter_id=target.id, notice_letter_id=letter.id, kind=n.kind.value,
                             state=state, from_addr=reading.message.from_addr or "",
                             accept_id=n.accept_id, accept_date=n.accept_date, at=now))
        if rec.state == "acknowledged":
            pass  # they registered it: a later notifier does not undo or renumber that
        elif n.kind is NotifierKind.ACCEPT:
            await recipients.acknowledge(s, rec, number=n.accept_id, date=n.accept_date,
                                         source="notifier", now=now, actor="pipeline")
        elif n.kind in (NotifierKind.REJECT, NotifierKind.INVALID):
            await recipients.mark_failed(s, rec, error=f"ผู้รับแจ้ง {n.kind.value}", now=now, actor="pipeline")
        await audit.append(s, now=now, actor="pipeline", action="letter.notifier",
                           subject_type="letter", subject_id=target.id, details=event)
