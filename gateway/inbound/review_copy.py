"""The copy filed next to a letter set aside for the clerk (review, restricted: AWAITING_CLERK).

Subject `[ตรวจ L<id>] …`: the reference a reply keeps (Re:, quoting, the clerk's own words
around it), read back by gateway/core/parse/corrections.review_ref. The body starts with the
Thai reasons, then the fields as read and where from, what is missing, and the commands that
settle it (a reply with field lines and `ลงรับ` / `คืน <เหตุผล>`, or a move of the original);
the original message is attached unchanged (message/rfc822). Nothing in the body is itself a
correction line (a field is shown `• ที่ — value`, never `ที่: value`), and it ends with a
signature: a reply quoting it re-sends nothing as a correction. A secret letter's copy
(gateway/trust/secrecy.py) shows its reference only: no fields, nothing attached.

Fields the clerk gives without registering replace the copy with one showing them
(gateway/intake/stale_copies.py); each version is its own message (its Message-ID follows
what it shows), so no mail client or server takes the new one for the old.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from email.parser import BytesParser
from email.policy import compat32

from gateway.core.compose import Mail, compose, shown_version
from gateway.core.parse import decode_words
from gateway.core.parse.corrections import review_tag
from gateway.inbound.context import Inbound
from gateway.inbound.filed_copy import field_sources_th
from gateway.letter import REQUIRED_FIELDS
from gateway.state import AWAITING_CLERK
from gateway.store.blobs import sha256_hex
from gateway.store.tables import Letter, RawMessage
from gateway.thai import BANGKOK, format_letter_date, format_short_date, format_time
from gateway.trust.automail import clean_line
from gateway.trust.secrecy import may_mail

# field name → (the label a correction line uses, what the field is), in the register's order
FIELDS_TH = (("letter_no", "ที่", "เลขที่หนังสือ"), ("letter_date", "ลงวันที่", "วันที่ของหนังสือ"),
             ("sender", "จาก", "ส่วนราชการเจ้าของหนังสือ"), ("recipient", "ถึง", "ผู้รับ"),
             ("subject", "เรื่อง", "เรื่อง"), ("speed", "ชั้นความเร็ว", "ชั้นความเร็ว"))


def review_marker(letter_id: int) -> str:
    """The X-Saraban-Letter value of a review copy (the findable copy's is `L<id>.`): the dot
    ends it, so a substring search for letter 1 does not find letter 12."""
    return f"R{letter_id}."


def _email_subject(raw: bytes) -> str:
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0][:65536]
    value = BytesParser(policy=compat32).parsebytes(head + b"\r\n\r\n", headersonly=True).get("Subject")
    return clean_line(decode_words(str(value))) if value is not None else ""


def shown_fields(letter: Letter, thai_digits: bool) -> list[dict[str, str]]:
    """The fields as read, with where each came from, in Thai."""
    sources = field_sources_th(letter)
    out = []
    for name, label, what in FIELDS_TH:
        value = getattr(letter, name)
        if name == "letter_date":
            value = format_letter_date(value, thai_digits=thai_digits) if value else ""
        out.append({"name": name, "label": label, "what": what, "value": clean_line(str(value or ""), 300),
                    "source": sources.get(name, "") if value else ""})
    return out


async def review_copy(ctx: Inbound, letter_id: int) -> tuple[bytes, str] | None:
    """The review copy of a letter waiting for the clerk, and its sha256; None otherwise."""
    store = ctx.store
    async with store.readers() as s:
        letter = await s.get(Letter, letter_id)
        if letter is None or letter.state not in AWAITING_CLERK:
            return None
        raw_row = await s.get(RawMessage, letter.raw_message_id) if letter.raw_message_id else None
    raw = await asyncio.to_thread(store.blobs.get, raw_row.sha256) if raw_row is not None else b""
    settings = store.settings
    a, folders = settings.agency, settings.intake.folders
    received = (raw_row.received_at if raw_row is not None else letter.created_at).astimezone(BANGKOK)
    context: dict[str, object] = {
        "tag": review_tag(letter_id), "letter_id": letter_id, "secret": not may_mail(letter),
        "secrecy": letter.secrecy, "agency": a.name_th, "channel": letter.channel,
        "received_date": format_short_date(received.date()), "received_time": format_time(received),
        "folder_registered": folders.registered, "folder_rejected": folders.rejected,
    }
    attach: list[bytes] = []
    if may_mail(letter):
        fields = shown_fields(letter, a.thai_digits)
        reasons = [clean_line(str(p.get("th", "")), 300) for p in letter.problems if p.get("th")]
        context |= {
            "subject": clean_line(letter.subject), "email_subject": _email_subject(raw),
            "reasons": reasons or [clean_line(letter.review_reason, 300) or "ต้องให้เจ้าหน้าที่ตรวจสอบ"],
            "fields": fields,
            "missing": [f["label"] for f in fields if f["name"] in REQUIRED_FIELDS and not f["value"]],
            "remarks": [clean_line(str(x), 300) for x in letter.sender_flags if x],
            "sha256": raw_row.sha256 if raw_row is not None else "",
        }
        if raw:
            attach.append(raw)
    mail = Mail(template="review-copy", context=context, from_addr=a.central_addresses[0],
                from_name=a.name_th, to=[a.central_addresses[0]], key=f"review-copy:{letter_id}:{shown_version(context)}",
                attach_messages=attach, auto=False,
                extra_headers={"X-Saraban-Letter": review_marker(letter_id)})
    now = letter.created_at
    return await asyncio.to_thread(_composed, ctx, mail, now)


def _composed(ctx: Inbound, mail: Mail, now: dt.datetime) -> tuple[bytes, str]:
    data = compose(ctx.templates, mail, now=now, signer=ctx.store.secret)
    return data, sha256_hex(data)
