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

from gateway.ports import MailboxClient
from gateway.state import AWAITING_CLERK
from gateway.store.tables import ImapMessage, Letter

if TYPE_CHECKING:
    from gateway.intake.filing import Filing

REVIEW_KIND = "review"  # imap_messages.kind of a review copy's placement
REVIEW_INTENT = "rv-intent"  # its intent, committed before the APPEND


def review_marker(letter_id: int) -> str:
    """The X-Saraban-Letter value of a review copy (the findable copy's is `L<id>.`): the dot
    ends it, so a substring search for letter 1 does not find letter 12."""
    return f"R{letter_id}."


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
    found = None
    if REVIEW_INTENT in kinds:
        async with lock or contextlib.nullcontext():
            found = await client.search_header(folder, "X-Saraban-Letter", review_marker(letter_id))
    else:
        await filing.remember_all([(folder, (0, letter_id), REVIEW_INTENT, "")], letter_id, {})
    if found is not None:
        where: tuple[int, int] | None = found
        sha = ""
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
    """The letter whose review copy has these bytes (the clerk moved the copy, not the original)."""
    async with filing.store.readers() as s:
        return (await s.execute(select(ImapMessage.letter_id).where(
            ImapMessage.mailbox == filing.cfg.name, ImapMessage.kind == REVIEW_KIND,
            ImapMessage.sha256 == sha, ImapMessage.letter_id.is_not(None))
            .order_by(ImapMessage.letter_id).limit(1))).scalar_one_or_none()
