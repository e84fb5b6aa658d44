"""The copy filed next to a registered original in ลงรับแล้ว: subject `[รับ n/ปี] เรื่อง`, the
stamped PDF attached, the fields read (and where from), the signature check and what routing
did or suggests. The original's bytes are never altered; composing a letter-sized message
runs in a worker process, which reads the PDF from the blob store itself. A secret letter's
copy (ลับ and above, gateway/trust/secrecy.py) shows its receive number only: no fields,
no PDF.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import jinja2
from sqlalchemy import select

from gateway import workers
from gateway.core.compose import (
    FileToAttach,
    Mail,
    Signer,
    compose,
    compose_from,
    shown_version,
    templates_dir,
)
from gateway.inbound.context import Inbound
from gateway.inbound.stamp import Stamped
from gateway.state import LetterState
from gateway.store import registers
from gateway.store.blobs import BlobStore, sha256_hex
from gateway.store.tables import Letter, LetterFile, RawMessage
from gateway.thai import BANGKOK, format_letter_date, format_short_date, format_time
from gateway.trust.secrecy import may_mail

# Where a field was read, as the clerk reads it (domain.md §5.5; #19): XML, PDF, อีเมล (its
# subject, body or sender), ชื่อไฟล์, or ค่าเริ่มต้น when no source gave one (speed ปกติ).
SOURCE_TH = {"xml": "XML", "pdf": "PDF", "subject": "อีเมล (หัวเรื่อง)",
             "body": "อีเมล (เนื้อความ)", "email": "อีเมล (ผู้ส่ง)", "filename": "ชื่อไฟล์",
             "default": "ค่าเริ่มต้น", "ocr": "ภาพสแกน (OCR) ต้องตรวจทาน",
             "clerk": "เจ้าหน้าที่"}  # "clerk": corrections.CLERK_SOURCE, a value the clerk gave
DEFAULT_TH = SOURCE_TH["default"]


def copy_marker(letter_id: int) -> str:
    """The X-Saraban-Letter value of a filed copy (the mailbox's filing searches for it); the
    dot ends it, so a substring search for letter 1 does not find letter 12."""
    return f"L{letter_id}."


def compose_with_kept(directory: str, mail: Mail, blob_root: str,
                      kept: Sequence[tuple[str, str, str]], *, now: dt.datetime,
                      signer: Signer) -> tuple[bytes, str]:
    """compose_from with `kept` files (name, type, sha256) attached from the blob store, and
    the mail's sha256 (in a worker process: the PDF is read there, not sent through the pipe)."""
    blobs = BlobStore(Path(blob_root))
    files = [FileToAttach(name, ctype, blobs.get(digest)) for name, ctype, digest in kept]
    data = compose_from(directory, replace(mail, attachments=[*mail.attachments, *files]), now=now,
                        signer=signer)
    return data, sha256_hex(data)


def _composed(templates: jinja2.Environment, mail: Mail, now: dt.datetime,
              signer: Signer) -> tuple[bytes, str]:
    data = compose(templates, mail, now=now, signer=signer)
    return data, sha256_hex(data)


def field_sources_th(letter: Letter) -> dict[str, str]:
    """Per field, where its value came from, in Thai; a speed or secrecy no source gave is
    ปกติ by default, and says so."""
    shown = {k: SOURCE_TH.get(v, v) for k, v in (letter.field_sources or {}).items()}
    for name in ("speed", "secrecy"):
        shown.setdefault(name, DEFAULT_TH)
    return shown


def routing_note(letter: Letter, unit_names: dict[str, str]) -> str:
    """What routing did or suggests, for the clerk's copy."""
    if letter.routed_rule:
        if letter.suggested_units:
            wanted = ", ".join(unit_names.get(c, c) for c in letter.suggested_units)
            return f"ข้อเสนอตามกฎ “{letter.routed_rule}”: ส่ง {wanted} (ยังไม่ได้ส่ง)"
        return f"ส่งต่อแล้วตามกฎ “{letter.routed_rule}”"
    return ""


async def filed_copy(ctx: Inbound, letter_id: int,
                     known: Stamped | None = None) -> tuple[bytes, str] | None:
    """The copy of a registered letter and its sha256; None when it is not registered.
    `known`: the letter as the stamp's transaction just left it (inbound/stamp.py Stamped),
    not read back."""
    store = ctx.store
    if known is not None:
        letter, raw_sha = known.letter, known.raw_sha256
        number, year, entry_time = known.number, known.year, known.registered_at
        pdf = known.pdf
    else:
        async with store.readers() as s:
            row = await s.get(Letter, letter_id)
            if row is None or row.state != LetterState.REGISTERED:
                return None
            files = list((await s.execute(select(LetterFile).where(
                LetterFile.letter_id == letter_id).order_by(LetterFile.position))).scalars())
            raw_row = await s.get(RawMessage, row.raw_message_id) if row.raw_message_id else None
            entry = await registers.entry_of(s, letter_id)
        if entry is None:
            return None
        letter, raw_sha = row, raw_row.sha256 if raw_row else ""
        number, year, entry_time = entry.number, entry.year, entry.registered_at
        chosen = next((f for f in files if f.role == "stamped"), None) or \
            next((f for f in files if f.role == "main"), None)
        pdf = (chosen.safe_name, chosen.sha256) if chosen is not None else None
    local = entry_time.astimezone(BANGKOK)
    shown = pdf if may_mail(letter) else None  # a secret letter's file stays inside
    folder = templates_dir(ctx.templates)
    in_worker = ctx.read_processes > 0 and folder is not None
    attach: list[FileToAttach] = []
    if shown is not None and not in_worker:
        data = await asyncio.to_thread(store.blobs.get, shown[1])
        attach.append(FileToAttach(shown[0], "application/pdf", data))
    a = store.settings.agency
    context: dict[str, object] = {
        "secret": False, "number": number, "year": year, "subject": letter.subject,
        "received_date": format_short_date(local.date()), "received_time": format_time(local),
        "channel": letter.channel, "letter_no": letter.letter_no,
        "letter_date": format_letter_date(letter.letter_date, thai_digits=a.thai_digits)
        if letter.letter_date else "", "sender": letter.sender,
        "recipient": letter.recipient, "salutation": letter.salutation,
        "speed": letter.speed, "secrecy": letter.secrecy,
        "sources": field_sources_th(letter),
        "signatures": letter.signatures,
        "remarks": " / ".join(x for x in (*letter.sender_flags, letter.stamp_error) if x),
        "sha256": raw_sha,
        "units": routing_note(letter, {u.code: u.name_th for u in store.settings.units}),
        "folder_prefix": store.settings.forwarding.folder_prefix,
    }
    if not may_mail(letter):  # number only: what the shared folder may show
        context = {"secret": True, "number": number, "year": year, "secrecy": letter.secrecy,
                   "received_date": format_short_date(local.date()), "received_time": format_time(local),
                   "channel": letter.channel, "letter_id": letter_id,
                   "folder_prefix": store.settings.forwarding.folder_prefix}
    mail = Mail(
        template="registered-copy", context=context, from_addr=a.central_addresses[0],
        from_name=a.name_th, to=[a.central_addresses[0]], key=f"copy:{letter_id}:{shown_version(context)}",
        attachments=attach, auto=False,
        extra_headers={"X-Saraban-Letter": copy_marker(letter_id),
                       "X-Saraban-Receive-Number": f"{number}/{year}"},
    )
    # A letter-sized message: base64 work off the event loop.
    if in_worker and folder is not None:  # the worker reads the PDF from the blob store
        kept = [(shown[0], "application/pdf", shown[1])] if shown is not None else []
        return await workers.run(ctx.read_processes, compose_with_kept, folder, mail,
                                 str(store.blobs.root), kept, now=entry_time,
                                 signer=store.secret)
    return await asyncio.to_thread(_composed, ctx.templates, mail, entry_time, store.secret)
