"""The opened store as the gateway passes it around: engine, sessions, blobs, settings, clock.

Built only by the composition root (`gateway.app.open_store`); every other module takes it as a
parameter and imports its type from here, so none of them imports the composition root.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.config import Settings
from gateway.ports import Clock
from gateway.store.blobs import BlobStore
from gateway.store.db import WriteSessions
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
