"""Composition root: builds the store and every adapter from Settings, and owns their lifecycle.

Nothing else in the gateway constructs engines, blob stores, outbox transports, IMAP clients or
servers; they are made here and passed down (architecture.md, house style 7), typed as the
ports of gateway/ports.py. `assembled` builds the parts that `saraban-gateway run` and
`ingest --once` both use (gateway/service.py only sequences and runs them); `opened_store` is
the one way to hold a store open for a while.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import jinja2
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.clock import Clock, system_clock
from gateway.config import Imap, Settings, secret
from gateway.core.compose import template_env
from gateway.errors import UserError
from gateway.intake.imap import MailboxHealth, Watcher
from gateway.intake.imap_client import ImapClient, client_ssl_context
from gateway.intake.smtp import Accept, CentralMailboxHandler, start_listener
from gateway.intake.submission import Submit, start_submission
from gateway.outbound.flow import Outbound
from gateway.outbound.sender import FolderTransport, OutboxSender, RelayTransport
from gateway.passwords import load_users
from gateway.ports import MailboxClient, MailboxClientFactory, OutboxTransport
from gateway.store import leases, migrate
from gateway.store.blobs import BlobStore
from gateway.store.db import make_readers, make_sessionmaker
from gateway.store.handle import Store, build_engine
from gateway.store.registers import BookDef, ensure_books, unit_book_code
from gateway.store.tables import Unit
from gateway.thai import register_thai_charsets
from gateway.trust.auth import Voucher
from gateway.trust.dns import Resolver
from gateway.trust.secret import load_secret

if TYPE_CHECKING:
    from gateway.inbound.pipeline import Pipeline

__all__ = ["App", "Ports", "Store", "assembled", "build_app", "build_engine", "imap_client_factory",
           "make_transport", "make_voucher", "open_store", "opened_store", "prepare_store", "schema_revision",
           "sync_units",
           "unit_books", "upgrade_schema"]


# -- the store -----------------------------------------------------------------------------------


def unit_books(settings: Settings) -> list[BookDef]:
    return [
        BookDef(unit_book_code(u.code), f"ทะเบียนหนังสือรับ {u.name_th}", "receive")
        for u in settings.units
        if u.own_register
    ]


async def open_store(settings: Settings, *, upgrade: bool = False, clock: Clock = system_clock,
                     prepare: bool = True) -> Store:
    """Connect, check (or bring) the schema up to date, and sync books and units from config.
    Without `prepare` nothing is read or written yet: the service does it with `prepare_store`,
    waiting out a full disk with its listener open (gateway/ops/outage.py)."""
    register_thai_charsets()
    settings.data_path.mkdir(parents=True, exist_ok=True)
    install_secret = load_secret(settings.data_path)
    engine = build_engine(settings)
    store = Store(settings, engine, make_sessionmaker(engine), make_readers(engine),
                  BlobStore(settings.blob_path), clock, install_secret)
    if prepare:
        try:
            await prepare_store(store, upgrade=upgrade)
        except BaseException:
            await engine.dispose()
            raise
    return store


async def prepare_store(store: Store, *, upgrade: bool = False) -> None:
    """The schema checked (or migrated with `upgrade`), books and units synced from config;
    idempotent, so the service repeats it until the store can write."""
    settings, engine = store.settings, store.engine
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
    async with store.sessions.begin() as s:
        await leases.hold(s, "schema")  # processes starting together: one at a time
        await ensure_books(s, unit_books(settings))
        await sync_units(s, settings)


@contextlib.asynccontextmanager
async def opened_store(settings: Settings, *, upgrade: bool = False, clock: Clock = system_clock,
                       store: Store | None = None, prepare: bool = True) -> AsyncIterator[Store]:
    """A store for the length of the block, closed after it; a `store` given is lent, not
    closed (a test, or a command, that keeps its store across several calls)."""
    if store is not None:
        yield store
        return
    opened = await open_store(settings, upgrade=upgrade, clock=clock, prepare=prepare)
    try:
        yield opened
    finally:
        await opened.close()


async def schema_revision(settings: Settings) -> str | None:
    """The database's schema revision (None: no schema yet), over a connection of its own."""
    engine = build_engine(settings)
    try:
        return await migrate.current_revision(engine)
    finally:
        await engine.dispose()


async def upgrade_schema(settings: Settings) -> tuple[str | None, str | None]:
    """Apply the migrations, then sync books and units from config; the revisions before and after."""
    settings.data_path.mkdir(parents=True, exist_ok=True)
    before = await schema_revision(settings)
    async with opened_store(settings, upgrade=True) as store:
        return before, await migrate.current_revision(store.engine)


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


# -- the adapters --------------------------------------------------------------------------------


