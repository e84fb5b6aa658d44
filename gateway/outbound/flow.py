"""Outgoing letters, the flow: submission → read → plan → number → name, sign → outbox per recipient.

A clerk's mail arrives through the submission server (or `saraban-gateway send`)
and is kept raw as an "out" letter in state ``submitted`` before the client is
answered. `process` then reads it and either answers a mail command (วิธีใช้,
ขอเลข), refuses it with Thai reasons (nothing is sent, no number is used), or,
in one transaction, takes the number from the right send book (or consumes the
named reservation), writes the send-register line, the files under their
Appendix 7 names, one recipient row and one outbox row per recipient agency,
and the clerk's confirmation (gateway/outbound/record.py). The per-recipient mails
are composed at delivery from the stored letter (`compose_for`, gateway/outbound/mail.py),
deterministically, so a retry sends the same bytes with the same Message-ID.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

import jinja2
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.config import secret
from gateway.core.compose import wire_policy
from gateway.core.extract import choose_main_letter, extract_fields
from gateway.core.parse import parse_message
from gateway.errors import UserError
from gateway.forwarding.routing import ClerkRoute, read_clerk_route, receive_ref
from gateway.letter import FieldSource
from gateway.outbound.mail import LetterMails, agency_context, reply_to_clerk
from gateway.outbound.record import Prepared, Recorder, Refused, number_text, numbers_stamped
from gateway.outbound.rules import (
    BOOK_TH,
    Command,
    CommandKind,
    Refusal,
    plan_submission,
    read_command,
)
from gateway.outbound.sender import agency_mail, queue_mail
from gateway.pdf.check import inspect_pdf
from gateway.pdf.sign import SignerConfig, VisibleSignature, sign_pdf
from gateway.state import Event, LetterState, advance
from gateway.store import audit, registers
from gateway.store.handle import Store
from gateway.store.letters import put_blobs, record_raw
from gateway.store.tables import Letter, LetterRecipient, OutboxItem, RawMessage, RegisterEntry
from gateway.thai import (
    BANGKOK,
    be_year_of,
    format_short_date,
    format_short_datetime,
    parse_letter_number,
)
from gateway.trust.channels import Origin, clerk_proof
from gateway.xmlletter.resources import XmlResources, default_resources

log = logging.getLogger(__name__)


@dataclass
class Outbound:
    store: Store
    templates: jinja2.Environment
    xml_resources: XmlResources
    signer: SignerConfig | None
    wake_sender: asyncio.Event | None = None
    recorder: Recorder = field(init=False)
    mails: LetterMails = field(init=False)

    def __post_init__(self) -> None:
        self.recorder = Recorder(self.store, self.templates, self.signer)
        self.mails = LetterMails(self.store, self.templates, self.xml_resources)

    @classmethod
    def build(cls, store: Store, templates: jinja2.Environment) -> Outbound:
        return cls(store=store, templates=templates, xml_resources=default_resources(),
                   signer=signer_from_settings(store))

    # -- intake ------------------------------------------------------------------------------

    async def accept(self, raw: bytes, mail_from: str, rcpts: list[str], user: str, *,
                     channel: str = "submission") -> int:
        """Keep a clerk's submission durably (before the client hears 250); returns its id."""
        (digest,) = await put_blobs(self.store.blobs, raw)
        now = self.store.clock()
        async with self.store.sessions.begin() as s:
            rec = await record_raw(s, self.store.blobs, digest=digest, channel=channel,
                                   source_key=f"{channel}:{digest}", data=raw, now=now,
                                   envelope_from=mail_from, envelope_to=rcpts, direction="out",
                                   actor=f"{channel}:{user}")
            if rec.created:
                letter = await s.get(Letter, rec.letter_id)
                assert letter is not None
                letter.submitted_by, letter.unit_code = user, self._unit_of(user)
        return rec.letter_id

    def _unit_of(self, user: str) -> str:
        for u in self.store.settings.submission.users:
            if u.name.lower() == user.lower():
                return u.unit
        return ""

    # -- the flow ----------------------------------------------------------------------------

    async def resume(self) -> int:
        async with self.store.readers() as s:
            ids = list((await s.execute(select(Letter.id).where(
                Letter.direction == "out", Letter.state == LetterState.SUBMITTED).order_by(Letter.id))).scalars())
        for lid in ids:
            await self.process(lid)
        return len(ids)

    async def process(self, letter_id: int) -> str:
        async with self.store.readers() as s:
            letter = await s.get(Letter, letter_id)
            if letter is None or letter.direction != "out":
                raise UserError(f"ไม่มีหนังสือส่งหมายเลข {letter_id}", f"no outgoing letter {letter_id}")
            if letter.state != LetterState.SUBMITTED:
                return letter.state
            raw_row = await s.get(RawMessage, letter.raw_message_id)
            assert raw_row is not None
            user, unit = letter.submitted_by, letter.unit_code
            rcpts = [str(r) for r in raw_row.envelope_to]
            origin = Origin(raw_row.channel, raw_row.source_key)
            digest = raw_row.sha256
        raw = await asyncio.to_thread(self.store.blobs.get, digest)
        msg = await asyncio.to_thread(parse_message, raw)
        reply_to = msg.from_addr or (user if "@" in user else self.central)
        own = {a.lower() for a in self.store.settings.agency.central_addresses}
        ref = receive_ref(msg.subject)
        proof = clerk_proof(origin, None, msg, self.store.settings, user=user)  # AUTH or local
        if ref is not None and rcpts and all(r.lower() in own for r in rcpts) and proof is not None:
            wanted = read_clerk_route(msg.body_text, self.store.settings.units)
            if wanted is not None:  # the clerk's `ส่ง <unit>` reply to a registered letter
                return await self._route(letter_id, ref, wanted, user=user, reply_to=reply_to,
                                         message_id=msg.message_id)
        command = read_command(msg.subject)
        if command is not None:
            return await self._answer(letter_id, command, unit=unit, user=user, reply_to=reply_to,
                                      message_id=msg.message_id)
        prepared = await asyncio.to_thread(self._prepare, msg, rcpts, user, unit, reply_to,
                                           await self._directory())
        if prepared.plan.refused:
            return await self._refuse(letter_id, prepared, list(prepared.plan.refusals))
        try:
            state = await self.recorder.record(letter_id, prepared)
        except Refused as r:
            return await self._refuse(letter_id, prepared, [r.refusal])
        if state == LetterState.QUEUED:
            self._wake()
        return state

    @property
    def central(self) -> str:
        return self.store.settings.agency.central_addresses[0]

    async def _directory(self) -> dict[str, str]:
        from gateway.store.directory import list_agencies

        async with self.store.readers() as s:
            return {a.central_email.lower(): a.thai_name for a in await list_agencies(s)}

    def _prepare(self, msg: Any, rcpts: Sequence[str], user: str, unit: str, reply_to: str,
                 directory: dict[str, str]) -> Prepared:
        """CPU work outside the write lock: read the PDF's first page, sign the letter."""
        s = self.store.settings
        main, enclosures, xml_att = choose_main_letter(msg.attachments)
        if xml_att is not None:
            enclosures = (*enclosures, xml_att)  # the clerk's own XML travels as an enclosure
        report = inspect_pdf(main.data, now=self.store.clock()) if main is not None else None
        fields = extract_fields(None, report.first_page_text if report and report.readable else None,
                                msg, None)
        printed_text = on_pdf(fields.letter_no)
        printed = parse_letter_number(printed_text) if printed_text else None
        plan = plan_submission(
            subject=msg.subject, recipients=rcpts, directory=directory, main=main,
            enclosures=enclosures, pdf_readable=bool(report and report.readable),
            printed_number=printed, printed_secrecy=on_pdf(fields.secrecy),
            printed_speed=on_pdf(fields.speed), own_addresses=s.agency.central_addresses,
            allow_unlisted=s.outbound.allow_unlisted_recipients,
            max_message_bytes=s.outbound.max_message_bytes,
        )
        signed = None
        if not plan.refused and main is not None and self.signer is not None and not numbers_stamped(s, plan):
            signed = sign_pdf(main.data, self.signer, now=self.store.clock())
        return Prepared(plan, user, unit, reply_to, signed, msg.message_id, on_pdf(fields.letter_date))

    async def _answer(self, letter_id: int, command: Command, *, unit: str, user: str,
                      reply_to: str, message_id: str | None) -> str:
        now = self.store.clock()
        s_ = self.store.settings
        async with self.store.sessions.begin() as s:
            letter = await s.get(Letter, letter_id)
            assert letter is not None
            if letter.state != LetterState.SUBMITTED:
                return letter.state
            ctx: dict[str, Any] = {**agency_context(self.store.settings), "error": command.error_th}
            if command.kind is CommandKind.HELP:
                template = "help"
                ctx["folder"] = s_.outbound.sent_folder
            else:
                template = "numbers"
                ctx.update(book=BOOK_TH[command.book], count=command.count, numbers=[])
                if not command.error_th:
                    year = be_year_of(now)
                    res, numbers = await registers.reserve(
                        s, book_code=command.book.value, count=command.count, now=now,
                        expires_at=now + dt.timedelta(days=s_.books.reservation_days),
                        unit_code=unit, note=f"ขอทางอีเมล ({user})",
                        first_number=s_.books.first_number(command.book.value, year),
                        actor=f"submission:{user}")
                    ctx["numbers"] = [number_text(s_, command.book, n, year) for n in numbers]
                    ctx["expires"] = format_short_date(res.expires_at.astimezone(BANGKOK).date())
                    ctx["tag_example"] = f"[เลขสำรอง {numbers[0]}]"
            letter.state = advance(letter.state, Event.SUBMISSION_ANSWERED)
            letter.subject = f"({template})"
            letter.updated_at = now
            await reply_to_clerk(s, self.store, self.templates, letter, template, ctx, reply_to,
                                 message_id, now)
        self._wake()
        return LetterState.ANSWERED

    async def _route(self, letter_id: int, ref: tuple[int, int], wanted: ClerkRoute, *, user: str,
                     reply_to: str, message_id: str | None) -> str:
        """Forward the registered letter `[รับ n/ปี]` to the units named, and say what was done."""
        from gateway.forwarding.units import Units

        now = self.store.clock()
        number, year = ref
        async with self.store.sessions.begin() as s:
            letter = await s.get(Letter, letter_id)
            assert letter is not None
            if letter.state != LetterState.SUBMITTED:
                return letter.state
            book = await registers.get_book(s, "receive")
            target = (await s.execute(select(Letter).join(RegisterEntry, RegisterEntry.letter_id == Letter.id)
                                      .where(RegisterEntry.book_id == book.id, RegisterEntry.year == year,
                                             RegisterEntry.number == number,
                                             RegisterEntry.status == "registered"))).scalar_one_or_none()
            names = {u.code: u.name_th for u in self.store.settings.units}
            done: list[str] = []
            problems = [f"ไม่รู้จักหน่วยงาน: {', '.join(wanted.unknown)}"] if wanted.unknown else []
            if target is None or target.state != LetterState.REGISTERED:
                problems.append(f"ไม่มีหนังสือเลขรับ {number}/{year} ที่ลงทะเบียนแล้ว")
            elif wanted.units:
                made = await Units(self.store, self.templates).forward(
                    s, target, wanted.units, via="reply", by=f"clerk:{user}", now=now)
                done = [names.get(f.unit_code, f.unit_code) for f in made]
            letter.state = advance(letter.state, Event.SUBMISSION_ANSWERED)
            letter.subject = f"(ส่งต่อ {number}/{year})"
            letter.updated_at = now
            ctx = {**agency_context(self.store.settings), "number": number, "year": year, "done": done,
                   "already": [names.get(c, c) for c in wanted.units if names.get(c, c) not in done],
                   "problems": problems}
            await reply_to_clerk(s, self.store, self.templates, letter, "routed", ctx, reply_to,
                                 message_id, now)
        self._wake()
        return LetterState.ANSWERED

    async def _refuse(self, letter_id: int, prepared: Prepared, refusals: list[Refusal]) -> str:
        now = self.store.clock()
        async with self.store.sessions.begin() as s:
            letter = await s.get(Letter, letter_id)
            assert letter is not None
            if letter.state != LetterState.SUBMITTED:
                return letter.state
            letter.state = advance(letter.state, Event.SUBMISSION_REFUSED)
            letter.subject = prepared.plan.options.subject
            letter.problems = [{"code": r.code, "th": r.reason_th, "en": r.reason_en} for r in refusals]
            letter.review_reason = " / ".join(r.reason_th for r in refusals)
            letter.updated_at = now
            await audit.append(s, now=now, actor=f"submission:{prepared.user}", action="letter.refused",
                               subject_type="letter", subject_id=letter_id,
                               details={"reasons": [r.code for r in refusals]})
            ctx = {**agency_context(self.store.settings), "subject": prepared.plan.options.subject,
                   "reasons": [r.reason_th for r in refusals]}
            await reply_to_clerk(s, self.store, self.templates, letter, "refused", ctx, prepared.reply_to,
                                 prepared.message_id, now)
        self._wake()
        return LetterState.REFUSED

    async def on_parked(self, s: AsyncSession, item_id: int, now: dt.datetime) -> None:
        """The sender gave up on a letter's recipient (permanent or expired): tell the clerk."""
        item = await s.get(OutboxItem, item_id)
        if item is None or item.kind != "letter":
            return
        rec = (await s.execute(select(LetterRecipient).where(LetterRecipient.outbox_id == item_id))
               ).scalar_one_or_none()
        if rec is not None:
            await enqueue_failure_report(s, self.store, self.templates, rec=rec, error=item.last_error,
                                         now=now, key=f"failed:{item_id}:{item.attempts}:{item.status}")

    async def on_in_doubt(self, s: AsyncSession, letter_id: int, rows: Sequence[OutboxItem],
                          now: dt.datetime) -> None:
        """A letter's sending has settled with recipients in doubt ([outbox] uncertain = "ask"):
        one mail to the clerk lists them all, with the commands that resolve them."""
        await enqueue_in_doubt_report(s, self.store, self.templates, letter_id=letter_id, rows=rows, now=now)

    def _wake(self) -> None:
        if self.wake_sender is not None:
            self.wake_sender.set()

    async def compose_for(self, recipe: dict[str, Any]) -> bytes:
        """One recipient's mail, composed at delivery (gateway/outbound/mail.py): the sender's
        composer for the outbox rows `record` wrote."""
        return await self.mails.compose_for(recipe)

