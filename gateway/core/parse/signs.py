"""Signs in a message's headers that no person wrote it: auto-replies, bounces, spam (pure).

A message with such a sign is set aside and gets no acknowledgement (`gateway.core.classify`);
it never accepts or returns a forward, never acknowledges a letter we sent and is never a
clerk's command (issue #18): an out-of-office reply carries the token of the mail it answers.
"""

from __future__ import annotations

import re

from gateway.core.parse.headers import Headers
from gateway.letter import mail_system

__all__ = ["auto_reply_reason", "generated_reason", "spam_flagged"]

# RFC 3834 §5, Outlook/Exchange and other mailers' out-of-office subjects (English and Thai,
# and a few others Thai offices meet), and the usual subjects of bounces.
_AUTO_SUBJECT = re.compile(
    r"(?i)^\s*(?:automatic reply|auto[- ]?reply|autoreply|auto[- ]?response|auto:|oof:"
    r"|out of (?:the )?office|ooo\b|away from (?:the )?office|on vacation|vacation reply"
    r"|réponse automatique|automatische antwort|respuesta automática|risposta automatica"
    r"|undeliverable|undelivered mail|delivery status notification|mail delivery failed"
    r"|delivery failure|returned mail|failure notice"
    r"|(?:การ)?ตอบกลับอัตโนมัติ|ข้อความตอบกลับอัตโนมัติ|ตอบอัตโนมัติ|ไม่อยู่ที่สำนักงาน|ไม่อยู่สำนักงาน"
    r"|ไม่สามารถส่งได้|ไม่สามารถจัดส่งได้)"
)
# Headers that mark a message as an automatic answer, whatever their value (short of a "no").
_AUTO_HEADERS = ("x-autoreply", "x-autorespond", "x-auto-reply")
_NOT = ("", "no", "false", "0", "none")
# Signs that a program sent the message, which real letters carry too (a circular sent to a
# list, an e-saraban system that suppresses out-of-office answers as this gateway does, a
# letter an Exchange inbox rule forwarded): the message is still read as a letter, but as an
# answer to our mail (a unit's reply, an acknowledgement, a command) it never acts.
_GENERATED_HEADERS = ("x-auto-response-suppress", "x-ms-exchange-inbox-rules-loop")
_GENERATED_PRECEDENCE = frozenset({"bulk", "junk", "list"})
# Exchange's out-of-office and inbox-rule replies (MS-OXCMAIL 2.2.3.2.x: content classes)
_CONTENT_CLASS = re.compile(r"(?i)urn:content-classes:(?:autoreply|oof|calendarmessage)|\boof\b")


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
    for name in _AUTO_HEADERS:
        value = headers.raw(name)
        if value is not None and value.strip().lower() not in _NOT:
            return f"{name} header"
    precedence = (headers.raw("precedence") or "").strip().lower()
    if precedence == "auto_reply":
        return "Precedence: auto_reply"
    content_class = headers.raw("content-class") or ""
    if _CONTENT_CLASS.search(content_class):
        return f"Content-Class: {content_class.strip()[:60]}"
    if from_addr and mail_system(from_addr.split("@", 1)[0]):
        return "from MAILER-DAEMON"
    if _AUTO_SUBJECT.match(subject or ""):
        return "auto-reply subject"
    return None


def generated_reason(headers: Headers) -> str | None:
    """A sign that a program sent the message, short of an auto-reply (see above)."""
    for name in _GENERATED_HEADERS:
        value = headers.raw(name)
        if value is not None and value.strip().lower() not in _NOT:
            return f"{name} header"
    precedence = (headers.raw("precedence") or "").strip().lower()
    if precedence in _GENERATED_PRECEDENCE:
        return f"Precedence: {precedence}"
    return None


def spam_flagged(headers: Headers) -> bool:
    for name in ("x-spam-flag", "x-spam-status", "x-spam"):
        value = (headers.raw(name) or "").strip().lower()
        if value.startswith(("yes", "true")):
            return True
    return False