def make_transport(settings: Settings) -> OutboxTransport:
    """The outbox's way out: the agency's relay, or the embedded default, a folder of .eml files."""
    if settings.relay.mode == "smtp":
        return RelayTransport(settings.relay, settings.base_dir)
    return FolderTransport(settings.outbox_path)


def imap_client_factory(cfg: Imap, sent: str = "") -> MailboxClientFactory:
    """Fresh connections to one mailbox; the password is read at each (re)connection. `sent`:
    the clerks' client's Sent folder ([intake.folders] sent), found by its \\Sent mark too."""

    def client() -> MailboxClient:
        password = secret(cfg.password_env, what=f"รหัสผ่าน IMAP {cfg.name}", what_en=f"IMAP password of {cfg.name}") \
            if cfg.auth == "password" else ""  # oauth2: the token is fetched at connect()
        return ImapClient(cfg, password, client_ssl_context(cfg), sent=sent)

    return client


def make_voucher(settings: Settings) -> Voucher:
    """Sender authentication for the intake: the one DNS resolver ([authentication]), and the
    gateway's own authserv-id, its listener's hostname."""
    auth = settings.authentication
    return Voucher(auth, Resolver.from_settings(auth), settings.smtp_listener.hostname)


@dataclass(frozen=True)
class Ports:
    """The TCP ports the servers listen on (0: not started)."""

    smtp: int = 0
    submission: int = 0


@dataclass
class App:
    """The parts of one gateway process over one store, each built once."""

    settings: Settings
    store: Store
    templates: jinja2.Environment
    pipeline: Pipeline
    outbound: Outbound
    sender: OutboxSender
    wake_sender: asyncio.Event  # set when a transaction queues mail
    voucher: Voucher  # sender authentication of every incoming message, one resolver
    health: MailboxHealth = field(default_factory=MailboxHealth)

    def watcher(self, cfg: Imap) -> Watcher:
        return Watcher(cfg, self.pipeline, self.health, client_factory=imap_client_factory(
            cfg, self.settings.intake.folders.sent),
                       vouch=self.voucher)

    def watchers(self) -> list[Watcher]:
        """One watcher per enabled [[imap]] mailbox."""
        return [self.watcher(m) for m in self.settings.imap if m.enabled]

    @contextlib.asynccontextmanager
    async def listening(self, *, accept: Accept, submit: Submit) -> AsyncIterator[Ports]:
        """The SMTP listener and the submission server, as configured, until the block ends.
        `accept` keeps an agency's mail, `submit` a clerk's; each answers 250 after its commit."""
        s = self.settings
        servers: list[asyncio.Server] = []
        try:
            smtp = 0
            if s.smtp_listener.enabled:
                lst = s.smtp_listener
                server = await start_listener(
                    CentralMailboxHandler(s.agency.central_addresses, accept, self.voucher),
                    host=lst.host, port=lst.port, hostname=lst.hostname,
                    data_size_limit=lst.max_message_bytes,
                )
                servers.append(server)
                smtp = server.sockets[0].getsockname()[1]
            submission = 0
            if s.submission.enabled and load_users(s):
                sub = await start_submission(s, submit, clock=self.store.clock, store=self.store)
                if sub is not None:
                    servers.append(sub)
                    submission = sub.sockets[0].getsockname()[1]
            yield Ports(smtp, submission)
        finally:
            for srv in servers:
                srv.close()
                await srv.wait_closed()


def build_app(settings: Settings, store: Store) -> App:
    """Every part over an open store: the inbound pipeline, the outbound flow, the sender."""
    # Imported here, not at the top: gateway.inbound.pipeline imports this module (for Store,
    # now in store/handle.py); once it imports store.handle this can move up.
    from gateway.inbound.pipeline import Pipeline

    wake_sender = asyncio.Event()
    templates = template_env()
    pipeline = Pipeline.build(store, templates)
    pipeline.wake_sender = wake_sender
    outbound = Outbound.build(store, pipeline.templates)
    outbound.wake_sender = wake_sender
    sender = OutboxSender(store, make_transport(settings), composer=outbound.compose_for,
                          on_parked=outbound.on_parked, on_in_doubt=outbound.on_in_doubt)
    return App(settings, store, templates, pipeline, outbound, sender, wake_sender,
               make_voucher(settings))


@contextlib.asynccontextmanager
async def assembled(settings: Settings, *, store: Store | None = None, upgrade: bool = False,
                    clock: Clock = system_clock, prepare: bool = True) -> AsyncIterator[App]:
    """The gateway's parts for the length of the block; the store is opened (and migrated with
    `upgrade`) and closed here unless one is given. Without `prepare` the caller runs
    `prepare_store` before the first use of the store."""
    async with opened_store(settings, upgrade=upgrade, clock=clock, store=store, prepare=prepare) as opened:
        yield build_app(settings, opened)
