"""Bounce: raw bytes of a delivery report → :class:`Bounce`, or None (pure; no I/O, no clock).

Place in the flow: each outgoing letter leaves the outbox as one e-mail per recipient, with a VERP
return path ``<local>+b.<token>@<domain>`` built by :func:`verp_address` from the central address
and the outbox row's token, the same token as the RFC 3461 ENVID where the relay offers DSN, and a
Message-ID unique to that recipient. Reports come back later to the central mailbox; intake hands
each message to :func:`read_bounce` before treating it as a letter, and a :class:`Bounce` names the
outbox row (``token``, else ``original_message_id``) and what happened to each recipient, so the
row can be marked failed (or delayed) per recipient.

What is read, in this order:

* RFC 3464 delivery status notifications in an RFC 6522 ``multipart/report;
  report-type=delivery-status``: per-message fields (``Original-Envelope-Id``), then one group of
  per-recipient fields per recipient, blank-line separated; RFC 3463 enhanced status codes.
  Folded lines, unindented continuation lines, a missing ``rfc822;`` type and missing blank lines
  between groups are tolerated.
* RFC 6533 ``message/global-delivery-status`` (UTF-8 fields, ``utf-8`` address type with
  ``\\x{HEX}`` escapes) and ``message/global-headers``.
* Bounces without a report: qmail's "Hi. This is the qmail-send program" text, Exchange and
  Office 365 NDRs in text or HTML ("Remote Server returned '550 5.1.1 …'"), and MAILER-DAEMON /
  "Mail Delivery Subsystem" bounces that list their recipients in ``X-Failed-Recipients``.

Not bounces (None): RFC 8098 read receipts (``report-type=disposition-notification``), other
reports (RFC 5965 feedback), RFC 3834 auto-replies such as out-of-office notices
(``Auto-Submitted: auto-replied``, "ตอบกลับอัตโนมัติ"), and ordinary mail.

MIME is read with ``email.policy.compat32``, not ``policy.default``: compat32 keeps every header
as its raw string (read here through ``raw_items()``), whereas ``policy.default`` parses headers
lazily into objects that raise on some malformed values (a bounce quotes whatever broken headers
it was given) and replace undeclared 8-bit bytes, which RFC 6533 reports carry as raw UTF-8, with
U+FFFD. Both policies split ``message/delivery-status`` into header blocks the same way.

Hostile input is bounded: only the first ``MAX_INPUT_BYTES`` are parsed, at most ``MAX_PARTS``
MIME parts are visited, at most ``MAX_SCAN_CHARS`` of report and body text are scanned, and at most
``MAX_RECIPIENTS`` recipient groups are kept. ``read_bounce`` never raises.
"""

from __future__ import annotations

import base64
import binascii
import quopri
import re
from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from email import errors as email_errors
from email import policy as email_policy
from email.message import Message
from email.parser import BytesParser
from typing import Literal

from gateway.core.parse import decode_words, html_to_text
from gateway.thai import decode_thai

__all__ = [
    "MAX_INPUT_BYTES",
    "MAX_PARTS",
    "MAX_RECIPIENTS",
    "MAX_SCAN_CHARS",
    "Action",
    "Bounce",
    "BounceKind",
    "RecipientStatus",
    "read_bounce",
    "verp_address",
    "verp_token",
]

MAX_INPUT_BYTES = 2 * 1024 * 1024
"""Bytes of a message parsed. RFC 6522 puts the human-readable part and the report before the
returned letter, so a large returned PDF cut short loses nothing this module reads."""
MAX_PARTS = 256
"""MIME parts visited."""
MAX_SCAN_CHARS = 256 * 1024
"""Characters of report text and of human-readable text scanned, each."""
MAX_RECIPIENTS = 1000
"""Recipient groups kept from one report."""
_MAX_FIELD_CHARS = 2000  # one diagnostic or address value

Action = Literal["failed", "delayed", "delivered", "relayed", "expanded"]
"""RFC 3464 §2.3.3 action-value."""
BounceKind = Literal["rfc3464", "rfc6533", "qmail", "text"]
"""What the recipients were read from: a delivery-status part, a global one, qmail's text, or the
text of another non-RFC bounce (Exchange NDR, X-Failed-Recipients)."""


