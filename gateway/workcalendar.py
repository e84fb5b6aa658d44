"""The agency's working calendar from its settings: Thai public holidays (the `holidays`
package, substitute days included), the agency's own days off, office hours ([calendar]).

Not part of the pure core: the package reads its translation files. The arithmetic is
gateway/core/workdays.py.
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from collections.abc import Callable

import holidays

from gateway.config import Settings
from gateway.config.office import Calendar
from gateway.core.workdays import WorkCalendar

__all__ = ["work_calendar"]


def work_calendar(settings: Settings) -> WorkCalendar:
    """The calendar reminders and follow-ups count by (made once per settings)."""
    return _calendar(settings.calendar, frozenset(settings.outbound.holidays))


@functools.lru_cache(maxsize=8)
def _calendar(cfg: Calendar, old_list: frozenset[dt.date]) -> WorkCalendar:
    own = frozenset(cfg.days_off) | old_list
    return WorkCalendar(tz=zoneinfo.ZoneInfo(cfg.timezone), start=cfg.office_start, end=cfg.office_end,
                        weekdays=frozenset(d - 1 for d in cfg.weekdays),
                        day_off=_days_off(own, cfg.holiday_categories if cfg.public_holidays else ()))


def _days_off(own: frozenset[dt.date], categories: tuple[str, ...]) -> Callable[[dt.date], bool]:
    public = holidays.country_holidays("TH", categories=categories) if categories else None

    def day_off(day: dt.date) -> bool:  # the package fills in each year as it is asked
        return day in own or (public is not None and day in public)
    return day_off
