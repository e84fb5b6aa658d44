"""`text/plain; format=flowed` (RFC 3676) turned back into the lines the writer typed (pure).

Thunderbird (and Apple Mail, K-9, mutt with a flowing editor) send plain text this way: a line
longer than about 72 characters is cut at a space and the space left at the end of the line, so
that the reader's client can join it again. Read as it arrives, a clerk's `เรื่อง: …` longer
than one screen line would end at the cut, and the rest would be one more line of the clerk's
own words; the letter's subject would be amended to half of itself, without a word.

Decoding, as RFC 3676 §4 says:
- a line's quote depth is the number of `>` at its start; then one space-stuffing space goes;
- a line that ends in a space (a flowed line) is joined with the next one of the same depth;
  with `delsp=yes` that space is the writer's client's own and goes too;
- the signature separator `-- ` is never flowed; a flowed line followed by a line of another
  depth, or by the end, ends its paragraph as it is.

The result is written with quote marks again (`> `, `>> `), one paragraph a line, so that the
readers after this (a correction reply, a unit's answer, the body's fields) see what a client
showing the message shows. PyPI's only decoder (formatflowed) has had no release since 2016;
these few lines of the RFC are kept here instead.
"""

from __future__ import annotations

__all__ = ["unflow"]

SIGNATURE = "-- "


def _split(line: str) -> tuple[int, str]:
    depth = len(line) - len(line.lstrip(">"))
    text = line[depth:]
    if text.startswith(" "):  # space-stuffing (and the space after the quote marks)
        text = text[1:]
    return depth, text


def unflow(text: str, *, delsp: bool = False) -> str:
    """The paragraphs of a format=flowed body, one a line, quote marks kept (see module)."""
    out: list[str] = []
    para: list[str] = []
    para_depth = 0

    def close() -> None:
        if para:
            joined = "".join(para)
            out.append(f"{'>' * para_depth} {joined}" if para_depth else joined)
            para.clear()

    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        depth, body = _split(line)
        if para and depth != para_depth:
            close()  # an improperly flowed line: the quote depth changed under it
        para_depth = depth
        flowed = body.endswith(" ") and body != SIGNATURE
        if flowed and delsp:
            body = body[:-1]
        para.append(body)
        if not flowed:
            close()
    close()
    return "\n".join(out)
