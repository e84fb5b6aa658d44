"""Copies the gateway filed that no longer tell the truth leave the clerk's folders (#21).

A findable copy `[รับ n/ปี]` whose number was cancelled (the letter cancelled, or registered
again under a new number), and a review copy `[ตรวจ L<id>]` whose fields the clerk has since
given in part, are outdated. Whoever changes the letter (gateway/inbound/corrections.py, in
its transaction: a reply, a folder move or the command line, in any process) marks the
copy's placement outdated (`outdate`, gateway/store/placements.py); the next round of the mailbox's filing removes the
message, if it is still at that place, and only then marks the placement withdrawn — before
anything files the current copy, whose crash-safe search for its letter's marker must not
find the outdated one. A crash between the removal and its record finds the message gone and
records it; the current copy is filed as usual (file_copy: copy_appended reset; a review copy:
its placement no longer current). A registered letter's fields amended (แก้ไข) outdate its
copy in the same way: the copy filed after it shows the new values under the same number.
"""

from __future__ import annotations

from email.parser import BytesHeaderParser
from typing import TYPE_CHECKING

from sqlalchemy import select

from gateway.ports import MailboxClient
from gateway.store.blobs import sha256_hex
from gateway.store.placements import GONE
from gateway.store.tables import ImapMessage

if TYPE_CHECKING:
    from gateway.intake.filing import Filing

async def withdraw_outdated(filing: Filing, client: MailboxClient) -> int:
    """Remove this mailbox's outdated copies still where they were filed; how many."""
    async with filing.store.readers() as s:
        rows = (await s.execute(
            select(ImapMessage.id, ImapMessage.kind, ImapMessage.folder, ImapMessage.uidvalidity,
                   ImapMessage.uid)
            .where(ImapMessage.mailbox == filing.cfg.name, ImapMessage.kind.in_(tuple(GONE)))
            .order_by(ImapMessage.id))).all()
    removed = 0
    for row_id, kind, folder, validity, uid in rows:
        # a folder emptied and made again (another UIDVALIDITY), or the clerk moved the
        # message on: nothing of ours is there to remove
        if await client.select(folder) == validity and uid in await client.uids(f"UID {uid}"):
            await client.delete(uid)
            removed += 1
        async with filing.store.sessions.begin() as s:
            row = await s.get(ImapMessage, row_id, with_for_update=True)
            if row is not None and row.kind == kind:
                row.kind = GONE[kind]
    return removed


def _message_id(raw: bytes) -> str:
    return str(BytesHeaderParser().parsebytes(raw).get("Message-ID", "")).strip()


async def current_copy(client: MailboxClient, folder: str, marker: str,
                       copy: bytes) -> tuple[tuple[int, int], str] | None:
    """The crash search for a letter's findable copy (its intent committed, the APPEND maybe
    done, not recorded): where it is and its bytes' sha256 (by which a clerk's move of it is
    known, as filing records every copy) when it is `copy`, the one composed now — its
    Message-ID. One that is not (the letter amended or registered again between that APPEND
    and this round, before its placement was recorded, so nothing marked it outdated) is
    removed as an outdated copy; None: `copy` is still to be filed."""
    while (found := await client.search_header(folder, "X-Saraban-Letter", marker)) is not None:
        raw = await client.fetch(found[1])
        if raw is not None and _message_id(raw) == _message_id(copy):
            return found, sha256_hex(raw)
        await client.delete(found[1])  # flagged \Deleted: the search passes it over
    return None
