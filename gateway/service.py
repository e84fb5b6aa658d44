"""`saraban-gateway run`: the long-lived service and its task group.

Starts the store (migrating an embedded SQLite on first run), the SMTP listener
and the background loops, tells the operator where to send mail, and stops
cleanly on SIGINT/SIGTERM: signals only set the stop event (house style 11).
"""

from __future__ import annotations

import asyncio
import logging
import signal

from sqlalchemy.exc import OperationalError

from gateway.app import Store, open_store
from gateway.config import Settings
from gateway.errors import Transient
from gateway.intake.smtp import CentralMailboxHandler, start_listener
from store.letters import record_raw
from store.blobs import sha256_hex

log = logging.getLogger("saraban-gateway")


async def accept_smtp(store: Store, data: bytes, mail_from: str, rcpts: list[str]) -> int:
    """Durably keep one message that arrived over SMTP; returns its letter id."""
    try:
        async with store.sessions.begin() as s:
            rec = await record_raw(
                s,
                store.blobs,
                channel="smtp",
                source_key=f"smtp:{sha256_hex(data)}",
                data=data,
                now=store.clock(),
                envelope_from=mail_from,
                envelope_to=rcpts,
            )
    except OperationalError as exc:
        raise Transient(str(exc)) from exc
    return rec.letter_id


def banner(settings: Settings, port: int) -> str:
    s = settings.smtp_listener
    to = ", ".join(settings.agency.central_addresses)
    lines = [
        f"saraban-gateway พร้อมทำงาน — {settings.agency.name_th}",
        f"  ส่งหนังสือทางอีเมลถึง {to} ผ่านเซิร์ฟเวอร์ SMTP {s.host} พอร์ต {port}",
        f"  Send letters by e-mail to {to} through SMTP server {s.host} port {port}",
        f"  เช่น / e.g.: swaks --server {s.host}:{port} --to {settings.agency.central_addresses[0]} "
        "--attach @letter.pdf",
        f"  ฐานข้อมูล (database): {settings.database_url.split('://')[0]}  "
        f"โฟลเดอร์ข้อมูล (data): {settings.data_path}",
        f"  จดหมายขาออก (outgoing mail): "
        + (f"{settings.outbox_path} (.eml)" if settings.relay.mode == "outbox-folder"
           else f"{settings.relay.host}:{settings.relay.port}"),
        "  กด Ctrl+C เพื่อหยุด (Ctrl+C to stop)",
    ]
    return "\n".join(lines)


async def serve(settings: Settings, *, ready: asyncio.Future[int] | None = None,
                stop: asyncio.Event | None = None) -> int:
    """Run until `stop` is set (or a signal); `ready` gets the SMTP listener's bound port."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command at INFO
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # not the main thread (tests)
            pass
    store = await open_store(settings, upgrade=True)
    servers: list[asyncio.Server] = []
    port = 0
    try:
        if settings.smtp_listener.enabled:
            handler = CentralMailboxHandler(
                settings.agency.central_addresses,
                lambda data, frm, rcpts: accept_smtp(store, data, frm, rcpts),
            )
            l = settings.smtp_listener
            server = await start_listener(
                handler, host=l.host, port=l.port, hostname=l.hostname,
                data_size_limit=l.max_message_bytes,
            )
            servers.append(server)
            port = server.sockets[0].getsockname()[1]
            print(banner(settings, port), flush=True)
        if ready is not None:
            ready.set_result(port)
        await stop.wait()
        log.info("stopping")
        return 0
    finally:
        for srv in servers:
            srv.close()
            await srv.wait_closed()
        await store.close()
