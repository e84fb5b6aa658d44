"""Thai line breaking for printed reports: break between words, never inside one.

Thai is written without spaces between words, so a line may break only where a word ends;
pythainlp's dictionary tokenizer (newmm, its bundled word list, no network) finds those places.
A break never falls before a combining mark or ำ, never before closing punctuation or ๆ/ฯ, never
after an opening bracket, and never inside a run of Latin letters and digits (``ศธ 04183/ว12``
breaks only at its space). A single word wider than the line is cut at
grapheme-cluster boundaries (a consonant with its marks), the only place left.

Pure apart from the tokenizer: text and a width function in, lines out. Used by
`gateway.reports.printed`; any other printed report (hand-over sheet, statistics) can use it.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable

__all__ = ["break_points", "graphemes", "is_thai", "words", "wrap"]

_NO_START = set(")]}.,:;!?%ๆฯ\u0e33")  # never at the start of a line (ำ has category Lo)
_NO_END = set("([{")  # never at the end of a line


def is_thai(ch: str) -> bool:
    """A Thai letter, vowel or mark (not a Thai digit: ``ว๑๒๓`` stays whole)."""
    return "\u0e01" <= ch <= "\u0e4f"


def _mark(ch: str) -> bool:
    return unicodedata.category(ch) in ("Mn", "Mc", "Me") or ch == "\u0e33"


@functools.lru_cache(maxsize=1)
def _tokenize() -> Callable[[str], list[str]]:
    from pythainlp.tokenize import word_tokenize

    return functools.partial(word_tokenize, engine="newmm", keep_whitespace=True)


@functools.lru_cache(maxsize=20_000)  # senders, recipients and actions repeat from row to row
def words(text: str) -> tuple[str, ...]:
    """The text cut into pieces between which a line may break (spaces are pieces of their own)."""
    if not text:
        return ()
    pieces: list[str] = []
    for token in _tokenize()(text):
        if pieces and not _may_break(pieces[-1], token):
            pieces[-1] += token
        else:
            pieces.append(token)
    return tuple(pieces)


def _may_break(before: str, after: str) -> bool:
    a, b = before[-1], after[0]
    if _mark(b) or b in _NO_START or a in _NO_END:
        return False
    if a.isspace() or b.isspace():
        return True
    return is_thai(a) and is_thai(b)


def break_points(text: str) -> set[int]:
    """Offsets in ``text`` where a line may end (the ends of the pieces of ``words``)."""
    out, at = set(), 0
    for piece in words(text):
        at += len(piece)
        out.add(at)
    return out


def graphemes(text: str) -> list[str]:
    """Base characters with the marks that follow them: the smallest pieces a word is cut into."""
    out: list[str] = []
    for ch in text:
        if out and _mark(ch):
            out[-1] += ch
        else:
            out.append(ch)
    return out


def wrap(text: str, width: float, measure: Callable[[str], float]) -> list[str]:
    """``text`` in lines no wider than ``width`` (as ``measure`` says), broken between words.

    Spaces at a break are dropped; a line break in the text is kept. Greedy, like a word
    processor: every line takes as many words as fit.
    """
    lines: list[str] = []
    for para in text.split("\n"):
        lines.extend(_wrap_line(para, width, measure))
    return lines or [""]


def _wrap_line(text: str, width: float, measure: Callable[[str], float]) -> list[str]:
    lines: list[str] = []
    line, used = "", 0.0
    for piece in words(text):
        if piece.isspace():
            if line:
                line, used = line + piece, used + measure(piece)
            continue
        w = measure(piece)
        if line.strip() and used + w > width:
            lines.append(line.rstrip())
            line, used = "", 0.0
        if used + w <= width:
            line, used = line + piece, used + w
            continue
        for g in graphemes(piece):  # one word wider than the column: cut it between graphemes
            gw = measure(g)
            if line.strip() and used + gw > width:
                lines.append(line.rstrip())
                line, used = "", 0.0
            line, used = line + g, used + gw
    if line.strip() or not lines:
        lines.append(line.rstrip())
    return lines
