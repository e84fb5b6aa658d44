"""Outgoing letters, the flow: submission → read → plan → number → name, sign → outbox per recipient.

A clerk's mail arrives through the submission server (or `saraban-gateway send`)
and is kept raw as an "out" letter in state ``submitted`` before the client is
answered. `process` then reads it and either answers a mail command (วิธีใช้,
ขอเลข), refuses it with Thai reasons (nothing is sent, no number is used), or,
in one transaction, takes the number from the right send book (or consumes the
named reservation), writes the send-register line, the files under their
Appendix 7 names, one recipient row and one outbox row per recipient agency,
and the clerk's confirmation. The per-recipient mails are composed at delivery
from the stored letter (`compose_for`), deterministically, so a retry sends the
same bytes with the same Message-ID.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

import jinja2
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.config import secret
from gateway.core.compose import FileToAttach, Mail, compose
from gateway.core.extract import choose_main_letter, extract_fields
from gateway.core.parse import parse_message
from gateway.errors import UserError
from gateway.forwarding.routing import ClerkRoute, read_clerk_route, receive_ref
from gateway.letter import FieldSource, Speed
from gateway.outbound.bounces import verp_address
from gateway.outbound.rules import (
    BOOK_TH,
    SENT_HEADER,
    Book,
    Command,
    CommandKind,
    Refusal,
    SendPlan,
    extension_of,
    file_name,
    letter_number,
    number_matches,
    number_part,
    plan_submission,
    read_command,
)
from gateway.outbound.sender import agency_mail, queue_mail
from gateway.pdf.check import inspect_pdf
from gateway.pdf.sign import SignerConfig, VisibleSignature, sign_pdf
from gateway.pdf.stamp import stamp_text
from gateway.state import Event, LetterState, advance
from gateway.thai import (
    BANGKOK,
    be_year_of,
    format_letter_date,
    format_short_date,
    format_short_datetime,
    letter_no_key,
    parse_letter_number,
    to_thai_digits,
)
from gateway.xmlletter.build import build_letter_xml
from gateway.xmlletter.model import OutgoingXmlLetter, Party
from gateway.xmlletter.resources import XmlResources, default_resources
from gateway.xmlletter.validate import validate_xml
from store import audit, outbox, registers
from store.handle import Store
from store.letters import ensure_blob, put_blobs, record_raw
from store.registers import EntryFields
from store.tables import (
    Letter,
    LetterFile,
    LetterRecipient,
    OutboxItem,
    RawMessage,
    RegisterEntry,
    Reservation,
)

log = logging.getLogger(__name__)

SPEED_CODE = {None: "001", Speed.NORMAL: "001", Speed.URGENT: "002", Speed.VERY_URGENT: "003",
              Speed.MOST_URGENT: "004"}


class _Refuse(Exception):
    """Raised inside the numbering transaction to roll it back: the number is not used."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.reason_en)
        self.refusal = refusal


@dataclass(frozen=True)
class _Prepared:
    """What was read from the submission outside the write transaction."""

    plan: SendPlan
    user: str
    unit: str
    reply_to: str
    signed: bytes | None  # the main letter after signing (None: not signed)
    message_id: str | None
    printed_date: dt.date | None = None  # ลงวันที่ as page 1 prints it


