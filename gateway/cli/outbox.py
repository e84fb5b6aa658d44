"""`saraban-gateway outbox list | retry`: mail that waits, was parked, or may not have gone."""

from __future__ import annotations

import argparse

from gateway.cli.common import ACTOR_USER, Subparsers, add_actions, command_store
from gateway.config import Settings


def add_parser(sub: Subparsers) -> None:
    act = add_actions(sub, "outbox", "จดหมายขาออก (the outbox)", "outbox_command", outbox_cmd)
    act.add_parser("list", help="รายการที่ค้างส่งหรือส่งไม่สำเร็จ (pending, parked, uncertain)")
    rt = act.add_parser("retry", help="ส่งรายการที่ค้างอีกครั้ง (send a parked/uncertain item again)")
    rt.add_argument("id", type=int)


async def outbox_cmd(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy import select

    from gateway.store import outbox
    from gateway.store.tables import OutboxItem

    async with command_store(settings) as store:
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
