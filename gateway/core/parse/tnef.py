"""Outlook's ``winmail.dat`` (TNEF, ``application/ms-tnef``): the files and body inside (pure).

Outlook sends a rich-text message's attachments and body inside one TNEF part. Unpacked, its
files become attachments and its body a text; a winmail.dat that cannot be read is kept as a file.
"""

from __future__ import annotations

from dataclasses import dataclass

import tnefparse

from gateway.core.parse.names import type_by_name
from gateway.thai import decode_thai

__all__ = ["Winmail", "is_tnef", "unpack_winmail"]

_MAX_TNEF_BYTES = 64 * 1024 * 1024
_TNEF_SIGNATURE = b"\x78\x9f\x3e\x22"
_TNEF_TYPES = frozenset({"application/ms-tnef", "application/vnd.ms-tnef"})


@dataclass(frozen=True)
class Winmail:
    """What a winmail.dat held: (name, declared type, bytes) per file, and its body."""

    files: tuple[tuple[str | None, str, bytes], ...]
    text: str | None
    html: str | None


def is_tnef(content_type: str, data: bytes, filename: str | None) -> bool:
    """A part that is TNEF by its type, its magic number or Outlook's name for it."""
    return (
        content_type in _TNEF_TYPES
        or data[:4] == _TNEF_SIGNATURE
        or (filename or "").lower() == "winmail.dat"
    )


def unpack_winmail(data: bytes, defects: list[str]) -> Winmail | None:
    """Unpack winmail.dat into files (and a body); None, with a defect, when it cannot be read."""
    if len(data) > _MAX_TNEF_BYTES:
        defects.append("winmail.dat too large to unpack; kept as a file")
        return None
    try:
        tnef = tnefparse.TNEF(data, do_checksum=False)
        items = [(_tnef_name(a, tnef.codepage), bytes(a.data or b"")) for a in tnef.attachments]
        body = tnef.body
        html = tnef.htmlbody
    # Library boundary: tnefparse walks attacker-controlled offsets and raises whatever the
    # slicing and struct code hits (struct.error, IndexError, ValueError, UnicodeError, …).
    except Exception as exc:  # noqa: BLE001
        defects.append(f"winmail.dat could not be read ({type(exc).__name__}); kept as a file")
        return None
    items = [(name, payload) for name, payload in items if payload or name]
    if not items and not body and not html:
        defects.append("winmail.dat could not be read (nothing in it); kept as a file")
        return None
    files = tuple(
        (name, type_by_name(name, "application/octet-stream"), payload) for name, payload in items
    )
    return Winmail(files, _body(body, tnef.codepage), _body(html, tnef.codepage))


def _body(value: object, codepage: str | None) -> str | None:
    if isinstance(value, bytes):
        value = decode_thai(value.rstrip(b"\x00"), codepage)
    if isinstance(value, str) and value.strip():
        return value.rstrip("\x00").replace("\r\n", "\n")
    return None


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
