"""เส้นทางเดินของหนังสือ: a letter's path, read back from the audit log (pure formatting).

`saraban-gateway letter trace <receive number>[/<year>]` prints one line per step: received
(when, from, channel), registered, stamped, acknowledged, forwarded, accepted or returned
(by whom, when, unit number), reminders. The log is the evidence; this only says it in Thai.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.core.edits import FIELD_TH
from gateway.state import label_th
from gateway.thai import BANGKOK, format_short_date, format_time

ROLE_TH = {"primary": "", "copy": " (สำเนา)"}
VIA_TH = {"rule": "ตามกฎ", "folder": "เจ้าหน้าที่ย้ายโฟลเดอร์", "reply": "เจ้าหน้าที่ตอบอีเมล", "cli": "คำสั่ง"}


@dataclass(frozen=True)
class Step:
    at: dt.datetime
    actor: str
    action: str
    details: Mapping[str, Any]


def _unit(names: Mapping[str, str], code: object) -> str:
    return names.get(str(code), str(code))


def _changes(changes: object) -> str:
    """`เรื่อง: เก่า → ใหม่; ที่: - → กค 0305/ว 88` from an audit entry's list of changes."""
    if not isinstance(changes, list):
        return ""
    return "; ".join(f"{FIELD_TH.get(str(c.get('field')), c.get('field'))}: {c.get('old') or '-'} → "
                     f"{c.get('new') or '-'}" for c in changes if isinstance(c, dict))


def _why(d: Mapping[str, Any]) -> str:
    return f" เหตุผล: {d['reason']}" if d.get("reason") else ""


def _clerk_register(step: Step) -> str:
    d = step.details
    text = "เจ้าหน้าที่สั่งลงทะเบียนรับใหม่" if d.get("again") else "เจ้าหน้าที่สั่งลงทะเบียนรับ"
    if d.get("edits"):
        text += f" โดยแก้ไข {_changes(d['edits'])}"
    if d.get("no_number"):
        text += " (ไม่มีเลขที่)"
    return text + f" (โดย {step.actor}){_why(d)}"


def describe(step: Step, units: Mapping[str, str]) -> str | None:
    """One step in Thai; None for steps a reader of the path does not need."""
    d = step.details
    table: dict[str, Callable[[], str]] = {
        "letter.received": lambda: f"รับทาง {d.get('channel', '-')} จาก {d.get('from') or '-'}",
        "letter.decided": lambda: f"ตรวจแล้ว: {label_th(str(d.get('outcome')))}",
        "letter.clerk_register": lambda: _clerk_register(step),
        "letter.clerk_reject": lambda: "เจ้าหน้าที่สั่งไม่รับ" + _why(d),
        "letter.clerk_register_refused": lambda: "ยังไม่ลงทะเบียน: ขาด "
        + ", ".join(FIELD_TH.get(str(m), str(m)) for m in d.get("missing", ())),
        "letter.clerk_edit": lambda: f"เจ้าหน้าที่แก้ไขก่อนลงทะเบียน {_changes(d.get('edits'))} (โดย {step.actor})",
        "letter.amended": lambda: f"แก้ไขทะเบียนรับ {d.get('entry') or ''}: {_changes(d.get('changes'))}"
        f" (โดย {step.actor}){_why(d)}",
        "letter.cancelled": lambda: f"ยกเลิกเลขรับ {d.get('entry') or '-'} (โดย {step.actor}){_why(d)}",
        "letter.registered_again": lambda: f"เลขรับ {', '.join(map(str, d.get('cancelled', ())))} ที่ยกเลิก"
        f" แทนด้วยเลขรับ {d.get('entry')}",
        "unit.amend_told": lambda: f"แจ้ง {_unit(units, d.get('unit'))} ว่าแก้ไขทะเบียน",
        "letter.duplicate": lambda: f"ซ้ำกับหนังสือที่ลงรับแล้ว (รหัส {d.get('duplicate_of')})",
        "register.allocate": lambda: f"ลงทะเบียนรับ เลขรับ {d.get('number')}/{d.get('year')}"
        if d.get("book") == "receive" else "",
        "letter.stamped": lambda: "ประทับตรารับ" + (f" ไม่สำเร็จ: {d['stamp_error']}" if d.get("stamp_error") else ""),
        "outbox.sent": lambda: {"ack": f"ตอบรับผู้ส่ง {d.get('to')}", "notice": f"แจ้งผู้ส่งให้ส่งใหม่ {d.get('to')}",
                                "receipt": f"แจ้งได้รับ {d.get('to')}"}.get(str(d.get("kind")), ""),
        "unit.forwarded": lambda: f"ส่งต่อ {_unit(units, d.get('unit'))}{ROLE_TH.get(str(d.get('role')), '')}"
        f" ({VIA_TH.get(str(d.get('via')), d.get('via'))}, โดย {step.actor})",
        "unit.accepted": lambda: f"{_unit(units, d.get('unit'))} ลงรับ โดย {d.get('by')}"
        + (f" เลขรับหน่วยงาน {d['unit_number']}/{d['unit_year']}" if d.get("unit_number") else ""),
        "unit.returned": lambda: f"{_unit(units, d.get('unit'))} คืนเรื่อง โดย {d.get('by')}: {d.get('reason')}",
        "unit.reminded": lambda: f"เตือน {_unit(units, d.get('unit'))} ให้ลงรับ",
        "unit.overdue": lambda: f"แจ้งเจ้าหน้าที่: {_unit(units, d.get('unit'))} ยังไม่ลงรับ",
        "unit.reply_refused": lambda: f"ไม่รับคำตอบจาก {d.get('from')} (ไม่ใช่อีเมลของ"
        f" {_unit(units, d.get('unit'))})",
    }
    make = table.get(step.action)
    text = make() if make else None
    return text or None


def render(steps: list[Step], units: Mapping[str, str]) -> list[str]:
    lines = []
    for step in sorted(steps, key=lambda s: s.at):
        text = describe(step, units)
        if text:
            local = step.at.astimezone(BANGKOK)
            lines.append(f"{format_short_date(local.date())} {format_time(local)}  {text}")
    return lines
