"""What a bounce says: the report for one mail, each recipient's fate, RFC 3463 codes (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ENHANCED",
    "MAX_FIELD_CHARS",
    "MAX_INPUT_BYTES",
    "MAX_PARTS",
    "MAX_RECIPIENTS",
    "MAX_SCAN_CHARS",
    "Action",
    "Bounce",
    "BounceKind",
    "RecipientStatus",
    "is_permanent",
    "read_action",
    "status_in_text",
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
MAX_FIELD_CHARS = 2000  # one diagnostic or address value

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


# RFC 3463 §2: class "." subject "." detail, 1-3 digits each; not part of an IP address or version.
ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?!\d|\.\d)")
# RFC 5321 §4.2: a reply code, as in "550 User unknown" or "550-User unknown".
_REPLY_CODE = re.compile(r"(?<![\d.])([245])\d\d(?=[ \t-]|$)")


def status_in_text(text: str | None) -> str | None:
    """The RFC 3463 code in a server's words; a bare reply code such as 550 reads as 5.0.0."""
    if not text:
        return None
    m = ENHANCED.search(text)
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


def read_action(value: str | None, status: str | None, *, default: Action = "failed") -> Action:
    """The action an Action field names (loosely), else the one the status class implies."""
    word = re.split(r"[\s(;]", (value or "").strip().lower(), maxsplit=1)[0].rstrip(".")
    if word in _ACTION_WORDS:
        return _ACTION_WORDS[word]
    return _CLASS_ACTIONS.get((status or "")[:1], default)


def is_permanent(action: Action, status: str | None) -> bool:
    """The mail will not arrive: the action is ``failed`` or the status class is 5."""
    return action == "failed" or (status or "").startswith("5")
