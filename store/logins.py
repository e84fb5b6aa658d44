"""Failed logins at the submission server, per (login name, client address): the lockout's memory.

Kept in the store so that a restart does not forget a lockout, and counted per pair so that one
office behind a shared address (NAT) is not locked out because one clerk mistyped: another
name from that address, or the same name from elsewhere, counts on its own. Times come from the
caller (the injected clock); rows older than the window are pruned as new failures come in.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.store.tables import LoginFailure

__all__ = ["clear", "failures_since", "prune", "record_failure"]

_NAME_CHARS = 200  # the column's width; longer names (only an attacker's) are cut
_IP_CHARS = 64


def _key(username: str, client_ip: str) -> tuple[str, str]:
    return username.strip().lower()[:_NAME_CHARS], client_ip[:_IP_CHARS]


async def record_failure(session: AsyncSession, *, username: str, client_ip: str,
                         now: dt.datetime) -> None:
    """One more failed login of `username` from `client_ip`, at `now`."""
    name, ip = _key(username, client_ip)
    session.add(LoginFailure(username=name, client_ip=ip, failed_at=now))


async def failures_since(session: AsyncSession, *, username: str, client_ip: str,
                         since: dt.datetime) -> list[dt.datetime]:
    """When `username` failed from `client_ip` after `since`, oldest first."""
    name, ip = _key(username, client_ip)
    rows = await session.execute(
        select(LoginFailure.failed_at)
        .where(LoginFailure.username == name, LoginFailure.client_ip == ip,
               LoginFailure.failed_at > since)
        .order_by(LoginFailure.failed_at)
    )
    return list(rows.scalars())


async def clear(session: AsyncSession, *, username: str, client_ip: str) -> None:
    """A successful login forgets the pair's earlier failures."""
    name, ip = _key(username, client_ip)
    await session.execute(
        delete(LoginFailure).where(LoginFailure.username == name, LoginFailure.client_ip == ip)
    )


async def prune(session: AsyncSession, *, before: dt.datetime) -> int:
    """Forget failures older than `before` (outside every window); how many rows went."""
    result = await session.execute(delete(LoginFailure).where(LoginFailure.failed_at < before))
    return int(getattr(result, "rowcount", 0) or 0)
