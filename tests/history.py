"""A store with a long past, made quickly: `fill_history` bulk-inserts decided letters straight
into the store's tables (not through the pipeline), as years of work leave them.

Each letter is what the pipeline leaves behind for an IMAP letter of the central mailbox: a
blob row and its raw message, the letter (read, decided, stamped, filed, its findable copy
appended), its main PDF (letter_files), its placements in the mailbox (original and copy,
imap_messages, in the clerk's folders; every 10th was set aside for the clerk first and
keeps its old place in the review folder, marked moved), and, for a
registered one, its receive-register entry, and the mail it caused (an acknowledgement or a
notice, sent: the outbox); the receive counter is moved past them. Most are
registered; every 20th is rejected, every 50th arrived by SMTP. No bytes are written to the
blob directory (nothing reads an old letter's bytes during intake). Used by
tests/integration/test_history_scale.py and bench/bench_history.py.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import insert, select

from gateway.store.tables import (
    Blob,
    Counter,
    ImapMessage,
    Letter,
    LetterFile,
    OutboxItem,
    RawMessage,
    RegisterBook,
    RegisterEntry,
)
from gateway.thai import be_year_of

BATCH = 5000
OLD_VALIDITY = 1  # the placements of the past: a UIDVALIDITY the test servers never use


def _sha(kind: str, i: int) -> str:
    return hashlib.sha256(f"{kind}:{i}".encode()).hexdigest()


async def fill_history(store: object, n: int, *, mailbox: str = "central",
                       start: dt.datetime | None = None, validity: int = OLD_VALIDITY,
                       uid_base: int = 0) -> None:
    """Add `n` decided letters to `store` (a gateway Store), registered ones numbered on from
    the receive book's counter of the year of `start` (default: now, UTC). Their placements
    are at UIDVALIDITY `validity` (default: one no test server uses), UIDs from `uid_base` + 1
    (a test that wants them in the server's real folders gives its UIDVALIDITY, and a base
    above the UIDs the server will hand out)."""
    folders = store.settings.intake.folders  # type: ignore[attr-defined]
    when = start or dt.datetime.now(dt.UTC)
    year = be_year_of(when)
    async with store.sessions.begin() as s:  # type: ignore[attr-defined]
        book_id = (await s.execute(select(RegisterBook.id).where(RegisterBook.code == "receive"))).scalar_one()
        first_letter = (await s.execute(select(Letter.id).order_by(Letter.id.desc()).limit(1))).scalar() or 0
        first_raw = (await s.execute(select(RawMessage.id).order_by(RawMessage.id.desc()).limit(1))).scalar() or 0
        numbered = (await s.execute(select(Counter.last).where(Counter.book_id == book_id,
                                                               Counter.year == year))).scalar() or 0
    number = numbered
    for lo in range(0, n, BATCH):
        blobs, raws, letters, files, places, entries, sent = [], [], [], [], [], [], []
        for i in range(lo, min(n, lo + BATCH)):
            at = when - dt.timedelta(seconds=n - i)
            raw_id, letter_id = first_raw + i + 1, first_letter + i + 1
            smtp = i % 50 == 49
            state = "rejected" if i % 20 == 19 else "registered"
            folder = folders.rejected if state == "rejected" else folders.registered
            raw_sha, pdf_sha = _sha("raw", letter_id), _sha("pdf", letter_id)
            blobs += [dict(sha256=raw_sha, size=40_000, created_at=at),
                      dict(sha256=pdf_sha, size=30_000, created_at=at)]
            key = f"smtp:{raw_sha}" if smtp else f"imap:{mailbox}:{OLD_VALIDITY}:{i + 1}"
            raws.append(dict(id=raw_id, channel="smtp" if smtp else "imap", source_key=key,
                             sha256=raw_sha, size=40_000, received_at=at, envelope_from="",
                             envelope_to=[]))
            letters.append(dict(
                id=letter_id, direction="in", state=state, source_key=key, raw_message_id=raw_id,
                channel="smtp" if smtp else "imap", letter_no=f"ศธ 0400/{i + 1}",
                letter_no_norm=f"ศธ0400/{i + 1}", letter_date=at.date(), sender="สพฐ.",
                sender_address="saraban@obec.go.th", subject=f"หนังสือฉบับที่ {i + 1}",
                speed="ปกติ", created_at=at, updated_at=at, stamped_at=at,
                filed_folder=folder, copy_appending=state == "registered",
                copy_appended=state == "registered", routed_rule=""))
            files.append(dict(letter_id=letter_id, role="main", position=0, filename=f"{i + 1}.pdf",
                              safe_name=f"{i + 1}.pdf", media_type="application/pdf",
                              sha256=pdf_sha, size=30_000))
            places.append(dict(mailbox=mailbox, folder=folder, uidvalidity=validity,
                               uid=uid_base + 2 * i + 1, letter_id=letter_id, kind="original",
                               sha256=raw_sha, seen_at=at))
            if i % 10 == 9:  # set aside for the clerk first: its old place in the review folder
                places.append(dict(mailbox=mailbox, folder=folders.review, uidvalidity=validity,
                                   uid=uid_base + i + 1, letter_id=letter_id, kind="moved",
                                   sha256=raw_sha, seen_at=at))
            if state == "registered":
                number += 1
                places.append(dict(mailbox=mailbox, folder=folder, uidvalidity=validity,
                                   uid=uid_base + 2 * i + 2, letter_id=letter_id, kind="copy",
                                   sha256=_sha("copy", letter_id), seen_at=at))
                entries.append(dict(book_id=book_id, year=year, number=number, status="registered",
                                    registered_at=at, letter_no=f"ศธ 0400/{i + 1}",
                                    letter_date=at.date(), sender="สพฐ.",
                                    subject=f"หนังสือฉบับที่ {i + 1}", speed="ปกติ",
                                    channel="smtp" if smtp else "imap", letter_id=letter_id))
            sent.append(dict(kind="ack" if state == "registered" else "notice", letter_id=letter_id,
                             recipient="saraban@obec.go.th", dedupe_key=f"history:{letter_id}",
                             status="sent", attempts=1, next_attempt_at=at, expires_at=at,
                             created_at=at, sent_at=at))
        async with store.sessions.begin() as s:  # type: ignore[attr-defined]
            for table, rows in ((Blob, blobs), (RawMessage, raws), (Letter, letters),
                                (LetterFile, files), (ImapMessage, places), (RegisterEntry, entries),
                                (OutboxItem, sent)):
                await s.execute(insert(table), rows)
    async with store.sessions.begin() as s:  # type: ignore[attr-defined]
        counter = await s.get(Counter, (book_id, year))
        if counter is None:
            s.add(Counter(book_id=book_id, year=year, last=number))
        else:
            counter.last = number
