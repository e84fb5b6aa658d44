"""A tiny HTTP/1.0-style server on asyncio streams for `/metrics` and `/healthz`: nothing more.

Each connection carries one request and is closed after the answer. The request head is
bounded (`MAX_HEAD` bytes, answered 431 beyond) and so is its time (`HEAD_SECONDS`, 408);
a body is never read. Only GET (and HEAD) are answered (405 otherwise); the path must be one
of the routes exactly, a query string aside (404 otherwise: there are no files to traverse
to). At most `MAX_CONNECTIONS` are served at once; more are closed at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass

__all__ = ["HEAD_SECONDS", "MAX_HEAD", "Response", "Route", "serving"]

log = logging.getLogger("saraban-gateway.health")

MAX_HEAD = 8192
HEAD_SECONDS = 5.0
ANSWER_SECONDS = 30.0
MAX_CONNECTIONS = 16

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            408: "Request Timeout", 431: "Request Header Fields Too Large",
            500: "Internal Server Error", 503: "Service Unavailable"}


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"


Route = Callable[[], Awaitable[Response]]


def _plain(status: int) -> Response:
    return Response(status, f"{status} {_REASONS[status]}\n".encode())


async def _read_head(reader: asyncio.StreamReader) -> bytes | Response:
    try:
        return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_SECONDS)
    except asyncio.LimitOverrunError:
        return _plain(431)
    except asyncio.IncompleteReadError as exc:
        # a client that sent a head then closed its side gets nothing; a bare "\n\n" head is bad
        return _plain(431) if len(exc.partial) >= MAX_HEAD else _plain(400)
    except TimeoutError:
        return _plain(408)


async def _answer(head: bytes, routes: Mapping[str, Route]) -> tuple[Response, bool]:
    """The response, and whether its body is sent (not for HEAD)."""
    line = head.split(b"\r\n", 1)[0]
    parts = line.split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
        return _plain(400), True
    method, target = parts[0], parts[1].split(b"?", 1)[0]
    if method not in (b"GET", b"HEAD"):
        return _plain(405), True
    route = routes.get(target.decode("ascii", "replace"))
    if route is None:
        return _plain(404), method == b"GET"
    try:
        return await asyncio.wait_for(route(), ANSWER_SECONDS), method == b"GET"
    except Exception:  # the task guard: a failed answer is a 500, the server stays
        log.exception("health endpoint %s failed", target.decode("ascii", "replace"))
        return _plain(500), method == b"GET"


def _handler(routes: Mapping[str, Route]) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter],
                                                       Awaitable[None]]:
    slots = asyncio.Semaphore(MAX_CONNECTIONS)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if slots.locked():
                return
            async with slots:
                head = await _read_head(reader)
                if isinstance(head, Response):
                    response, with_body = head, True
                else:
                    response, with_body = await _answer(head, routes)
                status = f"HTTP/1.1 {response.status} {_REASONS.get(response.status, '')}\r\n"
                headers = (f"Content-Type: {response.content_type}\r\n"
                           f"Content-Length: {len(response.body)}\r\n"
                           "Cache-Control: no-store\r\nConnection: close\r\n\r\n")
                writer.write((status + headers).encode("ascii") + (response.body if with_body else b""))
                await asyncio.wait_for(writer.drain(), HEAD_SECONDS)
        except (ConnectionError, TimeoutError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), HEAD_SECONDS)

    return handle


@contextlib.asynccontextmanager
async def serving(host: str, port: int, routes: Mapping[str, Route]) -> AsyncIterator[int]:
    """Serve `routes` on host:port for the length of the block; yields the bound port."""
    server = await asyncio.start_server(_handler(routes), host, port, limit=MAX_HEAD)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()
