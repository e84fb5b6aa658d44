"""No mail to strangers: who may get the gateway's automatic mail, and what it may quote.

Automatic mail (an acknowledgement, a rejection notice, a receipt notifier: anything an
incoming message triggers) goes only to the From address of a sender that is not a stranger,
at most N an hour per address (counted in the store by gateway/inbound/feedback.py), and
quotes nothing the sender wrote beyond a cleaned, length-limited line. Pure: data in, data out.
"""

from __future__ import annotations

import re
import unicodedata

from gateway.trust import AuthResult, SenderAuth

__all__ = ["SUBJECT_LIMIT", "clean_line", "stranger_reason"]

SUBJECT_LIMIT = 120  # characters of a sender's subject an automatic mail may quote

_SPACE = re.compile(r"\s+")


def clean_line(text: str | None, limit: int = SUBJECT_LIMIT) -> str:
    """One line of at most `limit` characters: control and format characters removed (CR, LF,
    NUL, bidi overrides…), runs of blanks made one space, cut with "…" when longer. Thai
    combining marks are kept."""
    if not text:
        return ""
    chars = []
    for ch in text:
        kind = unicodedata.category(ch)
        if ch.isspace() or kind in ("Zl", "Zp"):
            chars.append(" ")
        elif kind[0] != "C":  # Cc control, Cf format (bidi overrides), Cs, Co, Cn
            chars.append(ch)
    kept = "".join(chars)
    line = _SPACE.sub(" ", kept).strip()
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def stranger_reason(auth: SenderAuth | None, in_directory: bool | None, address: str) -> str:
    """Why `address` may not get automatic mail (Thai, for the clerk), or "" when it may.

    A passed verdict (DMARC aligned) is enough. A failed or unanswered check (fail,
    temperror) is never overruled by the directory: the From may be forged. With no verdict
    (none, or no check at all: an import, a closed network) the address must be in the
    agency directory. `in_directory` None: not known (an empty directory)."""
    if auth is not None and auth.passed:
        return ""
    if auth is not None and auth.result in (AuthResult.FAIL, AuthResult.TEMPERROR):
        word = "ไม่ผ่าน" if auth.result is AuthResult.FAIL else "ตรวจสอบไม่ได้ (DNS ไม่ตอบ)"
        return f"การยืนยันตัวตนผู้ส่ง {address} {word}"
    if in_directory:
        return ""
    return f"ผู้ส่ง {address} ไม่ผ่านการยืนยันตัวตนและไม่อยู่ในทะเบียนหน่วยงาน"
