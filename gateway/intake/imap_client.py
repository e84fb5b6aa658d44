"""The IMAP client adapter: aioimaplib, timed, for the few commands the gateway needs.

It implements the `MailboxClient` port (gateway/ports.py) that the watcher and the filing use
(gateway/intake/imap.py, gateway/intake/filing.py); the composition root builds it.

aioimaplib traps (infrastructure.md): implicit TLS only; arguments are sent verbatim (mailbox
names are encoded and quoted here); fetch one message per command (big responses recurse);
every call has a timeout.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import ssl
from typing import Any

from aioimaplib import aioimaplib

from gateway.config import Imap
from gateway.intake.aioimaplib_quiet import QuietImap4Ssl
from gateway.intake.mutf7 import decode_mutf7, encode_mailbox
from gateway.ports import ImapFailure

log = logging.getLogger(__name__)

TIMEOUT = 30.0
IDLE_MAX_SECONDS = 25 * 60  # re-IDLE well before the 29 minutes of RFC 2177

_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")
_COPYUID = re.compile(rb"COPYUID (\d+) [\d:,]+ (\d+)")
_APPENDUID = re.compile(rb"APPENDUID (\d+) (\d+)")
_LIST = re.compile(rb'^\(.*?\) (?:"(\\?.)"|NIL) (.+)$')


def _lines(resp: Any) -> list[bytes]:
    return [bytes(x) for x in resp.lines]




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
        self.client = QuietImap4Ssl(host=self.cfg.host, port=self.cfg.port,
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
