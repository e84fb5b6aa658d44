"""What the command line tells the administrator when the machine stops a command: a table of
failures (gateway/cli/failures.py explain) and the Thai line each gives; bugs keep their
traceback (explain gives None)."""

from __future__ import annotations

import errno
import sqlite3

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from gateway.cli.failures import explain


class _ConnectionFailed(Exception):
    """What a PostgreSQL driver raises when nothing listens (its module is not sqlite3)."""


CASES = [
    # (failure, Thai words the administrator must read, English words, a path named or None)
    (OSError(errno.ENOSPC, "No space left on device"), "พื้นที่ดิสก์เต็ม", "ENOSPC", None),
    (PermissionError(errno.EACCES, "Permission denied", "/srv/รายงาน.csv"),
     "ไม่มีสิทธิ์เข้าถึง", "EACCES", "/srv/รายงาน.csv"),
    (FileNotFoundError(errno.ENOENT, "No such file or directory", "/nonexistent/x.csv"),
     "ไม่พบไฟล์หรือโฟลเดอร์", "ENOENT", "/nonexistent/x.csv"),
    (OSError(errno.EROFS, "Read-only file system", "/data"), "อ่านได้อย่างเดียว", "EROFS", "/data"),
    (OSError(errno.EADDRINUSE, "Address already in use"), "พอร์ตนี้มีโปรแกรมอื่นใช้อยู่", "EADDRINUSE", None),
    (OperationalError("SELECT 1", {}, _ConnectionFailed('connection to server at "127.0.0.1", port 5999 '
                                                         "failed: Connection refused\nIs the server running?")),
     "ติดต่อฐานข้อมูลไม่ได้", "Connection refused", None),
    (OperationalError("INSERT", {}, sqlite3.OperationalError("database or disk is full")),
     "ฐานข้อมูลบันทึกไม่ได้", "database or disk is full", None),
]


@pytest.mark.parametrize(("failure", "thai", "english", "path"), CASES,
                         ids=[type(c[0]).__name__ + "-" + c[2].split()[0] for c in CASES])
def test_a_failure_of_the_machine_gets_one_thai_line(failure: BaseException, thai: str, english: str,
                                                     path: str | None) -> None:
    told = explain(failure)
    assert told is not None
    assert thai in told.message_th
    assert english in told.message_en
    assert "\n" not in told.message_en  # the driver's hint lines stay out of the one line
    if path is not None:
        assert path in told.message_th and path in told.message_en


@pytest.mark.parametrize("bug", [
    ValueError("a bug"),
    KeyError("x"),
    OSError(errno.EBADF, "Bad file descriptor"),
    IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE constraint failed: letters.id")),
], ids=["ValueError", "KeyError", "EBADF", "IntegrityError"])
def test_a_bug_keeps_its_traceback(bug: BaseException) -> None:
    assert explain(bug) is None
