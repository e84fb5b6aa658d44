"""The edges a registry lives on, each with the gateway's clock set (never the machine's).

A running gateway (SMTP listener, workers, housekeeping) is started with a clock that a test
sets: the digest at 16:29 and 16:31 Bangkok; the last second of a Buddhist-era year and the
first minute of the next while UTC is still on 31 December; a letter dated next year arriving
before midnight; 29 February. The machine's own time and TZ play no part.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import aiosmtplib
import pytest
from sqlalchemy import select

from gateway.app import open_store
from gateway.service import serve
from gateway.store.tables import Letter, OutboxItem, RegisterEntry
from tests.conftest import FakeClock, add_to_directory, make_settings
from tests.corpus.mail import letter_mail, letter_pdf

pytestmark = pytest.mark.integration

UTC = dt.UTC


def bangkok(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.timezone(dt.timedelta(hours=7))).astimezone(UTC)


class Gateway:
    def __init__(self, tmp: Path, start: dt.datetime, **overrides: object) -> None:
        self.tmp, self.clock, self.overrides = tmp, FakeClock(start), overrides

    async def __aenter__(self) -> Gateway:
        self.settings = make_settings(self.tmp, **self.overrides)  # type: ignore[arg-type]
        self.store = await open_store(self.settings, upgrade=True, clock=self.clock)
        await add_to_directory(self.store, "saraban@obec.go.th")  # acknowledged: not a stranger
        ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(serve(self.settings, ready=ready, stop=self.stop, store=self.store))
        self.port = await asyncio.wait_for(ready, 30)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 30)
        await self.store.close()

    async def send(self, n: int, date_line: str = "วันที่ 20 พฤศจิกายน 2569") -> Letter:
        pdf = _pdf(n, date_line)
        _, reply = await aiosmtplib.send(letter_mail(pdf, filename=f"2569_OBEC_{n}.pdf"),
                                         sender="saraban@obec.go.th",
                                         recipients=["saraban@agency.test"],
                                         hostname="127.0.0.1", port=self.port, timeout=30)
        letter_id = int(reply.rsplit("letter", 1)[1].split()[0])
        loop = asyncio.get_running_loop()
        end = loop.time() + 30
        while loop.time() < end:
            async with self.store.readers() as s:
                letter = await s.get(Letter, letter_id)
            if letter is not None and letter.state in {"registered", "review"}:
                return letter
            await asyncio.sleep(0.05)
        raise AssertionError(f"letter {letter_id} was not decided")

    async def entry(self, letter: Letter) -> RegisterEntry:
        async with self.store.readers() as s:
            return (await s.execute(select(RegisterEntry)
                                    .where(RegisterEntry.letter_id == letter.id))).scalar_one()

    async def outbox_kinds(self) -> list[str]:
        async with self.store.readers() as s:
            return sorted((await s.execute(select(OutboxItem.kind))).scalars())


def _pdf(n: int, date_line: str) -> bytes:
    return letter_pdf(lines=(
        f"ที่ ศธ 04010/{n}",
        "สำนักงานคณะกรรมการการศึกษาขั้นพื้นฐาน",
        date_line,
        f"เรื่อง แจ้งการดำเนินงานฉบับที่ {n}",
        "เรียน ผู้อำนวยการสำนักงานเขตพื้นที่การศึกษา",
    ))


@pytest.mark.parametrize(("minute", "digest"), [(29, False), (31, True)])
async def test_digest_goes_out_only_after_its_time(tmp_path: Path, minute: int, digest: bool) -> None:
    async with Gateway(tmp_path, bangkok(2026, 12, 2, 16, minute),
                       forwarding={"digest": True, "digest_time": "16:30"}) as gw:
        await gw.send(1)
        # housekeeping makes its first pass at start; on 2 Dec the digest also carries
        # November's figures and chart (the first working-day digest of the month), which
        # takes a second or more to draw: wait for it, or long enough that it would be there
        loop = asyncio.get_running_loop()
        until = loop.time() + (30.0 if digest else 5.0)
        kinds = await gw.outbox_kinds()
        while "digest" not in kinds and loop.time() < until:
            await asyncio.sleep(0.2)
            kinds = await gw.outbox_kinds()
    assert ("digest" in kinds) is digest, kinds
    assert "ack" in kinds


async def test_last_second_of_the_year_and_first_minute_of_the_next(tmp_path: Path) -> None:
    # 23:59:59 on 31 Dec 2569 in Bangkok: the letter belongs to the old year's book.
    async with Gateway(tmp_path, bangkok(2026, 12, 31, 23, 59, 59)) as gw:
        old = await gw.entry(await gw.send(1))
        old2 = await gw.entry(await gw.send(2))
        # 00:00:30 on 1 Jan 2570 in Bangkok, while UTC is still on 31 December.
        gw.clock.now = bangkok(2027, 1, 1, 0, 0, 30)
        assert gw.clock.now.date() == dt.date(2026, 12, 31)
        new = await gw.entry(await gw.send(3))
    assert (old.year, old.number, old2.number) == (2569, 1, 2)
    assert (new.year, new.number) == (2570, 1)
    assert new.registered_at.astimezone(UTC) == bangkok(2027, 1, 1, 0, 0, 30)


async def test_letter_dated_next_year_arriving_before_midnight(tmp_path: Path) -> None:
    # Sent from an office whose letters already carry the new year's date (1 ม.ค. 2570), it
    # arrives at 23:58 on 31 Dec 2569: it is received in 2569 and keeps its own date.
    async with Gateway(tmp_path, bangkok(2026, 12, 31, 23, 58)) as gw:
        letter = await gw.send(7, "วันที่ 1 มกราคม 2570")
        entry = await gw.entry(letter)
    assert letter.state == "registered"
    assert (entry.year, entry.number) == (2569, 1)
    assert entry.letter_date == dt.date(2027, 1, 1)


async def test_twenty_ninth_of_february(tmp_path: Path) -> None:
    # 2571 (2028) is a leap year: a letter dated 29 ก.พ. 2571 received that day.
    async with Gateway(tmp_path, bangkok(2028, 2, 29, 10, 0)) as gw:
        letter = await gw.send(29, "วันที่ 29 กุมภาพันธ์ 2571")
        entry = await gw.entry(letter)
    assert letter.state == "registered"
    assert entry.letter_date == dt.date(2028, 2, 29)
    assert (entry.year, entry.number) == (2571, 1)
    assert entry.registered_at.astimezone(UTC) == bangkok(2028, 2, 29, 10, 0)
