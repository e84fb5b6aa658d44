"""Whose fault: the environment's (disk full, quota, I/O error, read-only store) or the letter's.

Real errors where they can be had here (SQLite and the blob store on a full tmpfs, PostgreSQL
disk full in a tablespace on one, PostgreSQL read-only), the rest as data rows. A letter's own
failure still uses up its attempts and goes to review; the environment's uses up none.
"""

from __future__ import annotations

import asyncio
import errno
import os
import pwd
import sqlite3
import subprocess
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import create_async_engine

from gateway import workers
from gateway.config import AlarmChannels
from gateway.core.compose import render, template_env
from gateway.envfaults import EnvironmentFault, is_environmental
from gateway.errors import Transient
from gateway.inbound.attempts import count_failure
from gateway.inbound.pipeline import Pipeline
from gateway.ops.alarm import AlarmOut
from gateway.ops.outage import Outage
from gateway.service import accept_smtp
from gateway.store.blobs import BlobStore
from gateway.store.tables import Letter
from tests.conftest import make_settings
from tests.corpus.mail import letter_mail, numbered_letter_pdf
from tests.integration.test_full_disk import fill

pytestmark = pytest.mark.integration


def _wrapped(inner: BaseException, outer: BaseException) -> BaseException:
    outer.__cause__ = inner
    return outer


def _sqlite(message: str, name: str | None) -> sqlite3.OperationalError:
    e = sqlite3.OperationalError(message)
    if name is not None:
        e.sqlite_errorname = name  # type: ignore[attr-defined]
    return e


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"pg {sqlstate}")
        self.sqlstate = sqlstate


# (case, exception, the environment's fault?)
CASES: list[tuple[str, BaseException, bool]] = [
    ("ENOSPC", OSError(errno.ENOSPC, "No space left on device"), True),
    ("EDQUOT", OSError(errno.EDQUOT, "Disk quota exceeded"), True),
    ("EIO", OSError(errno.EIO, "Input/output error"), True),
    ("EROFS", OSError(errno.EROFS, "Read-only file system"), True),
    ("ENOSPC from a worker, under a Transient",
     _wrapped(OSError(errno.ENOSPC, "No space left on device"), Transient("storing failed")), True),
    ("SQLite full", _sqlite("database or disk is full", "SQLITE_FULL"), True),
    ("SQLite shm cannot grow", _sqlite("disk I/O error", "SQLITE_IOERR_SHMSIZE"), True),
    ("SQLite read-only", _sqlite("attempt to write a readonly database", "SQLITE_READONLY"), True),
    ("SQLite full, no error name", _sqlite("database or disk is full", None), True),
    ("SQLite full under SQLAlchemy", OperationalError("INSERT", {}, _sqlite("database or disk is full", "SQLITE_FULL")), True),
    ("PostgreSQL disk_full", _PgError("53100"), True),
    ("PostgreSQL out_of_memory", _PgError("53200"), True),
    ("PostgreSQL io_error", _PgError("58030"), True),
    ("PostgreSQL read_only_sql_transaction", _PgError("25006"), True),
    # the letter's own failures, and others that are not the environment's
    ("a parse error", ValueError("bad MIME boundary"), False),
    ("a letter whose text says it", ValueError("No space left on device"), False),
    ("a file not found", OSError(errno.ENOENT, "No such file"), False),
    ("SQLite busy", _sqlite("database is locked", "SQLITE_BUSY"), False),
    ("SQLite syntax", _sqlite("near x: syntax error", "SQLITE_ERROR"), False),
    ("PostgreSQL unique_violation", _PgError("23505"), False),
    ("PostgreSQL connection refused", _PgError("08006"), False),
    ("over the reading budget", workers.OverBudget(workers.Budget(4, 512), "time"), False),
]


@pytest.mark.parametrize(("exc", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_whose_fault(exc: BaseException, expected: bool) -> None:
    assert is_environmental(exc) is expected


@pytest.fixture
def full_volume(tmp_path: Path) -> Iterator[Path]:
    vol = tmp_path / "vol"
    vol.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(vol)], check=True)
    try:
        yield vol
    finally:
        subprocess.run(["umount", "-l", str(vol)], check=False)


def test_real_sqlite_and_blob_errors_on_a_full_volume(full_volume: Path) -> None:
    db = full_volume / "x.sqlite3"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (x BLOB)")
    fill(full_volume)
    with pytest.raises(sqlite3.OperationalError) as full, sqlite3.connect(db) as conn:
        for _ in range(100):
            conn.execute("INSERT INTO t VALUES (randomblob(65536))")
    assert is_environmental(full.value), full.value
    with pytest.raises(OSError) as nospace:
        BlobStore(full_volume / "blobs").put(b"x" * 100_000)
    assert is_environmental(nospace.value)