@dataclass(frozen=True, slots=True)
class RecipientStatus:
    """One recipient's fate. Addresses are lower-cased, without the ``rfc822;`` type or brackets.

    ``status`` is the RFC 3463 code (``"5.1.1"``) or None when none was given or could be read;
    where a report gave no enhanced code, a bare RFC 5321 reply code ``550`` is read as
    ``"5.0.0"``. ``diagnostic`` is the Diagnostic-Code text without its type (``smtp;``), unfolded
    and decoded, or the server's words in a non-RFC bounce. ``permanent`` is true when the action is
    ``failed`` or the status class is 5.
    """

    final_recipient: str
    original_recipient: str | None
    action: Action
    status: str | None
    diagnostic: str | None
    permanent: bool


@dataclass(frozen=True, slots=True)
class Bounce:
    """A delivery report for one outgoing mail.

    ``token`` is the outbox token from a VERP address (envelope recipient, ``To``,
    ``Delivered-To``, ``X-Original-To``) or from the report's ``Original-Envelope-Id``.
    ``original_message_id`` (with angle brackets) is the Message-ID of the returned mail, from
    its ``message/rfc822`` or ``text/rfc822-headers`` part, a copy quoted in the text, or the
    report's ``In-Reply-To`` / ``References``. ``recipients`` may be empty when the report names
    none readably; the token still identifies the mail, which had one recipient.
    """

    token: str | None
    original_message_id: str | None
    recipients: tuple[RecipientStatus, ...]
    kind: BounceKind

    @property
    def permanent_failures(self) -> tuple[RecipientStatus, ...]:
        """Recipients that will not get the mail: mark these failed."""
        return tuple(r for r in self.recipients if r.permanent)


# ------------------------------------------------------------------------------------------
# VERP
# ------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"[a-z0-9]{12,40}")
_ADDR_CHARS = r"[^\s@<>()\[\]\\,;:\"]"
_VERP = re.compile(
    rf"(?P<local>{_ADDR_CHARS}+)\+b\.(?P<token>[a-z0-9]{{12,40}})@(?P<domain>{_ADDR_CHARS}+)"
)
_MAX_ADDRESS_CHARS = 320  # RFC 5321 §4.5.3.1: 64 for the local part, 255 for the domain


def verp_address(central: str, token: str) -> str:
    """The return path for one outgoing mail: ``saraban+b.<token>@agency.test``.

    Raises ValueError when ``token`` is not ``[a-z0-9]{12,40}`` or ``central`` is not an address
    that :func:`verp_token` could read back (both are programming errors, not mail input).
    """
    if not _TOKEN.fullmatch(token):
        raise ValueError(f"VERP token must be 12-40 of [a-z0-9], got {token!r}")
    local, at, domain = central.strip().rpartition("@")
    address = f"{local}+b.{token}@{domain}"
    if not at or verp_token(address) != token:
        raise ValueError(f"central address cannot carry a VERP token: {central!r}")
    return address


def verp_token(address: str) -> str | None:
    """The token of a VERP return path, lower-cased; None for anything else. Never raises."""
    if not isinstance(address, str) or len(address) > _MAX_ADDRESS_CHARS + 2:
        return None
    value = address.strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1].strip()
    m = _VERP.fullmatch(value.lower())
    return m["token"] if m else None


# ------------------------------------------------------------------------------------------
# Entry point
# ------------------------------------------------------------------------------------------


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


@dataclass
class _Parts:
    """What the walk found, in document order, never looking inside a returned message."""

    reports: list[tuple[str, Message]] = field(default_factory=list)
    mdn: bool = False
    returned: list[Message] = field(default_factory=list)
    returned_headers: list[Message] = field(default_factory=list)
    plain: list[Message] = field(default_factory=list)
    html: list[Message] = field(default_factory=list)


_REPORT_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status"})
_DSN_REPORT_TYPES = frozenset({"delivery-status", "global-delivery-status"})


def _read(data: bytes, envelope_to: Sequence[str]) -> Bounce | None:
    msg = BytesParser(policy=email_policy.compat32).parsebytes(data)
    parts = _walk(msg)
    top_type = msg.get_content_type()
    report_type = _param(msg, "report-type") if top_type == "multipart/report" else None

    if parts.reports or report_type in _DSN_REPORT_TYPES:
        return _read_report(msg, parts, envelope_to)
    if parts.mdn or report_type is not None:
        return None  # RFC 8098 read receipt, or a report of another kind (RFC 5965 feedback)
    return _read_text_bounce(msg, parts, envelope_to)


