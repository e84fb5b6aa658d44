"""`report handover` and `report stats` through the real command line, on a store filled through
the register and the forwarding path (Units.forward), with timings set by a FakeClock; and the
digest's monthly section, which only the first working day of a month carries.

The hand-over sheet is read back with pdftotext; the statistics are checked against figures
computed here from the rows the test made (numpy's percentiles on the known waits); the chart's
PNG must decode and show Thai glyphs, not boxes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email
import html
import io
import re
import subprocess
import warnings
from collections import Counter
from email import policy
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from gateway.config import load_settings
from gateway.core.compose import template_env
from gateway.forwarding.units import Units
from gateway.reports.chart import CHART_PX, chart_font, stats_chart
from gateway.reports.digest import send_digest_if_due
from gateway.reports.handover import HEADS, SIGN_HEIGHT, WIDTHS
from gateway.reports.monthly import CHART_CID, monthly_due
from gateway.reports.stats import Month, gather_stats, parse_month
from gateway.reports.thaifont import report_font_path
from gateway.store import registers
from gateway.store.registers import EntryFields
from gateway.store.tables import Forward, Letter, OutboxItem
from gateway.thai import BANGKOK
from gateway.trust.secrecy import SECRET_TH
from gateway.workcalendar import work_calendar
from tests.conftest import FakeClock
from tests.dnsserver import quiet_dns
from tests.integration.test_report_register import AGENCY, cli
from tests.processes import write_config

pytestmark = pytest.mark.integration

# The register report's site, with the digest on and two units to forward to.
DIGEST_ON = 'digest = true\ndigest_time = "16:30"'
UNITS = """
[[units]]
code = "admin"
name_th = "กลุ่มอำนวยการ"
emails = ["admin@agency.test"]

[[units]]
code = "plan"
name_th = "กลุ่มนโยบายและแผน"
emails = ["plan@agency.test"]
"""


def local(day: int, hh: int, mm: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hh, mm, tzinfo=BANGKOK)


# (arrived, working hours to registration, speed, secrecy, unit, hours to forward, hours to accept)
# All within office hours (08:30-16:30) of working days, except the Friday-evening letter: it
# waits 16:00-16:30 Friday and 08:30-09:30 Monday, 1.5 working hours.
LETTERS = [
    (local(2, 9), 0.5, "ด่วนที่สุด", "", "admin", 0.5, 1.0),
    (local(2, 9, 30), 1.0, "", "", "admin", 0.25, 2.0),
    (local(2, 10), 2.0, "", "ลับ", "admin", 0.5, 3.0),
    (local(2, 10, 30), 1.5, "ด่วน", "", "plan", 0.5, None),  # never accepted: overdue
    (local(3, 9), 3.0, "", "", "admin", 0.5, 3.5),
    (local(4, 8, 45), 0.25, "ด่วนมาก", "", "plan", 0.25, 5.0),  # after its 4 hours: overdue
    (local(5, 9), 4.0, "", "", "admin", 0.5, 0.5),
    (local(6, 16), 1.5, "", "", None, 0, None),  # registered Monday 9 Nov 09:30
    (local(10, 13), 0.75, "", "", None, 0, None),
]
SUBJECT = "ขอเชิญประชุมคณะกรรมการบริหารสถานศึกษา ครั้งที่ {i}/2569 ณ ห้องประชุมเขต"
SENDER = "สำนักงานคณะกรรมการการศึกษาขั้นพื้นฐาน"


def registered_at(arrived: dt.datetime, wait: float) -> dt.datetime:
    if arrived == local(6, 16):
        return local(9, 9, 30)
    return arrived + dt.timedelta(hours=wait)


async def _fill(site: Path) -> None:
    from gateway.app import opened_store

    clock = FakeClock(local(1, 9))
    settings = load_settings(site / "config.toml")
    async with opened_store(settings, clock=clock) as store:
        units = Units(store, template_env())
        for i, (arrived, wait, speed, secrecy, unit, to_fwd, to_acc) in enumerate(LETTERS):
            reg = registered_at(arrived, wait)
            async with store.sessions.begin() as s:
                letter = Letter(direction="in", state="registered", source_key=f"test:{i}",
                                channel="smtp", letter_no=f"ศธ 04010/ว{100 + i}",
                                letter_date=dt.date(2026, 10, 20 + i), sender=SENDER,
                                subject=SUBJECT.format(i=i), speed=speed, secrecy=secrecy,
                                created_at=arrived, updated_at=reg)
                s.add(letter)
                await s.flush()
                await registers.allocate(s, book_code="receive", now=reg, letter_id=letter.id,
                                         fields=EntryFields(
                                             letter_no=letter.letter_no, letter_date=letter.letter_date,
                                             sender=SENDER, subject=letter.subject, speed=speed,
                                             secrecy=secrecy, channel="smtp"))
                if unit is None:
                    continue
                sent = reg + dt.timedelta(hours=to_fwd)
                made = await units.forward(s, letter, [unit], via="cli", by="clerk:test", now=sent,
                                           confirmed_by="clerk:test" if secrecy else "")
                assert [f.unit_code for f in made] == [unit]
                if to_acc is not None:
                    made[0].state, made[0].accepted_at = "accepted", sent + dt.timedelta(hours=to_acc)
                    made[0].accepted_by = f"{unit}@agency.test"
        async with store.sessions.begin() as s:  # typed in by hand: counted, not timed
            await registers.allocate(s, book_code="receive", now=local(10, 15), fields=EntryFields(
                letter_no="ศธ 0001/1", sender="โรงเรียนบ้านหนองน้ำใส", subject="ส่งรายงาน"))
            await registers.allocate(s, book_code="send", now=local(12, 10), fields=EntryFields(
                letter_no="ศธ 04183/1", recipient="โรงเรียนบ้านโคกกลาง", subject="แจ้งผล"))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("stats")
    write_config(tmp / "config.toml", UNITS, name_th=AGENCY, forwarding=DIGEST_ON, dns=quiet_dns())
    assert cli(tmp, "db", "upgrade").returncode == 0
    asyncio.run(_fill(tmp))
    return tmp


@pytest.fixture(autouse=True)
def pinned_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command's clock: 1 Dec 2569 09:00, a month after the letters (never the host's)."""
    from gateway.app import opened_store

    @contextlib.asynccontextmanager
    async def store(settings):  # type: ignore[no-untyped-def]
        async with opened_store(settings, clock=FakeClock(dt.datetime(2026, 12, 1, 2, tzinfo=dt.UTC))) as s:
            yield s
    monkeypatch.setattr("gateway.cli.report.command_store", store)


