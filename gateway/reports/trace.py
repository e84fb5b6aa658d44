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


def describe(step: Step, units: Mapping[str, str]) -> str | None:
    """One step in Thai; None for steps a reader of the path does not need."""
    d = step.details
    table: dict[str, Callable[[], str]] = {
        "letter.received": lambda: f"รับทาง {d.get('channel', '-')} จาก {d.get('from') or '-'}",
        "letter.decided": lambda: f"ตรวจแล้ว: {label_th(str(d.get('outcome')))}",
        "letter.clerk_register": lambda: "เจ้าหน้าที่สั่งลงทะเบียนรับ",
        "letter.clerk_reject": lambda: "เจ้าหน้าที่สั่งไม่รับ",
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
