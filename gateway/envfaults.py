"""Failures of the environment, told apart from failures of a letter.

A letter that cannot be read (a broken PDF, a message over its budget) fails because of what it
is: tried `[intake] max_attempts` times, it goes to the clerk. A letter whose reading or
recording fails because the data volume is full, over quota, read-only or failing, or because
the database says it is (SQLite "database or disk is full", "disk I/O error"; PostgreSQL
disk_full, io_error, a read-only transaction), fails because of where the gateway runs: it is
tried again, with backoff, once the store can write, and none of its attempts is used up.

`environmental(exc)` looks through the exception, its causes and contexts, and the database
driver's own error behind SQLAlchemy's (`.orig`), because the fault arrives wrapped: an OSError
from a worker process, a sqlite3 error under an OperationalError under a Transient.
"""

from __future__ import annotations

import errno

from gateway.errors import Transient

__all__ = ["EnvironmentFault", "environmental", "is_environmental"]

# ENOSPC: no space; EDQUOT: over quota; EIO: the device failed; EROFS: remounted read-only
ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS})
# sqlite3's error names (Python 3.11+): FULL, every IOERR_* (SHMSIZE when even the shared-memory
# file cannot grow, so no connection opens), READONLY_* (the file or its volume turned read-only)
SQLITE_NAMES = ("SQLITE_FULL", "SQLITE_IOERR", "SQLITE_READONLY")
SQLITE_TEXTS = ("database or disk is full", "disk i/o error", "attempt to write a readonly database")
# PostgreSQL SQLSTATE: class 53 insufficient resources (53100 disk_full, 53200 out_of_memory …),
# 58030 io_error, 25006 read_only_sql_transaction (a standby, or default_transaction_read_only)
PG_CLASSES = ("53",)
PG_STATES = frozenset({"58030", "25006"})


class EnvironmentFault(Transient):
    """A step failed because of the environment (disk full …), not because of the letter: try it
    again once the store can write; count nothing against the letter."""


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception, what caused it and what it happened in, and the drivers' errors they wrap."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo and len(seen) < 32:
        e = todo.pop(0)
        if e is None or any(e is s for s in seen):
            continue
        seen.append(e)
        orig = getattr(e, "orig", None)
        todo += [orig if isinstance(orig, BaseException) else None, e.__cause__, e.__context__]
    return seen


def _one(e: BaseException) -> bool:
    if isinstance(e, EnvironmentFault):
        return True
    if isinstance(e, OSError) and e.errno in ERRNOS:
        return True
    name = getattr(e, "sqlite_errorname", None)
    if isinstance(name, str) and name.startswith(SQLITE_NAMES):
        return True
    state = getattr(e, "sqlstate", None) or getattr(e, "pgcode", None)
    if isinstance(state, str) and (state in PG_STATES or state[:2] in PG_CLASSES):
        return True
    # SQLite's own fixed messages, for a driver that passes no error name; never the text of
    # other errors, which a hostile letter could fill with these words
    if type(e).__module__ == "sqlite3":
        return any(t in str(e).lower() for t in SQLITE_TEXTS)
    return False


def environmental(exc: BaseException) -> BaseException | None:
    """The fault of the environment behind `exc` (None: it is not one)."""
    for e in _chain(exc):
        if not isinstance(e, EnvironmentFault) and _one(e):
            return e
    for e in _chain(exc):
        if isinstance(e, EnvironmentFault):
            return e
    return None


def is_environmental(exc: BaseException) -> bool:
    return environmental(exc) is not None


def describe(exc: BaseException) -> str:
    """A short line for logs and the alarm: the environment's fault, not the wrapping."""
    fault = environmental(exc) or exc
    return f"{type(fault).__name__}: {fault}"[:300]