def pdf_text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True,
                          text=True).stdout


def flat(s: str) -> str:
    return re.sub(r"\s+", "", s)


# --- the hand-over sheet ----------------------------------------------------------------------

def columns(pdf: Path) -> tuple[list[str], list[list[tuple[float, float, str]]]]:
    """Each column of the sheet's table: its words top to bottom, left to right (flattened), and
    the words themselves with their positions."""
    bbox = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], check=True, capture_output=True,
                          text=True).stdout
    words = [(float(x0), float(x1), float(y0), html.unescape(w)) for x0, y0, x1, w in re.findall(
        r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)"[^>]*>([^<]*)</word>', bbox)]
    top = min(y for _, _, y, w in words if w == "เรื่อง")  # the headings' line
    bottom = min(y for _, _, y, w in words if w == "รวม")  # the sender's line under the table
    cols: list[list[tuple[float, float, str]]] = [[] for _ in WIDTHS]
    for x0, x1, y, w in words:
        if top - 1 <= y < bottom:
            mid, left = (x0 + x1) / 2 * 25.4 / 72, 10.0
            for n, width in enumerate(WIDTHS):
                if left <= mid < left + width:
                    cols[n].append((y, x0, w))
                left += width
    for c in cols:
        c.sort()
    return ["".join(w for _, _, w in c) for c in cols], cols


def test_handover_lists_the_units_forwards_of_that_day(site: Path) -> None:
    out = site / "handover.pdf"
    r = cli(site, "report", "handover", "--unit", "admin", "--date", "2 พ.ย. 2569", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "3 ฉบับ" in r.stderr
    text = pdf_text(out)
    assert "ใบส่งหนังสือ" in text and "กลุ่มอำนวยการ" in text and "วันที่ ๒ พฤศจิกายน ๒๕๖๙" in text
    assert "หน้า ๑ / ๑" in text and "รวม ๓ ฉบับ" in text
    cols, _ = columns(out)
    # the forwards to admin on 2 Nov, in the order made: receive numbers 1, 2 and the secret 3
    assert cols == [
        flat(HEADS[0]) + "๑๒๓",
        flat(HEADS[1]) + "๑/๒๕๖๙๒/๒๕๖๙๓/๒๕๖๙",
        flat(HEADS[2]) + "ศธ04010/ว100ศธ04010/ว101",  # the secret one's ที่ hidden
        flat(HEADS[3]) + "๒๐ต.ค.๒๕๖๙๒๑ต.ค.๒๕๖๙๒๒ต.ค.๒๕๖๙",
        flat(HEADS[4]) + flat(SENDER) * 2,
        flat(HEADS[5]) + flat(SUBJECT.format(i=0)) + flat(SUBJECT.format(i=1)) + flat(SECRET_TH),
        flat(HEADS[6]),  # ผู้รับ (ลงชื่อ): empty, to sign
        flat(HEADS[7]),  # วันที่/เวลารับ: empty, to write
    ]


def test_handover_rows_are_tall_enough_to_sign(site: Path) -> None:
    out = site / "handover.pdf"
    assert cli(site, "report", "handover", "--unit", "กลุ่มอำนวยการ", "--date", "2569-11-02",
               "-o", str(out)).returncode == 0
    _, cols = columns(out)
    rows = [y for y, _, w in cols[0][1:]]  # ลำดับ: one number a row
    assert len(rows) == 3
    assert min(b - a for a, b in zip(rows, rows[1:], strict=False)) >= SIGN_HEIGHT * 72 / 25.4 - 0.5


def test_handover_xlsx_and_unknown_unit(site: Path) -> None:
    out = site / "handover.xlsx"
    assert cli(site, "report", "handover", "--unit", "plan", "--date", "2/11/2569", "--format", "xlsx",
               "-o", str(out)).returncode == 0
    import zipfile

    sheet = zipfile.ZipFile(out).read("xl/sharedStrings.xml").decode()
    assert "ผู้รับ (ลงชื่อ)" in sheet and SUBJECT.format(i=3) in sheet
    r = cli(site, "report", "handover", "--unit", "ไม่มี", "--date", "2/11/2569", "-o", str(out))
    assert r.returncode != 0 and "ไม่รู้จักหน่วยงาน" in r.stderr


# --- statistics ----------------------------------------------------------------------------------

def expected() -> dict:
    days: Counter[dt.date] = Counter()
    for arrived, wait, *_ in LETTERS:
        days[registered_at(arrived, wait).date()] += 1
    days[dt.date(2026, 11, 10)] += 1  # the one typed in by hand
    waits = [1.5 if a == local(6, 16) else w for a, w, *_ in LETTERS]
    accepts = [acc for *_, unit, _f, acc in LETTERS if unit and acc is not None]
    return {"days": days, "waits": waits, "accepts": accepts}


def test_stats_figures_match_an_independent_count(site: Path) -> None:
    out = site / "stats.pdf"
    r = cli(site, "report", "stats", "--month", "พ.ย.", "--year", "2569", "-o", str(out))
    assert r.returncode == 0, r.stderr
    text = r.stdout.decode()
    want = expected()
    assert f"หนังสือรับทั้งเดือน: {sum(want['days'].values())} ฉบับ" in text
    for day, n in want["days"].items():
        assert f"  {day.day} พ.ย. 2569: {n}\n" in text
    assert "  ทะเบียนหนังสือรับ: 10\n" in text or re.search(r"รับ[^\n]*: 10\n", text)
    assert re.search(r"ส่ง[^\n]*: 1\n", text)
    speeds = Counter(sp or "ปกติ" for _, _, sp, *_ in LETTERS) + Counter({"ปกติ": 1})
    for speed, n in speeds.items():
        assert f"  {speed}: {n}\n" in text
    assert "  กลุ่มอำนวยการ: 5 / 5\n" in text and "  กลุ่มนโยบายและแผน: 2 / 1\n" in text
    for label, xs in (("รับเข้าถึงลงทะเบียน", want["waits"]), ("ส่งต่อถึงหน่วยงานลงรับ", want["accepts"])):
        med, p90 = np.percentile(xs, [50, 90])
        assert f"  {label}: {med:.1f} / {p90:.1f} ({len(xs)})\n" in text
    assert "หนังสือที่หน่วยงานลงรับเกินกำหนด: 2 รายการ" in text
    assert "  4/2569  กลุ่มนโยบายและแผน" in text and "ยังไม่ลงรับ" in text
    assert "  6/2569  กลุ่มนโยบายและแผน" in text
    pdf = pdf_text(out)
    assert "สถิติงานสารบรรณ" in pdf and "พฤศจิกายน" in pdf and "มัธยฐาน" in flat(pdf)
    pages = subprocess.run(["pdfimages", "-list", str(out)], check=True, capture_output=True,
                           text=True).stdout
    assert re.search(rf"\b{CHART_PX[0]}\s+{CHART_PX[1]}\b", pages)  # the chart, embedded


def test_working_hours_are_what_the_calendar_counts(site: Path) -> None:
    cal = work_calendar(load_settings(site / "config.toml"))
    assert cal.working_hours_between(local(6, 16), local(9, 9, 30)) == 1.5
    for arrived, *_ in LETTERS:
        assert cal.is_working_day(arrived.date())


@pytest.mark.parametrize("text", ["11", "๑๑", "พฤศจิกายน", "พ.ย.", "พย", "2569-11", "๒๕๖๙-๑๑"])
def test_a_month_in_any_form(text: str) -> None:
    assert parse_month(text, None if "-" in text else 2569, dt.date(2026, 12, 1)) == Month(2026, 11)


def test_a_month_that_is_not_one_fails_with_a_reason(site: Path) -> None:
    r = cli(site, "report", "stats", "--month", "13")
    assert r.returncode != 0 and "อ่านเดือน" in r.stderr


def _render(text: str, prop) -> np.ndarray:  # type: ignore[no-untyped-def]
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 1), dpi=100)
    fig.text(0.05, 0.3, text, fontproperties=prop, fontsize=28)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L"))


