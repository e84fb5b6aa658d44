"""Reading one message: the MIME walk that turns raw bytes into a ParsedMessage (pure).

``parse_message`` never raises: whatever is malformed becomes a line in ``defects`` and the rest
is read on a best-effort basis. Forwarded messages are read by the same walk, to
``MAX_FORWARD_DEPTH``, their attachments and defects joining the outer message's.

Hostile mail is bounded: levels nested deeper than ``MAX_NESTING`` are cut out before the stdlib
parser sees them (it would recurse into a RecursionError), at most ``MAX_PARTS`` parts are read,
and a message that hits either limit says so (``ParsedMessage.too_deep``/``too_many_parts``), so
that it goes to the clerk with a reason instead of reading as an empty letter.
"""

from __future__ import annotations

import codecs
import hashlib
import re
from dataclasses import dataclass, field
from email import errors
from email import policy as email_policy
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import Policy

from gateway.b64 import decode_clean
from gateway.core.parse.base64runs import mask_base64_runs, unmask
from gateway.core.parse.bounds import parse_bounded
from gateway.core.parse.flowed import unflow
from gateway.core.parse.forwards import forwarded_message, serialize
from gateway.core.parse.headers import Headers, decode_b
from gateway.core.parse.htmltext import html_to_text
from gateway.core.parse.names import effective_type, safe_filename
from gateway.core.parse.signs import auto_reply_reason, spam_flagged
from gateway.core.parse.tnef import is_tnef, unpack_winmail
from gateway.letter import Attachment, ParsedMessage
from gateway.thai import clean_text, decode_thai, normalize_text, register_thai_charsets

__all__ = ["MAX_FORWARD_DEPTH", "MAX_NESTING", "MAX_PARTS", "parse_message"]

MAX_PARTS = 1000
"""MIME parts (and files inside winmail.dat) read per message; the rest are skipped and the
message goes to review (a 500-part message is fine)."""
MAX_NESTING = 50
"""Levels of multipart/message nesting read (real mail: under 10); deeper levels are cut out
and the message goes to review. The stdlib parser itself fails at about 250."""
MAX_FORWARD_DEPTH = 3
"""message/rfc822 levels opened; deeper forwards are kept as .eml attachments."""


def parse_message(raw: bytes) -> ParsedMessage:
    """Read one raw RFC 5322 message. Never raises; problems become ``defects``."""
    data = bytes(raw)
    if _codec_missing("windows-874"):
        register_thai_charsets()
    if not data.strip():
        return _empty(len(data), ("empty message",))
    defects: list[str] = []
    too_deep = False
    for pol in (email_policy.default, email_policy.compat32):
        try:
            return _Reader(pol, defects=list(defects)).read_top(data)
        # Top-level guard (house style 5): parse_message's contract is to never raise on mail
        # from the Internet, and the stdlib parser has raised assorted exceptions on hostile
        # input over the years. Retry with compat32 (no lazy header parsing), then read the
        # headers alone, then give up.
        except Exception as exc:  # noqa: BLE001
            too_deep = too_deep or isinstance(exc, RecursionError)
            defects.append(f"parser failed with {pol.__class__.__name__}: {type(exc).__name__}")
    try:
        reader = _Reader(email_policy.compat32, defects=defects)
        reader.budget.too_deep = too_deep  # nesting the scan before parsing did not see
        msg = BytesHeaderParser(policy=email_policy.compat32).parsebytes(data)
        return reader.read(msg, len(data), walk=False)
    except Exception as exc:  # noqa: BLE001  (the same guard, for the headers alone)
        defects.append(f"headers could not be read: {type(exc).__name__}")
    return _empty(len(data), tuple(defects))


def _param_is(headers: Headers, name: str, value: str) -> bool:
    return (headers.param("content-type", name) or "").strip().lower() == value


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


