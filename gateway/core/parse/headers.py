"""Header values as they arrive: 8-bit Thai nobody declared, RFC 2047 words anywhere (pure).

Values are read from ``raw_items()`` and decoded here, because ``policy.default``'s lazy header
objects raise on some malformed headers and replace undeclared 8-bit Thai bytes with U+FFFD,
losing them. Whatever is odd becomes a line in the message's ``defects``.
"""

from __future__ import annotations

import binascii
import email.utils
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message

from gateway.thai import decode_thai, normalize_text

__all__ = ["Headers", "decode_b", "decode_words", "recover_8bit"]

_CONTENT_TYPE = re.compile(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+")
# RFC 2047 encoded word. Decoded wherever it appears, also inside quoted strings and parameters:
# Outlook writes name="=?windows-874?B?...?=" (domain.md §7), which RFC 2047 §5 forbids.
_ENCODED_WORD = re.compile(r"=\?([^?\s*]+)(?:\*[^?\s]*)?\?([bBqQ])\?([^?\s]*)\?=")
_MSG_ID = re.compile(r"<[^<>\s]+>")
_FOLDING = re.compile(r"\r?\n(?=[ \t])")
_SURROGATES = re.compile("[\udc80-\udcff]")
_ANGLE_ADDR = re.compile(r"<([^<>@\s]+@[^<>@\s]+)>")


def recover_8bit(value: str) -> tuple[str, bool]:
    """Undo the parser's surrogateescape of undeclared 8-bit header bytes (raw UTF-8 or TIS-620)."""
    if not _SURROGATES.search(value):
        return value, False
    data = value.encode("utf-8", "surrogateescape")
    return decode_thai(data, None), True


def decode_b(text: str) -> bytes:
    """Base64 as mailers write it: stray characters skipped, padding forgiven."""
    cleaned = re.sub(r"[^A-Za-z0-9+/]", "", text)
    cleaned = cleaned[: len(cleaned) - len(cleaned) % 4] if len(cleaned) % 4 == 1 else cleaned
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        return binascii.a2b_base64(cleaned)
    except binascii.Error:
        return b""


def _decode_q(text: str) -> bytes:
    raw = text.replace("_", " ").encode("ascii", "replace")
    return re.sub(rb"=([0-9A-Fa-f]{2})", lambda m: bytes([int(m[1], 16)]), raw)


def decode_words(text: str) -> str:
    """Decode RFC 2047 encoded words anywhere in ``text``.

    Whitespace between two encoded words is dropped (RFC 2047 §6.2) and adjacent words in the
    same charset are joined before decoding, since mailers split multi-byte characters across
    words.
    """
    if "=?" not in text:
        return text
    out: list[str] = []
    pending: bytes = b""
    pending_charset: str | None = None
    pos = 0

    def flush() -> None:
        nonlocal pending, pending_charset
        if pending_charset is not None:
            out.append(decode_thai(pending, pending_charset))
        pending, pending_charset = b"", None

    for m in _ENCODED_WORD.finditer(text):
        between = text[pos : m.start()]
        if between and not (between.isspace() and pending_charset is not None):
            flush()
            out.append(between)
        charset = m[1]
        chunk = decode_b(m[3]) if m[2] in "bB" else _decode_q(m[3])
        if pending_charset is not None and charset.lower() != pending_charset.lower():
            flush()
        pending += chunk
        pending_charset = charset
        pos = m.end()
    flush()
    out.append(text[pos:])
    return "".join(out)


@dataclass
class Headers:
    """Raw header access that never triggers policy.default's header parsing."""

    msg: Message
    defects: list[str]

    def raw_all(self, name: str) -> list[str]:
        lname = name.lower()
        return [v for k, v in self.msg.raw_items() if k.lower() == lname]

    def raw(self, name: str) -> str | None:
        values = self.raw_all(name)
        return values[0] if values else None

    def text(self, name: str) -> str | None:
        value = self.raw(name)
        if value is None:
            return None
        return self._decode(name, value)

    def _decode(self, name: str, value: str) -> str:
        value = _FOLDING.sub("", value)
        value, had_8bit = recover_8bit(value)
        if had_8bit:
            self.defects.append(f"8-bit characters in {name} header (decoded as UTF-8/TIS-620)")
        return decode_words(value)

    def addresses(self, *names: str) -> list[tuple[str, str]]:
        values: list[str] = []
        for name in names:
            for raw in self.raw_all(name):
                value, had_8bit = recover_8bit(_FOLDING.sub("", raw))
                if had_8bit:
                    self.defects.append(
                        f"8-bit characters in {name} header (decoded as UTF-8/TIS-620)"
                    )
                values.append(value)
        if not values:
            return []
        result: list[tuple[str, str]] = []
        pairs: list[tuple[str, str]] = []
        for value in values:
            got = email.utils.getaddresses([value])
            angle = _ANGLE_ADDR.findall(value)
            # `From: saraban@opm.go.th <attacker@evil.example>`: an unquoted address as the
            # display name. Mail clients show the name but deliver to the angle address, so
            # that is the sender (a forged look-alike must not win).
            prefix = re.sub(r'"[^"]*"', "", value.split("<", 1)[0])
            single = len(angle) == 1 and "," not in prefix and ";" not in prefix
            if single and [a.lower() for _, a in got] != [angle[0].lower()]:
                self.defects.append(f"malformed address header {value[:80]!r}; used <{angle[0]}>")
                got = [(value.split("<", 1)[0].strip().strip('"'), angle[0])]
            pairs.extend(got)
        for display, addr in pairs:
            addr = addr.strip().lower()
            if not addr:
                continue
            display = normalize_text(decode_words(display)) if display else ""
            result.append((display, addr))
        return result

    def msg_id(self, name: str) -> str | None:
        """The first ``<id>`` of a Message-ID or In-Reply-To header; else its bare value."""
        raw = self.raw(name)
        if raw is None:
            return None
        value = _FOLDING.sub("", raw).strip()
        m = _MSG_ID.search(value)
        if m:
            return m[0]
        return value or None

    def msg_ids(self, name: str) -> tuple[str, ...]:
        """Every ``<id>`` of a References-like header."""
        return tuple(_MSG_ID.findall(_FOLDING.sub("", self.raw(name) or "")))

    def date(self) -> datetime | None:
        raw = self.raw("date")
        if raw is None:
            return None
        value = recover_8bit(_FOLDING.sub("", raw))[0].strip()
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            self.defects.append(f"unreadable Date header {value[:40]!r}")
            return None
        if parsed is None:
            self.defects.append(f"unreadable Date header {value[:40]!r}")
            return None
        if parsed.tzinfo is None:
            # RFC 5322 §3.3: "-0000" means the time is in UTC and the sender's zone is unknown.
            parsed = parsed.replace(tzinfo=UTC)
        return parsed

    # -- a MIME part's own headers -------------------------------------------------------------

    def content_type(self, default: str = "text/plain") -> str:
        raw = self.raw("content-type")
        if raw is None:
            return default
        value = recover_8bit(_FOLDING.sub("", raw))[0].split(";", 1)[0].strip().strip('"').lower()
        if not _CONTENT_TYPE.fullmatch(value):
            self.defects.append(f"invalid Content-Type {value[:40]!r}; read as {default}")
            return default
        return value

    def disposition(self) -> str | None:
        raw = self.raw("content-disposition")
        if raw is None:
            return None
        value = _FOLDING.sub("", raw).split(";", 1)[0].strip().lower()
        return value or None

    def content_id(self) -> str | None:
        raw = self.raw("content-id")
        if not raw:
            return None
        return recover_8bit(_FOLDING.sub("", raw))[0].strip().strip("<>").strip() or None

    def param(self, header: str, param: str) -> str | None:
        raw = self.raw(header)
        if raw is None:
            return None
        scratch = Message()
        scratch[header] = recover_8bit(_FOLDING.sub("", raw))[0]
        value = scratch.get_param(param, header=header)
        if value is None:
            return None
        text = email.utils.collapse_rfc2231_value(value) if isinstance(value, tuple) else str(value)
        return decode_words(text).strip()

    def filename(self) -> str | None:
        """The file name from Content-Disposition (filename) or Content-Type (name).

        Read on a compat32 scratch message built from the recovered raw headers: that handles
        RFC 2231 (``filename*=``, continuations, windows-874 once registered), raw UTF-8/TIS-620
        names, and, through ``decode_words``, Outlook's RFC 2047 inside the quoted parameter.
        """
        for header, param in (("content-disposition", "filename"), ("content-type", "name")):
            name = self.param(header, param)
            if name:
                name = _SURROGATES.sub("\ufffd", name)
                return name
        return None
