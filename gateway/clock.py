"""The one way the gateway reads the time (house style 14: time is an input).

Every component gets a `Clock` from the composition root (`gateway.app`) and asks it for
"now"; nothing else in `gateway/` or `store/` calls `datetime.now()`, `time.time()` or
`date.today()` (a test walks the source to keep it so). Tests pass a clock they can set;
`scripts/test --at` moves the wall clock of whole processes instead (tests/timeshift).
Monotonic time (`loop.time()`, `time.monotonic()`) is for measuring intervals and timeouts and
is not a reading of the date, so it is not routed through here.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol


class Clock(Protocol):
    """Returns the current instant as an aware datetime (any zone; callers convert)."""

    def __call__(self) -> dt.datetime: ...


def system_clock() -> dt.datetime:
    """The real wall clock, in UTC."""
    return dt.datetime.now(dt.UTC)
