"""The clerk's corrections in the register (issue #21): fields given before registering, a
registered entry amended, a registration cancelled and given again.

A register is amended, never overwritten: each corrected field of a registered letter is an
`Amendment` row (old value, new value, who, when, why) beside the letter's and its register
lines' current values, and one audit entry. A cancelled letter's receive entry stays in the
book marked ยกเลิก with the reason; registered again, it gets a new number and the old entry
points to the new one (register_entries.replaced_by_id). These run inside the caller's
transaction (gateway/inbound/clerk.py holds it).

What the clerk's folders show follows in the same transaction: a cancelled number's findable
copy `[รับ n/ปี]`, an amended letter's copy (it shows the old values), and a review copy
whose fields the clerk has since given, are marked outdated; the mailbox's next round removes
them and files the current copy (gateway/store/placements.py, gateway/intake/stale_copies.py), so a folder never shows one
letter twice, old values or a void number.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.core.edits import FIELD_TH, Edits
from gateway.state import AWAITING_CLERK, Event, advance
from gateway.store import audit, registers
from gateway.store.placements import COPY, REVIEW, outdate
from gateway.store.tables import Amendment, Letter, LetterFile, RegisterBook, RegisterEntry
from gateway.thai import letter_no_key

# A letter is not registered with one of these empty (ที่ only with `ไม่มีเลขที่`).
REQUIRED = ("letter_no", "letter_date", "sender", "subject")
NO_NUMBER_TH = "ไม่มีเลขที่"
CLERK_SOURCE = "clerk"  # Letter.field_sources of a value the clerk gave


@dataclass(frozen=True)
class DeskOutcome:
    """What a clerk's decision did: the letter's state after it, its receive entry ("12/2569")
    when it has one, the required fields still empty (nothing registered), and a Thai error
    when the decision could not be taken."""

    state: str
    letter_id: int
    entry: str | None = None
    missing: tuple[str, ...] = ()
    error_th: str = ""


def shown(value: object) -> str:
    """A field's value as an amendment row keeps it: dates in ISO, None as ""."""
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def entry_ref(entry: RegisterEntry | None) -> str | None:
    return f"{entry.number}/{entry.year}" if entry is not None else None


def missing_fields(letter: Letter, *, no_number: bool) -> tuple[str, ...]:
    """The required fields still empty (`ไม่มีเลขที่` allows an empty ที่)."""
    return tuple(name for name in REQUIRED
                 if getattr(letter, name) in (None, "") and not (name == "letter_no" and no_number))


def missing_th(missing: tuple[str, ...]) -> str:
    return ", ".join(FIELD_TH[m] for m in missing)


def apply_edits(letter: Letter, edits: Edits) -> dict[str, tuple[str, str]]:
    """The given fields put on the letter: {field: (old, new)} for each that changed."""
    changes: dict[str, tuple[str, str]] = {}
    given = edits.given()
    if edits.no_number and "letter_no" not in given:
        given["letter_no"] = ""
    sources = dict(letter.field_sources or {})
    for name, value in given.items():
        old = getattr(letter, name)
        if shown(old) == shown(value):
            continue
        changes[name] = (shown(old), shown(value))
        setattr(letter, name, value)
        sources[name] = CLERK_SOURCE
        if name == "letter_no":
            letter.letter_no_norm = letter_no_key(str(value)) if value else ""
    letter.field_sources = sources
    return changes


async def amend_registered(s: AsyncSession, letter: Letter, edits: Edits, *, actor: str, reason: str,
                           now: dt.datetime) -> tuple[RegisterEntry | None, dict[str, tuple[str, str]]]:
    """A registered letter's fields corrected: amendment rows, the letter's and its register
    lines' current values, one audit entry. The receive entry and the changes made."""
    entry = await registers.entry_of(s, letter.id)
    changes = apply_edits(letter, edits)
    if not changes:
        return entry, changes
    lines = list((await s.execute(select(RegisterEntry).where(
        RegisterEntry.letter_id == letter.id, RegisterEntry.status == "registered"))).scalars())
    for name, (old, new) in changes.items():
        s.add(Amendment(letter_id=letter.id, entry_id=entry.id if entry else None, field=name,
                        old_value=old, new_value=new, actor=actor, at=now, reason=reason))
        for line in lines:  # the receive line and a unit's own line copy the letter's fields
            setattr(line, name, getattr(letter, name))
    letter.updated_at = now
    await copy_outdated(s, letter)
    await s.flush()
    await audit.append(s, now=now, actor=actor, action="letter.amended", subject_type="letter",
                       subject_id=letter.id,
                       details={"entry": entry_ref(entry), "reason": reason,
                                "changes": [{"field": k, "old": o, "new": n} for k, (o, n) in changes.items()]})
    return entry, changes


