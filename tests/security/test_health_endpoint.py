"""The health endpoint answers its two paths and nothing else (issue 23): each attack is a row.

The server of gateway/ops/http.py on 127.0.0.1 with two routes that say who answered; a row is
a request as it goes on the wire, the status it must get, and whether a route may have run.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from gateway.ops import http
from gateway.ops.http import Response, serving


def _get(path: bytes) -> bytes:
    return b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


# (name, request, status, the route that may answer or None)
ATTACKS: list[tuple[str, bytes, int, str | None]] = [
    ("metrics", _get(b"/metrics"), 200, "metrics"),
    ("healthz with a query", _get(b"/healthz?verbose=1"), 200, "healthz"),
    ("head of healthz: no body", b"HEAD /healthz HTTP/1.1\r\n\r\n", 200, "healthz"),
    ("root", _get(b"/"), 404, None),
    ("traversal up", _get(b"/../../etc/passwd"), 404, None),
    ("traversal through a route", _get(b"/healthz/../metrics"), 404, None),
    ("encoded traversal", _get(b"/%2e%2e/%2e%2e/etc/passwd"), 404, None),
    ("encoded route name", _get(b"/%6detrics"), 404, None),
    ("trailing slash", _get(b"/metrics/"), 404, None),
    ("double slash", _get(b"//metrics"), 404, None),
    ("absolute URI", _get(b"http://127.0.0.1/metrics"), 404, None),
    ("asterisk", _get(b"*"), 404, None),
    ("a file name", _get(b"/config.toml"), 404, None),
    ("NUL in the path", _get(b"/metrics\x00.txt"), 404, None),
    ("POST", b"POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", 405, None),
    ("PUT", b"PUT /healthz HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 405, None),
    ("DELETE", b"DELETE /healthz HTTP/1.1\r\n\r\n", 405, None),
    ("OPTIONS", b"OPTIONS * HTTP/1.1\r\n\r\n", 405, None),
    ("CONNECT", b"CONNECT 127.0.0.1:25 HTTP/1.1\r\n\r\n", 405, None),
    ("lower-case get", b"get /metrics HTTP/1.1\r\n\r\n", 405, None),
    ("HTTP/0.9 line", b"GET /metrics\r\n\r\n", 400, None),
    ("not HTTP", b"EHLO attacker\r\n\r\n", 400, None),
    ("spaces in the path", b"GET /met rics HTTP/1.1\r\n\r\n", 400, None),
    ("huge header", b"GET /metrics HTTP/1.1\r\nX-Pad: " + b"a" * 100_000 + b"\r\n\r\n", 431, None),
    ("huge request line", b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\n\r\n", 431, None),
    ("many headers", b"GET /metrics HTTP/1.1\r\n" + b"X: y\r\n" * 5000 + b"\r\n", 431, None),
    ("binary junk", bytes(range(256)) * 4 + b"\r\n\r\n", 400, None),
]


@pytest.fixture
async def endpoint() -> AsyncIterator[tuple[int, list[str]]]:
    called: list[str] = []

    def route(name: str) -> http.Route:
        async def answer() -> Response:
            called.append(name)
            return Response(200, f"{name} answered\n".encode())
        return answer

    async with serving("127.0.0.1", 0, {"/metrics": route("metrics"), "/healthz": route("healthz")}) as port:
        yield port, called


async def _exchange(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        try:
            await writer.drain()
        except ConnectionError:  # refused before all was written: the answer is still there
            pass
        return await asyncio.wait_for(reader.read(), 30)  # guards a hang only
    finally:
        writer.close()


@pytest.mark.parametrize(("name", "request_bytes", "status", "route"), ATTACKS, ids=[a[0] for a in ATTACKS])
async def test_attack(endpoint, name: str, request_bytes: bytes, status: int, route: str | None) -> None:
    port, called = endpoint
    answer = await _exchange(port, request_bytes)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == str(status).encode(), (name, head)
    assert b"Connection: close" in head
    assert called == ([route] if route else [])
    if route and not request_bytes.startswith(b"HEAD"):
        assert body == f"{route} answered\n".encode()
    else:
        assert b"answered" not in body


async def test_a_client_that_never_ends_its_request_is_cut_off(
        endpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    port, called = endpoint
    monkeypatch.setattr(http, "HEAD_SECONDS", 0.2)  # the bound, made short; nothing asserts time
    answer = await _exchange_open(port, b"GET /metrics HTTP/1.1\r\nX-Slow: ")
    assert answer.split(b" ")[1] == b"408" and called == []


async def _exchange_open(port: int, partial: bytes) -> bytes:
    """Send part of a request and keep the connection open: the server must close it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(partial)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 30)  # guards a hang only
    finally:
        writer.close()
