"""Forwarded letters: the message inside a ``message/rfc822`` part, and its bytes (pure).

A letter forwarded as an attachment arrives as a ``message/rfc822`` part, at times base64- or
quoted-printable-encoded although RFC 2046 forbids it. The message inside is opened here; one
nested too deep is kept as an ``.eml`` file, in its bytes as parsed.
"""

from __future__ import annotations

import binascii
from email import errors
from email import policy as email_policy
from email.message import Message
from email.policy import Policy

from gateway.core.parse.bounds import parse_bounded
from gateway.core.parse.headers import Headers, decode_b

__all__ = ["forwarded_message", "serialize"]


def forwarded_message(
    part: Message, headers: Headers, policy: Policy, limit: int
) -> tuple[Message | None, bool]:
    """The message a ``message/rfc822`` part carries (None when it is empty), and whether
    levels deeper than `limit` were cut out of an encoded one before it was parsed."""
    payload = part.get_payload()
    cte = (headers.raw("content-transfer-encoding") or "").strip().lower()
    if cte in ("base64", "quoted-printable"):
        # RFC 2046 §5.2.1 forbids encoding message/rfc822, but it is sent: the parser then
        # reads the encoded text as a message; undo that and parse the decoded bytes.
        encoded = (
            serialize(payload[0])
            if isinstance(payload, list) and payload and isinstance(payload[0], Message)
            else (
                payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else b""
            )
        )
        decoded = (
            decode_b(encoded.decode("ascii", "replace"))
            if cte == "base64"
            else binascii.a2b_qp(encoded)
        )
        headers.defects.append(f"message/rfc822 part with Content-Transfer-Encoding {cte}")
        return parse_bounded(decoded, policy, limit)
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0], False
    if isinstance(payload, str) and payload.strip():
        raw = part.get_payload(decode=True)
        return parse_bounded(raw if isinstance(raw, bytes) else b"", policy, limit)
    return None, False


def serialize(msg: Message) -> bytes:
    """The bytes of a parsed (sub)message, for keeping a forwarded message as a file.

    The generator refuses some headers it has just parsed (HeaderParseError on an "embedded
    header"); then the raw headers and body are joined by hand.
    """
    try:
        return msg.as_bytes(policy=email_policy.compat32)
    except (errors.MessageError, ValueError, TypeError, LookupError, UnicodeError):
        head = "".join(f"{k}: {v}\r\n" for k, v in msg.raw_items())
        payload = msg.get_payload()
        body = payload if isinstance(payload, str) else ""
        return (head + "\r\n" + body).encode("utf-8", "surrogateescape")
