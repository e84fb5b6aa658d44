"""Hostile PDFs for page-1 reading: small files that cost a naive text extractor minutes.

Written byte by byte (objects, xref, trailer), deterministic, no library involved: each file
is valid PDF that any viewer opens. Page 1 always shows one line of its own, HOSTILE_TEXT, so
a reader that skips the hostile part still finds the page's own words.

- `form_calls`: page 1 paints one form XObject `calls` times; the form holds one text line
  and `form_noops` no-op path operators (issue 19: 100 calls x 100,000 no-ops, 1.7 KB, took
  pypdf two minutes, because it parses the form again at every call).
- `nested_forms`: form 0 paints form 1 `fanout` times, which paints form 2 `fanout` times …
  `depth` levels: fanout ** depth paintings from a few hundred bytes.
- `noop_page`: page 1's own content is `noops` no-op operators around its text line.
"""

from __future__ import annotations

import io
import zlib

HOSTILE_TEXT = "HOSTILE PAGE ONE"
_TEXT = b"BT /F1 12 Tf 72 760 Td (" + HOSTILE_TEXT.encode() + b") Tj ET\n"
_FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
_NOOP = b"0 0 m\n"  # a move-to that is never painted


def _stream(entries: bytes, data: bytes) -> bytes:
    packed = zlib.compress(data, 9)
    return (b"<< " + entries + b" /Filter /FlateDecode /Length %d >>\nstream\n" % len(packed)
            + packed + b"\nendstream")


def _form(data: bytes, xobjects: bytes = b"") -> bytes:
    resources = b"/Font << /F1 3 0 R >>" + (b" /XObject << " + xobjects + b" >>" if xobjects else b"")
    return _stream(b"/Type /XObject /Subtype /Form /BBox [0 0 595 842] /Resources << "
                   + resources + b" >>", data)


def _pdf(page_content: bytes, forms: list[bytes], page_xobjects: bytes = b"") -> bytes:
    """Objects: 1 catalog, 2 pages, 3 font, 4 page, 5 its content, 6… the forms."""
    resources = b"/Font << /F1 3 0 R >>" + (b" /XObject << " + page_xobjects + b" >>"
                                            if page_xobjects else b"")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
        _FONT,
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 5 0 R /Resources << "
        + resources + b" >> >>",
        _stream(b"", page_content),
        *forms,
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.writelines(b"%010d 00000 n \n" % o for o in offsets)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
              % (len(objects) + 1, xref))
    return out.getvalue()


def form_calls(calls: int = 100, form_noops: int = 100_000) -> bytes:
    form = b"BT /F1 10 Tf 72 100 Td (form) Tj ET\n" + _NOOP * form_noops
    return _pdf(_TEXT + b"q /X0 Do Q\n" * calls, [_form(form)], b"/X0 6 0 R")


def nested_forms(depth: int = 12, fanout: int = 10) -> bytes:
    forms = []
    for level in range(depth):
        inner = b"BT /F1 10 Tf 72 100 Td (level %d) Tj ET\n" % level
        if level + 1 < depth:
            inner += b"q /X Do Q\n" * fanout
            forms.append(_form(inner, b"/X %d 0 R" % (6 + level + 1)))
        else:
            forms.append(_form(inner))
    return _pdf(_TEXT + b"q /X Do Q\n" * fanout, forms, b"/X 6 0 R")


def noop_page(noops: int = 2_000_000) -> bytes:
    half = _NOOP * (noops // 2)
    return _pdf(half + _TEXT + half, [])
