"""Whether a sender is a known agency's central address (inbound/record._in_directory), on
both databases: known, unknown, and "no directory imported yet" (None: not held against it)."""

from __future__ import annotations

import pytest

from gateway.core.parse.message import parse_message
from gateway.directory import AgencyRecord
from gateway.inbound.record import _in_directory
from gateway.store.directory import import_agencies

pytestmark = pytest.mark.integration


def _from(address: str) -> bytes:
    return f"From: <{address}>\r\nTo: <saraban@agency.test>\r\nSubject: x\r\n\r\nx\r\n".encode()


async def test_a_sender_is_known_unknown_or_not_yet_askable(store) -> None:  # type: ignore[no-untyped-def]
    known, stranger = parse_message(_from("Saraban@OBEC.go.th")), parse_message(_from("x@example.org"))
    async with store.readers() as s:
        assert await _in_directory(s, known) is None  # empty directory: nothing to hold against
        assert await _in_directory(s, stranger) is None
    records = [AgencyRecord(f"หน่วยงาน {n}", f"ศธ 04{n:03d}", f"T{n}", f"saraban{n}@agency{n}.go.th",
                            "กระทรวงศึกษาธิการ") for n in range(50)]
    records.append(AgencyRecord("สำนักงานคณะกรรมการการศึกษาขั้นพื้นฐาน", "ศธ 04", "OBEC",
                                "saraban@obec.go.th", "กระทรวงศึกษาธิการ"))
    async with store.sessions.begin() as s:
        await import_agencies(s, records, now=store.clock(), actor="test")
    async with store.readers() as s:
        assert await _in_directory(s, known) is True  # found whatever the address's case
        assert await _in_directory(s, stranger) is False
        assert await _in_directory(s, parse_message(b"Subject: no sender\r\n\r\nx\r\n")) is None
