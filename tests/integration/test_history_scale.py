"""Nothing an IMAP round asks of the store grows with history (#23, scale with history).

The same round — two letters arriving in the central mailbox of a real Dovecot, taken in,
registered, filed, and the clerk's folders looked at — is run on a store holding a few
decided letters and on one holding 5,000 (tests/history.py: bulk-inserted, with their
placements in the mailbox's real ลงรับแล้ว and ไม่รับ at its UIDVALIDITY, as years of work
leave them), and the work SQLite does for it is counted: its virtual machine's steps (a
progress handler on every connection), which counts the rows a statement looks at, not only
those it returns — a full scan of letters that returns nothing counts. A round that read its
history (every decided letter, every UID ever filed, the duplicate check by a scan) does
thousands of steps more per 1,000 letters; the bound allows a B-tree level or two.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select

from gateway.app import opened_store
from gateway.service import ingest_once
from gateway.store.tables import ImapMessage, RegisterEntry
from tests.conftest import TickingClock, central_mailbox_settings
from tests.corpus.mail import letter_mail, letter_pdf
from tests.history import fill_history

pytestmark = pytest.mark.integration

TICK = 100  # VM steps per progress-handler call
# `ingest --once` counts the letters by state before and after, for the summary it prints:
# a command's report, not a round's work (the running gateway does not), so not counted here
SUMMARY = "SELECT letters.state, count(*)"
FAR_UID = 10_000_000  # the past's UIDs: above anything the test server hands out this run


def _letter(pdf: bytes, n: int) -> bytes:
    """Letter n: its own file, number and subject (as bench/bench_inbound.py's)."""
    body = (f"เรียน ผู้อำนวยการ\n\nส่งหนังสือ ที่ ศธ 04010/{n} ลงวันที่ 20 พฤศจิกายน 2569 "
            f"เรื่อง แจ้งการดำเนินงานฉบับที่ {n} มาเพื่อทราบ\n\nขอแสดงความนับถือ\n")
    return letter_mail(pdf + f"\n% letter {n}\n".encode(), body=body, filename=f"2569_OBEC_{n}.pdf",
                       subject=f"ที่ ศธ 04010/{n} แจ้งการดำเนินงานฉบับที่ {n}")


async def _round_work(tmp: Path, dovecot: Any, monkeypatch: pytest.MonkeyPatch, history: int) -> tuple[int, int]:
    """(SQLite VM steps / TICK, statements) of one round taking in two letters, on a store
    holding `history` decided letters besides."""
    user, password = dovecot.new_user(f"hist{history}")
    monkeypatch.setenv("SARABAN_TEST_IMAP_PASSWORD", password)
    settings = central_mailbox_settings(tmp / str(history), dovecot, user)
    pdf = letter_pdf(content="scan", pages=1)
    dovecot.deliver(user, _letter(pdf, 1))
    async with opened_store(settings, upgrade=True, clock=TickingClock()) as store:
        assert (await ingest_once(settings, store=store))["registered"] == 1  # makes the folders
        async with store.sessions() as s:
            validity = (await s.execute(select(ImapMessage.uidvalidity).where(
                ImapMessage.kind == "original").limit(1))).scalar_one()
        await fill_history(store, history, validity=validity, uid_base=FAR_UID)
        for n in (2, 3):
            dovecot.deliver(user, _letter(pdf, n))
        ticks = [0]
        statements = [0]

        def tick() -> int:
            ticks[0] += 1
            return 0

        def on_connect(dbapi_connection: Any, _record: Any) -> None:
            # the sqlite3 connection under aiosqlite (store/sqlite_adapter.py names this use)
            dbapi_connection.driver_connection._conn.set_progress_handler(tick, TICK)

        summary_work = [0]
        last = [0, ""]  # the ticks and text of the statement before

        def on_statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            # a statement's work is counted up to the next one (its rows are fetched in between)
            if last[1].startswith(SUMMARY):
                summary_work[0] += ticks[0] - last[0]
            last[0], last[1] = ticks[0], statement
            statements[0] += 1

        event.listen(store.engine.sync_engine, "connect", on_connect)
        event.listen(store.engine.sync_engine, "before_cursor_execute", on_statement)
        await store.engine.dispose()  # every connection from here on is counted
        try:
            summary = await ingest_once(settings, store=store)
        finally:
            event.remove(store.engine.sync_engine, "connect", on_connect)
            event.remove(store.engine.sync_engine, "before_cursor_execute", on_statement)
            await store.engine.dispose()
        if last[1].startswith(SUMMARY):
            summary_work[0] += ticks[0] - last[0]
        assert summary["registered"] == 2
        async with store.sessions() as s:
            assert (await s.execute(select(func.count()).select_from(RegisterEntry))).scalar_one() \
                == 3 + history - history // 20
    return ticks[0] - summary_work[0], statements[0]


async def test_a_round_does_the_same_work_with_5000_letters_of_history(
        tmp_path: Path, dovecot: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    small_ticks, small_statements = await _round_work(tmp_path, dovecot, monkeypatch, 10)
    big_ticks, big_statements = await _round_work(tmp_path, dovecot, monkeypatch, 5000)
    assert big_statements == small_statements, (small_statements, big_statements, small_ticks, big_ticks)
    # a scan of 5,000 letters (or 10,000 placements) alone is hundreds of ticks (main: 20 → 2836)
    assert big_ticks <= small_ticks * 1.2 + 20, (small_ticks, big_ticks)