def test_chart_png_decodes_with_thai_glyphs(site: Path) -> None:
    from matplotlib import font_manager

    async def figures():  # type: ignore[no-untyped-def]
        from gateway.app import opened_store

        async with opened_store(load_settings(site / "config.toml")) as store:
            return await gather_stats(store, Month(2026, 11))
    st = asyncio.run(figures())
    font = report_font_path()
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*missing from font")  # no label drawn as boxes
        png = Image.open(io.BytesIO(stats_chart(st, font)))
    png.load()
    assert png.format == "PNG" and png.size == CHART_PX
    prop = chart_font(font)
    assert font_manager.findfont(prop, fallback_to_default=False) == font
    # Thai drawn in that font differs from the box a missing glyph becomes
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns of each glyph it has to draw as a box
        thai = _render("สถิติ", prop)
    with pytest.warns(UserWarning, match="missing from font"):  # the box, as a font without Thai draws it
        tofu = _render("สถิติ", font_manager.FontProperties(family="DejaVu Sans"))
    assert (thai < 128).sum() > 50 and not np.array_equal(thai, tofu)


# --- the digest's monthly section --------------------------------------------------------------

def test_the_monthly_section_comes_on_the_first_working_day_only(site: Path) -> None:
    from gateway.app import opened_store

    async def digests() -> list[bytes]:
        clock = FakeClock(dt.datetime(2026, 11, 1, 10, tzinfo=dt.UTC))  # Sunday 1 Nov, 17:00
        out = []
        async with opened_store(load_settings(site / "config.toml"), clock=clock) as store:
            assert not await monthly_due(store, dt.date(2026, 11, 1))  # a Sunday
            assert await monthly_due(store, dt.date(2026, 11, 2))
            for day in (1, 2, 3):  # December: Tuesday 1st, then the 2nd
                clock.now = dt.datetime(2026, 12, day, 10, tzinfo=dt.UTC)
                if day == 3:
                    continue
                assert await send_digest_if_due(store, template_env())
            async with store.readers() as s:
                for item in (await s.execute(select(OutboxItem).where(OutboxItem.kind == "digest")
                                             .order_by(OutboxItem.id))).scalars():
                    assert item.message_sha256 is not None
                    out.append(store.blobs.get(item.message_sha256))
        return out
    mails = asyncio.run(digests())
    assert len(mails) == 2
    first, second = (email.message_from_bytes(m, policy=policy.default) for m in mails)
    images = [p for p in first.walk() if p.get_content_type() == "image/png"]
    assert len(images) == 1 and images[0]["Content-ID"] == f"<{CHART_CID}>"
    png = Image.open(io.BytesIO(images[0].get_content()))
    assert png.size == CHART_PX
    html = first.get_body(("html",)).get_content()  # type: ignore[union-attr]
    plain = first.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert f'src="cid:{CHART_CID}"' in html and 'alt="แผนภูมิสถิติงานสารบรรณ เดือนพฤศจิกายน 2569"' in html
    for part in (html, plain):
        assert "สถิติประจำเดือนพฤศจิกายน 2569" in part and "หนังสือรับทั้งเดือน 10 ฉบับ" in part
    assert not [p for p in second.walk() if p.get_content_type() == "image/png"]
    assert "สถิติประจำเดือน" not in second.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_forwards_made_by_the_test_are_real_forwards(site: Path) -> None:
    async def count() -> int:
        from gateway.app import opened_store

        async with opened_store(load_settings(site / "config.toml")) as store, store.readers() as s:
            return len((await s.execute(select(Forward))).scalars().all())
    assert asyncio.run(count()) == sum(1 for *_, unit, _f, _a in LETTERS if unit)


