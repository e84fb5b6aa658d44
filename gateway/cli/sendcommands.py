"""The send side's commands: `send`, `letter show`, `followup`, `outbox`, `passwd`.

`send` builds the same mail a clerk's client would submit and puts it through
the same road (Outbound.accept → process → outbox), so the command line and the
e-mail client can never disagree about numbers, names or refusals.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import sys

from sqlalchemy import select

from gateway.app import Store
from gateway.config import Settings
from gateway.core.compose import template_env
from gateway.errors import UserError
from gateway.outbound.flow import Outbound, submission_message
from gateway.outbound.sender import SenderLease, make_transport, send_due
from gateway.passwords import hash_password
from gateway.state import label_th
from gateway.thai import BANGKOK, format_short_datetime, letter_no_key
from store import outbox
from store.tables import Letter, LetterRecipient, OutboxItem

ACTOR_USER = "cli"

RECIPIENT_TH = {"queued": "รอส่ง", "sent": "ส่งแล้ว", "failed": "ส่งไม่สำเร็จ",
                "acknowledged": "ลงรับแล้ว"}


async def _store(settings: Settings) -> Store:
    from gateway.cli.commands import _with_store  # like every command: the schema must be current

    return await _with_store(settings)


async def send(args: argparse.Namespace, settings: Settings) -> int:
    for f in args.files:
        if not f.is_file():
            raise UserError(f"ไม่พบไฟล์ {f}", f"no such file: {f}")
    tags = "".join(t for t, on in (("[เวียน] ", args.circular), ("[คำสั่ง] ", args.order),
                                    ("[ยืนยันผู้รับ] ", args.confirm_recipients)) if on)
    if args.reserved is not None:
        tags += f"[เลขสำรอง {args.reserved}] "
    store = await _store(settings)
    try:
        central = settings.agency.central_addresses[0]
        raw = submission_message(pdfs=args.files, to=args.to, subject=tags + args.subject,
                                 sender=central, now=store.clock())
        out = Outbound.build(store, template_env())
        user = args.user or ACTOR_USER
        letter_id = await out.accept(raw, central, list(args.to), user, channel="cli")
        state = await out.process(letter_id)
        async with store.readers() as s:
            letter = await s.get(Letter, letter_id)
            assert letter is not None
        if state != "queued":
            print(f"ไม่ได้ส่ง (refused): {letter.review_reason}", file=sys.stderr)
            return 1
        sent = 0
        lease = SenderLease(store, out.on_parked)
        if await lease.take():
            try:
                while n := await send_due(store, make_transport(store), composer=out.compose_for,
                                          on_parked=out.on_parked):
                    sent += n
            finally:
                await lease.drop()
        print(f"ลงทะเบียนส่งแล้ว ที่ {letter.letter_no} ไฟล์ {letter.file_name}\n"
              f"queued {letter.letter_no} to {len(set(args.to))} recipient(s); delivered now: {sent}")
        return 0
    finally:
        await store.close()


async def _find_letter(store: Store, ref: str) -> Letter:
    async with store.readers() as s:
        if ref.isdigit():
            letter = await s.get(Letter, int(ref))
        else:
            letter = (await s.execute(select(Letter).where(
                Letter.direction == "out", Letter.letter_no_norm == letter_no_key(ref))
                .order_by(Letter.id.desc()).limit(1))).scalar_one_or_none()
    if letter is None:
        raise UserError(f"ไม่พบหนังสือ {ref}", f"no letter {ref}")
    return letter


async def letter_cmd(args: argparse.Namespace, settings: Settings) -> int:
    store = await _store(settings)
    try:
        letter = await _find_letter(store, args.ref)
        async with store.readers() as s:
            rows = list((await s.execute(select(LetterRecipient, OutboxItem.attempts, OutboxItem.status)
                                         .join(OutboxItem, OutboxItem.id == LetterRecipient.outbox_id,
                                               isouter=True)
                                         .where(LetterRecipient.letter_id == letter.id)
                                         .order_by(LetterRecipient.id))).all())
        print(f"หนังสือ {letter.id}: ที่ {letter.letter_no or '-'}  เรื่อง {letter.subject}")
        print(f"  สถานะ {label_th(letter.state)} ({letter.state})"
              + (f"  ไฟล์ {letter.file_name}" if letter.file_name else ""))
        if letter.review_reason:
            print(f"  เหตุผล: {letter.review_reason}")
        for r, attempts, ob_status in rows:
            line = f"  - {r.name_th or r.address} <{r.address}>: {RECIPIENT_TH.get(r.state, r.state)}"
            if r.state == "sent" and r.sent_at:
                line += f" {format_short_datetime(r.sent_at)}"
            if r.state == "acknowledged":
                line += f" เลขรับ {r.ack_number or '-'}" + (f" {format_short_datetime(r.ack_at)}" if r.ack_at else "")
            if r.state == "failed":
                line += f" ({r.error})"
            if ob_status in ("pending", "sending") and attempts:
                line += f" (พยายามแล้ว {attempts} ครั้ง)"
            print(line)
        return 0
    finally:
        await store.close()


def working_days_between(start: dt.date, end: dt.date, holidays: frozenset[dt.date] = frozenset()) -> int:
    """Working days (Monday–Friday, not a configured public holiday) after `start` up to `end`."""
    days = 0
    d = start
    while d < end:
        d += dt.timedelta(days=1)
        if d.weekday() < 5 and d not in holidays:
            days += 1
    return days


async def followup(args: argparse.Namespace, settings: Settings) -> int:
    limit = args.days if args.days is not None else settings.outbound.followup_working_days
    store = await _store(settings)
    try:
        today = store.clock().astimezone(BANGKOK).date()
        async with store.readers() as s:
            rows = list((await s.execute(select(LetterRecipient, Letter).join(
                Letter, Letter.id == LetterRecipient.letter_id).where(
                LetterRecipient.state.in_(("sent", "failed", "queued"))).order_by(Letter.id))).all())
        holidays = frozenset(settings.outbound.holidays)
        late = [(r, letter) for r, letter in rows
                if r.sent_at is None
                or working_days_between(r.sent_at.astimezone(BANGKOK).date(), today, holidays) >= limit]
        late = [(r, letter) for r, letter in late if r.state != "queued" or r.sent_at is not None]
        if not late:
            print(f"ไม่มีหนังสือค้างตอบรับเกิน {limit} วันทำการ (nothing to follow up)")
            return 0
        print(f"หนังสือส่งที่ยังไม่ได้รับการตอบรับเกิน {limit} วันทำการ ({len(late)} รายการ):")
        for r, letter in late:
            when = format_short_datetime(r.sent_at) if r.sent_at else "-"
            print(f"  ที่ {letter.letter_no}  {letter.subject}\n    ถึง {r.name_th or r.address} <{r.address}>"
                  f"  {RECIPIENT_TH.get(r.state, r.state)} {when}")
        return 0
    finally:
        await store.close()


async def outbox_cmd(args: argparse.Namespace, settings: Settings) -> int:
    store = await _store(settings)
    try:
        if args.outbox_command == "retry":
            async with store.sessions.begin() as s:
                item = await outbox.retry(s, args.id, now=store.clock(), actor=ACTOR_USER)
            print(f"จะส่งรายการ {item.id} ถึง {item.recipient} อีกครั้ง (queued again)")
            return 0
        async with store.readers() as s:
            items = list((await s.execute(select(OutboxItem).where(
                OutboxItem.status.in_(("pending", "sending", "parked", "uncertain")))
                .order_by(OutboxItem.id))).scalars())
        if not items:
            print("ไม่มีรายการค้างส่ง (the outbox is empty)")
        for i in items:
            print(f"{i.id:>6} {i.status:<9} {i.kind:<12} {i.recipient}  ครั้งที่ {i.attempts}"
                  + (f"  {i.last_error}" if i.last_error else ""))
        return 0
    finally:
        await store.close()


async def passwd(args: argparse.Namespace, settings: Settings) -> int:
    if sys.stdin.isatty():
        pw = getpass.getpass("รหัสผ่าน (password): ")
        if pw != getpass.getpass("อีกครั้ง (again): "):
            raise UserError("รหัสผ่านไม่ตรงกัน", "passwords do not match")
    else:
        pw = sys.stdin.readline().rstrip("\r\n")
    if len(pw) < 8:
        raise UserError("รหัสผ่านต้องยาวอย่างน้อย 8 ตัวอักษร", "the password must be at least 8 characters")
    print(hash_password(pw))
    return 0
