"""`saraban-gateway run` and `ingest`: the gateway at work, for good or for one sweep."""

from __future__ import annotations

import argparse

from gateway.cli.common import Subparsers
from gateway.cli.progress import add_quiet, terminal_progress
from gateway.config import Settings
from gateway.state import label_th


def add_parser(sub: Subparsers) -> None:
    sub.add_parser(
        "run", help="เริ่มทำงานต่อเนื่อง (start the gateway and keep running)"
    ).set_defaults(handler=run)
    ing = sub.add_parser(
        "ingest", help="รับหนังสือที่รออยู่ทั้งหมดแล้วจบ (process everything waiting, then exit)"
    )
    ing.add_argument("--once", action="store_true", required=True,
                     help="ทำรอบเดียวแล้วจบพร้อมสรุป (one sweep, then a summary; for cron)")
    add_quiet(ing)
    ing.set_defaults(handler=ingest)


async def run(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.service import serve

    return await serve(settings)


async def ingest(args: argparse.Namespace, settings: Settings) -> int:
    import contextlib

    from gateway.ops.logs import logging_set_up
    from gateway.service import ingest_once

    # JSON logs when asked (a collector reads them); text stays as quiet as before for cron
    json_logs = settings.logging.format == "json"
    with logging_set_up(settings) if json_logs else contextlib.nullcontext(), \
            terminal_progress(args.quiet) as progress:
        summary = await ingest_once(settings, progress=progress)
    sent = summary.pop("sent", 0)
    print("สรุปการรับหนังสือ (ingest summary):")
    for state, n in sorted(summary.items()):
        if n:
            print(f"  {label_th(state)} ({state}): {n:+d}")
    print(f"  ส่งอีเมลออก (mail sent): {sent}")
    return 0
