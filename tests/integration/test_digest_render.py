"""The daily digest as a clerk's mail client shows it: Chromium renders the HTML part, and the
plain-text part says the same things."""

from __future__ import annotations

import datetime as dt
import email
import io
import re
from email import policy
from pathlib import Path

import pytest

from gateway.core.compose import template_env
from gateway.core.parse import html_to_text
from gateway.reports.digest import DigestData, digest_mail
from gateway.trust.secret import InstallSecret
from tests.conftest import make_settings
from tests.servers.chromium import dump_dom, read_png, screenshot

pytestmark = pytest.mark.integration

DATA = DigestData(
    day="2 ธ.ค. 2569",
    registered=[{"number": f"{n}/2569", "letter_no": f"ศธ 04010/{100 + n}", "sender": "สำนักงานคณะกรรมการการศึกษาขั้นพื้นฐาน",
                 "subject": s, "speed": sp, "time": f"0{n}:1{n} น.", "action": a, "amended": m}
                for n, s, sp, a, m in [(1, "ขอเชิญประชุมคณะกรรมการ & ผู้แทน <ภาค>", "ด่วนที่สุด", "ส่ง กลุ่มอำนวยการ", ""),
                                       (2, "แจ้งผลการพิจารณาบรรจุและแต่งตั้ง", "", "ยังไม่ได้ส่งต่อ", "แก้ไขแล้ว")]],
    review=[{"received": "2 ธ.ค. 2569 10:05 น.", "subject": "สอบถามข้อมูลนักเรียน", "sender": "school@example.go.th",
             "reason": "ไม่พบไฟล์หนังสือ (PDF)"}],
    waiting=[{"number": "1/2569", "subject": "ขอเชิญประชุมคณะกรรมการ & ผู้แทน <ภาค>", "unit": "กลุ่มอำนวยการ",
              "speed": "ด่วนที่สุด", "since": "2 ธ.ค. 2569 09:20 น.", "reminded": True}],
    failed=[{"letter_no": "ศธ 04183/ว12", "subject": "แจ้งเวียน", "to": "กรมตัวอย่าง", "address": "saraban@x.go.th",
             "error": "550 5.1.1 ไม่มีผู้ใช้นี้", "when": "2 ธ.ค. 2569 11:00 น."}],
)


class _S:  # the few settings digest_mail reads, and the secret its origin header is signed with
    settings = make_settings(Path("/tmp"))
    secret = InstallSecret(b"k" * 32)


def _parts() -> tuple[str, str]:
    raw = digest_mail(_S(), template_env(), DATA, dt.date(2026, 12, 2),  # type: ignore[arg-type]
                      dt.datetime(2026, 12, 2, 9, 30, tzinfo=dt.UTC))
    msg = email.message_from_bytes(raw, policy=policy.default)
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    return text, html


def _words(s: str) -> list[str]:
    return re.findall(r"[\u0e00-\u0e7f\w./@<>&:-]+", s)


def test_chromium_renders_the_html_and_the_text_part_says_the_same(tmp_path: Path) -> None:
    text, html = _parts()
    page = tmp_path / "digest.html"
    page.write_text(html, encoding="utf-8")
    png = read_png(screenshot(page, tmp_path / "digest.png", width=1000, height=900))
    assert (png.width, png.height) == (1000, 900)
    assert 0.01 < png.dark_fraction() < 0.5  # text and table lines drawn, not a blank page
    # the document Chromium built holds every fact, escaped text included
    dom_text = html_to_text(dump_dom(page))
    for row in DATA.registered + DATA.waiting:
        assert row["number"] in dom_text and row["subject"] in dom_text
    assert "ขอเชิญประชุมคณะกรรมการ & ผู้แทน <ภาค>" in dom_text
    # the plain part says the same things: every fact, and the same section counts
    for rows in (DATA.registered, DATA.review, DATA.waiting, DATA.failed):
        for row in rows:
            for value in row.values():
                if isinstance(value, str) and value:
                    assert value in text, value
                    assert value in dom_text, value
    counts = lambda s: re.findall(r"\((\d+) (?:ฉบับ|รายการ)", s)  # noqa: E731
    assert counts(text) == counts(dom_text) == ["2", "1", "1", "1"]


