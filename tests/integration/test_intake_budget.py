"""Reading never stalls intake (issue 19), over the real SMTP listener.

A letter whose reading goes over its budget is stopped in its worker and goes to review with a
Thai reason, once, while the letters around it are registered in arrival order; and after a
restart the listener takes mail before the backlog is worked off, which is still numbered first.
No assertion here is about time: the order of events and the register are asserted.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import pypdf
import pytest
from sqlalchemy import select

from gateway.app import open_store
from gateway.core.parse import parse_message
from gateway.inbound import pipeline as pipeline_module
from gateway.inbound.pipeline import Pipeline
from gateway.inbound.read import read_blob
from gateway.service import accept_smtp, serve
from gateway.store.blobs import BlobStore
from gateway.store.tables import RawMessage, RegisterEntry
from tests.conftest import TickingClock, add_to_directory, make_settings
from tests.corpus.mail import letter_mail, numbered_letter_pdf
from tests.integration.test_inbound_smtp import _id, _send, _until
from tests.pdfgen import hostile

pytestmark = pytest.mark.integration

READ_SECONDS = 4


def read_blob_unguarded(blob_root: str, digest: str, **kwargs: Any) -> Any:
    """read_blob after reading each PDF's page 1 the way pypdf does without the gateway's guard
    (gateway/pdf/textwork.py): the hostile file then costs what it cost before issue 19, two
    minutes; in the worker process, like the real reading."""
    raw = BlobStore(Path(blob_root)).get(digest)
    for att in parse_message(raw).attachments:
        if att.data.startswith(b"%PDF"):
            pypdf.PdfReader(io.BytesIO(att.data)).pages[0].extract_text()
    return read_blob(blob_root, digest, **kwargs)


@pytest.fixture
async def store_and_settings(tmp_path: Path, db_url: str):
    settings = make_settings(tmp_path, db_url, intake={
        "read_processes": 1, "read_seconds": READ_SECONDS, "revocation": "off"})
    store = await open_store(settings, upgrade=True, clock=TickingClock())
    await add_to_directory(store, "saraban@obec.go.th")
    yield store, settings
    await store.close()


async def _serving(settings, store, stop: asyncio.Event) -> tuple[asyncio.Task[int], int]:
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(settings, ready=ready, stop=stop, store=store))
    # guards a hang (the listener never opening) only; nothing asserts how long it took
    return task, await asyncio.wait_for(ready, 120)


async def _numbers(store) -> dict[int, int]:
    async with store.sessions() as s:
        return {e.letter_id: e.number for e in (await s.execute(select(RegisterEntry))).scalars()}


async def test_a_letter_over_its_reading_budget_goes_to_review_and_the_others_flow(
        store_and_settings, monkeypatch: pytest.MonkeyPatch) -> None:
    store, settings = store_and_settings
    monkeypatch.setattr(pipeline_module, "read_blob", read_blob_unguarded)
    poison = letter_mail(hostile.form_calls(100, 100_000), subject="หนังสือที่อ่านไม่จบ",
                         filename="hostile.pdf")
    stop = asyncio.Event()
    task, port = await _serving(settings, store, stop)
    try:
        sent: list[int] = []
        for n in range(1, 12):
            raw = poison if n == 6 else letter_mail(numbered_letter_pdf(n), subject=f"ฉบับที่ {n}")
            sent.append(_id(await _send(port, raw)))
        decided = [await _until(store, lid, states={"registered", "review"}, timeout=300)
                   for lid in sent]
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)
    hostile_letter = decided[5]
    normal = decided[:5] + decided[6:]
    assert hostile_letter.state == "review"
    assert hostile_letter.review_reason == (
        f"อ่านไฟล์หนังสือไม่เสร็จภายใน {READ_SECONDS} วินาที ระบบจึงส่งให้เจ้าหน้าที่ตรวจ")
    assert hostile_letter.attempts == 1  # decided by one reading, not max_attempts of them
    assert hostile_letter.problems[0]["code"] == "over_time_budget"
    assert [x.state for x in normal] == ["registered"] * 10
    numbers = await _numbers(store)
    assert [numbers[x.id] for x in normal] == list(range(1, 11))  # in arrival order, no gap
    assert hostile_letter.id not in numbers
    async with store.sessions() as s:  # the raw message is kept, its PDF byte for byte
        raw_row = await s.get(RawMessage, hostile_letter.raw_message_id)
    assert raw_row is not None
    kept = parse_message(store.blobs.get(raw_row.sha256)).attachments
    assert [a.data for a in kept] == [hostile.form_calls(100, 100_000)]

async def test_after_a_restart_the_listener_takes_mail_before_the_backlog_is_done(
        store_and_settings, monkeypatch: pytest.MonkeyPatch) -> None:
    store, settings = store_and_settings
    backlog = [await accept_smtp(store, letter_mail(numbered_letter_pdf(n), subject=f"ค้าง {n}"),
                                 "saraban@obec.go.th", ["saraban@agency.test"]) for n in (1, 2, 3)]
    events: list[tuple[str, int]] = []
    release = asyncio.Event()
    real = Pipeline.process

    async def process(self: Pipeline, letter_id: int, **kwargs: Any) -> str:
        if letter_id == backlog[0]:
            events.append(("backlog started", letter_id))
            await release.wait()  # held until the listener has taken a letter
        state = await real(self, letter_id, **kwargs)
        events.append(("processed", letter_id))
        return state

    monkeypatch.setattr(Pipeline, "process", process)
    stop = asyncio.Event()
    task, port = await _serving(settings, store, stop)
    try:
        new = _id(await _send(port, letter_mail(numbered_letter_pdf(4), subject="ใหม่")))
        events.append(("accepted", new))
        release.set()
        last = await _until(store, new, states={"registered", "review"}, timeout=300)
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)
    assert last.state == "registered"
    assert events[:2] == [("backlog started", backlog[0]), ("accepted", new)]
    processed = [lid for what, lid in events if what == "processed"]
    assert processed == [*backlog, new]  # the backlog first, in arrival order
    numbers = await _numbers(store)
    assert [numbers[lid] for lid in (*backlog, new)] == [1, 2, 3, 4]
