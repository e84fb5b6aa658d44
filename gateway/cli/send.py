"""`saraban-gateway send`: number, name, sign and mail a letter from the command line.

`send` builds the same mail a clerk's client would submit and puts it through the same road
(Outbound.accept → process → outbox), so the command line and the e-mail client can never
disagree about numbers, names or refusals.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gateway.cli.common import ACTOR_USER, Subparsers, command_store
from gateway.config import Settings
from gateway.errors import UserError


def add_parser(sub: Subparsers) -> None:
    sd = sub.add_parser("send", help="ส่งหนังสือ (send a letter: number, name, sign, mail per recipient)")
    sd.add_argument("files", type=Path, nargs="+", help="ไฟล์หนังสือ (PDF) แล้วตามด้วยสิ่งที่ส่งมาด้วย")
    sd.add_argument("--to", action="append", required=True, help="ที่อยู่อีเมลกลางของผู้รับ (repeat)")
    sd.add_argument("--subject", required=True, help="เรื่อง; may carry tags such as [ด่วน]")
    sd.add_argument("--circular", action="store_true", help="หนังสือเวียน (ว series)")
    sd.add_argument("--order", action="store_true", help="คำสั่ง")
    sd.add_argument("--reserved", type=int, default=None, help="ใช้เลขสำรอง (use a reserved number)")
    sd.add_argument("--confirm-recipients", action="store_true", help="ยืนยันผู้รับที่ไม่อยู่ในทะเบียน")
    sd.add_argument("--user", default="", help="ในนามผู้ใช้ (submission user, for unit and reservations)")
    sd.set_defaults(handler=send)


async def send(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.app import make_transport
    from gateway.core.compose import template_env
    from gateway.outbound.flow import Outbound, submission_message
    from gateway.outbound.sender import SenderLease, send_due
    from gateway.state import LetterState
    from gateway.store.tables import Letter

    for f in args.files:
        if not f.is_file():
            raise UserError(f"ไม่พบไฟล์ {f}", f"no such file: {f}")
    tags = "".join(t for t, on in (("[เวียน] ", args.circular), ("[คำสั่ง] ", args.order),
                                    ("[ยืนยันผู้รับ] ", args.confirm_recipients)) if on)
    if args.reserved is not None:
        tags += f"[เลขสำรอง {args.reserved}] "
    async with command_store(settings) as store:
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
        if state != LetterState.QUEUED:
            print(f"ไม่ได้ส่ง (refused): {letter.review_reason}", file=sys.stderr)
            return 1
        sent = 0
        lease = SenderLease(store, out.on_parked, out.on_in_doubt)
        if await lease.take():
            try:
                while n := await send_due(store, make_transport(settings), composer=out.compose_for,
                                          on_parked=out.on_parked, on_in_doubt=out.on_in_doubt):
                    sent += n
            finally:
                await lease.drop()
        print(f"ลงทะเบียนส่งแล้ว ที่ {letter.letter_no} ไฟล์ {letter.file_name}\n"
              f"queued {letter.letter_no} to {len(set(args.to))} recipient(s); delivered now: {sent}")
        return 0
