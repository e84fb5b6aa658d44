"""Reading a message that may be a bounce: which kind of report it is, if any (pure).

What is read, in this order: an RFC 3464 or RFC 6533 report (``dsn``); else the text of a bounce
without a report (``legacy``). Not bounces (None): RFC 8098 read receipts
(``report-type=disposition-notification``), other reports (RFC 5965 feedback), RFC 3834
auto-replies, and ordinary mail.
"""

from __future__ import annotations

from collections.abc import Sequence
from email import policy as email_policy
from email.message import Message
from email.parser import BytesParser

from gateway.outbound.bounces.dsn import read_report
from gateway.outbound.bounces.legacy import read_text_bounce
from gateway.outbound.bounces.mime import walk
from gateway.outbound.bounces.status import MAX_INPUT_BYTES, Bounce

__all__ = ["read_bounce"]


def read_bounce(raw: bytes, *, envelope_to: Sequence[str] = ()) -> Bounce | None:
    """Read a bounce; None when ``raw`` is not one. Never raises.

    ``envelope_to`` is the SMTP envelope recipient(s) when the message came in by SMTP: the VERP
    address there is the most reliable token, since a report's headers may name another address.
    """
    try:
        return _read(bytes(raw[:MAX_INPUT_BYTES]), envelope_to)
    # Top-level guard (house style 5): mail from the Internet must never crash intake, and the
    # stdlib parser has raised assorted exceptions (RecursionError on deep nesting, among others)
    # on hostile input. Not being able to read a message means it is not a bounce we can use.
    except Exception:  # noqa: BLE001
        return None


_DSN_REPORT_TYPES = frozenset({"delivery-status", "global-delivery-status"})


def _read(data: bytes, envelope_to: Sequence[str]) -> Bounce | None:
    msg = BytesParser(policy=email_policy.compat32).parsebytes(data)
    parts = walk(msg)
    top_type = msg.get_content_type()
    report_type = _param(msg, "report-type") if top_type == "multipart/report" else None

    if parts.reports or report_type in _DSN_REPORT_TYPES:
        return read_report(msg, parts, envelope_to)
    if parts.mdn or report_type is not None:
        return None  # RFC 8098 read receipt, or a report of another kind (RFC 5965 feedback)
    return read_text_bounce(msg, parts, envelope_to)


def _param(msg: Message, name: str) -> str | None:
    value = msg.get_param(name)
    if isinstance(value, tuple):  # RFC 2231 (charset, language, value)
        value = value[2]
    return value.strip().lower() if isinstance(value, str) else None
