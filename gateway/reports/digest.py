"""The daily digest to the central mailbox: what came in today, what waits for the clerk, what
the units have not accepted (urgent first, then oldest), and what could not be delivered.

Housekeeping → here → outbox. Once a day at [forwarding] digest_time (Asia/Bangkok), after
which a `digests` row for the day keeps a restart from sending it again. HTML with a plain-text
alternative, both from templates/mail/digest.* and the same facts. Secret letters (ลับ and
above, gateway/trust/secrecy.py) are counted and shown by their receive number only: no
letter number, subject, sender, unit or recipient.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import jinja2
from sqlalchemy import select

from gateway.core.compose import compose
from gateway.outbound.sender import agency_mail
from gateway.reports.monthly import monthly_due, monthly_section
from gateway.state import AWAITING_CLERK, LetterState
from gateway.store import audit, leases, outbox, registers
from gateway.store.handle import Store
from gateway.store.tables import (
    Amendment,
    Digest,
    Forward,
    Letter,
    LetterRecipient,
    OutboxItem,
    RegisterEntry,
)
from gateway.thai import BANGKOK, format_short_date, format_short_datetime, format_time
from gateway.trust.secrecy import SECRET_TH, is_secret

HIDDEN = "-"

AMENDED_TH = "แก้ไขแล้ว"  # an entry corrected after registration (letter trace shows how)

SPEED_RANK = {"ด่วนที่สุด": 3, "ด่วนมาก": 2, "ด่วน": 1}


@dataclass
class DigestData:
    day: str
    registered: list[dict[str, Any]] = field(default_factory=list)
    review: list[dict[str, Any]] = field(default_factory=list)
    waiting: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    monthly: dict[str, Any] | None = None  # the previous month (gateway.reports.monthly)
    chart: bytes = b""  # its chart, PNG, shown inline

    def context(self, agency: str) -> dict[str, Any]:
        return {"agency": agency, "day": self.day, "registered": self.registered, "review": self.review,
                "waiting": self.waiting, "failed": self.failed, "monthly": self.monthly}


async def gather(store: Store, day: dt.date) -> DigestData:
    units = {u.code: u.name_th for u in store.settings.units}
    start = dt.datetime.combine(day, dt.time(), BANGKOK)
    end = start + dt.timedelta(days=1)
    data = DigestData(day=format_short_date(day))
    async with store.readers() as s:
        receive = await registers.get_book(s, "receive")
        today = list((await s.execute(select(RegisterEntry).where(
            RegisterEntry.book_id == receive.id, RegisterEntry.status == "registered",
            RegisterEntry.registered_at >= start, RegisterEntry.registered_at < end)
            .order_by(RegisterEntry.number))).scalars())
        amended = set((await s.execute(select(Amendment.entry_id).where(
            Amendment.entry_id.in_([e.id for e in today])))).scalars()) if today else set()
        for e in today:
            mark = AMENDED_TH if e.id in amended else ""  # current values, marked as corrected
            if is_secret(e.secrecy):
                data.registered.append({"number": f"{e.number}/{e.year}", "letter_no": HIDDEN,
                                        "sender": HIDDEN, "subject": SECRET_TH, "speed": e.speed,
                                        "time": format_time(e.registered_at), "action": HIDDEN,
                                        "amended": mark})
                continue
            data.registered.append({"number": f"{e.number}/{e.year}", "letter_no": e.letter_no or "-",
                                    "sender": e.sender or "-", "subject": e.subject or "-",
                                    "speed": e.speed, "time": format_time(e.registered_at),
                                    "action": e.action or "ยังไม่ได้ส่งต่อ", "amended": mark})
        for letter in (await s.execute(select(Letter).where(
                Letter.direction == "in", Letter.state.in_(AWAITING_CLERK))
                .order_by(Letter.created_at))).scalars():
            restricted = letter.state == LetterState.RESTRICTED or is_secret(letter.secrecy)
            data.review.append({"received": format_short_datetime(letter.created_at),
                                "subject": "(ชั้นความลับ — ดูในโฟลเดอร์รอตรวจสอบ (ลับ))" if restricted
                                else (letter.subject or "-"),
                                "sender": HIDDEN if restricted else (letter.sender or letter.sender_address or "-"),
                                "reason": "" if restricted else letter.review_reason})
        rows = [(fw, letter) for fw, letter in (await s.execute(
            select(Forward, Letter).join(Letter, Letter.id == Forward.letter_id)
            .where(Forward.state == "sent"))).all()]
        rows.sort(key=lambda r: (-SPEED_RANK.get(r[1].speed, 0), r[0].forwarded_at))
        for fw, letter in rows:
            entry = await registers.entry_of(s, letter.id)
            secret = is_secret(letter.secrecy)
            data.waiting.append({
                "number": f"{entry.number}/{entry.year}" if entry else "-",
                "subject": SECRET_TH if secret else (letter.subject or "-"),
                "unit": HIDDEN if secret else units.get(fw.unit_code, fw.unit_code),
                "speed": letter.speed, "since": format_short_datetime(fw.forwarded_at),
                "reminded": fw.reminded_at is not None})
        for rec, letter in (await s.execute(select(LetterRecipient, Letter).join(
                Letter, Letter.id == LetterRecipient.letter_id).where(LetterRecipient.state == "failed")
                .order_by(LetterRecipient.failed_at))).all():
            if is_secret(letter.secrecy):
                data.failed.append({"letter_no": HIDDEN, "subject": SECRET_TH, "to": HIDDEN,
                                    "address": HIDDEN, "error": rec.error,
                                    "when": format_short_datetime(rec.failed_at) if rec.failed_at else "-"})
                continue
            data.failed.append({"letter_no": letter.letter_no, "subject": letter.subject,
                                "to": rec.name_th or rec.address, "address": rec.address,
                                "error": rec.error, "when": format_short_datetime(rec.failed_at) if rec.failed_at else "-"})
        for item in (await s.execute(select(OutboxItem).where(
                OutboxItem.status.in_(("parked", "uncertain")), OutboxItem.kind != "letter")
                .order_by(OutboxItem.id))).scalars():
            data.failed.append({"letter_no": "-", "subject": f"({item.kind})", "to": item.recipient,
                                "address": item.recipient, "error": item.last_error, "when": format_short_datetime(item.created_at)})
    return data


def digest_mail(store: Store, templates: jinja2.Environment, data: DigestData, day: dt.date,
                now: dt.datetime) -> bytes:
    a = store.settings.agency
    mail = agency_mail(store.settings, "digest", data.context(a.name_th), to=[a.central_addresses[0]],
                       key=f"digest:{day.isoformat()}", html=True,
                       inline_images=((data.monthly["cid"], "image/png", data.chart),)
                       if data.monthly and data.chart else ())
    return compose(templates, mail, now=now, signer=store.secret)


async def send_digest_if_due(store: Store, templates: jinja2.Environment) -> bool:
    """Queue today's digest once, at or after the configured time."""
    cfg = store.settings.forwarding
    if not cfg.digest:
        return False
    now = store.clock()
    local = now.astimezone(BANGKOK)
    hh, mm = (int(x) for x in cfg.digest_time.split(":"))
    if (local.hour, local.minute) < (hh, mm):
        return False
    day = local.date()
    async with store.readers() as s:
        if await s.get(Digest, day) is not None:
            return False
    data = await gather(store, day)
    if await monthly_due(store, day):
        data.monthly, data.chart = await monthly_section(store, day)
    message = digest_mail(store, templates, data, day, now)
    central = store.settings.agency.central_addresses[0]
    async with store.sessions.begin() as s:
        await leases.hold(s, "timer:digest")  # another gateway process may be at this very line
        if await s.get(Digest, day) is not None:
            return False
        s.add(Digest(day=day, sent_at=now))
        await outbox.enqueue(s, store.blobs, kind="digest", recipient=central, dedupe_key=f"digest:{day}",
                             message=message, now=now)
        await audit.append(s, now=now, actor="gateway", action="digest.queued", subject_type="digest",
                           subject_id=day.isoformat(),
                           details={"registered": len(data.registered), "review": len(data.review),
                                    "waiting": len(data.waiting), "failed": len(data.failed),
                                    "monthly": bool(data.monthly)})
    return True
