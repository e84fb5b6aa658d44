"""The IMAP client adapter: aioimaplib, timed, for the few commands the gateway needs.

It implements the `MailboxClient` port (gateway/ports.py) that the watcher and the filing use
(gateway/intake/imap.py, gateway/intake/filing.py); the composition root builds it.

aioimaplib traps (infrastructure.md): implicit TLS only; arguments are sent verbatim (mailbox
names are encoded and quoted here); fetch one message per command (big responses recurse);
every call has a timeout, and fails at once when the connection is lost (aioimaplib would
leave it waiting: the protocol's `closed` future, gateway/intake/aioimaplib_quiet.py).
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
from gateway.errors import UserError
from gateway.intake.aioimaplib_quiet import QuietImap4Ssl
from gateway.intake.mutf7 import decode_mutf7, encode_mailbox
from gateway.oauth import TokenSource, TokenUnavailable, sasl_response, token_source
from gateway.ports import ImapFailure

log = logging.getLogger(__name__)

TIMEOUT = 30.0
IDLE_MAX_SECONDS = 25 * 60  # re-IDLE well before the 29 minutes of RFC 2177
LIVENESS_SECONDS = 20.0  # a silent IDLE is ended (DONE) and renewed this often ...
DONE_TIMEOUT = 10.0  # ... and a DONE not answered within this means the connection is dead

_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")
_COPYUID = re.compile(rb"COPYUID (\d+) [\d:,]+ (\d+)")
_APPENDUID = re.compile(rb"APPENDUID (\d+) (\d+)")
_LIST = re.compile(rb'^\((.*?)\) (?:"(\\?.)"|NIL) (.+)$')
_NAMESPACE = re.compile(rb'\(\("((?:[^"\\]|\\.)*)" (?:"(\\?.)"|NIL)')  # the first personal one


def _lines(resp: Any) -> list[bytes]:
    return [bytes(x) for x in resp.lines]


class MailboxLost(ImapFailure, ConnectionError):
    """The connection could not be made, broke, or stopped answering: the server is away, and
    the watcher tries again within seconds (an ImapFailure that is not one of these, a NO or
    BAD from a server that answers, backs off for longer)."""


class ImapClient:
    """A thin, timed wrapper over aioimaplib for the few commands the gateway needs."""

    def __init__(self, cfg: Imap, password: str, ssl_context: ssl.SSLContext,
                 timeout: float = TIMEOUT, tokens: TokenSource | None = None, sent: str = "") -> None:
        self.cfg = cfg
        self.password = password  # unused with auth = "oauth2": the token comes from `tokens`
        self.tokens = tokens  # else the process's TokenSource of cfg.oauth2, at the first login
        self.fresh_token = False  # the last login fetched a new access token
        self.ssl_context = ssl_context
        self.timeout = timeout
        self.client: Any = None
        self.selected: str | None = None
        self.delimiter = "/"  # the server's hierarchy delimiter, learnt from LIST
        # Folder names are the gateway's (config.toml: "ลงรับแล้ว", "Sent"); on the server they
        # live under its personal namespace (NAMESPACE, RFC 2342: "INBOX." on Courier and
        # Cyrus), and `sent`, the mail client's Sent folder, is the one marked \Sent (RFC 6154:
        # "Sent Items" on Exchange, "[Gmail]/Sent Mail") when the server has none of that name.
        self.prefix = ""
        self.sent = sent
        self.aliases: dict[str, str] = {}  # a gateway name → the server's (the \Sent folder)

    def _closed(self) -> asyncio.Future[BaseException | None]:
        if self.client is None:
            raise MailboxLost("not connected")
        closed: asyncio.Future[BaseException | None] = self.client.protocol.closed
        return closed

    async def _guarded(self, aw: Any, what: str, timeout: float | None = None) -> Any:
        """`aw`'s result, or MailboxLost the moment the connection is lost or when no answer
        comes in time (aioimaplib leaves a command waiting on a closed connection)."""
        closed = self._closed()
        task = asyncio.ensure_future(aw)
        try:
            await asyncio.wait({task, closed}, timeout=timeout or self.timeout,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not task.done():
                task.cancel()
                task.add_done_callback(_consume)
        if not task.cancelled() and task.done():
            return task.result()
        if closed.done():
            raise MailboxLost(f"{what}: connection lost ({closed.result()!r})")
        raise MailboxLost(f"{what}: no answer within {timeout or self.timeout:.0f} s")

    async def _call(self, coro: Any, what: str) -> Any:
        try:
            resp = await self._guarded(coro, what)
        except TimeoutError as exc:  # aioimaplib's own timeout, as good as ours
            raise MailboxLost(f"{what}: {exc!r}") from exc
        except (aioimaplib.Abort, aioimaplib.CommandTimeout) as exc:
            raise ImapFailure(f"{what}: {exc!r}") from exc
        if resp.result != "OK":
            raise ImapFailure(f"{what}: {resp.result} {_lines(resp)[-1:]!r}")
        return resp

    async def connect(self) -> None:
        self.client = QuietImap4Ssl(host=self.cfg.host, port=self.cfg.port,
                                    ssl_context=self.ssl_context, timeout=self.timeout)
        try:
            await self._guarded(self.client.wait_hello_from_server(), "connect")
        except ssl.SSLCertVerificationError as exc:  # not an outage: a wrong certificate or CA
            raise ImapFailure(f"connect {self.cfg.host}:{self.cfg.port}: {exc!r}") from exc
        except (TimeoutError, OSError) as exc:  # refused, reset, unreachable: the server is down
            raise MailboxLost(f"connect {self.cfg.host}:{self.cfg.port}: {exc!r}") from exc
        if self.cfg.auth == "oauth2":
            await self._oauth_login()
        else:
            await self._call(self.client.login(self.cfg.user, self.password), "LOGIN")
        await self._namespace()

    async def _namespace(self) -> None:
        """The personal namespace's prefix and delimiter (none: the server has no NAMESPACE)."""
        self.prefix = ""
        if not self.has("NAMESPACE"):
            return
        resp = await self._call(self.client.namespace(), "NAMESPACE")
        for line in _lines(resp):
            m = _NAMESPACE.search(line)
            if m:
                self.prefix = decode_mutf7(m.group(1).decode("ascii", "replace").replace('\\"', '"'))
                if m.group(2):
                    self.delimiter = m.group(2).decode("ascii", "replace").lstrip("\\")
                return

    def on_server(self, name: str) -> str:
        """A folder's full name on the server (INBOX and names already in the namespace as
        they are)."""
        if name in self.aliases:
            return self.aliases[name]
        if not self.prefix or name.upper() == "INBOX" or name.startswith(self.prefix):
            return name
        return self.prefix + name

    def _mailbox(self, name: str) -> str:
        return encode_mailbox(self.on_server(name))

    async def _oauth_login(self) -> None:
        """AUTHENTICATE XOAUTH2 / OAUTHBEARER with the access token; a cached token the server
        refuses (revoked, expired early) is replaced once by a fresh one. An unreachable token
        endpoint is an outage (MailboxLost); a refusal, by the endpoint or the server, is not."""
        assert self.cfg.oauth2 is not None
        self.tokens = self.tokens or token_source(self.cfg.oauth2, self.cfg.user)
        while True:
            try:
                token, self.fresh_token = await self.tokens.token()
            except TokenUnavailable as exc:
                raise MailboxLost(f"OAuth token: {exc}") from exc
            except UserError as exc:
                raise ImapFailure(f"OAuth token: {exc}") from exc
            mech, initial = sasl_response(self.cfg.oauth2, self.cfg.user, token,
                                          self.cfg.host, self.cfg.port)
            resp = await self._guarded(self._authenticate(mech, initial), f"AUTHENTICATE {mech}")
            if resp.result == "OK":
                return
            self.tokens.forget(token)
            if self.fresh_token:
                raise ImapFailure(f"AUTHENTICATE {mech}: {resp.result} {_lines(resp)[-1:]!r}")

    async def _authenticate(self, mechanism: str, initial: str) -> Any:
        """AUTHENTICATE with an initial response (SASL-IR). aioimaplib's own xoauth2() waits for
        ever when the server refuses: the refusal comes first as a continuation ("+ <base64
        JSON>", RFC 7628 §3.2.2) that wants an empty line before the tagged NO."""
        proto = self.client.protocol
        cmd = _SaslCommand(proto, "AUTHENTICATE", proto.new_tag(), mechanism, initial,
                           loop=proto.loop)
        resp = await proto.execute(cmd, scrub=initial)
        if resp.result == "OK":
            proto.state = aioimaplib.AUTH
            for line in resp.lines:
                if b"CAPABILITY" in line:
                    proto.capabilities |= set(line.decode().replace("CAPABILITY", "").split())
        return resp

    def has(self, capability: str) -> bool:
        return bool(self.client and self.client.has_capability(capability))

    async def close(self) -> None:
        if self.client is None:
            return
        client, self.client = self.client, None
        if not client.protocol.closed.done():  # a lost connection is not waited on for LOGOUT
            try:
                await asyncio.wait_for(client.logout(), 5)
            except Exception as exc:  # noqa: BLE001 - closing a connection that may already be dead
                log.debug("IMAP logout failed: %r", exc)
        client.abort()

    async def folders(self) -> set[str]:
        """The server's folders by the gateway's names (the namespace's prefix left out; the
        \\Sent folder also as `sent` when no folder has that name), and by their full names."""
        resp = await self._call(self.client.list('""', "*"), "LIST")
        out: set[str] = set()
        marked_sent: list[str] = []
        for line in _lines(resp):
            m = _LIST.match(line)
            if m:
                if m.group(2):
                    self.delimiter = m.group(2).decode("ascii", "replace").lstrip("\\")
                full = decode_mutf7(m.group(3).decode("ascii", "replace").strip('"'))
                out.add(full)
                if self.prefix and full.startswith(self.prefix):
                    out.add(full[len(self.prefix):])
                if b"\\sent" in m.group(1).lower().split():
                    marked_sent.append(full)
        self.aliases.clear()
        if self.sent and self.sent not in out and len(marked_sent) == 1:
            self.aliases[self.sent] = marked_sent[0]
            out.add(self.sent)
        return out

    async def ensure_folders(self, names: tuple[str, ...]) -> None:
        have = await self.folders()
        for name in names:
            if name not in have:
                resp = await self._guarded(self.client.create(self._mailbox(name)), f"CREATE {name}")
                if resp.result != "OK" and b"exists" not in b" ".join(_lines(resp)).lower():
                    raise ImapFailure(f"CREATE {name}: {_lines(resp)!r}")

    async def select(self, folder: str) -> int:
        resp = await self._call(self.client.select(self._mailbox(folder)), f"SELECT {folder}")
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
            resp = await self._call(self.client.uid("move", str(uid), self._mailbox(folder)),
                                    "UID MOVE")
        else:
            resp = await self._call(self.client.uid("copy", str(uid), self._mailbox(folder)),
                                    "UID COPY")
            await self._call(self.client.uid("store", str(uid), r"+FLAGS.SILENT (\Deleted)"),
                             "UID STORE")
            await self._call(self.client.uid("expunge", str(uid)), "UID EXPUNGE")
        for line in _lines(resp):
            m = _COPYUID.search(line)
            if m:
                return int(m.group(1)), int(m.group(2))
        return None

    async def delete(self, uid: int) -> None:
        """Remove one message of the selected folder: flagged \\Deleted and expunged by its UID
        (UIDPLUS), never a plain EXPUNGE, which would take every message the clerk flagged."""
        await self._call(self.client.uid("store", str(uid), r"+FLAGS.SILENT (\Deleted)"), "UID STORE")
        if self.has("UIDPLUS"):
            await self._call(self.client.uid("expunge", str(uid)), "UID EXPUNGE")

    async def search_header(self, folder: str, header: str, value: str) -> tuple[int, int] | None:
        """(UIDVALIDITY, UID) of a message in `folder` whose header contains `value` (one
        flagged \\Deleted, on its way out, is not it)."""
        validity = await self.select(folder)
        quoted = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        resp = await self._call(self.client.uid_search(f"UNDELETED HEADER {header} {quoted}"), "UID SEARCH")
        first = _lines(resp)[0] if resp.lines else b""
        uids = [int(x) for x in first.split() if x.isdigit()]
        return (validity, uids[0]) if uids else None

    async def append(self, folder: str, data: bytes, flags: str = r"(\Seen)") -> tuple[int, int] | None:
        resp = await self._call(self.client.append(data, mailbox=self._mailbox(folder), flags=flags),
                                "APPEND")
        for line in _lines(resp):
            m = _APPENDUID.search(line)
            if m:
                return int(m.group(1)), int(m.group(2))
        return None

    async def idle(self, seconds: float, stop: asyncio.Event) -> bool:
        """Wait in IDLE for new mail; True if the server announced some. A lost connection
        ends it at once (MailboxLost); IDLE is renewed every LIVENESS_SECONDS, its DONE being
        answered within DONE_TIMEOUT the proof that a silent connection is still alive."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not stop.is_set():
            left = deadline - loop.time()
            if left <= 0:
                break
            if await self._idle_once(min(left, LIVENESS_SECONDS), stop):
                return True
        return False

    async def _idle_once(self, seconds: float, stop: asyncio.Event) -> bool:
        try:
            task = await self._guarded(self.client.idle_start(timeout=min(seconds, IDLE_MAX_SECONDS)), "IDLE")
        except aioimaplib.Abort as exc:
            raise ImapFailure(f"IDLE: {exc!r}") from exc
        closed = self._closed()
        stopping = asyncio.ensure_future(stop.wait())
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        got = False
        try:
            while (left := end - loop.time()) > 0:
                push = asyncio.ensure_future(self.client.wait_server_push(timeout=left))
                done, _ = await asyncio.wait({push, closed, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if push not in done:
                    push.cancel()
                    push.add_done_callback(_consume)
                    if closed.done():
                        raise MailboxLost(f"IDLE: connection lost ({closed.result()!r})")
                    break  # stopping
                try:
                    value = push.result()
                except TimeoutError:
                    break
                if value == aioimaplib.STOP_WAIT_SERVER_PUSH:
                    break
                lines = [bytes(x) for x in value] if isinstance(value, list) else [bytes(value)]
                if any(line.endswith((b"EXISTS", b"RECENT")) for line in lines):
                    got = True
                    break
        except BaseException:
            if not closed.done():
                self.client.idle_done()
            raise
        finally:
            stopping.cancel()
        self.client.idle_done()
        await self._guarded(task, "IDLE DONE", DONE_TIMEOUT)
        return got


class _SaslCommand(aioimaplib.Command):  # type: ignore[misc]
    """AUTHENTICATE that answers a server's continuation (an error challenge) with an empty line."""

    def __init__(self, protocol: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._protocol = protocol

    def append_to_resp(self, line: bytes, result: str = "Pending") -> None:
        super().append_to_resp(line, result)
        if result == "Pending" and bytes(line).startswith(b"+") and self._protocol.transport:
            self._protocol.transport.write(b"\r\n")


def _consume(task: asyncio.Future[Any]) -> None:
    """Retrieve a cancelled or failed helper task's outcome (no 'never retrieved' warning)."""
    if not task.cancelled():
        task.exception()


def client_ssl_context(cfg: Imap, base_dir: os.PathLike[str] | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if cfg.ca_file is not None:
        ctx.load_verify_locations(cafile=str(cfg.ca_file))
    return ctx
