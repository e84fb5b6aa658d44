"""Bounces without a report: qmail, Exchange and Office 365 NDRs, X-Failed-Recipients (pure).

qmail's "Hi. This is the qmail-send program" text, Exchange and Office 365 NDRs in text or HTML
("Remote Server returned '550 5.1.1 …'"), and MAILER-DAEMON / "Mail Delivery Subsystem" bounces
that list their recipients in ``X-Failed-Recipients``. RFC 3834 auto-replies such as
out-of-office notices (``Auto-Submitted: auto-replied``, "ตอบกลับอัตโนมัติ") are not bounces.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from email.message import Message

from gateway.letter import mail_system
from gateway.outbound.bounces.mime import (
    COPY_MARKER,
    Parts,
    decoded,
    envelope_token,
    human_text,
    quoted_message_id,
    raw_header,
    raw_headers,
    reply_message_id,
    returned_message_id,
)
from gateway.outbound.bounces.status import (
    ENHANCED,
    MAX_FIELD_CHARS,
    MAX_RECIPIENTS,
    Bounce,
    BounceKind,
    RecipientStatus,
    is_permanent,
    read_action,
    status_in_text,
)
from gateway.outbound.bounces.verp import verp_token

__all__ = ["read_text_bounce", "text_recipients"]

_QMAIL = re.compile(r"(?i)\bthis is the qmail-send program\b")
_QMAIL_RECIPIENT = re.compile(r"<([^<>\s@]{1,64}@[^<>\s@]{1,255})>:")
_BOUNCE_SUBJECT = re.compile(
    r"(?i)^\s*(?:undeliverable|undelivered mail|undeliverable mail|delivery status notification"
    r"|mail delivery failed|delivery failure|delivery has failed|failure notice|returned mail"
    r"|non[- ]?delivery|message not delivered|delayed mail|warning: could not send"
    r"|ไม่สามารถส่ง|ส่งไม่สำเร็จ|ไม่สามารถจัดส่ง)"
)
_FAILURE_TEXT = re.compile(
    r"(?i)delivery has failed|could not be delivered|couldn't be delivered|could not deliver"
    r"|wasn't delivered|was not delivered|undeliverable|remote server returned|cannot be reached"
    r"|permanent (?:fatal )?errors?|delivery to the following recipient|address(?:es)? failed"
    r"|user unknown|mailbox unavailable|recipient address rejected|not yet been delivered"
    r"|has been delayed|delivery (?:is )?delayed"
    r"|ไม่สามารถส่ง|ส่งไม่สำเร็จ|ไม่สามารถจัดส่ง"
)
_AUTO_REPLY_SUBJECT = re.compile(
    r"(?i)\s*(?:automatic reply|auto[- ]?reply|autoreply|out of (?:the )?office"
    r"|ตอบกลับอัตโนมัติ|ไม่อยู่ที่สำนักงาน)"
)
_DELAY_TEXT = re.compile(
    r"(?i)delayed mail|delivery delayed|\(delay\)|has been delayed|not yet been delivered"
    r"|will (?:continue to |keep )?(?:re)?try|still (?:being )?retr|still trying"
)
_REMOTE_RETURNED = re.compile(r"(?i)remote server returned '([^'\n]{1,1000})'")
_SMTP_LINE = re.compile(r"^\s*[#(<]?\s*[245]\d\d[ \t-]")
# Bounded quantifiers keep the scan linear on long runs of address characters.
_ADDRESS = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?){1,8}"
)
_OWN_HEADERS = (
    "from", "to", "cc", "reply-to", "sender", "return-path", "delivered-to", "x-original-to",
)  # fmt: skip


def read_text_bounce(msg: Message, parts: Parts, envelope_to: Sequence[str]) -> Bounce | None:
    """A bounce written for people, or None when the message is not a bounce."""
    subject = decoded(raw_header(msg, "subject") or "")
    system_sender = _is_system_sender(raw_header(msg, "from") or "")
    failed_header = _failed_recipients_header(msg)
    text = human_text(parts)
    is_qmail = bool(_QMAIL.search(text[:4096]))
    if not (failed_header or is_qmail):
        if _is_auto_reply(msg, subject) and not system_sender:
            return None  # RFC 3834 auto-reply (out of office), even with a null return path
        if not ((system_sender or _BOUNCE_SUBJECT.match(subject)) and _FAILURE_TEXT.search(text)):
            return None
    delayed = bool(_DELAY_TEXT.search(subject) or _DELAY_TEXT.search(_before_copy(text)))
    recipients: tuple[RecipientStatus, ...] = ()
    if is_qmail:
        recipients = _qmail_recipients(text)
    if not recipients:
        recipients = text_recipients(msg, text, envelope_to, delayed=delayed)
    message_id = returned_message_id(parts) or quoted_message_id(text) or reply_message_id(msg)
    kind: BounceKind = "qmail" if is_qmail else "text"
    return Bounce(envelope_token(msg, envelope_to), message_id, recipients, kind)


def _is_system_sender(value: str) -> bool:
    for address in _ADDRESS.findall(value):
        if mail_system(address.rsplit("@", 1)[0]):
            return True
    return False


def _is_auto_reply(msg: Message, subject: str) -> bool:
    auto = (raw_header(msg, "auto-submitted") or "").strip().lower()
    if auto and not auto.startswith("no"):
        return True
    if (raw_header(msg, "precedence") or "").strip().lower() == "auto_reply":
        return True
    if any(raw_header(msg, name) is not None for name in ("x-autoreply", "x-autorespond")):
        return True
    return bool(_AUTO_REPLY_SUBJECT.match(subject))


def _failed_recipients_header(msg: Message) -> list[str]:
    out: list[str] = []
    for value in raw_headers(msg, "x-failed-recipients"):
        for address in _ADDRESS.findall(decoded(value)):
            if address.lower() not in out:
                out.append(address.lower())
            if len(out) >= MAX_RECIPIENTS:
                return out
    return out


def _before_copy(text: str) -> str:
    m = COPY_MARKER.search(text)
    return text[: m.start()] if m else text


def _qmail_recipients(text: str) -> tuple[RecipientStatus, ...]:
    """qmail's QSBMF: "<address>:" on a line of its own, then the reason, then a blank line."""
    found: list[tuple[str, list[str]]] = []
    for line in _before_copy(text).splitlines():
        stripped = line.strip()
        m = _QMAIL_RECIPIENT.fullmatch(stripped)
        if m:
            if len(found) >= MAX_RECIPIENTS:
                break
            found.append((m[1].lower(), []))
        elif found and stripped and sum(map(len, found[-1][1])) < MAX_FIELD_CHARS:
            found[-1][1].append(stripped)
    out = []
    for address, reason in found:
        diagnostic = " ".join(reason)[:MAX_FIELD_CHARS] or None
        status = status_in_text(diagnostic)
        # QSBMF lists only failures: "This is a permanent error; I've given up."
        action = read_action(None, status)
        out.append(
            RecipientStatus(address, None, action, status, diagnostic, is_permanent(action, status))
        )
    return tuple(out)


