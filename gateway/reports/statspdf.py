"""The month's statistics as a PDF: a page (or more) of tables, then a page with the chart.

A4 portrait, drawn with the register's machinery (gateway.reports.table); the chart is the PNG
of gateway.reports.chart, embedded as an image.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from typing import BinaryIO

from gateway.reports.stats import MonthStats, hours_text
from gateway.reports.table import BODY_PT, LINE, MARGIN, PAD_Y, TablePdf
from gateway.thai import format_short_date, format_short_datetime

__all__ = ["StatsPdf", "stats_pdf"]

TITLE = "สถิติงานสารบรรณ"
TOP = MARGIN + 21.0


class StatsPdf(TablePdf):
    def __init__(self, *, font_path: str, thai_digits: bool, now: dt.datetime, agency: str,
                 month_label: str, printed: str) -> None:
        super().__init__(font_path=font_path, thai_digits=thai_digits, now=now, orientation="P",
                         widths=(190.0,), align=("L",))
        self.subtitle = f"{agency}  เดือน{self._digits(month_label)}"
        self.printed = printed
        self.pdf.set_title(f"{TITLE} {month_label}")
        self.pdf.set_author(agency)
        self._new_page()

    def _new_page(self) -> None:
        self.pdf.add_page()
        self._title(TITLE, self.subtitle)
        self._y = TOP

    def table(self, title: str, heads: Sequence[str], widths: Sequence[float],
              rows: Sequence[Sequence[str]]) -> None:
        """A titled table; it goes on across pages, its headings repeated."""
        self.widths, self.align = tuple(widths), ("L",) + ("R",) * (len(widths) - 1)
        if self._room() < 4:
            self._new_page()
        self._y += PAD_Y
        self._font("B", BODY_PT)
        self._text(MARGIN, self._y, sum(widths), title)
        self._y += LINE + PAD_Y
        self._draw_row([[h] for h in heads], style="B", fill=True, wrap_style="B")
        for row in rows or [("(ไม่มี)", *[""] * (len(widths) - 1))]:
            lines = self._wrapped([self._digits(c) for c in row], "")
            if self._room() < max(len(c) for c in lines):
                self._new_page()
                self._draw_row([[h] for h in heads], style="B", fill=True, wrap_style="B")
            self._draw_row(lines)
        self._y += LINE

    def chart(self, png: bytes, px: tuple[int, int]) -> None:
        self._new_page()
        w = self.page_w - 2 * MARGIN
        self.pdf.image(io.BytesIO(png), x=MARGIN, y=TOP, w=w, h=w * px[1] / px[0])


def stats_pdf(st: MonthStats, out: BinaryIO, *, font_path: str, thai_digits: bool, now: dt.datetime,
              agency: str, printed: str, png: bytes, px: tuple[int, int]) -> int:
    """Write the statistics PDF; the number of pages."""
    pdf = StatsPdf(font_path=font_path, thai_digits=thai_digits, now=now, agency=agency,
                   month_label=st.month.label(), printed=printed)
    pdf.table(f"หนังสือรับทั้งเดือน {st.received} ฉบับ — แยกตามทะเบียน", ("ทะเบียน", "จำนวน"),
              (140.0, 50.0), [(name, str(n)) for name, n in st.per_book])
    pdf.table("หนังสือรับแยกตามชั้นความเร็ว", ("ชั้นความเร็ว", "จำนวน"), (140.0, 50.0),
              [(s, str(n)) for s, n in st.per_speed])
    pdf.table("ส่งต่อหน่วยงาน", ("หน่วยงาน", "ส่งต่อ", "ลงรับแล้ว"), (110.0, 40.0, 40.0),
              [(u, str(n), str(a)) for u, n, a in st.per_unit])
    pdf.table("ระยะเวลา (ชั่วโมงทำการ)", ("ช่วง", "จำนวน", "มัธยฐาน", "เปอร์เซ็นไทล์ที่ 90"),
              (85.0, 25.0, 40.0, 40.0),
              [(label, str(t.n), hours_text(t.median), hours_text(t.p90))
               for label, t in (("รับเข้าถึงลงทะเบียน", st.to_register),
                                ("ส่งต่อถึงหน่วยงานลงรับ", st.to_accept))])
    pdf.table(f"หนังสือที่หน่วยงานลงรับเกินกำหนด {len(st.overdue)} รายการ",
              ("เลขรับ", "หน่วยงาน", "ส่งเมื่อ", "ลงรับ"), (25.0, 55.0, 55.0, 55.0),
              [(o["number"], o["unit"], format_short_datetime(o["sent"]),
                format_short_datetime(o["accepted"]) if o["accepted"] is not None else "ยังไม่ลงรับ")
               for o in st.overdue])
    pdf.table("หนังสือรับรายวัน", ("วันที่", "จำนวน"), (140.0, 50.0),
              [(format_short_date(d), str(n)) for d, n in st.per_day])
    pdf.chart(png, px)
    return pdf.output(out)
