"""[outbox]: the retry schedule, the lifetime, and what is refused in the settings."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from gateway.config import parse_settings
from gateway.errors import ConfigError
from gateway.store.outbox import DEFAULT_SCHEDULE, Schedule

AGENCY = {"name_th": "สำนักงานทดสอบ", "letter_code": "ศธ 04183", "latin_code": "TEST04183",
          "central_addresses": ["saraban@agency.test"]}


def _minutes(d: dt.timedelta) -> float:
    return d.total_seconds() / 60


def test_the_default_schedule_is_1_2_4_8_15_30_60_minutes_then_hourly() -> None:
    assert [_minutes(DEFAULT_SCHEDULE.backoff(n)) for n in range(1, 11)] == [1, 2, 4, 8, 15, 30, 60, 60, 60, 60]
    assert DEFAULT_SCHEDULE.backoff(0) == DEFAULT_SCHEDULE.backoff(1)  # never before the first step


def test_a_configured_schedule_and_lifetime(tmp_path: Path) -> None:
    s = parse_settings({"agency": AGENCY, "outbox": {"retry_minutes": [0.5, 5, 5, 90], "give_up_after_hours": 6,
                                                    "uncertain": "ask", "poll_seconds": 1}}, base_dir=tmp_path)
    sched = Schedule.of(s.outbox.retry_minutes, s.outbox_lifetime_hours)
    assert [_minutes(sched.backoff(n)) for n in range(1, 7)] == [0.5, 5, 5, 90, 90, 90]
    assert sched.lifetime == dt.timedelta(hours=6)
    assert s.outbox.uncertain == "ask"


def test_defaults_resend_and_the_old_lifetime_days(tmp_path: Path) -> None:
    s = parse_settings({"agency": AGENCY}, base_dir=tmp_path)
    assert s.outbox.uncertain == "resend" and s.outbox.give_up_after_hours is None
    assert s.outbox_lifetime_hours == 5 * 24  # [outbound] lifetime_days, as before
    s = parse_settings({"agency": AGENCY, "outbound": {"lifetime_days": 2}}, base_dir=tmp_path)
    assert s.outbox_lifetime_hours == 48
    s = parse_settings({"agency": AGENCY, "outbound": {"lifetime_days": 2},
                        "outbox": {"give_up_after_hours": 12}}, base_dir=tmp_path)
    assert s.outbox_lifetime_hours == 12  # the new key wins


BAD: list[tuple[dict[str, Any], str]] = [
    ({"retry_minutes": []}, "outbox.retry_minutes"),
    ({"retry_minutes": [1, 0, 4]}, "outbox.retry_minutes"),
    ({"retry_minutes": [-1]}, "outbox.retry_minutes"),
    ({"retry_minutes": [1, 10, 5]}, "outbox.retry_minutes"),  # shorter again: a typo
    ({"retry_minutes": [1, 2000]}, "outbox.retry_minutes"),  # more than a day between tries
    ({"retry_minutes": "1, 2, 4"}, "outbox.retry_minutes"),
    ({"give_up_after_hours": 0}, "outbox.give_up_after_hours"),
    ({"give_up_after_hours": 24 * 365}, "outbox.give_up_after_hours"),
    ({"uncertain": "maybe"}, "outbox.uncertain"),
    ({"poll_seconds": 0}, "outbox.poll_seconds"),
    ({"poll_seconds": 600}, "outbox.poll_seconds"),
    ({"retry": [1]}, "outbox.retry"),  # an unknown key
]


@pytest.mark.parametrize("outbox, key", BAD, ids=[f"{k}-{i}" for i, (_, k) in enumerate(BAD)])
def test_bad_outbox_settings_name_the_key(tmp_path: Path, outbox: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_settings({"agency": AGENCY, "outbox": outbox}, base_dir=tmp_path)
    assert f"config.toml: {key}" in e.value.message_en
    assert f"config.toml: {key}" in e.value.message_th
