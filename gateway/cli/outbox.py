"""`saraban-gateway outbox list | retry | delivered`: mail that waits, was parked, or may not have gone.

`retry` makes the rows due now; a running gateway's sender looks at the store every
[outbox] poll_seconds and sends them within that time (no signal between processes needed,
so it works the same on SQLite and PostgreSQL, and from another machine).
"""

from __future__ import annotations

import argparse
import datetime as dt

from gateway.cli.common import ACTOR_USER, Subparsers, add_actions, command_store
from gateway.config import Settings
from gateway.errors import UserError


def add_parser(sub: Subparsers) -> None:
    act = add_actions(sub, "outbox", "จดหมายขาออก (the outbox)", "outbox_command", outbox_cmd)
    act.add_parser("list", help="รายการที่ค้างส่งหรือส่งไม่สำเร็จ (pending, parked, uncertain)")
    rt = act.add_parser("retry", help="ส่งรายการที่ค้างอีกครั้ง (send parked/uncertain items again)")
    rt.add_argument("ids", type=int, nargs="*", metavar="ID")
    rt.add_argument("--letter", type=int, help="ทุกรายการที่ค้างของหนังสือนี้ (every held item of this letter)")
    dv = act.add_parser("delivered", help="บันทึกว่าผู้รับได้รับแล้ว ไม่ต้องส่งซ้ำ "
                        "(an uncertain item did arrive: record it as sent)")
    dv.add_argument("ids", type=int, nargs="*", metavar="ID")
    dv.add_argument("--letter", type=int, help="ทุกรายการที่ไม่แน่ชัดของหนังสือนี้ (every uncertain item of this letter)")


async def outbox_cmd(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy import select

    from gateway.store import outbox
    from gateway.store.tables import OutboxItem

    async with command_store(settings) as store:
        if args.outbox_command in ("retry", "delivered"):
            statuses = ("parked", "uncertain") if args.outbox_command == "retry" else ("uncertain",)
            lifetime = dt.timedelta(hours=settings.outbox_lifetime_hours)
            async with store.sessions.begin() as s:
                ids = list(args.ids)
                if args.letter is not None:
                    ids += await outbox.held_of_letter(s, args.letter, statuses)
                if not ids:
                    raise UserError("ไม่มีรายการที่ต้องดำเนินการ", "nothing to do: give IDs or a letter with held items")
                done = []
                for item_id in dict.fromkeys(ids):
                    if args.outbox_command == "retry":
                        done.append(await outbox.retry(s, item_id, now=store.clock(), actor=ACTOR_USER,
                                                       lifetime=lifetime))
                    else:
                        done.append(await outbox.resolve_delivered(s, item_id, now=store.clock(),
                                                                   actor=ACTOR_USER))
            for item in done:
                if args.outbox_command == "retry":
                    print(f"จะส่งรายการ {item.id} ถึง {item.recipient} อีกครั้ง (queued again)")
                else:
                    print(f"บันทึกว่ารายการ {item.id} ถึง {item.recipient} ได้รับแล้ว (recorded as delivered)")
            if args.outbox_command == "retry":
                print(f"เกตเวย์ที่ทำงานอยู่จะส่งภายใน {settings.outbox.poll_seconds:g} วินาที "
                      f"(a running gateway sends within {settings.outbox.poll_seconds:g} s)")
            return 0
        async with store.readers() as s:
            items = list((await s.execute(select(OutboxItem).where(
                OutboxItem.status.in_(("pending", "sending", "parked", "uncertain")))
                .order_by(OutboxItem.id))).scalars())
        if not items:
            print("ไม่มีรายการค้างส่ง (the outbox is empty)")
        for i in items:
            print(f"{i.id:>6} {i.status:<9} {i.kind:<12} {i.recipient}  ครั้งที่ {i.attempts}"
                  + (f"  หนังสือ {i.letter_id}" if i.letter_id else "")
                  + (f"  {i.last_error}" if i.last_error else ""))
        return 0
