"""`saraban-gateway letter edit | reject` and the cancel of `registers cancel`: the clerk's
corrections on the command line, the same decisions as the replies in the mail client
(gateway/inbound/clerk.py ClerkDesk). A value that cannot be read changes nothing and says,
in Thai, which text and which forms are accepted."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from gateway.cli.common import ACTOR, Subparsers, command_store
from gateway.config import Settings
from gateway.errors import UserError
from gateway.state import label_th
from gateway.thai import BANGKOK

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from gateway.inbound.clerk import ClerkDesk, DeskOutcome
    from gateway.store.handle import Store

# option → field name, in the order the register prints them
OPTIONS = (("number", "letter_no"), ("date", "letter_date"), ("sender", "sender"),
           ("recipient", "recipient"), ("subject", "subject"), ("speed", "speed"))


def add_actions(lt: Subparsers) -> None:
    """`letter edit` and `letter reject` beside the other `letter` actions."""
    ed = lt.add_parser("edit", help="แก้ไขรายการหนังสือรับ หรือลงทะเบียนหนังสือที่รอตรวจสอบ "
                                     "(correct a letter's fields; register one in review)")
    ed.add_argument("ref", help="เลขรับ เช่น 12/2569 หรือรหัสหนังสือ เช่น 57 (receive number or letter id)")
    ed.add_argument("--number", help="ที่ เช่น 'กค 0305/ว 88' (the letter's number)")
    ed.add_argument("--date", help="ลงวันที่ เช่น '3 ธ.ค. 2569' หรือ 3/12/2569 (the letter's date, BE)")
    ed.add_argument("--from", dest="sender", help="จาก (sender)")
    ed.add_argument("--to", dest="recipient", help="ถึง/เรียน (recipient)")
    ed.add_argument("--subject", help="เรื่อง (subject)")
    ed.add_argument("--speed", help="ชั้นความเร็ว: ด่วนที่สุด ด่วนมาก ด่วน ปกติ (speed)")
    ed.add_argument("--no-number", action="store_true",
                    help="หนังสือไม่มีเลขที่ (the letter truly has no number: register with ที่ empty)")
    ed.add_argument("--reason", required=True, help="เหตุผลการแก้ไข (why: kept with the amendment)")
    ed.add_argument("--register", action="store_true",
                    help="ลงทะเบียนรับหนังสือที่รอตรวจสอบด้วยค่าเหล่านี้ (register a letter in review)")
    ed.set_defaults(handler=edit)
    rj = lt.add_parser("reject", help="ไม่รับหนังสือที่รอตรวจสอบ แจ้งเหตุผลแก่ผู้ส่ง "
                                       "(refuse a letter in review; the sender is told why)")
    rj.add_argument("id", type=int, help="รหัสหนังสือ (letter id)")
    rj.add_argument("--reason", required=True, help="เหตุผลที่แจ้งผู้ส่ง (the reason, sent to the sender)")
    rj.set_defaults(handler=reject)


@asynccontextmanager
async def desk(settings: Settings) -> AsyncIterator[tuple[Store, ClerkDesk]]:
    from gateway.core.compose import template_env
    from gateway.inbound.pipeline import Pipeline

    async with command_store(settings) as store:
        yield store, Pipeline.build(store, template_env()).clerk


async def letter_of(store: Store, ref: str) -> int:
    """The letter a `n/ปี` receive number (any status) or a letter id names."""
    from sqlalchemy import select

    from gateway.store import registers
    from gateway.store.tables import Letter, RegisterEntry
    from gateway.thai import to_arabic_digits

    text = to_arabic_digits(ref.strip())
    number, slash, year = text.partition("/")
    async with store.readers() as s:
        if slash and number.strip().isdigit() and year.strip().isdigit():
            book = await registers.get_book(s, "receive")
            found = (await s.execute(select(RegisterEntry.letter_id).where(
                RegisterEntry.book_id == book.id, RegisterEntry.year == int(year),
                RegisterEntry.number == int(number)))).scalar_one_or_none()
            if found is None:
                raise UserError(f"ไม่มีเลขรับ {number}/{year}", f"no receive number {number}/{year}")
            return int(found)
        if text.isdigit() and await s.get(Letter, int(text)) is not None:
            return int(text)
    raise UserError(f"ไม่พบหนังสือ {ref!r} ระบุเลขรับ เช่น 12/2569 หรือรหัสหนังสือ เช่น 57",
                    f"no letter {ref!r}: give a receive number (12/2569) or a letter id")


def _said(outcome: DeskOutcome) -> None:
    if outcome.error_th or outcome.missing:
        raise UserError(outcome.error_th or "ทำรายการไม่ได้",
                        f"not done: letter {outcome.letter_id} is {outcome.state}"
                        + (f", missing {', '.join(outcome.missing)}" if outcome.missing else ""))


async def edit(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.core.edits import EditError, edits_from_texts
    from gateway.state import REGISTRABLE, LetterState
    from gateway.store.tables import Letter

    reason = args.reason.strip()
    if not reason:
        raise UserError("ต้องระบุเหตุผล (--reason)", "--reason must say why")
    texts = {field: getattr(args, option) for option, field in OPTIONS if getattr(args, option) is not None}
    async with desk(settings) as (store, clerk):
        today = store.clock().astimezone(BANGKOK).date()
        try:
            edits = edits_from_texts(texts, today=today, no_number=args.no_number)
        except EditError as exc:
            raise UserError(exc.message_th, f"cannot read {exc.field}: {exc.text!r}") from None
        letter_id = await letter_of(store, args.ref)
        async with store.readers() as s:
            letter = await s.get(Letter, letter_id)
            state = letter.state if letter else ""
        if state in REGISTRABLE and args.register:
            outcome = await clerk.register(letter_id, actor=ACTOR, edits=edits, reason=reason)
            _said(outcome)
            print(f"ลงทะเบียนรับหนังสือ {letter_id} แล้ว เลขรับ {outcome.entry} (registered)")
            return 0
        if state in REGISTRABLE:
            outcome = await clerk.correct(letter_id, edits, actor=ACTOR, reason=reason)
            _said(outcome)
            print(f"บันทึกการแก้ไขหนังสือ {letter_id} แล้ว ยังไม่ได้ลงทะเบียน (saved; not registered)"
                  + ("" if outcome.missing else f" — ลงทะเบียนด้วย letter edit {letter_id} --register"))
            if outcome.missing:
                print("  ยังไม่มี: " + ", ".join(_th(m) for m in outcome.missing))
            return 0
        if state == LetterState.REGISTERED:
            if not edits.given() and not edits.no_number:
                raise UserError("ไม่ได้ระบุช่องที่จะแก้ไข (--number, --date, --from, --to, --subject, --speed)",
                                "nothing to change: give at least one field")
            outcome = await clerk.amend(letter_id, edits, actor=ACTOR, reason=reason)
            _said(outcome)
            print(f"แก้ไขทะเบียนรับ เลขรับ {outcome.entry} แล้ว (amended): "
                  + ", ".join(f"{_th(k)} {v}" for k, v in _shown(edits.given()).items()))
            return 0
        raise UserError(f"หนังสือ {letter_id} แก้ไขไม่ได้ (สถานะ: {label_th(state)})",
                        f"letter {letter_id} cannot be edited in state {state}")


def _th(field: str) -> str:
    from gateway.core.edits import FIELD_TH

    return FIELD_TH.get(field, field)


def _shown(given: dict[str, object]) -> dict[str, str]:
    from gateway.inbound.corrections import shown

    return {k: shown(v) for k, v in given.items()}


async def reject(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.state import AWAITING_CLERK, LetterState
    from gateway.store.tables import Letter

    reason = args.reason.strip()
    if not reason:
        raise UserError("ต้องระบุเหตุผล (--reason)", "--reason must say why")
    async with desk(settings) as (store, clerk):
        async with store.readers() as s:
            letter = await s.get(Letter, args.id)
        state = letter.state if letter is not None else ""
        if state in AWAITING_CLERK:
            state = await clerk.reject(args.id, actor=ACTOR, reason=reason)
    if letter is None:
        raise UserError(f"ไม่พบหนังสือรหัส {args.id}", f"no letter {args.id}")
    if state != LetterState.REJECTED or letter.state not in AWAITING_CLERK:
        raise UserError(f"หนังสือ {args.id} ไม่ได้รอตรวจสอบ ไม่รับไม่ได้ (สถานะ: {label_th(state)})",
                        f"letter {args.id} is not waiting for the clerk ({state})")
    print(f"ไม่รับหนังสือ {args.id} แล้ว แจ้งผู้ส่งพร้อมเหตุผล: {reason} (rejected)")
    return 0


async def cancel_letter(settings: Settings, *, book: str, year: int, number: int, reason: str) -> bool:
    """`registers cancel` on a registered letter's receive number: the letter is cancelled and
    may be registered again. False when the number is not a registered letter's (the caller
    cancels the bare number as before)."""
    from sqlalchemy import select

    from gateway.state import LetterState
    from gateway.store import registers
    from gateway.store.tables import Letter, RegisterEntry

    if book != "receive":
        return False
    async with desk(settings) as (store, clerk):
        async with store.readers() as s:
            b = await registers.get_book(s, book)
            letter_id = (await s.execute(select(RegisterEntry.letter_id).where(
                RegisterEntry.book_id == b.id, RegisterEntry.year == year, RegisterEntry.number == number,
                RegisterEntry.status == "registered"))).scalar_one_or_none()
            letter = await s.get(Letter, letter_id) if letter_id is not None else None
        if letter is None or letter.state != LetterState.REGISTERED:
            return False
        outcome = await clerk.cancel(letter.id, actor=ACTOR, reason=reason)
    _said(outcome)
    print(f"ยกเลิกเลขรับ {outcome.entry} แล้ว (cancelled): {reason.strip()}\n"
          f"  หนังสือ {letter.id} อยู่ในสถานะ{label_th(outcome.state)} ลงทะเบียนใหม่ได้ด้วย "
          f"saraban-gateway letter edit {letter.id} --reason … --register")
    return True


async def history_lines(s: AsyncSession, letter_id: int) -> list[str]:
    """What `letter show` and `letter trace` print of a letter's register lines (a cancelled
    one pointing to the line that replaced it) and its amendments (old → new, who, when, why)."""
    from sqlalchemy import select

    from gateway.core.edits import FIELD_TH
    from gateway.store.registers import STATUS_TH
    from gateway.store.tables import Amendment, RegisterBook, RegisterEntry
    from gateway.thai import format_short_datetime

    lines = []
    rows = (await s.execute(select(RegisterEntry, RegisterBook.code).join(
        RegisterBook, RegisterBook.id == RegisterEntry.book_id).where(
        RegisterEntry.letter_id == letter_id).order_by(RegisterEntry.id))).all()
    numbers = {e.id: f"{e.number}/{e.year}" for e, _ in rows}
    for e, code in rows:
        text = f"ทะเบียน {code} เลข {e.number}/{e.year}: {STATUS_TH.get(e.status, e.status)}"
        if e.status == "cancelled":
            text += f" ({e.cancel_reason})" if e.cancel_reason else ""
            if e.cancelled_at is not None:
                text += f" เมื่อ {format_short_datetime(e.cancelled_at)}"
            if e.replaced_by_id is not None:
                text += f" → ลงทะเบียนใหม่ เลข {numbers.get(e.replaced_by_id, e.replaced_by_id)}"
        lines.append(text)
    for a in (await s.execute(select(Amendment).where(Amendment.letter_id == letter_id)
                              .order_by(Amendment.id))).scalars():
        lines.append(f"แก้ไข {FIELD_TH.get(a.field, a.field)}: {a.old_value or '-'} → {a.new_value or '-'}"
                     f"  โดย {a.actor} เมื่อ {format_short_datetime(a.at)}"
                     + (f"  เหตุผล: {a.reason}" if a.reason else ""))
    return lines
