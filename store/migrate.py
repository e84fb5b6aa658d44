"""`saraban-gateway db upgrade`: bring a database to the newest schema with Alembic.

Migrations live in store/migrations/versions; they run on the caller's async
engine through one connection, the same way on SQLite and PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.store import leases

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    def run(conn: Connection) -> None:
        command.upgrade(_config(conn), revision)

    async with engine.begin() as conn:
        # Gateway processes starting together on one PostgreSQL: one migrates, the others
        # then find the schema at head (SQLite: the write lock orders them).
        await leases.hold(conn, "schema")
        await conn.run_sync(run)


async def current_revision(engine: AsyncEngine) -> str | None:
    def read(conn: Connection) -> str | None:
        return MigrationContext.configure(conn).get_current_revision()

    async with engine.connect() as conn:
        return await conn.run_sync(read)
