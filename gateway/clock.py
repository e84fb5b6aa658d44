"""The one way the gateway reads the time (house style 14: time is an input).

Every component gets a `Clock` (a port, gateway/ports.py) from the composition root
(`gateway.app`) and asks it for "now"; nothing else in `gateway/` or `store/` calls
`datetime.now()`, `time.time()` or `date.today()` (a test walks the source to keep it so).
Tests pass a clock they can set; `scripts/test --at` moves the wall clock of whole processes
instead (tests/timeshift). Monotonic time (`loop.time()`, `time.monotonic()`) is for measuring
intervals and timeouts and is not a reading of the date, so it is not routed through here.
"""

from __future__ import annotations

import datetime as dt

from gateway.ports import Clock

__all__ = ["Clock", "system_clock"]


def system_clock() -> dt.datetime:
    """The real wall clock, in UTC."""
    return dt.datetime.now(dt.UTC)
