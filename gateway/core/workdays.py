"""Working time: office hours on working days, for reminders and overdue marks (issue #21).

Pure: a `WorkCalendar` is given the office's zone, its hours, its working weekdays and a
`day_off(date)` test (the Thai public holidays with their substitute days and the agency's own
days off: gateway/workcalendar.py builds it from the settings); it answers how much working
time lies between two instants and when a span of working time ends. Instants are aware
datetimes in any zone (the machine's zone never matters); naive ones are refused.

A day's office hours are the closed span [start, end] in the office's zone; working time is the
measure of the instants inside them. So `add_working_hours(t, h)` is the first instant by which
`h` hours of office time have passed since `t`: Friday 15:00 + 24 h (8-hour days) is the next
Wednesday 15:00, and a Saturday + 1 h is Monday 09:30.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["NO_DAYS_OFF", "WorkCalendar"]

HOUR = dt.timedelta(hours=1)
# Looking further than this for a working day means the calendar has none (a misconfiguration).
MAX_IDLE_DAYS = 3660


def NO_DAYS_OFF(day: dt.date) -> bool:  # noqa: N802 - a constant-like default
    return False


@dataclass(frozen=True)
class WorkCalendar:
    tz: dt.tzinfo
    start: dt.time = dt.time(8, 30)
    end: dt.time = dt.time(16, 30)
    weekdays: frozenset[int] = frozenset(range(5))  # Monday = 0
    day_off: Callable[[dt.date], bool] = field(default=NO_DAYS_OFF, compare=False)

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise ValueError("office hours must start before they end")
        if not self.weekdays or not self.weekdays <= set(range(7)):
            raise ValueError("working weekdays must be some of 0 (Monday) … 6 (Sunday)")

    # -- days ------------------------------------------------------------------------------

    def is_working_day(self, day: dt.date) -> bool:
        return day.weekday() in self.weekdays and not self.day_off(day)

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """Working days after `start` up to and including `end` (0 when end <= start)."""
        days, d = 0, start
        while d < end:
            d += dt.timedelta(days=1)
            days += self.is_working_day(d)
        return days

    def _next_working_day(self, day: dt.date) -> dt.date:
        for _ in range(MAX_IDLE_DAYS):
            if self.is_working_day(day):
                return day
            day += dt.timedelta(days=1)
        raise ValueError(f"no working day within {MAX_IDLE_DAYS} days of {day}")

    def _hours(self, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
        """The day's office hours, in UTC: arithmetic on them is absolute time."""
        return (dt.datetime.combine(day, self.start, self.tz).astimezone(dt.UTC),
                dt.datetime.combine(day, self.end, self.tz).astimezone(dt.UTC))

    def _local_day(self, t: dt.datetime) -> dt.date:
        if t.tzinfo is None or t.utcoffset() is None:
            raise ValueError("an aware datetime is needed (the machine's zone must not matter)")
        return t.astimezone(self.tz).date()

    # -- instants --------------------------------------------------------------------------

    def is_working_instant(self, t: dt.datetime) -> bool:
        day = self._local_day(t)
        if not self.is_working_day(day):
            return False
        opens, closes = self._hours(day)
        return opens <= t <= closes

    def working_time_between(self, a: dt.datetime, b: dt.datetime) -> dt.timedelta:
        """Office time from `a` to `b` (zero when b <= a)."""
        day, last = self._local_day(a), self._local_day(b)  # refuses naive ones first
        if b <= a:
            return dt.timedelta(0)
        total = dt.timedelta(0)
        while day <= last:
            if self.is_working_day(day):
                opens, closes = self._hours(day)
                lo, hi = max(opens, a), min(closes, b)
                if hi > lo:
                    total += hi - lo
            day += dt.timedelta(days=1)
        return total

    def working_hours_between(self, a: dt.datetime, b: dt.datetime) -> float:
        return self.working_time_between(a, b) / HOUR

    def add_working_time(self, start: dt.datetime, span: dt.timedelta) -> dt.datetime:
        """The first instant by which `span` of office time has passed since `start`."""
        if span < dt.timedelta(0):
            raise ValueError("working time to add must not be negative")
        day = self._local_day(start)
        if not span:
            return start
        start, left = start.astimezone(dt.UTC), span
        while True:
            day = self._next_working_day(day)
            opens, closes = self._hours(day)
            lo = max(opens, start)
            if lo < closes:
                if lo + left <= closes:
                    return lo + left
                left -= closes - lo
            day += dt.timedelta(days=1)

    def add_working_hours(self, start: dt.datetime, hours: float) -> dt.datetime:
        return self.add_working_time(start, dt.timedelta(hours=hours))