async def copy_outdated(s: AsyncSession, letter: Letter) -> None:
    """A registered letter amended: its findable copy, which shows the old values, leaves
    ลงรับแล้ว and the next round files one showing the new ones (same number, a new Message-ID:
    inbound/filed_copy.py). copy_appending stays as it was: set, the filing searches before it
    appends, and a copy whose APPEND a crash left unrecorded is found, and removed as outdated
    (gateway/intake/stale_copies.py current_copy), never left beside the new one."""
    await outdate(s, letter.id, COPY)
    letter.copy_appended = False


async def cancel_registered(s: AsyncSession, letter: Letter, *, actor: str, reason: str,
                            now: dt.datetime) -> RegisterEntry | None:
    """The letter's receive entry marked ยกเลิก with the reason; the letter cancelled."""
    entry = await registers.entry_of(s, letter.id)
    if entry is not None:
        book = await s.get(RegisterBook, entry.book_id)
        assert book is not None
        await registers.cancel_number(s, book_code=book.code, year=entry.year, number=entry.number,
                                      reason=reason, now=now, actor=actor)
    letter.state = advance(letter.state, Event.CLERK_CANCELS)
    letter.updated_at = now
    await outdate(s, letter.id, COPY)  # no copy in ลงรับแล้ว claims the void number
    await audit.append(s, now=now, actor=actor, action="letter.cancelled", subject_type="letter",
                       subject_id=letter.id, details={"entry": entry_ref(entry), "reason": reason})
    return entry


async def forget_stamp(s: AsyncSession, letter: Letter) -> None:
    """A cancelled letter registered again is stamped with its new number, and gets a new
    findable copy: the old stamped file leaves the letter (its blob stays; the audit has it),
    and any copy still filed under the old number leaves ลงรับแล้ว."""
    await outdate(s, letter.id, COPY)
    await s.execute(delete(LetterFile).where(LetterFile.letter_id == letter.id,
                                             LetterFile.role == "stamped"))
    letter.stamped_at = None
    letter.stamp_error = ""
    letter.copy_appended = False  # copy_appending kept: a search first (copy_outdated)


async def link_replaced(s: AsyncSession, letter: Letter, new: RegisterEntry | None,
                        *, actor: str, now: dt.datetime) -> list[str]:
    """The letter's cancelled receive entries not yet replaced now point to `new`."""
    if new is None:
        return []
    old = list((await s.execute(select(RegisterEntry).where(
        RegisterEntry.letter_id == letter.id, RegisterEntry.status == "cancelled",
        RegisterEntry.book_id == new.book_id, RegisterEntry.replaced_by_id.is_(None),
        RegisterEntry.id != new.id))).scalars())
    for e in old:
        e.replaced_by_id = new.id
    refs = [f"{e.number}/{e.year}" for e in old]
    if refs:
        await audit.append(s, now=now, actor=actor, action="letter.registered_again",
                           subject_type="letter", subject_id=letter.id,
                           details={"cancelled": refs, "entry": entry_ref(new)})
    return refs


async def review_copy_outdated(s: AsyncSession, letter: Letter, changes: dict[str, tuple[str, str]]) -> None:
    """Fields given for a letter still waiting for the clerk: its review copy, which shows
    the fields and what is missing, is replaced by one showing them (the next round)."""
    if changes and letter.state in AWAITING_CLERK:
        await outdate(s, letter.id, REVIEW)
