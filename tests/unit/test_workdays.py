"""Working time (issue #21): office hours on working days, with the Thai public holidays of the
`holidays` package (substitute days included) and the agency's own days off from config.

Every instant is aware; the same answers whatever the machine's zone (this file also runs
under TZ=America/New_York) and whatever zone an instant is given in.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.config import parse_settings
from gateway.core.workdays import WorkCalendar
from gateway.errors import ConfigError
from gateway.workcalendar import work_calendar
from tests.conftest import make_settings

BKK = zoneinfo.ZoneInfo("Asia/Bangkok")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
THAI = work_calendar(make_settings(Path("/nonexistent")))  # the defaults: 08:30–16:30, Mon–Fri


def bkk(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, tzinfo=BKK)


def test_friday_afternoon_is_not_overdue_on_saturday_nor_early_monday() -> None:
    friday = bkk(2026, 11, 27, 15)  # a Friday without holidays around it
    due = THAI.add_working_hours(friday, 24)  # three office days of 8 hours
    assert due == bkk(2026, 12, 2, 15)  # Fri 1.5 h, Mon 8, Tue 8, Wed 6.5
    for moment in (bkk(2026, 11, 28, 9), bkk(2026, 11, 30, 8)):  # Saturday morning, Monday 08:00
        assert moment < due
        assert THAI.working_hours_between(friday, moment) == 1.5
    assert THAI.working_hours_between(friday, due) == 24
    assert THAI.add_working_hours(bkk(2026, 11, 28, 10), 1) == bkk(2026, 11, 30, 9, 30)  # Sat + 1 h


def test_the_kings_birthday_on_saturday_gives_monday_off() -> None:
    assert not THAI.is_working_day(dt.date(2026, 12, 5))  # Saturday, the holiday itself
    assert not THAI.is_working_day(dt.date(2026, 12, 7))  # Monday: its substitute day
    assert not THAI.is_working_day(dt.date(2026, 12, 10))  # Constitution Day (Thursday)
    assert THAI.is_working_day(dt.date(2026, 12, 8))
    assert THAI.add_working_hours(bkk(2026, 12, 4, 16), 1) == bkk(2026, 12, 8, 9)
    # Fri 4 Dec 15:00 + 24 h: Mon 7 and Thu 10 are off, so Friday 11 Dec at 15:00
    assert THAI.add_working_hours(bkk(2026, 12, 4, 15), 24) == bkk(2026, 12, 11, 15)
    assert THAI.working_days_between(dt.date(2026, 12, 4), dt.date(2026, 12, 11)) == 3


def test_new_year_and_songkran_spans() -> None:
    # 31 Dec (Thu) and 1 Jan (Fri) are holidays: Wednesday 16:00 + 1 h is Monday 09:00
    assert THAI.add_working_hours(bkk(2026, 12, 30, 16), 1) == bkk(2027, 1, 4, 9)
    assert THAI.working_days_between(dt.date(2026, 12, 30), dt.date(2027, 1, 4)) == 1
    # Songkran 2026: Monday 13 – Wednesday 15 April; a Friday-evening letter waits till Thursday
    assert THAI.add_working_hours(bkk(2026, 4, 10, 17), 8) == bkk(2026, 4, 16, 16, 30)
    assert THAI.working_hours_between(bkk(2026, 4, 10, 17), bkk(2026, 4, 16, 8, 30)) == 0


def test_the_agencys_days_off_and_the_old_list_count(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, calendar={"days_off": ["2026-11-30"]},
                             outbound={"holidays": ["2026-12-01"]})  # the old key, still read
    cal = work_calendar(settings)
    assert not cal.is_working_day(dt.date(2026, 11, 30)) and not cal.is_working_day(dt.date(2026, 12, 1))
    assert cal.add_working_hours(bkk(2026, 11, 27, 16, 30), 1) == bkk(2026, 12, 2, 9, 30)
    assert THAI.add_working_hours(bkk(2026, 11, 27, 16, 30), 1) == bkk(2026, 11, 30, 9, 30)


def test_office_hours_and_weekdays_from_config(tmp_path: Path) -> None:
    cal = work_calendar(make_settings(tmp_path, calendar={
        "office_start": "09:00", "office_end": "12:00", "weekdays": [1, 2, 3, 4, 5, 6],
        "public_holidays": False}))
    assert cal.add_working_hours(bkk(2026, 12, 4, 11), 2) == bkk(2026, 12, 5, 10)  # Saturday works
    assert cal.is_working_day(dt.date(2026, 12, 7))  # no public holidays asked for
    # Royal Ploughing Ceremony: a government offices' day off, by default only
    assert not THAI.is_working_day(dt.date(2026, 5, 13))
    public_only = work_calendar(make_settings(tmp_path, calendar={"holiday_categories": ["public"]}))
    assert public_only.is_working_day(dt.date(2026, 5, 13))


@pytest.mark.parametrize("calendar, key", [
    ({"timezone": "Asia/Bangkokk"}, "calendar.timezone"),
    ({"office_start": "17:00"}, "calendar"),
    ({"weekdays": [0, 1]}, "calendar.weekdays"),
    ({"weekdays": []}, "calendar.weekdays"),
    ({"holiday_categories": ["optional"]}, "calendar.holiday_categories"),
    ({"holidays": []}, "calendar.holidays"),
])
def test_bad_calendars_are_refused_naming_the_key(tmp_path: Path, calendar: dict[str, object],
                                                  key: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_settings({"agency": {"name_th": "ก", "letter_code": "ศธ 1", "latin_code": "A1",
                                   "central_addresses": ["a@b.test"]}, "calendar": calendar},
                       base_dir=tmp_path)
    assert f"config.toml: {key}" in e.value.message_th


def test_any_zone_in_any_zone_out_and_naive_refused() -> None:
    friday_ny = bkk(2026, 11, 27, 15).astimezone(NEW_YORK)
    assert THAI.add_working_hours(friday_ny, 24) == bkk(2026, 12, 2, 15)
    assert THAI.working_hours_between(friday_ny, bkk(2026, 12, 2, 15).astimezone(dt.UTC)) == 24
    assert THAI.is_working_instant(bkk(2026, 12, 2, 16, 30).astimezone(NEW_YORK))
    assert not THAI.is_working_instant(bkk(2026, 12, 2, 16, 31))
    with pytest.raises(ValueError):
        THAI.add_working_hours(dt.datetime(2026, 12, 2, 9), 1)
    with pytest.raises(ValueError):
        THAI.working_hours_between(dt.datetime(2026, 12, 2, 9), bkk(2026, 12, 3))


def test_a_calendar_without_working_days_is_an_error_not_a_hang() -> None:
    everything_off = WorkCalendar(tz=BKK, day_off=lambda d: True)
    with pytest.raises(ValueError):
        everything_off.add_working_hours(bkk(2026, 12, 2), 1)


# -- properties, over the real Thai calendar ---------------------------------------------------

ZONES = st.sampled_from([dt.UTC, BKK, NEW_YORK])
INSTANTS = st.datetimes(min_value=dt.datetime(2025, 1, 1), max_value=dt.datetime(2028, 12, 31),
                        timezones=ZONES, allow_imaginary=False)
SPANS = st.integers(min_value=0, max_value=60 * 8 * 30).map(lambda m: dt.timedelta(minutes=m))


@given(INSTANTS, SPANS)
def test_adding_lands_on_a_working_instant_with_exactly_that_much_work(t: dt.datetime,
                                                                      span: dt.timedelta) -> None:
    end = THAI.add_working_time(t, span)
    assert end >= t
    assert THAI.working_time_between(t, end) == span
    if span:
        assert THAI.is_working_instant(end)
        # the first such instant: a minute earlier, less work had passed
        assert THAI.working_time_between(t, end - dt.timedelta(minutes=1)) < span


@given(INSTANTS, INSTANTS, SPANS, SPANS)
def test_monotonic(a: dt.datetime, b: dt.datetime, s1: dt.timedelta, s2: dt.timedelta) -> None:
    a, b = min(a, b), max(a, b)
    s1, s2 = min(s1, s2), max(s1, s2)
    assert THAI.add_working_time(a, s1) <= THAI.add_working_time(b, s1)
    assert THAI.add_working_time(a, s1) <= THAI.add_working_time(a, s2)
    assert THAI.working_time_between(a, b) >= dt.timedelta(0)
    assert THAI.working_days_between(a.date(), b.date()) >= 0


@given(INSTANTS, INSTANTS, INSTANTS)
def test_working_time_adds_up(a: dt.datetime, b: dt.datetime, c: dt.datetime) -> None:
    a, b, c = sorted((a, b, c))
    assert THAI.working_time_between(a, b) + THAI.working_time_between(b, c) == \
        THAI.working_time_between(a, c)


def test_check_shows_the_next_days_off_and_warns_of_the_old_key(tmp_path: Path) -> None:
    from gateway.cli.check import calendar_result

    now = bkk(2026, 12, 2, 10)
    r = calendar_result(make_settings(tmp_path), now)
    assert r.ok and not r.warning
    assert "08:30–16:30" in r.detail and "7 ธ.ค. 2569, 10 ธ.ค. 2569, 31 ธ.ค. 2569" in r.detail
    old = calendar_result(make_settings(tmp_path, outbound={"holidays": ["2026-12-09"]}), now)
    assert old.warning and "9 ธ.ค. 2569, 10 ธ.ค. 2569" in old.detail and "[calendar] days_off" in old.detail
