"""One worker per mailbox at a time (durability rule 6): a lease row with an expiry.

A gateway process holds the lease while it works the mailbox and renews it on
every round; another process takes it over only after it has expired, so two
processes never fetch and register the same mailbox at once.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket

from sqlalchemy import delete, or_
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.store.db import insert_for
from gateway.store.tables import MailboxLease

log = logging.getLogger(__name__)


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
