"""Recording a decided letter, in the transaction that decides it: its fields and files, a
link to its first registration when it is the same letter again, and for a letter to
register the next receive number and the register entry (durability rule 3: one letter, one
number, one transaction) with the acknowledgement queued beside it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.core.classify import (
    Decision,
    Outcome,
    Reading,
    ack_address,
    auth_remark,
    damaged_fields,
    sender_flags,
)
from gateway.core.extract.ocr import ocr_number_in_directory
from gateway.core.thaifix import damage
from gateway.inbound.context import Inbound
from gateway.inbound.feedback import Feedback
from gateway.letter import Attachment, FieldSource, LetterFields, ParsedMessage, Problem, Speed
from gateway.outbound.returns import Returns
from gateway.state import NUMBERED, Event, LetterState, advance
from gateway.store import audit, leases, registers
from gateway.store.letters import ensure_blob, know_blob
from gateway.store.registers import EntryFields
from gateway.store.tables import Agency, Letter, LetterFile, RegisterEntry
from gateway.thai import be_year_of, letter_no_key
from gateway.trust import SenderAuth

NEW_LETTERS = "saraban_new_letters"  # session.info: {letter id: Letter} created in this transaction
NUMBERED_NOW = "saraban_numbered"  # session.info: {letter id: (receive number, registered at, year)}
REJECT_AS_INVALID = frozenset({"xml_invalid", "xml_unreadable"})  # InvalidLetterNotifier


def _value(f: Any) -> Any:
    return None if f is None else f.value


def _text(f: Any) -> str:
    v = _value(f)
    return "" if v is None else str(v)


def _clean(f: Any) -> str:
    """The field's text, or "" for a value holding stray characters (#19): never stored as
    it is; `damaged_fields` names it to the clerk."""
    text = _text(f)
    return "" if damage(text) else text


def apply_fields(letter: Letter, fields: LetterFields, msg: ParsedMessage) -> None:
    letter.letter_no = _clean(fields.letter_no)
    letter.letter_no_norm = letter_no_key(letter.letter_no) if letter.letter_no else ""
    letter.letter_date = _value(fields.letter_date)
    letter.sender = _clean(fields.sender)
    letter.recipient = _clean(fields.recipient)
    letter.subject = _clean(fields.subject) or ("" if damage(msg.subject) else msg.subject)
    letter.salutation = _clean(fields.salutation)
    letter.speed = _text(fields.speed)
    letter.secrecy = _text(fields.secrecy)
    letter.field_sources = {
        name: str(getattr(fields, name).source)
        for name in ("letter_no", "letter_date", "sender", "recipient", "subject",
                     "salutation", "speed", "secrecy")
        if getattr(fields, name) is not None
    }
    if not letter.speed:  # the register's speed column is never blank (#19)
        letter.speed = str(Speed.NORMAL)
        letter.field_sources["speed"] = str(FieldSource.DEFAULT)
    if not letter.sender_address:
        letter.sender_address = msg.from_addr or ""


def _reading_facts(letter: Letter, reading: Reading, flags: tuple[str, ...],
                   auth: SenderAuth | None) -> None:
    """What reading found beside the fields, kept with the letter for the clerk and register."""
    letter.sender_flags = [x for x in (auth_remark(auth), *flags) if x]
    letter.sender_auth = auth.to_json() if auth is not None else None
    if reading.pdf is not None:
        # scripts, launch actions, embedded files in the letter's PDF (issue #18): remarks
        # with the others, in the register and the clerk's copy; the letter is still taken in
        letter.sender_flags += list(reading.pdf.active_content)
    if reading.xml is not None:
        # The strict validation report stays with the letter (issue 5), valid or not.
        x = reading.xml
        letter.xml_report = {"readable": x.readable, "valid": x.valid, "dialect": x.dialect,
                             "variants": list(x.variants), "errors": list(x.errors),
                             "reason": x.reason_en}
    if reading.xml_letter is not None:
        # routing rules can match on the XML's receiver (issue 7)
        r = reading.xml_letter.receiver
        words = (r.given_name, r.family_name, r.job_title, r.department_name, r.ministry_name,
                 r.department_id, r.ministry_id)
        letter.xml_receiver = " ".join(w for w in words if w)
    if reading.pdf is not None and reading.pdf.signatures:
        # checked on the original, before any stamp (issue 4): what the clerk is shown
        letter.signatures = [x.summary_th for x in reading.pdf.signatures]


class Recorder:
    def __init__(self, ctx: Inbound, feedback: Feedback, returns: Returns) -> None:
        self.ctx, self.feedback, self.returns = ctx, feedback, returns

    async def record(self, s: AsyncSession, letter: Letter, reading: Reading, decision: Decision,
                     now: dt.datetime, auth: SenderAuth | None = None) -> str:
        """The reading's fields, files, duplicate check, decision, number and notices, in the
        caller's transaction. The statements of the first three look only at other rows
        (earlier letters, the directory), not at this letter's pending changes: they do not
        flush them one by one, and the changes go out together with the next query that may
        need them."""
        damaged = damaged_fields(reading.fields)
        if damaged and decision.outcome is Outcome.REGISTER:
            # validate() puts these before every decision; a rule that registered anyway
            # must not put stray characters in the register (#19): the clerk looks first
            decision = Decision(Outcome.REVIEW, (*decision.problems, *damaged))
        reading, decision = await _ocr_checked(s, reading, decision)
        apply_fields(letter, reading.fields, reading.message)
        letter.problems = [{"code": p.code, "th": p.reason_th, "en": p.reason_en}
                           for p in decision.problems]
        letter.review_reason = decision.reason_th
        letter.updated_at = now
        with s.no_autoflush:
            await self._store_files(s, letter, reading, now)
        outcome = decision.outcome
        if outcome in (Outcome.REGISTER, Outcome.REVIEW):
            with s.no_autoflush:
                first = await self._find_duplicate(s, letter, reading)
            if first is not None:
                letter.state = advance(letter.state, Event.READ_DUPLICATE)
                letter.duplicate_of = first
                await audit.append(s, now=now, actor="pipeline", action="letter.duplicate",
                                   subject_type="letter", subject_id=letter.id,
                                   details={"duplicate_of": first})
                return letter.state
        letter.state = advance(letter.state, outcome.event)
        with s.no_autoflush:
            known = await _in_directory(s, reading.message)
        _reading_facts(letter, reading, sender_flags(reading.message, in_directory=known), auth)
        await audit.append(s, now=now, actor="pipeline", action="letter.decided",
                           subject_type="letter", subject_id=letter.id,
                           details={"outcome": letter.state,
                                    "problems": [p.code for p in decision.problems],
                                    "sources": letter.field_sources})
        if reading.notifier is not None:
            await self.returns.take_notifier(s, letter, reading, now)
            return letter.state
        if (reading.xml_letter is not None and self.ctx.receive_notifier
                and outcome is not Outcome.NOT_LETTER):
            to = ack_address(reading.message, self.ctx.policy, trusted=True)  # trust: Feedback gate
            if to:
                await self.feedback.receipt(s, letter, reading.message, to, reading.xml_letter, now)
        if outcome is Outcome.REGISTER:
            await self.register(s, letter, reading, decision.acknowledge_to, now, actor="pipeline")
        elif outcome is Outcome.REJECT and decision.acknowledge_to:
            await self.feedback.notice(
                s, letter, reading.message, decision.acknowledge_to,
                [p.reason_th for p in decision.problems], now, xml_letter=reading.xml_letter,
                invalid=bool({p.code for p in decision.problems} & REJECT_AS_INVALID))
        return letter.state

    async def register(self, s: AsyncSession, letter: Letter, reading: Reading | None,
                       ack_to: str | None, now: dt.datetime, *, actor: str,
                       remarks: str = "", xml_letter: Any = None) -> int:
        """The next receive number and the register entry; the acknowledgement queued."""
        signatures = " / ".join(sig.summary_th for sig in reading.pdf.signatures) \
            if reading is not None and reading.pdf is not None else " / ".join(letter.signatures)
        notes = [n for n in (signatures, remarks, *letter.sender_flags) if n]
        entry = await registers.allocate(
            s,
            book_code="receive",
            now=now,
            fields=EntryFields(
                letter_no=letter.letter_no,
                letter_date=letter.letter_date,
                sender=letter.sender,
                recipient=letter.recipient,
                subject=letter.subject,
                remarks=" / ".join(notes),
                speed=letter.speed,
                secrecy=letter.secrecy,
                channel=letter.channel,
            ),
            first_number=self.ctx.store.settings.books.first_number("receive", be_year_of(now)),
            letter_id=letter.id,
            actor=actor,
        )
        replaces = ""
        if letter.state == LetterState.CANCELLED:  # registered again: the sender's number changed
            old = (await s.execute(select(RegisterEntry).where(
                RegisterEntry.letter_id == letter.id, RegisterEntry.status == "cancelled",
                RegisterEntry.id != entry.id).order_by(RegisterEntry.id.desc()).limit(1))).scalar()
            replaces = f"{old.number}/{old.year}" if old is not None else ""
        if letter.state != LetterState.REGISTERED:  # the clerk's decision; reading set it already
            letter.state = advance(letter.state, Event.CLERK_REGISTERS)
        s.info.setdefault(NUMBERED_NOW, {})[letter.id] = (entry.number, entry.registered_at, entry.year)
        # The stamp follows in its own short transaction (inbound/stamp.py): drawing it and
        # writing the stamped PDF are done outside the write lock, and resume() stamps what a
        # crash left registered but unstamped.
        if ack_to:
            xml = reading.xml_letter if reading is not None else xml_letter
            await self.feedback.acknowledge(
                s, letter, reading.message if reading else None, ack_to, entry.number, entry.year,
                now, xml_letter=xml, replaces=replaces,
                # one acknowledgement per number: a letter registered again is told its new one
                key=f"ack:{letter.id}:{entry.number}/{entry.year}" if replaces else None)
        return entry.number

    async def _store_files(self, s: AsyncSession, letter: Letter, reading: Reading,
                           now: dt.datetime) -> None:
        if letter.id not in s.info.get(NEW_LETTERS, ()):  # a new letter has no files yet
            have = (await s.execute(select(LetterFile.id).where(LetterFile.letter_id == letter.id))).first()
            if have is not None:
                return
        files: list[tuple[str, Attachment]] = []
        if reading.main is not None:
            files.append(("main", reading.main))
        files.extend(("enclosure", a) for a in reading.enclosures)
        if reading.xml_attachment is not None:
            files.append(("xml", reading.xml_attachment))
        for pos, (role, a) in enumerate(files):
            if a.kept_size is not None:  # written by the worker that read it
                digest = a.sha256
                await know_blob(s, digest, a.size, now)
            else:
                digest = await ensure_blob(s, self.ctx.store.blobs, a.data, now, a.sha256)
            s.add(LetterFile(letter_id=letter.id, role=role, position=pos,
                             filename=a.filename or "", safe_name=a.safe_name,
                             media_type=a.content_type, sha256=digest, size=a.size))

    @staticmethod
    async def _find_duplicate(s: AsyncSession, letter: Letter, reading: Reading) -> int | None:
        """The id of the same letter come before: same main file, or same letter number and date.

        The same letter may be decided by two gateway processes at once (its PDF saved again,
        sent to two addresses): the letter's identity is locked first (store/leases.hold, to
        the end of this transaction), so the second looks only once the first has committed
        its number, and finds it."""
        numbered = tuple(NUMBERED)
        await leases.hold(s, *identity_keys(reading))  # held already: pipeline._in_turn
        if reading.main is not None:
            hit = (await s.execute(
                select(Letter.id).join(LetterFile, LetterFile.letter_id == Letter.id)
                .where(LetterFile.role == "main", LetterFile.sha256 == reading.main.sha256,
                       Letter.id != letter.id, Letter.state.in_(numbered))
                .order_by(Letter.id).limit(1))).scalar_one_or_none()
            if hit is not None:
                return hit
        if letter.letter_no_norm and letter.letter_date is not None:
            return (await s.execute(
                select(Letter.id).where(Letter.letter_no_norm == letter.letter_no_norm,
                                     Letter.letter_date == letter.letter_date,
                                     Letter.id != letter.id, Letter.state.in_(numbered))
                .order_by(Letter.id).limit(1))).scalar_one_or_none()
        return None


def identity_keys(reading: Reading) -> list[str]:
    """What makes two messages the same letter, as _find_duplicate looks for it: its main
    file, and its number with its date (as apply_fields keeps them)."""
    keys = [f"letter-file:{reading.main.sha256}"] if reading.main is not None else []
    letter_no, letter_date = _clean(reading.fields.letter_no), _value(reading.fields.letter_date)
    if letter_no and letter_date is not None:
        keys.append(f"letter-no:{letter_no_key(letter_no)}:{letter_date.isoformat()}")
    return keys


async def _in_directory(s: AsyncSession, msg: ParsedMessage) -> bool | None:
    """Whether the sender's address is a known central address; None with an empty directory."""
    from gateway.store.directory import any_agencies, find_by_email

    if not msg.from_addr:
        return None
    if await find_by_email(s, msg.from_addr) is not None:
        return True  # one indexed look-up for a known sender, whatever the directory's size
    return False if await any_agencies(s) else None


async def _ocr_checked(s: AsyncSession, reading: Reading, decision: Decision) -> tuple[Reading, Decision]:
    """A ที่ read by OCR whose agency code no agency in the directory has is not pre-filled
    (#20: OCR misreads digits; a number no agency uses is a misreading): the clerk is told."""
    number = reading.fields.letter_no
    if number is None or number.source != FieldSource.OCR:
        return reading, decision
    codes = (await s.execute(select(Agency.thai_code).where(Agency.thai_code != "").distinct())).scalars()
    if ocr_number_in_directory(number.value, codes):
        return reading, decision
    problem = Problem("ocr_number_unknown",
                      f"เลขที่หนังสือที่อ่านจากภาพสแกน “{number.value}” ไม่ตรงกับรหัสหน่วยงานใดในทะเบียน"
                      "หน่วยงาน จึงไม่เติมให้ ต้องพิมพ์เอง",
                      "the letter number OCR read matches no agency code in the directory: not pre-filled")
    fields = replace(reading.fields, letter_no=None,
                     alternatives=(*reading.fields.alternatives, ("letter_no", number)))
    return replace(reading, fields=fields), replace(decision, problems=(*decision.problems, problem))
