"""One worker per mailbox at a time (durability rule 6): a lease row with an expiry.

A gateway process holds the lease while it works the mailbox and renews it on
every round; another process takes it over only after it has expired, so two
processes never fetch and register the same mailbox at once.

`hold` is the short form for work that is not a loop: a transaction-scoped lock on a name
(the same letter arriving at two processes at once), so the second transaction looks for
what the first wrote only after the first has committed.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket

from sqlalchemy import delete, or_, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gateway.store.db import WriteSessions, insert_for
from gateway.store.tables import MailboxLease

log = logging.getLogger(__name__)

# pg_advisory_xact_lock(int, int): the first half says whose lock it is, so these keys never
# meet an advisory lock taken by anything else on the same database ("sb" in ASCII).
ADVISORY_SPACE = 0x7362


async def hold(session: AsyncSession | AsyncConnection, *names: str) -> None:
    """Hold a lock on each name until the session's transaction ends (commit or rollback).

    PostgreSQL: one advisory lock per name (names hashed with `hashtext`; two names sharing
    a hash only wait for each other a moment), always taken in the same order, so two
    transactions that hold several never wait for each other in a circle. SQLite: nothing to
    do, every write transaction begins with BEGIN IMMEDIATE (store/db.py) and so already
    waits for the one before it to commit.
    """
    bind = session.get_bind() if isinstance(session, AsyncSession) else session
    if bind.dialect.name != "postgresql":
        return
    for name in sorted(set(names)):
        await session.execute(text("SELECT pg_advisory_xact_lock(:space, hashtext(:name))"),
                              {"space": ADVISORY_SPACE, "name": name})


async def acquire(session: AsyncSession, *, name: str, holder: str, now: dt.datetime,
                  ttl: dt.timedelta) -> bool:
    """Take or renew the lease; False while someone else holds an unexpired one."""
    insert = insert_for(session)
    stmt = (
        insert(MailboxLease)
        .values(name=name, holder=holder, expires_at=now + ttl)
        .on_conflict_do_update(
            index_elements=[MailboxLease.name],
            set_={"holder": holder, "expires_at": now + ttl},
            where=or_(MailboxLease.holder == holder, MailboxLease.expires_at < now),
        )
        .returning(MailboxLease.holder)
    )
    got = (await session.execute(stmt)).scalar_one_or_none()
    return got == holder


def local_holder(owner: object) -> str:
    """A holder name that says where it lives: host, pid and the owning object."""
    return f"{socket.gethostname()}:{os.getpid()}:{id(owner)}"


def dead_local_holder(holder: str) -> bool:
    """The holder is a process on this host that no longer exists."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


async def take(session: AsyncSession, *, name: str, holder: str, now: dt.datetime,
               ttl: dt.timedelta) -> tuple[bool, str | None]:
    """Take or renew the lease, breaking at once one left by a dead process on this host.
    Returns whether it is ours now, and who held it before (None: nobody, or expired)."""
    before = await holder_of(session, name=name, now=now)
    if before and before != holder and dead_local_holder(before):
        log.warning("lease %s of dead process %s broken", name, before)
        await break_lease(session, name=name, holder=before)
    return await acquire(session, name=name, holder=holder, now=now, ttl=ttl), before


async def holder_of(session: AsyncSession, *, name: str, now: dt.datetime) -> str | None:
    row = await session.get(MailboxLease, name)
    if row is None or row.expires_at < now:
        return None
    return row.holder


async def break_lease(session: AsyncSession, *, name: str, holder: str) -> None:
    """Remove a lease whose holder is known to be dead (its process is gone)."""
    await session.execute(
        delete(MailboxLease).where(MailboxLease.name == name, MailboxLease.holder == holder)
    )


async def release(session: AsyncSession, *, name: str, holder: str) -> None:
    await session.execute(
        delete(MailboxLease).where(MailboxLease.name == name, MailboxLease.holder == holder)
    )


async def claim(sessions: WriteSessions, *, name: str, holder: str, now: dt.datetime,
                ttl: dt.timedelta) -> bool:
    """`take` in a transaction of its own (run again while the database server is away):
    whether the lease is this holder's now."""
    async def one(s: AsyncSession) -> bool:
        got, _ = await take(s, name=name, holder=holder, now=now, ttl=ttl)
        return got

    return await sessions.transact(one)


async def let_go(sessions: WriteSessions, *, name: str, holder: str) -> None:
    """`release` in a transaction of its own."""
    async with sessions.begin() as s:
        await release(s, name=name, holder=holder)
