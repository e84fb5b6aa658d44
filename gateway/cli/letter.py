"""`saraban-gateway letter show | trace | confirm-secret` and `followup`: where a letter is, who
owes an answer, and the clerk's confirmation that a held secret letter may go by e-mail."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from gateway.cli import corrections
from gateway.cli.common import Subparsers, add_actions, command_store
from gateway.config import Settings
from gateway.core.classify import auth_remark
from gateway.errors import UserError
from gateway.state import label_th
from gateway.thai import be_year_of, format_short_datetime, letter_no_key
from gateway.trust import SenderAuth

if TYPE_CHECKING:
    from gateway.store.handle import Store
    from gateway.store.tables import Letter

RECIPIENT_TH = {"queued": "รอส่ง", "sent": "ส่งแล้ว", "failed": "ส่งไม่สำเร็จ",
                "acknowledged": "ลงรับแล้ว"}


def add_parser(sub: Subparsers) -> None:
    lt = add_actions(sub, "letter", "หนังสือ (letters)", "letter_command")  # a handler per action
    sh = lt.add_parser("show", help="สถานะหนังสือส่งรายผู้รับ (a letter and each recipient's state)")
    sh.add_argument("ref", help="ที่ เช่น 'ศธ 04183/ว12' หรือรหัสหนังสือ (letter id)")
    sh.set_defaults(handler=show)
    tr = lt.add_parser("trace", help="เส้นทางเดินของหนังสือรับ (a received letter's path)")
    tr.add_argument("ref", help="เลขรับ เช่น 12 หรือ 12/2569 (receive number[/BE year])")
    tr.set_defaults(handler=trace)
    cs = lt.add_parser("confirm-secret",
                       help="ยืนยันส่งหนังสือลับที่ถูกพักไว้ทางอีเมล (mail a held secret letter to its units)")
    cs.add_argument("id", type=int, help="รหัสหนังสือ (letter id, as in the question mail)")
    cs.add_argument("--by", required=True, help="ชื่อผู้ยืนยัน (who confirms: recorded in the audit log)")
    cs.set_defaults(handler=confirm_secret)
    corrections.add_actions(lt)

    fu = sub.add_parser("followup", help="หนังสือส่งที่ยังไม่ได้รับการตอบรับ (letters not yet acknowledged)")
    fu.add_argument("--days", type=int, default=None, help="วันทำการ (working days; default from config)")
    fu.set_defaults(handler=followup)


async def _find_letter(store: Store, ref: str) -> Letter:
    from sqlalchemy import select

    from gateway.store.tables import Letter

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


async def show(args: argparse.Namespace, settings: Settings) -> int:
    """`letter show ศธ 04183/ว12`: a sent letter and each recipient's state."""
    from sqlalchemy import select

    from gateway.store.tables import LetterRecipient, OutboxItem

    async with command_store(settings) as store:
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
        if letter.sender_auth:
            print("  " + sender_auth_line(letter.sender_auth))
        if letter.secrecy:
            print(f"  ชั้นความลับ {letter.secrecy}")
        for remark in letter.sender_flags:
            print(f"  หมายเหตุ: {remark}")
        async with store.readers() as s:
            for line in await corrections.history_lines(s, letter.id):
                print("  " + line)
        _print_hold(letter, settings)
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


def sender_auth_line(verdict: dict[str, Any]) -> str:
    """`ยืนยันตัวตนผู้ส่ง: ไม่ผ่าน (moi.go.th) SPF fail, DKIM none, DMARC fail` from letters.sender_auth."""
    auth = SenderAuth.from_json(verdict)
    methods = f"SPF {auth.spf}, DKIM {auth.dkim}, DMARC {auth.dmarc}" + \
        (f", ARC {auth.arc}" if auth.arc != "none" else "")
    by = f" ตรวจโดย {auth.judged_by}" if auth.judged_by else ""
    return f"{auth_remark(auth)} [{methods}{by}]"


def _print_hold(letter: Letter, settings: Settings) -> None:
    """A secret letter held from e-mail: for which units, who asked, who confirmed."""
    h = letter.secret_hold
    if not h:
        return
    names = {u.code: u.name_th for u in settings.units}
    units = ", ".join(names.get(c, c) for c in h.get("units", ()))
    asked = f"ขอโดย {h.get('asked_by') or '-'}" + (f" (โฟลเดอร์ {h['folder']})" if h.get("folder") else "")
    if h.get("state") == "pending":
        print(f"  หนังสือลับ: พักไว้ ยังไม่ส่งทางอีเมลถึง {units}; {asked}; รอยืนยัน "
              f"(saraban-gateway letter confirm-secret {letter.id} --by <ชื่อ>)")
    else:
        print(f"  หนังสือลับ: ส่งทางอีเมลถึง {units}; {asked}; ยืนยันโดย {h.get('confirmed_by') or '-'}")


