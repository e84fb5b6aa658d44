"""IMAP watcher: takes in the central mailbox's backlog, then waits with IDLE (or polls).

Identity of a message is (mailbox, UIDVALIDITY, UID). A message is moved out of
INBOX into its folder (ลงรับแล้ว, รอตรวจสอบ, ไม่รับ, อื่น ๆ) only after its letter
is committed (durability rule 1), so a crash leaves it in INBOX and the next
round finds its existing letter instead of numbering it again. One worker per
mailbox at a time, by a lease in the store. The clerk works by moving messages:
a message the clerk moves from review into ลงรับแล้ว is registered, into ไม่รับ
is rejected — the watcher notices on its next round, exactly once.

aioimaplib traps (infrastructure.md): implicit TLS only; arguments are sent
verbatim (mailbox names are encoded and quoted here); fetch one message per
command (big responses recurse); every call has a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
import os
import re
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from aioimaplib import aioimaplib
from sqlalchemy import and_, or_, select

from gateway.config import Imap, secret
from gateway.intake.mutf7 import decode_mutf7, encode_mailbox
from gateway.state import LetterState
from store import leases
from store.db import insert_for
from store.letters import put_blobs
from store.tables import About, ImapMessage, Letter, RawMessage

log = logging.getLogger(__name__)

TIMEOUT = 30.0
IDLE_MAX_SECONDS = 25 * 60  # re-IDLE well before the 29 minutes of RFC 2177
IDLE_SECONDS = 60  # one IDLE round; the lease is renewed between rounds
LEASE_TTL = dt.timedelta(minutes=3)
TAKE_IN_PARALLEL = 6  # letters in flight: enough to keep the readers and the database busy


class InOrder:
    """Lets step i run only after steps 0 … i-1 have run (or were skipped)."""

    def __init__(self) -> None:
        self._next = 0
        self._finished: set[int] = set()
        self._changed = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def turn(self, i: int) -> AsyncIterator[None]:
        async with self._changed:
            await self._changed.wait_for(lambda: self._next >= i)
        try:
            yield
        finally:
            self.done(i)

    def done(self, i: int) -> None:
        if i in self._finished:
            return
        self._finished.add(i)
        while self._next in self._finished:
            self._next += 1
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()


class ImapFailure(Exception):
    """The server said NO/BAD or the connection broke; the watcher reconnects."""


_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")
_COPYUID = re.compile(rb"COPYUID (\d+) [\d:,]+ (\d+)")
_APPENDUID = re.compile(rb"APPENDUID (\d+) (\d+)")
_LIST = re.compile(rb'^\(.*?\) (?:"(\\?.)"|NIL) (.+)$')


def _lines(resp: Any) -> list[bytes]:
    return [bytes(x) for x in resp.lines]


class _Protocol(aioimaplib.IMAP4ClientProtocol):  # type: ignore[misc]
    """aioimaplib 2.0's protocol, without formatting every received chunk for a debug log
    that is off: its `data_received` runs `'Received : %s' % data` unconditionally, about
    4 ms of the event loop's time per 1.7 MB letter fetched. The rest is the library's own."""

    def data_received(self, d: bytes) -> None:
        if _aio_log.isEnabledFor(logging.DEBUG):
            _aio_log.debug("Received : %r", d)
        try:
            self._handle_responses(self.incomplete_line + d, self._handle_line,  # type: ignore[has-type]
                                   self.current_command)  # type: ignore[has-type]
            self.incomplete_line = b""
            self.current_command = None
        except aioimaplib.IncompleteRead as incomplete_read:
            self.current_command = incomplete_read.cmd
            self.incomplete_line = incomplete_read.data


class _Imap4Ssl(aioimaplib.IMAP4_SSL):  # type: ignore[misc]
    def create_client(self, host: str, port: int, loop: asyncio.AbstractEventLoop | None,
                      conn_lost_cb: Any = None, ssl_context: ssl.SSLContext | None = None) -> None:
        local_loop = loop if loop is not None else asyncio.get_running_loop()
        self.protocol = _Protocol(local_loop, conn_lost_cb)
        self._client_task = local_loop.create_task(local_loop.create_connection(
            lambda: self.protocol, host, port, ssl=ssl_context))


_aio_log = logging.getLogger(aioimaplib.__name__)


class ImapClient:
    """A thin, timed wrapper over aioimaplib for the few commands the gateway needs."""

    def __init__(self, cfg: Imap, password: str, ssl_context: ssl.SSLContext,
                 timeout: float = TIMEOUT) -> None:
        self.cfg = cfg
        self.password = password
        self.ssl_context = ssl_context
        self.timeout = timeout
        self.client: Any = None
        self.selected: str | None = None
        self.delimiter = "/"  # the server's hierarchy delimiter, learnt from LIST

    async def _call(self, coro: Any, what: str) -> Any:
        try:
            resp = await asyncio.wait_for(coro, self.timeout)
        except (TimeoutError, aioimaplib.Abort, aioimaplib.CommandTimeout) as exc:
            raise ImapFailure(f"{what}: {exc!r}") from exc
        if resp.result != "OK":
            raise ImapFailure(f"{what}: {resp.result} {_lines(resp)[-1:]!r}")
        return resp

    async def connect(self) -> None:
        self.client = _Imap4Ssl(host=self.cfg.host, port=self.cfg.port,
                                ssl_context=self.ssl_context, timeout=self.timeout)
        try:
            await asyncio.wait_for(self.client.wait_hello_from_server(), self.timeout)
        except (TimeoutError, OSError) as exc:
            raise ImapFailure(f"connect {self.cfg.host}:{self.cfg.port}: {exc!r}") from exc
        await self._call(self.client.login(self.cfg.user, self.password), "LOGIN")

    def has(self, capability: str) -> bool:
        return bool(self.client and self.client.has_capability(capability))

    async def close(self) -> None:
        if self.client is None:
            return
        try:
            await asyncio.wait_for(self.client.logout(), 5)
        except Exception as exc:  # noqa: BLE001 - closing a connection that may already be dead
            log.debug("IMAP logout failed: %r", exc)
        self.client = None

    async def folders(self) -> set[str]:
        resp = await self._call(self.client.list('""', "*"), "LIST")
        out: set[str] = set()
        for line in _lines(resp):
            m = _LIST.match(line)
            if m:
                if m.group(1):
                    self.delimiter = m.group(1).decode("ascii", "replace").lstrip("\\")
                out.add(decode_mutf7(m.group(2).decode("ascii", "replace").strip('"')))
        return out

    async def ensure_folders(self, names: tuple[str, ...]) -> None:
        have = await self.folders()
        for name in names:
            if name not in have:
                resp = await asyncio.wait_for(self.client.create(encode_mailbox(name)), self.timeout)
                if resp.result != "OK" and b"exists" not in b" ".join(_lines(resp)).lower():
                    raise ImapFailure(f"CREATE {name}: {_lines(resp)!r}")

    async def select(self, folder: str) -> int:
        resp = await self._call(self.client.select(encode_mailbox(folder)), f"SELECT {folder}")
        self.selected = folder
        for line in _lines(resp):
            m = _UIDVALIDITY.search(line)
            if m:
                return int(m.group(1))
        raise ImapFailure(f"SELECT {folder}: no UIDVALIDITY")

    async def uids(self, criteria: str = "ALL") -> list[int]:
        resp = await self._call(self.client.uid_search(criteria), "UID SEARCH")
        first = _lines(resp)[0] if resp.lines else b""
        return sorted(int(x) for x in first.split() if x.isdigit())

    async def fetch(self, uid: int) -> bytes | None:
        resp = await self._call(self.client.uid("fetch", str(uid), "(BODY.PEEK[])"), "UID FETCH")
        for line in resp.lines:
            if isinstance(line, bytearray):
                return bytes(line)
        return None  # expunged meanwhile

    async def move(self, uid: int, folder: str) -> tuple[int, int] | None:
        """Move a message; returns (destination UIDVALIDITY, new UID) when the server says."""
        if self.has("MOVE"):
            resp = await self._call(self.client.uid("move", str(uid), encode_mailbox(folder)),
                                    "UID MOVE")
        else:
            resp = await self._call(self.client.uid("copy", str(uid), encode_mailbox(folder)),
                                    "UID COPY")
            await self._call(self.client.uid("store", str(uid), r"+FLAGS.SILENT (\Deleted)"),
                             "UID STORE")
            await self._call(self.client.uid("expunge", str(uid)), "UID EXPUNGE")
        for line in _lines(resp):
            m = _COPYUID.search(line)
            if m:
                return int(m.group(1)), int(m.group(2))
        return None

    async def search_header(self, folder: str, header: str, value: str) -> tuple[int, int] | None:
        """(UIDVALIDITY, UID) of a message in `folder` whose header contains `value`."""
        validity = await self.select(folder)
        quoted = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        resp = await self._call(self.client.uid_search(f"HEADER {header} {quoted}"), "UID SEARCH")
        first = _lines(resp)[0] if resp.lines else b""
        uids = [int(x) for x in first.split() if x.isdigit()]
        return (validity, uids[0]) if uids else None

    async def append(self, folder: str, data: bytes, flags: str = r"(\Seen)") -> tuple[int, int] | None:
        resp = await self._call(self.client.append(data, mailbox=encode_mailbox(folder), flags=flags),
                                "APPEND")
        for line in _lines(resp):
            m = _APPENDUID.search(line)
            if m:
                return int(m.group(1)), int(m.group(2))
        return None

    async def idle(self, seconds: float, stop: asyncio.Event) -> bool:
        """Wait in IDLE for new mail; True if the server announced some."""
        task = await asyncio.wait_for(self.client.idle_start(timeout=min(seconds, IDLE_MAX_SECONDS)),
                                      self.timeout)
        got = False
        try:
            deadline = asyncio.get_running_loop().time() + seconds
            while not stop.is_set():
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    break
                try:
                    push = await asyncio.wait_for(self.client.wait_server_push(), min(left, 1.0))
                except TimeoutError:
                    continue
                if push == aioimaplib.STOP_WAIT_SERVER_PUSH:
                    break
                lines = [bytes(x) for x in push] if isinstance(push, list) else [bytes(push)]
                if any(line.endswith((b"EXISTS", b"RECENT")) for line in lines):
                    got = True
                    break
        finally:
            self.client.idle_done()
            try:
                await asyncio.wait_for(task, self.timeout)
            except TimeoutError as exc:
                raise ImapFailure("IDLE did not end") from exc
        return got


def client_ssl_context(cfg: Imap, base_dir: os.PathLike[str] | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if cfg.ca_file is not None:
        ctx.load_verify_locations(cafile=str(cfg.ca_file))
    return ctx


@dataclass
class MailboxHealth:
    """When each mailbox was last checked successfully; read by the alarm task."""

    last_ok: dict[str, dt.datetime] = field(default_factory=dict)
    last_error: dict[str, str] = field(default_factory=dict)


class Watcher:
    """One [[imap]] mailbox: backlog, IDLE/poll, filing, clerk moves, reconnect with backoff."""

    def __init__(self, cfg: Imap, pipeline: Any, health: MailboxHealth, *,
                 client_factory: Callable[[], ImapClient] | None = None,
                 wake: asyncio.Event | None = None) -> None:
        self.cfg = cfg
        self.pipeline = pipeline
        self.store = pipeline.store
        self.folders = self.store.settings.intake.folders
        self.health = health
        self.holder = leases.local_holder(self)
        self.lease_name = f"imap:{cfg.name}"
        self.wake = wake or asyncio.Event()
        self.client_factory = client_factory or self._default_client
        self.rounds = 0

    def _default_client(self) -> ImapClient:
        password = secret(self.cfg.password_env, what=f"รหัสผ่าน IMAP {self.cfg.name}")
        return ImapClient(self.cfg, password, client_ssl_context(self.cfg))

    def folder_for(self, state: str) -> str | None:
        f = self.folders
        folders: dict[str, str] = {
            LetterState.REGISTERED: f.registered,
            LetterState.DUPLICATE: f.registered,
            LetterState.REVIEW: f.review,
            LetterState.RESTRICTED: f.restricted,
            LetterState.REJECTED: f.rejected,
            LetterState.NOT_LETTER: f.other,
            LetterState.SENT_COPY: self.store.settings.outbound.sent_folder,
            LetterState.RETURNED_COPY: f.review,
        }
        return folders.get(state)

    def forward_folders(self, client: ImapClient) -> dict[str, str]:
        """ส่งต่อ/<unit name> for every unit: folder → unit code (the server's delimiter)."""
        prefix = self.store.settings.forwarding.folder_prefix
        return {f"{prefix}{client.delimiter}{u.name_th}": u.code for u in self.store.settings.units}

    async def ensure_folders(self, client: ImapClient) -> None:
        await client.folders()  # learn the delimiter first
        await client.ensure_folders((*self.folders.all(), self.store.settings.outbound.sent_folder,
                                     *self.forward_folders(client)))

    async def run(self, stop: asyncio.Event) -> None:
        backoff = 1.0
        while not stop.is_set():
            client = self.client_factory()
            try:
                await client.connect()
                backoff = 1.0
                await self._session(client, stop)
            except (TimeoutError, ImapFailure, OSError, ssl.SSLError) as exc:
                self.health.last_error[self.cfg.name] = repr(exc)
                log.warning("IMAP %s: %s; reconnecting in %.0f s", self.cfg.name, exc, backoff)
            finally:
                await client.close()
            if stop.is_set():
                break
            await _sleep(stop, backoff)
            backoff = min(backoff * 2, 60.0)

    async def take_lease(self) -> bool:
        """Hold this mailbox for this process; a lease left by a dead process on this host is
        broken at once rather than waited out (its holder names host and pid)."""
        async with self.store.sessions.begin() as s:
            got, _ = await leases.take(s, name=self.lease_name, holder=self.holder,
                                       now=self.store.clock(), ttl=LEASE_TTL)
        return got

    async def drop_lease(self) -> None:
        async with self.store.sessions.begin() as s:
            await leases.release(s, name=self.lease_name, holder=self.holder)

    async def _session(self, client: ImapClient, stop: asyncio.Event) -> None:
        await self.ensure_folders(client)
        try:
            while not stop.is_set():
                if not await self.take_lease():
                    log.info("IMAP %s is being worked by another process; waiting", self.cfg.name)
                    await _sleep(stop, 10)
                    continue
                await self.one_round(client)
                if stop.is_set():
                    break
                await client.select(self.cfg.mailbox)
                if client.has("IDLE"):
                    # Short enough to renew the lease well within its lifetime.
                    await client.idle(min(self.cfg.poll_seconds * 10, IDLE_SECONDS), stop)
                else:
                    self.wake.clear()
                    await _sleep(stop, self.cfg.poll_seconds, self.wake)
        finally:
            await self.drop_lease()

    async def one_round(self, client: ImapClient) -> int:
        """Take in everything waiting in the watched mailbox and handle the clerk's moves.

        Up to TAKE_IN_PARALLEL letters are read at once (parsing and PDF work overlap the
        IMAP and disk waits of the others); IMAP commands go one at a time through a lock,
        and the recording step runs in UID order, so receive numbers follow arrival.
        """
        validity = await client.select(self.cfg.mailbox)
        uids = await client.uids("ALL")
        lock = asyncio.Lock()
        order = InOrder()
        slots = asyncio.Semaphore(TAKE_IN_PARALLEL)

        async def one(i: int, uid: int) -> None:
            async with slots:
                try:
                    await self._take_in(client, validity, uid, lock, order.turn(i))
                finally:
                    order.done(i)

        await asyncio.gather(*(one(i, uid) for i, uid in enumerate(uids)))
        await self._finish_filing(client)
        await self._clerk_moves(client, self.folders.registered, "register")
        await self._clerk_moves(client, self.folders.rejected, "reject")
        for folder, code in self.forward_folders(client).items():
            await self._clerk_moves(client, folder, f"forward:{code}")
        self.health.last_ok[self.cfg.name] = self.store.clock()
        self.health.last_error.pop(self.cfg.name, None)
        self.rounds += 1
        return len(uids)

    async def _take_in(self, client: ImapClient, validity: int, uid: int, lock: asyncio.Lock,
                       turn: contextlib.AbstractAsyncContextManager[None]) -> None:
        async with lock:
            if client.selected != self.cfg.mailbox:
                await client.select(self.cfg.mailbox)
            raw = await client.fetch(uid)
        if raw is None:
            return
        key = f"imap:{self.cfg.name}:{validity}:{uid}"
        (digest,) = await put_blobs(self.store.blobs, raw)
        # Kept and decided in one transaction: until it is moved, the server still has it.
        # A registered letter's findable copy will be appended: the intent is committed with
        # its stamp, before the APPEND, so a crash after the APPEND is found by a search
        # instead of filing a second copy.
        letter_id, state, intent_committed = await self.pipeline.take_in(
            raw, digest=digest, channel="imap", source_key=key, envelope_to=[self.cfg.user],
            turn=turn, on_stamp={"copy_appending": True})
        folder = self.folder_for(state)
        if folder is None:  # not decided (e.g. a transient read failure): stays in INBOX
            return
        # The findable copy is composed before taking the connection: only IMAP waits for it.
        made = await self.pipeline.registered_copy(letter_id) if state == LetterState.REGISTERED else None
        copy, copy_sha = made if made is not None else (None, "")
        if copy is not None and not intent_committed:  # stamped before: record the intent now
            await self._set(letter_id, copy_appending=True)
        async with lock:
            if client.selected != self.cfg.mailbox:
                await client.select(self.cfg.mailbox)
            moved = await client.move(uid, folder)
            where = await client.append(self.folders.registered, copy) if copy else None
        # Both placements in one transaction, after the connection is free for the next
        # letter. A crash before it leaves them for _clerk_moves and _after_filing to find.
        rows = [(folder, moved, "original", digest)]
        if copy is not None:
            rows.append((self.folders.registered, where, "copy", copy_sha))
        await self._remember_all(rows, letter_id,
                                 {"filed_folder": folder, **({"copy_appended": True} if copy else {})})

    async def _remember(self, folder: str, where: tuple[int, int] | None, letter_id: int | None,
                        kind: str, sha: str, columns: dict[str, Any] | None = None) -> None:
        filed = {"filed_folder": folder} if kind == "original" else {}
        await self._remember_all([(folder, where, kind, sha)], letter_id, {**filed, **(columns or {})})

    async def _remember_all(self, rows: list[tuple[str, tuple[int, int] | None, str, str]],
                            letter_id: int | None, columns: dict[str, Any]) -> None:
        """Where messages now are (folder, (UIDVALIDITY, UID), kind, sha256), and what that
        means for their letter (its filing columns), in one transaction; a location already
        known is kept."""
        values = [dict(mailbox=self.cfg.name, folder=folder, uidvalidity=where[0], uid=where[1],
                       letter_id=letter_id, kind=kind, sha256=sha, seen_at=self.store.clock())
                  for folder, where, kind, sha in rows if where is not None]
        async with self.store.sessions.begin() as s:
            if values:
                await s.execute(insert_for(s)(ImapMessage).values(values).on_conflict_do_nothing(
                    index_elements=["mailbox", "folder", "uidvalidity", "uid"]))
            if letter_id is not None and columns:
                letter = await s.get(Letter, letter_id, with_for_update=True)
                if letter is not None:
                    for column, value in columns.items():
                        setattr(letter, column, value)

    async def _after_filing(self, client: ImapClient, letter_id: int, state: str) -> None:
        """File the findable copy `[รับ n/ปี] …` next to a registered original, once."""
        if state != LetterState.REGISTERED:
            return
        async with self.store.readers() as s:
            letter = await s.get(Letter, letter_id)
            done = letter is not None and letter.copy_appended
        if done:
            return
        folder = self.folders.registered
        # A crash between APPEND and the commit below must not file a second copy: the intent
        # is committed first, and only then (rarely) is the folder searched for the copy.
        found = None
        if letter is not None and letter.copy_appending:
            found = await client.search_header(folder, "X-Saraban-Letter", copy_marker(letter_id))
        else:
            await self._set(letter_id, copy_appending=True)
        if found is not None:
            where: tuple[int, int] | None = found
            sha = ""
        else:
            made = await self.pipeline.registered_copy(letter_id)
            if made is None:
                return
            copy, sha = made
            where = await client.append(folder, copy)
        await self._remember(folder, where, letter_id, "copy", sha, {"copy_appended": True})

    async def _letter_behind(self, sha: str, letter_id: int | None) -> int | None:
        """The registered letter a message in a clerk's folder stands for."""
        async with self.store.readers() as s:
            if letter_id is not None:
                letter = await s.get(Letter, letter_id)
                if letter is not None and letter.about in (About.OWN_COPY, About.CLERK_ROUTE) \
                        and letter.about_letter_id is not None:
                    return letter.about_letter_id
                return letter_id
            return (await s.execute(select(ImapMessage.letter_id).where(
                ImapMessage.sha256 == sha, ImapMessage.kind == "copy",
                ImapMessage.letter_id.is_not(None)).limit(1))).scalar_one_or_none()

    async def _set(self, letter_id: int, **columns: object) -> None:
        async with self.store.sessions.begin() as s:
            letter = await s.get(Letter, letter_id, with_for_update=True)
            if letter is not None:
                for column, value in columns.items():
                    setattr(letter, column, value)

    async def _finish_filing(self, client: ImapClient) -> None:
        """What a crash or another channel left unfiled: SMTP letters shown in the clerk's
        folders (original bytes, appended), and registered letters still missing their copy."""
        primary = self.cfg.name == self.store.settings.imap[0].name
        async with self.store.readers() as s:
            # only the letters with something left to file: the query does not grow with history
            rows = (await s.execute(
                select(Letter.id, Letter.state, Letter.channel, Letter.filing_folder,
                       Letter.filed_folder, Letter.copy_appended, RawMessage.sha256)
                .join(RawMessage, RawMessage.id == Letter.raw_message_id)
                .where(Letter.state != LetterState.RECEIVED,
                       or_(and_(Letter.channel == "smtp", Letter.filed_folder == ""),
                           and_(Letter.state == LetterState.REGISTERED, Letter.copy_appended.is_(False))))
                .order_by(Letter.id)
            )).all()
        for letter_id, state, channel, filing, filed, appended, sha in rows:
            folder = self.folder_for(state)
            if folder is None:
                continue
            if channel == "smtp" and primary and not filed:
                raw = await asyncio.to_thread(self.store.blobs.get, sha)
                msg_id = _message_id(raw)
                found = None
                if filing and msg_id:
                    found = await client.search_header(folder, "Message-ID", msg_id)
                else:
                    await self._set(letter_id, filing_folder=folder)
                where = found or await client.append(folder, raw)
                await self._remember(folder, where, letter_id, "original", sha)
                filed = folder
            if state == LetterState.REGISTERED and filed and not appended:
                if channel == "smtp" and not primary:
                    continue
                await self._after_filing(client, letter_id, state)

    async def _clerk_moves(self, client: ImapClient, folder: str, action: str) -> None:
        validity = await client.select(folder)
        uids = await client.uids("ALL")
        async with self.store.readers() as s:
            known = set((await s.execute(select(ImapMessage.uid).where(
                ImapMessage.mailbox == self.cfg.name, ImapMessage.folder == folder,
                ImapMessage.uidvalidity == validity))).scalars())
        for uid in uids:
            if uid in known:
                continue
            raw = await client.fetch(uid)
            if raw is None:
                continue
            sha = hashlib.sha256(raw).hexdigest()
            async with self.store.readers() as s:
                letter_id = (await s.execute(
                    select(Letter.id).join(RawMessage, RawMessage.id == Letter.raw_message_id)
                    .where(RawMessage.sha256 == sha).order_by(Letter.id).limit(1)
                )).scalar_one_or_none()
            kind = "original" if letter_id is not None else "unknown"
            if action.startswith("forward:"):
                # The original, the findable copy, or a copy that came back (returned, sent).
                target = await self._letter_behind(sha, letter_id)
                if target is not None:
                    done = await self.pipeline.units.clerk_route(
                        target, [action.partition(":")[2]], via="folder", by=f"clerk:imap:{self.cfg.name}")
                    log.info("clerk moved letter %s into %s: forwarded to %s", target, folder, done or "-")
                await self._remember(folder, (validity, uid), letter_id, kind, sha)
                continue
            if letter_id is not None:
                if action == "register":
                    state = await self.pipeline.clerk_register(letter_id, actor=f"clerk:imap:{self.cfg.name}")
                else:
                    state = await self.pipeline.clerk_reject(letter_id, actor=f"clerk:imap:{self.cfg.name}")
                log.info("clerk moved letter %s into %s: now %s", letter_id, folder, state)
            await self._remember(folder, (validity, uid), letter_id, kind, sha)
            if letter_id is not None and action == "register":
                await self._after_filing(client, letter_id, LetterState.REGISTERED)
                await client.select(folder)



def copy_marker(letter_id: int) -> str:
    """The X-Saraban-Letter value of a filed copy; the dot ends it, so a substring search
    for letter 1 does not find letter 12."""
    return f"L{letter_id}."


def _message_id(raw: bytes) -> str | None:
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    m = re.search(rb"(?im)^message-id:[ \t]*(<[^>\r\n]{1,250}>)", head)
    return m.group(1).decode("ascii", "replace") if m else None


async def _sleep(stop: asyncio.Event, seconds: float, wake: asyncio.Event | None = None) -> None:
    waits = [asyncio.create_task(stop.wait())]
    if wake is not None:
        waits.append(asyncio.create_task(wake.wait()))
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