def _walk(msg: Message) -> _Parts:
    found = _Parts()
    stack = [msg]
    visited = 0
    while stack and visited < MAX_PARTS:
        part = stack.pop()
        visited += 1
        ctype = part.get_content_type()
        # Only a container's list is read here: get_payload() on a leaf decodes 8-bit bytes with
        # the declared charset, which raises on a label such as "utf\0-8".
        payload = part.get_payload() if part.is_multipart() else None
        if ctype in _REPORT_TYPES:
            found.reports.append((ctype, part))
        elif ctype == "message/disposition-notification":
            found.mdn = True
        elif ctype == "text/rfc822-headers":
            found.returned_headers.append(part)
        elif ctype.startswith("message/"):
            # message/rfc822, RFC 6532 message/global, RFC 6533 message/global-headers: the
            # returned letter. Its own parts (the letter's text, its PDF) are not the report's.
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                found.returned.append(payload[0])
        elif isinstance(payload, list):
            stack.extend(reversed([p for p in payload if isinstance(p, Message)]))
        elif ctype == "text/plain":
            found.plain.append(part)
        elif ctype == "text/html":
            found.html.append(part)
    return found


# ------------------------------------------------------------------------------------------
# RFC 3464 / RFC 6533 reports
# ------------------------------------------------------------------------------------------

_RECIPIENT_FIELDS = frozenset({"final-recipient", "original-recipient"})


def _read_report(msg: Message, parts: _Parts, envelope_to: Sequence[str]) -> Bounce:
    groups: list[list[tuple[str, str]]] = []
    budget = MAX_SCAN_CHARS
    for _, part in parts.reports:
        text = _status_text(part)[:budget]
        budget -= len(text)
        groups.extend(_field_groups(text))
        if budget <= 0:
            break
    per_message = _first_values(groups, ("original-envelope-id", "x-original-message-id"))
    recipients = tuple(
        r for r in (_recipient(fields) for fields in _recipient_fields(groups)) if r is not None
    )
    kind: BounceKind = (
        "rfc6533"
        if any(ctype == "message/global-delivery-status" for ctype, _ in parts.reports)
        else "rfc3464"
    )
    text = _human_text(parts)
    if not recipients:
        # The report part is missing, truncated or unreadable: fall back to what a person would
        # read (X-Failed-Recipients, the human-readable part).
        recipients = _text_recipients(msg, text, envelope_to)
    token = _token(msg, envelope_to) or _envid_token(per_message.get("original-envelope-id"))
    message_id = (
        _returned_message_id(parts)
        # Gmail's per-message extension field naming the returned mail.
        or _msg_id(per_message.get("x-original-message-id"))
        or _quoted_message_id(text)
        or _reply_message_id(msg)
    )
    return Bounce(token, message_id, recipients, kind)


def _status_text(part: Message) -> str:
    """The text of a delivery-status part as it was sent.

    The stdlib parser has already split it: ``message/delivery-status`` into one header block per
    group, any other ``message/*`` (the global type included) into one message whose headers are
    the per-message fields and whose body is the rest. Joining the raw blocks back gives the text.
    """
    payload = part.get_payload() if part.is_multipart() else None
    if isinstance(payload, list):
        blocks = [_block_source(b) for b in payload[: MAX_RECIPIENTS + 2] if isinstance(b, Message)]
        data = b"\n\n".join(blocks)
        # RFC 6533's registration lets the global type be base64 or quoted-printable on 7-bit
        # paths; the parser split the encoded text, so decode after joining.
        cte = (_raw_header(part, "content-transfer-encoding") or "").strip().lower()
        if cte == "base64":
            packed = b"".join(data.split())
            with suppress(binascii.Error, ValueError):
                data = base64.b64decode(packed + b"=" * (-len(packed) % 4))
        elif cte == "quoted-printable":
            data = quopri.decodestring(data)
    else:
        decoded = part.get_payload(decode=True)
        data = decoded if isinstance(decoded, bytes) else b""
    return decode_thai(data[: MAX_SCAN_CHARS * 4], part.get_content_charset() or "utf-8")


