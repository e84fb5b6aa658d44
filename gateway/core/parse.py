"""Parse: raw message bytes → :class:`~gateway.letter.ParsedMessage` (pure; no I/O, no clock).

Place in the flow: the first pure step after *receive* has stored the bytes (architecture.md). It
reads MIME as it arrives at a Thai agency (domain.md §7): UTF-8, TIS-620 and windows-874 bodies
and headers, 8-bit headers nobody encoded, RFC 2047 and RFC 2231 file names (and Outlook's RFC 2047
inside a quoted parameter), nested multiparts, forwarded ``message/rfc822`` letters, Outlook's
``winmail.dat`` (TNEF), inline images, nameless attachments, and plain breakage (no boundary, bad
base64, empty input).

``parse_message`` never raises: whatever is malformed becomes a line in ``defects`` and the rest
is read on a best-effort basis. Header values are read from ``raw_items()`` and decoded here,
because ``policy.default``'s lazy header objects raise on some malformed headers and replace
undeclared 8-bit Thai bytes with U+FFFD, losing them.
"""

from __future__ import annotations

import binascii
import codecs
import email.utils
import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import errors
from email import policy as email_policy
from email.message import Message
from email.parser import BytesParser
from email.policy import Policy
from html.parser import HTMLParser

import tnefparse

from gateway.b64 import decode_clean
from gateway.letter import Attachment, ParsedMessage
from gateway.thai import decode_thai, normalize_text, register_thai_charsets

__all__ = [
    "MAX_FORWARD_DEPTH",
    "MAX_NESTING",
    "MAX_PARTS",
    "decode_words",
    "html_to_text",
    "parse_message",
    "safe_filename",
]

MAX_PARTS = 1000
"""MIME parts read per message; the rest are skipped with a defect (a 500-part message is fine)."""
MAX_NESTING = 30
"""Multipart nesting depth followed."""
MAX_FORWARD_DEPTH = 3
"""message/rfc822 levels opened; deeper forwards are kept as .eml attachments."""
_MAX_SAFE_NAME_BYTES = 150  # UTF-8 bytes; leaves room under the usual 255-byte file name limit
_MAX_TNEF_BYTES = 64 * 1024 * 1024

