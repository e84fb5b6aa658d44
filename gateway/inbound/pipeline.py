"""Sequences one incoming letter through the flow, and resumes by state after a crash.

    received → read (parse, PDF, XML, fields) → validate → decide
             → record: number + register entry + files + outbox rows + audit, one transaction
             → effects: receive stamp on a copy of the PDF (then IMAP filing, done by the adapter)

Each step is idempotent on the letter's state: `process` on a letter that is
already decided does nothing but its missing effects, so a restart after
`kill -9` anywhere finishes what was unfinished and never numbers twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import jinja2
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway import workers
from gateway.app import Store
from gateway.core.classify import (
    Decision,
    Outcome,
    PdfFacts,
    Policy,
    Reading,
    SignatureFact,
    XmlFacts,
    ack_address,
    decide,
    sender_flags,
    validate,
)
from gateway.core.compose import FileToAttach, Mail, compose, compose_from, templates_dir
from gateway.core.extract import choose_main_letter, extract_fields
from gateway.core.parse import parse_message
from gateway.errors import Permanent
from gateway.forwarding.routing import ClerkRoute, read_clerk_route, receive_ref, reply_token
from gateway.forwarding.units import RETURNED_HEADER, Units
from gateway.intake.imap import copy_marker
from gateway.letter import Attachment, LetterFields, ParsedMessage, Problem
from gateway.outbound.bounces import Bounce, read_bounce, verp_token
from gateway.outbound.rules import SENT_HEADER, letter_numbers_in, their_receive_number
from gateway.outbound.sender import agency_mail, queue_mail
from gateway.pdf.check import PdfUnreadable, inspect_pdf
from gateway.pdf.stamp import Corner, ReceiptStamp, StampStyle, stamp_receipt
from gateway.state import AWAITING_CLERK, NUMBERED, Event, LetterState, advance
from gateway.thai import (
    BANGKOK,
    format_letter_date,
    format_short_date,
    format_time,
    letter_no_key,
)
from gateway.xmlletter import (
    Notifier,
    NotifierKind,
    ReadStatus,
    XmlResources,
    build_notifier,
    default_resources,
    read_letter_xml,
    validate_xml,
)
from store import audit, recipients, registers
from store.blobs import BlobStore, sha256_hex
from store.letters import Recorded, ensure_blob, know_blob, put_blobs, record_raw
from store.registers import EntryFields
from store.tables import About, DeliveryNotice, Letter, LetterFile, RawMessage, RegisterEntry

log = logging.getLogger(__name__)

Turn = contextlib.AbstractAsyncContextManager[None]

NOTIFIER_STATE = {
    NotifierKind.RECEIVE: "received",
    NotifierKind.ACCEPT: "accepted",
    NotifierKind.REJECT: "rejected",
    NotifierKind.INVALID: "invalid",
}

# Where a field was read, as the clerk reads it (domain.md §5.5).
SOURCE_TH = {"xml": "จาก XML", "pdf": "จากไฟล์หนังสือ", "subject": "จากหัวเรื่องอีเมล",
             "body": "จากเนื้อความอีเมล", "filename": "จากชื่อไฟล์", "email": "จากผู้ส่งอีเมล"}


# ---------------------------------------------------------------------------------------------
# Reading: CPU work on bytes, run in a thread; no database, no clock of its own.
# ---------------------------------------------------------------------------------------------

def _xml_fields(result: Any) -> dict[str, Any] | None:
    letter = result.letter
    if letter is None:
        return None
    sender = letter.sender
    receiver = letter.receiver
    return {
        "letter_no": letter.letter_id,
        "letter_date": letter.correspondence_date,
        "subject": letter.subject,
        # ECMS codes the parties (numeric IDs): a name from the PDF or e-mail reads better then.
        "sender": sender.department_name or None,
        "recipient": receiver.department_name or None,
        "speed": letter.speed.code if letter.speed else None,
        "secrecy": letter.secrecy.code if letter.secrecy else None,
    }


def _xml_main_attachment(result: Any) -> Attachment | None:
    letter = result.letter
    if letter is None or letter.main_letter is None or not letter.main_letter.data:
        return None
    data = letter.main_letter.data
    mime = (letter.main_letter.mime_code or "application/pdf").lower()
    ext = ".pdf" if "pdf" in mime else ".bin"
    return Attachment(
        filename=None,
        safe_name=f"letter-from-xml{ext}",
        content_type=mime,
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        inline=False,
        content_id=None,
        origin="xml",
    )


def read_message(raw: bytes, *, xml_resources: XmlResources, trust_roots: Sequence[bytes],
                 now: dt.datetime) -> Reading:
    """Everything the gateway can read from one message's bytes."""
    msg = parse_message(raw)
    main, enclosures, xml_att = choose_main_letter(msg.attachments)
    xml_facts: XmlFacts | None = None
    xml_fields: dict[str, Any] | None = None
    notifier = None
    if xml_att is not None:
        result = read_letter_xml(xml_att.data, resources=xml_resources)
        if result.status is ReadStatus.NOTIFIER:
            notifier = result.notifier
        elif result.status is ReadStatus.REFUSED or result.letter is None:
            refusal = result.refusal
            xml_facts = XmlFacts(
                readable=False,
                valid=False,
                reason_th=refusal.message_th if refusal else "ไม่ใช่ไฟล์หนังสือราชการ",
                reason_en=refusal.message_en if refusal else "not a CorrespondenceLetter",
            )
        else:
            xml_fields = _xml_fields(result)
            carried = _xml_main_attachment(result)
            if main is None and carried is not None:
                main = carried
            xml_facts = XmlFacts(
                readable=True,
                valid=result.valid,
                errors=tuple(f"{i.path}: {i.summary_th} ({i.message_en})"
                             for i in result.validation.issues),
                carries_letter=carried is not None,
                dialect=str(result.letter.dialect),
                variants=tuple(str(v) for v in result.variants),
            )
    xml_letter = None
    if xml_att is not None and xml_facts is not None and xml_facts.readable:
        xml_letter = result.letter
    elif notifier is None:
        # A status message (AcceptLetterNotifier …) is not picked out as a letter's XML.
        for att in enclosures:
            if _looks_xml(att):
                got = read_letter_xml(att.data, resources=xml_resources)
                if got.status is ReadStatus.NOTIFIER and got.notifier is not None:
                    notifier = got.notifier
                    break
    pdf: PdfFacts | None = None
    if main is not None:
        report = inspect_pdf(main.data, trust_roots=trust_roots, now=now)
        pdf = PdfFacts(
            readable=report.readable,
            reason_th=report.reason_th,
            reason_en=report.reason_en,
            page1_text=report.first_page_text,
            signatures=tuple(
                SignatureFact(s.summary_th, s.intact and s.valid,
                              s.changed_beyond_allowed, s.trusted)
                for s in report.signatures
            ),
        )
    fields = extract_fields(xml_fields, pdf.page1_text if pdf else None, msg,
                            main.filename if main else None)
    return Reading(msg, main, enclosures, xml_att, pdf, xml_facts, fields, xml_letter, notifier)