async def test_real_postgresql_read_only_and_disk_full(pg_url: str) -> None:
    engine = create_async_engine(pg_url)
    vol = Path(tempfile.mkdtemp(prefix="saraban-pgvol-"))  # where the server's user can reach it
    vol.chmod(0o755)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(vol)], check=True)
    space = f"small_{abs(hash(str(vol))) % 10**8}"
    try:
        pw = pwd.getpwnam("postgres")
        os.chown(vol, pw.pw_uid, pw.pw_gid)  # the server runs as postgres
        async with engine.connect() as conn:
            await conn.execute(text("CREATE TABLE t (x text)"))
            await conn.commit()
            with pytest.raises(DBAPIError) as read_only:  # a standby; InternalError under psycopg
                await conn.execute(text("SET TRANSACTION READ ONLY"))
                await conn.execute(text("INSERT INTO t VALUES ('a')"))
            assert is_environmental(read_only.value), read_only.value
            await conn.rollback()
            await conn.execute(text("CREATE UNIQUE INDEX t_x ON t (x)"))
            await conn.execute(text("INSERT INTO t VALUES ('a')"))
            with pytest.raises(IntegrityError) as clash:
                await conn.execute(text("INSERT INTO t VALUES ('a')"))
            assert not is_environmental(clash.value)  # a fact about the data, not the disk
            await conn.rollback()
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f"CREATE TABLESPACE {space} LOCATION '{vol}'"))
            await conn.execute(text(f"CREATE TABLE big (x text) TABLESPACE {space}"))
            with pytest.raises(DBAPIError) as disk_full:
                for _ in range(100):
                    await conn.execute(text("INSERT INTO big SELECT repeat(md5(random()::text), 2000) "
                                            "FROM generate_series(1, 50)"))
            assert is_environmental(disk_full.value), disk_full.value
            await conn.execute(text("DROP TABLE big"))
            await conn.execute(text(f"DROP TABLESPACE {space}"))
    finally:
        await engine.dispose()
        subprocess.run(["umount", "-l", str(vol)], check=False)
        vol.rmdir()


async def test_the_environment_uses_up_no_attempt_and_the_letter_its_own(
        store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the pipeline: a reading the full disk stops raises EnvironmentFault (the service
    waits and tries again) and counts nothing; when the letter itself cannot be read, each
    failure counts, and after max_attempts it waits for the clerk with a Thai reason."""
    first = await accept_smtp(store, letter_mail(numbered_letter_pdf(1)), "saraban@obec.go.th",
                              ["saraban@agency.test"])
    pipeline = Pipeline.build(store, template_env())
    real_read = Pipeline._read

    async def full(self: Pipeline, raw: bytes, digest: str, now):  # type: ignore[no-untyped-def]
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Pipeline, "_read", full)
    for _ in range(7):  # more than max_attempts (5)
        with pytest.raises(EnvironmentFault):
            await pipeline.process(first)
    assert (await _letter(store, first)) == ("received", 0)
    monkeypatch.setattr(Pipeline, "_read", real_read)
    assert await pipeline.process(first) == "registered"
    assert (await _letter(store, first))[1] == 0

    broken = await accept_smtp(store, letter_mail(numbered_letter_pdf(2), subject="เสีย"),
                               "saraban@obec.go.th", ["saraban@agency.test"])
    max_attempts = store.settings.intake.max_attempts
    for n in range(1, max_attempts + 1):
        state = await count_failure(store, broken, ValueError("not a PDF at all"))
        assert (state, n) == (await _letter(store, broken))
    assert state == "review"
    async with store.sessions() as s:
        letter = await s.get(Letter, broken)
        assert letter is not None and f"ไม่สำเร็จ {max_attempts} ครั้ง" in (letter.review_reason or "")


async def _letter(store, letter_id: int) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    async with store.readers() as s:
        letter = await s.get(Letter, letter_id)
        assert letter is not None
        return letter.state, letter.attempts


async def test_one_alarm_per_outage_and_none_for_one_soon_after(tmp_path: Path, clock) -> None:  # type: ignore[no-untyped-def]
    """A nearly full disk lets small writes through between failures: that is one trouble, one
    alarm; an outage after QUIET is a new one. Each alarmed outage gets its mail once it ends."""
    settings = make_settings(tmp_path)
    store = SimpleNamespace(settings=settings, clock=clock, events=Counter())
    out = AlarmOut(AlarmChannels())
    outage = Outage(store, template_env(), out)  # type: ignore[arg-type]
    full = OSError(errno.ENOSPC, "No space left on device")
    outage.fault(full, "letter 1")
    outage.fault(full, "letter 1")
    await asyncio.sleep(0)  # the alarm goes out in a task of its own (no space needed)
    assert out.record.raised == 1 and outage.since == clock()
    clock.advance(minutes=3)
    outage.cleared()
    assert outage.since is None and len(outage.ended) == 1
    clock.advance(minutes=2)
    outage.fault(full, "letter 2")  # within QUIET of the last: logged, not alarmed
    clock.advance(minutes=1)
    outage.cleared()
    clock.advance(minutes=30)
    outage.fault(full, "letter 3")  # a new outage
    await asyncio.sleep(0)
    assert out.record.raised == 2 and len(outage.ended) == 1
    assert store.events["environment_fault"] == 4
    subject, body = render(template_env(), "store-alarm", outage._context(outage.ended[0]))
    assert "ถึง" in subject and "กลับมาทำงานแล้ว" in subject and "3 นาที" in body
