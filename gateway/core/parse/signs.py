"""Signs in a message's headers that no person wrote it: auto-replies, bounces, spam (pure).

A message with such a sign is set aside and gets no acknowledgement (`gateway.core.classify`).
"""

from __future__ import annotations

import re

from gateway.core.parse.headers import Headers

__all__ = ["auto_reply_reason", "spam_flagged"]

# RFC 3834 §5 and the usual signs of bounces and out-of-office replies (issue 3: "set aside").
_AUTO_SUBJECT = re.compile(
    r"(?i)^\s*(?:automatic reply|auto[- ]?reply|autoreply|auto response|out of (?:the )?office"
    r"|undeliverable|undelivered mail|delivery status notification|mail delivery failed"
    r"|delivery failure|returned mail|failure notice|ตอบกลับอัตโนมัติ|ไม่สามารถส่งได้"
    r"|ไม่สามารถจัดส่งได้|ไม่อยู่ที่สำนักงาน)"
)
_BOUNCE_SENDERS = frozenset({"mailer-daemon", "mail-daemon", "mailerdaemon"})


def auto_reply_reason(
    headers: Headers, top_type: str, subject: str, from_addr: str | None
) -> str | None:
    auto = (headers.raw("auto-submitted") or "").strip().lower()
    if auto and not auto.startswith("no"):
        return f"Auto-Submitted: {auto.split(';')[0]}"
    if top_type == "multipart/report":
        return "delivery or read report (multipart/report)"
    if (headers.raw("return-path") or "").strip() == "<>":
        return "bounce (null Return-Path)"
    for name in ("x-autoreply", "x-autorespond", "x-auto-reply"):
        value = headers.raw(name)
        if value is not None and value.strip().lower() not in ("", "no", "false", "0"):
            return f"{name} header"
    precedence = (headers.raw("precedence") or "").strip().lower()
    if precedence == "auto_reply":
        return "Precedence: auto_reply"
    if from_addr and from_addr.split("@", 1)[0] in _BOUNCE_SENDERS:
        return "from MAILER-DAEMON"
    if _AUTO_SUBJECT.match(subject):
        return "auto-reply subject"
    return None


def spam_flagged(headers: Headers) -> bool:
    for name in ("x-spam-flag", "x-spam-status", "x-spam"):
        value = (headers.raw(name) or "").strip().lower()
        if value.startswith(("yes", "true")):
            return True
    return False