def _block_source(block: Message) -> bytes:
    """One block's bytes as received (the parser keeps 8-bit bytes as surrogate escapes)."""
    lines = [
        f"{name}: {value}".encode("utf-8", "surrogateescape")
        for name, value in block.raw_items()
        if isinstance(value, str)
    ]
    body = block.get_payload(decode=True)  # bytes, never the charset-replaced str
    if isinstance(body, bytes) and body.strip():
        # A block ended by a line that is not a field (an unindented continuation of a long
        # Diagnostic-Code) continues on that line; one ended by a blank line is a new group.
        unended = any(
            isinstance(d, email_errors.MissingHeaderBodySeparatorDefect) for d in block.defects
        )
        lines.append((b"" if unended else b"\n") + body)
    return b"\n".join(lines)


_FIELD = re.compile(r"([A-Za-z][A-Za-z0-9-]{0,76})[ \t]*:[ \t]*(.*)")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _field_groups(text: str) -> list[list[tuple[str, str]]]:
    """RFC 3464 §2.1: groups of ``Name: value`` fields, separated by blank lines, folded as RFC
    5322 headers (§2.2). A line that is neither a field nor indented continues the last field."""
    groups: list[list[tuple[str, str]]] = []
    current: list[tuple[str, list[str]]] = []

    def close() -> None:
        if current:
            groups.append([(name, " ".join(" ".join(bits).split())) for name, bits in current])
            current.clear()

    for line in _LINE_BREAK.split(text):
        if not line.strip():
            close()
            if len(groups) > MAX_RECIPIENTS + 1:
                break
            continue
        m = None if line[0] in " \t" else _FIELD.fullmatch(line.strip())
        if m:
            current.append((m[1].lower(), [m[2]]))
        elif current and sum(map(len, current[-1][1])) < _MAX_FIELD_CHARS:
            current[-1][1].append(line.strip())
    close()
    return groups


def _first_values(groups: list[list[tuple[str, str]]], names: Iterable[str]) -> dict[str, str]:
    wanted = frozenset(names)
    found: dict[str, str] = {}
    for group in groups:
        for name, value in group:
            if name in wanted and name not in found:
                found[name] = value
    return found


def _recipient_fields(groups: list[list[tuple[str, str]]]) -> list[dict[str, str]]:
    """Per-recipient field groups (RFC 3464 §2.3), also when a server left out the blank line
    between two recipients: a repeated Final-Recipient or Original-Recipient starts a new one."""
    out: list[dict[str, str]] = []
    for group in groups:
        if not any(name in _RECIPIENT_FIELDS for name, _ in group):
            continue  # per-message fields (§2.2)
        current: dict[str, str] = {}
        for name, value in group:
            if name in _RECIPIENT_FIELDS and _starts_recipient(current, name):
                out.append(current)
                current = {}
            current.setdefault(name, value)
        out.append(current)
        if len(out) >= MAX_RECIPIENTS:
            break
    return out[:MAX_RECIPIENTS]


def _starts_recipient(current: dict[str, str], name: str) -> bool:
    if not current:
        return False
    if name in current:
        return True
    # Original-Recipient precedes Final-Recipient (§2.3): after a complete group it starts the next.
    return (
        name == "original-recipient"
        and "final-recipient" in current
        and ("action" in current or "status" in current)
    )


def _recipient(fields: dict[str, str]) -> RecipientStatus | None:
    original = _address(fields.get("original-recipient"))
    final = _address(fields.get("final-recipient")) or original
    if final is None:
        return None
    diagnostic = _diagnostic(fields.get("diagnostic-code"))
    status = _status(fields.get("status")) or _status_in_text(diagnostic)
    action = _action(fields.get("action"), status)
    return RecipientStatus(
        final_recipient=final,
        original_recipient=original,
        action=action,
        status=status,
        diagnostic=diagnostic,
        permanent=_permanent(action, status),
    )


# RFC 3464 §2.3.2: "Final-Recipient: rfc822; x@y"; RFC 6533 §3: "utf-8; ...".
_TYPED = re.compile(r"[ \t]*([A-Za-z][A-Za-z0-9.+-]{0,30})[ \t]*;[ \t]*(.*)", re.DOTALL)
# RFC 6533 §3: utf-8-addr-xtext / utf-8-addr-unitext escape code points as \x{HEX}.
_UTF8_ESCAPE = re.compile(r"\\x\{([0-9A-Fa-f]{1,6})\}")


