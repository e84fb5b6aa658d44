"""`db backup | check-backup | restore` on real stores: SQLite files and a real PostgreSQL.

Letters are registered as the gateway registers them (the blob written, then the transaction
that names it committed), so what a backup must hold is real: the raw message and the main
file of each letter on disk, its register line, its audit entries.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import errno
import hashlib
import io
import json
import shutil
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.config import Settings, load_settings
from gateway.ops import backup as backup_module
from gateway.ops.backup import (
    BLOB_LIST,
    MANIFEST,
    SECRET_FILE,
    SQLITE_FILE,
    BackupResult,
    backup,
    snapshot_name,
)
from gateway.store.tables import LetterFile
from tests.conftest import FakeClock
from tests.integration.test_cli import cli, cli_process
from tests.processes import write_config

pytestmark = pytest.mark.integration

LETTERS = 60  # each: a raw message and a main file on disk, a register line, audit entries


def site(root: Path, *, data: str = "data", storage: str = "", upgrade: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    write_config(root / "config.toml", data_dir=data, storage=storage)
    if upgrade:
        r = cli(root, "db", "upgrade")
        assert r.returncode == 0, r.stderr
    return root


def settings_of(root: Path) -> Settings:
    return load_settings(root / "config.toml")


async def _register(settings: Settings, first: int, count: int) -> None:
    from gateway.app import opened_store
    from gateway.store import registers
    from gateway.store.letters import know_blob, put_blobs, record_raw

    async with opened_store(settings) as store:
        for i in range(first, first + count):
            main = hashlib.sha256(b"%d" % i).digest() * (40 + i % 50)  # a few kB, distinct
            raw = b"From: saraban@obec.go.th\r\nSubject: letter %d\r\n\r\n" % i + main[:500]
            [pdf] = await put_blobs(store.blobs, main)  # on disk before the commit that names it
            now = store.clock()
            async with store.sessions.begin() as s:
                got = await record_raw(s, store.blobs, channel="smtp", source_key=f"smtp:test:{i}",
                                       data=raw, now=now)
                await know_blob(s, pdf, len(main), now)
                s.add(LetterFile(letter_id=got.letter_id, role="main", safe_name=f"{i}.pdf",
                                 media_type="application/pdf", sha256=pdf, size=len(main)))
                await registers.allocate(s, book_code="receive", now=now, letter_id=got.letter_id,
                                         fields=registers.EntryFields(letter_no=f"ศธ 0400/{i}",
                                                                      sender="สพฐ.", subject=f"เรื่องที่ {i}"))


def register(root: Path, first: int, count: int) -> None:
    asyncio.run(_register(settings_of(root), first, count))


def snapshots(dest: Path) -> list[Path]:
    return sorted(p for p in dest.iterdir() if p.name[0].isdigit())


def blob_files(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in root.rglob("*") if p.is_file() and len(p.name) == 64}


def export(root: Path) -> str:
    r = cli(root, "registers", "export", "--book", "receive", "--format", "json")
    assert r.returncode == 0, r.stderr
    return r.stdout


def referenced(db: Path) -> set[str]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {d for (d,) in conn.execute("SELECT sha256 FROM letter_files UNION SELECT sha256 FROM raw_messages")}
    finally:
        conn.close()


@pytest.fixture
def filled(tmp_path: Path) -> Path:
    root = site(tmp_path / "live")
    register(root, 0, LETTERS)
    data = settings_of(root).data_path
    (data / "tls").mkdir()
    (data / "tls" / "key.pem").write_bytes(b"-----BEGIN PRIVATE KEY-----\n")
    (data / "tls" / "key.pem").chmod(0o600)
    settings_of(root).outbox_path.mkdir(parents=True, exist_ok=True)
    (settings_of(root).outbox_path / "a.eml").write_bytes(b"Subject: queued\r\n\r\nx")
    return root


def test_backup_then_restore_gives_the_same_install(filled: Path, tmp_path: Path) -> None:
    dest = tmp_path / "backups"
    r = cli_process(filled, "db", "backup", str(dest))  # the real entry point, in a process
    assert r.returncode == 0, r.stderr
    assert "สำรองข้อมูลเสร็จ" in r.stdout and f"ใหม่ {2 * LETTERS} จาก {2 * LETTERS}" in r.stdout
    [snap] = snapshots(dest)
    # letters, the register and the install secret: nobody but the gateway's user, any umask
    assert {p.name: p.stat().st_mode & 0o077 for p in (dest, snap, *snap.iterdir())} == \
        {p.name: 0 for p in (dest, snap, *snap.iterdir())}
    manifest = json.loads((snap / MANIFEST).read_text(encoding="utf-8"))
    [receive] = [b for b in manifest["registers"] if b["book"] == "receive"]
    assert receive["last"] == receive["entries"] == LETTERS
    assert manifest["schema_revision"] and manifest["database"] == "sqlite"
    assert {"tls/key.pem", "outbox/a.eml", SECRET_FILE, SQLITE_FILE, BLOB_LIST} <= set(manifest["files"])

    fresh = site(tmp_path / "fresh", data="elsewhere", upgrade=False)
    r = cli(fresh, "db", "restore", str(snap))
    assert r.returncode == 0, r.stderr
    live, back = settings_of(filled), settings_of(fresh)
    assert export(fresh) == export(filled)
    assert blob_files(back.blob_path) == blob_files(live.blob_path)
    assert len(blob_files(back.blob_path)) == 2 * LETTERS
    assert (back.data_path / SECRET_FILE).read_bytes() == (live.data_path / SECRET_FILE).read_bytes()
    assert (back.data_path / SECRET_FILE).stat().st_mode & 0o777 == 0o600
    assert (back.data_path / "tls" / "key.pem").stat().st_mode & 0o777 == 0o600
    assert (back.outbox_path / "a.eml").read_bytes() == b"Subject: queued\r\n\r\nx"
    r = cli(fresh, "audit", "verify")
    assert r.returncode == 0 and f"{2 * LETTERS} รายการ" in r.stdout, r.stdout + r.stderr


def _backup_while_writing(settings: Settings, dest: Path, monkeypatch: pytest.MonkeyPatch) -> BackupResult:
    """A backup while a writer registers letters throughout it, and one more letter (its
    source smtp:test:5000) committed right after the blob folder is listed."""
    stop, written = threading.Event(), [0]

    def writer() -> None:
        async def loop() -> None:
            n = 1000
            while not stop.is_set():
                await _register(settings, n, 1)
                n, written[0] = n + 1, written[0] + 1
        asyncio.run(loop())

    listed = backup_module.list_blobs

    def list_then_commit(root: Path) -> dict[str, int]:
        found = listed(root)
        asyncio.run(_register(settings, 5000, 1))  # blob on disk, then its commit: after the listing
        return found

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while written[0] < 3:  # the writer is under way before the backup starts
            stop.wait(0.01)
        # for this backup only: a module first imported later (ops/restore) must get the real one
        with monkeypatch.context() as patch:
            patch.setattr(backup_module, "list_blobs", list_then_commit)
            result = asyncio.run(backup(settings, dest))
        started = written[0]
        while written[0] < started + 3:  # and still after it ends
            stop.wait(0.01)
    finally:
        stop.set()
        thread.join()
    return result


def test_a_backup_taken_while_letters_are_registered_is_consistent(filled: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A writer registers letters throughout the backup; and one more letter is committed
    right after the blob folder is listed: with the database snapshot taken before the
    listing (the order that makes it right) that letter is not in the snapshot; taken after,
    the snapshot would name blobs the backup does not hold, and this test fails."""
    result = _backup_while_writing(settings_of(filled), tmp_path / "dest", monkeypatch)
    snap = result.path
    names = referenced(snap / SQLITE_FILE)
    assert len(names) >= 2 * (LETTERS + 3)  # the writer's letters before the backup are in it
    assert names <= set(blob_files(tmp_path / "dest" / "blobs")), "the snapshot names blobs not backed up"
    assert (tmp_path / "dest" / "blobs").is_dir()
    r = cli(filled, "db", "check-backup", str(snap))  # integrity and the audit chain
    assert r.returncode == 0, r.stderr
    fresh = site(tmp_path / "fresh", upgrade=False)
    assert cli(fresh, "db", "restore", str(snap)).returncode == 0
    r = cli(fresh, "audit", "verify")
    assert r.returncode == 0, r.stderr


