"""A hostile PDF cannot make the receive stamp stall intake (issue #20), over the real SMTP
listener with one worker process.

Each attack is one row: a registrable letter (its own ที่, date, subject) carrying something
costly on page 1, sent between two ordinary letters. Stamp placement renders page 1 with PDFium,
which paints every form and decodes every image; stamping runs in a worker within the letter's
budget ([intake] read_seconds, read_memory_mb), as reading does. Either the guards keep the
stamp cheap (it is drawn), or the worker goes over its budget and is stopped: the letter stays
registered, the stamp is skipped with a Thai remark in หมายเหตุ, and units get the PDF as
received. The letters around it are registered and stamped in arrival order either way.
No assertion here is about time: states, files and the register are asserted.
"""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from sqlalchemy import select

from gateway.app import open_store
from gateway.inbound import stamp as stamp_module
from gateway.inbound.stamp import NOT_STAMPED, stamp_blob
from gateway.service import serve
from gateway.store.blobs import sha256_hex
from gateway.store.tables import LetterFile, RegisterEntry
from tests.conftest import TickingClock, add_to_directory, make_settings
from tests.corpus.mail import letter_mail, numbered_letter_pdf
from tests.integration.test_inbound_smtp import _id, _send, _until

pytestmark = pytest.mark.integration

MEMORY_MB = 400  # the worker's budget here (the default is 1024)


def stamp_blob_unguarded(*args: Any, **kwargs: Any) -> Any:
    """stamp_blob with stamp placement's guard taken away (gateway/pdf/pdfium.py `drawable`):
    page 1 is rendered whatever it costs, as PDFium alone would; in the worker process."""
    import gateway.pdf.pdfium as pdfium_module

    real = pdfium_module.drawable
    pdfium_module.drawable = lambda pdf, page_index=0: True
    try:
        return stamp_blob(*args, **kwargs)
    finally:
        pdfium_module.drawable = real


def _on_page1(pdf: bytes, content: bytes, xobjects: dict[str, Callable[[IncrementalPdfFileWriter],
                                                                      generic.IndirectObject]],
              **page: generic.PdfObject) -> bytes:
    """`pdf` with `content` painted on page 1 (an incremental update), its named XObjects made
    by the given functions, and page entries set."""
    w = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    refs = generic.DictionaryObject({pdf_name("/" + k): make(w) for k, make in xobjects.items()})
    w.add_stream_to_page(0, w.add_object(generic.StreamObject(stream_data=content)),
                         resources=generic.DictionaryObject({pdf_name("/XObject"): refs}) if refs else None)
    if page:
        ref, _ = w.find_page_for_modification(0)
        for key, value in page.items():
            ref.get_object()[pdf_name("/" + key)] = value
        w.mark_update(ref)
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def _form(w: IncrementalPdfFileWriter, data: bytes, inner: generic.IndirectObject | None) -> generic.IndirectObject:
    res = generic.DictionaryObject()
    if inner is not None:
        res[pdf_name("/XObject")] = generic.DictionaryObject({pdf_name("/X"): inner})
    form = generic.StreamObject({pdf_name("/Type"): pdf_name("/XObject"), pdf_name("/Subtype"): pdf_name("/Form"),
                                 pdf_name("/BBox"): generic.ArrayObject(generic.NumberObject(v) for v in (0, 0, 595, 842)),
                                 pdf_name("/Resources"): res}, stream_data=data)
    form.compress()
    return w.add_object(form)


def nested_forms(depth: int, fanout: int) -> bytes:
    """Forms nested `depth` deep, each painting the next `fanout` times, on a real letter."""
    def make(w: IncrementalPdfFileWriter) -> generic.IndirectObject:
        ref = _form(w, b"0 0 m 1 1 l S", None)
        for _ in range(depth):
            ref = _form(w, b"/X Do " * fanout, ref)
        return ref
    return _on_page1(numbered_letter_pdf(2), b"q /N Do Q", {"N": make})


def form_calls(calls: int, noops: int) -> bytes:
    """One form of `noops` no-op operators painted `calls` times (issue 19's shape)."""
    return _on_page1(numbered_letter_pdf(2), b"q " + b"/F Do " * calls + b"Q",
                     {"F": lambda w: _form(w, b"0 0 m\n" * noops, None)})


