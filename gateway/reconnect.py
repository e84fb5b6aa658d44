"""Reconnecting after an outage: the schedule of attempts, and a log that does not flood.

Used by the IMAP watcher (gateway/intake/imap.py) and the relay transport
(gateway/outbound/sender.py). Durations are the event loop's monotonic time, not the clock of
the letters (gateway/clock.py): nothing here is dated or stored.
"""

from __future__ import annotations

import asyncio
import logging
import random

log = logging.getLogger(__name__)

__all__ = ["Outage", "wait_either"]


class Outage:
    """The reconnect schedule and its log for one connection: an outage is logged when it is
    noticed, at most once a minute while it lasts, and when it is over (not at every attempt).

    While the server is away (refused, lost, not answering) the attempts come 0.5, 1, 2, then
    every 3 s, each with up to a quarter more at random (so several gateways do not knock in
    step): the first letter after the mailbox returns is taken in within about 5 s. A server
    that answers NO is asked again after 1, 2, 4 … 60 s."""

    AWAY_STEPS = (0.5, 1.0, 2.0, 3.0)
    REFUSED_CAP = 60.0
    TELL_EVERY = 60.0

    def __init__(self, what: str, rng: random.Random | None = None,
                 extra: dict[str, object] | None = None) -> None:
        self.what = what
        self.extra = extra or {}
        self.rng = rng or random.Random()
        self.since: float | None = None
        self.attempts = 0
        self._told = 0.0

    def delay(self, *, away: bool) -> float:
        n = max(0, self.attempts - 1)
        base = self.AWAY_STEPS[min(n, len(self.AWAY_STEPS) - 1)] if away \
            else min(self.REFUSED_CAP, 2.0 ** min(n, 6))
        return base * (1 + self.rng.uniform(0, 0.25))

    def failed(self, exc: BaseException | str, *, away: bool, now: float | None = None) -> float:
        now = _now() if now is None else now
        self.attempts += 1
        delay = self.delay(away=away)
        if self.since is None:
            self.since = self._told = now
            log.warning("%s: %s; reconnecting in %.1f s", self.what, exc, delay, extra=self.extra)
        elif now - self._told >= self.TELL_EVERY:
            self._told = now
            log.warning("%s: still failing after %d attempts in %.0f s: %s", self.what, self.attempts,
                        now - self.since, exc, extra=self.extra)
        else:
            log.debug("%s: attempt %d failed: %s", self.what, self.attempts, exc, extra=self.extra)
        return delay

    def over(self, now: float | None = None) -> None:
        if self.since is not None:
            now = _now() if now is None else now
            log.info("%s: working again after %.1f s (%d attempts)", self.what, now - self.since,
                     self.attempts, extra=self.extra)
        self.since, self.attempts = None, 0


def _now() -> float:
    return asyncio.get_running_loop().time()


async def wait_either(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    """Until `stop` or `wake` is set, or `seconds` have passed (the pause between rounds of
    the sender, the housekeeping and the reconnecting parts)."""
    waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