def _address(value: str | None) -> str | None:
    if not value:
        return None
    m = _TYPED.fullmatch(value)
    kind, address = (m[1].lower(), m[2]) if m else ("rfc822", value)
    if kind.startswith("utf-8"):
        address = _unescape_utf8(address)
    address = address.strip()
    if address.startswith("<") and address.endswith(">"):
        address = address[1:-1].strip()
    address = address.split()[0] if address else ""  # drop a trailing "(comment)"
    return address.lower()[:_MAX_ADDRESS_CHARS] or None


def _unescape_utf8(value: str) -> str:
    def char(m: re.Match[str]) -> str:
        point = int(m[1], 16)
        if point > 0x10FFFF or 0xD800 <= point <= 0xDFFF:
            return m[0]
        return chr(point)

    return _UTF8_ESCAPE.sub(char, value)


def _diagnostic(value: str | None) -> str | None:
    if not value:
        return None
    m = _TYPED.fullmatch(value)  # RFC 3464 §2.3.6: diagnostic-type ";" *text
    kind, text = (m[1].lower(), m[2]) if m else ("", value)
    if kind.startswith("utf-8"):
        text = _unescape_utf8(text)
    text = " ".join(decode_words(text).split())
    return text[:_MAX_FIELD_CHARS] or None


# RFC 3463 §2: class "." subject "." detail, 1-3 digits each; not part of an IP address or version.
_ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?!\d|\.\d)")
# RFC 5321 §4.2: a reply code, as in "550 User unknown" or "550-User unknown".
_REPLY_CODE = re.compile(r"(?<![\d.])([245])\d\d(?=[ \t-]|$)")


def _status(value: str | None) -> str | None:
    if not value:
        return None
    m = _ENHANCED.match(value.strip())
    return f"{m[1]}.{int(m[2])}.{int(m[3])}" if m else None


def _status_in_text(text: str | None) -> str | None:
    if not text:
        return None
    m = _ENHANCED.search(text)
    if m:
        return f"{m[1]}.{int(m[2])}.{int(m[3])}"
    m = _REPLY_CODE.search(text)
    # RFC 3463 §3.1: X.0.0, "other undefined status", when only the class is known.
    return f"{m[1]}.0.0" if m else None


_ACTION_WORDS: dict[str, Action] = {
    "failed": "failed",
    "failure": "failed",
    "fail": "failed",
    "delayed": "delayed",
    "delay": "delayed",
    "deferred": "delayed",
    "delivered": "delivered",
    "relayed": "relayed",
    "expanded": "expanded",
}
_CLASS_ACTIONS: dict[str, Action] = {"5": "failed", "4": "delayed", "2": "delivered"}


def _action(value: str | None, status: str | None, *, default: Action = "failed") -> Action:
    word = re.split(r"[\s(;]", (value or "").strip().lower(), maxsplit=1)[0].rstrip(".")
    if word in _ACTION_WORDS:
        return _ACTION_WORDS[word]
    return _CLASS_ACTIONS.get((status or "")[:1], default)


def _permanent(action: Action, status: str | None) -> bool:
    return action == "failed" or (status or "").startswith("5")


# ------------------------------------------------------------------------------------------
# Bounces without a report: qmail, Exchange / Office 365 text, X-Failed-Recipients
# ------------------------------------------------------------------------------------------

_QMAIL = re.compile(r"(?i)\bthis is the qmail-send program\b")
_QMAIL_RECIPIENT = re.compile(r"<([^<>\s@]{1,64}@[^<>\s@]{1,255})>:")
_SYSTEM_LOCAL = re.compile(
    r"(?i)(?:mailer-?daemon|mail-daemon|postmaster|microsoftexchange[0-9a-f]{32})"
)
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
# Where the human text ends and the copy of the returned letter begins (qmail, Exim, Exchange).
_COPY_MARKER = re.compile(
    r"(?im)^.*(?:below this line is a copy of the message|enclosed are the original headers"
    r"|this is a copy of the message|original message headers|-{3,} ?original message ?-{3,}"
    r"|original message follows)"
)
_REMOTE_RETURNED = re.compile(r"(?i)remote server returned '([^'\n]{1,1000})'")
_SMTP_LINE = re.compile(r"^\s*[#(<]?\s*[245]\d\d[ \t-]")
# Bounded quantifiers keep the scan linear on long runs of address characters.
_ADDRESS = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?){1,8}"
)
_ADDRESS_LIKE = re.compile(r"[^\s<>,;:\"()\[\]@]{1,128}@[^\s<>,;:\"()\[\]@]{1,255}")
_OWN_HEADERS = (
    "from", "to", "cc", "reply-to", "sender", "return-path", "delivered-to", "x-original-to",
)  # fmt: skip


