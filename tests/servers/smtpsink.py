"""A real aiosmtpd server that stands in for the agency's relay: it keeps what it is given.

    sink = await SmtpSink.start()            # 127.0.0.1, a free port
    sink.script["x@a.go.th"] = ["451 4.3.0 busy", "250"]   # per recipient, one reply per try
    ...
    sink.messages                            # [(mail_from, [rcpt], bytes)]
    await sink.stop()

Replies are given at RCPT time (what a relay does for an unknown or busy mailbox).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class SmtpSink:
    server: asyncio.Server | None = None
    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    script: dict[str, list[str]] = field(default_factory=dict)
    refused: list[tuple[str, str]] = field(default_factory=list)
    halted_port: int = 0
    smtputf8: bool = True  # offered in EHLO (an older relay does not)

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    @classmethod
    async def start(cls, port: int = 0, *, smtputf8: bool = True) -> SmtpSink:
        sink = cls(smtputf8=smtputf8)
        await sink._listen(port)
        return sink

    async def _listen(self, port: int) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: SMTP(self, hostname="sink.localhost", ident="sink", enable_SMTPUTF8=self.smtputf8,
                         decode_data=False, data_size_limit=64 * 1024 * 1024),
            "127.0.0.1", port)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def halt(self) -> int:
        """Stop listening, as a relay that is restarting (connections are refused); returns the
        port for :meth:`resume`. What it was given is kept."""
        port = self.port
        await self.stop()
        self.halted_port = port
        return port

    async def resume(self) -> None:
        """Listen again on the port it had before :meth:`halt`."""
        await self._listen(self.halted_port)

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        replies = self.script.get(address.lower())
        if replies:
            reply = replies.pop(0)
            if not reply.startswith("250"):
                self.refused.append((address.lower(), reply))
                return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data: Any = envelope.original_content or b""
        self.messages.append((envelope.mail_from or "", list(envelope.rcpt_tos), bytes(data)))
        return "250 2.0.0 OK"

    def to(self, address: str) -> list[bytes]:
        return [m for _, rcpts, m in self.messages if address.lower() in (r.lower() for r in rcpts)]


# -- as a process of its own (it must outlive the gateway processes a test kills) ---------------


class _LoggingSink:
    """Appends `recipient<TAB>Message-ID<TAB>kind` per delivered message, fsynced before the 250."""

    def __init__(self, log_path: str, delay: float) -> None:
        self.log_path = log_path
        self.delay = delay

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        import email
        import os
        from email import policy

        data = bytes(envelope.original_content or b"")
        msg = email.message_from_bytes(data, policy=policy.compat32)
        kind = "letter" if msg.get("X-Saraban-Letter-No") else "other"
        if self.delay:
            await asyncio.sleep(self.delay)
        with open(self.log_path, "a", encoding="utf-8") as f:
            for rcpt in envelope.rcpt_tos:
                f.write(f"{rcpt.lower()}\t{msg.get('Message-ID', '')}\t{kind}\n")
            f.flush()
            os.fsync(f.fileno())
        return "250 2.0.0 OK"


def main() -> None:
    import argparse

    p = argparse.ArgumentParser()
    p.add_argument("--log", required=True)
    p.add_argument("--delay", type=float, default=0.0)
    args = p.parse_args()

    async def run() -> None:
        handler = _LoggingSink(args.log, args.delay)
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: SMTP(handler, hostname="sink.localhost", ident="sink", decode_data=False,
                         data_size_limit=64 * 1024 * 1024), "127.0.0.1", 0)
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Event().wait()

    asyncio.run(run())


if __name__ == "__main__":
    main()
