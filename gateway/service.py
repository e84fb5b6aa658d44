"""`saraban-gateway run` and `ingest --once`: the long-lived service and the one-shot sweep.

Both take their parts from the composition root (`gateway.app.assembled`) and only
sequence and run them. `run` opens the store, opens the SMTP listener and the submission
server at once, then prepares the store (migrating an embedded SQLite on first run, syncing
books and units) and runs under one task group: the outbox sender, the housekeeping loop
(mailbox alarm, reservation expiry), and intake: first the letters a crash left half-way, in
arrival order, then the letter workers and one watcher per IMAP mailbox, so a letter taken in
meanwhile (kept durably) is numbered after the backlog. (The SMTP port used to stay closed until
the backlog was done.) Signals only set the stop event (house style 11).

A full disk, or another fault of the environment (gateway/envfaults.py), never ends the
process: until the store can write, the listeners answer 451, and preparing the store, the
backlog, each letter and each long-running part wait and are tried again with backoff
(gateway/ops/outage.py), with one alarm per outage. Before, every start on a full disk failed
before the listener opened, and a supervisor's restarts made a crash loop.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import signal
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError, OperationalError

from gateway.app import App, assembled, build_app, open_store, prepare_store
from gateway.config import Settings
from gateway.envfaults import EnvironmentFault, describe, is_environmental
from gateway.errors import Transient
from gateway.inbound.attempts import retry_stalled
from gateway.inbound.pipeline import Pipeline
from gateway.intake.imap import MailboxHealth
from gateway.intake.submission import own_certificate
from gateway.ops.alarm import AlarmOut
from gateway.ops.alarm_mail import sound
from gateway.ops.backupwatch import BackupWatch
from gateway.ops.health import HealthCheck, endpoint, stale_mailboxes
from gateway.ops.logs import logging_set_up
from gateway.ops.metrics import GatewayMetrics
from gateway.ops.outage import Outage
from gateway.progress import SILENT, Progress
from gateway.reconnect import wait_either
from gateway.reports.digest import send_digest_if_due
from gateway.store import leases, registers
from gateway.store.blobs import sha256_hex
from gateway.store.db import is_disconnect, retrying
from gateway.store.handle import Store
from gateway.store.letters import put_blobs, record_raw
from gateway.thai import BANGKOK, format_short_date, format_time

log = logging.getLogger("saraban-gateway")


async def accept_smtp(store: Store, data: bytes, mail_from: str, rcpts: list[str]) -> int:
    """Durably keep one message that arrived over SMTP; returns its letter id."""
    try:
        (digest,) = await put_blobs(store.blobs, data)
        async with store.sessions.begin() as s:
            rec = await record_raw(
                s,
                store.blobs,
                digest=digest,
                channel="smtp",
                source_key=f"smtp:{sha256_hex(data)}",
                data=data,
                now=store.clock(),
                envelope_from=mail_from,
                envelope_to=rcpts,
            )
    except OperationalError as exc:
        raise Transient(str(exc)) from exc
    except Exception as exc:  # a read-only PostgreSQL is an InternalError: still "try again later"
        if is_environmental(exc):
            raise EnvironmentFault(describe(exc)) from exc
        raise
    return rec.letter_id


def banner(settings: Settings, port: int, submission_port: int = 0, health_port: int = 0) -> str:
    s = settings.smtp_listener
    to = ", ".join(settings.agency.central_addresses)
    lines = [f"saraban-gateway พร้อมทำงาน — {settings.agency.name_th}"]
    if s.enabled:
        lines += [
            f"  ส่งหนังสือทางอีเมลถึง {to} ผ่านเซิร์ฟเวอร์ SMTP {s.host} พอร์ต {port}",
            f"  Send letters by e-mail to {to} through SMTP server {s.host} port {port}",
            f"  เช่น / e.g.: swaks --server {s.host}:{port} --to {settings.agency.central_addresses[0]} "
            "--attach @letter.pdf",
        ]
    if submission_port:
        sub = settings.submission
        lines += [
            f"  ส่งหนังสือออก: ตั้งเซิร์ฟเวอร์ขาออกของโปรแกรมอีเมลเป็น {sub.host} พอร์ต {submission_port} "
            "(STARTTLS, ต้องเข้าสู่ระบบ)",
            f"  Outgoing letters: set your mail client's outgoing server to {sub.host}:{submission_port} "
            "(STARTTLS, authentication required)",
        ]
        own = own_certificate(settings)
        if own is not None:
            lines += [
                f"    นำเข้าใบรับรอง {own} ในโปรแกรมอีเมลของเจ้าหน้าที่ (Thunderbird: ตั้งค่า ▸ ความเป็นส่วนตัวและ"
                "ความปลอดภัย ▸ จัดการใบรับรอง ▸ หน่วยงาน ▸ นำเข้า ▸ เชื่อถือ CA นี้เพื่อระบุเว็บไซต์)",
                f"    import the certificate {own} into each clerk's mail client as a trusted authority",
            ]
    elif settings.submission.enabled:
        lines.append("  ส่งหนังสือออกจากโปรแกรมอีเมล: เพิ่มผู้ใช้ใน [[submission.users]] (saraban-gateway passwd) "
                     "/ to send from a mail client, add [[submission.users]]")
    for m in settings.imap:
        if m.enabled:
            lines.append(f"  เฝ้ากล่องจดหมาย (watching) {m.user} ที่ {m.host}:{m.port}/{m.mailbox}")
    if health_port:
        host = settings.health.host
        lines.append(f"  สถานะระบบ (health): http://{host}:{health_port}/healthz  "
                     f"ตัวเลข (metrics): http://{host}:{health_port}/metrics")
    lines += [
        f"  ฐานข้อมูล (database): {settings.database_url.split('://')[0]}  "
        f"โฟลเดอร์ข้อมูล (data): {settings.data_path}",
        "  จดหมายขาออก (outgoing mail): "
        + (f"{settings.outbox_path} (.eml)" if settings.relay.mode == "outbox-folder"
           else f"{settings.relay.host}:{settings.relay.port}"),
        "  กด Ctrl+C เพื่อหยุด (Ctrl+C to stop)",
    ]
    return "\n".join(lines)


ALARM_HELD = dt.timedelta(days=1)  # an outage's alarm claim, unless its process says it is over


@dataclass
class Alarm:
    """Raises the alarm once per outage when a mailbox has not been checked for too long: a mail
    to the central mailbox and, first (the mailbox may be what is down), `[alarm]`'s command
    and webhook (gateway/ops/alarm.py), counted in /metrics."""

    pipeline: Pipeline
    health: MailboxHealth
    started: dt.datetime
    raised: dict[str, dt.datetime]
    out: AlarmOut | None = None
    backups: BackupWatch | None = None  # [backup] max_age_hours (gateway/ops/backupwatch.py)

    def __post_init__(self) -> None:
        self.holder = leases.local_holder(self)

    async def check(self) -> list[str]:
        store = self.pipeline.store
        s = store.settings
        now = store.clock()
        stale = stale_mailboxes(store, self.health, self.started, now)
        fired: list[str] = []
        for m in s.imap:
            if not m.enabled:
                continue
            if m.name not in stale:
                if self.raised.pop(m.name, None) is not None:
                    await self._claim(m.name, now, release=True)
                continue
            if m.name in self.raised:
                continue
            self.raised[m.name] = now
            if not await self._claim(m.name, now):
                log.info("mailbox %s overdue: another gateway process has raised the alarm", m.name)
                continue
            last = stale[m.name]
            minutes = int((now - last).total_seconds() // 60)
            error = self.health.last_error.get(m.name, "")
            log.error("ALARM: mailbox %s not checked for %d minutes (%s)", m.name, minutes, error,
                      extra={"mailbox": m.name})
            local = last.astimezone(BANGKOK)
            context = {"mailbox": m.name, "host": m.host, "minutes": minutes, "error": error,
                       "since": f"{format_short_date(local.date())} {format_time(local)}"}
            await sound(store, self.pipeline.templates, self.out, template="alarm", context=context,
                        about={"mailbox": m.name, "minutes": minutes, "since": last.isoformat()},
                        key=f"alarm:{m.name}:{last.isoformat()}", now=now,
                        wake=self.pipeline.wake_sender)
            fired.append(m.name)
        if self.backups is not None and await self.backups.check():
            fired.append("backup")
        return fired

    async def _claim(self, mailbox: str, now: dt.datetime, *, release: bool = False) -> bool:
        """Whether this process raises the alarm for `mailbox`: when a mailbox is away, every
        gateway process on the store finds it overdue, and the first to claim it (a lease in
        the store, held for the outage) is the one that raises it; `release`: the outage is
        over here. A store that cannot answer lets this process raise it: twice beats never."""
        name = f"alarm:{mailbox}"
        sessions = self.pipeline.store.sessions
        try:
            if release:
                await leases.let_go(sessions, name=name, holder=self.holder)
                return False
            return await leases.claim(sessions, name=name, holder=self.holder, now=now, ttl=ALARM_HELD)
        except DBAPIError as exc:
            if not is_environmental(exc) and not is_disconnect(exc):
                raise
            log.warning("alarm for %s: the store cannot say whether another process raised it: %r",
                        mailbox, exc)
            return not release


async def _housekeeping(pipeline: Pipeline, alarm: Alarm, stop: asyncio.Event,
                       wake: asyncio.Event | None = None, outage: Outage | None = None,
                       idle: Callable[[], bool] = lambda: False) -> None:
    """Every minute, or at once when woken (/healthz found a mailbox overdue: alarm now; the
    store writes again: the mail about the outage can be queued now). When the listeners'
    letters are all taken (`idle`), the undecided ones are tried again (inbound/attempts.py)."""
    store = pipeline.store
    wake = wake or asyncio.Event()
    holder = leases.local_holder(pipeline)
    while not stop.is_set():
        wake.clear()
        try:
            if outage is not None:
                await outage.mail_ended(wake_sender=pipeline.wake_sender)
            await alarm.check()
            async with store.sessions.begin() as s:
                expired = await registers.expire_reservations(s, now=store.clock())
            if expired:
                log.info("expired reservations: %s", expired)
            await _follow_up(pipeline)
            if idle():
                await retry_stalled(store, pipeline.process, holder=holder)
        except Exception as exc:
            if outage is not None and is_environmental(exc):
                outage.fault(exc, "housekeeping")  # one line; tried again in a minute
            else:
                log.exception("housekeeping failed")
        await wait_either(stop, wake, 60)



async def _follow_up(pipeline: Pipeline) -> None:
    """Reminders to units that have not accepted, and the daily digest when it is due."""
    if await pipeline.units.remind_due() and pipeline.wake_sender is not None:
        pipeline.wake_sender.set()
    if await send_digest_if_due(pipeline.store, pipeline.templates) and pipeline.wake_sender is not None:
        pipeline.wake_sender.set()


async def _worker(process: Callable[[int], Awaitable[str]], queue: asyncio.Queue[int],
                  stop: asyncio.Event, what: str, outage: Outage) -> None:
    """Take ids off a queue (letters the listeners stored) and carry each as far as it goes.
    One the environment stops (a full disk) is tried again, in its place in the queue, once
    the store can write: nothing behind it goes first, and none of its attempts is used up."""
    while not stop.is_set():
        try:
            letter_id = await asyncio.wait_for(queue.get(), 1.0)
        except TimeoutError:
            continue
        try:
            # a database restart (seconds) is waited out as the unit of work retries do
            # (store/db.retrying); a full disk for as long as it lasts (outage.retry)
            step = functools.partial(retrying, functools.partial(process, letter_id),
                                     what=f"{what} {letter_id}")
            done, state = await outage.retry(step, stop, f"{what} {letter_id}", is_environmental)
        # The task guard (house style 5): one bad letter must not stop the worker.
        except Exception:
            log.exception("%s %s failed; left undecided: an incoming letter is tried again "
                          "while the gateway runs, an outgoing one at the next start", what, letter_id,
                          extra={"letter_id": letter_id})
        else:
            if done:
                log.info("%s %s: %s", what, letter_id, state, extra={"letter_id": letter_id})


async def _kept_up(run: Callable[[], Awaitable[None]], outage: Outage, stop: asyncio.Event,
                   what: str) -> None:
    """A long-running part (the sender, a mailbox watcher) that the environment failed is
    started again once the store can write, instead of ending the task group (the gateway)."""
    await outage.retry(run, stop, what, is_environmental)


async def _start(app: App, progress: Progress = SILENT) -> None:
    """Start the readers, and finish what a crash left half-way: letters received but not
    decided, submissions not answered."""
    app.pipeline.warm_up()  # the first letter after a start does not wait for a reader to start
    await _resume(app, progress)


async def _resume(app: App, progress: Progress = SILENT) -> None:
    await app.pipeline.resume(progress)
    await app.outbound.resume()


async def _intake(app: App, letters: asyncio.Queue[int], outgoing: asyncio.Queue[int],
                  stop: asyncio.Event, tg: asyncio.TaskGroup, outage: Outage) -> bool:
    """The backlog a crash left (in arrival order), then what the listeners queue meanwhile
    and the mailboxes: a letter that came later is not numbered before one kept earlier.
    The listeners already accept mail while this runs; it is durable, and waits its turn.
    A full disk is waited out (gateway/ops/outage.py), then the backlog is finished."""
    try:
        done, _ = await outage.retry(functools.partial(_resume, app), stop,
                                     "finishing the letters left half-way", is_environmental)
    except Exception:  # the task guard (house style 5): intake goes on; retried on restart
        log.exception("finishing the letters left half-way failed; they will be retried on restart")
        done = True
    if not done or stop.is_set():
        return False
    tg.create_task(_worker(app.pipeline.process, letters, stop, "letter", outage))
    tg.create_task(_worker(app.outbound.process, outgoing, stop, "outgoing letter", outage))
    for watcher in app.watchers():
        tg.create_task(_kept_up(functools.partial(watcher.run, stop), outage, stop,
                                f"mailbox {watcher.cfg.name}"))
    return True


async def serve(settings: Settings, *, ready: asyncio.Future[int] | None = None,
                stop: asyncio.Event | None = None, store: Store | None = None,
                ready_ports: dict[str, int] | None = None) -> int:
    """Run until `stop` is set (or a signal); `ready` gets the SMTP listener's bound port,
    `ready_ports` every port ("smtp", "submission", "health"; 0: not listening)."""
    with logging_set_up(settings):
        return await _serve(settings, ready=ready, stop=stop, store=store, ready_ports=ready_ports)


async def _serve(settings: Settings, *, ready: asyncio.Future[int] | None, stop: asyncio.Event | None,
                 store: Store | None, ready_ports: dict[str, int] | None) -> int:
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread (tests)
            pass
    opened = store if store is not None else await _open(settings, stop)
    if opened is None:  # stopped while waiting for the data folder
        return 0
    try:
        await _run(build_app(settings, opened), stop, prepared=store is not None, ready=ready,
                   ready_ports=ready_ports)
    finally:
        if store is None:
            await opened.close()
    return 0


async def _open(settings: Settings, stop: asyncio.Event) -> Store | None:
    """The store opened, not prepared yet. Only a first start on a full disk (no secret.key
    yet) waits here, before the listener opens, with backoff (None: stopped meanwhile)."""
    wait = 0.5
    while True:
        try:
            return await open_store(settings, prepare=False)
        except Exception as exc:
            if not is_environmental(exc):
                raise
            log.error("ALARM: the data folder %s cannot be written (%s): waiting — "
                      "โฟลเดอร์ข้อมูลเขียนไม่ได้ (พื้นที่ดิสก์เต็มหรือดิสก์ขัดข้อง) รอจนเขียนได้",
                      settings.data_path, describe(exc))
        await wait_either(stop, asyncio.Event(), wait)
        if stop.is_set():
            return None
        wait = min(wait * 2, 30.0)


async def _run(app: App, stop: asyncio.Event, *, prepared: bool, ready: asyncio.Future[int] | None,
               ready_ports: dict[str, int] | None) -> None:
    """The listeners open first; the store is prepared (migrated, books and units synced)
    after, so that on a full disk it waits while the listener answers 451 (a lent store is
    prepared already)."""
    settings = app.settings
    run = _Run(app, stop, Outage(app.store, app.templates, AlarmOut(settings.alarm)))
    if prepared:
        run.store_open.set()
    async with app.listening(accept=run.accept, submit=run.submit) as ports, \
            endpoint(run.health, run.metrics) as health_port:
        if ready_ports is not None:
            ready_ports["smtp"], ready_ports["submission"] = ports.smtp, ports.submission
            ready_ports["health"] = health_port
        async with asyncio.TaskGroup() as tg:
            starting = tg.create_task(run.start(tg), name="start")
            await _first(run.started, stop)
            print(banner(settings, ports.smtp, ports.submission, health_port), flush=True)
            if ready is not None:
                ready.set_result(ports.smtp)
            await stop.wait()
            log.info("stopping")
            starting.cancel()  # a letter cut short is finished at the next start


async def _first(*events: asyncio.Event) -> None:
    waits = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


class _Run:
    """One run of the service over its parts: the listeners' entry points, the health endpoint,
    and the start (prepare the store, then the sender, housekeeping, backlog and intake)."""

    def __init__(self, app: App, stop: asyncio.Event, outage: Outage) -> None:
        self.app, self.stop, self.outage = app, stop, outage
        self.letters: asyncio.Queue[int] = asyncio.Queue()
        self.outgoing: asyncio.Queue[int] = asyncio.Queue()
        self.store_open = asyncio.Event()  # prepared: the listeners may keep mail
        self.started = asyncio.Event()  # prepared, or waiting for the store to write
        self.resumed = asyncio.Event()  # the backlog a crash left is done: the queue is in use
        self.began = app.store.clock()
        self.housekeeping = asyncio.Event()
        self.raised: dict[str, dt.datetime] = {}
        out = outage.out or AlarmOut(app.settings.alarm)
        self.metrics = GatewayMetrics(app.store, app.health, out.record, outage=lambda: outage.since)
        self.health = HealthCheck(app.store, app.health, self.began, on_stale=self._overdue,
                                  problems=[self._store_problem])
        outage.on_cleared.append(self.housekeeping.set)  # its mail can be queued now
        app.pipeline.warm_up()  # the first letter after a start does not wait for a reader

    def _overdue(self, names: set[str]) -> None:  # woken once per outage, not at every probe
        if names - self.raised.keys():
            self.housekeeping.set()

    def _store_problem(self) -> str | None:
        ep = self.outage.current
        return None if ep is None else f"store cannot write since {ep.since.isoformat()}: {ep.error}"

    def _closed(self) -> None:
        if not self.store_open.is_set():
            raise EnvironmentFault("the store is not ready to write yet")

    async def _keep(self, keep: Awaitable[int], what: str) -> int:
        """A message kept by a listener; the environment's failure is a Transient (451) and
        part of the outage, a success ends it (the letters waiting for the store go on now)."""
        try:
            letter_id = await keep
        except Exception as exc:
            if not is_environmental(exc):
                raise
            self.outage.fault(exc, f"{what} was answered 451")
            raise EnvironmentFault(describe(exc)) from exc
        self.outage.cleared()
        return letter_id

    async def accept(self, data: bytes, frm: str, rcpts: list[str]) -> int:
        self._closed()
        letter_id = await self._keep(accept_smtp(self.app.store, data, frm, rcpts), "an SMTP letter")
        log.info("letter %s taken in over SMTP from %s", letter_id, frm, extra={"letter_id": letter_id})
        self.letters.put_nowait(letter_id)
        return letter_id

    async def submit(self, data: bytes, frm: str, rcpts: list[str], user: str) -> int:
        self._closed()
        letter_id = await self._keep(self.app.outbound.accept(data, frm, rcpts, user), "a submission")
        self.outgoing.put_nowait(letter_id)
        return letter_id

    async def _prepare(self) -> None:
        try:
            await prepare_store(self.app.store, upgrade=True)
        finally:
            self.started.set()  # the banner either way: a full disk is waited out with it open

    async def start(self, tg: asyncio.TaskGroup) -> None:
        app, stop, outage = self.app, self.stop, self.outage
        if not self.store_open.is_set():
            done, _ = await outage.retry(self._prepare, stop, "preparing the store", is_environmental)
            if not done:
                return
            self.store_open.set()
        self.started.set()
        alarm = Alarm(app.pipeline, app.health, self.began, self.raised, outage.out,
                      BackupWatch(app.store, app.pipeline.templates, self.began, outage.out, app.wake_sender))
        self.health.tasks += [
            tg.create_task(_kept_up(functools.partial(app.sender.run, stop=stop, wake=app.wake_sender),
                                    outage, stop, "the outbox sender"), name="sender"),
            tg.create_task(_housekeeping(app.pipeline, alarm, stop, self.housekeeping, outage,
                                         idle=lambda: self.resumed.is_set() and self.letters.empty()),
                           name="housekeeping")]
        # the backlog in the background: the listeners answer from the start
        if await _intake(app, self.letters, self.outgoing, stop, tg, outage):
            self.resumed.set()


async def ingest_once(settings: Settings, *, store: Store | None = None,
                      progress: Progress = SILENT) -> dict[str, int]:
    """Process everything waiting (SMTP-received letters, every IMAP mailbox), send due mail;
    how far it got goes to `progress` (a bar on the administrator's terminal)."""
    async with assembled(settings, store=store) as app:
        before = await _state_counts(app.store)
        await _start(app, progress)
        for watcher in app.watchers():
            if not await watcher.sweep(progress):
                log.warning("mailbox %s is being worked by a running gateway; skipped", watcher.cfg.name)
        await _follow_up(app.pipeline)
        sent = await app.sender.drain(progress)
        if sent is None:
            log.warning("a running gateway is sending this store's mail; sending skipped")
        after = await _state_counts(app.store)
        summary = {k: after.get(k, 0) - before.get(k, 0) for k in after}
        summary["sent"] = sent or 0
        return summary


async def _state_counts(store: Store) -> dict[str, int]:
    from sqlalchemy import func, select

    from gateway.store.tables import Letter

    async with store.readers() as s:
        rows = (await s.execute(select(Letter.state, func.count()).group_by(Letter.state))).all()
    return dict(Counter({state: n for state, n in rows}))
