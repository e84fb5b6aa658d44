"""Embedded files: MIME code through the code list, and text/plain decoded to str.

Text files inside letters have been seen in TIS-620 (docs/xml.md): a declared charset is tried
first, then UTF-8, then cp874 (Windows-874, the superset of TIS-620 Python knows; "windows-874"
itself is not a Python codec name, domain.md §7).
"""

from __future__ import annotations

import codecs
from typing import Any

from .hardened import DecodedBinary, local_name
from .model import BinaryPayload, NoticeCode, PayloadRole, Variant
from .resources import CodeList
from .walk import ReadContext, path_of

__all__ = ["decode_text", "mime_base", "read_payload"]

_CHARSET_ALIASES = {
    "windows-874": "cp874",
    "x-windows-874": "cp874",
    "tis-620": "cp874",
    "tis620": "cp874",
    "iso-8859-11": "cp874",
    "cp874": "cp874",
}
_EMPTY = DecodedBinary(data=b"", size=0, problems=(NoticeCode.EMPTY_PAYLOAD,))


def mime_base(mime_code: str) -> str:
    """``Text/Plain; charset=TIS-620`` → ``text/plain``."""
    return mime_code.partition(";")[0].strip().lower()


def _declared_charset(mime_code: str) -> str | None:
    for parameter in mime_code.split(";")[1:]:
        key, _, value = parameter.partition("=")
        if key.strip().lower() == "charset":
            name = value.strip().strip("\"'").lower()
            name = _CHARSET_ALIASES.get(name, name)
            try:
                return codecs.lookup(name).name
            except LookupError:
                return None
    return None


def decode_text(data: bytes, mime_code: str) -> tuple[str, str, bool]:
    """(text, codec used, lossy). A BOM wins; then the declared charset, UTF-8, cp874."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8", "replace"), "utf-8", False
    if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return data.decode("utf-16", "replace"), "utf-16", False
    candidates = [_declared_charset(mime_code), "utf-8", "cp874"]
    for encoding in candidates:
        if encoding is None:
            continue
        try:
            return data.decode(encoding), encoding, False
        except UnicodeDecodeError:
            continue
    return data.decode("cp874", "replace"), "cp874", True


def _mime_attribute(ctx: ReadContext, element: Any) -> str:
    for key, value in element.attrib.items():
        if local_name(key).lower() == "mimecode":
            if key != "mimeCode":
                ctx.flag(Variant.ELEMENT_NAME_CASE, path_of(element), f"@{key} → @mimeCode")
            return str(value)
    return ""


def read_payload(
    ctx: ReadContext,
    element: Any,
    decoded: DecodedBinary | None,
    role: PayloadRole,
    index: int,
    mime_codes: CodeList,
) -> BinaryPayload:
    path = path_of(element)
    decoded = decoded or _EMPTY
    mime_code = _mime_attribute(ctx, element)
    base = mime_base(mime_code)
    mime = mime_codes.lookup(mime_code, base)
    if not base:
        ctx.flag(Variant.EMPTY_ELEMENTS, path, "@mimeCode")
    elif not mime.known:
        ctx.flag(NoticeCode.UNKNOWN_CODE, path, f"mime {mime_code.strip()!r}")
    for problem in decoded.problems:
        ctx.flag(problem, path, f"{local_name(element.tag)} ({decoded.size} bytes)")
    text = encoding = None
    if base == "text/plain" and decoded.data:
        text, encoding, lossy = decode_text(decoded.data, mime_code)
        if lossy:
            ctx.flag(NoticeCode.TEXT_LOSSY, path, local_name(element.tag))
    return BinaryPayload(
        role=role,
        index=index,
        mime_code=mime_code,
        mime=mime,
        data=decoded.data,
        size=decoded.size,
        text=text,
        text_encoding=encoding,
        problems=decoded.problems,
    )
