"""The one place that touches aioimaplib's private parts (house style 14).

aioimaplib 2.0's protocol formats every received chunk for a debug log even when that log is
off (`'Received : %s' % data` in `data_received`): about 4 ms of the event loop's time per
1.7 MB letter fetched. There is no public switch, so `data_received` is replaced here with the
library's own body minus that formatting; the client class is subclassed only to use this
protocol. tests/unit/test_dependency_internals.py checks every private name used here and
fails naming aioimaplib and its version when a release changes them.

It also makes a lost connection visible at once: aioimaplib 2.0 leaves every pending command
(and IDLE) waiting when the server closes the connection, and its IMAP4_SSL drops the
`conn_lost_cb` argument (aioimaplib issues #107, #110). `QuietProtocol.closed` is a future set
by `connection_lost` (the public asyncio.Protocol hook), which the adapter races every command
against (gateway/intake/imap_client.py).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any

from aioimaplib import aioimaplib

_aio_log = logging.getLogger(aioimaplib.__name__)


class QuietProtocol(aioimaplib.IMAP4ClientProtocol):  # type: ignore[misc]
    """aioimaplib's protocol, logging received data only when its debug log is on; `closed`
    is done (with the error, or None) as soon as the transport is lost."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None, conn_lost_cb: Any = None) -> None:
        super().__init__(loop, conn_lost_cb)
        self.closed: asyncio.Future[BaseException | None] = \
            (loop or asyncio.get_running_loop()).create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if not self.closed.done():
            self.closed.set_result(exc)

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


class QuietImap4Ssl(aioimaplib.IMAP4_SSL):  # type: ignore[misc]
    """aioimaplib's IMAP4_SSL with QuietProtocol (its create_client, with that protocol)."""

    def create_client(self, host: str, port: int, loop: asyncio.AbstractEventLoop | None,
                      conn_lost_cb: Any = None, ssl_context: ssl.SSLContext | None = None) -> None:
        local_loop = loop if loop is not None else asyncio.get_running_loop()
        self.protocol = QuietProtocol(local_loop, conn_lost_cb)
        self._client_task = local_loop.create_task(local_loop.create_connection(
            lambda: self.protocol, host, port, ssl=ssl_context))

    def abort(self) -> None:
        """Close the connection without a word (after LOGOUT, or when it is already lost), and
        cancel what still waits on it: the IDLE command of a connection the server dropped
        waits for an answer that never comes, and, left pending, is reported by asyncio as an
        ERROR ("Task was destroyed but it is pending") whenever the collector finds it."""
        transport = self.protocol.transport
        if transport is not None and not transport.is_closing():
            transport.close()
        for task in (*self.tasks, *self.protocol.tasks):
            if not task.done():
                task.cancel()
