"""The digest's monthly section: on the first working day of a month, the previous month's
figures (gateway.reports.stats) and chart (gateway.reports.chart) go into the daily digest —
the chart as an inline PNG (``cid:``), the figures in the HTML and the text part alike.

"First working day" by the agency's calendar (gateway/workcalendar.py); if no digest went out
on it (the gateway was down), the first digest of a working day after it carries the section.
Figures only: overdue letters are counted, never named, so no secret letter is shown.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from gateway.store.tables import Digest

if TYPE_CHECKING:
    from gateway.reports.stats import MonthStats
    from gateway.store.handle import Store

__all__ = ["CHART_CID", "monthly_context", "monthly_due", "monthly_section"]

CHART_CID = "monthly-chart@saraban-gateway"


async def monthly_due(store: Store, day: dt.date) -> bool:
    """Whether the digest of ``day`` carries the previous month's section."""
    from gateway.workcalendar import work_calendar

    calendar = work_calendar(store.settings)
    if not calendar.is_working_day(day):
        return False
    first = day.replace(day=1)
    async with store.readers() as s:
        earlier = (await s.execute(select(Digest.day).where(Digest.day >= first, Digest.day < day))).scalars()
        return not any(calendar.is_working_day(d) for d in earlier)


async def monthly_section(store: Store, day: dt.date) -> tuple[dict[str, Any], bytes]:
    """The previous month's figures for the digest's templates, and the chart's PNG."""
    from gateway.reports.build import _font
    from gateway.reports.chart import stats_chart
    from gateway.reports.stats import Month, gather_stats

    st = await gather_stats(store, Month(day.year, day.month).previous)
    return monthly_context(st), stats_chart(st, _font(store.settings))


def monthly_context(st: MonthStats) -> dict[str, Any]:
    """What the digest's templates show of a month (``monthly``)."""
    from gateway.reports.chart import CHART_PX
    from gateway.reports.stats import hours_text

    label = st.month.label()
    return {
        "label": label, "received": st.received,
        "books": [{"name": n, "count": c} for n, c in st.per_book],
        "speeds": [{"name": n, "count": c} for n, c in st.per_speed],
        "units": [{"name": n, "count": c, "accepted": a} for n, c, a in st.per_unit],
        "timings": [{"name": name, "n": t.n, "median": hours_text(t.median), "p90": hours_text(t.p90)}
                    for name, t in (("รับเข้าถึงลงทะเบียน", st.to_register),
                                    ("ส่งต่อถึงหน่วยงานลงรับ", st.to_accept))],
        "overdue": len(st.overdue),
        "cid": CHART_CID, "alt": f"แผนภูมิสถิติงานสารบรรณ เดือน{label}",
        "width": CHART_PX[0] // 2, "height": CHART_PX[1] // 2,
    }
