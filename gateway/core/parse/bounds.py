"""How deep a message nests, found before the stdlib parser sees it (pure).

The stdlib's feed parser recurses once per level of ``multipart/*`` and ``message/*``: a message
nested ~250 levels deep makes it raise RecursionError (and the walk, the generator and
``Message.walk`` after it recurse the same way). ``cut_deep`` reads the lines once, with a
stack of the open boundaries, and cuts out whatever lies deeper than the limit, up to the next
boundary line of a level within it; the raw bytes are kept elsewhere, untouched.

Ordinary mail names ``multipart/`` or ``message/`` a handful of times: it is returned as it is
after one count, without the line scan.
"""

from __future__ import annotations

import re
from email.message import Message
from email.parser import BytesParser
from email.policy import Policy

__all__ = ["cut_deep", "parse_bounded"]

_NESTING_TYPE = re.compile(rb"(?i)(?:multipart|message)/")
_CONTENT_TYPE = re.compile(rb"(?i)content-type[ \t]*:")
_BOUNDARY = re.compile(rb'(?i)boundary(\*0)?(\*)?[ \t]*=[ \t]*(?:"([^"\r\n]*)"|([^;\s]+))')
_TYPE = re.compile(rb"(?i)^[ \t]*([a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+)")


def _nesting_types(data: bytes, more_than: int) -> bool:
    for n, _ in enumerate(_NESTING_TYPE.finditer(data), 1):
        if n > more_than:
            return True
    return False


class _Scan:
    """The line scan: `stack` holds one entry per open level (a boundary, or None for the
    message inside a ``message/*`` part), innermost last."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.stack: list[tuple[bytes | None, bool]] = []  # (boundary, is a multipart/digest)
        self.in_headers = True
        self.ctype = b""
        self.in_ctype = False
        self.cut_from: int | None = None
        self.cuts: list[tuple[int, int]] = []

    def boundary_of(self, line: bytes, upto: int) -> tuple[int, bool] | None:
        """(stack index, closing) of the boundary `line` is, among the first `upto` levels."""
        if not line.startswith(b"--"):
            return None
        text = line[2:].rstrip(b" \t\r\n")
        for i in range(min(upto, len(self.stack)) - 1, -1, -1):
            b = self.stack[i][0]
            if b is None:
                continue
            if text == b:
                return i, False
            if text == b + b"--":
                return i, True
        return None

    def at_boundary(self, index: int, closing: bool) -> None:
        del self.stack[index + 1:]
        if closing:
            self.stack.pop()
            self.in_headers = False
        else:
            self.begin_entity()

    def begin_entity(self) -> None:
        self.in_headers, self.ctype, self.in_ctype = True, b"", False

    def end_headers(self) -> bool:
        """The headers of an entity are over; True when its body opens a deeper level."""
        self.in_headers = False
        m = _TYPE.match(self.ctype)
        parent_digest = bool(self.stack) and self.stack[-1][1]
        kind = m[1].lower() if m else (b"message/rfc822" if parent_digest else b"text/plain")
        if kind.startswith(b"multipart/"):
            b = _BOUNDARY.search(self.ctype)
            if b is None:
                return False  # the stdlib reads it as text: no deeper level
            value = b[3] if b[3] is not None else b[4]
            if b[2] and value.count(b"'") >= 2:  # RFC 2231: charset'language'value
                value = value.split(b"'", 2)[2]
            self.stack.append((value, kind == b"multipart/digest"))
            return True
        if kind.startswith(b"message/") and kind != b"message/delivery-status":
            self.stack.append((None, False))
            self.begin_entity()
            return True
        return False

    def header_line(self, line: bytes) -> None:
        if line[:1] in (b" ", b"\t"):
            if self.in_ctype:
                self.ctype += b" " + line.strip()
            return
        m = _CONTENT_TYPE.match(line)
        self.in_ctype = m is not None
        if m is not None:
            self.ctype = line[m.end():].strip()


def cut_deep(data: bytes, limit: int) -> tuple[bytes, bool]:
    """(`data` with every entity nested deeper than `limit` levels cut out, whether one was).

    The top message is level 0; the parts of a multipart and the message inside a
    ``message/rfc822`` part are one level deeper than it.
    """
    if not _nesting_types(data, limit):
        return data, False
    scan = _Scan(limit)
    pos = 0
    for line in data.splitlines(keepends=True):
        start, pos = pos, pos + len(line)
        if scan.cut_from is not None:  # inside what is cut: wait for a level within the limit
            hit = scan.boundary_of(line, limit + 1)
            if hit is None or (hit[0] == limit and not hit[1]):
                continue
            scan.cuts.append((scan.cut_from, start))
            scan.cut_from = None
            scan.at_boundary(*hit)
            continue
        hit = scan.boundary_of(line, len(scan.stack))
        if hit is not None:
            scan.at_boundary(*hit)
        elif scan.in_headers:
            if line.strip(b"\r\n"):
                scan.header_line(line)
                continue
            scan.end_headers()
        else:
            continue
        if scan.in_headers and len(scan.stack) > limit:
            scan.cut_from = pos  # the next entity's headers start after this line
    if scan.cut_from is not None:
        scan.cuts.append((scan.cut_from, len(data)))
    if not scan.cuts:
        return data, False
    out, last = [], 0
    for a, b in scan.cuts:
        out.append(data[last:a] + b"\r\n")  # an empty part in place of what was cut
        last = b
    out.append(data[last:])
    return b"".join(out), True


def parse_bounded(data: bytes, policy: Policy, limit: int) -> tuple[Message, bool]:
    """The stdlib's parse of `data` cut to `limit` levels, and whether anything was cut."""
    kept, cut = cut_deep(data, limit)
    return BytesParser(policy=policy).parsebytes(kept), cut