def test_a_second_backup_copies_only_the_new_letters_and_keep_prunes(filled: Path, tmp_path: Path) -> None:
    settings, dest = settings_of(filled), tmp_path / "dest"
    clock = FakeClock(backup_module.system_clock() - dt.timedelta(days=3))
    first = asyncio.run(backup(settings, dest, clock=clock))
    assert (first.copied, first.blobs) == (2 * LETTERS, 2 * LETTERS)
    register(filled, 100, 5)
    clock.advance(days=1)
    second = asyncio.run(backup(settings, dest, clock=clock))
    assert (second.copied, second.blobs) == (10, 2 * LETTERS + 10)
    assert second.name == snapshot_name(clock.now) and second.name > first.name
    assert len(blob_files(dest / "blobs")) == 2 * LETTERS + 10
    r = cli(filled, "db", "backup", str(dest), "--keep", "1")  # today: the newest
    assert r.returncode == 0 and "ใหม่ 0 จาก" in r.stdout, r.stdout + r.stderr
    [kept] = snapshots(dest)
    assert kept.name not in (first.name, second.name)
    r = cli(filled, "db", "check-backup", str(kept))
    assert r.returncode == 0, r.stderr


def _first_blob(snap: Path) -> tuple[Path, str]:
    digest = (snap / BLOB_LIST).read_text().split()[0]
    return snap.parent / "blobs" / digest[:2] / digest[2:4] / digest, digest


