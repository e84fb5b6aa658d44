"""What an imap_messages row's kind says of a copy the gateway filed, and outdating it (#21).

The incoming flow marks a letter's copies outdated in its own transaction when it changes the
letter (gateway/inbound/corrections.py); the mailbox's next round removes them
(gateway/intake/stale_copies.py). Both speak of the same rows, so the kinds and `outdate`
live here, with the store, below both.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.store.tables import ImapMessage

REVIEW_KIND = "review"  # imap_messages.kind of a review copy's placement
REVIEW_STALE = "rv-stale"  # an outdated review copy, to be removed (gateway/intake/stale_copies.py)
REVIEW_GONE = "rv-gone"  # ... removed, or found moved away by the clerk

# imap_messages.kind: a placement (kind) → outdated, waiting to be removed → removed
COPY, COPY_STALE, COPY_GONE = "copy", "copy-stale", "copy-gone"
REVIEW = REVIEW_KIND
GONE = {COPY_STALE: COPY_GONE, REVIEW_STALE: REVIEW_GONE}
STALE = {COPY: COPY_STALE, REVIEW: REVIEW_STALE}


async def outdate(s: AsyncSession, letter_id: int, kind: str) -> None:
    """In the caller's transaction: the letter's copies of `kind` (COPY, REVIEW), wherever the
    gateway filed them, are to leave their folders."""
    await s.execute(update(ImapMessage).where(ImapMessage.letter_id == letter_id,
                                              ImapMessage.kind == kind).values(kind=STALE[kind]))