_TNEF_SIGNATURE = b"\x78\x9f\x3e\x22"
_TNEF_TYPES = frozenset({"application/ms-tnef", "application/vnd.ms-tnef"})
_PDF_MAGIC = b"%PDF-"
# Types that say nothing about the content; sniffing may replace them (agencies send PDFs as these).
_GENERIC_TYPES = frozenset(
    {
        "application/octet-stream",
        "binary/octet-stream",
        "application/x-download",
        "application/force-download",
        "application/download",
        "application/unknown",
        "application/binary",
    }
)
_EXTENSION_BY_TYPE: dict[str, str] = {
    "application/pdf": "pdf",
    "application/x-pdf": "pdf",
    "application/xml": "xml",
    "text/xml": "xml",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/vnd.ms-powerpoint": "ppt",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "pptx",
    "image/jpeg": "jpg",
    "image/jpg": "jpg",
    "image/pjpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "image/tiff": "tif",
    "image/bmp": "bmp",
    "application/zip": "zip",
    "application/x-zip-compressed": "zip",
    "application/x-rar-compressed": "rar",
    "application/vnd.rar": "rar",
    "text/plain": "txt",
    "text/html": "html",
    "text/calendar": "ics",
    "text/rtf": "rtf",
    "application/rtf": "rtf",
    "message/rfc822": "eml",
    "application/ms-tnef": "dat",
    "application/vnd.ms-tnef": "dat",
}
_TYPE_BY_EXTENSION: dict[str, str] = {
    "pdf": "application/pdf",
    "xml": "application/xml",
    "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xls": "application/vnd.ms-excel",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "zip": "application/zip",
    "rar": "application/vnd.rar",
    "txt": "text/plain",
    "htm": "text/html",
    "html": "text/html",
}
_CONTENT_TYPE = re.compile(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+")
# RFC 2047 encoded word. Decoded wherever it appears, also inside quoted strings and parameters:
# Outlook writes name="=?windows-874?B?...?=" (domain.md §7), which RFC 2047 §5 forbids.
_ENCODED_WORD = re.compile(r"=\?([^?\s*]+)(?:\*[^?\s]*)?\?([bBqQ])\?([^?\s]*)\?=")
_MSG_ID = re.compile(r"<[^<>\s]+>")
_FOLDING = re.compile(r"\r?\n(?=[ \t])")
_SURROGATES = re.compile("[\udc80-\udcff]")
_WINDOWS_RESERVED = re.compile(r"(?i)(?:con|prn|aux|nul|com[0-9]|lpt[0-9])")
_NAME_PUNCTUATION = frozenset(" ._-()[]+,&'~#@=!")
_EXTENSION = re.compile(r"[A-Za-z0-9]{1,10}")

# RFC 3834 §5 and the usual signs of bounces and out-of-office replies (issue 3: "set aside").
_AUTO_SUBJECT = re.compile(
    r"(?i)^\s*(?:automatic reply|auto[- ]?reply|autoreply|auto response|out of (?:the )?office"
    r"|undeliverable|undelivered mail|delivery status notification|mail delivery failed"
    r"|delivery failure|returned mail|failure notice|ตอบกลับอัตโนมัติ|ไม่สามารถส่งได้"
    r"|ไม่สามารถจัดส่งได้|ไม่อยู่ที่สำนักงาน)"
)
_BOUNCE_SENDERS = frozenset({"mailer-daemon", "mail-daemon", "mailerdaemon"})


def parse_message(raw: bytes) -> ParsedMessage:
    """Read one raw RFC 5322 message. Never raises; problems become ``defects``."""
    data = bytes(raw)
    if _codec_missing("windows-874"):
        register_thai_charsets()
    if not data.strip():
        return _empty(len(data), ("empty message",))
    defects: list[str] = []
    for pol in (email_policy.default, email_policy.compat32):
        try:
            return _Reader(pol, defects=list(defects)).read_top(data)
        # Top-level guard (house style 5): parse_message's contract is to never raise on mail
        # from the Internet, and the stdlib parser has raised assorted exceptions on hostile
        # input over the years. Retry with compat32 (no lazy header parsing), then give up.
        except Exception as exc:  # noqa: BLE001
            defects.append(f"parser failed with {pol.__class__.__name__}: {type(exc).__name__}")
    return _empty(len(data), tuple(defects))


def _codec_missing(name: str) -> bool:
    try:
        codecs.lookup(name)
    except LookupError:
        return True
    return False


def _empty(size: int, defects: tuple[str, ...]) -> ParsedMessage:
    return ParsedMessage(
        message_id=None,
        subject="",
        from_addr=None,
        from_name=None,
        to_addrs=(),
        cc_addrs=(),
        date=None,
        in_reply_to=None,
        references=(),
        body_text="",
        body_html="",
        attachments=(),
        defects=defects,
        is_auto_reply=False,
        raw_size=size,
    )


# ------------------------------------------------------------------------------------------
# Header decoding
# ------------------------------------------------------------------------------------------


def _recover_8bit(value: str) -> tuple[str, bool]:
    """Undo the parser's surrogateescape of undeclared 8-bit header bytes (raw UTF-8 or TIS-620)."""
    if not _SURROGATES.search(value):
        return value, False
    data = value.encode("utf-8", "surrogateescape")
    return decode_thai(data, None), True


def _decode_b(text: str) -> bytes:
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
        chunk = _decode_b(m[3]) if m[2] in "bB" else _decode_q(m[3])
        if pending_charset is not None and charset.lower() != pending_charset.lower():
            flush()
        pending += chunk
        pending_charset = charset
        pos = m.end()
    flush()
    out.append(text[pos:])
    return "".join(out)


@dataclass
class _Headers:
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
        value, had_8bit = _recover_8bit(value)
        if had_8bit:
            self.defects.append(f"8-bit characters in {name} header (decoded as UTF-8/TIS-620)")
        return decode_words(value)

    def addresses(self, *names: str) -> list[tuple[str, str]]:
        values: list[str] = []
        for name in names:
            for raw in self.raw_all(name):
                value, had_8bit = _recover_8bit(_FOLDING.sub("", raw))
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


_ANGLE_ADDR = re.compile(r"<([^<>@\s]+@[^<>@\s]+)>")


def _content_type(headers: _Headers, default: str = "text/plain") -> str:
    raw = headers.raw("content-type")
    if raw is None:
        return default
    value = _recover_8bit(_FOLDING.sub("", raw))[0].split(";", 1)[0].strip().strip('"').lower()
    if not _CONTENT_TYPE.fullmatch(value):
        headers.defects.append(f"invalid Content-Type {value[:40]!r}; read as {default}")
        return default
    return value


def _disposition(headers: _Headers) -> str | None:
    raw = headers.raw("content-disposition")
    if raw is None:
        return None
    value = _FOLDING.sub("", raw).split(";", 1)[0].strip().lower()
    return value or None


def _param(headers: _Headers, header: str, param: str) -> str | None:
    raw = headers.raw(header)
    if raw is None:
        return None
    scratch = Message()
    scratch[header] = _recover_8bit(_FOLDING.sub("", raw))[0]
    value = scratch.get_param(param, header=header)
    if value is None:
        return None
    text = email.utils.collapse_rfc2231_value(value) if isinstance(value, tuple) else str(value)
    return decode_words(text).strip()


def _filename(headers: _Headers) -> str | None:
    """The file name from Content-Disposition (filename) or Content-Type (name).

    Read on a compat32 scratch message built from the recovered raw headers: that handles RFC
    2231 (``filename*=``, continuations, windows-874 once registered), raw UTF-8/TIS-620 names,
    and, through ``decode_words``, Outlook's RFC 2047 inside the quoted parameter.
    """
    for header, param in (("content-disposition", "filename"), ("content-type", "name")):
        name = _param(headers, header, param)
        if name:
            name = _SURROGATES.sub("\ufffd", name)
            return name
    return None


# ------------------------------------------------------------------------------------------
# File names
# ------------------------------------------------------------------------------------------


def safe_filename(
    filename: str | None, content_type: str, data: bytes, index: int, used: set[str] | None = None
) -> str:
    """A name that can be stored and shown but never becomes a path.

    Thai and other letters, marks and digits are kept; control and format characters (including
    bidi overrides) go; path separators and other punctuation become ``_``; no leading dots, no
    ``..``; at most 150 UTF-8 bytes with the extension kept; Windows device names defused. Never
    empty: ``attachment-<index>.<ext>`` with the extension from the type (or PDF magic). ``used``
    (case-folded names already given) makes the result unique within one message.
    """
    name = unicodedata.normalize("NFC", filename or "")
    name = "".join(ch for ch in name if not unicodedata.category(ch).startswith("C"))
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(
        ch if unicodedata.category(ch)[0] in "LMN" or ch in _NAME_PUNCTUATION else "_"
        for ch in name
    )
    name = re.sub(r"\s+", " ", name)
    name = re.sub(r"\.{2,}", ".", name)
    name = re.sub(r"_{2,}", "_", name)
    name = name.strip(" ._-")
    stem, dot, ext = name.rpartition(".")
    if not dot or not _EXTENSION.fullmatch(ext) or not stem.strip(" ._-"):
        stem, ext = name, ""
    stem = stem.strip(" ._-")
    if not ext:
        ext = _default_extension(content_type, data)
    if _WINDOWS_RESERVED.fullmatch(stem):
        stem = "_" + stem
    if not stem:
        stem = f"attachment-{index}"
    stem = _truncate_utf8(stem, _MAX_SAFE_NAME_BYTES - len(ext) - 1) or f"attachment-{index}"
    candidate = f"{stem}.{ext}"
    if used is not None:
        n = 2
        while candidate.casefold() in used:
            candidate = f"{_truncate_utf8(stem, _MAX_SAFE_NAME_BYTES - len(ext) - 6)}-{n}.{ext}"
            n += 1
        used.add(candidate.casefold())
    return candidate


def _default_extension(content_type: str, data: bytes) -> str:
    if content_type in _EXTENSION_BY_TYPE and content_type not in _GENERIC_TYPES:
        return _EXTENSION_BY_TYPE[content_type]
    if _PDF_MAGIC in data[:1024]:
        return "pdf"
    return "bin"


def _truncate_utf8(text: str, limit: int) -> str:
    if len(text.encode("utf-8")) <= limit:
        return text
    out = text
    while out and len(out.encode("utf-8")) > limit:
        out = out[:-1]
    return out.rstrip(" ._-")


def _effective_type(declared: str, filename: str | None, data: bytes) -> str:
    """The declared type, unless it is a generic one and the bytes or name say better."""
    if declared not in _GENERIC_TYPES:
        return declared
    if _PDF_MAGIC in data[:1024]:
        return "application/pdf"
    if filename and "." in filename:
        return _TYPE_BY_EXTENSION.get(filename.rsplit(".", 1)[1].lower(), declared)
    return declared


# ------------------------------------------------------------------------------------------
# HTML → text (for bodies that have no text/plain alternative)
# ------------------------------------------------------------------------------------------

_BLOCK_TAGS = frozenset(
    [
        "p",
        "div",
        "br",
        "tr",
        "li",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "table",
        "blockquote",
        "pre",
        "hr",
        "ul",
        "ol",
        "dl",
        "dt",
        "dd",
        "section",
        "article",
    ]
)
_SKIP_TAGS = frozenset({"script", "style", "head", "title"})


class _HtmlText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self.skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append("  ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self.skip = max(0, self.skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(re.sub(r"[ \t\r\n]+", " ", data))


def html_to_text(html: str) -> str:
    """Readable text of an HTML body: block elements become line breaks, scripts and styles go."""
    parser = _HtmlText()
    try:
        parser.feed(html)
        parser.close()
    except (AssertionError, ValueError):  # old HTMLParser versions assert on odd markup
        pass
    lines = [normalize_text(line) for line in "".join(parser.parts).split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# ------------------------------------------------------------------------------------------
# The walk
# ------------------------------------------------------------------------------------------


@dataclass
class _Budget:
    """Shared across a message and the messages forwarded inside it."""

    parts: int = 0
    attachments: int = 0
    used_names: set[str] = field(default_factory=set)
    exhausted: bool = False


@dataclass
class _Reader:
    policy: Policy
    defects: list[str] = field(default_factory=list)
    budget: _Budget = field(default_factory=_Budget)
    forward_depth: int = 0
    attachments: list[Attachment] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    htmls: list[str] = field(default_factory=list)
    forwarded: list[ParsedMessage] = field(default_factory=list)

    @property
    def _prefix(self) -> str:
        return "rfc822/" * self.forward_depth

    def read_top(self, data: bytes) -> ParsedMessage:
        skeleton, runs, token = _mask_base64_runs(data)
        msg = BytesParser(policy=self.policy).parsebytes(skeleton)
        if runs:
            _unmask(msg, runs, token)
        return self.read(msg, len(data))

    def read(self, msg: Message, size: int) -> ParsedMessage:
        headers = _Headers(msg, self.defects)
        if not msg.raw_items() and not msg.get_payload():
            self.defects.append("no headers and no body")
        self._walk(msg, depth=0, in_related=False)
        subject = normalize_text(headers.text("subject") or "")
        from_list = headers.addresses("from")
        from_name, from_addr = from_list[0] if from_list else ("", None)
        if not from_list:
            self.defects.append("no usable From address")
        body_text = "\n".join(t for t in self.texts if t.strip())
        body_html = "\n".join(self.htmls)
        if not body_text.strip() and body_html:
            body_text = html_to_text(body_html)
        top_type = _content_type(headers)
        auto_reason = _auto_reply_reason(headers, top_type, subject, from_addr)
        return ParsedMessage(
            message_id=_first_msg_id(headers.raw("message-id")),
            subject=subject,
            from_addr=from_addr,
            from_name=from_name or None,
            to_addrs=tuple(a for _, a in headers.addresses("to")),
            cc_addrs=tuple(a for _, a in headers.addresses("cc")),
            date=_parse_date(headers),
            in_reply_to=_first_msg_id(headers.raw("in-reply-to")),
            references=tuple(_MSG_ID.findall(_FOLDING.sub("", headers.raw("references") or ""))),
            body_text=body_text,
            body_html=body_html,
            attachments=tuple(self.attachments),
            defects=tuple(dict.fromkeys(self.defects)),
            is_auto_reply=auto_reason is not None,
            raw_size=size,
            auto_reply_reason=auto_reason,
            is_spam_flagged=_spam_flagged(headers),
            reply_to_addrs=tuple(a for _, a in headers.addresses("reply-to")),
            forwarded=tuple(self.forwarded),
        )

    # -- parts ------------------------------------------------------------------------------

    def _walk(self, part: Message, depth: int, in_related: bool, parent: str = "") -> None:
        self.budget.parts += 1
        if self.budget.parts > MAX_PARTS:
            if not self.budget.exhausted:
                self.defects.append(f"more than {MAX_PARTS} MIME parts; the rest were not read")
                self.budget.exhausted = True
            return
        if depth > MAX_NESTING:
            self.defects.append(f"multipart nesting deeper than {MAX_NESTING}; inner parts skipped")
            return
        headers = _Headers(part, self.defects)
        default = "message/rfc822" if parent == "multipart/digest" else "text/plain"
        ctype = _content_type(headers, default)
        for defect in part.defects:
            self.defects.append(f"{type(defect).__name__} in {ctype} part")
        if ctype == "message/rfc822" or ctype == "message/global":
            self._forwarded(part, headers, depth)
            return
        if part.is_multipart():
            payload = part.get_payload()
            if isinstance(payload, list):
                for sub in payload:
                    if isinstance(sub, Message):
                        self._walk(sub, depth + 1, ctype == "multipart/related", ctype)
            return
        if ctype.startswith("multipart/"):
            self._recover_multipart(part, ctype, depth)
            return
        self._leaf(part, headers, ctype, in_related)

    def _payload(self, part: Message, ctype: str) -> bytes:
        text = part.get_payload()
        if isinstance(text, str) and text.isascii() and \
                str(part.get("content-transfer-encoding", "")).strip().lower() == "base64":
            fast = decode_clean(text.encode("ascii"))
            if fast is not None:  # what get_payload(decode=True) gives, without its defects
                return fast
        seen = len(part.defects)
        payload = part.get_payload(decode=True)
        new = part.defects[seen:]
        for defect in new:
            self.defects.append(f"{type(defect).__name__} while decoding {ctype} part")
        if any(isinstance(d, errors.InvalidBase64LengthDefect) for d in new):
            # The stdlib gives up and returns the base64 text itself; keep what can be decoded.
            encoded = part.get_payload(decode=False)
            return _decode_b(encoded) if isinstance(encoded, str) else b""
        return payload if isinstance(payload, bytes) else b""

    def _leaf(self, part: Message, headers: _Headers, ctype: str, in_related: bool) -> None:
        data = self._payload(part, ctype)
        filename = _filename(headers)
        disposition = _disposition(headers)
        if (
            ctype in ("text/plain", "text/html")
            and disposition != "attachment"
            and filename is None
        ):
            text = decode_thai(data, _param(headers, "content-type", "charset"))
            text = text.replace("\r\n", "\n").replace("\r", "\n")
            (self.texts if ctype == "text/plain" else self.htmls).append(text)
            return
        if (
            ctype in _TNEF_TYPES
            or data[:4] == _TNEF_SIGNATURE
            or (filename or "").lower() == "winmail.dat"
        ) and self._tnef(data):
            return
        raw_cid = headers.raw("content-id")
        content_id = (
            _recover_8bit(_FOLDING.sub("", raw_cid))[0].strip().strip("<>").strip() or None
            if raw_cid
            else None
        )
        inline = disposition == "inline" or (
            disposition is None and content_id is not None and in_related
        )
        self._add(filename, ctype, data, inline, content_id, "mime")

    def _add(
        self,
        filename: str | None,
        declared: str,
        data: bytes,
        inline: bool,
        content_id: str | None,
        kind: str,
    ) -> None:
        self.budget.attachments += 1
        content_type = _effective_type(declared, filename, data)
        self.attachments.append(
            Attachment(
                filename=filename,
                safe_name=safe_filename(
                    filename, content_type, data, self.budget.attachments, self.budget.used_names
                ),
                content_type=content_type,
                data=data,
                sha256=hashlib.sha256(data).hexdigest(),
                inline=inline,
                content_id=content_id,
                origin=self._prefix + kind,
            )
        )

    def _recover_multipart(self, part: Message, ctype: str, depth: int) -> None:
        """A multipart whose boundary is missing or wrong: find the one the body uses."""
        # decode=True hands back the original bytes (decode=False would replace 8-bit with U+FFFD).
        raw = part.get_payload(decode=True)
        text = raw.decode("utf-8", "surrogateescape") if isinstance(raw, bytes) else ""
        m = re.search(
            r"(?m)^--([0-9A-Za-z'()+_,./:=?-][0-9A-Za-z '()+_,./:=?-]{0,69}?)[ \t]*\r?$", text
        )
        if m is None or m[1].endswith("--"):
            self.defects.append(f"{ctype} without a usable boundary; body read as text")
            self.texts.append(decode_thai(text.encode("utf-8", "surrogateescape"), None))
            return
        boundary = m[1]
        self.defects.append(f"{ctype} boundary missing or wrong; recovered {boundary!r}")
        rebuilt = f'Content-Type: {ctype}; boundary="{boundary}"\r\n\r\n'.encode(
            "ascii", "replace"
        ) + text.encode("utf-8", "surrogateescape")
        inner = BytesParser(policy=self.policy).parsebytes(rebuilt)
        if inner.is_multipart():
            self._walk(inner, depth + 1, ctype == "multipart/related", ctype)
        else:
            self.texts.append(decode_thai(text.encode("utf-8", "surrogateescape"), None))

    def _forwarded(self, part: Message, headers: _Headers, depth: int) -> None:
        inner: Message | None = None
        payload = part.get_payload()
        cte = (headers.raw("content-transfer-encoding") or "").strip().lower()
        if cte in ("base64", "quoted-printable"):
            # RFC 2046 §5.2.1 forbids encoding message/rfc822, but it is sent: the parser then
            # reads the encoded text as a message; undo that and parse the decoded bytes.
            encoded = (
                _serialize(payload[0])
                if isinstance(payload, list) and payload and isinstance(payload[0], Message)
                else (
                    payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else b""
                )
            )
            decoded = (
                _decode_b(encoded.decode("ascii", "replace"))
                if cte == "base64"
                else binascii.a2b_qp(encoded)
            )
            self.defects.append(f"message/rfc822 part with Content-Transfer-Encoding {cte}")
            inner = BytesParser(policy=self.policy).parsebytes(decoded)
        elif isinstance(payload, list) and payload and isinstance(payload[0], Message):
            inner = payload[0]
        elif isinstance(payload, str) and payload.strip():
            raw = part.get_payload(decode=True)
            inner = BytesParser(policy=self.policy).parsebytes(
                raw if isinstance(raw, bytes) else b""
            )
        if inner is None:
            self.defects.append("empty message/rfc822 part")
            return
        inner_bytes = _serialize(inner)
        if self.forward_depth + 1 > MAX_FORWARD_DEPTH:
            self.defects.append(
                f"forwarded messages nested deeper than {MAX_FORWARD_DEPTH}; kept as a file"
            )
            self._add(_filename(headers), "message/rfc822", inner_bytes, False, None, "mime")
            return
        child = _Reader(
            self.policy,
            defects=[],
            budget=self.budget,
            forward_depth=self.forward_depth + 1,
        )
        parsed = child.read(inner, len(inner_bytes))
        self.forwarded.append(parsed)
        self.attachments.extend(parsed.attachments)
        self.defects.extend(f"forwarded message: {d}" for d in parsed.defects)

    def _tnef(self, data: bytes) -> bool:
        """Unpack winmail.dat into attachments (and a body); False when it cannot be read."""
        if len(data) > _MAX_TNEF_BYTES:
            self.defects.append("winmail.dat too large to unpack; kept as a file")
            return False
        try:
            tnef = tnefparse.TNEF(data, do_checksum=False)
            items = [(_tnef_name(a, tnef.codepage), bytes(a.data or b"")) for a in tnef.attachments]
            body = tnef.body
            html = tnef.htmlbody
        # Library boundary: tnefparse walks attacker-controlled offsets and raises whatever the
        # slicing and struct code hits (struct.error, IndexError, ValueError, UnicodeError, …).
        except Exception as exc:  # noqa: BLE001
            self.defects.append(
                f"winmail.dat could not be read ({type(exc).__name__}); kept as a file"
            )
            return False
        items = [(name, payload) for name, payload in items if payload or name]
        if not items and not body and not html:
            self.defects.append("winmail.dat could not be read (nothing in it); kept as a file")
            return False
        for name, payload in items:
            declared = _TYPE_BY_EXTENSION.get(
                name.rsplit(".", 1)[1].lower() if name and "." in name else "",
                "application/octet-stream",
            )
            self._add(name, declared, payload, False, None, "tnef")
        for value, sink in ((body, self.texts), (html, self.htmls)):
            if isinstance(value, bytes):
                value = decode_thai(value.rstrip(b"\x00"), tnef.codepage)
            if isinstance(value, str) and value.strip():
                sink.append(value.rstrip("\x00").replace("\r\n", "\n"))
        return True


# The stdlib's feed parser reads a body line by line in Python: ~20 ms for the 20,000 base64
# lines of a 1.5 MB attachment. Long runs of base64 lines are cut out before parsing and put
# back into the parsed parts afterwards (their decoding is C either way), so a letter's PDF
# is not walked line by line. The marker is one the message does not contain.
_BASE64_RUN = re.compile(rb"(?m)^(?:[A-Za-z0-9+/]{16,76}={0,2}\r?\n){64,}")


def _mask_base64_runs(data: bytes) -> tuple[bytes, list[str], str]:
    runs: list[str] = []
    n = 0
    while (token := f"SARABANRUN{n}N").encode("ascii") in data:
        n += 1

    def cut(m: re.Match[bytes]) -> bytes:
        runs.append(m.group(0).decode("ascii"))
        return f"{token}{len(runs) - 1}X\r\n".encode("ascii")

    if len(data) < 65536:  # small messages are parsed as they are
        return data, runs, token
    return _BASE64_RUN.sub(cut, data), runs, token


def _unmask(msg: Message, runs: list[str], token: str) -> None:
    marker = re.compile(re.escape(token) + r"(\d+)X\r?\n")
    for part in msg.walk():
        payload = part.get_payload()
        if isinstance(payload, str) and token in payload:
            part.set_payload(marker.sub(lambda m: runs[int(m.group(1))], payload))


def _serialize(msg: Message) -> bytes:
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


def _tnef_name(att: object, codepage: str | None) -> str | None:
    try:
        name = att.long_filename()  # type: ignore[attr-defined]
    except (UnicodeError, ValueError, AttributeError, IndexError):
        raw = getattr(att, "_name", b"")
        name = decode_thai(raw, codepage) if isinstance(raw, bytes) else str(raw)
    if isinstance(name, bytes):
        name = decode_thai(name, codepage)
    name = str(name).strip("\x00").strip() if name else ""
    return name or None


# ------------------------------------------------------------------------------------------
# Header fields
# ------------------------------------------------------------------------------------------


def _first_msg_id(raw: str | None) -> str | None:
    if raw is None:
        return None
    value = _FOLDING.sub("", raw).strip()
    m = _MSG_ID.search(value)
    if m:
        return m[0]
    return value or None


def _parse_date(headers: _Headers) -> datetime | None:
    raw = headers.raw("date")
    if raw is None:
        return None
    value = _recover_8bit(_FOLDING.sub("", raw))[0].strip()
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        headers.defects.append(f"unreadable Date header {value[:40]!r}")
        return None
    if parsed is None:
        headers.defects.append(f"unreadable Date header {value[:40]!r}")
        return None
    if parsed.tzinfo is None:
        # RFC 5322 §3.3: "-0000" means the time is in UTC and the sender's zone is unknown.
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _auto_reply_reason(
    headers: _Headers, top_type: str, subject: str, from_addr: str | None
) -> str | None:
    auto = (headers.raw("auto-submitted") or "").strip().lower()
    if auto and not auto.startswith("no"):
        return f"Auto-Submitted: {auto.split(';')[0]}"
    if top_type == "multipart/report":
        return "delivery or read report (multipart/report)"
    if (headers.raw("return-path") or "").strip() == "<>":
        return "bounce (null Return-Path)"
    for name in ("x-autoreply", "x-autorespond", "x-auto-reply"):
        value = headers.raw(name)
        if value is not None and value.strip().lower() not in ("", "no", "false", "0"):
            return f"{name} header"
    precedence = (headers.raw("precedence") or "").strip().lower()
    if precedence == "auto_reply":
        return "Precedence: auto_reply"
    if from_addr and from_addr.split("@", 1)[0] in _BOUNCE_SENDERS:
        return "from MAILER-DAEMON"
    if _AUTO_SUBJECT.match(subject):
        return "auto-reply subject"
    return None


def _spam_flagged(headers: _Headers) -> bool:
    for name in ("x-spam-flag", "x-spam-status", "x-spam"):
        value = (headers.raw(name) or "").strip().lower()
        if value.startswith(("yes", "true")):
            return True
    return False
