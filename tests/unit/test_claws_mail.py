"""A clerk's correction as a real Claws Mail 4.1.1 sent it (tests/data/eml/claws, scripts/make-claws):
typed line by line, hard-wrapped at 72 characters without format=flowed, so the long จาก and
เรื่อง lines arrive cut in two. Read as typed (corrections.py WRAP)."""

from __future__ import annotations

import json
from pathlib import Path

from gateway.core.edits import FIELD_LABELS
from gateway.core.parse.corrections import REGISTER, correction_reply
from gateway.core.parse.message import parse_message

CLAWS = Path(__file__).resolve().parents[1] / "data" / "eml" / "claws"
TRUTH = json.loads((CLAWS / "truth.json").read_text(encoding="utf-8"))["reply-typed"]


def test_a_correction_claws_mail_wrapped_is_read_as_typed() -> None:
    raw = (CLAWS / "reply-typed.eml").read_bytes()
    assert b"Claws Mail" in raw and b"format=flowed" not in raw
    msg = parse_message(raw)
    longest = max(TRUTH["typed"].splitlines(), key=len)
    assert longest not in msg.body_text  # the client cut it: what the fixture is for
    typed = {}
    for line in TRUTH["typed"].splitlines():
        label, sep, value = line.partition(": ")
        if sep and label in FIELD_LABELS:
            typed[FIELD_LABELS[label]] = value
    reply = correction_reply(msg.subject, msg.body_text)
    assert reply is not None and reply.review == 1
    assert dict(reply.correction.texts) == typed
    assert reply.correction.command == REGISTER and not reply.correction.unread