@dataclass
class Outbound:
    store: Store
    templates: jinja2.Environment
    xml_resources: XmlResources
    signer: SignerConfig | None
    wake_sender: asyncio.Event | None = None
    _mail_cache: dict[int, _LetterMail] = field(default_factory=dict)

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
            digest = raw_row.sha256
        raw = await asyncio.to_thread(self.store.blobs.get, digest)
        msg = await asyncio.to_thread(parse_message, raw)
        reply_to = msg.from_addr or (user if "@" in user else self.central)
        own = {a.lower() for a in self.store.settings.agency.central_addresses}
        ref = receive_ref(msg.subject)
        if ref is not None and rcpts and all(r.lower() in own for r in rcpts):
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
            return await self._record(letter_id, prepared)
        except _Refuse as r:
            return await self._refuse(letter_id, prepared, [r.refusal])

    @property
    def central(self) -> str:
        return self.store.settings.agency.central_addresses[0]

    async def _directory(self) -> dict[str, str]:
        from store.directory import list_agencies

        async with self.store.readers() as s:
            return {a.central_email.lower(): a.thai_name for a in await list_agencies(s)}

    def _prepare(self, msg: Any, rcpts: Sequence[str], user: str, unit: str, reply_to: str,
                 directory: dict[str, str]) -> _Prepared:
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
        if not plan.refused and main is not None and self.signer is not None and not self._numbers_stamped(plan):
            signed = sign_pdf(main.data, self.signer, now=self.store.clock())
        return _Prepared(plan, user, unit, reply_to, signed, msg.message_id, on_pdf(fields.letter_date))

    async def _answer(self, letter_id: int, command: Command, *, unit: str, user: str,
                      reply_to: str, message_id: str | None) -> str:
        now = self.store.clock()
        s_ = self.store.settings
        async with self.store.sessions.begin() as s:
            letter = await s.get(Letter, letter_id)
            assert letter is not None
            if letter.state != LetterState.SUBMITTED:
                return letter.state
            ctx: dict[str, Any] = {**self._agency_context(), "error": command.error_th}
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
                    ctx["numbers"] = [self._number_text(command.book, n, year) for n in numbers]
                    ctx["expires"] = format_short_date(res.expires_at.astimezone(BANGKOK).date())
                    ctx["tag_example"] = f"[เลขสำรอง {numbers[0]}]"
            letter.state = advance(letter.state, Event.SUBMISSION_ANSWERED)
            letter.subject = f"({template})"
            letter.updated_at = now
            await self._reply(s, letter, template, ctx, reply_to, message_id, now)
        self._wake()
        return LetterState.ANSWERED

    def _numbers_stamped(self, plan: SendPlan) -> bool:
        return self.store.settings.outbound.stamp_number and plan.printed_number is None

    def _number_onto(self, pdf: bytes, book: Book, number: int, year: int) -> bytes:
        s = self.store.settings
        text = number_part(book, number=number, year=year)
        if s.agency.thai_digits:
            text = to_thai_digits(text)
        x, y = s.outbound.number_position
        out = stamp_text(pdf, text, x=x, y=y,
                         font_path=str(s.intake.stamp_font) if s.intake.stamp_font else None)
        return sign_pdf(out, self.signer, now=self.store.clock()) if self.signer is not None else out

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
            ctx = {**self._agency_context(), "number": number, "year": year, "done": done,
                   "already": [names.get(c, c) for c in wanted.units if names.get(c, c) not in done],
                   "problems": problems}
            await self._reply(s, letter, "routed", ctx, reply_to, message_id, now)
        self._wake()
        return LetterState.ANSWERED

    def _number_text(self, book: Book, number: int, year: int) -> str:
        a = self.store.settings.agency
        return letter_number(book, code=a.letter_code, number=number, year=year)

    def _agency_context(self) -> dict[str, Any]:
        a = self.store.settings.agency
        return {"agency": a.name_th, "unit": a.unit_name_th, "contact": a.contact,
                "central_address": a.central_addresses[0]}

    async def _reply(self, s: AsyncSession, letter: Letter, template: str, ctx: dict[str, Any],
                     to: str, message_id: str | None, now: dt.datetime, *,
                     attachments: Sequence[FileToAttach] = (), headers: dict[str, str] | None = None) -> None:
        mail = agency_mail(self.store.settings, template, ctx, to=[to], key=f"{template}:{letter.id}",
                           in_reply_to=message_id, attachments=attachments, extra_headers=headers or {})
        await queue_mail(s, self.store, self.templates, mail, kind=template, now=now, letter_id=letter.id)

    async def _refuse(self, letter_id: int, prepared: _Prepared, refusals: list[Refusal]) -> str:
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
            ctx = {**self._agency_context(), "subject": prepared.plan.options.subject,
                   "reasons": [r.reason_th for r in refusals]}
            await self._reply(s, letter, "refused", ctx, prepared.reply_to, prepared.message_id, now)
        self._wake()
        return LetterState.REFUSED

    async def _take_number(self, s: AsyncSession, prepared: _Prepared, fields: EntryFields,
                           letter_id: int, now: dt.datetime) -> RegisterEntry:
        plan = prepared.plan
        opts = plan.options
        book = opts.book
        year_first = self.store.settings.books.first_number(book.value, be_year_of(now))
        wanted = opts.reserved_number or (opts.letter_no.number if opts.letter_no else None)
        actor = f"submission:{prepared.user}"
        if wanted is None:
            return await registers.allocate(s, book_code=book.value, now=now, fields=fields,
                                            first_number=year_first, letter_id=letter_id, actor=actor)
        year = opts.letter_no.year if opts.letter_no and opts.letter_no.year else be_year_of(now)
        book_row = await registers.get_book(s, book.value)
        entry = (await s.execute(select(RegisterEntry).where(
            RegisterEntry.book_id == book_row.id, RegisterEntry.year == year,
            RegisterEntry.number == wanted))).scalar_one_or_none()
        label = f"{BOOK_TH[book]} {wanted}/{year}"
        if entry is None or entry.status != "reserved":
            state = "ยังไม่ได้ออก" if entry is None else registers.STATUS_TH.get(entry.status, entry.status)
            raise _Refuse(Refusal("reservation", f"เลข{label} ไม่ใช่เลขสำรองที่ใช้ได้ (สถานะ: {state}) "
                                  "ขอเลขใหม่ด้วยอีเมลหัวเรื่อง “ขอเลข ส่ง”",
                                  f"{book.value} {wanted}/{year} is not an open reserved number"))
        res = await s.get(Reservation, entry.reservation_id) if entry.reservation_id else None
        owner = entry.unit_code or (res.unit_code if res else "")
        if owner and owner != prepared.unit:
            raise _Refuse(Refusal("reservation_owner", f"เลข{label} สำรองไว้ให้หน่วยงานอื่น ({owner})",
                                  f"{book.value} {wanted}/{year} is reserved for unit {owner}"))
        return await registers.use_reserved(s, book_code=book.value, number=wanted, year=year, now=now,
                                            fields=fields, letter_id=letter_id, actor=actor)

    async def _record(self, letter_id: int, prepared: _Prepared) -> str:
        plan = prepared.plan
        opts = plan.options
        settings = self.store.settings
        a = settings.agency
        main = plan.main
        assert main is not None
        signed = prepared.signed
        # Files go to disk before the write transaction (outside the database's write lock).
        datas = [main.data, *([signed] if signed else []), *(e.data for e in plan.enclosures)]
        await put_blobs(self.store.blobs, *datas)
        now = self.store.clock()
        names_th = [r.name_th or r.address for r in plan.recipients]
        to_text = names_th[0] if len(names_th) == 1 else f"{names_th[0]} และอีก {len(names_th) - 1} หน่วยงาน"
        async with self.store.sessions.begin() as s:
            letter = await s.get(Letter, letter_id)
            assert letter is not None
            if letter.state != LetterState.SUBMITTED:
                return letter.state
            unit_name = ""
            if prepared.unit and (u := settings.unit(prepared.unit)):
                unit_name = u.name_th
            fields = EntryFields(
                letter_date=prepared.printed_date or now.astimezone(BANGKOK).date(),
                sender=a.name_th, recipient=to_text,
                subject=opts.subject, speed=plan.speed.value if plan.speed else "",
                channel=letter.channel, unit_code=prepared.unit,
                action=f"ส่งทางไปรษณีย์อิเล็กทรอนิกส์ {len(plan.recipients)} หน่วยงาน",
                remarks=" / ".join(plan.warnings),
            )
            entry = await self._take_number(s, prepared, fields, letter_id, now)
            book, number, year = opts.book, entry.number, entry.year
            if not number_matches(plan.printed_number, book, number, a.letter_code, year):
                assert plan.printed_number is not None
                raise _Refuse(Refusal(
                    "number_mismatch",
                    f"เลขที่พิมพ์ในหนังสือ ({plan.printed_number.normalized}) ไม่ตรงกับเลขทะเบียน"
                    f" ({self._number_text(book, number, year)}) ใช้ [เลขสำรอง …] หรือเว้นเลขว่างไว้",
                    "the number printed on the letter differs from the register's"))
            no = self._number_text(book, number, year)
            entry.letter_no = no
            if self._numbers_stamped(plan):
                # The letter left its number blank: write it on page 1, then sign what carries it.
                signed = await asyncio.to_thread(self._number_onto, main.data, book, number, year)
            form = {Book.SEND: settings.outbound.file_name, Book.CIRCULAR: settings.outbound.circular_file_name,
                    Book.ORDER: settings.outbound.order_file_name}[book]
            main_name = file_name(form, year=year, code=a.latin_code, number=number)
            letter.letter_no = no
            letter.letter_no_norm = letter_no_key(no)
            letter.letter_date = fields.letter_date
            letter.sender = a.name_th
            letter.recipient = to_text
            letter.subject = opts.subject
            letter.speed = fields.speed
            letter.state = advance(letter.state, Event.SUBMISSION_QUEUED)
            letter.updated_at = now
            is_signed = signed is not None and self.signer is not None
            files = [("main", main.filename or main.safe_name, main_name, main.content_type, main.data)]
            if signed:
                files.append(("sent", main_name, main_name, "application/pdf", signed))
            for k, e in enumerate(plan.enclosures, start=1):
                files.append(("enclosure", e.filename or e.safe_name,
                              file_name(form, year=year, code=a.latin_code, number=number, enclosure=k,
                                        extension=extension_of(e)), e.content_type, e.data))
            for pos, (role, original, safe, ctype, data) in enumerate(files):
                digest = await ensure_blob(s, self.store.blobs, data, now, hashlib.sha256(data).hexdigest())
                s.add(LetterFile(letter_id=letter_id, role=role, position=pos, filename=original,
                                 safe_name=safe, media_type=ctype, sha256=digest, size=len(data)))
            letter.file_name, letter.signed = main_name, is_signed
            letter.cc_unit = opts.cc_unit or settings.outbound.cc_owning_unit
            lifetime = dt.timedelta(days=settings.outbound.lifetime_days)
            for r in plan.recipients:
                token = secrets.token_hex(10)
                q = await outbox.enqueue_recipe(
                    s, kind="letter", recipient=r.address, dedupe_key=f"letter:{letter_id}:{r.address}",
                    recipe={"letter_id": letter_id, "to": r.address, "token": token},
                    envelope_from=verp_address(a.central_addresses[0], token), now=now,
                    letter_id=letter_id, lifetime=lifetime)
                s.add(LetterRecipient(letter_id=letter_id, address=r.address, name_th=r.name_th,
                                      token=token, outbox_id=q.item_id, state="queued", error="",
                                      ack_number="", ack_source=""))
            unit_cfg = settings.unit(prepared.unit) if prepared.unit else None
            if (opts.cc_unit or settings.outbound.cc_owning_unit) and unit_cfg is not None:
                # One copy for the owning unit (seed 003: Cc to the unit), not one per agency.
                for address in unit_cfg.emails:
                    await outbox.enqueue_recipe(
                        s, kind="letter-copy", recipient=address, dedupe_key=f"letter-copy:{letter_id}:{address}",
                        recipe={"letter_id": letter_id, "to": address, "token": secrets.token_hex(10),
                                "name": unit_cfg.name_th},
                        envelope_from=a.central_addresses[0], now=now, letter_id=letter_id, lifetime=lifetime)
            await s.flush()
            await audit.append(s, now=now, actor=f"submission:{prepared.user}", action="letter.queued",
                               subject_type="letter", subject_id=letter_id,
                               details={"number": f"{book.value}/{year}/{number}", "letter_no": no,
                                        "recipients": len(plan.recipients), "signed": is_signed})
            ctx = {**self._agency_context(), "letter_no": no, "subject": opts.subject,
                   "count": len(plan.recipients), "recipients": names_th, "file_name": main_name,
                   "signed": is_signed, "warnings": list(plan.warnings), "unit_name": unit_name}
            # The confirmation carries the letter as sent: through IMAP it lands in ส่งแล้ว.
            sent_file = FileToAttach(main_name, "application/pdf", signed or main.data)
            await self._reply(s, letter, "sent-confirm", ctx, prepared.reply_to, prepared.message_id, now,
                              attachments=(sent_file,), headers={SENT_HEADER: str(letter_id)})
        self._wake()
        return LetterState.QUEUED

    async def on_parked(self, s: AsyncSession, item_id: int, now: dt.datetime) -> None:
        """The sender gave up on a letter's recipient (permanent, expired or uncertain): tell the clerk."""
        item = await s.get(OutboxItem, item_id)
        if item is None or item.kind != "letter":
            return
        rec = (await s.execute(select(LetterRecipient).where(LetterRecipient.outbox_id == item_id))
               ).scalar_one_or_none()
        if rec is not None:
            await enqueue_failure_report(s, self.store, self.templates, rec=rec, error=item.last_error,
                                         now=now, key=f"failed:{item_id}:{item.attempts}:{item.status}")

    def _wake(self) -> None:
        if self.wake_sender is not None:
            self.wake_sender.set()

    # -- composing one recipient's mail (at delivery) ----------------------------------------

    async def compose_for(self, recipe: dict[str, Any]) -> bytes:
        """The mail for one recipient, the same bytes every time it is asked for."""
        letter_id = int(recipe["letter_id"])
        lm = self._mail_cache.get(letter_id)
        if lm is None:
            lm = await self._load_letter_mail(letter_id)
            if len(self._mail_cache) > 8:
                self._mail_cache.pop(next(iter(self._mail_cache)))
            self._mail_cache[letter_id] = lm
        return await asyncio.to_thread(self._compose_one, lm, str(recipe["to"]), str(recipe["token"]),
                                       str(recipe.get("name", "")))

    async def _load_letter_mail(self, letter_id: int) -> _LetterMail:
        async with self.store.readers() as s:
            letter = await s.get(Letter, letter_id)
            assert letter is not None
            files = list((await s.execute(select(LetterFile).where(LetterFile.letter_id == letter_id)
                                          .order_by(LetterFile.position))).scalars())
            names = {r.address: r.name_th for r in (await s.execute(
                select(LetterRecipient).where(LetterRecipient.letter_id == letter_id))).scalars()}
            entry = await registers.entry_of(s, letter_id)
            assert entry is not None  # a queued letter is in its send register
        sent = [f for f in files if f.role in ("sent", "enclosure")]
        if not any(f.role == "sent" for f in files):
            sent = [f for f in files if f.role in ("main", "enclosure")]
        def encoded(f: LetterFile) -> FileToAttach:
            return FileToAttach(f.safe_name, f.media_type, self.store.blobs.get(f.sha256)).with_encoding()

        # Encoded once per letter: every recipient's mail splices the same base64 text.
        attachments = tuple([await asyncio.to_thread(encoded, f) for f in sent])
        registered_at = entry.registered_at
        return _LetterMail(letter_id=letter_id, letter_no=letter.letter_no,
                           letter_date=letter.letter_date or registered_at.astimezone(BANGKOK).date(),
                           subject=letter.subject, speed=letter.speed, registered_at=registered_at,
                           attachments=attachments, names=names,
                           cc_unit=letter.cc_unit, unit=letter.unit_code)

    def _compose_one(self, lm: _LetterMail, to: str, token: str, name: str = "") -> bytes:
        s = self.store.settings
        a = s.agency
        name = lm.names.get(to, "") or name
        ctx = {**self._agency_context(), "addressee": name or "หัวหน้าส่วนราชการ",
               "letter_no": lm.letter_no, "subject": lm.subject, "speed": lm.speed,
               "letter_date": format_letter_date(lm.letter_date, thai_digits=a.thai_digits),
               "files": [f.filename for f in lm.attachments],
               "subject_rule": s.outbound.subject_rule}
        dialect = s.outbound.dialect_for(to)
        xml = build_letter_xml(OutgoingXmlLetter(
            letter_id=lm.letter_no, correspondence_date=lm.letter_date, subject=lm.subject,
            speed_code=SPEED_CODE.get(Speed(lm.speed) if lm.speed else None, "001"),
            sender=Party(department_name=a.name_th, department_id=a.letter_code),
            receiver=Party(department_name=name or to), send_date=lm.registered_at,
            main_letter=None), dialect=dialect)  # type: ignore[arg-type]
        if dialect not in lm.validated:  # the schema check is per letter and dialect
            report = validate_xml(xml, resources=self.xml_resources)
            if not report.valid:
                log.error("letter %s XML (%s) does not validate: %s", lm.letter_id, dialect, report.issues)
            lm.validated.add(dialect)
        cc: list[str] = []
        if lm.cc_unit and lm.unit and (u := s.unit(lm.unit)) and to not in u.emails:
            cc = list(u.emails)
        mail = Mail(template="letter", context=ctx, from_addr=a.central_addresses[0], from_name=a.name_th,
                    to=[to], key=f"letter:{lm.letter_id}:{to}:{token}",
                    attachments=(*lm.attachments, FileToAttach(
                        f"{Path(lm.attachments[0].filename).stem}.xml", "application/xml", xml)),
                    auto=False, extra_headers={"X-Saraban-Letter-No": lm.letter_no,
                                               **({"Cc": ", ".join(cc)} if cc else {})},
                    boundary_seed=token)
        return compose(self.templates, mail, now=lm.registered_at)


@dataclass
class _LetterMail:
    letter_id: int
    letter_no: str
    letter_date: dt.date
    subject: str
    speed: str
    registered_at: dt.datetime
    attachments: tuple[FileToAttach, ...]
    names: dict[str, str]
    cc_unit: bool
    unit: str
    validated: set[str] = field(default_factory=set)


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


def on_pdf(f: Any) -> Any:
    """A field's value when it was read from the PDF itself (what the letter prints)."""
    return f.value if f is not None and f.source is FieldSource.PDF else None


def signer_from_settings(store: Store) -> SignerConfig | None:
    sg = store.settings.signing
    if sg.pkcs12_file is None:
        return None
    passphrase = secret(sg.passphrase_env, what="รหัสผ่านใบรับรอง").encode() if sg.passphrase_env else None
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
    return msg.as_bytes(policy=SMTP)


__all__ = ["Outbound", "signer_from_settings", "submission_message"]
