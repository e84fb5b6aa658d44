"""Outgoing letters, the mails: each recipient's letter, composed at delivery, and the replies
to the clerk.

A queued letter's per-recipient mail is composed when the sender delivers it, from the stored
letter (register entry, files, recipients), deterministically: a retry sends the same bytes
with the same Message-ID and MIME boundaries. The replies to the clerk (confirmation,
refusal, numbers, help) are composed into the outbox in the caller's transaction.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.config import Settings
from gateway.core.compose import FileToAttach, Mail, compose
from gateway.forwarding.routing import recipient_reply_address
from gateway.letter import Speed
from gateway.outbound.sender import agency_mail, queue_mail
from gateway.store import registers
from gateway.store.handle import Store
from gateway.store.tables import Letter, LetterFile, LetterRecipient
from gateway.thai import BANGKOK, format_letter_date
from gateway.xmlletter.build import build_letter_xml
from gateway.xmlletter.model import OutgoingXmlLetter, Party
from gateway.xmlletter.resources import XmlResources
from gateway.xmlletter.validate import validate_xml

log = logging.getLogger(__name__)

SPEED_CODE = {None: "001", Speed.NORMAL: "001", Speed.URGENT: "002", Speed.VERY_URGENT: "003",
              Speed.MOST_URGENT: "004"}


def agency_context(settings: Settings) -> dict[str, Any]:
    """What every mail to the clerk and every letter's covering text says of the agency."""
    a = settings.agency
    return {"agency": a.name_th, "unit": a.unit_name_th, "contact": a.contact,
            "central_address": a.central_addresses[0]}


async def reply_to_clerk(s: AsyncSession, store: Store, templates: jinja2.Environment, letter: Letter,
                         template: str, ctx: dict[str, Any], to: str, message_id: str | None,
                         now: dt.datetime, *, attachments: Sequence[FileToAttach] = (),
                         headers: dict[str, str] | None = None) -> None:
    """Queue the answer to a submission (in the caller's transaction), in reply to its mail."""
    mail = agency_mail(store.settings, template, ctx, to=[to], key=f"{template}:{letter.id}",
                       in_reply_to=message_id, attachments=attachments, extra_headers=headers or {})
    await queue_mail(s, store, templates, mail, kind=template, now=now, letter_id=letter.id)


@dataclass
class LetterMails:
    """Composes each recipient's mail of a queued letter; the last few letters stay loaded."""

    store: Store
    templates: jinja2.Environment
    xml_resources: XmlResources
    cache: dict[int, _LetterMail] = field(default_factory=dict)

    async def compose_for(self, recipe: dict[str, Any]) -> bytes:
        """The mail for one recipient, the same bytes every time it is asked for."""
        letter_id = int(recipe["letter_id"])
        lm = self.cache.get(letter_id)
        if lm is None:
            lm = await self._load_letter_mail(letter_id)
            if len(self.cache) > 8:
                self.cache.pop(next(iter(self.cache)))
            self.cache[letter_id] = lm
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
        ctx = {**agency_context(s), "addressee": name or "หัวหน้าส่วนราชการ",
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
                                               # their reply proves whose it is (issue #18)
                                               "Reply-To": recipient_reply_address(
                                                   a.central_addresses[0], token),
                                               **({"Cc": ", ".join(cc)} if cc else {})},
                    boundary_seed=token)
        return compose(self.templates, mail, now=lm.registered_at, signer=self.store.secret)


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
