"""The opened store as the gateway passes it around: engine, sessions, blobs, settings, clock.

Built by the composition root (`gateway.app.open_store`); every other module takes it as a
parameter and imports its type from here, so none of them imports the composition root. A
second connection to the same database, for work on another thread's event loop, is
`side_store` here: the store's own concern, so the room that needs one (a report built by
mail, gateway/inbound/report_mail.py) does not reach up to the composition root for it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.config import Settings, secret
from gateway.ports import Clock
from gateway.store.blobs import BlobStore
from gateway.store.db import WriteSessions, make_engine, make_readers, make_sessionmaker
from gateway.trust.secret import InstallSecret


@dataclass
class Store:
    settings: Settings
    engine: AsyncEngine
    sessions: WriteSessions  # may write: the caller owns the transaction
    readers: async_sessionmaker[AsyncSession]  # only reads (no write lock on SQLite)
    blobs: BlobStore
    clock: Clock
    secret: InstallSecret  # signs the gateway's own mail and reply tokens (gateway/trust/secret.py)
    # What happened in this process, counted where it happens ("read_failed", "send_failed"):
    # exported by /metrics as counters (gateway/ops/metrics.py).
    events: Counter[str] = field(default_factory=Counter)

    async def close(self) -> None:
        await self.engine.dispose()


def build_engine(settings: Settings) -> AsyncEngine:
    """The engine for the configured database; its password read from the environment now."""
    env = settings.storage.database_password_env
    password = secret(env, what="รหัสผ่านฐานข้อมูล", what_en="database password") if env else None
    return make_engine(settings.database_url, password=password)


def side_store(store: Store) -> Store:
    """Another connection to `store`'s database for work on another thread's event loop (a
    report built away from the gateway's own loop); made and closed on that loop."""
    engine = build_engine(store.settings)
    return Store(store.settings, engine, make_sessionmaker(engine), make_readers(engine),
                 store.blobs, store.clock, store.secret)
