"""The parts of a bounce, its raw headers, its human text, and the mail it names (pure).

MIME is read with ``email.policy.compat32``: every header stays its raw string, read here through
``raw_items()``. The walk never looks inside the returned letter, whose own text and PDF are not
the report's. The mail a bounce is about is named by a VERP token (in the envelope or the
headers) or by the Message-ID of the returned letter.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import Message

from gateway.core.parse import decode_words, html_to_text
from gateway.outbound.bounces.status import MAX_PARTS, MAX_SCAN_CHARS
from gateway.outbound.bounces.verp import verp_token
from gateway.thai import decode_thai

__all__ = [
    "COPY_MARKER",
    "Parts",
    "decoded",
    "envelope_token",
    "human_text",
    "msg_id",
    "part_text",
    "quoted_message_id",
    "raw_header",
    "raw_headers",
    "reply_message_id",
    "returned_message_id",
    "walk",
]

_REPORT_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status"})
# Where the human text ends and the copy of the returned letter begins (qmail, Exim, Exchange).
COPY_MARKER = re.compile(
    r"(?im)^.*(?:below this line is a copy of the message|enclosed are the original headers"
    r"|this is a copy of the message|original message headers|-{3,} ?original message ?-{3,}"
    r"|original message follows)"
)
_ADDRESS_LIKE = re.compile(r"[^\s<>,;:\"()\[\]@]{1,128}@[^\s<>,;:\"()\[\]@]{1,255}")


@dataclass
class Parts:
    """What the walk found, in document order, never looking inside a returned message."""

    reports: list[tuple[str, Message]] = field(default_factory=list)
    mdn: bool = False
    returned: list[Message] = field(default_factory=list)
    returned_headers: list[Message] = field(default_factory=list)
    plain: list[Message] = field(default_factory=list)
    html: list[Message] = field(default_factory=list)


def walk(msg: Message) -> Parts:
    """The parts of a bounce that are read, sorted by kind; at most ``MAX_PARTS`` visited."""
    found = Parts()
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


def envelope_token(msg: Message, envelope_to: Sequence[str]) -> str | None:
    """The VERP token of the address the bounce came to: the envelope's, else To, Delivered-To
    or X-Original-To."""
    candidates: list[str] = [v for v in envelope_to if isinstance(v, str)]
    for name in ("to", "delivered-to", "x-original-to"):
        for value in raw_headers(msg, name):
            candidates.extend(_ADDRESS_LIKE.findall(value))
    for candidate in candidates:
        token = verp_token(candidate)
        if token is not None:
            return token
    return None


_MSG_ID = re.compile(r"<[^<>\s]{1,250}>")
_QUOTED_MSG_ID = re.compile(r"(?i)\bmessage-id:\s{0,20}(<[^<>\s]{1,250}>)")


def msg_id(value: str | None) -> str | None:
    """A Message-ID with its angle brackets, from a value that may lack them."""
    if not value:
        return None
    m = _MSG_ID.search(value)
    if m:
        return m[0]
    bare = value.strip()
    return f"<{bare}>" if "@" in bare and not any(c.isspace() for c in bare) else None


def returned_message_id(parts: Parts) -> str | None:
    """The Message-ID of the returned letter, from its copy or its returned headers."""
    for returned in parts.returned:
        found = msg_id(raw_header(returned, "message-id"))
        if found:
            return found
    for part in parts.returned_headers:
        m = _QUOTED_MSG_ID.search(part_text(part)[:MAX_SCAN_CHARS])
        if m:
            return m[1]
    return None


def quoted_message_id(text: str) -> str | None:
    """The Message-ID of a copy quoted after the human text (qmail, Exim, Exchange's
    "Original message headers")."""
    m = COPY_MARKER.search(text)
    if m is None:
        return None
    found = _QUOTED_MSG_ID.search(text, m.end())
    return found[1] if found else None


def reply_message_id(msg: Message) -> str | None:
    """The Message-ID the bounce answers: In-Reply-To, else the last of References."""
    found = msg_id(raw_header(msg, "in-reply-to"))
    if found:
        return found
    references = _MSG_ID.findall(raw_header(msg, "references") or "")
    return references[-1] if references else None


def human_text(parts: Parts) -> str:
    """The text/plain parts outside the returned letter, else text made from the HTML ones."""
    chunks: list[str] = []
    budget = MAX_SCAN_CHARS
    for part in parts.plain or parts.html:
        if budget <= 0:
            break
        text = part_text(part)[:budget]
        if part.get_content_type() == "text/html":
            text = html_to_text(text)
        chunks.append(text)
        budget -= len(text)
    return "\n".join(chunks)


def part_text(part: Message) -> str:
    """A leaf's text in its declared charset (UTF-8 when none); the first bytes only."""
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return ""
    return decode_thai(data[: MAX_SCAN_CHARS * 4], part.get_content_charset() or "utf-8")


def raw_headers(msg: Message, name: str) -> list[str]:
    """Every raw value of a header, unfolded; never the policy's parsed objects."""
    return [
        " ".join(value.split())
        for key, value in msg.raw_items()
        if isinstance(key, str) and key.lower() == name and isinstance(value, str)
    ]


def raw_header(msg: Message, name: str) -> str | None:
    values = raw_headers(msg, name)
    return values[0] if values else None


def decoded(value: str) -> str:
    """A raw header value as text: undeclared 8-bit bytes (UTF-8, else TIS-620), RFC 2047 words."""
    data = value.encode("utf-8", "surrogateescape")
    return decode_words(decode_thai(data, "utf-8"))
