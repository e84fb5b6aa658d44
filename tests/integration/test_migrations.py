"""Upgrading a database the previous version made: letters in every state, their old
`effects` JSON carried across into typed columns (migration 0005), nothing lost."""

from __future__ import annotations

import datetime as dt
import importlib
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from gateway.state import LetterState
from gateway.store import migrate
from gateway.store.db import make_engine
from gateway.store.tables import Amendment, DeliveryNotice, Letter, RegisterEntry

pytestmark = pytest.mark.integration

NOW = dt.datetime(2026, 11, 22, 3, 0, tzinfo=dt.UTC)
m0005: Any = importlib.import_module("gateway.store.migrations.versions.0005_letter_facts")

# What letters looked like under revision 0004: every state, with the effects each path wrote.
OLD_LETTERS: list[tuple[str, str, dict[str, Any]]] = [
    ("in", "received", {}),
    ("in", "registered", {"receive_number": 1, "receive_year": 2569, "stamped": True,
                          "stamped_sha256": "ab" * 32, "sender_flags": ["ผู้ส่งไม่อยู่ในทะเบียนหน่วยงาน"],
                          "signatures": ["ลายมือชื่อถูกต้อง"], "routed": "บุคคล", "suggested": ["hr"],
                          "filed": "ลงรับแล้ว", "copy_appending": True, "copy_appended": True,
                          "xml": {"readable": True, "valid": True, "dialect": "dga", "variants": [],
                                  "errors": [], "reason": ""},
                          "xml_receiver": "สำนักงานทดสอบ", "accept_resent": 2}),
    ("in", "registered", {"receive_number": 2, "receive_year": 2569, "stamp_error": "ไม่มีไฟล์ PDF",
                          "stamped": True, "routed": ""}),
    ("in", "registered", {"receive_number": 3, "receive_year": 2569, "filing": "ลงรับแล้ว"}),
    ("in", "review", {"filed": "รอตรวจสอบ"}),
    ("in", "restricted", {"filed": "รอตรวจสอบ (ลับ)"}),
    ("in", "rejected", {"filed": "ไม่รับ"}),
    ("in", "duplicate", {}),
    ("in", "not_letter", {"bounce": {"token": "t1", "kind": "dsn", "recipients": []},
                          "bounce_for": 12}),
    ("in", "not_letter", {"acknowledges": 12}),
    ("in", "not_letter", {"unit_reply_for": 2, "forward": 7}),
    ("in", "not_letter", {"clerk_route": ["hr", "admin"], "for_letter": 2}),
    ("in", "not_letter", {"notifier": "AcceptLetterNotifier", "notifier_letter": "ศธ 04183/77"}),
    ("in", "sent_copy", {"for_letter": 12}),
    ("in", "returned_copy", {"for_letter": 2}),
    ("out", "queued", {"user": "clerk1", "unit": "hr", "book": "send", "number": 1, "year": 2569,
                       "file_name": "2569_TEST04183_1.pdf", "signed": True,
                       "registered_at": NOW.isoformat(), "cc_unit": True,
                       "delivery_state": "accepted",
                       "delivery": [{"kind": "AcceptLetterNotifier", "state": "accepted",
                                     "from": "saraban@one.go.th", "at": NOW.isoformat(),
                                     "accept_id": "555", "accept_date": "2026-11-22"}]}),
    ("out", "submitted", {"user": "clerk2", "unit": ""}),
    ("out", "answered", {"user": "clerk1", "unit": "hr"}),
    ("out", "refused", {"user": "clerk1", "unit": ""}),
]


def _filled(table: sa.Table, given: dict[str, Any]) -> dict[str, Any]:
    """A row for `table` as the old code would have written it: every NOT NULL column set."""
    row = dict(given)
    for col in table.columns:
        if col.name in row or col.nullable or col.primary_key or col.server_default is not None:
            continue
        t = col.type
        row[col.name] = (NOW if isinstance(t, sa.DateTime) else 0 if isinstance(t, sa.Integer)
                         else [] if isinstance(t, sa.JSON) else False if isinstance(t, sa.Boolean)
                         else "")
    return row


