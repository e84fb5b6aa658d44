"""`saraban-gateway directory import | list`: the directory of outside agencies."""

from __future__ import annotations

import argparse
from pathlib import Path

from gateway.cli.common import ACTOR, Subparsers, add_actions, command_store, read_input
from gateway.cli.progress import add_quiet, terminal_progress
from gateway.config import Settings
from gateway.directory import parse_directory_csv

IMPORT_SLICE = 500  # agencies written (and audited) together


def add_parser(sub: Subparsers) -> None:
    act = add_actions(sub, "directory", "ทะเบียนหน่วยงานภายนอก (agency directory)", "dir_command",
                      directory)
    di = act.add_parser(
        "import", help="นำเข้าจาก CSV (import CSV: thai_name,thai_code,latin_code,central_email,ministry)"
    )
    di.add_argument("file", type=Path)
    add_quiet(di)
    act.add_parser("list", help="แสดงรายการ (list)")


async def directory(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.store.directory import import_agencies, list_agencies

    if args.dir_command == "import":
        records = parse_directory_csv(read_input(args.file), source=args.file.name)
        added = updated = 0
        async with command_store(settings) as store, store.sessions.begin() as s:
            with terminal_progress(args.quiet) as progress:
                progress.stage("นำเข้าทะเบียนหน่วยงาน", len(records))
                # In slices, in one transaction: all or nothing, a count as each slice is
                # written, and no query with more addresses than the database takes at once.
                for i in range(0, len(records), IMPORT_SLICE):
                    chunk = records[i:i + IMPORT_SLICE]
                    more, changed = await import_agencies(s, chunk, now=store.clock(), actor=ACTOR)
                    added, updated = added + more, updated + changed
                    progress.advance(len(chunk))
        print(
            f"นำเข้าแล้ว: เพิ่ม {added} ปรับปรุง {updated} จาก {len(records)} รายการ\n"
            f"imported: {added} added, {updated} updated, {len(records)} rows"
        )
        return 0
    async with command_store(settings) as store, store.readers() as s:
        for a in await list_agencies(s):
            print(f"{a.thai_code:<8} {a.latin_code:<12} {a.central_email:<36} {a.thai_name}")
    return 0