def _read_text_bounce(msg: Message, parts: _Parts, envelope_to: Sequence[str]) -> Bounce | None:
    subject = _decoded(_raw_header(msg, "subject") or "")
    system_sender = _is_system_sender(_raw_header(msg, "from") or "")
    failed_header = _failed_recipients_header(msg)
    text = _human_text(parts)
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
        recipients = _text_recipients(msg, text, envelope_to, delayed=delayed)
    message_id = _returned_message_id(parts) or _quoted_message_id(text) or _reply_message_id(msg)
    kind: BounceKind = "qmail" if is_qmail else "text"
    return Bounce(_token(msg, envelope_to), message_id, recipients, kind)


def _is_system_sender(value: str) -> bool:
    for address in _ADDRESS.findall(value):
        if _SYSTEM_LOCAL.fullmatch(address.rsplit("@", 1)[0]):
            return True
    return False


def _is_auto_reply(msg: Message, subject: str) -> bool:
    auto = (_raw_header(msg, "auto-submitted") or "").strip().lower()
    if auto and not auto.startswith("no"):
        return True
    if (_raw_header(msg, "precedence") or "").strip().lower() == "auto_reply":
        return True
    if any(_raw_header(msg, name) is not None for name in ("x-autoreply", "x-autorespond")):
        return True
    return bool(_AUTO_REPLY_SUBJECT.match(subject))


def _failed_recipients_header(msg: Message) -> list[str]:
    out: list[str] = []
    for value in _raw_headers(msg, "x-failed-recipients"):
        for address in _ADDRESS.findall(_decoded(value)):
            if address.lower() not in out:
                out.append(address.lower())
            if len(out) >= MAX_RECIPIENTS:
                return out
    return out


def _before_copy(text: str) -> str:
    m = _COPY_MARKER.search(text)
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
        elif found and stripped and sum(map(len, found[-1][1])) < _MAX_FIELD_CHARS:
            found[-1][1].append(stripped)
    out = []
    for address, reason in found:
        diagnostic = " ".join(reason)[:_MAX_FIELD_CHARS] or None
        status = _status_in_text(diagnostic)
        # QSBMF lists only failures: "This is a permanent error; I've given up."
        action = _action(None, status)
        out.append(
            RecipientStatus(address, None, action, status, diagnostic, _permanent(action, status))
        )
    return tuple(out)


