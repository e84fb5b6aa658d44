"""`saraban-gateway db upgrade | current`: the database schema."""

from __future__ import annotations

import argparse

from gateway.cli.common import Subparsers, add_actions
from gateway.config import Settings


def add_parser(sub: Subparsers) -> None:
    act = add_actions(sub, "db", "ฐานข้อมูล (database)", "db_command", db_cmd)
    act.add_parser("upgrade", help="ปรับโครงสร้างฐานข้อมูลเป็นรุ่นล่าสุด (apply migrations)")
    act.add_parser("current", help="แสดงรุ่นโครงสร้างฐานข้อมูล (show schema revision)")


async def db_cmd(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.app import schema_revision, upgrade_schema

    if args.db_command == "upgrade":
        before, after = await upgrade_schema(settings)  # books and units too, from config
        print(f"ฐานข้อมูลเป็นรุ่นล่าสุดแล้ว (schema {before or 'empty'} → {after})")
    else:
        settings.data_path.mkdir(parents=True, exist_ok=True)
        print(await schema_revision(settings) or "(ว่าง / empty)")
    return 0
