"""A secret letter a clerk asked to forward: held, the clerk asked, sent only when confirmed.

Letter.secret_hold (JSON) is the hold: {"state": "pending" | "confirmed", "units": [codes],
"asked_by", "asked_at", "via", "folder", "confirmed_by", "confirmed_at", "forwarded",
"history": [earlier holds]}. Asking again while pending adds units (and asks again only when
there are new ones); a confirmed hold asked again for other units starts a new one. The
question to the clerk (templates/mail/secret-hold.*) names the letter by its receive number
only. Called from `Units.forward` and `Units.confirm_secret` (forwarding/units.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.outbound.sender import agency_mail, queue_mail
from gateway.state import LetterState
from gateway.store import audit, registers
from gateway.store.tables import Letter
from gateway.trust.secrecy import CONFIRM_WORD

if TYPE_CHECKING:
    from gateway.forwarding.units import Units

HOLD_HEADER = "X-Saraban-Secret-Hold"  # the letter id: what the clerk's `ยืนยันส่งลับ` answers
PENDING, CONFIRMED = "pending", "confirmed"


def pending_units(letter: Letter) -> list[str]:
    h = letter.secret_hold or {}
    return list(h.get("units", ())) if h.get("state") == PENDING else []


async def ask(units: Units, s: AsyncSession, letter: Letter, codes: Sequence[str], *, via: str,
              by: str, folder: str, now: dt.datetime) -> None:
    """Hold the letter for these units and ask the clerk to confirm mailing it."""
    old: dict[str, Any] = dict(letter.secret_hold or {})
    if old.get("state") == PENDING:
        new = [c for c in codes if c not in old["units"]]
        if not new:
            return  # moved twice: asked once
        held = {**old, "units": [*old["units"], *new], "asked_by": by, "via": via,
                "folder": folder or old.get("folder", "")}
    else:
        history = [*old.pop("history", []), old] if old else []
        held = {"state": PENDING, "units": list(codes), "asked_by": by, "asked_at": now.isoformat(),
                "via": via, "folder": folder, "confirmed_by": "", "confirmed_at": None,
                "forwarded": [], "history": history}
    letter.secret_hold = held
    await audit.append(s, now=now, actor=by, action="unit.secret_held", subject_type="letter",
                       subject_id=letter.id,
                       details={"units": held["units"], "via": via, "folder": folder})
    entry = await registers.entry_of(s, letter.id)
    a = units.store.settings.agency
    names = [u.name_th if (u := units.unit(c)) else c for c in held["units"]]
    ctx = {"agency": a.name_th, "contact": a.contact, "number": entry.number if entry else "-",
           "year": entry.year if entry else "-", "secrecy": letter.secrecy, "units": names,
           "asked_by": by, "folder": folder, "letter_id": letter.id, "confirm_word": CONFIRM_WORD}
    mail = agency_mail(units.store.settings, "secret-hold", ctx, to=[units.central],
                       key=f"secret-hold:{letter.id}:{held['asked_at']}:{'+'.join(held['units'])}",
                       extra_headers={HOLD_HEADER: str(letter.id)})
    await queue_mail(s, units.store, units.templates, mail, kind="secret-hold", now=now, letter_id=letter.id)


async def confirm(units: Units, s: AsyncSession, letter: Letter, *, by: str, now: dt.datetime) -> list[str]:
    """Forward to the held units with the confirmer recorded; [] when nothing is held."""
    held = pending_units(letter)
    if not held or letter.state != LetterState.REGISTERED:
        return []
    h = dict(letter.secret_hold or {})
    made = await units.forward(s, letter, held, via=h.get("via") or "folder", by=h.get("asked_by") or by,
                               now=now, confirmed_by=by)
    codes = [f.unit_code for f in made]
    letter.secret_hold = {**h, "state": CONFIRMED, "confirmed_by": by, "confirmed_at": now.isoformat(),
                          "forwarded": codes}
    await audit.append(s, now=now, actor=by, action="unit.secret_confirmed", subject_type="letter",
                       subject_id=letter.id, details={"units": held, "forwarded": codes})
    return codes