def _flip_a_byte(snap: Path) -> str:
    path, digest = _first_blob(snap)
    path.chmod(0o640)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    return digest


def _lose_a_blob(snap: Path) -> str:
    path, digest = _first_blob(snap)
    path.unlink()
    return digest


def _change_the_secret(snap: Path) -> str:
    path = snap / SECRET_FILE
    path.write_bytes(path.read_bytes()[::-1])
    return SECRET_FILE


def _truncate_the_database(snap: Path) -> str:
    path = snap / SQLITE_FILE
    with path.open("rb+") as f:
        f.truncate(path.stat().st_size // 2)
    return SQLITE_FILE


def _tamper_the_audit_log_and_the_manifest(snap: Path) -> str:
    """Someone who edits an audit row and rewrites the manifest's sha256 to match."""
    path = snap / SQLITE_FILE
    conn = sqlite3.connect(path)
    conn.execute("UPDATE audit_log SET actor = 'someone else' WHERE seq = 2")
    conn.commit()
    conn.close()
    manifest = json.loads((snap / MANIFEST).read_text(encoding="utf-8"))
    data = path.read_bytes()
    manifest["files"][SQLITE_FILE] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    (snap / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    return "#2"


BREAKS: list[tuple[str, Callable[[Path], str]]] = [
    ("a flipped byte in a blob", _flip_a_byte),
    ("a missing blob", _lose_a_blob),
    ("a file of the manifest changed", _change_the_secret),
    ("a truncated database copy", _truncate_the_database),
    ("an audit row edited, the manifest made to match", _tamper_the_audit_log_and_the_manifest),
]


@pytest.fixture(scope="module")
def backed_up(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = site(tmp_path_factory.mktemp("faults") / "live")
    register(root, 0, 10)
    r = cli(root, "db", "backup", str(root / "dest"))
    assert r.returncode == 0, r.stderr
    return root / "dest"


@pytest.mark.parametrize("what,damage", BREAKS, ids=[b[0] for b in BREAKS])
def test_check_backup_names_what_is_wrong(backed_up: Path, tmp_path: Path, what: str,
                                          damage: Callable[[Path], str]) -> None:
    dest = tmp_path / "dest"
    shutil.copytree(backed_up, dest)
    [snap] = snapshots(dest)
    assert cli(backed_up.parent, "db", "check-backup", str(snap)).returncode == 0  # sound before
    named = damage(snap)
    r = cli(backed_up.parent, "db", "check-backup", str(snap))
    assert r.returncode == 1, r.stdout
    assert named in r.stderr and "ข้อผิดพลาด" in r.stderr, r.stderr


def test_a_backup_is_checked_where_there_is_no_config(backed_up: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine is gone; a new one has the backup disk and a clone, no config.toml yet.
    check-backup needs only the snapshot; restore still needs to know where to put it."""
    from gateway.cli.main import main

    [snap] = snapshots(backed_up)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SARABAN_CONFIG", raising=False)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        assert main(["db", "check-backup", str(snap)]) == 0, err.getvalue()
        assert main(["db", "restore", str(snap)]) == 1
    assert "ครบถ้วน" in out.getvalue()
    assert "config.toml" in err.getvalue() and not (tmp_path / "data").exists()


def test_quick_check_sees_a_missing_blob_but_does_not_hash(backed_up: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    shutil.copytree(backed_up, dest)
    [snap] = snapshots(dest)
    _flip_a_byte(snap)
    assert cli(backed_up.parent, "db", "check-backup", "--quick", str(snap)).returncode == 0
    named = _lose_a_blob(snap)
    r = cli(backed_up.parent, "db", "check-backup", "--quick", str(snap))
    assert r.returncode == 1 and named in r.stderr


def _state(data: Path) -> dict[str, bytes]:
    return {str(p.relative_to(data)): p.read_bytes() for p in sorted(data.rglob("*")) if p.is_file()}


def test_restore_refuses_an_install_that_is_not_empty(backed_up: Path, tmp_path: Path) -> None:
    [snap] = snapshots(backed_up)
    target = site(tmp_path / "used")  # tables already
    data = settings_of(target).data_path
    before = _state(data)
    r = cli(target, "db", "restore", str(snap))
    assert r.returncode == 1 and "ไม่ว่าง" not in r.stdout and "มีข้อมูลอยู่แล้ว" in r.stderr
    assert _state(data) == before
    blobs_only = site(tmp_path / "blobs-only", upgrade=False)
    (settings_of(blobs_only).blob_path / "ab" / "cd").mkdir(parents=True)
    (settings_of(blobs_only).blob_path / "ab" / "cd" / ("abcd" + "0" * 60)).write_bytes(b"x")
    r = cli(blobs_only, "db", "restore", str(snap))
    assert r.returncode == 1 and "มีข้อมูลอยู่แล้ว" in r.stderr
    assert not (settings_of(blobs_only).data_path / SQLITE_FILE).exists()


def test_a_restore_cut_short_is_run_again(backed_up: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The disk fills after five blobs: no database is there, so the install does not look
    whole; run again once there is room, the restore keeps the five and finishes."""
    from gateway.ops import restore as restore_module

    [snap] = snapshots(backed_up)
    real, copied = restore_module.copy_verified, []

    def filling(src: Path, dst: Path, **kw: object) -> tuple[str, int]:
        if len(copied) == 5:
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        copied.append(dst)
        return real(src, dst, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(restore_module, "copy_verified", filling)
    fresh = site(tmp_path / "fresh", upgrade=False)
    r = cli(fresh, "db", "restore", str(snap))
    assert r.returncode == 1 and "พื้นที่ดิสก์เต็ม" in r.stderr, r.stderr
    back = settings_of(fresh)
    assert not (back.data_path / SQLITE_FILE).exists() and len(blob_files(back.blob_path)) == 5
    copied.clear()
    monkeypatch.setattr(restore_module, "copy_verified", real)
    r = cli(fresh, "db", "restore", str(snap))
    assert r.returncode == 0, r.stderr
    assert export(fresh) == export(backed_up.parent)
    assert blob_files(back.blob_path) == blob_files(settings_of(backed_up.parent).blob_path)


def test_an_unfinished_snapshot_is_never_restored_and_the_next_backup_removes_it(
        backed_up: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    shutil.copytree(backed_up, dest)
    [snap] = snapshots(dest)
    partial = dest / f".{snap.name}-9.partial"
    shutil.copytree(snap, partial)  # even one cut short after its manifest was written
    fresh = site(tmp_path / "fresh", upgrade=False)
    r = cli(fresh, "db", "restore", str(partial))
    assert r.returncode == 1 and "ไม่เสร็จ" in r.stderr
    assert not settings_of(fresh).blob_path.exists()
    live = backed_up.parent
    assert cli(live, "db", "backup", str(dest)).returncode == 0
    assert not partial.exists() and len(snapshots(dest)) == 2


def test_a_backup_cut_short_leaves_no_finished_snapshot(filled: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    def full(*_: object) -> tuple[int, int]:
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "dest" / "blobs"))

    monkeypatch.setattr(backup_module, "copy_blobs", full)
    r = cli(filled, "db", "backup", str(tmp_path / "dest"))
    assert r.returncode == 1 and "พื้นที่ดิสก์เต็ม" in r.stderr, r.stderr
    assert [p.name for p in (tmp_path / "dest").iterdir() if p.name != ".lock"] == []


def test_the_secret_file_name_is_the_trust_rooms(tmp_path: Path) -> None:
    from gateway.trust.secret import FILE

    assert SECRET_FILE == FILE


def test_postgresql_backup_and_restore(tmp_path: Path, pg_url: str, postgres_server: object) -> None:
    live = site(tmp_path / "live", storage=f'database_url = "{pg_url}"')
    register(live, 0, 20)
    dest = tmp_path / "dest"
    r = cli(live, "db", "backup", str(dest))
    assert r.returncode == 0, r.stderr
    [snap] = snapshots(dest)
    assert (snap / "database.pgdump").is_file() and not (snap / SQLITE_FILE).exists()
    assert cli(live, "db", "check-backup", str(snap)).returncode == 0
    (snap / "database.pgdump").write_bytes(b"PGDMP garbage")
    manifest = json.loads((snap / MANIFEST).read_text(encoding="utf-8"))
    good = shutil.copy(snap / MANIFEST, tmp_path / "m.json")
    manifest["files"]["database.pgdump"] = {"sha256": hashlib.sha256(b"PGDMP garbage").hexdigest(), "size": 13}
    (snap / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    r = cli(live, "db", "check-backup", str(snap))
    assert r.returncode == 1 and "pg_restore" in r.stderr, r.stderr  # the dump itself is read
    shutil.rmtree(dest)
    assert cli(live, "db", "backup", str(dest)).returncode == 0
    [snap] = snapshots(dest)
    assert good.exists()

    name = "t_restore_" + hashlib.sha256(str(tmp_path).encode()).hexdigest()[:8]
    url = postgres_server.create_database(name)  # type: ignore[attr-defined]
    try:
        fresh = site(tmp_path / "fresh", storage=f'database_url = "{url}"', upgrade=False)
        r = cli(fresh, "db", "restore", str(snap))
        assert r.returncode == 0, r.stderr
        assert export(fresh) == export(live)
        assert cli(fresh, "audit", "verify").returncode == 0
        assert blob_files(settings_of(fresh).blob_path) == blob_files(settings_of(live).blob_path)
        r = cli(fresh, "db", "restore", str(snap))  # now it holds tables
        assert r.returncode == 1 and "มีข้อมูลอยู่แล้ว" in r.stderr
    finally:
        postgres_server.drop_database(name)  # type: ignore[attr-defined]


def _lose_a_letter_file(root: Path) -> tuple[str, str]:
    """Delete the main file of the seventh letter from the live data folder; its sha256 and
    how the backup names the letter ("<id> (<number>/<year>)")."""
    live = settings_of(root)
    conn = sqlite3.connect(live.data_path / SQLITE_FILE)
    try:
        [(letter_id, digest)] = conn.execute(
            "SELECT letter_id, sha256 FROM letter_files ORDER BY letter_id LIMIT 1 OFFSET 6")
        [(number, year)] = conn.execute("SELECT number, year FROM register_entries WHERE letter_id = ?",
                                        (letter_id,))
    finally:
        conn.close()
    [lost] = list(live.blob_path.rglob(digest))
    lost.unlink()
    return digest, f"{letter_id} ({number}/{year})"


def test_a_letter_file_missing_from_the_data_folder_fails_the_backup_and_is_named(
        filled: Path, tmp_path: Path) -> None:
    """A letter's file gone from this machine (a disk fault, a hand that tidied up) before
    any backup copied it is lost: the backup still keeps everything else, but says which
    letter, and exits 1 so that the nightly timer fails where someone looks."""
    digest, named = _lose_a_letter_file(filled)
    dest = tmp_path / "backups"
    r = cli(filled, "db", "backup", str(dest))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "สำรองข้อมูลเสร็จ" in r.stdout  # the rest is kept
    assert "ไฟล์เอกสาร 1 ไฟล์" in r.stderr and named in r.stderr, r.stderr
    [snap] = snapshots(dest)
    manifest = json.loads((snap / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["blobs"]["absent"] == [digest] and manifest["blobs"]["known_to_database_but_absent"] == 1
    assert len(blob_files(dest / "blobs")) == 2 * LETTERS - 1
    r = cli(filled, "db", "check-backup", str(snap))
    assert r.returncode == 0 and "ไฟล์เอกสาร 1 ไฟล์หายจากเครื่องก่อนสำรองชุดนี้" in r.stderr, r.stderr  # whole, but said
    fresh = site(tmp_path / "fresh", upgrade=False)
    r = cli(fresh, "db", "restore", str(snap))
    assert r.returncode == 0 and "ไฟล์เอกสาร 1 ไฟล์หายจากเครื่องก่อนสำรองชุดนี้" in r.stderr, r.stderr


def test_a_letter_file_lost_after_an_earlier_backup_stays_in_the_snapshot(
        filled: Path, tmp_path: Path) -> None:
    """Lost from the data folder after last night's backup copied it: tonight's snapshot is
    still whole (it lists the copy the backup folder holds), a restore from it gets the file
    back, and the backup says where to copy it from, exiting 1."""
    dest = tmp_path / "backups"
    assert cli(filled, "db", "backup", str(dest)).returncode == 0
    digest, named = _lose_a_letter_file(filled)
    r = cli(filled, "db", "backup", str(dest))
    assert r.returncode == 1 and named in r.stderr and "ยังอยู่ในที่เก็บสำรอง" in r.stderr, r.stderr
    assert digest[:2] in r.stderr  # the path to copy it back from
    newest = snapshots(dest)[-1]
    manifest = json.loads((newest / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["blobs"]["absent"] == [] and manifest["blobs"]["absent_here_kept_before"] == [digest]
    assert digest in (newest / BLOB_LIST).read_text(encoding="ascii")
    assert cli(filled, "db", "check-backup", str(newest)).returncode == 0
    fresh = site(tmp_path / "fresh", upgrade=False)
    assert cli(fresh, "db", "restore", str(newest)).returncode == 0
    assert digest in blob_files(settings_of(fresh).blob_path)
    assert len(blob_files(settings_of(fresh).blob_path)) == 2 * LETTERS


def test_a_postgresql_backup_taken_while_letters_are_registered_is_consistent(
        tmp_path: Path, pg_url: str, postgres_server: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same on PostgreSQL, where the facts are read and pg_dump dumps in one exported
    REPEATABLE READ snapshot while other connections commit: restored, the dump names only
    blobs the backup holds, and not the letter committed after the listing."""
    import psycopg

    live = site(tmp_path / "live", storage=f'database_url = "{pg_url}"')
    register(live, 0, 20)
    result = _backup_while_writing(settings_of(live), tmp_path / "dest", monkeypatch)
    name = "t_consistent_" + hashlib.sha256(str(tmp_path).encode()).hexdigest()[:8]
    url = postgres_server.create_database(name)  # type: ignore[attr-defined]
    try:
        fresh = site(tmp_path / "fresh", storage=f'database_url = "{url}"', upgrade=False)
        r = cli(fresh, "db", "restore", str(result.path))
        assert r.returncode == 0, r.stderr
        with psycopg.connect(url.replace("+psycopg", "", 1)) as conn:
            names = {d for (d,) in conn.execute(
                "SELECT sha256 FROM letter_files UNION SELECT sha256 FROM raw_messages")}
            late = conn.execute("SELECT count(*) FROM letters WHERE source_key = 'smtp:test:5000'").fetchone()
        assert late == (0,)
        assert len(names) >= 2 * (20 + 3)
        assert names <= set(blob_files(tmp_path / "dest" / "blobs")), "the dump names blobs not backed up"
        assert cli(fresh, "audit", "verify").returncode == 0
    finally:
        postgres_server.drop_database(name)  # type: ignore[attr-defined]
