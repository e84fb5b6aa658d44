"""A write outage: the store cannot write for a reason of the environment (gateway/envfaults.py).

While it lasts the gateway stays up: the SMTP listener answers 451 (the sending server tries
again later), and the work that failed (preparing the store at start, finishing the letters a
crash or the outage left, each letter the workers carry) waits and is tried again, with backoff
from FIRST_WAIT doubling to MAX_WAIT, sooner when space comes back: the data volume's free space
is looked at every POLL seconds, and a write that goes through anywhere (a letter taken in over
SMTP) wakes every waiter at once. No attempt of a letter is used up.

Once per episode (one that begins within QUIET of the last is the same trouble, and is only
logged): one log line in English and Thai, and the alarm through `[alarm]`'s command
and webhook (gateway/ops/alarm.py), counted in /metrics. The alarm mail cannot be queued while
the store cannot write (it is a row and a file on the same volume): it is queued once the store
writes again, and says when the outage began and ended.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import jinja2

from gateway.core.compose import render
from gateway.envfaults import describe
from gateway.ops.alarm import AlarmOut
from gateway.outbound.sender import agency_mail, queue_mail
from gateway.store.handle import Store
from gateway.thai import BANGKOK, format_short_date, format_time

__all__ = ["Episode", "Outage"]

log = logging.getLogger("saraban-gateway")

T = TypeVar("T")

FIRST_WAIT = 0.5
MAX_WAIT = 30.0
POLL = 1.0
SPACE_BACK = 1 << 20  # this much more free space than at the last failure: try again at once
QUIET = dt.timedelta(minutes=10)  # an outage this soon after the last is not alarmed again
TEMPLATE = "store-alarm"


@dataclass
class Episode:
    since: dt.datetime
    error: str
    until: dt.datetime | None = None
    alarmed: bool = True  # False: it came within QUIET of the last one


def _when(at: dt.datetime) -> str:
    local = at.astimezone(BANGKOK)
    return f"{format_short_date(local.date())} {format_time(local)}"


@dataclass
class Outage:
    """The current write outage of one gateway process (None when the store writes)."""

    store: Store
    templates: jinja2.Environment
    out: AlarmOut | None = None
    current: Episode | None = None
    ended: list[Episode] = field(default_factory=list)  # their mail not queued yet
    on_cleared: list[Callable[[], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._wake = asyncio.Event()
        self._free_at_fault = 0
        self._last_end: dt.datetime | None = None
        self._alarms: set[asyncio.Task[None]] = set()

    @property
    def since(self) -> dt.datetime | None:
        return self.current.since if self.current is not None else None

    def _free(self) -> int:
        try:
            st = os.statvfs(self.store.settings.data_path)
        except OSError:
            return 0
        return st.f_bavail * st.f_frsize

    def fault(self, exc: BaseException, what: str) -> None:
        """The store refused a write for a reason of the environment (`what` was being done)."""
        self.store.events["environment_fault"] += 1
        self._free_at_fault = self._free()
        error = describe(exc)
        if self.current is not None:
            self.current.error = error
            log.info("the store still cannot write (%s; at: %s): waiting", error, what)
            return
        now = self.store.clock()
        # a disk that is nearly full lets small writes through between failures: within QUIET
        # of the last outage this is the same trouble, logged but not alarmed (or mailed) again
        again = self._last_end is not None and now - self._last_end < QUIET
        self.current = Episode(now, error, alarmed=not again)
        if again:
            log.warning("the store cannot write again (%s; at: %s): waiting — ระบบเขียนข้อมูลไม่ได้อีกครั้ง",
                        error, what)
            return
        log.error("ALARM: the store cannot write (%s; at: %s); the gateway stays up, SMTP answers 451, "
                  "and the letters kept are retried once it can write — ระบบเขียนข้อมูลไม่ได้ "
                  "(พื้นที่ดิสก์เต็มหรือดิสก์ขัดข้อง) ที่ %s รอจนเขียนได้แล้วทำต่อ",
                  error, what, self.store.settings.data_path)
        if self.out is not None:  # the command and webhook need no space on the volume
            task = asyncio.get_running_loop().create_task(self._alarm(self.current))
            self._alarms.add(task)
            task.add_done_callback(self._alarms.discard)

    def _context(self, ep: Episode) -> dict[str, object]:
        s = self.store.settings
        return {"since": _when(ep.since), "until": _when(ep.until) if ep.until else None,
                "minutes": int(((ep.until or ep.since) - ep.since).total_seconds() // 60),
                "error": ep.error, "data_dir": str(s.data_path), "database": s.database_url.split("://")[0]}

    async def _alarm(self, ep: Episode) -> None:
        assert self.out is not None
        try:
            subject, body = render(self.templates, TEMPLATE, self._context(ep))
            await self.out.send(subject, body, when=ep.since, about={
                "fault": "store", "since": ep.since.isoformat(), "error": ep.error})
        except Exception:  # the alarm is a side channel: never the reason a step fails
            log.exception("the store alarm could not be sent")

    def cleared(self) -> None:
        """A write went through: the outage (if any) is over; every waiter tries again now."""
        if self.current is None:
            return
        ep, self.current = self.current, None
        ep.until = self._last_end = self.store.clock()
        if ep.alarmed:
            self.ended.append(ep)
        log.warning("the store writes again after %.0f s (since %s): going on — ระบบเขียนข้อมูลได้แล้ว ทำงานต่อ",
                    (ep.until - ep.since).total_seconds(), ep.since.isoformat())
        self._wake.set()
        self._wake = asyncio.Event()
        for call in self.on_cleared:
            call()

    async def pause(self, seconds: float, stop: asyncio.Event) -> None:
        """Wait `seconds`, or less: until stopped, woken by a write elsewhere, or space came back."""
        loop = asyncio.get_running_loop()
        wake, end = self._wake, loop.time() + seconds
        while not stop.is_set() and not wake.is_set():
            left = end - loop.time()
            if left <= 0 or self._free() > self._free_at_fault + SPACE_BACK:
                return
            waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
            try:
                await asyncio.wait(waits, timeout=min(POLL, left), return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits:
                    w.cancel()

    async def retry(self, step: Callable[[], Awaitable[T]], stop: asyncio.Event,
                    what: str, faulty: Callable[[BaseException], bool]) -> tuple[bool, T | None]:
        """`step` until it goes through (True, its result) or `stop` is set (False, None).
        Only failures `faulty` calls the environment's are waited out; others are raised."""
        wait = FIRST_WAIT
        while True:
            try:
                result = await step()
            except Exception as exc:
                if not faulty(exc):
                    raise
                self.fault(exc, what)
                await self.pause(wait, stop)
                if stop.is_set():
                    return False, None
                wait = min(wait * 2, MAX_WAIT)
                continue
            self.cleared()
            return True, result

    async def mail_ended(self, *, wake_sender: asyncio.Event | None = None) -> int:
        """Queue the alarm mail of each outage that is over (it could not be queued during it)."""
        store, sent = self.store, 0
        s = store.settings
        while self.ended:
            ep = self.ended[0]
            mail = agency_mail(s, TEMPLATE, self._context(ep), to=[s.agency.central_addresses[0]],
                               key=f"alarm:store:{ep.since.isoformat()}")
            async with store.sessions.begin() as sess:
                await queue_mail(sess, store, self.templates, mail, kind="alarm", now=store.clock())
            self.ended.pop(0)
            sent += 1
        if sent and wake_sender is not None:
            wake_sender.set()
        return sent
