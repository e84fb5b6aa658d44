"""IMAP mailbox names in modified UTF-7 (RFC 3501 §5.1.3), quoted for the wire.

Dovecot here has no UTF8=ACCEPT, and aioimaplib sends arguments verbatim, so
Thai folder names (ส่งต่อ/กลุ่มอำนวยการ) must be encoded and quoted by us.
"""

from __future__ import annotations

import base64


def _b64(chunk: str) -> str:
    raw = chunk.encode("utf-16-be")
    return "&" + base64.b64encode(raw).decode("ascii").rstrip("=").replace("/", ",") + "-"


def encode_mutf7(name: str) -> str:
    out: list[str] = []
    pending = ""
    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            if pending:
                out.append(_b64(pending))
                pending = ""
            out.append("&-" if ch == "&" else ch)
        else:
            pending += ch
    if pending:
        out.append(_b64(pending))
    return "".join(out)


def decode_mutf7(name: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(name):
        ch = name[i]
        if ch != "&":
            out.append(ch)
            i += 1
            continue
        end = name.index("-", i)
        chunk = name[i + 1 : end]
        if not chunk:
            out.append("&")
        else:
            b = chunk.replace(",", "/")
            b += "=" * (-len(b) % 4)
            out.append(base64.b64decode(b).decode("utf-16-be"))
        i = end + 1
    return "".join(out)


def quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def encode_mailbox(name: str) -> str:
    """The argument to send for a mailbox name: modified UTF-7, quoted."""
    return quote(encode_mutf7(name))
