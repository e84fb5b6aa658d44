"""Page text at a bounded cost: the work pypdf's extraction would do is counted before it is done.

pypdf parses a form XObject's content stream again at every `Do` that paints it, and a form
may paint other forms: a 1.9 KB file whose page 1 paints one form of 100,000 no-op operators
100 times cost two minutes of parsing (issue 19). Counting that work first costs only
decompression and a regular-expression scan of each stream, once: each form is counted once
and multiplied by how often it is painted, so nesting costs nothing to count.

A page within PAGE_TEXT_BYTES is extracted as usual. Past it, the text of the page's own
content stream is extracted without painting forms (a letter's words are there; forms are
logos and stamps); past it even without forms, there is no text (the letter is then read as
one whose text layer is missing). A letter made by office software or a browser parses 5-60 KB
for page 1.
"""

from __future__ import annotations

import logging
import re
from typing import Any

log = logging.getLogger(__name__)

PAGE_TEXT_BYTES = 1_000_000  # content bytes parsed for one page's text, forms counted per use
DECODED_BYTES = 80_000_000  # bytes decompressed to count them (each stream once)

# What pypdf looks for before parsing a stream for text (pypdf/_text_extraction): a stream
# without any of these is not parsed. More matches only count more, never less.
_TEXT_OPERATORS = (b"Tj", b"TJ", b"Do", b"'", b'"')
_DO = re.compile(rb"/([^\s/\[\]()<>{}%]*)\s*Do(?![^\s/\[\]()<>{}%])")
_HEX = re.compile(rb"#([0-9A-Fa-f]{2})")


class _TooMuch(Exception):
    pass


class _Counter:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.decoded = 0
        self.forms: dict[Any, int] = {}  # work of one painting of each form
        self.open: set[Any] = set()  # forms being counted (a cycle paints nothing: pypdf)

    def data(self, stream: Any) -> bytes:
        data: bytes = stream.get_data()
        self.decoded += len(data)
        if self.decoded > DECODED_BYTES:
            raise _TooMuch
        return data

    def content(self, data: bytes, resources: Any, *, forms: bool) -> int:
        """The work of parsing `data` for text, and of the forms it paints."""
        if not any(op in data for op in _TEXT_OPERATORS):  # bytes.find: fast
            return 0
        work = len(data)
        if work > self.limit:
            raise _TooMuch
        if forms and resources is not None:
            xobjects = _dict(resources.get("/XObject"))
            painted: dict[bytes, int] = {}
            for m in _DO.finditer(data):
                painted[m.group(1)] = painted.get(m.group(1), 0) + 1
            for name, times in painted.items():
                if xobjects is not None:
                    work += times * self.form(xobjects, "/" + _name(name))
                if work > self.limit:
                    raise _TooMuch
        return work

    def form(self, xobjects: Any, name: str) -> int:
        ref = xobjects.raw_get(name) if name in xobjects else None
        if ref is None:
            return 0
        key = (ref.idnum, ref.generation) if hasattr(ref, "idnum") else id(ref)
        if key in self.forms:
            return self.forms[key]
        if key in self.open:
            return 0
        form = ref.get_object()
        if not hasattr(form, "get_data") or form.get("/Subtype") != "/Form":
            return 0
        resources = _dict(form.get("/Resources"))
        if resources is None:  # pypdf finds no text without resources (no font)
            self.forms[key] = 0
            return 0
        self.open.add(key)
        try:
            work = self.content(self.data(form), resources, forms=True)
        finally:
            self.open.discard(key)
        self.forms[key] = work
        return work


def _dict(value: Any) -> Any:
    value = value.get_object() if value is not None and hasattr(value, "get_object") else value
    return value if isinstance(value, dict) else None


def _name(raw: bytes) -> str:
    return _HEX.sub(lambda m: bytes([int(m.group(1), 16)]), raw).decode("latin-1")


def _page_content(page: Any, counter: _Counter) -> bytes:
    contents = page.get("/Contents")
    contents = contents.get_object() if contents is not None else None
    if contents is None:
        return b""
    parts = contents if isinstance(contents, list) else [contents]
    return b"\n".join(counter.data(p.get_object()) for p in parts if hasattr(p.get_object(), "get_data"))


def text_work(page: Any, *, forms: bool = True, limit: int = PAGE_TEXT_BYTES) -> int | None:
    """Bytes of content pypdf would parse for the page's text (with or without painting its
    forms); None when that is more than `limit`, or would take decompressing too much."""
    counter = _Counter(limit)
    try:
        data = _page_content(page, counter)
        resources = _dict(page.get_inherited("/Resources", None)) if hasattr(page, "get_inherited") \
            else _dict(page.get("/Resources"))
        return counter.content(data, resources, forms=forms)
    except _TooMuch:
        return None


def page_text(page: Any) -> str:
    """pypdf's text of the page, at a cost bounded by PAGE_TEXT_BYTES of parsing."""
    if text_work(page) is not None:
        return str(page.extract_text())
    import pypdf

    if text_work(page, forms=False) is not None and hasattr(pypdf, "apply_configuration"):

        log.info("page text: its forms are too costly to read; the page's own text only")
        with pypdf.apply_configuration(xform_maximum_invocations_per_extraction=0):
            return str(page.extract_text())
    log.info("page text: too costly to read; left unread")
    return ""
