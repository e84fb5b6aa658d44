"""Filing in the mailbox: where each letter's messages are, and what the clerk's moves mean.

A letter's original is moved into its folder (ลงรับแล้ว, รอตรวจสอบ, ไม่รับ, อื่น ๆ) and a
registered letter gets a findable copy `[รับ n/ปี] …` in ลงรับแล้ว; where each message now is,
(folder, UIDVALIDITY, UID), is recorded with the letter's filing columns in one transaction.
What a crash or another channel left unfiled is filed on the next round (an intent committed
before an APPEND makes a repeat search instead of filing twice). The clerk works by moving
messages: from review into ลงรับแล้ว registers, into ไม่รับ rejects, into ส่งต่อ/<unit>
forwards (a secret letter is held until the clerk confirms) — noticed on the next round,
exactly once.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from typing import TYPE_CHECKING, Any

from sqlalchemy import literal_column, select, update

from gateway.config import Imap
from gateway.core.parse import parse_message
from gateway.core.parse.corrections import correction_reply
from gateway.core.parse.reporttag import asks_for_report
from gateway.forwarding.routing import clerk_command
from gateway.inbound.filed_copy import copy_marker
from gateway.intake.review_filing import review_copies, review_copy_of, tidy_review_copies
from gateway.intake.stale_copies import current_copy, withdraw_outdated
from gateway.ports import LetterIntake, MailboxClient
from gateway.state import LetterState
from gateway.store.db import insert_for
from gateway.store.letters import LOCK_ROW, put_blobs
from gateway.store.placements import REVIEW_KIND
from gateway.store.tables import About, ImapMessage, Letter, RawMessage
from gateway.trust.channels import command_folders, folder_key

if TYPE_CHECKING:
    from gateway.inbound.corrections import DeskOutcome

log = logging.getLogger(__name__)

# One message's place: (folder, (UIDVALIDITY, UID) if the server said, kind, sha256).
Placement = tuple[str, tuple[int, int] | None, str, str]
BASELINE_UID = 0  # no message has UID 0: a command folder's row saying "seen from here on"
KNOWN_SLICE = 5000  # UIDs compared with the store at a time (a process's first round)


class Filing:
    """The filing of one [[imap]] mailbox, over a connection the watcher holds."""

    def __init__(self, cfg: Imap, pipeline: LetterIntake) -> None:
        self.cfg = cfg
        self.pipeline = pipeline
        self.store = pipeline.store
        self.folders = self.store.settings.intake.folders
        # (folder, UIDVALIDITY) → every UID up to this one has been looked at (this process)
        self._marks: dict[tuple[str, int], int] = {}

    def folder_for(self, state: str) -> str | None:
        f = self.folders
        folders: dict[str, str] = {
            LetterState.REGISTERED: f.registered,
            LetterState.DUPLICATE: f.registered,
            LetterState.REVIEW: f.review,
            LetterState.RESTRICTED: f.restricted,
            LetterState.REJECTED: f.rejected,
            LetterState.NOT_LETTER: f.other,
            LetterState.SENT_COPY: self.store.settings.outbound.sent_folder,
            LetterState.RETURNED_COPY: f.review,
        }
        return folders.get(state)

    def forward_folders(self, client: MailboxClient) -> dict[str, str]:
        """ส่งต่อ/<unit name> for every unit: folder → unit code (the server's delimiter)."""
        prefix = self.store.settings.forwarding.folder_prefix
        return {f"{prefix}{client.delimiter}{u.name_th}": u.code for u in self.store.settings.units}

    async def after_intake(self, client: MailboxClient) -> None:
        """The rest of a round: outdated copies out, what was left unfiled filed, moves followed."""
        await withdraw_outdated(self, client)  # first: a current copy's search must not find them
        await self._finish(client)
        await review_copies(self, client)
        await self._clerk_moves(client, self.folders.registered, "register")
        await self._clerk_moves(client, self.folders.rejected, "reject")
        for folder, code in self.forward_folders(client).items():
            await self._clerk_moves(client, folder, f"forward:{code}")
        await tidy_review_copies(self, client)  # what was decided leaves the review folder

    async def remember(self, folder: str, where: tuple[int, int] | None, letter_id: int | None,
                       kind: str, sha: str, columns: dict[str, Any] | None = None) -> None:
        filed = {"filed_folder": folder} if kind == "original" else {}
        await self.remember_all([(folder, where, kind, sha)], letter_id, {**filed, **(columns or {})})

    async def remember_all(self, rows: list[Placement], letter_id: int | None,
                           columns: dict[str, Any]) -> None:
        """Where messages now are (folder, (UIDVALIDITY, UID), kind, sha256), and what that
        means for their letter (its filing columns), in one transaction; a location already
        known is kept."""
        values = [dict(mailbox=self.cfg.name, folder=folder, uidvalidity=where[0], uid=where[1],
                       letter_id=letter_id, kind=kind, sha256=sha, seen_at=self.store.clock())
                  for folder, where, kind, sha in rows if where is not None]
        async with self.store.sessions.begin() as s:
            if values:
                await s.execute(insert_for(s)(ImapMessage).values(values).on_conflict_do_nothing(
                    index_elements=["mailbox", "folder", "uidvalidity", "uid"]))
            if letter_id is not None and columns:  # one statement; it locks the row as LOCK_ROW
                await s.execute(update(Letter).where(Letter.id == letter_id).values(**columns)
                                .execution_options(synchronize_session=False))

    async def file_copy(self, client: MailboxClient, letter_id: int, state: str) -> None:
        """File the findable copy `[รับ n/ปี] …` next to a registered original, once."""
        if state != LetterState.REGISTERED:
            return
        async with self.store.readers() as s:
            letter = await s.get(Letter, letter_id)
            done = letter is not None and letter.copy_appended
        if done:
            return
        folder = self.folders.registered
        # A crash between APPEND and the commit below must not file a second copy: the intent
        # is committed first; when it was already (a crash, an amendment), the folder is
        # searched first, and a copy found there that is not the current one removed.
        search = letter is not None and letter.copy_appending
        if not search:
            await self.set_columns(letter_id, copy_appending=True)
        made = await self.pipeline.registered_copy(letter_id)
        if made is None:
            return
        copy, sha = made
        found = await current_copy(client, folder, copy_marker(letter_id), copy) if search else None
        where, sha = found if found is not None else (await client.append(folder, copy), sha)
        await self.remember(folder, where, letter_id, "copy", sha, {"copy_appended": True})

    async def _letter_behind(self, sha: str, letter_id: int | None) -> int | None:
        """The registered letter a message in a clerk's folder stands for."""
        async with self.store.readers() as s:
            if letter_id is not None:
                letter = await s.get(Letter, letter_id)
                if letter is not None and letter.about in (About.OWN_COPY, About.CLERK_ROUTE) \
                        and letter.about_letter_id is not None:
                    return letter.about_letter_id
                return letter_id
            return (await s.execute(select(ImapMessage.letter_id).where(
                ImapMessage.sha256 == sha, ImapMessage.kind == "copy",
                ImapMessage.letter_id.is_not(None)).limit(1))).scalar_one_or_none()

    async def copy_begun(self, letter_id: int) -> bool:
        """Whether filing the letter's findable copy was begun before (the intent committed, or
        the copy filed): then a message fetched again after a crash leaves the copy to
        file_copy, which searches for it before it appends, never a second one."""
        async with self.store.readers() as s:
            letter = await s.get(Letter, letter_id)
            return letter is not None and (letter.copy_appended or letter.copy_appending)

    async def set_columns(self, letter_id: int, **columns: object) -> None:
        async with self.store.sessions.begin() as s:
            letter = await s.get(Letter, letter_id, with_for_update=LOCK_ROW)
            if letter is not None:
                for column, value in columns.items():
                    setattr(letter, column, value)

    async def _finish(self, client: MailboxClient) -> None:
        """What a crash or another channel left unfiled: SMTP letters shown in the clerk's
        folders (original bytes, appended), and registered letters still missing their copy."""
        primary = self.cfg.name == self.store.settings.imap[0].name
        columns = (Letter.id, Letter.state, Letter.channel, Letter.filing_folder, Letter.filed_folder,
                   Letter.copy_appended, Letter.raw_message_id, Letter.source_key)
        left: dict[int, Any] = {}
        async with self.store.readers() as s:
            # only the letters with something left to file, each kind by its partial index
            # (store/tables.py; literal values, so that the index applies; one table, one
            # query each, so that no plan joins every letter): nothing here grows with history
            for kind in ((Letter.channel == literal_column("'smtp'"), Letter.filed_folder == literal_column("''")),
                         (Letter.state == literal_column("'registered'"), ~Letter.copy_appended)):
                for row in (await s.execute(select(*columns).where(*kind))).all():
                    left[row[0]] = row
            raw_ids = [row[6] for row in left.values() if row[1] != LetterState.RECEIVED]
            shas = {i: sha for i, sha in (await s.execute(select(RawMessage.id, RawMessage.sha256).where(
                RawMessage.id.in_(raw_ids)))).all()} if raw_ids else {}
        rows = [(*row[:6], shas[row[6]], row[7]) for _, row in sorted(left.items())
                if row[1] != LetterState.RECEIVED and row[6] in shas]
        ours = f"imap:{self.cfg.name}:"
        for letter_id, state, channel, filing, filed, appended, sha, source_key in rows:
            folder = self.folder_for(state)
            if folder is None:
                continue
            if channel == "smtp" and primary and not filed:
                raw = await asyncio.to_thread(self.store.blobs.get, sha)
                msg_id = _message_id(raw)
                found = None
                if filing and msg_id:
                    found = await client.search_header(folder, "Message-ID", msg_id)
                else:
                    await self.set_columns(letter_id, filing_folder=folder)
                where = found or await client.append(folder, raw)
                await self.remember(folder, where, letter_id, "original", sha)
                filed = folder
            # a letter of this mailbox whose original was moved before a crash kept its
            # placement from being recorded: its copy is filed all the same (the intent
            # committed with the stamp makes file_copy search before it appends)
            moved_here = channel == "imap" and source_key.startswith(ours)
            if state == LetterState.REGISTERED and (filed or moved_here) and not appended:
                if channel == "smtp" and not primary:
                    continue
                await self.file_copy(client, letter_id, state)

    async def clerk_commands(self, client: MailboxClient) -> int:
        """The clerk's commands (`ส่ง <หน่วยงาน>` replies, corrections) from the folders only a client
        holding the mailbox's password can write: the client's Sent folder and the command
        folder ([intake.folders] sent, commands; issue #18). Only commands are taken in, in
        place (nothing is moved); every other message there is left alone. The first time a
        folder is seen, what it already holds is only noted: old replies are not obeyed anew."""
        done = 0
        have = await client.folders()
        for folder in command_folders(self.store.settings):
            if folder not in have:
                continue
            validity = await client.select(folder)
            if not await self._has_baseline(folder, validity):  # first sight: note what is
                uids = await client.uids("ALL")                  # there, obey nothing old
                await self.remember_all([(folder, (validity, uid), "seen", "")
                                         for uid in (BASELINE_UID, *uids)], None, {})
                self._looked_up_to(folder, validity, max(uids, default=0))
                continue
            uids, top = await self._new_uids(client, folder, validity)
            for uid in uids:
                raw = await client.fetch(uid)
                if raw is None:
                    continue
                msg = await asyncio.to_thread(parse_message, raw)
                letter_id = None
                if clerk_command(msg.subject, msg.body_text, self.store.settings.units) is not None \
                        or correction_reply(msg.subject, msg.body_text) is not None \
                        or asks_for_report(msg.subject):
                    (digest,) = await put_blobs(self.store.blobs, raw)
                    letter_id, state, _ = await self.pipeline.take_in(
                        raw, digest=digest, channel="imap", envelope_to=[self.cfg.user],
                        source_key=folder_key(self.cfg.name, validity, uid, folder))
                    log.info("clerk's command in %s (uid %s): letter %s, %s", folder, uid, letter_id, state)
                    done += 1
                    await client.select(folder)
                await self.remember(folder, (validity, uid), letter_id, "command" if letter_id else "seen",
                                    hashlib.sha256(raw).hexdigest())
            self._looked_up_to(folder, validity, top)
        return done

    async def _has_baseline(self, folder: str, validity: int) -> bool:
        async with self.store.readers() as s:
            return (await s.execute(select(ImapMessage.id).where(
                ImapMessage.mailbox == self.cfg.name, ImapMessage.folder == folder,
                ImapMessage.uidvalidity == validity, ImapMessage.uid == BASELINE_UID))).first() is not None

    async def _new_uids(self, client: MailboxClient, folder: str, validity: int) -> tuple[list[int], int]:
        """The UIDs of `folder` (this UIDVALIDITY) the gateway has not looked at yet, in order.

        UIDs only grow within a UIDVALIDITY, and every UID a round returns is looked at before
        the next (`_looked_up_to` the second value, the highest UID there): after a process's first round only the UIDs above the last
        one are asked of the server (UID SEARCH UID n:*) and of the store, so a round's work
        does not grow with the folder (ลงรับแล้ว holds every letter ever registered). The first
        round compares the whole folder, in slices, once per process."""
        mark = self._marks.get((folder, validity), 0)
        uids = [u for u in await client.uids(f"UID {mark + 1}:*" if mark else "ALL") if u > mark]
        fresh: list[int] = []
        for i in range(0, len(uids), KNOWN_SLICE):
            part = uids[i:i + KNOWN_SLICE]
            async with self.store.readers() as s:
                known = set((await s.execute(select(ImapMessage.uid).where(
                    ImapMessage.mailbox == self.cfg.name, ImapMessage.folder == folder,
                    ImapMessage.uidvalidity == validity,
                    ImapMessage.uid.between(part[0], part[-1])))).scalars())
            fresh.extend(u for u in part if u not in known)
        return fresh, uids[-1] if uids else mark

    def _looked_up_to(self, folder: str, validity: int, top: int) -> None:
        """Every UID of the folder up to `top` has been looked at (and remembered)."""
        key = (folder, validity)
        self._marks[key] = max(self._marks.get(key, 0), top)

    async def _clerk_moves(self, client: MailboxClient, folder: str, action: str) -> None:
        validity = await client.select(folder)
        uids, top = await self._new_uids(client, folder, validity)
        for uid in uids:
            raw = await client.fetch(uid)
            if raw is None:
                continue
            sha = hashlib.sha256(raw).hexdigest()
            async with self.store.readers() as s:
                letter_id = (await s.execute(
                    select(Letter.id).join(RawMessage, RawMessage.id == Letter.raw_message_id)
                    .where(RawMessage.sha256 == sha).order_by(Letter.id).limit(1)
                )).scalar_one_or_none()
                if letter_id is None:  # kept stamped (Authentication-Results): known by placement
                    letter_id = (await s.execute(select(ImapMessage.letter_id).where(
                        ImapMessage.mailbox == self.cfg.name, ImapMessage.kind == "original",
                        ImapMessage.sha256 == sha, ImapMessage.letter_id.is_not(None))
                        .order_by(ImapMessage.letter_id).limit(1))).scalar_one_or_none()
            kind = "original" if letter_id is not None else "unknown"
            if letter_id is None:  # the review copy moved instead of the original
                letter_id = await review_copy_of(self, sha)
                kind = REVIEW_KIND if letter_id is not None else kind
            if action.startswith("forward:"):
                # The original, the findable copy, or a copy that came back (returned, sent).
                target = await self._letter_behind(sha, letter_id)
                if target is not None:
                    # a secret letter is held and the clerk asked to confirm (forwarding/hold.py)
                    done = await self.pipeline.units.clerk_route(
                        target, [action.partition(":")[2]], via="folder", by=f"clerk:imap:{self.cfg.name}",
                        folder=folder)
                    log.info("clerk moved letter %s into %s: forwarded to %s", target, folder, done or "-")
                await self.remember(folder, (validity, uid), letter_id, kind, sha)
                continue
            if letter_id is not None:
                if action == "register":
                    outcome = await self.pipeline.clerk_register(letter_id, actor=f"clerk:imap:{self.cfg.name}")
                    state = outcome.state
                    if outcome.missing:  # not registered: back to review, the clerk told why
                        await self._refused_back(client, folder, validity, uid, sha, outcome)
                        continue
                else:
                    state = await self.pipeline.clerk_reject(letter_id, actor=f"clerk:imap:{self.cfg.name}")
                log.info("clerk moved letter %s into %s: now %s", letter_id, folder, state)
            await self.remember(folder, (validity, uid), letter_id, kind, sha)
            if letter_id is not None and action == "register":
                await self.file_copy(client, letter_id, LetterState.REGISTERED)
                await client.select(folder)
        self._looked_up_to(folder, validity, top)

    async def _refused_back(self, client: MailboxClient, folder: str, validity: int, uid: int, sha: str,
                            outcome: DeskOutcome) -> None:
        """A letter moved into ลงรับแล้ว with a required field empty: its original goes back
        to its review folder and the clerk gets a mail naming the missing fields."""
        back = self.folder_for(outcome.state) or self.folders.review
        if back == folder:
            back = self.folders.review
        log.info("clerk moved letter %s into %s: not registered, missing %s; moved back to %s",
                 outcome.letter_id, folder, ",".join(outcome.missing), back)
        await self.remember(folder, (validity, uid), outcome.letter_id, "original", sha)
        where = await client.move(uid, back)
        await self.remember(back, where, outcome.letter_id, "original", sha)
        await self.pipeline.tell_register_refused(outcome, moved_to=back)
        await client.select(folder)


def _message_id(raw: bytes) -> str | None:
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    m = re.search(rb"(?im)^message-id:[ \t]*(<[^>\r\n]{1,250}>)", head)
    return m.group(1).decode("ascii", "replace") if m else None
