"""Hardened parsing of untrusted CorrespondenceLetter XML: bytes → a small tree + decoded files.

XXE and "billion laughs" both need a DTD, and no real letter has one, so any DOCTYPE is refused
before libxml2 sees it (docs/infrastructure.md, "XML": ``resolve_entities=False`` alone leaves
entity nodes in the tree). The parser also never loads a DTD, never touches the network, keeps
``huge_tree`` off, and is bounded in input size, depth and element count.

Memory: the base64 text of MainLetterBinaryObject / AttachmentBinaryObject never enters the tree.
An lxml parser *target* receives it in chunks and decodes it on the fly into one growing buffer,
so a letter costs about its decoded files plus a tree of a few dozen elements, not the base64
text three times over (input, libxml2 text node, Python str). The tree validated by the XSD has
those elements empty; their base64 is checked here instead.
"""

from __future__ import annotations

import binascii
import codecs
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lxml import etree

from .model import NoticeCode, RefusalReason

__all__ = [
    "BINARY_ELEMENTS",
    "DEFAULT_LIMITS",
    "DecodedBinary",
    "Limits",
    "ParseRefused",
    "ParsedDocument",
    "local_name",
    "parse_hardened",
]

MiB = 1024 * 1024

# Lower-cased local names of the elements whose text is a base64 file.
BINARY_ELEMENTS = frozenset({"mainletterbinaryobject", "attachmentbinaryobject"})

