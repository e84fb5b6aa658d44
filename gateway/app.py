"""Composition root: builds the store and the adapters from Settings, and owns their lifecycle.

Nothing else in the gateway constructs engines, blob stores or servers; they are
made here and passed down (architecture.md, house style 7).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from gateway.clock import Clock, system_clock
from gateway.config import Settings, secret
from gateway.errors import UserError
from gateway.thai import register_thai_charsets
from store import migrate
from store.blobs import BlobStore
from store.db import make_engine, make_readers, make_sessionmaker
from store.handle import Store
from store.registers import BookDef, ensure_books, unit_book_code
from store.tables import Unit

__all__ = ["Store", "build_engine", "open_store", "sync_units", "unit_books"]


def unit_books(settings: Settings) -> list[BookDef]:
    return [
        BookDef(unit_book_code(u.code), f"ทะเบียนหนังสือรับ {u.name_th}", "receive")
        for u in settings.units
        if u.own_register
    ]


def build_engine(settings: Settings) -> AsyncEngine:
    env = settings.storage.database_password_env
    password = secret(env, what="รหัสผ่านฐานข้อมูล (database password)") if env else None
    return make_engine(settings.database_url, password=password)


async def open_store(settings: Settings, *, upgrade: bool = False, clock: Clock = system_clock) -> Store:
    """Connect, check (or bring) the schema up to date, and sync books and units from config."""
    register_thai_charsets()
    settings.data_path.mkdir(parents=True, exist_ok=True)
    engine = build_engine(settings)
    try:
        if upgrade:
            await migrate.upgrade(engine)
        else:
            current = await migrate.current_revision(engine)
            if current != migrate.head_revision():
                raise UserError(
                    "ฐานข้อมูลยังไม่เป็นรุ่นล่าสุด ให้สั่ง `saraban-gateway db upgrade` ก่อน",
                    f"the database schema is at {current or 'nothing'}, not "
                    f"{migrate.head_revision()}: run `saraban-gateway db upgrade` first",
                )
        sessions = make_sessionmaker(engine)
        async with sessions.begin() as s:
            await ensure_books(s, unit_books(settings))
            await sync_units(s, settings)
    except BaseException:
        await engine.dispose()
        raise
    return Store(settings, engine, sessions, make_readers(engine), BlobStore(settings.blob_path), clock)


async def sync_units(session: AsyncSession, settings: Settings) -> None:
    """Make the units table say what config.toml says; units dropped from config become inactive."""
    rows = {u.code: u for u in (await session.execute(select(Unit))).scalars()}
    for u in settings.units:
        row = rows.pop(u.code, None) or Unit(code=u.code)
        row.name_th = u.name_th
        row.emails = list(u.emails)
        row.aliases = list(u.aliases)
        row.own_register = u.own_register
        row.parent_code = u.parent
        row.active = True
        session.add(row)
    for gone in rows.values():
        gone.active = False
    await session.flush()
