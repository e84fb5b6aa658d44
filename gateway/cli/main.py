"""The `saraban-gateway` command line: the administrator's and auditor's entry point.

Every command reads config.toml once, does its work in one transaction where it
changes anything, prints Thai first (English alongside for technical terms),
and exits non-zero with a clear message and nothing changed on bad input.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from gateway.clock import system_clock
from gateway.config import Settings, load_settings
from gateway.errors import UserError
from gateway.thai import BANGKOK, be_year_of, format_short_date

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def _default_config() -> Path:
    return Path(os.environ.get("SARABAN_CONFIG", "config.toml"))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="saraban-gateway",
        description=(
            "เกตเวย์ไปรษณีย์อิเล็กทรอนิกส์กลาง งานสารบรรณ: รับหนังสือ ลงทะเบียน ประทับตรารับ ตอบรับ ส่งต่อ\n"
            "Central e-mail gateway for Thai official correspondence."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--config",
        type=Path,
        default=None,
        help="ไฟล์การตั้งค่า (config file; default $SARABAN_CONFIG or ./config.toml)",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    sub.add_parser("run", help="เริ่มทำงานต่อเนื่อง (start the gateway and keep running)")
    ing = sub.add_parser(
        "ingest", help="รับหนังสือที่รออยู่ทั้งหมดแล้วจบ (process everything waiting, then exit)"
    )
    ing.add_argument("--once", action="store_true", required=True,
                     help="ทำรอบเดียวแล้วจบพร้อมสรุป (one sweep, then a summary; for cron)")
    sub.add_parser(
        "check", help="ตรวจการตั้งค่าและทดลองเชื่อมต่อทุกระบบ (validate config, try each connection)"
    )

    db = sub.add_parser("db", help="ฐานข้อมูล (database)").add_subparsers(
        dest="db_command", metavar="ACTION", required=True
    )
    db.add_parser("upgrade", help="ปรับโครงสร้างฐานข้อมูลเป็นรุ่นล่าสุด (apply migrations)")
    db.add_parser("current", help="แสดงรุ่นโครงสร้างฐานข้อมูล (show schema revision)")

    reg = sub.add_parser("registers", help="ทะเบียนหนังสือ (registers)").add_subparsers(
        dest="reg_command", metavar="ACTION", required=True
    )
    reg.add_parser("list", help="รายการทะเบียนและเลขล่าสุด (books and their last numbers)")
    ex = reg.add_parser("export", help="ส่งออกทะเบียน (export a register)")
    ex.add_argument("--book", required=True, help="receive | send | circular | order | unit-<code>")
    ex.add_argument("--year", type=int, default=None, help="ปี พ.ศ. (Buddhist-era year, default this year)")
    ex.add_argument("--format", choices=("table", "csv", "json"), default="table")
    ex.add_argument("--output", "-o", type=Path, default=None, help="เขียนลงไฟล์ (write to a file)")
    cn = reg.add_parser("cancel", help="ยกเลิกเลขทะเบียน (cancel a number; it stays marked ยกเลิก)")
    cn.add_argument("--book", required=True)
    cn.add_argument("--year", type=int, required=True)
    cn.add_argument("--number", type=int, required=True)
    cn.add_argument("--reason", required=True, help="เหตุผล (reason)")

    rs = sub.add_parser("reserve", help="สำรองเลข (reserve numbers of a book)")
    rs.add_argument("--book", required=True)
    rs.add_argument("--count", type=int, required=True, help="จำนวนเลข (how many)")
    rs.add_argument("--unit", default="", help="รหัสหน่วยงานที่ขอ (unit code)")
    rs.add_argument("--note", default="", help="หมายเหตุ (note)")
    rs.add_argument("--days", type=int, default=None, help="หมดอายุในกี่วัน (expiry in days)")

    rv = sub.add_parser("reservations", help="การสำรองเลข (reservations)").add_subparsers(
        dest="res_command", metavar="ACTION", required=True
    )
    rv.add_parser("list", help="รายการสำรองเลขที่ยังเปิดอยู่ (open reservations)")
    rl = rv.add_parser("release", help="คืนเลขสำรองที่ไม่ได้ใช้ (release unused numbers)")
    rl.add_argument("id", type=int)
    rl.add_argument("--reason", default="คืนเลขสำรองที่ไม่ได้ใช้")
    ru = rv.add_parser("use", help="ใช้เลขสำรอง (use a reserved number)")
    ru.add_argument("--book", required=True)
    ru.add_argument("--number", type=int, required=True)
    ru.add_argument("--year", type=int, default=None)
    ru.add_argument("--letter-no", default="", help="ที่ (letter number)")
    ru.add_argument("--to", default="", dest="recipient", help="ถึง (recipient)")
    ru.add_argument("--subject", required=True, help="เรื่อง (subject)")
    rv.add_parser("expire", help="ยกเลิกเลขสำรองที่หมดอายุ (expire overdue reservations)")

    dr = sub.add_parser("directory", help="ทะเบียนหน่วยงานภายนอก (agency directory)").add_subparsers(
        dest="dir_command", metavar="ACTION", required=True
    )
    di = dr.add_parser("import", help="นำเข้าจาก CSV (import CSV: thai_name,thai_code,latin_code,central_email,ministry)")
    di.add_argument("file", type=Path)
    dr.add_parser("list", help="แสดงรายการ (list)")

    from gateway.cli.pdf import add_parser as add_pdf_parser
    _add_send_parsers(sub)

    add_pdf_parser(sub)

    au = sub.add_parser("audit", help="บันทึกการตรวจสอบ (audit log)").add_subparsers(
        dest="audit_command", metavar="ACTION", required=True
    )
    au.add_parser("verify", help="ตรวจว่าไม่มีรายการถูกแก้หรือลบ (verify the hash chain)")
    return p


def _add_send_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    sd = sub.add_parser("send", help="ส่งหนังสือ (send a letter: number, name, sign, mail per recipient)")
    sd.add_argument("files", type=Path, nargs="+", help="ไฟล์หนังสือ (PDF) แล้วตามด้วยสิ่งที่ส่งมาด้วย")
    sd.add_argument("--to", action="append", required=True, help="ที่อยู่อีเมลกลางของผู้รับ (repeat)")
    sd.add_argument("--subject", required=True, help="เรื่อง; may carry tags such as [ด่วน]")
    sd.add_argument("--circular", action="store_true", help="หนังสือเวียน (ว series)")
    sd.add_argument("--order", action="store_true", help="คำสั่ง")
    sd.add_argument("--reserved", type=int, default=None, help="ใช้เลขสำรอง (use a reserved number)")
    sd.add_argument("--confirm-recipients", action="store_true", help="ยืนยันผู้รับที่ไม่อยู่ในทะเบียน")
    sd.add_argument("--user", default="", help="ในนามผู้ใช้ (submission user, for unit and reservations)")

    lt = sub.add_parser("letter", help="หนังสือ (letters)").add_subparsers(
        dest="letter_command", metavar="ACTION", required=True)
    sh = lt.add_parser("show", help="สถานะหนังสือส่งรายผู้รับ (a letter and each recipient's state)")
    sh.add_argument("ref", help="ที่ เช่น 'ศธ 04183/ว12' หรือรหัสหนังสือ (letter id)")
    tr = lt.add_parser("trace", help="เส้นทางเดินของหนังสือรับ (a received letter's path)")
    tr.add_argument("ref", help="เลขรับ เช่น 12 หรือ 12/2569 (receive number[/BE year])")

    fu = sub.add_parser("followup", help="หนังสือส่งที่ยังไม่ได้รับการตอบรับ (letters not yet acknowledged)")
    fu.add_argument("--days", type=int, default=None, help="วันทำการ (working days; default from config)")

    ob = sub.add_parser("outbox", help="จดหมายขาออก (the outbox)").add_subparsers(
        dest="outbox_command", metavar="ACTION", required=True)
    ob.add_parser("list", help="รายการที่ค้างส่งหรือส่งไม่สำเร็จ (pending, parked, uncertain)")
    rt = ob.add_parser("retry", help="ส่งรายการที่ค้างอีกครั้ง (send a parked/uncertain item again)")
    rt.add_argument("id", type=int)

    sub.add_parser("passwd", help="สร้างค่า password_hash สำหรับ [[submission.users]] (reads stdin or prompts)")


def _err(e: UserError) -> None:
    print(f"ผิดพลาด: {e.message_th}\nerror: {e.message_en}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(args.config or _default_config())
        if args.command == "pdf":
            from gateway.cli.pdf import run as run_pdf

            return run_pdf(args, settings)
        return asyncio.run(_dispatch(args, settings))
    except UserError as e:
        _err(e)
        return EXIT_FAIL
    except KeyboardInterrupt:
        return 130


Handler = Callable[[argparse.Namespace, Settings], Awaitable[int]]


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.cli import commands, sendcommands  # imported late: `--help` stays fast

    table: dict[str, Handler] = {
        "run": commands.run,
        "check": commands.check,
        "ingest": commands.ingest,
        "db": commands.db,
        "registers": commands.registers_cmd,
        "reserve": commands.reserve,
        "reservations": commands.reservations,
        "directory": commands.directory,
        "audit": commands.audit_cmd,
        "send": sendcommands.send,
        "letter": commands.trace_cmd if args.command == "letter" and args.letter_command == "trace"
        else sendcommands.letter_cmd,
        "followup": sendcommands.followup,
        "outbox": sendcommands.outbox_cmd,
        "passwd": sendcommands.passwd,
    }
    return await table[args.command](args, settings)


def this_year(now: dt.datetime | None = None) -> int:
    return be_year_of(now or system_clock())


def today_th(now: dt.datetime) -> str:
    return format_short_date(now.astimezone(BANGKOK).date())


if __name__ == "__main__":
    sys.exit(main())