def _text_recipients(
    msg: Message, text: str, envelope_to: Sequence[str], *, delayed: bool = False
) -> tuple[RecipientStatus, ...]:
    """Recipients of a bounce written for people (Exchange NDR, Exim, Sendmail): the addresses
    in ``X-Failed-Recipients`` (else any address the text names that is not ours or a mail
    system's), each with the first server reply after it."""
    listed = _failed_recipients_header(msg)
    ours = {a.lower() for v in envelope_to if isinstance(v, str) for a in _ADDRESS.findall(v)}
    for name in _OWN_HEADERS:
        for value in _raw_headers(msg, name):
            ours.update(a.lower() for a in _ADDRESS.findall(value))

    def eligible(address: str) -> bool:
        if listed:
            return address in listed
        local = address.rsplit("@", 1)[0]
        return (
            address not in ours
            and verp_token(address) is None
            and not _SYSTEM_LOCAL.fullmatch(local)
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
        found = (_status_in_text(reply), reply)
        if first_reply is None:
            first_reply = found
        if current is not None and current not in replies:
            replies[current] = found
    out = []
    for address in listed or named:
        status, diagnostic = replies.get(address) or first_reply or (None, None)
        action = _action(None, status, default="delayed" if delayed else "failed")
        out.append(
            RecipientStatus(address, None, action, status, diagnostic, _permanent(action, status))
        )
    return tuple(out)


def _server_reply(line: str) -> str | None:
    m = _REMOTE_RETURNED.search(line)
    if m:
        return " ".join(m[1].split())
    if _ENHANCED.search(line) or _SMTP_LINE.match(line):
        return " ".join(line.split())[:_MAX_FIELD_CHARS]
    return None


# ------------------------------------------------------------------------------------------
# Token, Message-ID, text
# ------------------------------------------------------------------------------------------


def _token(msg: Message, envelope_to: Sequence[str]) -> str | None:
    candidates: list[str] = [v for v in envelope_to if isinstance(v, str)]
    for name in ("to", "delivered-to", "x-original-to"):
        for value in _raw_headers(msg, name):
            candidates.extend(_ADDRESS_LIKE.findall(value))
    for candidate in candidates:
        token = verp_token(candidate)
        if token is not None:
            return token
    return None


def _envid_token(value: str | None) -> str | None:
    # RFC 3461 §4.4: the ENVID comes back as sent; ours is the bare token (no xtext escapes).
    if not value:
        return None
    token = value.strip().strip("<>").strip().lower()
    return token if _TOKEN.fullmatch(token) else None


_MSG_ID = re.compile(r"<[^<>\s]{1,250}>")
_QUOTED_MSG_ID = re.compile(r"(?i)\bmessage-id:\s{0,20}(<[^<>\s]{1,250}>)")


def _msg_id(value: str | None) -> str | None:
    if not value:
        return None
    m = _MSG_ID.search(value)
    if m:
        return m[0]
    bare = value.strip()
    return f"<{bare}>" if "@" in bare and not any(c.isspace() for c in bare) else None


def _returned_message_id(parts: _Parts) -> str | None:
    for returned in parts.returned:
        found = _msg_id(_raw_header(returned, "message-id"))
        if found:
            return found
    for part in parts.returned_headers:
        m = _QUOTED_MSG_ID.search(_part_text(part)[:MAX_SCAN_CHARS])
        if m:
            return m[1]
    return None


def _quoted_message_id(text: str) -> str | None:
    """The Message-ID of a copy quoted after the human text (qmail, Exim, Exchange's
    "Original message headers")."""
    m = _COPY_MARKER.search(text)
    if m is None:
        return None
    found = _QUOTED_MSG_ID.search(text, m.end())
    return found[1] if found else None


def _reply_message_id(msg: Message) -> str | None:
    found = _msg_id(_raw_header(msg, "in-reply-to"))
    if found:
        return found
    references = _MSG_ID.findall(_raw_header(msg, "references") or "")
    return references[-1] if references else None


def _human_text(parts: _Parts) -> str:
    """The text/plain parts outside the returned letter, else text made from the HTML ones."""
    chunks: list[str] = []
    budget = MAX_SCAN_CHARS
    for part in parts.plain or parts.html:
        if budget <= 0:
            break
        text = _part_text(part)[:budget]
        if part.get_content_type() == "text/html":
            text = html_to_text(text)
        chunks.append(text)
        budget -= len(text)
    return "\n".join(chunks)


def _part_text(part: Message) -> str:
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return ""
    return decode_thai(data[: MAX_SCAN_CHARS * 4], part.get_content_charset() or "utf-8")


def _raw_headers(msg: Message, name: str) -> list[str]:
    """Every raw value of a header, unfolded; never the policy's parsed objects."""
    return [
        " ".join(value.split())
        for key, value in msg.raw_items()
        if isinstance(key, str) and key.lower() == name and isinstance(value, str)
    ]


def _raw_header(msg: Message, name: str) -> str | None:
    values = _raw_headers(msg, name)
    return values[0] if values else None


def _decoded(value: str) -> str:
    """A raw header value as text: undeclared 8-bit bytes (UTF-8, else TIS-620), RFC 2047 words."""
    data = value.encode("utf-8", "surrogateescape")
    return decode_words(decode_thai(data, "utf-8"))


def _param(msg: Message, name: str) -> str | None:
    value = msg.get_param(name)
    if isinstance(value, tuple):  # RFC 2231 (charset, language, value)
        value = value[2]
    return value.strip().lower() if isinstance(value, str) else None
