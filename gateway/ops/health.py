"""`/healthz` and the endpoint as a whole: is the gateway doing its work?

Healthy (200, a small JSON body) when the store answers a query, the gateway's long-running
tasks (sender, housekeeping, the mailbox watchers) are all still running, and every enabled
IMAP mailbox had a successful round within `[intake] alarm_after_minutes` (since the start, for
one that has had none yet): the same rule as the alarm. Otherwise 503 with the reasons.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from sqlalchemy import text

from gateway.intake.imap import MailboxHealth
from gateway.ops.http import Response, serving
from gateway.ops.metrics import CONTENT_TYPE, GatewayMetrics
from gateway.store.handle import Store

__all__ = ["HealthCheck", "endpoint", "stale_mailboxes"]

log = logging.getLogger("saraban-gateway.health")

STORE_SECONDS = 5.0


def stale_mailboxes(store: Store, mailboxes: MailboxHealth, started: dt.datetime,
                    now: dt.datetime) -> dict[str, dt.datetime]:
    """The enabled mailboxes with no good round for `alarm_after_minutes`: when each last had one
    (or the start, for one that never had)."""
    s = store.settings
    limit = dt.timedelta(minutes=s.intake.alarm_after_minutes)
    out: dict[str, dt.datetime] = {}
    for m in s.imap:
        if m.enabled:
            last = mailboxes.last_ok.get(m.name, started)
            if now - last >= limit:
                out[m.name] = last
    return out


@dataclass
class HealthCheck:
    store: Store
    mailboxes: MailboxHealth
    started: dt.datetime
    on_stale: Callable[[set[str]], None] | None = None  # mailboxes overdue: the alarm need not wait
    tasks: list[asyncio.Task[None]] = field(default_factory=list)  # must not have ended
    problems: list[Callable[[], str | None]] = field(default_factory=list)  # e.g. a write outage

    async def _store_answers(self) -> str | None:
        try:
            async with self.store.readers() as s:
                await asyncio.wait_for(s.execute(text("SELECT 1")), STORE_SECONDS)
        except Exception as exc:  # any failure is the answer: unhealthy, with the reason
            return f"store: {type(exc).__name__}: {exc}"[:300]
        return None

    async def verdict(self) -> tuple[bool, dict[str, object]]:
        reasons: list[str] = []
        problem = await self._store_answers()
        if problem:
            reasons.append(problem)
        reasons += [p for p in (problem() for problem in self.problems) if p]
        for task in self.tasks:
            if task.done():
                reasons.append(f"task {task.get_name()} has stopped")
        now = self.store.clock()
        stale = stale_mailboxes(self.store, self.mailboxes, self.started, now)
        if stale and self.on_stale is not None:
            self.on_stale(set(stale))
        for name, last in stale.items():
            minutes = int((now - last).total_seconds() // 60)
            reasons.append(f"mailbox {name}: no successful round for {minutes} minutes")
        body: dict[str, object] = {
            "status": "ok" if not reasons else "fail",
            "mailboxes": {m.name: (self.mailboxes.last_ok[m.name].isoformat()
                                   if m.name in self.mailboxes.last_ok else None)
                          for m in self.store.settings.imap if m.enabled},
        }
        if reasons:
            body["reasons"] = reasons
        return not reasons, body

    async def response(self) -> Response:
        ok, body = await self.verdict()
        return Response(200 if ok else 503, json.dumps(body, ensure_ascii=False).encode() + b"\n",
                        "application/json")


@contextlib.asynccontextmanager
async def endpoint(check: HealthCheck, metrics: GatewayMetrics,
                   on_port: Callable[[int], None] | None = None) -> AsyncIterator[int]:
    """`/metrics` and `/healthz` on `[health] listen` for the length of the block; yields the
    bound port (0: off, or the address could not be bound: logged, the gateway runs on)."""
    cfg = check.store.settings.health
    if not cfg.listen:
        yield 0
        return

    async def metrics_route() -> Response:
        return Response(200, await metrics.render(), CONTENT_TYPE)

    routes = {"/metrics": metrics_route, "/healthz": check.response}
    try:
        server = serving(cfg.host, cfg.port, routes)
        port = await server.__aenter__()
    except OSError as exc:
        log.error("health endpoint: cannot listen on %s: %s; running without it", cfg.listen, exc)
        yield 0
        return
    log.info("health endpoint on http://%s:%d/metrics and /healthz", cfg.host, port)
    if on_port is not None:
        on_port(port)
    try:
        yield port
    finally:
        await server.__aexit__(None, None, None)
