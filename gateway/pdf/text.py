"""Page 1 of a letter as text, read so that Thai comes out right (#19).

No single extractor reads every producer's Thai: pypdf ignores /ActualText (LibreOffice's า),
PDFium splits a shaped cluster over two glyphs (Chromium's `ชี้แชี้จง`) and inserts spaces after
ำ, poppler's pdftotext gives a space for an unmapped glyph. So page 1 is read by each of them
that is there: pypdf, PDFium (pypdfium2, text only, never rendered) and, where the binary is
installed, `pdftotext -raw` (optional, bounded in time, no shell). Each reading is repaired
(`core.thaifix`); then, line by line in PDFium's top-to-bottom order, the reading with the
fewest flaws (junk, odd spelling), then the fewest Thai letters outside dictionary words
(pythainlp's bundled word list, the best cut as a maximal-matching tokenizer finds it; no
download, and no 1 s trie build as pythainlp's own tokenizer needs), then the most extractors
agreeing is kept. Lines a layout broke inside a word are joined again.
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
import os
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Sequence
from difflib import SequenceMatcher

from gateway.core.extract.words import SECRECY_WORDS, class_token
from gateway.core.thaifix import CONSONANT, flaws, join_broken_lines, repair_page
from gateway.pdf.pdfium import LOCK as PDFIUM_LOCK

__all__ = ["first_page_text", "unknown_letters"]

log = logging.getLogger(__name__)

PDFTOTEXT_SECONDS = 5.0  # pdftotext on one page; past it the reading is left out
_THAI_RUN = re.compile("[\u0e01-\u0e4e]+")


# --- the dictionary ---------------------------------------------------------------------------

LONGEST_WORD = 30  # letters; the few longer entries of the word list are compounds


@functools.cache
def _dictionary() -> frozenset[str]:
    # pythainlp makes ~/pythainlp-data at import unless read-only; its word list is bundled
    # in the package, nothing is downloaded.
    os.environ.setdefault("PYTHAINLP_READ_ONLY", "1")
    from pythainlp.corpus.common import thai_words

    return frozenset(w for w in thai_words() if len(w) <= LONGEST_WORD)


@functools.lru_cache(maxsize=4096)
def _unknown_run(run: str) -> int:
    """The fewest letters of a Thai run left outside words in any cut of it into dictionary
    words of two letters or more (the best cut, as a maximal-matching tokenizer finds it)."""
    words = _dictionary()
    best = [0] * (len(run) + 1)
    for i in range(1, len(run) + 1):
        best[i] = best[i - 1] + 1
        for j in range(max(0, i - LONGEST_WORD), i - 1):
            if best[j] < best[i] and run[j:i] in words:
                best[i] = best[j]
    return best[-1]


def unknown_letters(text: str) -> int:
    """Thai characters of `text` that fall outside the words of the dictionary."""
    return sum(_unknown_run(r) for r in _THAI_RUN.findall(text))


def misspelt_share(text: str, least: int = 200) -> float:
    """The share of the Thai letters of a page that fall outside dictionary words; 0 for a page
    with fewer than `least` of them (too little to judge). A letter's page is typed Thai, nearly
    all in words (names and places aside: under 3 % in the producer corpus); a text layer that
    lost a vowel in a conversion (every า of a LibreOffice letter printed again through cairo)
    leaves 8 to 12 %."""
    thai = sum(len(r) for r in _THAI_RUN.findall(text))
    return unknown_letters(text) / thai if thai >= least else 0.0


# --- the readings -----------------------------------------------------------------------------

_MARK_CHARS = frozenset("\u0e31\u0e34\u0e35\u0e36\u0e37\u0e38\u0e39\u0e3a\u0e47\u0e48\u0e49"
                        "\u0e4a\u0e4b\u0e4c\u0e4d\u0e4e")


def _pdfium(pdf: bytes) -> str:
    """PDFium's text of page 1, its lines sorted top to bottom.

    PDFium makes up spaces and line breaks from glyph positions, and Thai marks (drawn above
    or below, sometimes far off) mislead it: a made-up space that overlaps the glyph before it
    (after ำ, inside a cluster) is left out, and so is a made-up line break when the letters on
    both sides stand on the same line."""
    try:
        import pypdfium2 as pdfium
        import pypdfium2.raw as raw
    except ImportError:  # pragma: no cover - a dependency; the other readings still count
        return ""
    with PDFIUM_LOCK:
        try:
            doc = pdfium.PdfDocument(pdf)
        except Exception as exc:  # noqa: BLE001 - PDFium cannot open what pyHanko did
            log.info("PDFium cannot open the PDF: %r", exc)
            return ""
        try:
            if len(doc) < 1:
                return ""
            try:  # a page pypdf reads but PDFium cannot load: the other readings count
                page = doc[0]
            except Exception as exc:  # noqa: BLE001
                log.info("PDFium cannot load page 1: %r", exc)
                return ""
            try:
                textpage = page.get_textpage()
            except Exception as exc:  # noqa: BLE001
                page.close()
                log.info("PDFium cannot read the text of page 1: %r", exc)
                return ""
            try:
                n = textpage.count_chars()
                text = textpage.get_text_range(0, n) if n > 0 else ""
                if len(text) != n:  # not one character per index: take the text as it is
                    return text
                across = _across(text, [raw.FPDFText_GetCharAngle(textpage.raw, i) for i in range(n)])
                chars = [(c, textpage.get_charbox(i),
                          c in " \r\n" and raw.FPDFText_IsGenerated(textpage.raw, i) == 1)
                         for i, c in enumerate(text) if i not in across]
            finally:
                textpage.close()
                page.close()
        finally:
            doc.close()
    mark = _secrecy_across("".join(text[i] for i in sorted(across)))
    return f"{mark}\n{_layout(chars)}" if mark else _layout(chars)


_SLANT = math.radians(10)  # further than this from upright or a right angle: slanted


def _turn(angle: float) -> int | None:
    """A character's angle (PDFium's, radians) as quarter turns, 0-3; None when it stands at a
    slant, -1 when PDFium does not know it."""
    if angle < 0:
        return -1
    off = angle % (math.pi / 2)
    if _SLANT < off < math.pi / 2 - _SLANT:
        return None
    return round(angle / (math.pi / 2)) % 4


def _across(text: str, angles: Sequence[float]) -> set[int]:
    """The characters written across the page, not along its lines: at a slant (a watermark,
    LibreOffice's tiled "ใช้ภายในเท่านั้น") or turned from the way most of the page's text runs
    (a single watermark, a note up the margin). PDFium would mix them into the letter's lines.
    An OCR layer a few degrees askew, and a page whose whole text is turned, stay. A space or
    line break goes with them when the characters on both sides of it do."""
    turns = [_turn(a) for a in angles]
    counted = Counter(t for c, t in zip(text, turns, strict=False) if t is not None and t >= 0
                      and not c.isspace())
    main = counted.most_common(1)[0][0] if counted else 0
    out = {i for i, (c, t) in enumerate(zip(text, turns, strict=False))
           if not c.isspace() and (t is None or t not in (-1, main))}
    solid = [i for i, c in enumerate(text) if not c.isspace()]
    for before, after in itertools.pairwise(solid):
        if before in out and after in out:
            out.update(range(before + 1, after))
    return out


def _secrecy_across(text: str) -> str:
    """The highest secrecy word written across the page ("" when none): a watermark "ลับ" is
    left out of the lines, but the letter stays as secret as it shows (a line of its own at the
    top, where the extraction reads class stamps)."""
    # words apart, and all as one (PDFium breaks a turned word after each letter); a tiled
    # watermark is the word again and again (ลับลับลับ…): its one word is read
    tokens = [*text.split(), "".join(text.split())]
    words = [class_token(m[1] if (m := _REPEATED.fullmatch(t)) else t) for t in tokens]
    found = [w for w in words if w in SECRECY_WORDS and SECRECY_WORDS[w].rank > 0]
    return max(found, key=lambda w: SECRECY_WORDS[w].rank, default="")


_REPEATED = re.compile(r"(.+?)\1+")

Box = tuple[float, float, float, float]


_RAW_BREAK = {"\r": "\x1d", "\n": "\x1e"}  # raw glyph codes, not line breaks: junk to repair
_SARA_AM = "\u0e33"
_ROOM = 0.15  # of a glyph's height: a gap narrower than this holds no space


def _typed_spaces(chars: Sequence[tuple[str, Box, bool]]) -> list[tuple[float, float]]:
    """(bottom of the next letter, gap) of every space the producer typed as a glyph: on a
    justified line these show how wide a real space between words is there."""
    out = []
    for k, (c, _, made_up) in enumerate(chars):
        if c != " " or made_up:
            continue
        before = next((b for x, b, _ in reversed(chars[:k]) if not x.isspace() and x not in _MARK_CHARS),
                      None)
        after = next((b for x, b, _ in chars[k + 1:k + 8] if not x.isspace()), None)
        if before is not None and after is not None:
            out.append((after[1], after[0] - before[2]))
    return out


_STRETCH = 0.45  # a made-up gap under this share of the line's typed spaces is justification


def _no_room(line: Sequence[str], chars: Sequence[tuple[str, Box, bool]], at: int,
             right: float, typed: Sequence[tuple[float, float]] = ()) -> bool:
    """Whether a space PDFium made up stands where none was typed: right after ำ (the gap is
    its unmapped second glyph, า), or where the next glyph starts less than a sliver right of
    the last letter (`right`). PDFium's box of a made-up space is no evidence (Chromium's
    stands over the cluster before it); the gap between the glyphs on both sides is."""
    before = next((c for c in reversed(line) if not c.isspace()), "")
    if before == _SARA_AM:
        return True
    nxt = next((box for c, box, _ in itertools.islice(chars, at, None) if not c.isspace()), None)
    if nxt is None:
        return False
    x0, y0, _, y1 = nxt
    if x0 - right < _ROOM * max(y1 - y0, 1.0):
        return True
    # a line that types its spaces as glyphs (LibreOffice) and is stretched to the margin: a
    # gap PDFium takes for a space but much narrower than the typed ones is stretching
    widths = [gap for bottom, gap in typed if abs(bottom - y0) < 2.0 and gap > 0]
    return bool(widths) and x0 - right < _STRETCH * min(widths)


def _layout(chars: Sequence[tuple[str, Box, bool]]) -> str:
    """Lines from PDFium's characters (text, box, made up by PDFium), top to bottom."""
    lines: list[tuple[float, int, str]] = []  # (baseline, order, text)
    typed = _typed_spaces(chars)
    line: list[str] = []
    low: list[float] = []  # bottoms of the line's letters (marks aside)
    right: float | None = None

    def bottom_of_next(k: int) -> float | None:
        for c, box, _ in chars[k:]:
            if not c.isspace() and c not in _MARK_CHARS:
                return box[1]
        return None

    def same_line(y: float | None) -> bool:
        return y is not None and bool(low) and abs(y - sorted(low)[len(low) // 2]) < 2.0

    for k, (c, (_, y0, x1, _), made_up) in enumerate(chars):
        if c in "\r\n" and not made_up:  # a glyph whose raw code is CR/LF (ำ's second half)
            line.append(_RAW_BREAK[c])
            continue
        if c in "\r\n":
            if same_line(bottom_of_next(k + 1)):
                continue
            if line:
                lines.append((sorted(low)[len(low) // 2] if low else 0.0, len(lines),
                              "".join(line)))
            line, low, right = [], [], None
            continue
        if c == " " and made_up and right is not None and _no_room(line, chars, k + 1, right, typed):
            continue
        if c not in _MARK_CHARS and not c.isspace():
            low.append(y0)
            right = x1
        line.append(c)
    if line:
        lines.append((sorted(low)[len(low) // 2] if low else 0.0, len(lines), "".join(line)))
    # PDF y grows upwards; lines whose baselines are within 2 pt keep the content order
    groups: list[list[tuple[float, int, str]]] = []
    for t in sorted(lines, key=lambda t: (-t[0], t[1])):
        if groups and groups[-1][0][0] - t[0] < 2.0:
            groups[-1].append(t)
        else:
            groups.append([t])
    return "\n".join(s for g in groups for _, _, s in sorted(g, key=lambda t: t[1]))


def _pdftotext(pdf: bytes) -> str:
    exe = shutil.which("pdftotext")
    if exe is None:
        return ""
    try:
        done = subprocess.run([exe, "-raw", "-f", "1", "-l", "1", "-q", "-", "-"], input=pdf,
                              capture_output=True, timeout=PDFTOTEXT_SECONDS, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        log.info("pdftotext failed: %r", exc)
        return ""
    if done.returncode != 0:
        return ""
    return done.stdout.decode("utf-8", "replace")


# --- one reading of page 1 -------------------------------------------------------------------

_SKELETON = re.compile(f"[^{CONSONANT}0-9A-Za-z\u0e50-\u0e59]")


def _skeleton(line: str) -> str:
    """What every extractor agrees on: consonants, digits and Latin letters."""
    return _SKELETON.sub("", line)


def _align(base: Sequence[str], other: Sequence[str]) -> list[str | None]:
    """For each line of `base`, the line of `other` that reads the same text, if any."""
    a, b = [_skeleton(x) for x in base], [_skeleton(x) for x in other]
    out: list[str | None] = [None] * len(base)
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            for k in range(i2 - i1):
                out[i1 + k] = other[j1 + k]
        elif tag == "replace":
            for i in range(i1, i2):
                scored = [(SequenceMatcher(None, a[i], b[j], autojunk=False).ratio(), j)
                          for j in range(j1, j2)]
                best = max(scored, default=(0.0, -1))
                if best[0] >= 0.75:
                    out[i] = other[best[1]]
    return out


def _rank(options: Sequence[str], k: int) -> tuple[int, int, int, int]:
    o = options[k]
    keys = [x.replace(" ", "") for x in options]
    return (flaws(o), unknown_letters(o), -keys.count(keys[k]), k)


def _best(options: Sequence[str]) -> tuple[str, bool]:
    """The reading of one line to keep: fewest flaws, fewest letters outside the dictionary,
    most extractors agreeing (letters only, spaces aside), then the first; and whether it is
    in doubt (flawed, or tied with a different reading: another extractor would decide)."""
    if len(set(options)) == 1:
        return options[0], flaws(options[0]) > 0
    ranks = sorted((_rank(options, k), k) for k in range(len(options)))
    (top, k), rest = ranks[0], ranks[1:]
    tied = any(r[:3] == top[:3] and options[j].replace(" ", "") != options[k].replace(" ", "")
               for r, j in rest)
    return _am_space(options[k], options), top[0] > 0 or tied


_AM_SPACE = re.compile(f"\u0e33 (?=[{CONSONANT}\u0e40-\u0e44])")


def _am_space(line: str, options: Sequence[str]) -> str:
    """`line` without the spaces after ำ that another reading of it does not have: poppler
    gives a space for ำ's unmapped second glyph (fpdf2: `ผู้อำ นวยการ`)."""
    if _AM_SPACE.search(line) and any(not _AM_SPACE.search(o) and "\u0e33" in o for o in options):
        return _AM_SPACE.sub("\u0e33", line)
    return line


def combine(readings: Sequence[str]) -> tuple[list[str], bool]:
    """Repaired lines of page 1 from several readings (the first, if any, gives the order),
    and whether any line is in doubt."""
    pages = [repair_page(r) for r in readings]
    pages = [p for p in pages if p]
    if not pages:
        return [], False
    base, others = pages[0], pages[1:]
    aligned = [_align(base, o) for o in others]
    chosen = [_best([line, *(x for x in (a[i] for a in aligned) if x is not None)])
              for i, line in enumerate(base)]
    lines = join_broken_lines([c for c, _ in chosen], unknown_letters)
    return lines, any(doubt for _, doubt in chosen)


def first_page_text(pdf: bytes, pypdf_text: str, *, poppler: bool = True,
                    others: bool = True) -> str:
    """Page 1 of `pdf` as lines of clean Thai, top to bottom ("" when nothing reads it).

    `pypdf_text` is pypdf's reading of the same page (gateway.pdf.check). pdftotext is asked
    only when PDFium's and pypdf's readings leave a line in doubt, and only with `poppler`.
    `others=False`: only pypdf's bounded reading is used — for a page whose content is too
    costly to read in full (gateway/pdf/textwork.py): PDFium and poppler would paint every form
    of it, and forms nested ten deep exhaust the machine's memory (issue 19)."""
    if not others:
        lines, _ = combine([pypdf_text])
        return "\n".join(lines)
    readings = [_pdfium(pdf), pypdf_text]
    lines, doubt = combine(readings)
    if doubt and poppler:
        poppler_text = _pdftotext(pdf)
        if poppler_text:
            lines, _ = combine([readings[0], poppler_text, readings[1]])
    return "\n".join(lines)