async def _old_database(url: str) -> sa.ext.asyncio.AsyncEngine:
    engine = make_engine(url)
    await migrate.upgrade(engine, "0004")

    def fill(conn: sa.Connection) -> None:
        meta = sa.MetaData()
        letters, entries, books = (sa.Table(n, meta, autoload_with=conn)
                                   for n in ("letters", "register_entries", "register_books"))
        for code, kind in (("receive", "receive"), ("send", "send")):
            conn.execute(books.insert().values(_filled(books, {"code": code, "name_th": code, "kind": kind})))
        book_id = {r.code: r.id for r in conn.execute(select(books.c.id, books.c.code))}
        for i, (direction, state, effects) in enumerate(OLD_LETTERS, start=1):
            conn.execute(letters.insert().values(_filled(letters, {
                "id": i, "direction": direction, "state": state, "source_key": f"old:{i}",
                "effects": effects, "created_at": NOW, "updated_at": NOW})))
            for nk, yk, book in (("receive_number", "receive_year", "receive"), ("number", "year", "send")):
                if nk in effects:
                    conn.execute(entries.insert().values(_filled(entries, {
                        "book_id": book_id[book], "year": effects[yk], "number": effects[nk],
                        "status": "registered", "registered_at": NOW, "letter_id": i})))

    async with engine.begin() as conn:
        await conn.run_sync(fill)
    return engine


async def test_a_database_of_the_previous_version_upgrades_with_every_fact_kept(db_url: str) -> None:
    engine = await _old_database(db_url)
    try:
        await migrate.upgrade(engine)
        assert await migrate.current_revision(engine) == migrate.head_revision()
        async with sa.ext.asyncio.AsyncSession(engine) as s:
            got = {x.id: x for x in (await s.execute(select(Letter))).scalars()}
            notices = list((await s.execute(select(DeliveryNotice))).scalars())
    finally:
        await engine.dispose()
    assert [got[i].state for i in sorted(got)] == [state for _, state, _ in OLD_LETTERS]
    # every state of the time (cancelled came with 0007: no old letter can be in it)
    assert {LetterState(x.state) for x in got.values()} == set(LetterState) - {LetterState.CANCELLED}
    reg = got[2]
    assert reg.stamped_at is not None and reg.sender_flags == ["ผู้ส่งไม่อยู่ในทะเบียนหน่วยงาน"]
    assert reg.signatures == ["ลายมือชื่อถูกต้อง"] and reg.routed_rule == "บุคคล"
    assert reg.suggested_units == ["hr"] and reg.filed_folder == "ลงรับแล้ว"
    assert reg.copy_appending and reg.copy_appended and reg.accept_resent == 2
    assert reg.xml_report == OLD_LETTERS[1][2]["xml"] and reg.xml_receiver == "สำนักงานทดสอบ"
    assert (got[3].stamp_error, got[3].routed_rule, got[3].stamped_at is not None) == (
        "ไม่มีไฟล์ PDF", "", True)
    assert (got[4].filing_folder, got[4].filed_folder, got[4].stamped_at, got[4].routed_rule) == (
        "ลงรับแล้ว", "", None, None)  # an APPEND under way, never stamped, never routed
    assert [(got[i].about, got[i].about_letter_id) for i in (9, 10, 11, 12, 14, 15)] == [
        ("bounce", 12), ("acknowledgement", 12), ("unit_reply", 2), ("clerk_route", 2),
        ("own_copy", 12), ("own_copy", 2)]
    assert got[9].bounce_report == {"token": "t1", "kind": "dsn", "recipients": []}
    assert got[11].forward_id == 7 and got[12].clerk_route == ["hr", "admin"]
    assert (got[13].notifier_kind, got[13].notifier_letter_no) == ("AcceptLetterNotifier", "ศธ 04183/77")
    out = got[16]
    assert (out.submitted_by, out.unit_code, out.file_name, out.signed, out.cc_unit, out.delivery_state) == (
        "clerk1", "hr", "2569_TEST04183_1.pdf", True, True, "accepted")
    assert [(n.letter_id, n.kind, n.state, n.from_addr, n.accept_id, n.accept_date, n.at) for n in notices] == [
        (16, "AcceptLetterNotifier", "accepted", "saraban@one.go.th", "555", dt.date(2026, 11, 22), NOW)]
    assert got[17].submitted_by == "clerk2" and got[1].about == "" and got[1].stamped_at is None


