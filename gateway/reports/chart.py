"""The month's chart: letters received each day, forwards per unit, letters per speed — drawn by
matplotlib (Agg, no display) in the gateway's Thai font, as a PNG of a fixed size.

The font is the reports' (gateway.reports.thaifont.report_font_path), added to matplotlib's
font manager by its file, so Thai labels are drawn with Thai glyphs whatever fonts the host has.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.font_manager import FontProperties

    from gateway.reports.stats import MonthStats

__all__ = ["CHART_PX", "chart_font", "stats_chart"]

CHART_PX = (1200, 800)  # width, height of the PNG
DPI = 100


def chart_font(path: str) -> FontProperties:
    """The Thai font as matplotlib properties (registered with its font manager once)."""
    from matplotlib import font_manager

    if path not in {f.fname for f in font_manager.fontManager.ttflist}:
        font_manager.fontManager.addfont(path)
    return font_manager.FontProperties(fname=path)


def stats_chart(st: MonthStats, font_path: str) -> bytes:
    """The chart as PNG bytes, ``CHART_PX`` pixels."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    font = chart_font(font_path)
    name = font.get_name()
    fig = Figure(figsize=(CHART_PX[0] / DPI, CHART_PX[1] / DPI), dpi=DPI)
    with matplotlib.rc_context({"font.family": name, "font.size": 13, "axes.unicode_minus": False}):
        grid = fig.add_gridspec(2, 2, height_ratios=(1, 1))
        days = fig.add_subplot(grid[0, :])
        xs = [d.day for d, _ in st.per_day]
        days.bar(xs, [n for _, n in st.per_day], color="#0d2a8c")
        days.set_title(f"หนังสือรับรายวัน เดือน{st.month.label()}", fontproperties=font, fontsize=16)
        days.set_xlabel("วันที่", fontproperties=font)
        days.set_ylabel("ฉบับ", fontproperties=font)
        days.set_xticks(xs)
        days.tick_params(axis="x", labelsize=9)
        units = fig.add_subplot(grid[1, 0])
        names = [u for u, _, _ in st.per_unit] or ["(ไม่มี)"]
        units.barh(names, [n for _, n, _ in st.per_unit] or [0], color="#4a6fd1", label="ส่งต่อ")
        units.barh(names, [a for _, _, a in st.per_unit] or [0], color="#2e8b57", label="ลงรับแล้ว")
        units.invert_yaxis()
        units.set_title("ส่งต่อหน่วยงาน", fontproperties=font, fontsize=15)
        units.legend(prop=font)
        speeds = fig.add_subplot(grid[1, 1])
        labels = [s for s, _ in st.per_speed] or ["(ไม่มี)"]
        speeds.bar(labels, [n for _, n in st.per_speed] or [0], color="#b00020")
        speeds.set_title("หนังสือรับตามชั้นความเร็ว", fontproperties=font, fontsize=15)
        for ax in (days, units, speeds):
            for label in (*ax.get_xticklabels(), *ax.get_yticklabels()):
                label.set_fontproperties(font)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()
