"""`saraban-gateway db backup`: a snapshot of the whole install, taken while the gateway runs.

The backup folder DEST holds snapshots side by side and one blob folder they share:

    DEST/blobs/ab/cd/<sha256>          every letter's bytes, copied once (blobs never change)
    DEST/2569-12-07_083000/            one finished snapshot, named by Bangkok time (BE)
        saraban.sqlite3 | database.pgdump
        secret.key  tls/  outbox/      when the install has them
        blobs.txt                      "<sha256> <size>" per blob the data folder held, sorted
        manifest.json                  what it holds: each file's sha256, the registers' numbers
    DEST/.<name>.partial/              a snapshot being written (never taken for a finished one)

The order is what makes it consistent: the database first (SQLite's online backup API in one
step, a read transaction's snapshot; PostgreSQL's `pg_dump` on an exported snapshot), then the
blob folder is listed. A blob is written durably before the transaction that refers to it
commits (store/blobs.py), so every blob the database snapshot names is already on disk when
the folder is listed. The snapshot is written under `.partial`, synced and renamed: a backup
cut short never looks finished, and the next run removes what it left.

PostgreSQL's tools are the newest `/usr/lib/postgresql/<v>/bin` (Debian's layout, the same
place tests/servers/postgres.py looks), else the ones on PATH; the password goes to the child
as PGPASSWORD in its environment only. Checking and restoring: gateway/ops/restore.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import re
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import text
from sqlalchemy.engine import make_url

from gateway.clock import Clock, system_clock
from gateway.config import Settings, secret
from gateway.errors import UserError
from gateway.intake.submission import TLS_DIR
from gateway.store.blobs import BlobStore, fsync_dir
from gateway.store.db import is_sqlite
from gateway.store.handle import build_engine
from gateway.thai import BANGKOK, be_year_of, format_letter_date
from gateway.wholefile import whole_file

FORMAT = 1
SECRET_FILE = "secret.key"  # gateway/trust/secret.py FILE (ops does not import trust; a test compares)
SQLITE_FILE = "saraban.sqlite3"
PG_FILE = "database.pgdump"
MANIFEST = "manifest.json"
BLOB_LIST = "blobs.txt"
BLOBS = "blobs"
SNAPSHOT = re.compile(r"^\d{4}-\d{2}-\d{2}_\d{6}(-\d+)?$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
CHUNK = 1 << 20

# What the manifest tells an auditor; the same SQL on both databases.
REVISION_SQL = "SELECT version_num FROM alembic_version"
REGISTERS_SQL = """
SELECT b.code, c.year, c.last,
       (SELECT count(*) FROM register_entries e WHERE e.book_id = c.book_id AND e.year = c.year)
