"""Base64 for letter-sized MIME parts, in C with SIMD (pybase64).

Every letter crosses base64 twice: its PDF is decoded from the incoming message, and the
stamped copy filed for the clerk is encoded again. The standard library does both in about
3–5 ms per megabyte (line by line, with a validating pass); pybase64 does them in a tenth of
that. Results are byte-for-byte those of the standard library: where a part is not plain,
well-formed base64 the caller falls back to the standard library's own decoding, so its
defect reports (bad characters, bad padding) stay the same.
"""

from __future__ import annotations

import pybase64

_ALPHABET_AND_EOL = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\r\n"


def encode_lines(data: bytes) -> bytes:
    """76-character base64 lines joined by CRLF, without a final line break (RFC 2045)."""
    return pybase64.encodebytes(data).replace(b"\n", b"\r\n").rstrip(b"\r\n")


def decode_clean(text: bytes) -> bytes | None:
    """The bytes of a base64 body made only of alphabet characters and line breaks, with
    padding only at its end and a length that needs none added; None for anything else
    (the caller then decodes it the standard library's way, with its defect reports)."""
    if text.translate(None, _ALPHABET_AND_EOL):
        return None  # spaces, tabs, stray characters
    size = len(text) - text.count(b"\r") - text.count(b"\n")
    if size % 4:
        return None
    pad = text.find(b"=")
    if pad != -1 and (text[pad:].translate(None, b"=\r\n") or text.count(b"=", pad) > 2):
        return None  # padding in the middle
    return pybase64.b64decode(text, validate=False)
