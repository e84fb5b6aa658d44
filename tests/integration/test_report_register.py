"""`report register` as an administrator runs it: a register filled through the store, printed
to PDF, XLSX and CSV by the real command line, and read back with poppler and zipfile.

The PDF is read as an auditor's tools read it: its text layer (pdftotext) must say exactly what
the register says, every row in order, each cell's lines broken only between Thai words; its
pages are numbered ``หน้า n / m``; and rendered, no text reaches a cell's border.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import io
import re
import subprocess
import sys
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from lxml import etree
from pythainlp.tokenize import word_tokenize

from gateway.cli.main import main
from gateway.config import load_settings
from gateway.reports.export import export_row, to_record
from gateway.reports.layout import official_cells, official_heads
from gateway.reports.printed import BOTTOM, TOP_OF_TABLE, column_bounds
from gateway.reports.sheet import date_format
from gateway.store import registers
from gateway.store.registers import EntryFields
from gateway.thai import to_thai_digits
from gateway.trust.secrecy import SECRET_TH
from tests.conftest import FakeClock
from tests.dnsserver import quiet_dns
from tests.processes import write_config

pytestmark = pytest.mark.integration

AGENCY = "สำนักงานเขตพื้นที่การศึกษาประถมศึกษาทดสอบ เขต ๑"  # a long name, as the header prints it

SUBJECTS = (
    "ขอเชิญประชุมคณะกรรมการบริหารสถานศึกษาขั้นพื้นฐาน ครั้งที่ 3/2569",
    "ขอความร่วมมือรายงานผลการดำเนินงานตามแผนปฏิบัติราชการประจำปีงบประมาณ พ.ศ. ๒๕๖๙ "
    "ของสถานศึกษาในสังกัดสำนักงานเขตพื้นที่การศึกษาประถมศึกษา ภายในวันที่ ๑๕ ธันวาคม ๒๕๖๙",
    "แจ้งกำหนดการตรวจเยี่ยมโรงเรียนบ้านหนองน้ำใส และโรงเรียนบ้านโคกกลาง",
    "ส่งคำสั่งแต่งตั้งผู้อำนวยการสถานศึกษา",
    "=HYPERLINK(\"http://evil.test\",\"คลิก\")",
    "การประกวดราคาจ้างก่อสร้างอาคารเรียนแบบ สปช.105/29 ด้วยวิธีประกวดราคาอิเล็กทรอนิกส์ (e-bidding)",
)
SENDERS = ("กรมส่งเสริมการปกครองท้องถิ่น", "โรงเรียนบ้านหนองน้ำใส",
           "สำนักงานคณะกรรมการการศึกษาขั้นพื้นฐาน", "มหาวิทยาลัยราชภัฏร้อยเอ็ด")
LONG = ("ผู้อำนวยการสำนักงานเขตพื้นที่การศึกษาประถมศึกษาทดสอบเขตหนึ่งได้พิจารณาแล้วเห็นควร"
        "มอบหมายกลุ่มนโยบายและแผนดำเนินการตรวจสอบข้อมูลนักเรียนรายบุคคลให้ถูกต้องครบถ้วน" * 4)


def cli(cwd: Path, *args: str, config: str = "config.toml") -> subprocess.CompletedProcess[bytes]:
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    err = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--config", str(cwd / config), *args])
    out.seek(0)
    return subprocess.CompletedProcess(list(args), code, out.buffer.read(), err.getvalue())


async def _fill(site: Path) -> None:
    from gateway.app import opened_store

    clock = FakeClock(dt.datetime(2026, 12, 1, 1, 30, tzinfo=dt.UTC))  # 1 ธ.ค. 2569 08:30
    settings = load_settings(site / "config.toml")
    async with opened_store(settings, clock=clock) as store:
        for i in range(40):
            if i == 25:
                clock.now = dt.datetime(2026, 12, 2, 2, 0, tzinfo=dt.UTC)
            clock.advance(minutes=7)
            fields = EntryFields(
                letter_no=f"ศธ 0{4000 + i}/ว{100 + i}",
                letter_date=dt.date(2026, 11, 20 + i % 10),
                sender=SENDERS[i % len(SENDERS)],
                recipient="ผู้อำนวยการสำนักงานเขตพื้นที่การศึกษา",
                subject=LONG if i == 7 else SUBJECTS[i % len(SUBJECTS)] + f" รายการที่ {i}",
                action="ส่งกลุ่มอำนวยการ" if i % 3 else "",
                remarks="ด่วนที่สุด" if i % 5 == 0 else "",
                secrecy="ลับ" if i in (4, 30) else "ปกติ",
                channel="smtp",
            )
            async with store.sessions.begin() as s:
                await registers.allocate(s, book_code="receive", now=clock(), fields=fields)
        async with store.sessions.begin() as s:
            await registers.allocate(s, book_code="send", now=clock(), fields=EntryFields(
                letter_no="ศธ 04183/123", sender="สำนักงานทดสอบ", recipient="โรงเรียนบ้านโคกกลาง",
                subject="ส่งหนังสือทดสอบ"))
            await registers.cancel_number(s, book_code="receive", year=2569, number=12,
                                          reason="ลงซ้ำ", now=clock(), actor="test")


async def _rows(site: Path, book: str = "receive") -> list:
    from gateway.app import opened_store

    async with opened_store(load_settings(site / "config.toml")) as store, store.readers() as s:
        b, entries = await registers.entries(s, book_code=book, year=2569)
        return [export_row(b, e) for e in entries]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("report")
    write_config(tmp / "config.toml", name_th=AGENCY, dns=quiet_dns())
    assert cli(tmp, "db", "upgrade").returncode == 0
    asyncio.run(_fill(tmp))
    return tmp


@pytest.fixture(scope="module")
def rows(site: Path) -> list:
    return asyncio.run(_rows(site))


@pytest.fixture(scope="module")
def printed(site: Path) -> Path:
    out = site / "receive.pdf"
    r = cli(site, "report", "register", "--book", "receive", "--year", "2569", "--format", "pdf",
            "-o", str(out), "--include-secret")
    assert r.returncode == 0, r.stderr
    return out


# --- reading the PDF back ------------------------------------------------------------------

@dataclass
class Word:
    page: int
    x0: float
    y0: float
    x1: float
    y1: float
    text: str


def words_of(pdf: Path) -> list[Word]:
    xml = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True,
                         check=True).stdout
    root = etree.fromstring(xml, etree.XMLParser(recover=True))
    out = []
    for n, page in enumerate(root.iter("{*}page"), start=1):
        for w in page.iter("{*}word"):
            out.append(Word(n, float(w.get("xMin")), float(w.get("yMin")), float(w.get("xMax")),
                            float(w.get("yMax")), unicodedata.normalize("NFC", w.text or "")))
    return out


PT = 72 / 25.4
TABLE = ((TOP_OF_TABLE - 3) * PT, BOTTOM * PT)  # pdftotext's word tops, in points
COLUMNS = column_bounds()


def column(w: Word) -> int:
    mid = (w.x0 + w.x1) / 2
    return next(i for i, (a, b) in enumerate(COLUMNS) if a <= mid <= b)


def lines(words: list[Word]) -> list[tuple[float, float, str]]:
    """Words on one baseline, left to right: (top, bottom, text)."""
    by_y: dict[float, list[Word]] = {}
    for w in words:
        key = next((k for k in by_y if abs(k - w.y0) < 1.0), w.y0)
        by_y.setdefault(key, []).append(w)
    return [(y, max(w.y1 for w in ws), " ".join(w.text for w in sorted(ws, key=lambda w: w.x0)))
            for y, ws in sorted(by_y.items())]


@dataclass
class Page:
    heads: list[list[str]]
    bands: list[tuple[float, float, str]]
    rows: list[list[list[str]]]  # row, column, lines
    text_lines: list[tuple[float, float, int]]  # top, bottom, column of each cell line


def read_pages(pdf: Path) -> list[Page]:
    words = words_of(pdf)
    top, bottom = TABLE
    pages = []
    for n in sorted({w.page for w in words}):
        table = [w for w in words if w.page == n and top <= w.y0 < bottom]
        col0 = lines([w for w in table if column(w) == 0])
        band_ys = [ln[0] for ln in col0 if ln[2].startswith("วันที่")]
        bands = [ln for ln in lines(table) if any(abs(ln[0] - y) < 1 for y in band_ys)]
        body = [w for w in table if all(abs(w.y0 - y) >= 1.0 for y in band_ys)]
        first_band = band_ys[0]
        starts = [ln[0] for ln in col0 if ln[0] > first_band and not ln[2].startswith("วันที่")]
        heads = [[t for _, _, t in lines([w for w in body if column(w) == c and w.y0 < first_band])]
                 for c in range(8)]
        rows, text_lines = [], []
        for i, y in enumerate(starts):
            nxt = min([s for s in starts[i + 1:]] + [b for b in band_ys if b > y] + [bottom])
            cells = []
            for c in range(8):
                cell = lines([w for w in body if column(w) == c and y - 1 <= w.y0 < nxt - 1])
                cells.append([t for _, _, t in cell])
                text_lines += [(a, b, c) for a, b, _ in cell]
            rows.append(cells)
        pages.append(Page(heads, bands, rows, text_lines))
    return pages


def token_ends(text: str) -> set[int]:
    ends, at = set(), 0
    for token in word_tokenize(text, engine="newmm", keep_whitespace=True):
        at += len(token)
        ends.add(at)
    return ends


def rejoin(text: str, cell: list[str]) -> tuple[str, list[int]]:
    """The cell's lines laid back on the register's text: what they say (spaces at the breaks
    restored) and the offsets in ``text`` where each line ended."""
    at, breaks = 0, []
    for line in cell:
        while at < len(text) and text[at] == " " and not line.startswith(" "):
            at += 1
        assert text[at:at + len(line)] == line, (text, cell)
        at += len(line)
        breaks.append(at)
    return text[:at], breaks[:-1]


# --- the PDF -------------------------------------------------------------------------------

def test_pdf_text_layer_is_the_register_row_by_row(printed: Path, rows: list) -> None:
    pages = read_pages(printed)
    got = [r for p in pages for r in p.rows]
    assert len(got) == len(rows) == 40
    for row, cells in zip(rows, got, strict=True):
        want = official_cells(row, thai_digits=True)
        for text, cell in zip(want, cells, strict=True):
            said, _ = rejoin(unicodedata.normalize("NFC", text), cell)
            assert said == unicodedata.normalize("NFC", text)
    assert " ".join(got[11][7]) == "ยกเลิก: ลงซ้ำ"  # the cancelled number stays, marked
    assert [r[0][0] for r in got] == [to_thai_digits(str(n)) for n in range(1, 41)]
    for p in pages:  # the form's headings on every page, and a day line before the first row
        assert ["".join(h) for h in p.heads] == list(official_heads("receive"))
        assert p.bands and p.bands[0][0] < min(a for a, _, _ in p.text_lines)
    bands = [b[2] for p in pages for b in p.bands]
    assert bands[0] == "วันที่ ๑ ธันวาคม ๒๕๖๙" and "วันที่ ๒ ธันวาคม ๒๕๖๙" in bands


def test_pdf_lines_break_only_between_thai_words(printed: Path, rows: list) -> None:
    got = [r for p in read_pages(printed) for r in p.rows]
    wrapped = 0
    for row, cells in zip(rows, got, strict=True):
        for text, cell in zip(official_cells(row, thai_digits=True), cells, strict=True):
            text = unicodedata.normalize("NFC", text)
            _, breaks = rejoin(text, cell)
            ends = token_ends(text)
            for at in breaks:
                wrapped += 1
                assert at in ends, f"broken inside a word: {text[:at]}|{text[at:]}"
            for line in cell:
                assert not unicodedata.category(line[0]).startswith("M") and line[0] != "ำ"
    assert wrapped > 40  # long subjects and names did wrap
    assert max(len(c[5]) for c in got) >= 8  # the very long subject wraps within its row


def test_pdf_pages_are_numbered_n_of_m(printed: Path) -> None:
    info = subprocess.run(["pdfinfo", str(printed)], capture_output=True, text=True).stdout
    total = int(re.search(r"Pages:\s+(\d+)", info)[1])  # type: ignore[index]
    text = subprocess.run(["pdftotext", "-layout", str(printed), "-"], capture_output=True,
                          text=True).stdout
    pages = text.split("\f")[:total]
    assert total >= 3
    for n, page in enumerate(pages, start=1):
        assert f"หน้า {to_thai_digits(str(n))} / {to_thai_digits(str(total))}" in page
        assert "ทะเบียนหนังสือรับ" in page and "ปี พ.ศ. ๒๕๖๙" in page
        assert AGENCY in page
    fonts = subprocess.run(["pdffonts", str(printed)], capture_output=True, text=True).stdout
    assert all(line.split()[-5] == "yes" for line in fonts.splitlines()[2:])  # embedded


def test_pdf_text_stays_inside_its_cells(printed: Path) -> None:
    pages = read_pages(printed)
    for w in words_of(printed):  # every word of a cell inside its column
        if TABLE[0] <= w.y0 < TABLE[1] and not any(
                abs(w.y0 - b[0]) < 1 for b in pages[w.page - 1].bands):
            a, b = COLUMNS[column(w)]
            assert a + 1 <= w.x0 and w.x1 <= b - 1, w
    # Rendered: no ink in the strip just inside each vertical rule, beside every line of text
    # (the text keeps 1.2 mm from the rules; the strip is 0.5-1.0 mm from them).
    dpi = 150
    for n in (1, 2):
        png = subprocess.run(["pdftoppm", "-f", str(n), "-l", str(n), "-r", str(dpi), "-gray",
                              str(printed)], capture_output=True, check=True).stdout
        img = _pgm(png)
        scale = dpi / 72
        rules = sorted({x for a, b in COLUMNS for x in (a, b)})
        for top, bottom, _ in pages[n - 1].text_lines:  # pdftotext's box holds the rules
            y0, y1 = int((top + 6) * scale), int((bottom - 6) * scale)
            for x in rules:
                for lo, hi in ((0.5, 1.0), (-1.0, -0.5)):
                    strip = img[y0:y1, int((x + lo * PT) * scale):int((x + hi * PT) * scale)]
                    if strip.size:
                        assert strip.min() > 160, f"ink beside the rule at x={x:.1f} on page {n}"


def _pgm(data: bytes) -> np.ndarray:
    header = data.split(maxsplit=4)
    assert header[0] == b"P5"
    w, h = int(header[1]), int(header[2])
    return np.frombuffer(data[-w * h:], dtype=np.uint8).reshape(h, w)


def test_rows_stream_in_chunks_in_register_order(site: Path, rows: list) -> None:
    from gateway.app import opened_store
    from gateway.reports.layout import Period
    from gateway.reports.source import book_of, count_rows, stream_rows

    async def read() -> tuple[int, list]:
        async with opened_store(load_settings(site / "config.toml")) as store:
            book = await book_of(store, "receive")
            period = Period(year=2569)
            return (await count_rows(store, book, period),
                    [r async for r in stream_rows(store, book, period, chunk=7)])

    total, got = asyncio.run(read())
    assert total == 40 and got == rows


def test_arabic_digits_when_the_agency_prints_them(site: Path, rows: list) -> None:
    text = (site / "config.toml").read_text(encoding="utf-8")
    (site / "arabic.toml").write_text(text.replace("[agency]\n", "[agency]\nthai_digits = false\n"),
                                      encoding="utf-8")
    out = site / "arabic.pdf"
    r = cli(site, "report", "register", "--book", "receive", "--year", "2569", "--format", "pdf",
            "-o", str(out), config="arabic.toml")
    assert r.returncode == 0, r.stderr
    pages = read_pages(out)
    assert [r[0][0] for p in pages for r in p.rows] == [str(n) for n in range(1, 41)]
    layout = subprocess.run(["pdftotext", "-layout", str(out), "-"], capture_output=True,
                            text=True).stdout
    assert f"หน้า 1 / {len(pages)}" in layout and "ปี พ.ศ. 2569" in layout
    assert "วันที่ 1 ธันวาคม 2569" in layout and "หน้า ๑" not in layout


def test_a_row_taller_than_a_page_goes_on_over_the_next(tmp_path: Path) -> None:
    write_config(tmp_path / "config.toml", name_th=AGENCY, dns=quiet_dns())
    assert cli(tmp_path, "db", "upgrade").returncode == 0
    remarks = " ".join(f"หมายเหตุยาวมากบรรทัดที่ {n}" for n in range(60))

    async def fill() -> None:
        from gateway.app import opened_store

        clock = FakeClock(dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC))
        async with opened_store(load_settings(tmp_path / "config.toml"), clock=clock) as store:
            for subject, note in (("ก่อนหน้า", ""), ("ยาวเกินหน้า", remarks), ("ถัดไป", "")):
                async with store.sessions.begin() as s:
                    await registers.allocate(s, book_code="receive", now=clock(),
                                             fields=EntryFields(subject=subject, remarks=note))

    asyncio.run(fill())
    out = tmp_path / "tall.pdf"
    r = cli(tmp_path, "report", "register", "--book", "receive", "--year", "2569",
            "--format", "pdf", "-o", str(out))
    assert r.returncode == 0, r.stderr
    table = [w for w in words_of(out) if TABLE[0] <= w.y0 < TABLE[1]]
    band = {w.page: w.y0 for w in reversed(table) if w.text == "วันที่"}  # below the headings
    words = [w for w in table if column(w) == 7 and w.y0 > band[w.page]]
    pages = sorted({w.page for w in words})
    assert len(pages) >= 3  # the long row starts on a page of its own and runs on
    said = "".join(t for p in pages for _, _, t in lines([w for w in words if w.page == p]))
    assert said.replace(" ", "") == remarks.replace(" ", "")  # nothing of it lost, in order
    text = subprocess.run(["pdftotext", "-raw", str(out), "-"], capture_output=True,
                          text=True).stdout
    assert text.index("ก่อนหน้า") < text.index("ยาวเกินหน้า") < text.rindex("ถัดไป")


def test_documents_are_dated_by_the_gateways_clock(tmp_path: Path, rows: list) -> None:
    from gateway.reports.printed import PrintedHeader, RegisterPdf
    from gateway.reports.sheet import RegisterWorkbook
    from gateway.reports.thaifont import report_font_path

    now = dt.datetime(2031, 5, 4, 3, 2, 1, tzinfo=dt.UTC)
    pdf = RegisterPdf(font_path=report_font_path(), thai_digits=True, now=now)
    pdf.start_book(PrintedHeader("ทะเบียนหนังสือรับ", "สำนักงานทดสอบ", "ปี พ.ศ. ๒๕๖๙"), "receive")
    pdf.add(rows[0])
    with (tmp_path / "d.pdf").open("wb") as fh:
        assert pdf.output(fh) == 1
    info = subprocess.run(["pdfinfo", "-isodates", str(tmp_path / "d.pdf")], capture_output=True,
                          text=True).stdout
    assert re.search(r"CreationDate:\s+2031-05-04T03:02:01", info), info
    assert re.search(r"Title:\s+ทะเบียนหนังสือรับ", info), info
    book = RegisterWorkbook(str(tmp_path / "d.xlsx"), thai_digits=False, now=now)
    book.start_book("ทะเบียนหนังสือรับ", "receive")
    book.close()
    with zipfile.ZipFile(tmp_path / "d.xlsx") as z:
        assert b"2031-05-04T03:02:01Z" in z.read("docProps/core.xml")


def test_help_names_the_report_command_in_thai() -> None:
    r = subprocess.run([sys.executable, "-m", "gateway", "report", "register", "--help"],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "--include-secret" in r.stdout and "ปี พ.ศ." in r.stdout


# --- secrets, periods, errors --------------------------------------------------------------

def _pdf_text(site: Path, *args: str) -> str:
    out = site / "t.pdf"
    r = cli(site, "report", "register", "--format", "pdf", "-o", str(out), *args)
    assert r.returncode == 0, r.stderr
    return unicodedata.normalize("NFC", subprocess.run(
        ["pdftotext", "-raw", str(out), "-"], capture_output=True, text=True).stdout)


def test_secret_letters_show_their_number_only(site: Path, rows: list) -> None:
    secret = rows[4]
    assert secret.secrecy == "ลับ"
    hidden = _pdf_text(site, "--book", "receive", "--year", "2569")
    shown = _pdf_text(site, "--book", "receive", "--year", "2569", "--include-secret")
    def flat(s: str) -> str:
        return "".join(s.split())

    assert flat(secret.subject) not in flat(hidden) and secret.letter_no not in hidden
    assert hidden.count(SECRET_TH) == 2 and SECRET_TH not in shown
    assert flat(secret.subject) in flat(shown) and secret.letter_no in shown
    for fmt in ("csv", "xlsx"):
        out = site / f"s.{fmt}"
        assert cli(site, "report", "register", "--book", "receive", "--year", "2569",
                   "--format", fmt, "-o", str(out)).returncode == 0
        data = out.read_bytes() if fmt == "csv" else _sheet_xml(out, 1)
        assert secret.subject.encode() not in data and secret.letter_no.encode() not in data
        assert SECRET_TH.encode() in data


@pytest.mark.parametrize(("start", "end"), [
    ("2569-12-02", "2569-12-02"), ("2/12/2569", "2/12/2569"), ("2 ธ.ค. 2569", "๒ ธ.ค. ๒๕๖๙")])
def test_a_period_in_any_thai_date_form(site: Path, rows: list, start: str, end: str) -> None:
    text = _pdf_text(site, "--book", "receive", "--from", start, "--to", end, "--include-secret")
    assert "ตั้งแต่วันที่ ๒ ธันวาคม ๒๕๖๙ ถึงวันที่ ๒ ธันวาคม ๒๕๖๙" in text
    assert "วันที่ ๑ ธันวาคม ๒๕๖๙" not in text
    assert rows[25].letter_no in text and rows[24].letter_no not in text


@pytest.mark.parametrize(("args", "says"), [
    (("--book", "bogus", "--year", "2569"), "unknown book"),
    (("--book", "receive", "--from", "31 ก.พ. 2569"), "cannot read the date"),
    (("--book", "receive", "--from", "2569-12-05", "--to", "2569-12-01"), "--from is after --to"),
    (("--book", "receive", "--book", "send", "--year", "2569"), "one book"),
])
def test_bad_requests_fail_with_a_reason(site: Path, args: tuple[str, ...], says: str) -> None:
    r = cli(site, "report", "register", "--format", "csv", *args)
    assert r.returncode == 1 and says in r.stderr


def test_csv_is_the_registers_export_csv(site: Path) -> None:
    ours = cli(site, "report", "register", "--book", "receive", "--year", "2569", "--format",
               "csv", "--include-secret")
    theirs = cli(site, "registers", "export", "--book", "receive", "--year", "2569",
                 "--format", "csv")
    assert ours.returncode == theirs.returncode == 0
    assert ours.stdout.startswith(b"\xef\xbb\xbf") and ours.stdout == theirs.stdout
    assert b"'=HYPERLINK" in ours.stdout  # a subject never becomes a formula


# --- the spreadsheet -----------------------------------------------------------------------

NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}


def _sheet_xml(path: Path, n: int) -> bytes:
    with zipfile.ZipFile(path) as z:
        return z.read(f"xl/worksheets/sheet{n}.xml")


def _cells(sheet: etree._Element) -> dict[str, etree._Element]:
    return {c.get("r"): c for c in sheet.iter("{*}c")}


def _text(c: etree._Element) -> str:
    return "".join(c.itertext())


def test_xlsx_one_sheet_per_book_with_real_thai_dates(site: Path, rows: list) -> None:
    out = site / "r.xlsx"
    r = cli(site, "report", "register", "--book", "receive", "--book", "send", "--year", "2569",
            "--format", "xlsx", "-o", str(out), "--include-secret")
    assert r.returncode == 0, r.stderr
    with zipfile.ZipFile(out) as z:
        book = etree.fromstring(z.read("xl/workbook.xml"))
        styles = etree.fromstring(z.read("xl/styles.xml"))
    assert [s.get("name") for s in book.iterfind(".//m:sheet", NS)] == [
        "ทะเบียนหนังสือรับ", "ทะเบียนหนังสือส่ง"]
    sheet = etree.fromstring(_sheet_xml(out, 1))
    cells = _cells(sheet)
    heads = [_text(cells[f"{c}1"]) for c in "ABCDEFGHIJKLMN"]
    assert heads[:9] == ["วันที่ลงทะเบียน", *official_heads("receive")]
    pane = sheet.find(".//m:pane", NS)
    assert pane is not None and pane.get("ySplit") == "1" and pane.get("state") == "frozen"
    assert sheet.find("m:autoFilter", NS).get("ref") == "A1:N41"  # type: ignore[union-attr]
    assert sum(int(c.get("max")) - int(c.get("min")) + 1
               for c in sheet.findall(".//m:col", NS)) == 14  # every column has its width
    # dates are numbers (Excel serials) shown in the Thai Buddhist-era format
    formats = {f.get("numFmtId"): f.get("formatCode") for f in styles.iterfind(".//m:numFmt", NS)}
    xfs = styles.findall("m:cellXfs/m:xf", NS)
    for n, row in enumerate(rows, start=2):
        a, d = cells[f"A{n}"], cells[f"D{n}"]
        assert a.get("t") is None and d.get("t") is None
        day = row.registered_at.astimezone(dt.timezone(dt.timedelta(hours=7))).date()
        assert float(_text(a)) == (day - dt.date(1899, 12, 30)).days
        assert float(_text(d)) == (row.letter_date - dt.date(1899, 12, 30)).days
        assert formats[xfs[int(a.get("s"))].get("numFmtId")] == date_format(True)
        assert int(_text(cells[f"B{n}"])) == row.number
        assert _text(cells[f"G{n}"]) == row.subject
        assert _text(cells[f"I{n}"]) == to_record(row)["remarks"]
    assert date_format(True) == "[$-D07041E]d mmm yyyy"
    assert _text(cells["G6"]).startswith("=HYPERLINK") and cells["G6"].get("t") == "inlineStr"
    second = _cells(etree.fromstring(_sheet_xml(out, 2)))
    assert _text(second["B1"]) == "เลขทะเบียนส่ง" and _text(second["G2"]) == "ส่งหนังสือทดสอบ"
