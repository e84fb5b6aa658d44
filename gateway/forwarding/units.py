"""Units: a registered letter passed to the right unit, accepted (ลงรับ) or returned (คืนเรื่อง)
by e-mail, reminded, and its path kept (domain.md §6).

Register → route (routing.py, pure) → here. A forward is a row per (letter, unit) with an
unguessable token; the unit's mail carries the stamped PDF and enclosures and a Reply-To
`saraban+u.<token>@…`, so its reply finds the forward again whatever client it uses. The
same letter is never forwarded twice to a unit that has it (moving it into ส่งต่อ/<unit>
twice is a no-op); a unit that returned it may get it again. Every step is an audit entry,
and the receive register's การปฏิบัติ column is rewritten from the forwards.

Secret stays inside (issue 18; gateway/trust/secrecy.py): `forward` itself never mails a
letter marked ลับ or above unless a clerk confirmed it. Rules only suggest; a clerk's move or
`ส่ง` reply becomes a hold (Letter.secret_hold, forwarding/hold.py) and a question to the
clerk; `confirm_secret` sends it. Reminders and notes to the clerk show its number only.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jinja2
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.config import Unit
from gateway.core.compose import FileToAttach
from gateway.core.edits import FIELD_TH
from gateway.forwarding import hold
from gateway.forwarding.routing import (
    RETURNED_HEADER,
    Route,
    RouteFacts,
    read_unit_reply,
    reply_address,
    route,
)
from gateway.letter import ParsedMessage
from gateway.outbound.sender import agency_mail, queue_mail
from gateway.state import LetterState
from gateway.store import audit, leases, registers
from gateway.store.handle import Store
from gateway.store.letters import LOCK_ROW
from gateway.store.registers import EntryFields, unit_book_code
from gateway.store.tables import About, Forward, Letter, LetterFile, RegisterEntry
from gateway.thai import be_year_of, format_short_date, format_short_datetime
from gateway.trust.secrecy import SECRET_TH, may_mail
from gateway.workcalendar import work_calendar

log = logging.getLogger(__name__)

OPEN = ("sent", "accepted")  # a unit that has the letter (returned ones may get it again)


def when(at: dt.datetime | None) -> str:
    return format_short_datetime(at) if at is not None else ""


@dataclass
class Units:
    store: Store
    templates: jinja2.Environment

    @property
    def central(self) -> str:
        return self.store.settings.agency.central_addresses[0]

    def unit(self, code: str) -> Unit | None:
        return self.store.settings.unit(code)

    # -- routing --------------------------------------------------------------------------

    async def route_by_rules(self, s: AsyncSession, letter: Letter, now: dt.datetime) -> Route | None:
        """At registration, once: forward when a rule is sure; otherwise the letter waits."""
        rules = self.store.settings.forwarding.rules
        if not rules or letter.routed_rule is not None:
            return None
        facts = RouteFacts(recipient=letter.recipient, salutation=letter.salutation,
                           subject=letter.subject, sender=letter.sender,
                           sender_address=letter.sender_address,
                           xml_receiver=letter.xml_receiver)
        r = route(facts, rules)
        letter.routed_rule = r.rule if r else ""
        if r is not None and not r.sure:
            letter.suggested_units = [r.primary, *r.copies]
        if r is not None and r.sure and not may_mail(letter):  # a secret letter: a suggestion only
            letter.suggested_units = [r.primary, *r.copies]
            await audit.append(s, now=now, actor="gateway", action="unit.secret_not_routed",
                               subject_type="letter", subject_id=letter.id,
                               details={"rule": r.rule, "units": letter.suggested_units})
        elif r is not None and r.sure:
            await self.forward(s, letter, [r.primary, *r.copies], via="rule", by=f"กฎ {r.rule}", now=now)
        return r

    async def forward(self, s: AsyncSession, letter: Letter, codes: Sequence[str], *, via: str, by: str,
                      now: dt.datetime, folder: str = "", confirmed_by: str = "") -> list[Forward]:
        """Pass the letter to these units (the first is primary unless one already is). A
        secret letter is mailed only with `confirmed_by` (Units.confirm_secret); a clerk's ask
        without it becomes a hold and a question to the clerk, a rule's ask nothing."""
        made: list[Forward] = []
        existing = list((await s.execute(select(Forward).where(Forward.letter_id == letter.id))).scalars())
        has_primary = any(f.role == "primary" and f.state in OPEN for f in existing)
        # exactly once: moved twice, routed twice, it is one forward
        wanted = [c for c in dict.fromkeys(codes) if self.unit(c) is not None
                  and not any(f.unit_code == c and f.state in OPEN for f in existing)]
        if wanted and not may_mail(letter) and not confirmed_by:
            if via != "rule":
                await hold.ask(self, s, letter, wanted, via=via, by=by, folder=folder, now=now)
            return []
        for code in wanted:
            unit = self.unit(code)
            assert unit is not None
            role = "copy" if has_primary else "primary"
            has_primary = True
            fw = Forward(letter_id=letter.id, unit_code=code, role=role, token=secrets.token_hex(10),
                         state="sent", via=via, by=by, forwarded_at=now, accepted_by="",
                         return_reason="")
            s.add(fw)
            await s.flush()
            await self._mail_unit(s, letter, fw, unit, "forward", now)
            await audit.append(s, now=now, actor=by, action="unit.forwarded", subject_type="letter",
                               subject_id=letter.id,
                               details={"unit": code, "role": role, "via": via, "forward": fw.id,
                                        **({"confirmed_by": confirmed_by} if confirmed_by else {})})
            made.append(fw)
        if made:
            await self.refresh_path(s, letter.id)
        return made

    async def clerk_route(self, letter_id: int, codes: Sequence[str], *, via: str, by: str,
                          folder: str = "") -> list[str]:
        """The clerk's decision (a folder move or a `ส่ง …` reply): forward a registered letter."""
        now = self.store.clock()
        async with self.store.sessions.begin() as s:
            letter = await s.get(Letter, letter_id, with_for_update=LOCK_ROW)
            if letter is None or letter.state != LetterState.REGISTERED:
                return []
            made = await self.forward(s, letter, codes, via=via, by=by, now=now, folder=folder)
        return [f.unit_code for f in made]

    async def confirm_secret(self, s: AsyncSession, letter: Letter, *, by: str, now: dt.datetime) -> list[str]:
        """A clerk confirms mailing a held secret letter: forwarded to the held units, the
        confirmer recorded (secret_hold["confirmed_by"], audit). The unit codes sent to."""
        return await hold.confirm(self, s, letter, by=by, now=now)

    # -- what units answer ------------------------------------------------------------------

    async def take_reply(self, s: AsyncSession, reply: Letter, token: str, msg: ParsedMessage,
                         now: dt.datetime) -> str:
        """A unit's reply: accept (with its own number when it keeps a register) or return."""
        fw = (await s.execute(select(Forward).where(Forward.token == token))).scalar_one_or_none()
        sender = (msg.from_addr or "").lower()
        if fw is None:
            await audit.append(s, now=now, actor="pipeline", action="unit.reply_unmatched",
                               subject_type="letter", subject_id=reply.id, details={"from": sender})
            return "unmatched"
        reply.about, reply.about_letter_id, reply.forward_id = About.UNIT_REPLY, fw.letter_id, fw.id
        unit = self.unit(fw.unit_code)
        if unit is None or sender not in {e.lower() for e in unit.emails}:
            log.warning("reply for forward %s from %s, not from unit %s: not accepted", fw.id, sender,
                        fw.unit_code)
            await audit.append(s, now=now, actor="pipeline", action="unit.reply_refused",
                               subject_type="letter", subject_id=fw.letter_id,
                               details={"unit": fw.unit_code, "from": sender, "reply": reply.id})
            return "refused"
        if fw.state != "sent":
            return "again"  # a second reply changes nothing
        letter = await s.get(Letter, fw.letter_id)
        assert letter is not None
        answer = read_unit_reply(msg.body_text, msg.subject)
        if answer.accept:
            fw.state = "accepted"
            fw.accepted_at = now
            fw.accepted_by = sender
            if unit.own_register:
                entry = await registers.allocate(
                    s, book_code=unit_book_code(unit.code), now=now,
                    fields=EntryFields(letter_no=letter.letter_no, letter_date=letter.letter_date,
                                       sender=letter.sender, recipient=letter.recipient,
                                       subject=letter.subject, speed=letter.speed, secrecy=letter.secrecy,
                                       channel="unit", unit_code=unit.code,
                                       remarks=f"เลขรับหน่วยงานกลาง {await self._receive_ref(s, letter)}"),
                    first_number=self.store.settings.books.first_number(unit_book_code(unit.code),
                                                                        be_year_of(now)),
                    letter_id=letter.id, actor=f"unit:{unit.code}")
                fw.unit_number, fw.unit_year = entry.number, entry.year
            await self._mail_unit(s, letter, fw, unit, "unit-accepted", now)
            await audit.append(s, now=now, actor=f"unit:{unit.code}", action="unit.accepted",
                               subject_type="letter", subject_id=letter.id,
                               details={"unit": unit.code, "by": sender, "forward": fw.id,
                                        "unit_number": fw.unit_number, "unit_year": fw.unit_year})
        else:
            fw.state = "returned"
            fw.returned_at = now
            fw.return_reason = answer.reason
            await self._tell_clerk_returned(s, letter, fw, unit, now)
            await audit.append(s, now=now, actor=f"unit:{unit.code}", action="unit.returned",
                               subject_type="letter", subject_id=letter.id,
                               details={"unit": unit.code, "by": sender, "reason": answer.reason,
                                        "forward": fw.id})
        await self.refresh_path(s, letter.id)
        return fw.state

    @staticmethod
    async def _receive_ref(s: AsyncSession, letter: Letter) -> str:
        entry = await registers.entry_of(s, letter.id)
        return f"{entry.number}/{entry.year}" if entry else "-/-"

    # -- mails ------------------------------------------------------------------------------

    async def _files(self, s: AsyncSession, letter_id: int) -> list[FileToAttach]:
        files = list((await s.execute(select(LetterFile).where(LetterFile.letter_id == letter_id)
                                      .order_by(LetterFile.position))).scalars())
        stamped = [f for f in files if f.role == "stamped"]
        chosen = stamped + [f for f in files if f.role == "main" and not stamped] + \
            [f for f in files if f.role == "enclosure"]
        return [FileToAttach(f.safe_name, f.media_type, self.store.blobs.get(f.sha256)) for f in chosen]

    async def _context(self, s: AsyncSession, letter: Letter, fw: Forward, unit: Unit, *,
                       whole: bool = False) -> dict[str, Any]:
        """What a mail about the forward shows: a secret letter by its number only, unless it
        is the confirmed forward itself (`whole`)."""
        a = self.store.settings.agency
        entry = await registers.entry_of(s, letter.id)
        shown = whole or may_mail(letter)
        return {"agency": a.name_th, "unit_name": unit.name_th, "number": entry.number if entry else None,
                "year": entry.year if entry else None, "letter_no": letter.letter_no if shown else "",
                "letter_date": format_short_date(letter.letter_date) if letter.letter_date and shown else "",
                "sender": letter.sender if shown else "", "subject": letter.subject if shown else SECRET_TH,
                "speed": letter.speed,
                "role": fw.role, "token": fw.token, "unit_number": fw.unit_number,
                "unit_year": fw.unit_year, "reason": fw.return_reason, "forwarded": when(fw.forwarded_at),
                "contact": a.contact, "central_address": self.central}

    async def _mail_unit(self, s: AsyncSession, letter: Letter, fw: Forward, unit: Unit, template: str,
                         now: dt.datetime, *, key: str | None = None) -> None:
        whole = template == "forward"  # only forward() mails the letter, and checks its secrecy
        attachments = await self._files(s, letter.id) if whole else []
        mail = agency_mail(self.store.settings, template, await self._context(s, letter, fw, unit, whole=whole),
                           to=unit.emails,
                           key=key or f"{template}:{fw.id}", attachments=attachments,
                           auto=template != "forward",
                           extra_headers={"Reply-To": reply_address(self.central, fw.token)})
        await queue_mail(s, self.store, self.templates, mail, kind=template, now=now, letter_id=letter.id)

    async def _tell_clerk_returned(self, s: AsyncSession, letter: Letter, fw: Forward, unit: Unit,
                                   now: dt.datetime) -> None:
        """A returned letter goes back to the clerk: a mail that the IMAP watcher files in review."""
        mail = agency_mail(self.store.settings, "returned", await self._context(s, letter, fw, unit), to=[self.central],
                           key=f"returned:{fw.id}",
                           attachments=await self._files(s, letter.id) if may_mail(letter) else [],
                           extra_headers={RETURNED_HEADER: str(letter.id)})
        await queue_mail(s, self.store, self.templates, mail, kind="returned", now=now, letter_id=letter.id)

    async def _tell_clerk_overdue(self, s: AsyncSession, letter: Letter, fw: Forward, unit: Unit,
                                  now: dt.datetime) -> None:
        mail = agency_mail(self.store.settings, "unit-overdue", await self._context(s, letter, fw, unit),
                           to=[self.central], key=f"overdue:{fw.id}")
        await queue_mail(s, self.store, self.templates, mail, kind="unit-overdue", now=now, letter_id=letter.id)

    # -- the path ---------------------------------------------------------------------------

    async def refresh_path(self, s: AsyncSession, letter_id: int) -> str:
        """The receive register's การปฏิบัติ: where the letter went and what each unit did."""
        forwards = list((await s.execute(select(Forward).where(Forward.letter_id == letter_id)
                                         .order_by(Forward.id))).scalars())
        parts = []
        for f in forwards:
            unit = self.unit(f.unit_code)
            name = unit.name_th if unit else f.unit_code
            text = f"ส่ง{'สำเนา' if f.role == 'copy' else ''} {name} {when(f.forwarded_at)}"
            if f.state == "accepted":
                text += f" ลงรับ {when(f.accepted_at)}"
                if f.unit_number:
                    text += f" เลขรับ {f.unit_number}/{f.unit_year}"
            elif f.state == "returned":
                text += f" คืนเรื่อง {when(f.returned_at)}: {f.return_reason}"
            parts.append(text)
        text = "; ".join(parts)
        receive = await registers.get_book(s, "receive")
        await s.execute(update(RegisterEntry).where(
            RegisterEntry.letter_id == letter_id, RegisterEntry.status == "registered",
            RegisterEntry.book_id == receive.id).values(action=text))
        return text

    # -- following up -----------------------------------------------------------------------

    async def remind_due(self) -> int:
        """Remind units that have not accepted in time (sooner for urgent letters); then tell the
        clerk. Each step once per forward. Times are working hours: office hours on working
        days, so a letter forwarded on Friday afternoon is not overdue on Saturday morning."""
        now = self.store.clock()
        cfg = self.store.settings.forwarding
        calendar = work_calendar(self.store.settings)
        done = 0
        async with self.store.sessions.begin() as s:
            # one gateway process at a time: the next one reads what this one marked
            await leases.hold(s, "timer:reminders")
            rows = (await s.execute(select(Forward, Letter).join(Letter, Letter.id == Forward.letter_id)
                                    .where(Forward.state == "sent", Forward.clerk_told_at.is_(None))
                                    .order_by(Forward.id).limit(500))).all()
            for fw, letter in rows:
                unit = self.unit(fw.unit_code)
                if unit is None:
                    continue
                # office time on working days, not clock hours (gateway/core/workdays.py)
                due = fw.reminded_at is None and \
                    now >= calendar.add_working_hours(fw.forwarded_at, cfg.remind_after(letter.speed))
                if due and not may_mail(letter):
                    # a secret letter: no reminder by mail; the clerk follows it up (number only)
                    fw.reminded_at = fw.clerk_told_at = now
                    await self._tell_clerk_overdue(s, letter, fw, unit, now)
                    await audit.append(s, now=now, actor="gateway", action="unit.remind_withheld",
                                       subject_type="letter", subject_id=letter.id,
                                       details={"unit": unit.code, "forward": fw.id, "secret": True})
                    done += 1
                elif due:
                    fw.reminded_at = now
                    await self._mail_unit(s, letter, fw, unit, "unit-reminder", now)
                    await audit.append(s, now=now, actor="gateway", action="unit.reminded",
                                       subject_type="letter", subject_id=letter.id,
                                       details={"unit": unit.code, "forward": fw.id})
                    done += 1
                elif fw.reminded_at is not None and \
                        now >= calendar.add_working_hours(fw.reminded_at, cfg.tell_clerk_after_hours):
                    fw.clerk_told_at = now
                    await self._tell_clerk_overdue(s, letter, fw, unit, now)
                    await audit.append(s, now=now, actor="gateway", action="unit.overdue",
                                       subject_type="letter", subject_id=letter.id,
                                       details={"unit": unit.code, "forward": fw.id})
                    done += 1
        return done


