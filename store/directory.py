"""The directory of agencies in the store: upsert by central e-mail, look up by address."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.directory import AgencyRecord
from gateway.store import audit
from gateway.store.tables import Agency


async def import_agencies(
    session: AsyncSession, records: Sequence[AgencyRecord], *, now: dt.datetime, actor: str
) -> tuple[int, int]:
    """Insert new agencies and update known ones; returns (added, updated)."""
    existing = {
        a.central_email: a
        for a in (
            await session.execute(
                select(Agency).where(Agency.central_email.in_([r.central_email for r in records]))
            )
        ).scalars()
    }
    added = updated = 0
    for r in records:
        row = existing.get(r.central_email)
        if row is None:
            session.add(
                Agency(
                    thai_name=r.thai_name,
                    thai_code=r.thai_code,
                    latin_code=r.latin_code,
                    central_email=r.central_email,
                    ministry=r.ministry,
                    updated_at=now,
                )
            )
            added += 1
        elif (row.thai_name, row.thai_code, row.latin_code, row.ministry) != (
            r.thai_name, r.thai_code, r.latin_code, r.ministry
        ):
            row.thai_name, row.thai_code = r.thai_name, r.thai_code
            row.latin_code, row.ministry = r.latin_code, r.ministry
            row.updated_at = now
            updated += 1
    await session.flush()
    await audit.append(
        session,
        now=now,
        actor=actor,
        action="directory.import",
        subject_type="directory",
        details={"added": added, "updated": updated, "rows": len(records)},
    )
    return added, updated


async def find_by_email(session: AsyncSession, address: str) -> Agency | None:
    return (
        await session.execute(select(Agency).where(Agency.central_email == address.lower()))
    ).scalar_one_or_none()


async def list_agencies(session: AsyncSession) -> list[Agency]:
    return list((await session.execute(select(Agency).order_by(Agency.thai_name))).scalars())


async def any_agencies(session: AsyncSession) -> bool:
    """Whether the directory has any agency (without counting them all)."""
    return (await session.execute(select(Agency.id).limit(1))).first() is not None
