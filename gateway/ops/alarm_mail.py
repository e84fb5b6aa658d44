"""An alarm raised: through `[alarm]`'s channels (gateway/ops/alarm.py) and as a Thai mail to the
central mailbox. One piece for every alarm the gateway raises (a mailbox not checked, a backup
overdue), so each goes out the same way, in the same order."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import TYPE_CHECKING, Any

from gateway.core.compose import render
from gateway.outbound.sender import agency_mail, queue_mail

if TYPE_CHECKING:
    import jinja2

    from gateway.ops.alarm import AlarmOut
    from gateway.store.handle import Store

__all__ = ["sound"]


async def sound(store: Store, templates: jinja2.Environment, out: AlarmOut | None, *,
                template: str, context: dict[str, Any], about: dict[str, Any], key: str,
                now: dt.datetime, wake: asyncio.Event | None) -> None:
    """Raise one alarm: first through `[alarm]`'s command and webhook (the mailbox may be what
    is down), then as a Thai mail to the central mailbox (`templates/mail/<template>.*`),
    queued once under `key`; `wake` the sender for it."""
    if out is not None:
        subject, body = render(templates, template, context)
        await out.send(subject, body, when=now, about=about)
    s = store.settings
    mail = agency_mail(s, template, context, to=[s.agency.central_addresses[0]], key=key)
    async with store.sessions.begin() as sess:
        await queue_mail(sess, store, templates, mail, kind="alarm", now=now)
    if wake is not None:
        wake.set()
