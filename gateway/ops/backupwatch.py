"""Backups that stop are noticed: each `db backup` that finishes is written in the audit log,
`/metrics` shows when the last one did, and with `[backup] max_age_hours` the running gateway
raises the alarm once when the newest is older than that.

A nightly backup that fails (the backup disk unmounted, full, its password changed) says so
only in the journal of a oneshot unit nobody reads; the register's last copy then ages quietly
until the day it is needed. The backup command records its snapshot as an audit entry
(`backup.snapshot`, subject `backup` / the snapshot's name: an auditor sees every backup
taken); the gateway reads the newest from the action's index. Watched, the age counts from the
newest backup, or, when there has never been one, from the audit log's first entry (or this
process's start, if earlier): a new install with the watch on is told within `max_age_hours`
that nothing backs it up, and one that has worked for months without a backup at once. One alarm per
episode for the whole deployment (a lease, as for a mailbox), through every channel: the
command or webhook of `[alarm]` and a mail to the central mailbox.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gateway.ops.alarm_mail import sound
from gateway.store import audit, leases
from gateway.store.tables import AuditEntry, Letter, LetterFile, RawMessage, RegisterEntry
from gateway.thai import BANGKOK, format_short_date, format_time

if TYPE_CHECKING:
    import asyncio

    import jinja2

    from gateway.ops.alarm import AlarmOut
    from gateway.store.handle import Store

__all__ = ["ACTION", "BackupWatch", "last_backup", "lost_letters", "newest_backup", "record_backup"]

log = logging.getLogger("saraban-gateway.backup")

ACTION = "backup.snapshot"
LEASE = "alarm-backup"  # not "alarm:<name>": a mailbox may be called "backup"
HELD = dt.timedelta(days=30)  # the claim lasts the episode; a process that dies lets it lapse


async def record_backup(store: Store, name: str, details: Mapping[str, Any]) -> None:
    """Write the finished snapshot `name` in the audit log (its own transaction)."""
    async with store.sessions.begin() as s:
        await audit.append(s, now=store.clock(), actor="gateway", action=ACTION, subject_type="backup",
                           subject_id=name, details=details)


async def lost_letters(store: Store, digests: Sequence[str]) -> list[str]:
    """The letters whose kept message or files are among `digests` (files a backup found
    missing from the data folder): their ids, with the register number when they have one
    ("12 (5/2569)"), for `letter trace`."""
    wanted = list(digests)[:LOST_LOOKED_UP]
    async with store.readers() as s:
        ids = set((await s.execute(select(LetterFile.letter_id).where(LetterFile.sha256.in_(wanted)))).scalars())
        ids |= set((await s.execute(select(Letter.id).join(RawMessage, Letter.raw_message_id == RawMessage.id)
                                    .where(RawMessage.sha256.in_(wanted)))).scalars())
        numbers = {lid: f"{n}/{y}" for lid, n, y in await s.execute(
            select(RegisterEntry.letter_id, RegisterEntry.number, RegisterEntry.year)
            .where(RegisterEntry.letter_id.in_(ids)).order_by(RegisterEntry.id))}
    return [f"{i} ({numbers[i]})" if i in numbers else str(i) for i in sorted(ids)]


LOST_LOOKED_UP = 500  # files looked up by name (one IN list); the manifest lists all of them


async def newest_backup(s: AsyncSession | AsyncConnection) -> dt.datetime | None:
    """When the newest recorded backup finished (None: none ever), in the caller's session."""
    at = (await s.execute(select(func.max(AuditEntry.at)).where(AuditEntry.action == ACTION))).scalar()
    if at is not None and at.tzinfo is None:  # an aggregate comes back as stored (UTC)
        at = at.replace(tzinfo=dt.UTC)
    return at


async def last_backup(store: Store) -> dt.datetime | None:
    async with store.readers() as s:
        return await newest_backup(s)


async def _first_entry(store: Store) -> dt.datetime | None:
    """When the install began keeping its audit log (its first entry, by the key): an install
    never backed up is that old, not as old as this process."""
    async with store.readers() as s:
        at = (await s.execute(select(AuditEntry.at).order_by(AuditEntry.seq).limit(1))).scalar()
    return at


@dataclass
class BackupWatch:
    """The alarm when the newest backup is older than `[backup] max_age_hours` (0: off)."""

    store: Store
    templates: jinja2.Environment
    started: dt.datetime
    out: AlarmOut | None = None
    wake_sender: asyncio.Event | None = None
    raised: dt.datetime | None = None  # this episode's alarm, in this process
    holder: str = field(default="")

    def __post_init__(self) -> None:
        self.holder = self.holder or leases.local_holder(self)

    async def check(self) -> bool:
        """Look once (housekeeping, every minute); True when this call raised the alarm."""
        hours = self.store.settings.backup.max_age_hours
        if not hours:
            return False
        now = self.store.clock()
        last = await last_backup(self.store)
        since = last or min(await _first_entry(self.store) or self.started, self.started)
        if now - since <= dt.timedelta(hours=hours):
            if self.raised is not None:  # a backup came: the episode is over
                self.raised = None
                await leases.let_go(self.store.sessions, name=LEASE, holder=self.holder)
            return False
        if self.raised is not None:
            return False
        if not await leases.claim(self.store.sessions, name=LEASE, holder=self.holder, now=now, ttl=HELD):
            self.raised = now
            log.info("backup overdue: another gateway process has raised the alarm")
            return False
        await self._raise(now, last, since)  # a failure here: tried again at the next look
        self.raised = now
        return True

    async def _raise(self, now: dt.datetime, last: dt.datetime | None, since: dt.datetime) -> None:
        s = self.store.settings
        hours = int((now - since).total_seconds() // 3600)
        local = since.astimezone(BANGKOK)
        context = {"hours": hours, "never": last is None, "limit": s.backup.max_age_hours,
                   "since": f"{format_short_date(local.date())} {format_time(local)}"}
        log.error("ALARM: no backup for %d hours (last: %s)", hours, last.isoformat() if last else "never")
        await sound(self.store, self.templates, self.out, template="backup-alarm", context=context,
                    about={"backup": "overdue", "hours": hours,
                           "last": last.isoformat() if last else None},
                    key=f"backup-alarm:{since.isoformat()}", now=now, wake=self.wake_sender)
