"""Outgoing letters, the record: one transaction takes the send number and writes what it means.

In one transaction (durability rule 3): the number from the right send book, or the named
reservation (open, and reserved for the clerk's unit); the send-register line; the files
under their Appendix 7 names (on a letter that left its number blank, the number written onto
page 1, then signed, when configured); one recipient row and one outbox row per recipient
agency, one copy for the owning unit; and the clerk's confirmation. A number printed on the
letter that is not the register's refuses the letter, and the rollback returns the number.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

import jinja2
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.config import Settings
from gateway.core.compose import FileToAttach
from gateway.outbound.bounces import verp_address
from gateway.outbound.mail import agency_context, reply_to_clerk
from gateway.outbound.rules import (
    BOOK_TH,
    SENT_HEADER,
    Book,
    Refusal,
    SendPlan,
    extension_of,
    file_name,
    letter_number,
    number_matches,
    number_part,
)
from gateway.pdf.sign import SignerConfig, sign_pdf
from gateway.pdf.stamp import stamp_text
from gateway.state import Event, LetterState, advance
from gateway.store import audit, outbox, registers
from gateway.store.handle import Store
from gateway.store.letters import ensure_blob, put_blobs
from gateway.store.registers import EntryFields
from gateway.store.tables import Letter, LetterFile, LetterRecipient, RegisterEntry, Reservation
from gateway.thai import BANGKOK, be_year_of, letter_no_key, to_thai_digits


class Refused(Exception):
    """Raised inside the numbering transaction to roll it back: the number is not used."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.reason_en)
        self.refusal = refusal


@dataclass(frozen=True)
class Prepared:
    """What was read from the submission outside the write transaction."""

    plan: SendPlan
    user: str
    unit: str
    reply_to: str
    signed: bytes | None  # the main letter after signing (None: not signed)
    message_id: str | None
    printed_date: dt.date | None = None  # ลงวันที่ as page 1 prints it


def numbers_stamped(settings: Settings, plan: SendPlan) -> bool:
    """The letter left its number blank and the agency writes it onto page 1."""
    return settings.outbound.stamp_number and plan.printed_number is None


def number_text(settings: Settings, book: Book, number: int, year: int) -> str:
    return letter_number(book, code=settings.agency.letter_code, number=number, year=year)


@dataclass
class Recorder:
    store: Store
    templates: jinja2.Environment
    signer: SignerConfig | None

    async def record(self, letter_id: int, prepared: Prepared) -> str:
        """Queue the letter (its state: `queued`); raises Refused, having written nothing."""
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
                raise Refused(Refusal(
                    "number_mismatch",
                    f"เลขที่พิมพ์ในหนังสือ ({plan.printed_number.normalized}) ไม่ตรงกับเลขทะเบียน"
                    f" ({number_text(settings, book, number, year)}) ใช้ [เลขสำรอง …] หรือเว้นเลขว่างไว้",
                    "the number printed on the letter differs from the register's"))
            no = number_text(settings, book, number, year)
            entry.letter_no = no
            if numbers_stamped(settings, plan):
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
            lifetime = dt.timedelta(hours=settings.outbox_lifetime_hours)
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
            ctx = {**agency_context(settings), "letter_no": no, "subject": opts.subject,
                   "count": len(plan.recipients), "recipients": names_th, "file_name": main_name,
                   "signed": is_signed, "warnings": list(plan.warnings), "unit_name": unit_name}
            # The confirmation carries the letter as sent: through IMAP it lands in ส่งแล้ว.
            sent_file = FileToAttach(main_name, "application/pdf", signed or main.data)
            await reply_to_clerk(s, self.store, self.templates, letter, "sent-confirm", ctx, prepared.reply_to,
                                 prepared.message_id, now, attachments=(sent_file,),
                                 headers={SENT_HEADER: str(letter_id)})
        return LetterState.QUEUED

    async def _take_number(self, s: AsyncSession, prepared: Prepared, fields: EntryFields,
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
            raise Refused(Refusal("reservation", f"เลข{label} ไม่ใช่เลขสำรองที่ใช้ได้ (สถานะ: {state}) "
                                  "ขอเลขใหม่ด้วยอีเมลหัวเรื่อง “ขอเลข ส่ง”",
                                  f"{book.value} {wanted}/{year} is not an open reserved number"))
        res = await s.get(Reservation, entry.reservation_id) if entry.reservation_id else None
        owner = entry.unit_code or (res.unit_code if res else "")
        if owner and owner != prepared.unit:
            raise Refused(Refusal("reservation_owner", f"เลข{label} สำรองไว้ให้หน่วยงานอื่น ({owner})",
                                  f"{book.value} {wanted}/{year} is reserved for unit {owner}"))
        return await registers.use_reserved(s, book_code=book.value, number=wanted, year=year, now=now,
                                            fields=fields, letter_id=letter_id, actor=actor)


    def _number_onto(self, pdf: bytes, book: Book, number: int, year: int) -> bytes:
        s = self.store.settings
        text = number_part(book, number=number, year=year)
        if s.agency.thai_digits:
            text = to_thai_digits(text)
        x, y = s.outbound.number_position
        out = stamp_text(pdf, text, x=x, y=y,
                         font_path=str(s.intake.stamp_font) if s.intake.stamp_font else None)
        return sign_pdf(out, self.signer, now=self.store.clock()) if self.signer is not None else out