async def confirm_secret(args: argparse.Namespace, settings: Settings) -> int:
    """`letter confirm-secret 12 --by สมศรี`: the held secret letter goes to its units."""
    from gateway.core.compose import template_env
    from gateway.forwarding.units import Units
    from gateway.store.letters import LOCK_ROW
    from gateway.store.tables import Letter

    by = args.by.strip()
    if not by:
        raise UserError("ต้องระบุชื่อผู้ยืนยัน (--by)", "--by must name who confirms")
    async with command_store(settings) as store:
        units = Units(store, template_env())
        async with store.sessions.begin() as s:
            letter = await s.get(Letter, args.id, with_for_update=LOCK_ROW)
            if letter is None:
                raise UserError(f"ไม่พบหนังสือ {args.id}", f"no letter {args.id}")
            if not (letter.secret_hold or {}).get("state") == "pending":
                raise UserError(f"หนังสือ {args.id} ไม่มีการส่งหนังสือลับที่รอยืนยัน",
                                f"letter {args.id} has no secret forward waiting for confirmation")
            codes = await units.confirm_secret(s, letter, by=f"clerk:cli:{by}", now=store.clock())
    names = {u.code: u.name_th for u in settings.units}
    if not codes:
        print(f"ไม่ได้ส่ง: หน่วยงานที่ขอได้รับหนังสือ {args.id} แล้ว หรือหนังสือไม่อยู่ในสถานะลงทะเบียนรับ")
        return 1
    print(f"ส่งหนังสือลับ {args.id} ทางอีเมลถึง {', '.join(names.get(c, c) for c in codes)} แล้ว "
          f"(ยืนยันโดย {by})")
    return 0


async def trace(args: argparse.Namespace, settings: Settings) -> int:
    """`letter trace 12[/2569]`: the path of a received letter, from the audit log."""
    import json

    from sqlalchemy import select

    from gateway.reports.trace import Step, render
    from gateway.store import registers
    from gateway.store.tables import AuditEntry, Forward, Letter, RegisterEntry

    number_text, _, year_text = args.ref.partition("/")
    if not number_text.strip().isdigit() or (year_text and not year_text.strip().isdigit()):
        raise UserError(f"เลขรับ {args.ref!r} ไม่ถูกต้อง ตัวอย่าง: 12 หรือ 12/2569",
                        f"bad receive number {args.ref!r}: e.g. 12 or 12/2569")
    async with command_store(settings) as store:
        year = int(year_text) if year_text else be_year_of(store.clock())
        async with store.readers() as s:
            book = await registers.get_book(s, "receive")
            entry = (await s.execute(select(RegisterEntry).where(
                RegisterEntry.book_id == book.id, RegisterEntry.year == year,
                RegisterEntry.number == int(number_text)))).scalar_one_or_none()
            if entry is None or entry.letter_id is None:
                raise UserError(f"ไม่มีเลขรับ {number_text}/{year}", f"no receive number {number_text}/{year}")
            letter = await s.get(Letter, entry.letter_id)
            assert letter is not None
            lid = str(letter.id)
            rows = (await s.execute(select(AuditEntry).where(
                ((AuditEntry.subject_type == "letter") & (AuditEntry.subject_id == lid))
                | AuditEntry.details.like(f'%"letter_id":{lid}%')).order_by(AuditEntry.seq))).scalars().all()
            forwards = (await s.execute(select(Forward).where(Forward.letter_id == letter.id))).scalars().all()
            history = await corrections.history_lines(s, letter.id)
        steps = []
        for r in rows:
            details = json.loads(r.details or "{}")
            if r.subject_type != "letter" and str(details.get("letter_id")) != lid:
                continue
            if r.action == "letter.received" and not details.get("from"):
                details["from"] = letter.sender_address  # IMAP has no envelope: the From address
            steps.append(Step(r.at, r.actor, r.action, details))
        units = {u.code: u.name_th for u in settings.units}
        print(f"เส้นทางเดินของหนังสือ เลขรับ {entry.number}/{entry.year}")
        print(f"  ที่ {letter.letter_no or '-'}  จาก {letter.sender or '-'}  เรื่อง {letter.subject or '-'}")
        print(f"  สถานะ {label_th(letter.state)}")
        for line in history:
            print("  " + line)
        for line in render(steps, units):
            print("  " + line)
        waiting = [units.get(f.unit_code, f.unit_code) for f in forwards if f.state == "sent"]
        if waiting:
            print("  รอลงรับ: " + ", ".join(waiting))
        elif not forwards:
            print("  ยังไม่ได้ส่งต่อหน่วยงาน (not forwarded yet)")
        return 0


async def followup(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy import select

    from gateway.store.tables import Letter, LetterRecipient
    from gateway.workcalendar import work_calendar

    limit = args.days if args.days is not None else settings.outbound.followup_working_days
    calendar = work_calendar(settings)  # weekends, Thai public holidays, the agency's days off
    async with command_store(settings) as store:
        today = store.clock().astimezone(calendar.tz).date()
        async with store.readers() as s:
            rows = list((await s.execute(select(LetterRecipient, Letter).join(
                Letter, Letter.id == LetterRecipient.letter_id).where(
                LetterRecipient.state.in_(("sent", "failed", "queued"))).order_by(Letter.id))).all())
    late = [(r, letter) for r, letter in rows
            if r.sent_at is None
            or calendar.working_days_between(r.sent_at.astimezone(calendar.tz).date(), today) >= limit]
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