async def test_a_database_of_0006_upgrades_to_amendments_with_its_register_kept(db_url: str) -> None:
    """0007: register entries (registered, reserved, cancelled) come through with no
    successor, the amendments table starts empty and takes rows, a letter may be cancelled."""
    engine = make_engine(db_url)
    try:
        await migrate.upgrade(engine, "0006")

        def fill(conn: sa.Connection) -> None:
            meta = sa.MetaData()
            letters, entries, books = (sa.Table(n, meta, autoload_with=conn)
                                       for n in ("letters", "register_entries", "register_books"))
            conn.execute(books.insert().values(_filled(books, {"code": "receive", "name_th": "รับ",
                                                               "kind": "receive"})))
            book = conn.execute(select(books.c.id)).scalar_one()
            for i, state in enumerate(("registered", "registered", "review"), start=1):
                conn.execute(letters.insert().values(_filled(letters, {
                    "id": i, "direction": "in", "state": state, "source_key": f"old:{i}",
                    "created_at": NOW, "updated_at": NOW})))
            for n, status, letter in ((1, "registered", 1), (2, "cancelled", 2), (3, "reserved", None)):
                conn.execute(entries.insert().values(_filled(entries, {
                    "book_id": book, "year": 2569, "number": n, "status": status,
                    "registered_at": NOW, "letter_id": letter, "subject": f"เรื่อง {n}",
                    "cancel_reason": "พิมพ์ผิด" if status == "cancelled" else ""})))

        async with engine.begin() as conn:
            await conn.run_sync(fill)
        await migrate.upgrade(engine)
        async with sa.ext.asyncio.AsyncSession(engine) as s:
            rows = list((await s.execute(select(RegisterEntry).order_by(RegisterEntry.number))).scalars())
            assert [(e.number, e.status, e.letter_id, e.subject, e.cancel_reason, e.replaced_by_id)
                    for e in rows] == [(1, "registered", 1, "เรื่อง 1", "", None),
                                       (2, "cancelled", 2, "เรื่อง 2", "พิมพ์ผิด", None),
                                       (3, "reserved", None, "เรื่อง 3", "", None)]
            assert (await s.execute(select(Amendment))).first() is None
            first, cancelled = rows[0].id, rows[1].id
            rows[1].replaced_by_id = first
            s.add(Amendment(letter_id=1, entry_id=first, field="subject", old_value="เรื่อง 1",
                            new_value="เรื่องที่ถูก", actor="clerk", at=NOW, reason="สะกดผิด"))
            letter = await s.get(Letter, 2)
            assert letter is not None
            letter.state = LetterState.CANCELLED
            await s.commit()
            got = (await s.execute(select(Amendment))).scalar_one()
            assert (got.field, got.old_value, got.new_value, got.at) == ("subject", "เรื่อง 1", "เรื่องที่ถูก", NOW)
            assert (await s.execute(select(RegisterEntry.replaced_by_id).where(
                RegisterEntry.id == cancelled))).scalar_one() == first
    finally:
        await engine.dispose()


async def test_a_number_the_register_does_not_hold_stops_the_upgrade(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.sqlite3'}"
    engine = await _old_database(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text("DELETE FROM register_entries WHERE letter_id = 2"))
        with pytest.raises(RuntimeError, match="letter 2: number 1/2569 is not in the register"):
            await migrate.upgrade(engine)
        assert await migrate.current_revision(engine) == "0004"  # nothing half-done
    finally:
        await engine.dispose()


@pytest.mark.parametrize(("effects", "columns"), [
    ({}, {}),
    ({"receive_number": 5, "receive_year": 2569, "stamped_sha256": "x"}, {}),
    ({"routed": None}, {"routed_rule": ""}),
    ({"for_letter": 3}, {"about": "own_copy", "about_letter_id": 3}),
    ({"for_letter": 3, "clerk_route": []}, {"about": "clerk_route", "about_letter_id": 3}),
    ({"unit": "", "user": "u"}, {"submitted_by": "u"}),
])
def test_old_effects_to_columns(effects: dict[str, Any], columns: dict[str, Any]) -> None:
    assert m0005.columns_from(effects, NOW) == columns