async def enqueue_failure_report(s: AsyncSession, store: Store, templates: jinja2.Environment, *,
                                 rec: LetterRecipient, error: str, now: dt.datetime, key: str) -> None:
    """A mail to the central mailbox: this recipient did not get this letter, and why."""
    letter = await s.get(Letter, rec.letter_id)
    if letter is None:
        return
    a = store.settings.agency
    ctx = {"agency": a.name_th, "letter_no": letter.letter_no, "subject": letter.subject,
           "recipient": rec.name_th or rec.address, "address": rec.address, "error": error,
           "when": format_short_datetime(now), "outbox_id": rec.outbox_id}
    mail = agency_mail(store.settings, "delivery-failed", ctx, to=[a.central_addresses[0]], key=key)
    await queue_mail(s, store, templates, mail, kind="delivery-failed", now=now, letter_id=letter.id)


async def enqueue_in_doubt_report(s: AsyncSession, store: Store, templates: jinja2.Environment, *,
                                  letter_id: int, rows: Sequence[OutboxItem], now: dt.datetime) -> None:
    """One mail per letter and set of rows in doubt (the key names the set: asked again after a
    restart, the same set is not mailed twice)."""
    from gateway.trust.secrecy import may_mail

    letter = await s.get(Letter, letter_id)
    if letter is None or not rows:
        return
    ids = sorted(r.id for r in rows)
    names = {r.outbox_id: r.name_th for r in (await s.execute(select(LetterRecipient).where(
        LetterRecipient.letter_id == letter_id))).scalars()}
    a = store.settings.agency
    ctx = {"agency": a.name_th, "letter_no": letter.letter_no, "letter_id": letter_id,
           "subject": letter.subject if may_mail(letter) else "", "when": format_short_datetime(now),
           "rows": [{"id": r.id, "address": r.recipient, "name": names.get(r.id) or ""} for r in rows]}
    key = f"in-doubt:{letter_id}:{hashlib.sha256(','.join(map(str, ids)).encode()).hexdigest()[:20]}"
    if (await s.execute(select(OutboxItem.id).where(OutboxItem.dedupe_key == key))).first() is not None:
        return  # this set was already told (asked again after a restart)
    mail = agency_mail(store.settings, "delivery-uncertain", ctx, to=[a.central_addresses[0]], key=key)
    await queue_mail(s, store, templates, mail, kind="delivery-uncertain", now=now, letter_id=letter_id)


