"""RFC 3464 delivery status notifications, and RFC 6533's global ones (pure).

The report (RFC 6522 ``multipart/report; report-type=delivery-status``) holds per-message fields
(``Original-Envelope-Id``), then one group of per-recipient fields per recipient, blank-line
separated, with RFC 3463 enhanced status codes. Folded lines, unindented continuation lines, a
missing ``rfc822;`` type and missing blank lines between groups are tolerated. RFC 6533's
``message/global-delivery-status`` carries UTF-8 fields and ``utf-8`` addresses with
``\\x{HEX}`` escapes.
"""

from __future__ import annotations

import base64
import binascii
import quopri
import re
from collections.abc import Iterable, Sequence
from contextlib import suppress
from email import errors as email_errors
from email.message import Message

from gateway.core.parse import decode_words
from gateway.outbound.bounces.legacy import text_recipients
from gateway.outbound.bounces.mime import (
    Parts,
    envelope_token,
    human_text,
    msg_id,
    quoted_message_id,
    raw_header,
    reply_message_id,
    returned_message_id,
)
from gateway.outbound.bounces.status import (
    ENHANCED,
    MAX_FIELD_CHARS,
    MAX_RECIPIENTS,
    MAX_SCAN_CHARS,
    Bounce,
    BounceKind,
    RecipientStatus,
    is_permanent,
    read_action,
    status_in_text,
)
from gateway.outbound.bounces.verp import MAX_ADDRESS_CHARS, envid_token
from gateway.thai import decode_thai

__all__ = ["read_report"]

_RECIPIENT_FIELDS = frozenset({"final-recipient", "original-recipient"})


def read_report(msg: Message, parts: Parts, envelope_to: Sequence[str]) -> Bounce:
    """The bounce a report gives; its recipients from the human text when the report names none."""
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
    text = human_text(parts)
    if not recipients:
        # The report part is missing, truncated or unreadable: fall back to what a person would
        # read (X-Failed-Recipients, the human-readable part).
        recipients = text_recipients(msg, text, envelope_to)
    token = envelope_token(msg, envelope_to) or envid_token(per_message.get("original-envelope-id"))
    message_id = (
        returned_message_id(parts)
        # Gmail's per-message extension field naming the returned mail.
        or msg_id(per_message.get("x-original-message-id"))
        or quoted_message_id(text)
        or reply_message_id(msg)
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
        cte = (raw_header(part, "content-transfer-encoding") or "").strip().lower()
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
        elif current and sum(map(len, current[-1][1])) < MAX_FIELD_CHARS:
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
    status = _status(fields.get("status")) or status_in_text(diagnostic)
    action = read_action(fields.get("action"), status)
    return RecipientStatus(
        final_recipient=final,
        original_recipient=original,
        action=action,
        status=status,
        diagnostic=diagnostic,
        permanent=is_permanent(action, status),
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
    return address.lower()[:MAX_ADDRESS_CHARS] or None


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
    return text[:MAX_FIELD_CHARS] or None


def _status(value: str | None) -> str | None:
    if not value:
        return None
    m = ENHANCED.match(value.strip())
    return f"{m[1]}.{int(m[2])}.{int(m[3])}" if m else None
