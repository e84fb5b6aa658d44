"""The receive stamp (ตรารับ, domain.md §4) on a copy of a registered letter's PDF.

Once per letter, in its own short transaction after the numbering one: the stamp is drawn and
the stamped PDF kept durably in a worker process before the transaction, which only records
it; resume() stamps whatever a crash left registered but unstamped. Once stamped, the routing
rules pass the letter to its units.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway import workers
from gateway.pdf.check import PdfUnreadable
from gateway.pdf.stamp import ReceiptStamp, StampStyle, stamp_receipt_placed
from gateway.state import LetterState
from gateway.store import audit, registers
from gateway.store.blobs import BlobStore
from gateway.store.letters import LOCK_ROW, know_blob
from gateway.store.tables import Letter, LetterFile

if TYPE_CHECKING:  # the worker processes import this module: keep them light
    from gateway.inbound.context import Inbound


# หมายเหตุ when no blank space held the stamp and it went over the letter on a white box (#20)
COVERS_TEXT = "ตรารับวางทับข้อความ"
# หมายเหตุ when drawing the stamp went over the letter's budget: registered, units get the file
# as received (#20)
NOT_STAMPED = "ไม่ได้ประทับตรารับ"


def over_budget_remark(over: workers.OverBudget | workers.WorkerDied) -> str:
    """The register's หมายเหตุ for a stamp given up: why, in Thai."""
    if isinstance(over, workers.WorkerDied):
        return f"{NOT_STAMPED} (โปรแกรมประทับตราหยุดทำงาน) ส่งต่อไฟล์ตามที่ได้รับ"
    if over.what == "memory":
        why = f"ต้องใช้หน่วยความจำเกิน {over.budget.memory_mb} MB"
    else:
        why = f"ไม่เสร็จภายใน {over.budget.seconds:g} วินาที"
    return f"{NOT_STAMPED} ({why}) ส่งต่อไฟล์ตามที่ได้รับ"


@dataclass(frozen=True)
class StampSettings:
    style: StampStyle
    agency: str
    thai_digits: bool


def stamp_bytes(original: bytes, settings: StampSettings, number: int,
                at: dt.datetime) -> tuple[bytes | None, str, str]:
    """The receive stamp drawn on `original` and a remark for the register (or ""), or None
    and why it could not be (in a worker process)."""
    stamp = ReceiptStamp(settings.agency, number, at, settings.thai_digits)
    try:
        done = stamp_receipt_placed(original, stamp, settings.style)
    except PdfUnreadable as exc:
        return None, exc.reason_th, ""
    return done.pdf, "", COVERS_TEXT if done.covers_text else ""


def stamp_blob(blob_root: str, digest: str, settings: StampSettings, number: int,
               at: dt.datetime) -> tuple[str | None, int, str, str]:
    """Stamp the PDF kept as `digest` and keep the stamped copy durably (in a worker process:
    only names cross the pipe, not megabytes). Returns (digest, size, "", remark) or
    (None, 0, why, "")."""
    blobs = BlobStore(Path(blob_root))
    stamped, error, remark = stamp_bytes(blobs.get(digest), settings, number, at)
    if stamped is None:
        return None, 0, error, ""
    return blobs.put(stamped), len(stamped), "", remark


@dataclass(frozen=True)
class ToStamp:
    """What drawing a registered letter's stamp needs (and, from the numbering transaction,
    what the copy filed right after it shows: the register's year, the message's hash)."""

    number: int | None
    at: dt.datetime | None  # when it was registered
    main_sha256: str | None
    main_name: str
    year: int | None = None
    raw_sha256: str = ""


@dataclass(frozen=True)
class Stamped:
    """A letter as its stamp's transaction left it, for the copy filed right after: the row
    (detached, its columns loaded), its number, and the PDF the copy attaches."""

    letter: Letter
    number: int
    year: int
    registered_at: dt.datetime
    raw_sha256: str
    pdf: tuple[str, str] | None  # (safe name, sha256): the stamped PDF, else the main one


HANDED_OVER = 32  # stamped letters whose copy is still to be composed, at most (TAKE_IN_PARALLEL)