@dataclass
class _Budget:
    """Shared across a message and the messages forwarded inside it."""

    parts: int = 0
    attachments: int = 0
    used_names: set[str] = field(default_factory=set)
    exhausted: bool = False  # more than MAX_PARTS parts
    too_deep: bool = False  # nested deeper than MAX_NESTING


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
        skeleton, runs, token = mask_base64_runs(data)
        msg, cut = parse_bounded(skeleton, self.policy, MAX_NESTING)
        self._cut(cut)
        if runs:
            unmask(msg, runs, token)
        return self.read(msg, len(data))

    def _cut(self, cut: bool) -> None:
        if cut and not self.budget.too_deep:
            self.defects.append(f"nested deeper than {MAX_NESTING} levels; inner parts not read")
        self.budget.too_deep = self.budget.too_deep or cut

    def read(self, msg: Message, size: int, *, walk: bool = True) -> ParsedMessage:
        headers = Headers(msg, self.defects)
        if not msg.raw_items() and not msg.get_payload():
            self.defects.append("no headers and no body")
        if walk:
            self._walk(msg, depth=0, in_related=False)
        # what a sender wrote is stored and printed: no controls, escapes or bidi overrides
        subject = clean_text(normalize_text(headers.text("subject") or ""))
        from_list = headers.addresses("from")
        from_name, from_addr = from_list[0] if from_list else ("", None)
        if not from_list:
            self.defects.append("no usable From address")
        body_text = "\n".join(t for t in self.texts if t.strip())
        body_html = "\n".join(self.htmls)
        if not body_text.strip() and body_html:
            body_text = html_to_text(body_html)
        body_text = clean_text(body_text, multiline=True)
        top_type = headers.content_type()
        auto_reason = auto_reply_reason(headers, top_type, subject, from_addr)
        return ParsedMessage(
            message_id=headers.msg_id("message-id"),
            subject=subject,
            from_addr=from_addr,
            from_name=clean_text(from_name) or None,
            to_addrs=tuple(a for _, a in headers.addresses("to")),
            cc_addrs=tuple(a for _, a in headers.addresses("cc")),
            date=headers.date(),
            in_reply_to=headers.msg_id("in-reply-to"),
            references=headers.msg_ids("references"),
            body_text=body_text,
            body_html=body_html,
            attachments=tuple(self.attachments),
            defects=tuple(dict.fromkeys(self.defects)),
            is_auto_reply=auto_reason is not None,
            raw_size=size,
            auto_reply_reason=auto_reason,
            is_spam_flagged=spam_flagged(headers),
            reply_to_addrs=tuple(a for _, a in headers.addresses("reply-to")),
            forwarded=tuple(self.forwarded),
            too_deep=MAX_NESTING if self.budget.too_deep else 0,
            too_many_parts=MAX_PARTS if self.budget.exhausted else 0,
        )

    # -- parts ------------------------------------------------------------------------------

    def _count_part(self) -> bool:
        """Count one more part; False (and the message marked) once over MAX_PARTS."""
        self.budget.parts += 1
        if self.budget.parts <= MAX_PARTS:
            return True
        if not self.budget.exhausted:
            self.defects.append(f"more than {MAX_PARTS} MIME parts; the rest were not read")
            self.budget.exhausted = True
        return False

    def _walk(self, part: Message, depth: int, in_related: bool, parent: str = "") -> None:
        if not self._count_part():
            return
        if depth > MAX_NESTING:
            self._cut(True)
            return
        headers = Headers(part, self.defects)
        default = "message/rfc822" if parent == "multipart/digest" else "text/plain"
        ctype = headers.content_type(default)
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
        try:
            text = part.get_payload()
        except (ValueError, LookupError):  # 8-bit text under a charset no codec takes
            text = None  # (Python decodes it with that name: "\x00utf-8" is a ValueError)
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
            return decode_b(encoded) if isinstance(encoded, str) else b""
        return payload if isinstance(payload, bytes) else b""

    def _leaf(self, part: Message, headers: Headers, ctype: str, in_related: bool) -> None:
        data = self._payload(part, ctype)
        filename = headers.filename()
        disposition = headers.disposition()
        if (
            ctype in ("text/plain", "text/html")
            and disposition != "attachment"
            and filename is None
        ):
            text = decode_thai(data, headers.param("content-type", "charset"))
            text = text.replace("\r\n", "\n").replace("\r", "\n")
            if ctype == "text/plain" and _param_is(headers, "format", "flowed"):
                text = unflow(text, delsp=_param_is(headers, "delsp", "yes"))
            (self.texts if ctype == "text/plain" else self.htmls).append(text)
            return
        if is_tnef(ctype, data, filename) and self._tnef(data):
            return
        content_id = headers.content_id()
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
        content_type = effective_type(declared, filename, data)
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
        inner, cut = parse_bounded(rebuilt, self.policy, MAX_NESTING - depth)
        self._cut(cut)
        if inner.is_multipart():
            self._walk(inner, depth + 1, ctype == "multipart/related", ctype)
        else:
            self.texts.append(decode_thai(text.encode("utf-8", "surrogateescape"), None))

    def _forwarded(self, part: Message, headers: Headers, depth: int) -> None:
        inner, cut = forwarded_message(part, headers, self.policy, MAX_NESTING)
        self._cut(cut)
        if inner is None:
            self.defects.append("empty message/rfc822 part")
            return
        inner_bytes = serialize(inner)
        if self.forward_depth + 1 > MAX_FORWARD_DEPTH:
            self.defects.append(
                f"forwarded messages nested deeper than {MAX_FORWARD_DEPTH}; kept as a file"
            )
            self._add(headers.filename(), "message/rfc822", inner_bytes, False, None, "mime")
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
        winmail = unpack_winmail(data, self.defects)
        if winmail is None:
            return False
        for name, declared, payload in winmail.files:
            if not self._count_part():
                break
            self._add(name, declared, payload, False, None, "tnef")
        for value, sink in ((winmail.text, self.texts), (winmail.html, self.htmls)):
            if value is not None:
                sink.append(value)
        return True
