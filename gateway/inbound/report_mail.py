"""Reports by mail (#22): a clerk sends the central address `[รายงาน] ทะเบียนรับ ธันวาคม 2569`
and gets the register as PDF and XLSX (gateway/reports/request.py reads the subject,
gateway/reports/build.py writes the files).

Only a request with a clerk's proof (gateway/trust/channels.py: the mailbox's Sent or คำสั่ง
folder, the submission server, a clerk's address with DKIM passing at the agency's own MX)
is answered; anything else is kept for the clerk and answered by nobody. The answer goes to
the requester's address only when it is a central address or one of `[reports] mail_to`,
otherwise to the central address: a report never leaves for an address nobody listed.
Secret letters appear by their number only (build_report never shows more).

The files are written on a thread of their own, with its own event loop and database
connection (gateway/store/handle.py side_store): a year's printed register is seconds of CPU, and the gateway's
loop keeps answering its listeners meanwhile. Like a correction reply, the request is obeyed
before the message is recorded, and the answer is queued with the record, once per message.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.core.compose import FileToAttach
from gateway.errors import UserError
from gateway.outbound.sender import agency_mail, queue_mail
from gateway.reports.request import HELP_TH, ReportRequest, report_request
from gateway.store import audit
from gateway.store.handle import side_store
from gateway.thai import local_date

if TYPE_CHECKING:
    from gateway.inbound.context import Inbound
    from gateway.inbound.read import Examined
    from gateway.store.handle import Store
    from gateway.store.tables import Letter

AUDIT_ACTION = "clerk.report"


@dataclass(frozen=True)
class Answered:
    """What a report request gave: the files, or why none (Thai)."""

    request: ReportRequest
    files: tuple[tuple[str, bytes, str], ...] = ()
    error_th: str = ""


def answer_to(ex: Examined, store: Store) -> str:
    """Where the report goes: the requester when listed, else the central address."""
    settings = store.settings
    central = settings.agency.central_addresses[0]
    allowed = {a.lower() for a in (*settings.agency.central_addresses, *settings.reports.mail_to)}
    sender = (ex.reading.message.from_addr or "").lower()
    return sender if sender in allowed else central


def _build_on_own_loop(store: Store, req: ReportRequest) -> list[tuple[str, bytes, str]]:
    from gateway.reports.build import build_report

    async def build() -> list[tuple[str, bytes, str]]:
        other = side_store(store)
        try:
            return await build_report(req.kind, req.period, store.settings, other)  # type: ignore[arg-type]
        finally:
            await other.close()

    return asyncio.run(build())


class ReportMail:
    def __init__(self, ctx: Inbound) -> None:
        self.ctx = ctx

    async def obey(self, ex: Examined) -> Answered:
        """Read the request and write its files (outside any transaction of the caller)."""
        assert ex.report is not None
        store = self.ctx.store
        req = report_request(ex.report, local_date(store.clock()))
        if req is None or req.error_th:
            return Answered(req or ReportRequest(), error_th=(req.error_th if req else ""))
        try:
            files = await asyncio.to_thread(_build_on_own_loop, store, req)
        except UserError as e:
            return Answered(req, error_th=e.message_th)
        return Answered(req, tuple(files))

    async def record(self, s: AsyncSession, reply: Letter, ex: Examined, now: dt.datetime) -> None:
        """In the request's recording transaction: the audit entry and the answer."""
        answered: Answered = ex.obeyed
        to = answer_to(ex, self.ctx.store)
        msg = ex.reading.message
        await audit.append(s, now=now, actor=f"clerk:{ex.clerk_proof}", action=AUDIT_ACTION,
                           subject_type="letter", subject_id=reply.id,
                           details={"proof": ex.clerk_proof, "message_id": msg.message_id,
                                    "kind": answered.request.kind, "to": to,
                                    "files": [f[0] for f in answered.files],
                                    "error": answered.error_th})
        context: dict[str, Any] = {
            "agency": self.ctx.store.settings.agency.name_th,
            "label": answered.request.label_th, "error": answered.error_th,
            "help": HELP_TH if answered.error_th else "",
            "files": [f[0] for f in answered.files],
        }
        files = [FileToAttach(name, ctype, data) for name, data, ctype in answered.files]
        mail = agency_mail(self.ctx.store.settings, "report", context, to=[to],
                           key=f"report:{reply.id}", in_reply_to=msg.message_id,
                           references=msg.references, attachments=files)
        await queue_mail(s, self.ctx.store, self.ctx.templates, mail, kind="report", now=now)