def image_bomb(px: int) -> bytes:
    """A px x px grey image over page 1: px * px bytes decoded from a file of about px * 29 B.
    Its deflate stream repeats one fully flushed block (cheap to make)."""
    rows = 500
    chunk = b"\x80" * (px * rows)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
    adler = 1
    for _ in range(px // rows):
        adler = zlib.adler32(chunk, adler)
    data = b"\x78\xda" + block * (px // rows) + c.flush(zlib.Z_FINISH) + adler.to_bytes(4, "big")

    def make(w: IncrementalPdfFileWriter) -> generic.IndirectObject:
        return w.add_object(generic.StreamObject(
            {pdf_name("/Type"): pdf_name("/XObject"), pdf_name("/Subtype"): pdf_name("/Image"),
             pdf_name("/Width"): generic.NumberObject(px), pdf_name("/Height"): generic.NumberObject(px),
             pdf_name("/ColorSpace"): pdf_name("/DeviceGray"),
             pdf_name("/BitsPerComponent"): generic.NumberObject(8),
             pdf_name("/Filter"): pdf_name("/FlateDecode")}, encoded_data=data))
    return _on_page1(numbered_letter_pdf(2), b"q 120 0 0 120 440 680 cm /B Do Q", {"B": make})


def huge_page(side: int) -> bytes:
    """The letter on a page `side` points square (14,400: the largest PDF allows)."""
    box = generic.ArrayObject(generic.NumberObject(v) for v in (0, 0, side, side))
    return _on_page1(numbered_letter_pdf(2), b"", {}, MediaBox=box)


@dataclass(frozen=True)
class Attack:
    name: str
    make: Callable[[], bytes]
    expect: str  # "stamped": the guards keep it cheap; "skipped": over the budget, not stamped
    guard: bool = True  # False: stamp placement renders page 1 whatever it costs
    remark: str = ""  # in หมายเหตุ when skipped


OVER_MEMORY = f"{NOT_STAMPED} (ต้องใช้หน่วยความจำเกิน {MEMORY_MB} MB) ส่งต่อไฟล์ตามที่ได้รับ"
ATTACKS = [
    Attack("forms nested 12 deep, each painting the next 10 times (10^12 paintings)",
           lambda: nested_forms(12, 10), "stamped"),
    Attack("the same without the drawing guard: PDFium paints them until the worker is stopped",
           lambda: nested_forms(12, 10), "skipped", guard=False, remark=OVER_MEMORY),
    Attack("one form of 100,000 no-ops painted 100 times", lambda: form_calls(100, 100_000),
           "stamped"),
    Attack("an image of 30,000 x 30,000 grey pixels (900 MB decoded from 0.9 MB) on page 1",
           lambda: image_bomb(30_000), "stamped"),
    Attack("a page 14,400 pt square (rendered coarser, not 117 Mpx)", lambda: huge_page(14_400),
           "stamped"),
]


@pytest.fixture
async def gateway(tmp_path: Path, db_url: str):
    settings = make_settings(tmp_path, db_url, intake={
        "read_processes": 1, "read_seconds": 10, "read_memory_mb": MEMORY_MB, "revocation": "off"})
    store = await open_store(settings, upgrade=True, clock=TickingClock())
    await add_to_directory(store, "saraban@obec.go.th")
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, ready=ready, stop=stop, store=store))
    port = await asyncio.wait_for(ready, 120)  # guards a hang only
    yield port, store
    stop.set()
    await asyncio.wait_for(task, 60)
    await store.close()


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
async def test_a_hostile_pdf_never_stalls_stamping(attack: Attack, gateway: tuple[int, Any],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    port, store = gateway
    if not attack.guard:
        monkeypatch.setattr(stamp_module, "stamp_blob", stamp_blob_unguarded)
    hostile = attack.make()
    pdfs = [numbered_letter_pdf(1), hostile, numbered_letter_pdf(3)]
    sent = [_id(await _send(port, letter_mail(pdf, subject=f"ฉบับที่ {n}")))
            for n, pdf in enumerate(pdfs, 1)]
    letters = [await _until(store, lid, states={"registered", "review"}, timeout=300) for lid in sent]
    assert [x.state for x in letters] == ["registered"] * 3  # stamped_at set: the stamp step ended
    async with store.sessions() as s:
        entries = {e.letter_id: e for e in (await s.execute(select(RegisterEntry))).scalars()}
        files = {(f.letter_id, f.role): f for f in (await s.execute(select(LetterFile))).scalars()}
    assert [entries[x.id].number for x in letters] == [1, 2, 3]  # in arrival order
    for x in (letters[0], letters[2]):
        assert (x.id, "stamped") in files and not x.stamp_error
    target = letters[1]
    assert files[target.id, "main"].sha256 == sha256_hex(hostile)  # the PDF as received, kept
    if attack.expect == "stamped":
        assert (target.id, "stamped") in files and not target.stamp_error
        assert NOT_STAMPED not in entries[target.id].remarks
    else:
        assert (target.id, "stamped") not in files  # units get the file as received
        assert target.stamp_error == attack.remark
        assert attack.remark in entries[target.id].remarks


def test_an_image_bomb_is_never_drawn_even_without_a_worker(tmp_path: Path) -> None:
    """Outside a worker (`read_processes = 0`, the `pdf stamp` command) no budget applies: the
    page whose images decode to more pixels than any letter has is not drawn at all (the
    stamp goes to its fixed place), so the process stays small. Measured in a child process:
    its peak RSS with the bomb against the same stamp on an ordinary letter."""
    from gateway.pdf.pdfium import drawable

    bomb = image_bomb(30_000)
    assert not drawable(bomb) and drawable(numbered_letter_pdf(2))
    script = (
        "import resource, sys, datetime as dt\n"
        "from gateway.pdf.stamp import ReceiptStamp, stamp_receipt_placed\n"
        "pdf = open(sys.argv[1], 'rb').read()\n"
        "stamp = ReceiptStamp('สำนักงานทดสอบ', 7, dt.datetime(2026, 12, 1, 3, tzinfo=dt.UTC), False)\n"
        "out = stamp_receipt_placed(pdf, stamp, None)\n"
        "assert out.pdf.startswith(pdf)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)\n")
    peaks = {}
    for name, pdf in (("bomb", bomb), ("letter", numbered_letter_pdf(2))):
        path = tmp_path / f"{name}.pdf"
        path.write_bytes(pdf)
        done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True,
                              text=True, timeout=120, check=False,
                              env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
        assert done.returncode == 0, done.stderr[-2000:]
        peaks[name] = int(done.stdout.split()[-1])
    # 900 MB if drawn; not drawn, it costs what an ordinary letter costs, give or take its file
    assert peaks["bomb"] < peaks["letter"] + 100, peaks