class Stamper:
    def __init__(self, ctx: Inbound) -> None:
        self.ctx = ctx
        # Letters stamped with the intent to file their copy at once (the IMAP intake): what
        # the copy needs, so that composing it does not read the letter back (pop_stamped).
        self._handed: dict[int, Stamped] = {}

    def pop_stamped(self, letter_id: int) -> Stamped | None:
        return self._handed.pop(letter_id, None)

    async def _record(self, s: AsyncSession, letter: Letter, digest: str | None, size: int,
                      safe_name: str, error: str, at: dt.datetime,
                      remark: str = "") -> tuple[str, str] | None:
        """Record the stamp (or why there is none); returns the stamped file's (name, sha256)."""
        outcome: dict[str, Any] = {}
        if remark:  # over the letter's text, or not drawn at all: the register's หมายเหตุ says so
            outcome["remark"] = remark
            if digest is not None and remark not in letter.sender_flags:  # else: stamp_error
                letter.sender_flags = [*letter.sender_flags, remark]
            entry = await registers.entry_of(s, letter.id)
            if entry is not None and remark not in entry.remarks:
                entry.remarks = " / ".join(x for x in (entry.remarks, remark) if x)
        letter.stamped_at = at
        stamped: tuple[str, str] | None = None
        with s.no_autoflush:  # the letter's changes go out together, not before each statement
            if digest is not None:
                await know_blob(s, digest, size, at)
                stamped = (f"{Path(safe_name).stem or 'letter'}-ตรารับ.pdf", digest)
                s.add(LetterFile(letter_id=letter.id, role="stamped", position=0, filename="",
                                 safe_name=stamped[0], media_type="application/pdf",
                                 sha256=digest, size=size))
                outcome["stamped_sha256"] = digest
            else:
                outcome["stamp_error"] = letter.stamp_error = error
            await audit.append(s, now=at, actor="pipeline", action="letter.stamped",
                               subject_type="letter", subject_id=letter.id, details=outcome)
        # Units get the stamped copy: rules route the letter once it carries the stamp.
        await self.ctx.units.route_by_rules(s, letter, self.ctx.store.clock())
        return stamped

    async def _facts(self, letter_id: int) -> ToStamp | None:
        """What stamping the letter needs, read back; None when it is not registered or is
        already stamped."""
        async with self.ctx.store.readers() as s:
            letter = await s.get(Letter, letter_id)
            if letter is None or letter.state != LetterState.REGISTERED or letter.stamped_at is not None:
                return None
            main = (await s.execute(select(LetterFile).where(
                LetterFile.letter_id == letter_id, LetterFile.role == "main"))).scalar_one_or_none()
            entry = await registers.entry_of(s, letter_id)
        return ToStamp(entry.number if entry else None, entry.registered_at if entry else None,
                       main.sha256 if main else None, main.safe_name if main else "")

    async def stamp(self, letter_id: int, *, also: dict[str, Any] | None = None,
                    known: ToStamp | None = None) -> bool:
        """Stamp a registered letter (just registered, registered by the clerk, or left
        unstamped by a crash); once per letter. `known`: the letter was registered a moment ago
        and what the stamp needs came from that transaction, not read back. `also`: columns the
        caller records with the stamp (an intent to file a copy)."""
        ctx = self.ctx
        facts = known or await self._facts(letter_id)
        if facts is None:
            return False
        digest: str | None = None
        size = 0
        remark = ""
        error = "ไม่มีไฟล์ PDF ให้ประทับตรารับ"
        if facts.main_sha256 is not None and facts.number is not None and facts.at is not None:
            # drawn and kept durably before the transaction, which only records it; in a worker
            # process within the letter's budget, as reading is: a hostile file costs the stamp,
            # never the intake (in a thread, read_processes = 0, nothing can stop it)
            intake = ctx.store.settings.intake
            budget = workers.Budget(intake.read_seconds, intake.read_memory_mb) \
                if ctx.read_processes > 0 else None
            try:
                digest, size, error, remark = await workers.run(
                    ctx.read_processes, stamp_blob, str(ctx.store.blobs.root), facts.main_sha256,
                    ctx.stamp, facts.number, facts.at, budget=budget)
            except (workers.OverBudget, workers.WorkerDied) as exc:
                remark = over_budget_remark(exc)
                error = remark
        async with ctx.store.sessions.begin() as s:
            letter = await s.get(Letter, letter_id, with_for_update=LOCK_ROW)
            assert letter is not None
            if letter.state != LetterState.REGISTERED or letter.stamped_at is not None:
                return False
            for column, value in (also or {}).items():
                setattr(letter, column, value)
            pdf = await self._record(s, letter, digest, size, facts.main_name, error,
                                     facts.at or ctx.store.clock(), remark)
        if (also or {}).get("copy_appending") and facts.number is not None and facts.at is not None \
                and facts.year is not None and facts.raw_sha256:
            if len(self._handed) >= HANDED_OVER:  # never taken (the copy failed): forget the oldest
                del self._handed[next(iter(self._handed))]
            main = (facts.main_name, facts.main_sha256) if facts.main_sha256 else None
            self._handed[letter_id] = Stamped(letter, facts.number, facts.year, facts.at,
                                              facts.raw_sha256, pdf or main)
        return True
