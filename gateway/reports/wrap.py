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

__all__ = ["break_points", "graphemes", "is_thai", "pieces", "words", "wrap"]

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


@functools.lru_cache(maxsize=4096)  # senders, recipients and actions repeat from row to row
def pieces(text: str) -> tuple[tuple[str, ...], ...]:
    """The text cut into pieces between which a line may break, each as the tokenizer's words
    it holds (a space is a piece of its own). A piece too wide for a line is broken between
    those words first."""
    if not text:
        return ()
    out: list[list[str]] = []
    for token in _tokenize()(text):
        if out and not _may_break(out[-1][-1], token):
            out[-1].append(token)
        else:
            out.append([token])
    return tuple(tuple(p) for p in out)


def words(text: str) -> tuple[str, ...]:
    """The pieces of ``pieces`` as strings."""
    return tuple("".join(p) for p in pieces(text))


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
        if measure(para) <= width:  # most cells fit on one line: no need to find the words
            lines.append(para.strip())
        else:
            lines.extend(_wrap_line(para, width, measure))
    return lines or [""]


def _wrap_line(text: str, width: float, measure: Callable[[str], float]) -> list[str]:
    lines: list[str] = []
    line, used = "", 0.0

    def put(part: str, w: float) -> bool:
        """Add ``part`` to the line, or to a new one; False if it fits no line at all."""
        nonlocal line, used
        if line.strip() and used + w > width:
            lines.append(line.rstrip())
            line, used = "", 0.0
        if used + w > width:
            return False
        line, used = line + part, used + w
        return True

    for piece in pieces(text):
        whole = "".join(piece)
        if whole.isspace():
            if line:
                line, used = line + whole, used + measure(whole)
            continue
        if put(whole, measure(whole)):
            continue
        for token in piece:  # wider than a line: between the tokenizer's words, then
            if put(token, measure(token)):
                continue
            for g in graphemes(token):  # a single word wider than a line: between graphemes
                gw = measure(g)
                if line.strip() and used + gw > width:
                    lines.append(line.rstrip())
                    line, used = "", 0.0
                line, used = line + g, used + gw
    if line.strip() or not lines:
        lines.append(line.rstrip())
    return lines
