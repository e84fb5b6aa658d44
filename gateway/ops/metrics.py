"""What `/metrics` shows, in the Prometheus text format, from a registry of the gateway's own.

Two kinds of number. What the store holds (letters by state, the reading queue, the oldest
letter not yet read, outbox rows by status) is read at scrape time, one query each: the
letter counts come from the index on `letters.state`, the oldest unread letter from the same
index (only the few `received` rows are visited); the outbox count scans its one table, with
no per-letter work; the newest backup comes from the audit log's index on its action. What happens (reading failures, send failures, alarms) is counted where
it happens, in this process: `Store.events` and the alarm channels; and the last good IMAP
round is what the watchers record in `MailboxHealth`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from gateway.intake.imap import MailboxHealth
from gateway.ops.backupwatch import last_backup
from gateway.state import LetterState
from gateway.store.handle import Store
from gateway.store.tables import Letter, OutboxItem

__all__ = ["CONTENT_TYPE", "AlarmRecord", "GatewayMetrics", "Snapshot", "read_snapshot"]

log = logging.getLogger("saraban-gateway.metrics")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OUTBOX_STATUSES = ("pending", "sending", "sent", "parked", "uncertain")


@dataclass(frozen=True)
class Snapshot:
    """The store's side, read at one scrape."""

    letters: dict[str, int]
    oldest_unread: dt.datetime | None
    outbox: dict[str, int]
    now: dt.datetime
    last_backup: dt.datetime | None = None


async def read_snapshot(store: Store) -> Snapshot:
    async with store.readers() as s:
        letters = {state: n for state, n in (await s.execute(
            select(Letter.state, func.count()).group_by(Letter.state))).all()}
        oldest = (await s.execute(select(func.min(Letter.created_at)).where(
            Letter.state == LetterState.RECEIVED))).scalar_one_or_none()
        outbox = {status: n for status, n in (await s.execute(
            select(OutboxItem.status, func.count()).group_by(OutboxItem.status))).all()}
    if oldest is not None and oldest.tzinfo is None:  # an aggregate comes back as stored (UTC)
        oldest = oldest.replace(tzinfo=dt.UTC)
    return Snapshot(letters, oldest, outbox, store.clock(), await last_backup(store))


@dataclass
class AlarmRecord:
    """Alarms raised by this process: how many, and the last one's time."""

    raised: int = 0
    last: dt.datetime | None = None

    def add(self, when: dt.datetime) -> None:
        self.raised += 1
        self.last = when


def _ts(when: dt.datetime) -> float:
    return when.timestamp()


@dataclass(eq=False)  # the registry keys its collectors by identity
class _Collector(Collector):
    metrics: GatewayMetrics
    snapshot: Snapshot | None = None

    def collect(self) -> Iterator[Metric]:
        m, snap = self.metrics, self.snapshot
        if snap is not None:
            letters = GaugeMetricFamily("saraban_letters", "Letters by state", labels=["state"])
            for state in LetterState:
                letters.add_metric([state.value], snap.letters.get(state.value, 0))
            yield letters
            yield GaugeMetricFamily("saraban_reading_queue_depth",
                                    "Letters received and not yet read and decided",
                                    value=snap.letters.get(LetterState.RECEIVED.value, 0))
            age = (snap.now - snap.oldest_unread).total_seconds() if snap.oldest_unread else 0.0
            yield GaugeMetricFamily("saraban_oldest_unregistered_age_seconds",
                                    "Age of the oldest letter received and not yet decided (0: none)",
                                    value=max(age, 0.0))
            outbox = GaugeMetricFamily("saraban_outbox", "Outbox rows by status", labels=["status"])
            for status in sorted({*OUTBOX_STATUSES, *snap.outbox}):
                outbox.add_metric([status], snap.outbox.get(status, 0))
            yield outbox
            yield GaugeMetricFamily("saraban_backup_last_success_timestamp_seconds",
                                    "When the newest `db backup` finished (Unix time; 0: none recorded)",
                                    value=_ts(snap.last_backup) if snap.last_backup else 0.0)
        rounds = GaugeMetricFamily("saraban_imap_last_success_timestamp_seconds",
                                   "When each IMAP mailbox last had a successful round (Unix time)",
                                   labels=["mailbox"])
        for name, when in sorted(m.mailboxes.last_ok.items()):
            rounds.add_metric([name], _ts(when))
        yield rounds
        events = m.store.events
        yield CounterMetricFamily("saraban_reading_failures", "Readings of a letter that failed",
                                  value=events.get("read_failed", 0))
        yield CounterMetricFamily("saraban_send_failures", "Outbox deliveries that failed",
                                  value=events.get("send_failed", 0))
        yield CounterMetricFamily("saraban_environment_faults",
                                  "Writes the environment refused (disk full, I/O error, read-only store)",
                                  value=events.get("environment_fault", 0))
        since = m.outage() if m.outage is not None else None
        yield GaugeMetricFamily("saraban_store_write_outage",
                                "1 while the store cannot write (disk full …): SMTP answers 451",
                                value=1.0 if since is not None else 0.0)
        yield GaugeMetricFamily("saraban_store_write_outage_since_timestamp_seconds",
                                "When the current write outage began (Unix time; 0: none)",
                                value=_ts(since) if since is not None else 0.0)
        yield CounterMetricFamily("saraban_alarms", "Alarms raised", value=m.alarms.raised)
        yield GaugeMetricFamily("saraban_last_alarm_timestamp_seconds",
                                "When the last alarm was raised (Unix time; 0: never)",
                                value=_ts(m.alarms.last) if m.alarms.last else 0.0)


@dataclass
class GatewayMetrics:
    """The gateway's metrics over one store; `render` reads the store and writes the text."""

    store: Store
    mailboxes: MailboxHealth
    alarms: AlarmRecord = field(default_factory=AlarmRecord)
    outage: Callable[[], dt.datetime | None] | None = None  # since when the store cannot write
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self._collector = _Collector(self)
        self.registry.register(self._collector)
        self._lock = asyncio.Lock()  # scrapes at once share the store's reads one at a time

    async def render(self) -> bytes:
        async with self._lock:
            try:
                self._collector.snapshot = await read_snapshot(self.store)
            except Exception as exc:  # a full disk may keep SQLite from opening: the rest still shows
                log.warning("metrics: the store could not be read: %s", exc)
                self._collector.snapshot = None
            return generate_latest(self.registry)
