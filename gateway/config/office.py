"""The agency's working calendar in the settings: office hours, working weekdays, days off.

Reminders to units and the follow-up of sent letters count office time on working days
(gateway/core/workdays.py); gateway/workcalendar.py turns this into a calendar with the Thai
public holidays of the `holidays` package (substitute days included) and these days off.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Literal

from pydantic import Field, field_validator, model_validator

from gateway.config.model import ConfigModel

__all__ = ["Calendar"]

HolidayCategory = Literal["public", "government", "armed_forces", "bank", "school"]


class Calendar(ConfigModel):
    """`[calendar]`: when the office works."""

    timezone: str = "Asia/Bangkok"
    office_start: dt.time = dt.time(8, 30)
    office_end: dt.time = dt.time(16, 30)
    weekdays: tuple[int, ...] = Field(default=(1, 2, 3, 4, 5), description="1 = Monday … 7 = Sunday")
    public_holidays: bool = Field(default=True, description="Thai public holidays from `holidays`")
    holiday_categories: tuple[HolidayCategory, ...] = Field(
        default=("public", "government"),
        description="`holidays` categories: public, and government (days off of government offices "
        "such as the Royal Ploughing Ceremony)",
    )
    days_off: tuple[dt.date, ...] = Field(
        default=(), description="the agency's own days off, and special holidays the package does "
        "not know yet")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            zoneinfo.ZoneInfo(v)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"ไม่รู้จักเขตเวลา (unknown time zone): {v!r}") from None
        return v

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v or any(d < 1 or d > 7 for d in v):
            raise ValueError("วันทำงานต้องเป็นเลข 1 (จันทร์) ถึง 7 (อาทิตย์) อย่างน้อยหนึ่งวัน "
                             f"(working weekdays: 1 = Monday … 7 = Sunday, at least one): {list(v)}")
        return tuple(sorted(set(v)))

    @model_validator(mode="after")
    def _hours(self) -> Calendar:
        if self.office_start.tzinfo or self.office_end.tzinfo:
            raise ValueError("office_start / office_end: เวลาในเขตเวลา timezone ไม่ต้องระบุเขตเวลา "
                             "(a time of day in `timezone`, without an offset)")
        if not self.office_start < self.office_end:
            raise ValueError(f"office_start ต้องก่อน office_end (office hours must start before they "
                             f"end): {self.office_start:%H:%M}–{self.office_end:%H:%M}")
        return self