def on_pdf(f: Any) -> Any:
    """A field's value when it was read from the PDF itself (what the letter prints)."""
    return f.value if f is not None and f.source is FieldSource.PDF else None


def signer_from_settings(store: Store) -> SignerConfig | None:
    sg = store.settings.signing
    if sg.pkcs12_file is None:
        return None
    passphrase = secret(sg.passphrase_env, what="รหัสผ่านใบรับรอง", what_en="certificate passphrase").encode() if sg.passphrase_env else None
    visible = VisibleSignature(sg.signer_name, sg.position) if sg.visible else None
    return SignerConfig(pkcs12=(store.settings.base_dir / sg.pkcs12_file).read_bytes(),
                        passphrase=passphrase, timestamp_url=sg.timestamp_url or None,
                        reason=sg.reason, visible=visible)


def submission_message(*, pdfs: Sequence[Path], to: Sequence[str], subject: str, sender: str,
                       now: dt.datetime) -> bytes:
    """The mail `saraban-gateway send` submits: what a clerk's mail client would have sent."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg["Date"] = formatdate(now.timestamp(), localtime=False)
    msg["Message-ID"] = make_msgid(domain=sender.partition("@")[2] or "saraban.invalid")
    msg.set_content("ส่งจากคำสั่ง saraban-gateway send\n", charset="utf-8")
    for p in pdfs:
        data = p.read_bytes()
        maintype, subtype = ("application", "pdf") if data[:5] == b"%PDF-" else ("application", "octet-stream")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=p.name)
    return msg.as_bytes(policy=wire_policy(sender, *to))


__all__ = ["Outbound", "signer_from_settings", "submission_message"]
