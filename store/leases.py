"""One worker per mailbox at a time (durability rule 6): a lease row with an expiry.

A gateway process holds the lease while it works the mailbox and renews it on
every round; another process takes it over only after it has expired, so two
processes never fetch and register the same mailbox at once.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, or_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from store.tables import MailboxLease


async def acquire(session: AsyncSession, *, name: str, holder: str, now: dt.datetime,
                  ttl: dt.timedelta) -> bool:
    """Take or renew the lease; False while someone else holds an unexpired one."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
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
