"""Attachment names and types: a stored name that never becomes a path, a type that says what
the bytes are (pure).

Agencies send PDFs as ``application/octet-stream`` and name them in Thai, with Windows device
names, bidi overrides or path separators at times; what is kept and shown is made safe here.
"""

from __future__ import annotations

import re
import unicodedata

from gateway.letter import GENERIC_TYPES

__all__ = ["effective_type", "safe_filename", "type_by_name"]

_MAX_SAFE_NAME_BYTES = 150  # UTF-8 bytes; leaves room under the usual 255-byte file name limit
_PDF_MAGIC = b"%PDF-"
# Types that say nothing about the content; sniffing may replace them (agencies send PDFs as these).
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
_WINDOWS_RESERVED = re.compile(r"(?i)(?:con|prn|aux|nul|com[0-9]|lpt[0-9])")
_NAME_PUNCTUATION = frozenset(" ._-()[]+,&'~#@=!")
_EXTENSION = re.compile(r"[A-Za-z0-9]{1,10}")


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
    if content_type in _EXTENSION_BY_TYPE and content_type not in GENERIC_TYPES:
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


def effective_type(declared: str, filename: str | None, data: bytes) -> str:
    """The declared type, unless it is a generic one and the bytes or name say better."""
    if declared not in GENERIC_TYPES:
        return declared
    if _PDF_MAGIC in data[:1024]:
        return "application/pdf"
    return type_by_name(filename, declared)


def type_by_name(name: str | None, default: str) -> str:
    """The type a file name's extension stands for, else ``default``."""
    if name and "." in name:
        return _TYPE_BY_EXTENSION.get(name.rsplit(".", 1)[1].lower(), default)
    return default
