"""`saraban-gateway audit verify`: the audit log's hash chain, checked end to end."""

from __future__ import annotations

import argparse
import sys

from gateway.cli.common import Subparsers, add_actions, command_store
from gateway.config import Settings


def add_parser(sub: Subparsers) -> None:
    act = add_actions(sub, "audit", "บันทึกการตรวจสอบ (audit log)", "audit_command", audit_cmd)
    act.add_parser("verify", help="ตรวจว่าไม่มีรายการถูกแก้หรือลบ (verify the hash chain)")


async def audit_cmd(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.store import audit

    async with command_store(settings) as store, store.readers() as s:
        report = await audit.verify(s)
    if report.ok:
        print(
            f"บันทึกการตรวจสอบครบถ้วน {report.entries} รายการ ไม่มีการแก้ไขหรือลบ\n"
            f"audit log intact: {report.entries} entries, chain verified"
        )
        return 0
    print(f"พบปัญหาในบันทึกการตรวจสอบ {len(report.problems)} จุด (audit log FAILED):", file=sys.stderr)
    for p in report.problems:
        print(f"  #{p.seq}: {p.problem_th} / {p.problem_en}", file=sys.stderr)
    return 1
