"""`saraban-gateway db check-backup | restore`: a snapshot checked on its own, and put back.

`check_snapshot` needs nothing of the live install: each file of the manifest against its
sha256, each blob of blobs.txt in the shared `../blobs` against its name (`quick`: present and
of its size), and the database itself: SQLite's `PRAGMA integrity_check` and the audit log's
hash chain (store/audit.py `verify`, what `audit verify` runs) on a temporary copy; a
PostgreSQL dump read through by `pg_restore --list`.

`restore` puts a checked snapshot into the configured install, which must be empty (no
tables in its database, no blobs): blobs first (each checked again as it is copied), then the
install secret (0600), tls/ and outbox/, the database last. The layout: gateway/ops/backup.py.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import text

from gateway.config import Settings
from gateway.errors import UserError
from gateway.intake.submission import TLS_DIR
from gateway.ops.backup import (
    BLOB_LIST,
    BLOBS,
    FORMAT,
    MANIFEST,
    PG_FILE,
    SECRET_FILE,
    SQLITE_FILE,
    BackupFault,
    copy_tree,
    copy_verified,
    integrity_problems,
    list_blobs,
    pg_target,
    pg_tool,
    read_blob_list,
    run_tool,
    sha256_file,
    sqlite_file,
)
from gateway.store import audit, migrate
from gateway.store.blobs import BlobStore, fsync_dir
from gateway.store.db import is_sqlite, make_engine, make_readers
from gateway.store.handle import build_engine


@dataclass(frozen=True)
class Fault:
    file: str  # as the operator finds it: a path in the snapshot, or ../blobs/…
    th: str
    en: str


@dataclass(frozen=True)
class Checked:
    manifest: dict[str, Any]
    blobs: dict[str, int]  # sha256 → size, from blobs.txt
    faults: list[Fault]


def load_manifest(snapshot: Path) -> dict[str, Any]:
    if snapshot.name.endswith(".partial"):
        raise UserError(f"{snapshot.name} เป็นชุดสำรองที่ทำไม่เสร็จ (ถูกขัดจังหวะ) ใช้ไม่ได้ การสำรองครั้งถัดไปจะลบทิ้ง",
                        f"{snapshot.name} is an unfinished backup (cut short): not usable")
    try:
        manifest = json.loads((snapshot / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{snapshot} ไม่ใช่ชุดสำรองที่เสร็จสมบูรณ์ (ไม่มี {MANIFEST})",
                        f"{snapshot} is not a finished snapshot (no {MANIFEST})") from None
    except (ValueError, OSError) as exc:
        raise UserError(f"อ่าน {snapshot / MANIFEST} ไม่ได้: {exc}", f"cannot read {MANIFEST}: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise UserError(f"{MANIFEST} ไม่ใช่รูปแบบที่รู้จัก", f"{MANIFEST}: unknown format")
    return manifest


def _check_files(snapshot: Path, manifest: dict[str, Any]) -> list[Fault]:
    faults = []
    for rel, meta in sorted(manifest.get("files", {}).items()):
        path = snapshot / rel
        if ".." in Path(rel).parts or not path.is_file():
            faults.append(Fault(rel, "ไม่มีไฟล์นี้", "file missing"))
            continue
        sha, size = sha256_file(path)
        if size != meta.get("size"):
            faults.append(Fault(rel, f"ขนาดไม่ตรง ({size} ไบต์ แทนที่จะเป็น {meta.get('size')})",
                                f"size {size}, manifest says {meta.get('size')}"))
        elif sha != meta.get("sha256"):
            faults.append(Fault(rel, "เนื้อหาถูกเปลี่ยน (sha256 ไม่ตรง)", "content changed (sha256 mismatch)"))
    return faults


def _check_blobs(snapshot: Path, wanted: dict[str, int], quick: bool) -> list[Fault]:
    faults = []
    root = snapshot.parent / BLOBS
    for digest, size in sorted(wanted.items()):
        path = BlobStore(root).path(digest)
        name = f"../{BLOBS}/{digest[:2]}/{digest[2:4]}/{digest}"
        if not path.is_file():
            faults.append(Fault(name, "ไม่มีไฟล์เอกสารนี้ในที่เก็บสำรอง", "blob missing"))
        elif path.stat().st_size != size:
            faults.append(Fault(name, "ขนาดไฟล์เอกสารไม่ตรง", f"size {path.stat().st_size}, expected {size}"))
        elif not quick and sha256_file(path)[0] != digest:
            faults.append(Fault(name, "เนื้อหาไฟล์เอกสารถูกเปลี่ยน (sha256 ไม่ตรงกับชื่อ)",
                                "content does not match its sha256 name"))
    return faults


async def _check_sqlite(path: Path) -> list[Fault]:
    """integrity_check, then the audit chain, on a copy (the snapshot itself is not opened
    for writing, and SQLite may write beside the file it opens)."""
    if not path.is_file():
        return []  # already named by the manifest check
    with tempfile.TemporaryDirectory(prefix="saraban-check-") as tmp:
        copy = Path(tmp) / SQLITE_FILE
        shutil.copyfile(path, copy)
        try:
            conn = sqlite3.connect(copy)
            try:
                said = integrity_problems(conn)
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            return [Fault(SQLITE_FILE, f"ฐานข้อมูลเสียหาย: {exc}", f"database damaged: {exc}")]
        if said:
            return [Fault(SQLITE_FILE, f"ฐานข้อมูลไม่ผ่าน integrity_check: {said}", f"integrity_check: {said}")]
        engine = make_engine(f"sqlite+aiosqlite:///{copy}")
        try:
            async with make_readers(engine)() as s:
                report = await audit.verify(s)
        finally:
            await engine.dispose()
    return [Fault(SQLITE_FILE, f"บันทึกการตรวจสอบ #{p.seq}: {p.problem_th}", f"audit log #{p.seq}: {p.problem_en}")
            for p in report.problems]


async def _check_dump(path: Path) -> list[Fault]:
    if not path.is_file():
        return []
    try:
        await run_tool([pg_tool("pg_restore"), "--list", f"--file={os.devnull}", str(path)], dict(os.environ))
    except UserError as exc:
        return [Fault(PG_FILE, exc.message_th, exc.message_en)]
    return []


async def check_snapshot(snapshot: Path, *, quick: bool = False) -> Checked:
    """Every fault of the snapshot, each naming its file (empty: sound)."""
    manifest = load_manifest(snapshot)
    faults = _check_files(snapshot, manifest)
    try:
        wanted = read_blob_list(snapshot / BLOB_LIST)
    except (OSError, ValueError) as exc:
        faults.append(Fault(BLOB_LIST, f"อ่านรายการไฟล์เอกสารไม่ได้: {exc}", f"cannot read: {exc}"))
        wanted = {}
    faults += _check_blobs(snapshot, wanted, quick)
    if manifest.get("database") == "sqlite":
        faults += await _check_sqlite(snapshot / SQLITE_FILE)
    else:
        faults += await _check_dump(snapshot / PG_FILE)
    return Checked(manifest, wanted, faults)


# -- restore ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Restored:
    blobs: int
    revision: str | None
    head: str


async def _database_empty(settings: Settings) -> bool:
    if is_sqlite(settings.database_url):
        path = sqlite_file(settings)
        if not path.is_file():
            return True
        conn = sqlite3.connect(f"file:{quote(str(path))}?mode=rw", uri=True)
        try:
            return conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0] == 0
        finally:
            conn.close()
    engine = build_engine(settings)
    try:
        async with engine.connect() as pg:
            n = (await pg.execute(text(
                "SELECT count(*) FROM information_schema.tables "
                "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"))).scalar_one()
    finally:
        await engine.dispose()
    return int(n) == 0


async def restore(settings: Settings, snapshot: Path, checked: Checked) -> Restored:
    """Put `snapshot` (checked, without faults) into the configured, empty install."""
    if checked.faults:
        raise UserError("ชุดสำรองมีข้อผิดพลาด ไม่กู้คืน", "the snapshot has faults: nothing restored")
    manifest = checked.manifest
    kind = "sqlite" if is_sqlite(settings.database_url) else "postgresql"
    if manifest.get("database") != kind:
        raise UserError(f"ชุดสำรองนี้เป็นฐานข้อมูล {manifest.get('database')} แต่ที่ตั้งค่าไว้เป็น {kind}",
                        f"the snapshot holds a {manifest.get('database')} database; {kind} is configured")
    # The database is restored last, so one without tables is an install not begun or a
    # restore cut short: the blobs such a restore left (all of this snapshot's) are kept, and
    # it is run again. Blobs of anything else, or a database with tables, are refused.
    present = list_blobs(settings.blob_path)
    foreign = set(present) - set(checked.blobs)
    if not await _database_empty(settings) or foreign:
        raise UserError("ที่ปลายทางมีข้อมูลอยู่แล้ว (ฐานข้อมูลมีตาราง หรือมีไฟล์เอกสารที่ไม่ได้มาจากชุดสำรองนี้) "
                        "กู้คืนได้เฉพาะที่ว่าง ไม่มีสิ่งใดถูกเปลี่ยน",
                        "the configured install is not empty (database tables, or blobs not of this snapshot): "
                        "nothing changed")
    data = settings.data_path
    data.mkdir(parents=True, exist_ok=True)
    source = snapshot.parent / BLOBS
    try:
        for digest in sorted(checked.blobs):
            target = BlobStore(settings.blob_path).path(digest)
            if digest in present and sha256_file(target)[0] == digest:
                continue  # copied by a restore cut short
            copy_verified(BlobStore(source).path(digest), target, digest=digest, mode=0o440)
    except BackupFault as exc:
        raise UserError(f"ไฟล์เอกสารในที่เก็บสำรองเสียหาย: {exc}", str(exc)) from None
    for d in {BlobStore(settings.blob_path).path(x).parent.parent for x in checked.blobs}:
        fsync_dir(d)
    if settings.blob_path.is_dir():
        fsync_dir(settings.blob_path)
    if (snapshot / SECRET_FILE).is_file():
        copy_verified(snapshot / SECRET_FILE, data / SECRET_FILE, mode=0o600)
    if (snapshot / "tls").is_dir():
        copy_tree(snapshot / "tls", data / TLS_DIR)
    if (snapshot / "outbox").is_dir():
        copy_tree(snapshot / "outbox", settings.outbox_path)
    if kind == "sqlite":  # last: an install with a database is one that looks whole
        target = sqlite_file(settings)
        for leftover in (target.with_name(target.name + "-wal"), target.with_name(target.name + "-shm")):
            leftover.unlink(missing_ok=True)  # of the empty database replaced
        copy_verified(snapshot / SQLITE_FILE, target, mode=0o600)
    else:
        dbname, env = pg_target(settings)
        await run_tool([pg_tool("pg_restore"), "--no-owner", "--exit-on-error", "--single-transaction",
                        "--no-password", f"--dbname={dbname}", str(snapshot / PG_FILE)], env)
    return Restored(len(checked.blobs), manifest.get("schema_revision"), migrate.head_revision())
