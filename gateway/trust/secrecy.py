"""Secret stays inside: the one rule on whether a letter may travel by e-mail (issue 18).

A letter marked ลับ or above (gateway.letter.Secrecy, rank > 0) is never mailed by an
automatic path: routing rules, reminders, digests, the clerk's filed copy, reports. Those
mails carry its receive number only. Only a clerk's explicit forward, confirmed (a reply
`ยืนยันส่งลับ` or `letter confirm-secret`), sends it to units; `Units.forward` applies the
rule itself, so no caller can forget it. Pure: data in, data out.
"""

from __future__ import annotations

from typing import Protocol

from gateway.letter import Secrecy

__all__ = ["CONFIRM_WORD", "SECRET_TH", "is_secret", "may_mail", "secrecy_of"]

CONFIRM_WORD = "ยืนยันส่งลับ"  # the clerk's reply that confirms sending a held secret letter
SECRET_TH = "(หนังสือชั้นความลับ)"  # what an automatic mail shows instead of the letter's words


class HasSecrecy(Protocol):
    secrecy: str


def secrecy_of(text: str) -> Secrecy | None:
    """The secrecy level a stored text names (its exact word), or None for none/unknown."""
    try:
        return Secrecy((text or "").strip())
    except ValueError:
        return None


def is_secret(text: str) -> bool:
    """ลับ, ลับมาก, ลับที่สุด (rank > 0)."""
    level = secrecy_of(text)
    return level is not None and level.rank > 0


def may_mail(letter: HasSecrecy) -> bool:
    """Whether an automatic path may put this letter's content (words or files) in a mail."""
    return not is_secret(letter.secrecy)