_WS = b" \t\r\n"
_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_NOT_B64 = bytes(b for b in range(256) if b not in _B64_ALPHABET)
_SKIP_WS = re.compile(rb"[ \t\r\n]*")


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on untrusted input. libxml2 itself stops at depth 256 without ``huge_tree``."""

    max_bytes: int = 64 * MiB
    max_depth: int = 32
    max_elements: int = 20_000
    max_payload_bytes: int = 32 * MiB  # decoded size of one embedded file


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class DecodedBinary:
    """One embedded file. ``data`` is empty when it was over the limit; ``size`` is then the size
    its base64 text implies."""

    data: bytes
    size: int
    problems: tuple[NoticeCode, ...]


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    root: Any  # lxml.etree._Element; base64 elements are present but empty
    payloads: Mapping[Any, DecodedBinary]  # base64 element → its decoded file


@dataclass(frozen=True, slots=True)
class ParseRefused:
    reason: RefusalReason
    detail: str = ""


class _Stop(Exception):
    """Raised inside a parser callback to abandon the parse; the reason is on the target."""


def local_name(tag: str) -> str:
    """``{ns}Name`` → ``Name``."""
    return tag.rpartition("}")[2]


class _Base64Sink:
    """Decodes base64 text as it arrives, into one buffer.

    Whitespace is skipped. Anything else that is not base64 (a character outside the alphabet,
    missing or extra padding, data after the padding) marks the payload as bad base64, but
    decoding goes on, so that a slightly broken file can still be looked at in review: invalid
    characters are dropped, and data after padding is decoded as a second base64 text glued on.
    """

    __slots__ = ("_bad", "_buf", "_carry", "_chars", "_limit", "_pad", "_segment")

    def __init__(self, limit: int) -> None:
        self._buf: io.BytesIO | None = io.BytesIO()
        self._carry = b""  # < 4 characters waiting for the rest of their quantum
        self._limit = limit
        self._chars = 0  # alphabet characters in all, for the size of an oversized file
        self._segment = 0  # alphabet characters since the last padding
        self._pad = 0  # "=" seen after them
        self._bad = False

    def feed(self, text: str) -> None:
        try:
            chunk = text.encode("ascii")
        except UnicodeEncodeError:
            self._bad = True
            chunk = text.encode("ascii", "ignore")
        chunk = chunk.translate(None, _WS)
        if not chunk:
            return
        if b"=" not in chunk:  # the usual case: no padding until the very end
            self._take(chunk)
            return
        for i, piece in enumerate(chunk.split(b"=")):
            if i:
                self._pad += 1
            if piece:
                if self._pad:
                    self._end_segment()  # data after padding: a second base64 text
                    self._bad = True
                self._take(piece)

    def _take(self, piece: bytes) -> None:
        if self._buf is None:  # already over the limit: only count
            self._chars += len(piece)
            self._segment += len(piece)
            return
        if self._carry:
            piece = self._carry + piece
        whole = len(piece) - len(piece) % 4
        try:
            # strict_mode checks the alphabet in the same pass as decoding.
            decoded = binascii.a2b_base64(
                piece if whole == len(piece) else piece[:whole], strict_mode=True
            )
        except binascii.Error:
            self._bad = True
            piece = piece.translate(None, _NOT_B64)
            whole = len(piece) - len(piece) % 4
            decoded = binascii.a2b_base64(piece[:whole])
        added = len(piece) - len(self._carry)
        self._chars += added
        self._segment += added
        self._carry = piece[whole:]
        if self._chars * 3 // 4 > self._limit:
            self._buf = None  # over the limit: stop keeping it, go on counting
            self._carry = b""
            return
        self._buf.write(decoded)

    def _end_segment(self) -> None:
        rest = self._segment % 4
        if rest == 1 or self._pad != (4 - rest) % 4:
            self._bad = True
        if self._buf is not None and rest >= 2:
            self._buf.write(binascii.a2b_base64(self._carry + b"=" * (4 - rest)))
        self._carry = b""
        self._segment = 0
        self._pad = 0

    def finish(self) -> DecodedBinary:
        self._end_segment()
        problems: list[NoticeCode] = []
        if self._bad:
            problems.append(NoticeCode.BAD_BASE64)
        size = self._chars * 3 // 4
        if self._buf is None:
            problems.append(NoticeCode.PAYLOAD_TOO_LARGE)
            return DecodedBinary(data=b"", size=size, problems=tuple(problems))
        # getvalue() hands over BytesIO's own buffer when nothing else holds it: no copy.
        data = self._buf.getvalue()
        self._buf = None
        if not data:
            problems.append(NoticeCode.EMPTY_PAYLOAD)
        return DecodedBinary(data=data, size=len(data), problems=tuple(problems))


class _SkeletonTarget:
    """lxml parser target: builds the tree through a TreeBuilder, except that the text of base64
    elements goes to a :class:`_Base64Sink`; enforces depth and element-count limits."""

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self._builder = etree.TreeBuilder()
        self._depth = 0
        self._count = 0
        self._declared: dict[str | None, str] = {}  # from start_ns(), for the next start()
        self._sink: _Base64Sink | None = None
        self._sink_element: Any = None
        self._sink_depth = 0
        self.payloads: dict[Any, DecodedBinary] = {}
        self.refused: ParseRefused | None = None

    def _refuse(self, reason: RefusalReason, detail: str = "") -> None:
        self.refused = ParseRefused(reason, detail)
        raise _Stop(reason.value)

    def doctype(self, name: str, pubid: str | None, system: str | None) -> None:
        # Called at "<!DOCTYPE name", before libxml2 reads any entity declaration.
        self._refuse(RefusalReason.DOCTYPE, name)

    def start_ns(self, prefix: str, uri: str) -> None:
        # Called for each xmlns declaration just before start() of the element that has it.
        # The target sees the default namespace under prefix "", TreeBuilder wants None.
        self._declared[prefix or None] = uri

    def end_ns(self, prefix: str) -> None:
        pass

    def start(
        self,
        tag: str,
        attrib: Mapping[str, str],
        nsmap: Mapping[str | None, str] | None = None,
    ) -> Any:
        # The declarations are taken from start_ns(), not from ``nsmap``: lxml 6.2.0 stopped
        # passing ``nsmap`` to a target without start_ns() (LP#2178248), and without them
        # TreeBuilder invents ns0/ns1 prefixes, which hides the prefixes the sender wrote.
        declared, self._declared = self._declared or None, {}
        self._depth += 1
        self._count += 1
        if self._depth > self._limits.max_depth:
            self._refuse(RefusalReason.TOO_DEEP, str(self._limits.max_depth))
        if self._count > self._limits.max_elements:
            self._refuse(RefusalReason.TOO_MANY_ELEMENTS, str(self._limits.max_elements))
        element = self._builder.start(tag, dict(attrib), declared)
        if self._sink is None and local_name(tag).lower() in BINARY_ELEMENTS:
            self._sink = _Base64Sink(self._limits.max_payload_bytes)
            self._sink_element = element
            self._sink_depth = self._depth
        return element

    def end(self, tag: str) -> Any:
        if self._sink is not None and self._depth == self._sink_depth:
            self.payloads[self._sink_element] = self._sink.finish()
            self._sink = None
            self._sink_element = None
        self._depth -= 1
        return self._builder.end(tag)

    def data(self, text: str) -> None:
        if self._sink is not None and self._depth == self._sink_depth:
            self._sink.feed(text)
        else:
            self._builder.data(text)

    def close(self) -> Any:
        return self._builder.close()


_WIDE_PROLOG = 1 * MiB  # how much of a UTF-16/32 document is transcoded for the look

# (first bytes, codec) of the encodings that are not ASCII-compatible, BOMs first.
_WIDE_ENCODINGS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00", "utf-16-le"),
    (b"\x00<", "utf-16-be"),
)


def _prolog_has_doctype(data: bytes) -> bool:
    """True when markup other than the XML declaration, comments and processing instructions
    comes before the document element, i.e. a DOCTYPE (or garbage libxml2 will reject anyway).

    Only the prolog is looked at, so "<!DOCTYPE" inside a comment or CDATA later is no reason to
    refuse. The start of a UTF-16/32 document is transcoded for the look; anything this misses
    still meets the parser target's doctype() callback.
    """
    head, pos = data, 0
    if data.startswith(codecs.BOM_UTF8):
        pos = len(codecs.BOM_UTF8)
    else:
        for start, codec in _WIDE_ENCODINGS:
            if data.startswith(start):
                head = data[:_WIDE_PROLOG].decode(codec, "replace").encode("utf-8")
                break
    while True:
        match = _SKIP_WS.match(head, pos)
        pos = match.end() if match else pos
        if head.startswith(b"<!--", pos):
            end = head.find(b"-->", pos + 4)
            if end == -1:
                return False  # unterminated comment: libxml2 reports it as malformed
            pos = end + 3
        elif head.startswith(b"<?", pos):
            end = head.find(b"?>", pos + 2)
            if end == -1:
                return False
            pos = end + 2
        else:
            return head.startswith(b"<!", pos)


_SPACED_DECLARATION = re.compile(rb"(\xef\xbb\xbf)?[ \t\r\n]+(?=<\?xml[ \t\r\n])")


def declaration_first(data: bytes) -> tuple[bytes, bool]:
    """The document with the whitespace before its XML declaration taken out (the BOM kept),
    and whether there was any. A PHP page with a blank line before `<?php` sends one, which
    XML forbids ("XML declaration allowed only at the start"); nothing else is touched."""
    m = _SPACED_DECLARATION.match(data[:4096])
    if m is None:
        return data, False
    return (m.group(1) or b"") + data[m.end():], True


def parse_hardened(data: bytes, limits: Limits) -> ParsedDocument | ParseRefused:
    """Parse untrusted bytes; never raises for bad input, never expands an entity."""
    if len(data) > limits.max_bytes:
        return ParseRefused(RefusalReason.TOO_LARGE, f"{len(data)} > {limits.max_bytes} bytes")
    if not data or data.isspace():  # isspace() does not copy 64 MiB as strip() would
        return ParseRefused(RefusalReason.EMPTY)
    if _prolog_has_doctype(data):
        return ParseRefused(RefusalReason.DOCTYPE)
    target = _SkeletonTarget(limits)
    # A new parser per call: lxml parsers are not thread-safe.
    parser = etree.XMLParser(
        target=target,
        resolve_entities=False,
        load_dtd=False,
        dtd_validation=False,
        no_network=True,
        huge_tree=False,
        remove_pis=True,
        remove_comments=True,
        collect_ids=False,
    )
    try:
        # libxml2 parses a bytes object in place (measured with the 2.14 lxml 6 ships: no copy
        # of the input), which feeding it in slices would not improve on.
        root = etree.fromstring(data, parser)
    except (_Stop, etree.LxmlError, ValueError, UnicodeError) as exc:
        if target.refused is not None:
            return target.refused
        # With a parser target the exception says little ("missing end tags"); the error log
        # has libxml2's own words and line.
        logged = [entry for entry in parser.error_log if entry.level >= etree.ErrorLevels.ERROR]
        if logged:
            message = f"{logged[0].message.strip()} (line {logged[0].line})"
        else:
            message = str(exc).strip() or type(exc).__name__
        if "Excessive depth" in message:
            return ParseRefused(RefusalReason.TOO_DEEP, message)
        return ParseRefused(RefusalReason.MALFORMED, message)
    if target.refused is not None:
        return target.refused
    if root is None:
        return ParseRefused(RefusalReason.MALFORMED, "no document element")
    return ParsedDocument(root=root, payloads=target.payloads)
