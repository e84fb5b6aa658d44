"""`saraban-gateway db upgrade | current | backup | check-backup | restore`: the database
schema, and backups of the whole install (gateway/ops/backup.py, gateway/ops/restore.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.cli.common import Subparsers, add_actions
from gateway.config import Settings
from gateway.store.blobs import BlobStore

if TYPE_CHECKING:
    from gateway.ops.backup import BackupResult


def add_parser(sub: Subparsers) -> None:
    act = add_actions(sub, "db", "ฐานข้อมูล (database)", "db_command", db_cmd)
    act.add_parser("upgrade", help="ปรับโครงสร้างฐานข้อมูลเป็นรุ่นล่าสุด (apply migrations)")
    act.add_parser("current", help="แสดงรุ่นโครงสร้างฐานข้อมูล (show schema revision)")
    bk = act.add_parser("backup", help="สำรองข้อมูลทั้งหมด ทำได้ขณะเกตเวย์ทำงาน (back up, online)")
    bk.add_argument("dest", type=Path, metavar="DEST", help="โฟลเดอร์ที่เก็บสำรอง (backup folder)")
    bk.add_argument("--keep", type=int, default=None, metavar="N",
                    help="เก็บชุดสำรองล่าสุดไว้ N ชุด ลบชุดที่เก่ากว่า (keep the newest N snapshots)")
    ck = act.add_parser("check-backup", help="ตรวจชุดสำรองว่าครบถ้วนและอ่านได้ (verify a snapshot)")
    ck.add_argument("snapshot", type=Path, metavar="SNAPSHOT", help="โฟลเดอร์ชุดสำรอง (DEST/<ชื่อชุด>)")
    ck.add_argument("--quick", action="store_true",
                    help="ตรวจไฟล์เอกสารเพียงว่ามีและขนาดตรง (blobs: presence and size only)")
    ck.set_defaults(without_config=check_backup)  # needs only the backup: no config.toml on the machine
    rs = act.add_parser("restore", help="กู้คืนชุดสำรองลงที่เก็บข้อมูลที่ว่าง (restore into an empty install)")
    rs.add_argument("snapshot", type=Path, metavar="SNAPSHOT", help="โฟลเดอร์ชุดสำรอง (DEST/<ชื่อชุด>)")


async def db_cmd(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.app import schema_revision, upgrade_schema

    if args.db_command == "backup":
        return await _backup(args, settings)
    if args.db_command in ("check-backup", "restore"):
        return await _check_or_restore(args, settings)
    if args.db_command == "upgrade":
        before, after = await upgrade_schema(settings)  # books and units too, from config
        print(f"ฐานข้อมูลเป็นรุ่นล่าสุดแล้ว (schema {before or 'empty'} → {after})")
    else:
        settings.data_path.mkdir(parents=True, exist_ok=True)
        print(await schema_revision(settings) or "(ว่าง / empty)")
    return 0


def _mb(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 1_000_000 else f"{n / 1000:.0f} kB"


async def _backup(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.ops.backup import BLOBS, backup

    r = await backup(settings, args.dest, keep=args.keep)
    lost, gone = await _record(settings, r)
    print(f"สำรองข้อมูลเสร็จ ชุด {r.name}: ไฟล์เอกสารใหม่ {r.copied} จาก {r.blobs} ไฟล์ ({_mb(r.copied_bytes)} "
          f"จากทั้งหมด {_mb(r.blob_bytes)}), ฐานข้อมูล {_mb(r.database_bytes)} → {r.path}")
    if not r.missing and not r.gone_here:
        return 0
    # A letter's file gone from this machine: said, and the exit status tells the timer (and
    # whoever reads its failures) at once. Copied by an earlier backup, the snapshot is whole
    # and the file can be put back; never copied, it is lost, and the snapshot holds the rest.
    if r.gone_here:
        named = f" — หนังสือ (letter trace): {_first(gone)}" if gone else ""
        where = BlobStore(r.path.parent / BLOBS).path(r.gone_here[0])
        print(f"ผิดพลาด: ไฟล์เอกสาร {len(r.gone_here)} ไฟล์หายจากโฟลเดอร์ข้อมูลของเครื่องนี้ แต่ยังอยู่ในที่เก็บสำรอง"
              f"จากครั้งก่อน ชุดสำรองนี้จึงครบ{named}; คัดลอกกลับไปที่ {settings.blob_path} ตามชื่อเดิม "
              f"(เช่น {where}; รายชื่อใน manifest.json: absent_here_kept_before)\n"
              f"error: {len(r.gone_here)} files are missing from the data folder; the backup folder still "
              "has them from an earlier run (copy them back)", file=sys.stderr)
    if r.missing:
        named = f" — หนังสือ (letter trace): {_first(lost)}" if lost else ""
        print(f"ผิดพลาด: ไฟล์เอกสาร {len(r.missing)} ไฟล์ที่ฐานข้อมูลรู้จักไม่อยู่ทั้งในโฟลเดอร์ข้อมูลของเครื่องนี้"
              f"และในที่เก็บสำรอง{named}; รายชื่อไฟล์อยู่ใน {r.path / 'manifest.json'} (absent)\n"
              f"error: {len(r.missing)} files the database knows are neither in the data folder nor in "
              "the backup", file=sys.stderr)
    return 1


def _first(lost: list[str]) -> str:
    more = len(lost) - LOST_SHOWN
    return ", ".join(lost[:LOST_SHOWN]) + (f" และอีก {more} ฉบับ" if more > 0 else "")


LOST_SHOWN = 20  # letters named on the terminal; all of the files are in the manifest


async def _record(settings: Settings, r: BackupResult) -> tuple[list[str], list[str]]:
    """The finished snapshot in the audit log, where the gateway's backup watch and /metrics
    read it (gateway/ops/backupwatch.py); and the letters whose files were missing, lost and
    kept before (their ids, with the receive number when registered). A store that cannot
    take the record leaves the snapshot as good as it is: said, and the watch will raise the
    alarm in time if it goes on."""
    from gateway.cli.common import command_store
    from gateway.ops.backupwatch import lost_letters, record_backup

    details = {"folder": str(r.path.parent), "blobs": r.blobs, "copied": r.copied,
               "blob_bytes": r.blob_bytes, "database_bytes": r.database_bytes, "absent": len(r.missing),
               "absent_here_kept_before": len(r.gone_here)}
    try:
        async with command_store(settings) as store:
            await record_backup(store, r.name, details)
            return (await lost_letters(store, r.missing) if r.missing else [],
                    await lost_letters(store, r.gone_here) if r.gone_here else [])
    except Exception as exc:  # noqa: BLE001 - the snapshot is finished whatever the log says
        print(f"คำเตือน: บันทึกการสำรองลงบันทึกตรวจสอบไม่ได้ ({type(exc).__name__}) ชุดสำรองใช้ได้ตามปกติ "
              f"(warning: the backup is not in the audit log: {exc})", file=sys.stderr)
        return [], []


async def check_backup(args: argparse.Namespace) -> int:
    """`db check-backup` where there is no config.toml (a new machine, a backup disk)."""
    return await _check_or_restore(args, None)


async def _check_or_restore(args: argparse.Namespace, settings: Settings | None) -> int:
    from gateway.ops.restore import check_snapshot, restore

    snapshot: Path = args.snapshot.resolve()
    checked = await check_snapshot(snapshot, quick=getattr(args, "quick", False))
    if checked.faults:
        print(f"ชุดสำรอง {snapshot.name} มีข้อผิดพลาด {len(checked.faults)} จุด (backup FAILED the check):",
              file=sys.stderr)
        for f in checked.faults:
            print(f"  {f.file}: {f.th} / {f.en}", file=sys.stderr)
        if args.db_command == "restore":
            print("ไม่กู้คืน ไม่มีสิ่งใดถูกเปลี่ยน (nothing restored)", file=sys.stderr)
        return 1
    m = checked.manifest
    absent = len((m.get("blobs") or {}).get("absent") or ())
    if absent:  # not a fault of the snapshot: lost from the install before it was made
        print(f"คำเตือน: ไฟล์เอกสาร {absent} ไฟล์หายจากเครื่องก่อนสำรองชุดนี้ จึงไม่อยู่ในชุดนี้ "
              f"(manifest.json: absent) — warning: {absent} files were already missing when this snapshot "
              "was made", file=sys.stderr)
    if args.db_command == "check-backup":
        print(f"ชุดสำรอง {snapshot.name} ครบถ้วน: ไฟล์ {len(m['files'])} ไฟล์, ไฟล์เอกสาร "
              f"{len(checked.blobs)} ไฟล์, ฐานข้อมูล {m['database']} ตรวจผ่าน (snapshot verified)")
        return 0
    assert settings is not None  # restore has no without_config
    done = await restore(settings, snapshot, checked)
    print(f"กู้คืนชุดสำรอง {snapshot.name} ({m.get('created_at_th', '')}) เสร็จ: ไฟล์เอกสาร {done.blobs} ไฟล์ "
          f"(restored)")
    if done.revision != done.head:
        print(f"ฐานข้อมูลในชุดสำรองเป็นรุ่น {done.revision} ส่วนโปรแกรมเป็นรุ่น {done.head}: "
              "สั่ง `saraban-gateway db upgrade` ก่อนเริ่มเกตเวย์ (run db upgrade first)")
    return 0
