"""Bounce: raw bytes of a delivery report → :class:`Bounce`, or None (pure; no I/O, no clock).

Place in the flow: each outgoing letter leaves the outbox as one e-mail per recipient, with a VERP
return path ``<local>+b.<token>@<domain>`` built by :func:`verp_address` from the central address
and the outbox row's token, the same token as the RFC 3461 ENVID where the relay offers DSN, and a
Message-ID unique to that recipient. Reports come back later to the central mailbox; intake hands
each message to :func:`read_bounce` before treating it as a letter, and a :class:`Bounce` names the
outbox row (``token``, else ``original_message_id``) and what happened to each recipient, so the
row can be marked failed (or delayed) per recipient.

The modules: ``read`` (which kind of report a message is), ``dsn`` (RFC 3464 and RFC 6533
reports), ``legacy`` (qmail, Exchange NDRs, X-Failed-Recipients), ``mime`` (the parts, raw
headers and human text of a bounce, and the mail it names), ``status`` (the values and RFC 3463
codes), ``verp`` (the return path).

MIME is read with ``email.policy.compat32``, not ``policy.default``: compat32 keeps every header
as its raw string (read here through ``raw_items()``), whereas ``policy.default`` parses headers
lazily into objects that raise on some malformed values (a bounce quotes whatever broken headers
it was given) and replace undeclared 8-bit bytes, which RFC 6533 reports carry as raw UTF-8, with
U+FFFD. Both policies split ``message/delivery-status`` into header blocks the same way.

Hostile input is bounded: only the first ``MAX_INPUT_BYTES`` are parsed, at most ``MAX_PARTS``
MIME parts are visited, at most ``MAX_SCAN_CHARS`` of report and body text are scanned, and at most
``MAX_RECIPIENTS`` recipient groups are kept. ``read_bounce`` never raises.
"""

from gateway.outbound.bounces.read import read_bounce
from gateway.outbound.bounces.status import (
    MAX_INPUT_BYTES,
    MAX_PARTS,
    MAX_RECIPIENTS,
    MAX_SCAN_CHARS,
    Action,
    Bounce,
    BounceKind,
    RecipientStatus,
)
from gateway.outbound.bounces.verp import verp_address, verp_token

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