def _looks_xml(att: Attachment) -> bool:
    name = (att.filename or att.safe_name).lower()
    return name.endswith(".xml") or "xml" in att.content_type or att.data.lstrip()[:5] == b"<?xml"


def xml_letter_of(msg: ParsedMessage, resources: XmlResources) -> Any:
    """The CorrespondenceLetter carried by a message, for notifiers after a clerk's decision."""
    _, _, xml_att = choose_main_letter(msg.attachments)
    if xml_att is None:
        return None
    return read_letter_xml(xml_att.data, resources=resources).letter


# ---------------------------------------------------------------------------------------------
# Recording: one transaction per decision.
# ---------------------------------------------------------------------------------------------

def _value(f: Any) -> Any:
    return None if f is None else f.value


def _text(f: Any) -> str:
    v = _value(f)
    return "" if v is None else str(v)


@dataclass(frozen=True)
class StampSettings:
    style: StampStyle
    agency: str
    thai_digits: bool


def stamp_bytes(original: bytes, settings: StampSettings, number: int,
                at: dt.datetime) -> tuple[bytes | None, str]:
    """The receive stamp drawn on `original`, or why it could not be (in a worker process)."""
    stamp = ReceiptStamp(settings.agency, number, at, settings.thai_digits)
    try:
        return stamp_receipt(original, stamp, settings.style), ""
    except PdfUnreadable as exc:
        return None, exc.reason_th


def stamp_blob(blob_root: str, digest: str, settings: StampSettings, number: int,
               at: dt.datetime) -> tuple[str | None, int, str]:
    """Stamp the PDF kept as `digest` and keep the stamped copy durably (in a worker process:
    only names cross the pipe, not megabytes). Returns (digest, size, "") or (None, 0, why)."""
    blobs = BlobStore(Path(blob_root))
    stamped, error = stamp_bytes(blobs.get(digest), settings, number, at)
    if stamped is None:
        return None, 0, error
    return blobs.put(stamped), len(stamped), ""


def read_blob(blob_root: str, digest: str, *, trust_roots: Sequence[bytes],
              now: dt.datetime) -> Reading:
    """read_with_default_resources of the message kept as `digest`, and the letter's files
    kept durably next to it (in a worker process: the message is not sent through the pipe,
    and the files are not written by the gateway's own process)."""
    blobs = BlobStore(Path(blob_root))
    reading = read_with_default_resources(blobs.get(digest), trust_roots=trust_roots, now=now)
    for a in _files_of(reading):
        blobs.put(a.data, digest=a.sha256)
    return _kept(reading)


def _kept(reading: Reading) -> Reading:
    """The reading without the bytes of its files, which are in the blob store."""
    def files(msg: ParsedMessage) -> ParsedMessage:
        return replace(msg, attachments=tuple(a.kept() for a in msg.attachments),
                       forwarded=tuple(files(f) for f in msg.forwarded))

    def one(a: Attachment | None) -> Attachment | None:
        return a.kept() if a is not None else None

    return replace(reading, message=files(reading.message), main=one(reading.main),
                   enclosures=tuple(a.kept() for a in reading.enclosures),
                   xml_attachment=one(reading.xml_attachment))


def compose_with_kept(directory: str, mail: Mail, blob_root: str,
                      kept: Sequence[tuple[str, str, str]], *, now: dt.datetime) -> tuple[bytes, str]:
    """compose_from with `kept` files (name, type, sha256) attached from the blob store, and
    the mail's sha256 (in a worker process: the PDF is read there, not sent through the pipe)."""
    blobs = BlobStore(Path(blob_root))
    files = [FileToAttach(name, ctype, blobs.get(digest)) for name, ctype, digest in kept]
    data = compose_from(directory, replace(mail, attachments=[*mail.attachments, *files]), now=now)
    return data, sha256_hex(data)


def _composed(templates: jinja2.Environment, mail: Mail, now: dt.datetime) -> tuple[bytes, str]:
    data = compose(templates, mail, now=now)
    return data, sha256_hex(data)


def _files_of(reading: Reading) -> list[Attachment]:
    return [a for a in (reading.main, *reading.enclosures, reading.xml_attachment) if a]


def read_with_default_resources(raw: bytes, *, trust_roots: Sequence[bytes],
                                now: dt.datetime) -> Reading:
    """read_message in a worker process, with that process's own copy of the schemas."""
    return read_message(raw, xml_resources=default_resources(), trust_roots=trust_roots, now=now)


_NEW_LETTERS = "saraban_new_letters"  # session.info: letters created in this transaction
_NUMBERED = "saraban_numbered"  # session.info: {letter id: (receive number, registered at)}


@dataclass(frozen=True)
class _ToStamp:
    """What drawing a registered letter's stamp needs."""

    number: int | None
    at: dt.datetime | None  # when it was registered
    main_sha256: str | None
    main_name: str


@dataclass(frozen=True)
class _Prepared:
    reading: Reading
    decision: Decision
    bounce: Bounce | None
    own: tuple[str, int] | None  # our own mail come back: (header, letter id)
    unit_token: str | None  # a unit's reply to a forward
    clerk: tuple[tuple[int, int], ClerkRoute] | None  # the clerk's `ส่ง <unit>` reply