def test_build_report_gives_the_files_a_mail_reply_attaches(site: Path) -> None:
    from gateway.app import opened_store
    from gateway.reports.build import PDF, XLSX, build_report
    from gateway.reports.layout import Period

    async def build() -> dict[str, list[tuple[str, bytes, str]]]:
        settings = load_settings(site / "config.toml")
        async with opened_store(settings) as store:
            return {
                "stats": await build_report("stats", Month(2026, 11), settings, store),
                "register": await build_report("register:receive", Period(year=2569), settings, store),
                "handover": await build_report("handover:admin", dt.date(2026, 11, 2), settings, store),
            }
    files = asyncio.run(build())
    assert [(n, t) for n, _, t in files["stats"]] == [("สถิติ พฤศจิกายน 2569.pdf", PDF)]
    assert [t for _, _, t in files["register"]] == [PDF, XLSX]
    assert [t for _, _, t in files["handover"]] == [PDF, XLSX]
    for name, data, ctype in files["register"] + files["handover"]:
        assert data.startswith(b"%PDF" if ctype == PDF else b"PK"), name
        path = site / "mailed" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        # by mail a secret letter is its number only, never its subject
        if ctype == PDF:
            assert flat(SUBJECT.format(i=2)) not in flat(pdf_text(path))
        else:
            import zipfile

            z = zipfile.ZipFile(path)  # shared or inline strings: every part of the workbook
            strings = "".join(z.read(n).decode() for n in z.namelist() if n.endswith(".xml"))
            assert SUBJECT.format(i=0) in strings and SUBJECT.format(i=2) not in strings


def test_postgresql_gives_the_same_reports(site: Path, tmp_path: Path, pg_url: str) -> None:
    """The aggregate queries (per day in Bangkok time, per book, per speed, per unit, the
    timings) and the hand-over join run on PostgreSQL too, and give what SQLite gives."""
    write_config(tmp_path / "config.toml", UNITS, name_th=AGENCY, forwarding=DIGEST_ON,
                 storage=f'database_url = "{pg_url}"', dns=quiet_dns())
    assert cli(tmp_path, "db", "upgrade").returncode == 0
    asyncio.run(_fill(tmp_path))
    for args in (("report", "stats", "--month", "พ.ย.", "--year", "2569"),):
        on_sqlite, on_pg = cli(site, *args), cli(tmp_path, *args)
        assert on_pg.returncode == 0, on_pg.stderr
        assert on_pg.stdout == on_sqlite.stdout
    texts = []
    for where in (site, tmp_path):
        out = where / "handover-pg-check.pdf"
        r = cli(where, "report", "handover", "--unit", "admin", "--date", "2 พ.ย. 2569", "-o", str(out))
        assert r.returncode == 0, r.stderr
        texts.append(columns(out)[0])
    assert texts[0] == texts[1] and any(texts[0])
