"""The review copy `[ตรวจ L<id>] …` filed beside an original set aside for the clerk (#21):
once, crash-safe as the findable copy is (gateway/intake/filing.py): the intent — an
imap_messages row at UIDVALIDITY 0, which no folder has, UID = the letter id — is committed
before the APPEND, and a repeat after a crash searches the folder first. The copy itself is
gateway/inbound/review_copy.py.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from sqlalchemy import select

from gateway.inbound.review_copy import review_marker
from gateway.ports import MailboxClient
from gateway.state import AWAITING_CLERK
from gateway.store.blobs import sha256_hex
from gateway.store.placements import REVIEW_GONE, REVIEW_KIND, REVIEW_STALE
from gateway.store.tables import ImapMessage, Letter

if TYPE_CHECKING:
    from gateway.intake.filing import Filing

REVIEW_INTENT = "rv-intent"  # its intent, committed before the APPEND
REVIEW_MOVED = "rv-moved"  # a review copy's old placement, once the gateway moved it on
MOVED = "moved"  # an original's old placement in a review folder, once it was moved on


async def file_review_copy(filing: Filing, client: MailboxClient, letter_id: int, state: str,
                           lock: asyncio.Lock | None = None) -> None:
    """File the review copy `[ตรวจ L<id>] …` next to an original set aside, once: as
    file_copy, the intent (an imap_messages row at UIDVALIDITY 0, which no folder has) is
    committed before the APPEND, and a repeat after a crash searches first."""
    folder = filing.folder_for(state)
    if state not in AWAITING_CLERK or folder is None:
        return
    async with filing.store.readers() as s:
        kinds = set((await s.execute(select(ImapMessage.kind).where(
            ImapMessage.mailbox == filing.cfg.name, ImapMessage.letter_id == letter_id,
            ImapMessage.kind.in_((REVIEW_KIND, REVIEW_INTENT))))).scalars())
    if REVIEW_KIND in kinds:
        return
    found, raw = None, None
    if REVIEW_INTENT in kinds:
        async with lock or contextlib.nullcontext():
            found = await client.search_header(folder, "X-Saraban-Letter", review_marker(letter_id))
            # its bytes' hash, by which a move of it is known (review_copy_of)
            raw = await client.fetch(found[1]) if found is not None else None
    else:
        await filing.remember_all([(folder, (0, letter_id), REVIEW_INTENT, "")], letter_id, {})
    if found is not None:
        where: tuple[int, int] | None = found
        sha = sha256_hex(raw) if raw is not None else ""
    else:
        made = await filing.pipeline.review_copy(letter_id)  # composed before taking the connection
        if made is None:
            return
        copy, sha = made
        async with lock or contextlib.nullcontext():
            where = await client.append(folder, copy)
    await filing.remember(folder, where, letter_id, REVIEW_KIND, sha)


async def review_copies(filing: Filing, client: MailboxClient) -> None:
    """Letters waiting for the clerk in this mailbox's folders without their review copy
    (a crash, an SMTP letter, a letter set aside before review copies existed)."""
    primary = filing.cfg.name == filing.store.settings.imap[0].name
    placed = select(ImapMessage.letter_id).where(ImapMessage.mailbox == filing.cfg.name,
                                                 ImapMessage.kind == REVIEW_KIND,
                                                 ImapMessage.letter_id.is_not(None))
    async with filing.store.readers() as s:
        rows = (await s.execute(
            select(Letter.id, Letter.state, Letter.channel, Letter.filed_folder, Letter.source_key)
            .where(Letter.state.in_(tuple(AWAITING_CLERK)), Letter.direction == "in",
                   Letter.id.not_in(placed))
            .order_by(Letter.id))).all()
    ours = f"imap:{filing.cfg.name}:"
    for letter_id, state, channel, filed, source_key in rows:
        if (channel == "imap" and source_key.startswith(ours)) or (channel == "smtp" and primary and filed):
            await file_review_copy(filing, client, letter_id, state)


async def review_copy_of(filing: Filing, sha: str) -> int | None:
    """The letter whose review copy has these bytes (the clerk moved the copy, not the original;
    an outdated one too, moved before the gateway could remove it)."""
    kinds = (REVIEW_KIND, REVIEW_STALE, REVIEW_GONE)
    async with filing.store.readers() as s:
        return (await s.execute(select(ImapMessage.letter_id).where(
            ImapMessage.mailbox == filing.cfg.name, ImapMessage.kind.in_(kinds),
            ImapMessage.sha256 == sha, ImapMessage.letter_id.is_not(None))
            .order_by(ImapMessage.letter_id).limit(1))).scalar_one_or_none()


async def tidy_review_copies(filing: Filing, client: MailboxClient) -> None:
    """A letter no longer waiting for the clerk (registered or rejected by a reply, cancelled …)
    leaves the review folders: its original into the folder of what became of it, its review
    copy there too (else อื่น ๆ), so the review folders hold only what still waits. The old
    placement is marked moved, and the new one noted, before the next round looks."""
    waiting = (filing.folders.review, filing.folders.restricted)
    async with filing.store.readers() as s:
        rows = (await s.execute(
            select(ImapMessage.id, ImapMessage.kind, ImapMessage.folder, ImapMessage.uidvalidity,
                   ImapMessage.uid, ImapMessage.letter_id, ImapMessage.sha256, Letter.state)
            .join(Letter, Letter.id == ImapMessage.letter_id)
            .where(ImapMessage.mailbox == filing.cfg.name, ImapMessage.kind.in_((REVIEW_KIND, "original")),
                   ImapMessage.folder.in_(waiting), Letter.direction == "in",
                   Letter.state.not_in(tuple(AWAITING_CLERK)))
            .order_by(ImapMessage.id))).all()
    for row_id, kind, folder, validity, uid, letter_id, sha, state in rows:
        target = filing.folder_for(state)
        if kind == REVIEW_KIND and (target is None or target in waiting):
            target = filing.folders.other
        if target is None or target in waiting:  # a returned copy is filed in review: it stays
            continue
        where = None
        if await client.select(folder) == validity and uid in await client.uids(f"UID {uid}"):
            where = await client.move(uid, target)
        async with filing.store.sessions.begin() as s:
            row = await s.get(ImapMessage, row_id, with_for_update=True)
            if row is not None:
                row.kind = REVIEW_MOVED if kind == REVIEW_KIND else MOVED
        if where is not None:
            await filing.remember(target, where, letter_id, kind, sha)