@dataclass
class Pipeline:
    store: Store
    templates: jinja2.Environment
    xml_resources: XmlResources
    trust_roots: tuple[bytes, ...]
    stamp: StampSettings
    policy: Policy
    receive_notifier: bool = False
    wake_sender: asyncio.Event | None = None
    # > 0: messages are read, stamped and the filed copies composed in worker processes
    read_processes: int = 0
    units: Units = None  # type: ignore[assignment]  # set in __post_init__

    def __post_init__(self) -> None:
        if self.units is None:
            self.units = Units(self.store, self.templates)

    @classmethod
    def build(cls, store: Store, templates: jinja2.Environment) -> Pipeline:
        s = store.settings
        roots: list[bytes] = []
        if s.intake.trust_roots_dir is not None:
            folder = (s.base_dir / s.intake.trust_roots_dir).resolve()
            roots = [p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()]
        style = StampStyle(
            corner=Corner(s.intake.stamp_corner),
            margin_x=s.intake.stamp_margin,
            margin_y=s.intake.stamp_margin,
            font_path=str(s.intake.stamp_font) if s.intake.stamp_font else None,
        )
        return cls(
            store=store,
            templates=templates,
            xml_resources=default_resources(),
            trust_roots=tuple(roots),
            stamp=StampSettings(style, s.agency.name_th, s.agency.thai_digits),
            policy=Policy(
                central_addresses=s.agency.central_addresses,
                ack_disabled_domains=tuple(d.lower() for d in s.intake.ack_disabled_domains),
                max_message_bytes=s.smtp_listener.max_message_bytes,
            ),
            receive_notifier=s.intake.receive_notifier,
            read_processes=workers.auto_processes() if s.intake.read_processes is None
            else s.intake.read_processes,
        )

    # -- the flow ---------------------------------------------------------------------------

    async def process(self, letter_id: int, *, raw: bytes | None = None,
                      turn: Turn | None = None, on_stamp: dict[str, Any] | None = None) -> str:
        """Take one letter as far as it can go; returns its state.

        `on_stamp`: effects committed with the stamp when the letter is registered.

        `raw` saves reading the bytes back from disk when the caller has them; `turn`, when
        given, is entered around the recording transaction only, so letters read in parallel
        are still numbered in the order they arrived.
        """
        async with self.store.readers() as s:
            letter = await s.get(Letter, letter_id)
            if letter is None:
                raise Permanent(f"no letter {letter_id}")
            state = letter.state
            raw_row = await s.get(RawMessage, letter.raw_message_id) if letter.raw_message_id else None
        if state == LetterState.RECEIVED and raw_row is not None:
            state = await self._decide_and_record(letter_id, raw_row, raw, turn)
        if state == LetterState.REGISTERED:
            await self.stamp_letter(letter_id, also=on_stamp)  # once per letter
        return state

    async def take_in(self, raw: bytes, *, digest: str, channel: str, source_key: str,
                      envelope_to: Sequence[str], envelope_from: str = "", turn: Turn | None = None,
                      on_stamp: dict[str, Any] | None = None) -> tuple[int, str, bool]:
        """Keep and decide a message the transport still holds (IMAP: until it is moved):
        read first, then the raw record and the decision in one transaction. Returns
        (letter id, state, whether `on_stamp` was committed with the stamp just now).
        Nothing is lost by a crash before the commit: the transport still has the message,
        and the raw bytes are on disk."""
        async with self.store.readers() as s:
            seen = (await s.execute(select(Letter.id).join(
                RawMessage, Letter.raw_message_id == RawMessage.id).where(
                RawMessage.source_key == source_key))).scalar_one_or_none()
        if seen is not None:  # fetched again: finish it the usual way
            return seen, await self.process(seen, raw=raw, turn=turn, on_stamp=on_stamp), False

        async def record(s: AsyncSession, now: dt.datetime) -> Recorded:
            return await record_raw(s, self.store.blobs, channel=channel, source_key=source_key,
                                    data=raw, now=now, envelope_from=envelope_from,
                                    envelope_to=envelope_to, digest=digest)

        try:
            prepared = await self._prepare(raw, digest, envelope_from, list(envelope_to),
                                           self.store.clock())
        except Exception as exc:
            log.exception("message %s could not be read", source_key)
            async with self.store.sessions.begin() as s:
                rec = await record(s, self.store.clock())
            return rec.letter_id, await self._count_failure(rec.letter_id, exc), False
        letter_id = 0
        to_stamp: _ToStamp | None = None

        async def record_and_decide(s: AsyncSession, now: dt.datetime) -> str:
            nonlocal letter_id, to_stamp
            rec = await record(s, now)
            letter_id = rec.letter_id
            if rec.created:
                s.info.setdefault(_NEW_LETTERS, set()).add(rec.letter_id)
            raw_row = await s.get(RawMessage, rec.raw_message_id)
            assert raw_row is not None
            state = await self._decide_in(s, rec.letter_id, raw_row, prepared, now)
            numbered = s.info.get(_NUMBERED, {}).get(rec.letter_id)
            if rec.created and numbered is not None:  # its files are this reading's
                main = prepared.reading.main
                to_stamp = _ToStamp(numbered[0], numbered[1], main.sha256 if main else None,
                                    main.safe_name if main else "")
            return state

        state = await self._in_turn(turn, record_and_decide)
        stamped = state == LetterState.REGISTERED and \
            await self.stamp_letter(letter_id, also=on_stamp, known=to_stamp)
        return letter_id, state, stamped

    async def _decide_and_record(self, letter_id: int, raw_row: RawMessage, raw: bytes | None,
                                 turn: Turn | None) -> str:
        try:
            if raw is None:
                raw = await asyncio.to_thread(self.store.blobs.get, raw_row.sha256)
            prepared = await self._prepare(raw, raw_row.sha256, raw_row.envelope_from,
                                           [str(a) for a in raw_row.envelope_to], self.store.clock())
        except Exception as exc:
            log.exception("letter %s could not be read", letter_id)
            return await self._count_failure(letter_id, exc)
        return await self._in_turn(turn, lambda s, now: self._decide_in(s, letter_id, raw_row,
                                                                         prepared, now))

    async def _in_turn(self, turn: Turn | None,
                       step: Callable[[AsyncSession, dt.datetime], Awaitable[str]]) -> str:
        """The recording transaction, in this letter's turn when letters are numbered in
        arrival order; the letters behind it wait for that turn, so it goes first."""
        async with turn if turn is not None else contextlib.nullcontext():
            async with self.store.sessions.begin(urgent=turn is not None) as s:
                state = await step(s, self.store.clock())
        if self.wake_sender is not None:
            self.wake_sender.set()
        return state

    async def _decide_in(self, s: AsyncSession, letter_id: int, raw_row: RawMessage,
                         prepared: _Prepared, now: dt.datetime) -> str:
        letter = await s.get(Letter, letter_id, with_for_update=True)
        assert letter is not None
        if letter.state != LetterState.RECEIVED:  # another worker got here first
            return letter.state
        return await self._commit_decision(s, letter, raw_row, prepared, now)

    async def _prepare(self, raw: bytes, digest: str, envelope_from: str, envelope_to: list[str],
                       now: dt.datetime) -> _Prepared:
        """Everything decided before the write transaction: reading, decision, and what kind
        of mail this is; the letter's files are on disk by then, not written under the lock."""
        reading = await self._read(raw, digest, now)
        problems = validate(reading, self.policy)
        decision = decide(reading, problems, self.policy, envelope_from=envelope_from)
        msg = reading.message
        # Reading a report means parsing the message again: only for what may be one.
        bounce = await asyncio.to_thread(read_bounce, raw, envelope_to=envelope_to) \
            if _may_be_bounce(msg, envelope_to, envelope_from) else None
        own = _own_copy(raw, msg, self.policy)
        unit_token = reply_token([*envelope_to, *msg.to_addrs, *msg.cc_addrs], msg.subject)
        clerk = self._clerk_route_of(msg)
        if own is not None:
            decision = Decision(Outcome.SENT_COPY if own[0] == SENT_HEADER else Outcome.RETURNED_COPY)
            bounce = unit_token = clerk = None
        elif bounce is not None:
            # A report about our own mail is never a letter, even when it returns the PDF.
            decision = replace(decision, outcome=Outcome.NOT_LETTER, acknowledge_to=None)
            unit_token = clerk = None
        elif unit_token is not None:  # a unit accepting or returning a forwarded letter
            decision = Decision(Outcome.NOT_LETTER, notes=("unit reply",))
            clerk = None
        elif clerk is not None:  # the clerk's `ส่ง <unit>` reply to a registered letter
            decision = Decision(Outcome.NOT_LETTER, notes=("clerk route",)) if not clerk[1].unknown else \
                Decision(Outcome.REVIEW, (Problem(
                    "unknown_unit", "ไม่รู้จักหน่วยงาน: " + ", ".join(clerk[1].unknown),
                    "unknown unit(s): " + ", ".join(clerk[1].unknown)),))
        return _Prepared(reading, decision, bounce, own, unit_token, clerk)

    async def _commit_decision(self, s: AsyncSession, letter: Letter, raw_row: RawMessage,
                               p: _Prepared, now: dt.datetime) -> str:
        decision, reading, msg = p.decision, p.reading, p.reading.message
        if p.own is not None:
            letter.about, letter.about_letter_id = About.OWN_COPY, p.own[1]
        elif p.unit_token is not None:
            await self.units.take_reply(s, letter, p.unit_token, msg, now)
        elif p.clerk is not None and not p.clerk[1].unknown:
            await self._clerk_forward(s, letter, p.clerk, now)
        elif p.bounce is not None:
            await self._take_bounce(s, letter, p.bounce, now)
        elif await self._take_reply(s, letter, reading, now) and \
                decision.outcome is not Outcome.REGISTER:
            decision = replace(decision, outcome=Outcome.NOT_LETTER, acknowledge_to=None)
        return await self._record(s, letter, raw_row, reading, decision, now)

    def warm_up(self) -> None:
        """Start the worker processes now, in the background (they take a second to load)."""
        if self.read_processes > 0:
            workers.warm(self.read_processes)

    async def _read(self, raw: bytes, digest: str, now: dt.datetime) -> Reading:
        """The message read, and its files kept durably in the blob store (before the write
        transaction, not under its lock)."""
        if self.read_processes > 0 and self.xml_resources is default_resources():
            # the message is already on disk: the worker reads it and keeps the files
            return await workers.run(self.read_processes, read_blob, str(self.store.blobs.root),
                                     digest, trust_roots=self.trust_roots, now=now)
        reading = await workers.run(0, read_message, raw, xml_resources=self.xml_resources,
                                    trust_roots=self.trust_roots, now=now)
        await put_blobs(self.store.blobs, *(a.data for a in _files_of(reading)))
        return reading

    async def _count_failure(self, letter_id: int, exc: Exception) -> str:
        now = self.store.clock()
        async with self.store.sessions.begin() as s:
            letter = await s.get(Letter, letter_id, with_for_update=True)
            assert letter is not None
            if letter.state != LetterState.RECEIVED:  # decided already (a copy that came again)
                return letter.state
            letter.attempts += 1
            letter.updated_at = now
            if letter.attempts < self.store.settings.intake.max_attempts:
                return letter.state
            letter.state = advance(letter.state, Event.READING_FAILED)
            letter.review_reason = f"ระบบอ่านอีเมลนี้ไม่สำเร็จ {letter.attempts} ครั้ง ({type(exc).__name__})"
            letter.problems = [{"code": "unreadable", "th": letter.review_reason, "en": repr(exc)}]
            await audit.append(s, now=now, actor="pipeline", action="letter.parked",
                               subject_type="letter", subject_id=letter_id,
                               details={"error": repr(exc)[:500], "attempts": letter.attempts})
            return letter.state

    async def _store_files(self, s: AsyncSession, letter: Letter, reading: Reading,
                           now: dt.datetime) -> None:
        if letter.id not in s.info.get(_NEW_LETTERS, ()):  # a new letter has no files yet
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
                digest = await ensure_blob(s, self.store.blobs, a.data, now, a.sha256)
            s.add(LetterFile(letter_id=letter.id, role=role, position=pos,
                             filename=a.filename or "", safe_name=a.safe_name,
                             media_type=a.content_type, sha256=digest, size=a.size))
        await s.flush()

    def _apply_fields(self, letter: Letter, fields: LetterFields, msg: ParsedMessage) -> None:
        letter.letter_no = _text(fields.letter_no)
        letter.letter_no_norm = letter_no_key(letter.letter_no) if letter.letter_no else ""
        letter.letter_date = _value(fields.letter_date)
        letter.sender = _text(fields.sender)
        letter.recipient = _text(fields.recipient)
        letter.subject = _text(fields.subject) or msg.subject
        letter.salutation = _text(fields.salutation)
        letter.speed = _text(fields.speed)
        letter.secrecy = _text(fields.secrecy)
        letter.field_sources = {
            name: str(getattr(fields, name).source)
            for name in ("letter_no", "letter_date", "sender", "recipient", "subject",
                         "salutation", "speed", "secrecy")
            if getattr(fields, name) is not None
        }
        if not letter.sender_address:
            letter.sender_address = msg.from_addr or ""

    async def _find_duplicate(self, s: AsyncSession, letter: Letter, reading: Reading) -> Letter | None:
        """The same letter again: same main file, or same letter number and date."""
        registered = tuple(NUMBERED)
        if reading.main is not None:
            hit = (
                await s.execute(
                    select(Letter)
                    .join(LetterFile, LetterFile.letter_id == Letter.id)
                    .where(LetterFile.role == "main", LetterFile.sha256 == reading.main.sha256,
                           Letter.id != letter.id, Letter.state.in_(registered))
                    .order_by(Letter.id).limit(1)
                )
            ).scalar_one_or_none()
            if hit is not None:
                return hit
        if letter.letter_no_norm and letter.letter_date is not None:
            return (
                await s.execute(
                    select(Letter)
                    .where(Letter.letter_no_norm == letter.letter_no_norm,
                           Letter.letter_date == letter.letter_date,
                           Letter.id != letter.id, Letter.state.in_(registered))
                    .order_by(Letter.id).limit(1)
                )
            ).scalar_one_or_none()
        return None

    async def _record(self, s: AsyncSession, letter: Letter, raw_row: RawMessage,
                      reading: Reading, decision: Decision, now: dt.datetime) -> str:
        self._apply_fields(letter, reading.fields, reading.message)
        letter.problems = [{"code": p.code, "th": p.reason_th, "en": p.reason_en}
                           for p in decision.problems]
        letter.review_reason = decision.reason_th
        letter.updated_at = now
        await self._store_files(s, letter, reading, now)
        outcome = decision.outcome
        if outcome in (Outcome.REGISTER, Outcome.REVIEW):
            first = await self._find_duplicate(s, letter, reading)
            if first is not None:
                letter.state = advance(letter.state, Event.READ_DUPLICATE)
                letter.duplicate_of = first.id
                await audit.append(s, now=now, actor="pipeline", action="letter.duplicate",
                                   subject_type="letter", subject_id=letter.id,
                                   details={"duplicate_of": first.id})
                return letter.state
        letter.state = advance(letter.state, outcome.event)
        flags = sender_flags(reading.message, in_directory=await _in_directory(s, reading.message))
        letter.sender_flags = list(flags)
        if reading.xml is not None:
            # The strict validation report stays with the letter (issue 5), valid or not.
            x = reading.xml
            letter.xml_report = {
                "readable": x.readable, "valid": x.valid, "dialect": x.dialect,
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
        await audit.append(s, now=now, actor="pipeline", action="letter.decided",
                           subject_type="letter", subject_id=letter.id,
                           details={"outcome": letter.state,
                                    "problems": [p.code for p in decision.problems],
                                    "sources": letter.field_sources})
        if reading.notifier is not None:
            await self._take_notifier(s, letter, reading, now)
            return letter.state
        if (reading.xml_letter is not None and self.receive_notifier
                and outcome is not Outcome.NOT_LETTER):
            to = ack_address(reading.message, self.policy)
            if to:
                await self._enqueue(s, "receipt", letter, reading.message, to,
                                    {**self._agency_context(), **self._letter_context(letter, now)},
                                    now, notifier=self._notifier(NotifierKind.RECEIVE, reading.xml_letter))
        if outcome is Outcome.REGISTER:
            await self._register(s, letter, reading, decision.acknowledge_to, now, actor="pipeline")
        elif outcome is Outcome.REJECT and decision.acknowledge_to:
            await self._enqueue_notice(s, letter, reading.message, decision.acknowledge_to,
                                       [p.reason_th for p in decision.problems], now,
                                       xml_letter=reading.xml_letter,
                                       invalid=bool({p.code for p in decision.problems}
                                                    & {"xml_invalid", "xml_unreadable"}))
        return letter.state

    # -- routing to units ----------------------------------------------------------------------

    def _clerk_route_of(self, msg: ParsedMessage) -> tuple[tuple[int, int], ClerkRoute] | None:
        """`ส่ง <unit>, …` from the central mailbox in reply to `[รับ n/ปี]` (or `[คืน n/ปี]`)."""
        if (msg.from_addr or "") not in self.policy.central_addresses:
            return None
        ref = receive_ref(msg.subject)
        if ref is None:
            return None
        wanted = read_clerk_route(msg.body_text, self.store.settings.units)
        return (ref, wanted) if wanted is not None and (wanted.units or wanted.unknown) else None

    async def _clerk_forward(self, s: AsyncSession, reply: Letter,
                             clerk: tuple[tuple[int, int], ClerkRoute], now: dt.datetime) -> None:
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
        await self.units.forward(s, target, wanted.units, via="reply", by="clerk:reply", now=now)

    # -- what comes back for letters we sent --------------------------------------------------

    async def _take_bounce(self, s: AsyncSession, letter: Letter, bounce: Bounce, now: dt.datetime) -> None:
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

            await enqueue_failure_report(s, self.store, self.templates, rec=rec, error=error, now=now,
                                         key=f"failed:bounce:{letter.id}")

    async def _take_reply(self, s: AsyncSession, letter: Letter, reading: Reading, now: dt.datetime) -> bool:
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

    # -- CorrespondenceLetter notifiers ------------------------------------------------------

    @staticmethod
    def _notifier(kind: NotifierKind, xml_letter: Any, accept_id: str = "",
                  accept_date: dt.date | None = None) -> Notifier:
        return Notifier(kind=kind, letter_id=xml_letter.letter_id,
                        correspondence_date=xml_letter.correspondence_date,
                        subject=xml_letter.subject, accept_id=accept_id, accept_date=accept_date)

    async def _take_notifier(self, s: AsyncSession, letter: Letter, reading: Reading,
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
            to = ack_address(reading.message, self.policy)
            if ours is None or to is None:
                await audit.append(s, now=now, actor="pipeline", action="notifier.unmatched",
                                   subject_type="letter", subject_id=letter.id,
                                   details={"kind": n.kind.value, "letter": n.letter_id})
                return
            ours.accept_resent += 1
            again = ours.accept_resent
            entry = await registers.entry_of(s, ours.id)
            assert entry is not None  # registered letters have their entry
            await self._enqueue_ack(s, ours, reading.message, to, entry.number, entry.year, now,
                                    xml_letter=n, key=f"ack-again:{ours.id}:{again}")
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

    def _signature_remarks(self, reading: Reading | None) -> str:
        if reading is None or reading.pdf is None:
            return ""
        return " / ".join(sig.summary_th for sig in reading.pdf.signatures)

    async def _register(self, s: AsyncSession, letter: Letter, reading: Reading | None,
                        ack_to: str | None, now: dt.datetime, *, actor: str,
                        remarks: str = "", xml_letter: Any = None) -> int:
        year_first = self.store.settings.books.first_number
        from gateway.thai import be_year_of

        notes = [n for n in (self._signature_remarks(reading), remarks, *letter.sender_flags) if n]
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
            first_number=year_first("receive", be_year_of(now)),
            letter_id=letter.id,
            actor=actor,
        )
        if letter.state != LetterState.REGISTERED:  # the clerk's decision; reading set it already
            letter.state = advance(letter.state, Event.CLERK_REGISTERS)
        s.info.setdefault(_NUMBERED, {})[letter.id] = (entry.number, entry.registered_at)
        # The stamp follows in its own short transaction (stamp_letter): drawing it and writing
        # the stamped PDF are done outside the write lock, and resume() stamps what a crash
        # left registered but unstamped.
        if ack_to:
            xml = reading.xml_letter if reading is not None else xml_letter
            await self._enqueue_ack(s, letter, reading.message if reading else None, ack_to,
                                    entry.number, entry.year, now, xml_letter=xml)
        return entry.number

    def _letter_context(self, letter: Letter, now: dt.datetime) -> dict[str, Any]:
        local = now.astimezone(BANGKOK)
        return {"addressee": letter.sender or "ผู้ส่ง", "letter_no": letter.letter_no,
                "letter_date": self._date_th(letter.letter_date), "subject": letter.subject,
                "received_date": format_short_date(local.date()), "received_time": format_time(local)}

    def _agency_context(self) -> dict[str, str]:
        a = self.store.settings.agency
        return {"agency": a.name_th, "unit": a.unit_name_th, "contact": a.contact,
                "central_address": a.central_addresses[0]}

    def _date_th(self, d: dt.date | None) -> str:
        if d is None:
            return ""
        return format_letter_date(d, thai_digits=self.store.settings.agency.thai_digits)

    async def _enqueue_ack(self, s: AsyncSession, letter: Letter, msg: ParsedMessage | None,
                           to: str, number: int, year: int, now: dt.datetime, *,
                           xml_letter: Any = None, key: str | None = None) -> None:
        local = now.astimezone(BANGKOK)
        ctx = {
            **self._agency_context(),
            "addressee": letter.sender or (msg.from_name if msg else "") or "ผู้ส่ง",
            "letter_no": letter.letter_no,
            "letter_date": self._date_th(letter.letter_date),
            "subject": letter.subject,
            "number": number,
            "year": year,
            "received_date": format_short_date(local.date()),
            "received_time": format_time(local),
        }
        notifier = None
        if xml_letter is not None:  # a connected e-Saraban system: AcceptID = our number
            notifier = self._notifier(NotifierKind.ACCEPT, xml_letter, accept_id=f"{number}/{year}",
                                      accept_date=local.date())
        await self._enqueue(s, "ack", letter, msg, to, ctx, now, notifier=notifier, key=key)

    async def _enqueue_notice(self, s: AsyncSession, letter: Letter, msg: ParsedMessage | None,
                              to: str, reasons: list[str], now: dt.datetime, *,
                              xml_letter: Any = None, invalid: bool = False) -> None:
        local = now.astimezone(BANGKOK)
        ctx = {
            **self._agency_context(),
            "addressee": (msg.from_name if msg else "") or "ผู้ส่ง",
            "email_subject": msg.subject if msg else letter.subject,
            "subject": letter.subject,
            "reasons": reasons or ["ไม่ใช่หนังสือราชการที่ลงทะเบียนรับได้"],
            "received_date": format_short_date(local.date()),
            "received_time": format_time(local),
        }
        notifier = None
        if xml_letter is not None:
            kind = NotifierKind.INVALID if invalid else NotifierKind.REJECT
            notifier = self._notifier(kind, xml_letter)
        await self._enqueue(s, "notice", letter, msg, to, ctx, now, notifier=notifier)

    async def _enqueue(self, s: AsyncSession, kind: str, letter: Letter, msg: ParsedMessage | None,
                       to: str, ctx: dict[str, Any], now: dt.datetime, *,
                       notifier: Notifier | None = None, key: str | None = None) -> None:
        key = key or f"{kind}:{letter.id}"
        files: list[FileToAttach] = []
        if notifier is not None:
            data = build_notifier(notifier)
            report = validate_xml(data, resources=self.xml_resources)
            if not report.valid:  # never send what our own schema refuses
                log.error("notifier for letter %s does not validate: %s", letter.id, report.issues)
            else:
                files.append(FileToAttach(f"{notifier.kind.value}.xml", "application/xml", data))
        mail = agency_mail(self.store.settings, kind, ctx, to=[to], key=key,
                           in_reply_to=msg.message_id if msg else None,
                           references=msg.references if msg else (), attachments=files)
        (q,) = await queue_mail(s, self.store, self.templates, mail, kind=kind, now=now, letter_id=letter.id)
        if q.created:
            await audit.append(s, now=now, actor="pipeline", action=f"outbox.{kind}",
                               subject_type="letter", subject_id=letter.id,
                               details={"to": to, "outbox_id": q.item_id})

    # -- clerk decisions (from the e-mail client or the command line) -----------------------

    async def clerk_register(self, letter_id: int, *, actor: str) -> str:
        msg = await self._message_of(letter_id)  # before the write transaction: no nesting
        now = self.store.clock()
        async with self.store.sessions.begin() as s:
            letter = await s.get(Letter, letter_id, with_for_update=True)
            if letter is None or letter.state not in AWAITING_CLERK:
                return letter.state if letter else "missing"
            ack_to = decide_ack(msg, self.policy)
            await audit.append(s, now=now, actor=actor, action="letter.clerk_register",
                               subject_type="letter", subject_id=letter.id, details={})
            await self._register(s, letter, None, ack_to, now, actor=actor,
                                 remarks="ลงทะเบียนโดยเจ้าหน้าที่หลังตรวจสอบ",
                                 xml_letter=xml_letter_of(msg, self.xml_resources) if msg else None)
            letter.updated_at = now
        if self.wake_sender is not None:
            self.wake_sender.set()
        await self.stamp_letter(letter_id)
        return LetterState.REGISTERED

    async def clerk_reject(self, letter_id: int, *, actor: str, reason: str = "") -> str:
        msg = await self._message_of(letter_id)  # before the write transaction: no nesting
        now = self.store.clock()
        async with self.store.sessions.begin() as s:
            letter = await s.get(Letter, letter_id, with_for_update=True)
            if letter is None or letter.state not in AWAITING_CLERK:
                return letter.state if letter else "missing"
            letter.state = advance(letter.state, Event.CLERK_REJECTS)
            letter.updated_at = now
            reasons = [reason] if reason else [p.get("th", "") for p in letter.problems if p.get("th")]
            await audit.append(s, now=now, actor=actor, action="letter.clerk_reject",
                               subject_type="letter", subject_id=letter.id,
                               details={"reasons": reasons})
            to = decide_ack(msg, self.policy)
            if to:
                codes = {p.get("code") for p in letter.problems}
                await self._enqueue_notice(
                    s, letter, msg, to, reasons, now,
                    xml_letter=xml_letter_of(msg, self.xml_resources) if msg else None,
                    invalid=bool(codes & {"xml_invalid", "xml_unreadable"}))
        if self.wake_sender is not None:
            self.wake_sender.set()
        return LetterState.REJECTED

    async def _message_of(self, letter_id: int) -> ParsedMessage | None:
        async with self.store.readers() as s:
            letter = await s.get(Letter, letter_id)
            if letter is None or letter.raw_message_id is None:
                return None
            raw_row = await s.get(RawMessage, letter.raw_message_id)
        if raw_row is None:
            return None
        raw = await asyncio.to_thread(self.store.blobs.get, raw_row.sha256)
        return await asyncio.to_thread(parse_message, raw)

    # -- effects ------------------------------------------------------------------------------

    async def _record_stamp(self, s: AsyncSession, letter: Letter, digest: str | None, size: int,
                            safe_name: str, error: str, at: dt.datetime) -> None:
        outcome: dict[str, Any] = {}
        letter.stamped_at = at
        if digest is not None:
            await know_blob(s, digest, size, at)
            stem = Path(safe_name).stem or "letter"
            s.add(LetterFile(letter_id=letter.id, role="stamped", position=0, filename="",
                             safe_name=f"{stem}-ตรารับ.pdf", media_type="application/pdf",
                             sha256=digest, size=size))
            outcome["stamped_sha256"] = digest
        else:
            outcome["stamp_error"] = letter.stamp_error = error
        await audit.append(s, now=at, actor="pipeline", action="letter.stamped",
                           subject_type="letter", subject_id=letter.id, details=outcome)
        # Units get the stamped copy: rules route the letter once it carries the stamp.
        await self.units.route_by_rules(s, letter, self.store.clock())

    async def _to_stamp(self, letter_id: int) -> _ToStamp | None:
        """What stamping the letter needs, read back; None when it is not registered or is
        already stamped."""
        async with self.store.readers() as s:
            letter = await s.get(Letter, letter_id)
            if letter is None or letter.state != LetterState.REGISTERED or letter.stamped_at is not None:
                return None
            main = (await s.execute(select(LetterFile).where(
                LetterFile.letter_id == letter_id, LetterFile.role == "main"))).scalar_one_or_none()
            entry = await registers.entry_of(s, letter_id)
        return _ToStamp(entry.number if entry else None, entry.registered_at if entry else None,
                        main.sha256 if main else None, main.safe_name if main else "")

    async def stamp_letter(self, letter_id: int, *, also: dict[str, Any] | None = None,
                           known: _ToStamp | None = None) -> bool:
        """Stamp a registered letter (just registered, registered by the clerk, or left
        unstamped by a crash); once per letter. The stamp is drawn and the stamped PDF written
        before the transaction, which only records it. `known`: the letter was registered a
        moment ago and what the stamp needs came from that transaction, not read back."""
        facts = known or await self._to_stamp(letter_id)
        if facts is None:
            return False
        digest: str | None = None
        size = 0
        error = "ไม่มีไฟล์ PDF ให้ประทับตรารับ"
        if facts.main_sha256 is not None and facts.number is not None and facts.at is not None:
            # drawn and kept durably before the transaction, which only records it
            digest, size, error = await workers.run(
                self.read_processes, stamp_blob, str(self.store.blobs.root), facts.main_sha256,
                self.stamp, facts.number, facts.at)
        async with self.store.sessions.begin() as s:
            letter = await s.get(Letter, letter_id, with_for_update=True)
            assert letter is not None
            if letter.state != LetterState.REGISTERED or letter.stamped_at is not None:
                return False
            await self._record_stamp(s, letter, digest, size, facts.main_name,
                                     error, facts.at or self.store.clock())
            if also:  # what the caller records with the stamp (an intent to file a copy)
                for column, value in also.items():
                    setattr(letter, column, value)
        return True

    async def registered_copy(self, letter_id: int) -> tuple[bytes, str] | None:
        """The copy filed next to the original in ลงรับแล้ว, and its sha256: subject
        `[รับ n/ปี] เรื่อง`, the stamped PDF attached; the original's bytes are never altered."""
        async with self.store.readers() as s:
            letter = await s.get(Letter, letter_id)
            if letter is None or letter.state != LetterState.REGISTERED:
                return None
            files = list((await s.execute(select(LetterFile).where(
                LetterFile.letter_id == letter_id).order_by(LetterFile.position))).scalars())
            raw_row = await s.get(RawMessage, letter.raw_message_id) if letter.raw_message_id else None
            entry = await registers.entry_of(s, letter_id)
        if entry is None:
            return None
        number, year, entry_time = entry.number, entry.year, entry.registered_at
        local = entry_time.astimezone(BANGKOK)
        stamped = next((f for f in files if f.role == "stamped"), None)
        main = next((f for f in files if f.role == "main"), None)
        shown = stamped or main
        folder = templates_dir(self.templates)
        in_worker = self.read_processes > 0 and folder is not None
        attach: list[FileToAttach] = []
        if shown is not None and not in_worker:
            data = await asyncio.to_thread(self.store.blobs.get, shown.sha256)
            attach.append(FileToAttach(shown.safe_name, "application/pdf", data))
        a = self.store.settings.agency
        ctx = {
            "number": number, "year": year, "subject": letter.subject,
            "received_date": format_short_date(local.date()), "received_time": format_time(local),
            "channel": letter.channel, "letter_no": letter.letter_no,
            "letter_date": self._date_th(letter.letter_date), "sender": letter.sender,
            "recipient": letter.recipient, "salutation": letter.salutation,
            "speed": letter.speed, "secrecy": letter.secrecy,
            "sources": {k: SOURCE_TH.get(v, v) for k, v in letter.field_sources.items()},
            "signatures": letter.signatures,
            "remarks": " / ".join(x for x in (*letter.sender_flags, letter.stamp_error) if x),
            "sha256": raw_row.sha256 if raw_row else "",
            "units": self._routing_note(letter),
            "folder_prefix": self.store.settings.forwarding.folder_prefix,
        }
        mail = Mail(
            template="registered-copy", context=ctx, from_addr=a.central_addresses[0],
            from_name=a.name_th, to=[a.central_addresses[0]], key=f"copy:{letter_id}",
            attachments=attach, auto=False,
            extra_headers={"X-Saraban-Letter": copy_marker(letter_id),
                           "X-Saraban-Receive-Number": f"{number}/{year}"},
        )
        # A letter-sized message: base64 work off the event loop.
        if in_worker and folder is not None:  # the worker reads the PDF from the blob store
            kept = [(shown.safe_name, "application/pdf", shown.sha256)] if shown is not None else []
            return await workers.run(self.read_processes, compose_with_kept, folder, mail,
                                     str(self.store.blobs.root), kept, now=entry_time)
        return await asyncio.to_thread(_composed, self.templates, mail, entry_time)

    def _routing_note(self, letter: Letter) -> str:
        """What routing did or suggests, for the clerk's copy."""
        names = {u.code: u.name_th for u in self.store.settings.units}
        if letter.routed_rule:
            if letter.suggested_units:
                wanted = ", ".join(names.get(c, c) for c in letter.suggested_units)
                return f"ข้อเสนอตามกฎ “{letter.routed_rule}”: ส่ง {wanted} (ยังไม่ได้ส่ง)"
            return f"ส่งต่อแล้วตามกฎ “{letter.routed_rule}”"
        return ""

    async def resume(self) -> int:
        """After a restart: finish every letter left half-way. Returns how many were touched."""
        async with self.store.readers() as s:
            pending = list((await s.execute(select(Letter.id).where(Letter.state == LetterState.RECEIVED)
                                            .order_by(Letter.id))).scalars())
            registered = list((await s.execute(select(Letter.id).where(
                Letter.state == LetterState.REGISTERED, Letter.stamped_at.is_(None))
                .order_by(Letter.id))).scalars())
        for lid in pending:
            await self.process(lid)
        for lid in registered:
            await self.stamp_letter(lid)
        return len(pending) + len(registered)


async def _in_directory(s: AsyncSession, msg: ParsedMessage) -> bool | None:
    """Whether the sender's address is a known central address; None with an empty directory."""
    from store.directory import count_agencies, find_by_email

    if not msg.from_addr or await count_agencies(s) == 0:
        return None
    return await find_by_email(s, msg.from_addr) is not None


_OWN_HEADERS = re.compile(rb"^(" + SENT_HEADER.encode() + rb"|" + RETURNED_HEADER.encode()
                          + rb"):[ \t]*(\d+)", re.MULTILINE | re.IGNORECASE)


def _own_copy(raw: bytes, msg: ParsedMessage, policy: Policy) -> tuple[str, int] | None:
    """Our own mail come back through the central mailbox: the confirmation of a sent letter
    (filed in ส่งแล้ว) or a letter a unit returned (filed in review). (header, letter id)."""
    if (msg.from_addr or "") not in policy.central_addresses:
        return None
    end = raw.find(b"\r\n\r\n", 0, 65536)
    head = raw[: end if end >= 0 else 65536].replace(b"\r\n", b"\n")
    m = _OWN_HEADERS.search(head)
    if m is None:
        return None
    name = SENT_HEADER if m.group(1).lower() == SENT_HEADER.lower().encode() else RETURNED_HEADER
    return name, int(m.group(2))


_SYSTEM_SENDER = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|bounces?|mdaemon)\b", re.IGNORECASE)


def _may_be_bounce(msg: ParsedMessage, envelope_to: Sequence[str], envelope_from: str) -> bool:
    """A cheap filter before read_bounce: reports, auto-submitted mail, mail-system senders, the
    null return path, and anything sent to a VERP path. An IMAP letter's envelope sender is
    unknown (""), not null: there a null `Return-Path` already makes msg.is_auto_reply."""
    return (msg.is_auto_reply or envelope_from == "<>"
            or bool(_SYSTEM_SENDER.match(msg.from_addr or ""))
            or any(verp_token(a) for a in (*envelope_to, *msg.to_addrs)))


def decide_ack(msg: ParsedMessage | None, policy: Policy) -> str | None:
    from gateway.core.classify import ack_address

    return ack_address(msg, policy) if msg is not None else None


def problems_of(letter: Letter) -> list[Problem]:
    return [Problem(p.get("code", ""), p.get("th", ""), p.get("en", "")) for p in letter.problems]