def text_recipients(
    msg: Message, text: str, envelope_to: Sequence[str], *, delayed: bool = False
) -> tuple[RecipientStatus, ...]:
    """Recipients of a bounce written for people (Exchange NDR, Exim, Sendmail): the addresses
    in ``X-Failed-Recipients`` (else any address the text names that is not ours or a mail
    system's), each with the first server reply after it."""
    listed = _failed_recipients_header(msg)
    ours = {a.lower() for v in envelope_to if isinstance(v, str) for a in _ADDRESS.findall(v)}
    for name in _OWN_HEADERS:
        for value in raw_headers(msg, name):
            ours.update(a.lower() for a in _ADDRESS.findall(value))

    def eligible(address: str) -> bool:
        if listed:
            return address in listed
        local = address.rsplit("@", 1)[0]
        return (
            address not in ours
            and verp_token(address) is None
            and not mail_system(local)
        )

    replies: dict[str, tuple[str | None, str]] = {}
    named: list[str] = []
    first_reply: tuple[str | None, str] | None = None
    current: str | None = None
    for line in _before_copy(text).splitlines():
        if "message-id" in line.lower() or "message id" in line.lower():
            continue  # a <local@domain> Message-ID is not a recipient
        for address in (a.lower() for a in _ADDRESS.findall(line[:2000])):
            if eligible(address):
                current = address
                if address not in named and len(named) < MAX_RECIPIENTS:
                    named.append(address)
                break
        reply = _server_reply(line)
        if reply is None:
            continue
        found = (status_in_text(reply), reply)
        if first_reply is None:
            first_reply = found
        if current is not None and current not in replies:
            replies[current] = found
    out = []
    for address in listed or named:
        status, diagnostic = replies.get(address) or first_reply or (None, None)
        action = read_action(None, status, default="delayed" if delayed else "failed")
        out.append(
            RecipientStatus(address, None, action, status, diagnostic, is_permanent(action, status))
        )
    return tuple(out)


def _server_reply(line: str) -> str | None:
    m = _REMOTE_RETURNED.search(line)
    if m:
        return " ".join(m[1].split())
    if ENHANCED.search(line) or _SMTP_LINE.match(line):
        return " ".join(line.split())[:MAX_FIELD_CHARS]
    return None
