"""A letter's life as data: its states, the events that move it, and one transition table.

Every letter row (incoming or outgoing) is in one `LetterState`; the only way to change it is
`advance(state, event)`, which looks the pair up in `TRANSITIONS` and raises
`IllegalTransition` for a pair the table does not hold (h11's `_state.py` is the model: the
protocol is the table, the code around it only asks). Nothing else in the gateway names a
state by its string.

    incoming                                   outgoing (the clerks' submissions)
    received ──read──▶ registered              submitted ──numbered──▶ queued
        │               review ─┐                  ├──answered (a mail command)──▶ answered
        │               restricted ─┤ clerk        └──refused──▶ refused
        │               rejected ◀──┘ (register / reject)
        │     registered ──cancel──▶ cancelled ──register again (new number)──▶ registered
        │               not_letter · sent_copy · returned_copy · duplicate
        └──reading failed too often──▶ review
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gateway.errors import IllegalTransition


class LetterState(StrEnum):
    # incoming
    RECEIVED = "received"  # raw bytes durable, not yet read and decided
    REGISTERED = "registered"  # has a receive number
    REVIEW = "review"  # waits for the clerk (รอตรวจสอบ)
    RESTRICTED = "restricted"  # secret: restricted review, never forwarded automatically
    REJECTED = "rejected"  # refused; the sender told (ไม่รับ)
    NOT_LETTER = "not_letter"  # auto-replies, bounces, replies: kept, not registered
    DUPLICATE = "duplicate"  # the same letter again: linked to its first registration
    SENT_COPY = "sent_copy"  # our own confirmation of a letter we sent: filed in ส่งแล้ว
    RETURNED_COPY = "returned_copy"  # a letter a unit returned, back to the clerk
    CANCELLED = "cancelled"  # its receive number cancelled (ยกเลิก); may be registered again
    # outgoing
    SUBMITTED = "submitted"  # a clerk's mail, kept raw, not yet read
    QUEUED = "queued"  # numbered, named, signed; one outbox row per recipient
    ANSWERED = "answered"  # a mail command (number request, help, routing) answered
    REFUSED = "refused"  # not sent, no number used; the clerk told why


class Event(StrEnum):
    # the incoming pipeline's classification of a letter it has read
    READ_REGISTER = "read_register"
    READ_REVIEW = "read_review"
    READ_RESTRICTED = "read_restricted"
    READ_REJECT = "read_reject"
    READ_NOT_LETTER = "read_not_letter"
    READ_SENT_COPY = "read_sent_copy"
    READ_RETURNED_COPY = "read_returned_copy"
    READ_DUPLICATE = "read_duplicate"
    READING_FAILED = "reading_failed"  # max_attempts used up: park it for the clerk
    # the clerk's decisions (folder moves, commands)
    CLERK_REGISTERS = "clerk_registers"
    CLERK_REJECTS = "clerk_rejects"
    CLERK_CANCELS = "clerk_cancels"  # the register entry cancelled with a reason
    # outgoing
    SUBMISSION_QUEUED = "submission_queued"
    SUBMISSION_ANSWERED = "submission_answered"
    SUBMISSION_REFUSED = "submission_refused"


@dataclass(frozen=True)
class Transition:
    to: LetterState
    effects: tuple[str, ...] = ()  # what the step that takes the event must also do


S, E = LetterState, Event

# What a clerk reads for each state (letter show, ingest summary, trace).
LABEL_TH: dict[LetterState, str] = {
    S.RECEIVED: "ยังไม่เสร็จ",
    S.REGISTERED: "ลงทะเบียนรับ",
    S.REVIEW: "รอตรวจสอบ",
    S.RESTRICTED: "รอตรวจสอบ (ลับ)",
    S.REJECTED: "ไม่รับ",
    S.NOT_LETTER: "ไม่ใช่หนังสือ",
    S.DUPLICATE: "ซ้ำกับที่ลงรับแล้ว",
    S.SENT_COPY: "สำเนาหนังสือที่ส่งแล้ว",
    S.RETURNED_COPY: "หนังสือที่หน่วยงานคืน",
    S.CANCELLED: "ยกเลิกการลงทะเบียน",
    S.SUBMITTED: "รอดำเนินการ",
    S.QUEUED: "ลงทะเบียนส่งแล้ว",
    S.ANSWERED: "ตอบคำสั่งแล้ว",
    S.REFUSED: "ไม่ได้ส่ง",
}


def label_th(state: str) -> str:
    """The Thai name of a stored state (the raw string for one this version does not know)."""
    try:
        return LABEL_TH[LetterState(state)]
    except ValueError:
        return state
_READ = {
    E.READ_REGISTER: Transition(S.REGISTERED, ("number", "register_entry", "acknowledge", "stamp",
                                               "route", "file")),
    E.READ_REVIEW: Transition(S.REVIEW, ("file",)),
    E.READ_RESTRICTED: Transition(S.RESTRICTED, ("file",)),
    E.READ_REJECT: Transition(S.REJECTED, ("notify_sender", "file")),
    E.READ_NOT_LETTER: Transition(S.NOT_LETTER, ("file",)),
    E.READ_SENT_COPY: Transition(S.SENT_COPY, ("file",)),
    E.READ_RETURNED_COPY: Transition(S.RETURNED_COPY, ("file",)),
    E.READ_DUPLICATE: Transition(S.DUPLICATE, ("link", "file")),
    E.READING_FAILED: Transition(S.REVIEW, ("file",)),
}
_CLERK = {
    E.CLERK_REGISTERS: Transition(S.REGISTERED, ("number", "register_entry", "acknowledge",
                                                 "stamp", "route")),
    E.CLERK_REJECTS: Transition(S.REJECTED, ("notify_sender",)),
}

# state × event → next state and the effects that go with it. Pairs not here are illegal.
TRANSITIONS: dict[tuple[LetterState, Event], Transition] = {
    **{(S.RECEIVED, e): t for e, t in _READ.items()},
    **{(S.REVIEW, e): t for e, t in _CLERK.items()},
    **{(S.RESTRICTED, e): t for e, t in _CLERK.items()},
    (S.REGISTERED, E.CLERK_CANCELS): Transition(S.CANCELLED, ("cancel_entry",)),
    (S.CANCELLED, E.CLERK_REGISTERS): _CLERK[E.CLERK_REGISTERS],
    (S.SUBMITTED, E.SUBMISSION_QUEUED): Transition(S.QUEUED, ("number", "register_entry",
                                                              "outbox_per_recipient", "tell_clerk")),
    (S.SUBMITTED, E.SUBMISSION_ANSWERED): Transition(S.ANSWERED, ("reply",)),
    (S.SUBMITTED, E.SUBMISSION_REFUSED): Transition(S.REFUSED, ("tell_clerk",)),
}

# The clerk may still decide these; the rest are final for the pipeline.
AWAITING_CLERK = frozenset({S.REVIEW, S.RESTRICTED})
# The clerk may register these (again): waiting for the clerk, or registered and cancelled.
REGISTRABLE = AWAITING_CLERK | {S.CANCELLED}
# States a duplicate may point at: the letter already holds (or held) a receive number.
NUMBERED = frozenset({S.REGISTERED})


def transition(state: str, event: Event) -> Transition:
    """The row of the table for (state, event); `IllegalTransition` if there is none."""
    try:
        return TRANSITIONS[(LetterState(state), event)]
    except (KeyError, ValueError):
        raise IllegalTransition(str(state), event.value) from None


def advance(state: str, event: Event) -> LetterState:
    """The state after `event`; `IllegalTransition` if the table does not allow it."""
    return transition(state, event).to


def reachable() -> frozenset[LetterState]:
    """Every state some path of the table reaches from a new letter (received / submitted)."""
    seen = {S.RECEIVED, S.SUBMITTED}
    frontier = list(seen)
    while frontier:
        here = frontier.pop()
        for (state, _), t in TRANSITIONS.items():
            if state is here and t.to not in seen:
                seen.add(t.to)
                frontier.append(t.to)
    return frozenset(seen)
