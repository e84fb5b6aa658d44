"""SMTP listener for agencies whose mail servers deliver straight to the gateway.

Not a relay: only the configured central addresses are accepted as recipients
(550 for anything else). The size limit is enforced by aiosmtpd (552). The
reply 250 is sent only after the raw message is on disk and its row committed
(durability rule 1); a store failure, or any other, answers 451 so the sender tries again
(never a 5xx, never the error's text: `TRY_AGAIN`). Before that,
the sender is authenticated (SPF for the peer's IP, DKIM, DMARC, ARC: gateway/trust/auth.py)
and what is stored is the message with the gateway's Authentication-Results on top.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from gateway.errors import Transient

log = logging.getLogger(__name__)

# Called with (raw bytes, envelope sender, recipients); returns the letter id once committed.
Accept = Callable[[bytes, str, list[str]], Awaitable[int]]
# The bytes to keep, authenticated and stamped (gateway.trust.auth.Voucher).
Vouch = Callable[..., Awaitable[bytes]]


# What every store or program failure answers: 4xx, so the sending server keeps the message
# and tries again (a 5xx would bounce a letter that may be stored already, by another gateway
# process), and nothing of the failure itself (database text is not for a stranger).
TRY_AGAIN = ("451 4.3.0 ระบบรับหนังสือขัดข้องชั่วคราว กรุณาส่งใหม่ภายหลัง "
             "(temporary failure storing the message, try again later)")


def try_again(what: str, *args: object) -> str:
    """In an `except`: log the failure with its trace (for the administrator) and answer
    TRY_AGAIN (for the client). aiosmtpd's own handler would answer 500 with the
    exception's text."""
    log.exception(what, *args)
    return TRY_AGAIN


class CentralMailboxHandler:
    def __init__(self, central_addresses: tuple[str, ...], accept: Accept,
                 vouch: Vouch | None = None) -> None:
        self.central = {a.lower() for a in central_addresses}
        self.accept = accept
        self.vouch = vouch

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        local, _, domain = address.lower().rpartition("@")
        base = f"{local.partition('+')[0]}@{domain}"  # saraban+b.<token>@: bounces to VERP paths
        if address.lower() not in self.central and base not in self.central:
            log.info("refused recipient %s from %s", address, session.peer)
            return f"550 5.7.1 <{address}>: not a mailbox of this gateway (relaying denied)"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        if isinstance(data, str):  # aiosmtpd gives bytes unless decode_data=True; be strict
            data = data.encode("utf-8", "surrogateescape")
        try:
            if self.vouch is not None:
                peer = session.peer[0] if isinstance(session.peer, tuple) else None
                data = await self.vouch(data, ip=peer, helo=session.host_name or "",
                                        mail_from=envelope.mail_from or "")
            letter_id = await self.accept(data, envelope.mail_from or "", list(envelope.rcpt_tos))
        except (TimeoutError, Transient, OSError) as exc:
            log.warning("could not store message from %s: %s", envelope.mail_from, exc)
            return TRY_AGAIN
        except Exception:  # anything else is ours, never the sender's: see try_again
            return try_again("could not store message from %s", envelope.mail_from)
        return f"250 2.0.0 OK stored as letter {letter_id}"


def smtp_factory(handler: Any, *, hostname: str, data_size_limit: int, **options: Any) -> Callable[[], SMTP]:
    """aiosmtpd sessions as every server of the gateway runs them (the submission server adds
    its TLS and AUTH options)."""
    def make() -> SMTP:
        return SMTP(
            handler,
            hostname=hostname,
            ident="saraban-gateway",
            data_size_limit=data_size_limit,
            enable_SMTPUTF8=True,
            decode_data=False,
            **options,
        )

    return make


async def start_listener(
    handler: CentralMailboxHandler, *, host: str, port: int, hostname: str, data_size_limit: int
) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        smtp_factory(handler, hostname=hostname, data_size_limit=data_size_limit), host, port
    )
