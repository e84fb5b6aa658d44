"""A month's figures (`report stats`, the digest's monthly section): counts per day, per book, per
unit and per speed; how long letters took from arrival to registration and from forwarding to a
unit's acceptance (median and 90th percentile); and the forwards accepted late or not at all.

Counts are SQL aggregates (GROUP BY). The timings need the working calendar, which SQL does not
know, so the two instants of each letter or forward stream from the database in chunks
(``yield_per``) as bare tuples and only the hours are kept. Times are **working hours**
(gateway/workcalendar.py: office hours on working days, Thai holidays off), the same measure the
reminders use: a letter arriving on Friday evening and registered on Monday at 09:00 waited
half an hour. Overdue: a forward not accepted by its reminder time
(``[forwarding] remind_after_hours``, sooner for urgent letters) — still unaccepted now, or
accepted after it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, select

from gateway.errors import UserError
from gateway.store.tables import Forward, Letter, RegisterBook, RegisterEntry
from gateway.thai import BANGKOK, BE_OFFSET, MONTHS_ABBR, MONTHS_FULL, to_arabic_digits
from gateway.trust.secrecy import is_secret

if TYPE_CHECKING:
    from gateway.store.handle import Store

__all__ = ["Month", "MonthStats", "gather_stats", "parse_month", "quantile", "stats_text"]

NORMAL_SPEED = "ปกติ"
CHUNK = 1000


@dataclass(frozen=True, order=True)
class Month:
    year: int  # Gregorian
    month: int

    @property
    def first(self) -> dt.date:
        return dt.date(self.year, self.month, 1)

    @property
    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    @property
    def previous(self) -> Month:
        return Month(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """[first instant, first instant of the next month), Bangkok time."""
        return (dt.datetime.combine(self.first, dt.time(), BANGKOK),
                dt.datetime.combine(self.next.first, dt.time(), BANGKOK))

    def label(self) -> str:
        """``ธันวาคม 2569``"""
        return f"{MONTHS_FULL[self.month - 1]} {self.year + BE_OFFSET}"


def parse_month(text: str, year: int | None, today: dt.date) -> Month:
    """``12``, ``ธันวาคม``, ``ธ.ค.`` (with ``year``, Buddhist era, or this year) or ``2569-12``."""
    s = to_arabic_digits(text.strip())
    month = None
    if "-" in s and s.split("-")[0].isdigit() and s.split("-")[1].isdigit():
        y, m = s.split("-", 1)
        year, month = int(y), int(m)
    elif s.isdigit():
        month = int(s)
    elif s in MONTHS_FULL:
        month = MONTHS_FULL.index(s) + 1
    elif s in MONTHS_ABBR or s.replace(".", "") in [a.replace(".", "") for a in MONTHS_ABBR]:
        month = [a.replace(".", "") for a in MONTHS_ABBR].index(s.replace(".", "")) + 1
    be = year if year is not None else today.year + BE_OFFSET
    if month is None or not 1 <= month <= 12 or not 2400 <= be <= 2700:
        raise UserError(f"อ่านเดือน {text!r} ไม่ได้ ใช้ 12, ธันวาคม, ธ.ค. หรือ 2569-12 (ปี พ.ศ.)",
                        f"cannot read the month {text!r}: use 12, ธันวาคม, ธ.ค. or 2569-12 (Buddhist era)")
    return Month(be - BE_OFFSET, month)


def quantile(values: list[float], q: float) -> float | None:
    """The q-quantile, interpolating between neighbours (numpy's default 'linear'); None if empty."""
    if not values:
        return None
    v = sorted(values)
    pos = q * (len(v) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


@dataclass
class Timing:
    n: int = 0
    median: float | None = None
    p90: float | None = None

    @classmethod
    def of(cls, hours: list[float]) -> Timing:
        return cls(len(hours), quantile(hours, 0.5), quantile(hours, 0.9))


@dataclass
class MonthStats:
    month: Month
    per_day: list[tuple[dt.date, int]] = field(default_factory=list)  # receive book, every day
    per_book: list[tuple[str, int]] = field(default_factory=list)
    per_speed: list[tuple[str, int]] = field(default_factory=list)  # receive book
    per_unit: list[tuple[str, int, int]] = field(default_factory=list)  # forwards, accepted
    to_register: Timing = field(default_factory=Timing)
    to_accept: Timing = field(default_factory=Timing)
    overdue: list[dict[str, Any]] = field(default_factory=list)

    @property
    def received(self) -> int:
        return sum(n for _, n in self.per_day)


async def gather_stats(store: Store, month: Month) -> MonthStats:
    """The month's figures from the store (a month of letters is never held as objects)."""
    from gateway.workcalendar import work_calendar

    settings = store.settings
    calendar = work_calendar(settings)
    lo, hi = month.bounds()
    out = MonthStats(month)
    units = {u.code: u.name_th for u in settings.units}
    in_month = and_(RegisterEntry.status == "registered", RegisterEntry.registered_at >= lo,
                    RegisterEntry.registered_at < hi)
    async with store.readers() as s:
        receive_id = await s.scalar(select(RegisterBook.id).where(RegisterBook.code == "receive"))
        out.per_book = [(name, int(n)) for name, n in (await s.execute(
            select(RegisterBook.name_th, func.count(RegisterEntry.id))
            .join(RegisterEntry, and_(RegisterEntry.book_id == RegisterBook.id, in_month))
            .group_by(RegisterBook.id, RegisterBook.name_th).order_by(RegisterBook.id))).all()]
        out.per_speed = sorted(((speed or NORMAL_SPEED, int(n)) for speed, n in (await s.execute(
            select(RegisterEntry.speed, func.count()).where(in_month, RegisterEntry.book_id == receive_id)
            .group_by(RegisterEntry.speed))).all()), key=lambda r: -r[1])
        out.per_unit = [(units.get(code, code), int(n), int(acc or 0)) for code, n, acc in (await s.execute(
            select(Forward.unit_code, func.count(), func.count(Forward.accepted_at))
            .where(Forward.forwarded_at >= lo, Forward.forwarded_at < hi)
            .group_by(Forward.unit_code).order_by(func.count().desc(), Forward.unit_code))).all()]
        days: Counter[dt.date] = Counter()
        waits: list[float] = []
        result = await s.stream(
            select(RegisterEntry.registered_at, Letter.created_at)
            .outerjoin(Letter, Letter.id == RegisterEntry.letter_id)
            .where(in_month, RegisterEntry.book_id == receive_id).execution_options(yield_per=CHUNK))
        async for registered_at, arrived in result:
            days[registered_at.astimezone(BANGKOK).date()] += 1
            if arrived is not None:  # typed in by hand: no arrival to count from
                waits.append(calendar.working_hours_between(arrived, registered_at))
        out.to_register = Timing.of(waits)
        d = month.first
        while d < month.next.first:
            out.per_day.append((d, days[d]))
            d += dt.timedelta(days=1)
        now = store.clock()
        accepts: list[float] = []
        forwards = await s.stream(
            select(Forward.forwarded_at, Forward.accepted_at, Forward.state, Forward.unit_code,
                   Letter.speed, Letter.secrecy, RegisterEntry.number, RegisterEntry.year)
            .join(Letter, Letter.id == Forward.letter_id)
            .outerjoin(RegisterEntry, and_(RegisterEntry.letter_id == Forward.letter_id,
                                           RegisterEntry.book_id == receive_id,
                                           RegisterEntry.status == "registered"))
            .where(Forward.forwarded_at >= lo, Forward.forwarded_at < hi)
            .order_by(Forward.forwarded_at, Forward.id).execution_options(yield_per=CHUNK))
        async for sent, accepted, state, unit, speed, secrecy, number, year in forwards:
            if accepted is not None:
                accepts.append(calendar.working_hours_between(sent, accepted))
            due = calendar.add_working_hours(sent, settings.forwarding.remind_after(speed))
            late = accepted > due if accepted is not None else (state == "sent" and now >= due)
            if late:
                out.overdue.append({
                    "number": f"{number}/{year}" if number is not None else "-",
                    "unit": "-" if is_secret(secrecy) else units.get(unit, unit),
                    "speed": "" if is_secret(secrecy) else speed,
                    "sent": sent, "accepted": accepted})
        out.to_accept = Timing.of(accepts)
    return out


def hours_text(h: float | None) -> str:
    return "-" if h is None else f"{h:.1f}"


def stats_text(st: MonthStats) -> str:
    """The figures as plain text (stdout, the digest's text part): Thai, one fact a line."""
    from gateway.thai import format_short_date, format_short_datetime

    lines = [f"สถิติงานสารบรรณ เดือน{st.month.label()}", "",
             f"หนังสือรับทั้งเดือน: {st.received} ฉบับ", "", "แยกตามทะเบียน:"]
    lines += [f"  {name}: {n}" for name, n in st.per_book] or ["  (ไม่มี)"]
    lines += ["", "หนังสือรับแยกตามชั้นความเร็ว:"]
    lines += [f"  {speed}: {n}" for speed, n in st.per_speed] or ["  (ไม่มี)"]
    lines += ["", "ส่งต่อหน่วยงาน (ส่ง / ลงรับแล้ว):"]
    lines += [f"  {name}: {n} / {acc}" for name, n, acc in st.per_unit] or ["  (ไม่มี)"]
    lines += ["", "ระยะเวลา (ชั่วโมงทำการ): มัธยฐาน / เปอร์เซ็นไทล์ที่ 90 (จำนวน)"]
    for label, t in (("รับเข้าถึงลงทะเบียน", st.to_register), ("ส่งต่อถึงหน่วยงานลงรับ", st.to_accept)):
        lines.append(f"  {label}: {hours_text(t.median)} / {hours_text(t.p90)} ({t.n})")
    lines += ["", f"หนังสือที่หน่วยงานลงรับเกินกำหนด: {len(st.overdue)} รายการ"]
    for o in st.overdue:
        state = (f"ลงรับ {format_short_datetime(o['accepted'])}" if o["accepted"] is not None
                 else "ยังไม่ลงรับ")
        lines.append(f"  {o['number']}  {o['unit']}  ส่ง {format_short_datetime(o['sent'])}  {state}")
    lines += ["", "หนังสือรับรายวัน:"]
    lines += [f"  {format_short_date(d)}: {n}" for d, n in st.per_day]
    return "\n".join(lines) + "\n"