async def tell_amended(units: Units, s: AsyncSession, letter: Letter, changes: dict[str, tuple[str, str]], *,
                       reason: str, now: dt.datetime) -> list[str]:
    """The units that have the letter (sent or accepted) are told of its corrected fields;
    a secret letter never by mail (may_mail): the audit notes it. The unit codes told."""
    forwards = list((await s.execute(select(Forward).where(
        Forward.letter_id == letter.id, Forward.state.in_(OPEN)).order_by(Forward.id))).scalars())
    if not forwards:
        return []
    if not may_mail(letter):
        await audit.append(s, now=now, actor="gateway", action="unit.amend_withheld",
                           subject_type="letter", subject_id=letter.id,
                           details={"units": [f.unit_code for f in forwards], "secret": True})
        return []
    told = []
    for fw in forwards:
        unit = units.unit(fw.unit_code)
        if unit is None:
            continue
        context = {**await units._context(s, letter, fw, unit), "reason": reason,
                   "changes": [{"label": FIELD_TH.get(k, k), "old": o or "-", "new": n or "-"}
                               for k, (o, n) in changes.items()]}
        mail = agency_mail(units.store.settings, "unit-amended", context, to=unit.emails,
                           key=f"unit-amended:{fw.id}:{now.isoformat()}", auto=True,
                           extra_headers={"Reply-To": reply_address(units.central, fw.token)})
        await queue_mail(s, units.store, units.templates, mail, kind="unit-amended", now=now,
                         letter_id=letter.id)
        await audit.append(s, now=now, actor="gateway", action="unit.amend_told", subject_type="letter",
                           subject_id=letter.id, details={"unit": unit.code, "forward": fw.id,
                                                          "fields": list(changes)})
        told.append(unit.code)
    return told