def _monthly() -> DigestData:
    from gateway.reports.chart import stats_chart
    from gateway.reports.monthly import monthly_context
    from gateway.reports.stats import Month, MonthStats, Timing
    from gateway.reports.thaifont import report_font_path

    st = MonthStats(Month(2026, 11),
                    per_day=[(dt.date(2026, 11, d), d % 4) for d in range(1, 31)],
                    per_book=[("ทะเบียนหนังสือรับ", 45), ("ทะเบียนหนังสือส่ง", 12)],
                    per_speed=[("ปกติ", 40), ("ด่วนที่สุด", 5)],
                    per_unit=[("กลุ่มอำนวยการ", 20, 18), ("กลุ่มนโยบายและแผน", 9, 9)],
                    to_register=Timing(45, 1.5, 6.2), to_accept=Timing(27, 3.0, 20.5),
                    overdue=[{"number": "7/2569"}, {"number": "9/2569"}])
    return DigestData(**{**DATA.__dict__, "monthly": monthly_context(st),
                         "chart": stats_chart(st, report_font_path())})


def test_chromium_shows_the_monthly_chart_inline(tmp_path: Path) -> None:
    from PIL import Image

    from gateway.reports.chart import CHART_PX
    from gateway.reports.monthly import CHART_CID

    data = _monthly()
    raw = digest_mail(_S(), template_env(), data, dt.date(2026, 12, 1),  # type: ignore[arg-type]
                      dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC))
    msg = email.message_from_bytes(raw, policy=policy.default)
    related = [p for p in msg.walk() if p.get_content_type() == "multipart/related"]
    assert len(related) == 1  # the HTML and its image travel together
    image = next(p for p in msg.walk() if p.get_content_type() == "image/png")
    assert image["Content-ID"] == f"<{CHART_CID}>"
    png = image.get_content()
    decoded = Image.open(io.BytesIO(png))
    decoded.load()
    assert decoded.size == CHART_PX
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    # a mail client resolves cid: to the part; the page here points at the same bytes on disk
    (tmp_path / "chart.png").write_bytes(png)
    page = tmp_path / "digest.html"
    probe = ('<script>window.addEventListener("load", () => { const i = document.getElementById('
             '"chart"); document.body.setAttribute("data-chart", i.naturalWidth + "x" + i.naturalHeight'
             ' + " " + i.alt); });</script>')
    page.write_text(html.replace(f"cid:{CHART_CID}", "chart.png").replace("<img ", '<img id="chart" ')
                    .replace("</body>", probe + "</body>"), encoding="utf-8")
    dom = dump_dom(page)
    assert f'data-chart="{CHART_PX[0]}x{CHART_PX[1]} แผนภูมิสถิติงานสารบรรณ เดือนพฤศจิกายน 2569"' in dom
    shot = read_png(screenshot(page, tmp_path / "digest.png", width=1000, height=2400))
    assert 0.01 < shot.dark_fraction() < 0.5
    for part in (html_to_text(dom), text):
        assert "สถิติประจำเดือนพฤศจิกายน 2569" in part
        assert "หนังสือรับทั้งเดือน 0" not in part
        for fact in ("กลุ่มอำนวยการ", "20 / 18", "1.5 / 6.2 (45)", "3.0 / 20.5 (27)",
                     "หน่วยงานลงรับเกินกำหนด 2 รายการ"):
            assert fact in part, fact


def test_the_digest_without_its_monthly_section_has_no_image() -> None:
    raw = digest_mail(_S(), template_env(), DATA, dt.date(2026, 12, 2),  # type: ignore[arg-type]
                      dt.datetime(2026, 12, 2, 9, 30, tzinfo=dt.UTC))
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert not [p for p in msg.walk() if p.get_content_maintype() == "image"]
    assert "สถิติประจำเดือน" not in msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