FROM counters c JOIN register_books b ON b.id = c.book_id ORDER BY b.code, c.year"""
REFERENCED_SQL = "SELECT sha256 FROM blobs"


class BackupFault(Exception):
    """A file did not copy as it should (its bytes do not match their name)."""


@dataclass
class DbFacts:
    revision: str | None = None
    registers: list[dict[str, Any]] = field(default_factory=list)
    referenced: set[str] = field(default_factory=set)  # blobs the database knows


@dataclass(frozen=True)
class BackupResult:
    name: str
    path: Path
    copied: int  # blobs new to DEST
    copied_bytes: int
    blobs: int
    blob_bytes: int
    database_bytes: int
    missing: tuple[str, ...]  # blobs the database knows that neither the data folder nor DEST held
    # blobs the database knows that the data folder no longer held, in DEST from an earlier
    # backup: the snapshot lists them (it is whole); the data folder needs them copied back
    gone_here: tuple[str, ...] = ()


# -- files -----------------------------------------------------------------------------------


def sha256_file(path: Path) -> tuple[str, int]:
    h, size = hashlib.sha256(), 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def copy_verified(src: Path, dst: Path, *, digest: str | None = None, mode: int = 0o600) -> tuple[str, int]:
    """Copy `src` to `dst` whole (tmp → fsync → rename → fsync of the folder); the sha256 and
    size of what was written. With `digest`, bytes that do not hash to it are refused."""
    dst.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    h, size = hashlib.sha256(), 0
    with src.open("rb") as f, whole_file(dst, mode) as out:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            out.write(chunk)
            size += len(chunk)
        if digest is not None and h.hexdigest() != digest:
            raise BackupFault(f"{src}: content does not match its name (sha256 {h.hexdigest()})")
    return h.hexdigest(), size


def list_blobs(root: Path) -> dict[str, int]:
    """Every blob in a blob folder: sha256 → size (the store's own listing)."""
    return BlobStore(root).sizes()


def read_blob_list(path: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in path.read_text(encoding="ascii").splitlines():
        digest, _, size = line.partition(" ")
        if not _HEX64.match(digest) or not size.isdigit():
            raise ValueError(f"bad line in {path.name}: {line[:100]!r}")
        out[digest] = int(size)
    return out


def copy_tree(src: Path, dst: Path, manifest: dict[str, dict[str, Any]] | None = None, prefix: str = "") -> None:
    """The regular files under `src` into `dst`, with their permission bits (the TLS key stays
    0600), each in `manifest` as prefix/relative path. A file being written (a dot name) or
    taken away meanwhile (the outbox folder's reader) is left out."""
    for path in sorted(p for p in src.rglob("*") if p.is_file() and not p.is_symlink()):
        rel = path.relative_to(src)
        if any(part.startswith(".") for part in rel.parts):
            continue
        try:
            sha, size = copy_verified(path, dst / rel, mode=path.stat().st_mode & 0o777)
        except FileNotFoundError:
            continue
        if manifest is not None:
            manifest[f"{prefix}/{rel.as_posix()}"] = {"sha256": sha, "size": size}


@contextlib.contextmanager
def locked(dest: Path) -> Iterator[None]:
    """One backup at a time into a folder."""
    with (dest / ".lock").open("a") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(f"มีการสำรองข้อมูลลง {dest} อยู่แล้ว (อีกกระบวนการหนึ่ง)",
                            f"another backup into {dest} is running") from None
        yield


def finished_snapshots(dest: Path) -> list[Path]:
    """DEST's finished snapshots, oldest first (their names sort by time)."""
    if not dest.is_dir():
        return []
    return sorted((p for p in dest.iterdir() if SNAPSHOT.match(p.name) and (p / MANIFEST).is_file()),
                  key=lambda p: p.name)


# -- names and times -------------------------------------------------------------------------


def snapshot_name(at: dt.datetime) -> str:
    """`2569-12-07_083000`: the Bangkok time in the Buddhist era; sorts as time does."""
    return f"{be_year_of(at):04d}-{at.astimezone(BANGKOK):%m-%d_%H%M%S}"


def thai_time(at: dt.datetime) -> str:
    local = at.astimezone(BANGKOK)
    return f"{format_letter_date(local.date(), thai_digits=False)} เวลา {local:%H:%M:%S} น."


# -- the database ----------------------------------------------------------------------------


def sqlite_file(settings: Settings) -> Path:
    return Path(make_url(settings.database_url).database or "")


def facts_of_sqlite(conn: sqlite3.Connection) -> DbFacts:
    facts = DbFacts()
    with contextlib.suppress(sqlite3.OperationalError):  # no schema yet
        facts.revision = conn.execute(REVISION_SQL).fetchone()[0]
        facts.registers = [{"book": b, "year": y, "last": last, "entries": n}
                           for b, y, last, n in conn.execute(REGISTERS_SQL)]
        facts.referenced = {d for (d,) in conn.execute(REFERENCED_SQL)}
    return facts


def integrity_problems(conn: sqlite3.Connection) -> str:
    """What SQLite's integrity_check finds ("" when the file is sound), its first three lines."""
    result = [r[0] for r in conn.execute("PRAGMA integrity_check")]
    return "" if result == ["ok"] else "; ".join(result[:3])


def snapshot_sqlite(src: Path, dst: Path) -> DbFacts:
    """A consistent copy of the live SQLite file: the online backup API in one step reads one
    snapshot under a read transaction (WAL: the gateway keeps writing), then the copy is
    checked with `PRAGMA integrity_check` and set to a plain journal (one file, no -wal)."""
    if not src.is_file():
        raise UserError(f"ไม่พบไฟล์ฐานข้อมูล {src}", f"no database file at {src}")
    source = sqlite3.connect(f"file:{quote(str(src))}?mode=rw", uri=True, timeout=30)
    dst.touch(mode=0o600)  # the register and its letters' details: owner only, whatever the umask
    copy = sqlite3.connect(dst)
    try:
        source.backup(copy)  # pages=-1: every page in one step, one read snapshot
        source.close()
        copy.execute("PRAGMA journal_mode=DELETE")
        said = integrity_problems(copy)
        if said:
            raise UserError(f"สำเนาฐานข้อมูลไม่ผ่านการตรวจ (integrity_check): {said}",
                            f"the database copy failed integrity_check: {said}")
        facts = facts_of_sqlite(copy)
    finally:
        source.close()
        copy.close()
    with dst.open("rb+") as f:
        os.fsync(f.fileno())
    return facts


def pg_tool(name: str) -> str:
    """PostgreSQL's `name` (pg_dump, pg_restore): the newest /usr/lib/postgresql/<v>/bin's,
    else PATH's."""
    def version(p: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", p.parent.parent.name)) or (0,)

    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=version, reverse=True)
    for p in found:
        if os.access(p, os.X_OK):
            return str(p)
    on_path = shutil.which(name)
    if on_path:
        return on_path
    raise UserError(f"ไม่พบโปรแกรม {name} ของ PostgreSQL (ติดตั้งแพ็กเกจ postgresql-client)",
                    f"{name} not found under /usr/lib/postgresql/*/bin or on PATH")


def pg_target(settings: Settings) -> tuple[str, dict[str, str]]:
    """The libpq address of the configured database (no password in it) and the environment
    for a child process: the password as PGPASSWORD there, never on a command line."""
    url = make_url(settings.database_url).set(drivername="postgresql", password=None)
    env = dict(os.environ)
    name = settings.storage.database_password_env
    if name:
        env["PGPASSWORD"] = secret(name, what="รหัสผ่านฐานข้อมูล", what_en="database password")
    return url.render_as_string(hide_password=False), env


async def run_tool(argv: list[str], env: dict[str, str]) -> None:
    proc = await asyncio.create_subprocess_exec(*argv, env=env, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    if proc.returncode != 0:
        said = err.decode("utf-8", "replace").strip().splitlines()
        last = said[-1][:300] if said else f"exit {proc.returncode}"
        raise UserError(f"{Path(argv[0]).name} ทำงานไม่สำเร็จ: {last}", f"{Path(argv[0]).name} failed: {last}")


async def snapshot_postgres(settings: Settings, dst: Path) -> DbFacts:
    """`pg_dump --format=custom` of the snapshot this read transaction exports, so the facts
    in the manifest and the dump are of the same instant."""
    dbname, env = pg_target(settings)
    engine = build_engine(settings)
    try:
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                exported = (await conn.execute(text("SELECT pg_export_snapshot()"))).scalar_one()
                facts = DbFacts()
                facts.revision = (await conn.execute(text(REVISION_SQL))).scalar_one_or_none()
                facts.registers = [{"book": b, "year": y, "last": last, "entries": n}
                                   for b, y, last, n in await conn.execute(text(REGISTERS_SQL))]
                facts.referenced = set((await conn.execute(text(REFERENCED_SQL))).scalars())
                await run_tool([pg_tool("pg_dump"), "--format=custom", "--no-password",
                                f"--snapshot={exported}", f"--file={dst}", f"--dbname={dbname}"], env)
    finally:
        await engine.dispose()
    with dst.open("rb+") as f:
        os.fsync(f.fileno())
    return facts


# -- the backup ------------------------------------------------------------------------------


def _free_name(dest: Path, at: dt.datetime) -> str:
    base = name = snapshot_name(at)
    n = 1
    while (dest / name).exists():  # two backups in one second
        n += 1
        name = f"{base}-{n}"
    return name


def copy_blobs(source: Path, target: Path, wanted: dict[str, int]) -> tuple[int, int]:
    """The blobs of `wanted` that `target` lacks, copied and checked; (how many, bytes)."""
    copied = copied_bytes = 0
    touched: set[Path] = set()
    for digest, size in sorted(wanted.items()):
        dst = BlobStore(target).path(digest)
        if dst.is_file() and dst.stat().st_size == size:
            continue
        made = [d for d in (dst.parent.parent, dst.parent) if not d.is_dir()]
        _, written = copy_verified(BlobStore(source).path(digest), dst, digest=digest, mode=0o440)
        touched.update(d.parent for d in made)
        copied += 1
        copied_bytes += written
    for d in touched:  # new folders' names durable (each file's own folder is synced on rename)
        fsync_dir(d)
    return copied, copied_bytes


def prune(dest: Path, keep: int, made: str) -> list[str]:
    """Remove the oldest finished snapshots beyond `keep`, never the one just `made` (a clock
    set back would sort it first), and never a blob."""
    others = [p for p in finished_snapshots(dest) if p.name != made]
    gone = others[:max(0, len(others) - (keep - 1))]
    for p in gone:
        shutil.rmtree(p)
    return [p.name for p in gone]


async def backup(settings: Settings, dest: Path, *, keep: int | None = None,
                 clock: Clock = system_clock) -> BackupResult:
    """One snapshot of the install into `dest` (see the module's docstring)."""
    if keep is not None and keep < 1:
        raise UserError("--keep ต้องเป็นจำนวนเต็มตั้งแต่ 1 ขึ้นไป", "--keep must be at least 1")
    dest = dest.resolve()
    if dest == settings.data_path or dest.is_relative_to(settings.data_path):
        raise UserError("ที่เก็บสำรองต้องอยู่นอกโฟลเดอร์ข้อมูลของเกตเวย์",
                        f"the backup folder must be outside the data folder {settings.data_path}")
    dest.mkdir(mode=0o700, parents=True, exist_ok=True)  # letters and the install secret: owner only
    with locked(dest):
        for stale in dest.glob(".*.partial"):
            shutil.rmtree(stale)
        at = clock()
        name = _free_name(dest, at)
        partial = dest / f".{name}.partial"
        partial.mkdir(mode=0o700)
        try:
            result = await _write_snapshot(settings, dest, partial, name, at)
            os.rename(partial, dest / name)
            fsync_dir(dest)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        if keep is not None:
            prune(dest, keep, name)
    return result


async def _write_snapshot(settings: Settings, dest: Path, partial: Path, name: str,
                          at: dt.datetime) -> BackupResult:
    files: dict[str, dict[str, Any]] = {}
    # 1. the database: everything it refers to is on disk from here on
    if is_sqlite(settings.database_url):
        kind, db_name = "sqlite", SQLITE_FILE
        facts = await asyncio.to_thread(snapshot_sqlite, sqlite_file(settings), partial / db_name)
    else:
        kind, db_name = "postgresql", PG_FILE
        facts = await snapshot_postgres(settings, partial / db_name)
    sha, db_bytes = sha256_file(partial / db_name)
    files[db_name] = {"sha256": sha, "size": db_bytes}
    # 2. the blobs, listed after the database snapshot
    present = await asyncio.to_thread(list_blobs, settings.blob_path)
    copied, copied_bytes = await asyncio.to_thread(copy_blobs, settings.blob_path, dest / BLOBS, present)
    gone = facts.referenced - present.keys()  # files lost from the data folder
    shared = BlobStore(dest / BLOBS)
    earlier = {d: p.stat().st_size for d in gone if (p := shared.path(d)).is_file()}
    present = {**present, **earlier}  # copied (and checked) by an earlier backup: still whole
    missing = tuple(sorted(gone - earlier.keys()))
    # 3. the install's own files
    data = settings.data_path
    if (data / SECRET_FILE).is_file():
        sha, size = copy_verified(data / SECRET_FILE, partial / SECRET_FILE, mode=0o600)
        files[SECRET_FILE] = {"sha256": sha, "size": size}
    if (data / TLS_DIR).is_dir():
        copy_tree(data / TLS_DIR, partial / "tls", files, "tls")
    if settings.outbox_path.is_dir():
        copy_tree(settings.outbox_path, partial / "outbox", files, "outbox")
    listing = "".join(f"{d} {present[d]}\n" for d in sorted(present)).encode("ascii")
    with whole_file(partial / BLOB_LIST, 0o600) as f:
        f.write(listing)
    files[BLOB_LIST] = {"sha256": hashlib.sha256(listing).hexdigest(), "size": len(listing)}
    blob_bytes = sum(present.values())
    manifest = {
        "format": FORMAT,
        "snapshot": name,
        "created_at": at.astimezone(BANGKOK).isoformat(timespec="seconds"),
        "created_at_th": thai_time(at),
        "schema_revision": facts.revision,
        "database": kind,
        "files": files,
        "blobs": {"count": len(present), "bytes": blob_bytes, "copied": copied,
                  "copied_bytes": copied_bytes, "known_to_database_but_absent": len(missing),
                  "absent": list(missing), "absent_here_kept_before": sorted(earlier)},
        "registers": facts.registers,
    }
    with whole_file(partial / MANIFEST, 0o600) as f:
        f.write(json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8"))
    fsync_dir(partial)
    return BackupResult(name, dest / name, copied, copied_bytes, len(present), blob_bytes, db_bytes, missing,
                        tuple(sorted(earlier)))
