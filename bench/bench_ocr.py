"""OCR pre-fill of scanned letters (issue #20): per-letter time and subject similarity.

    .venv/bin/python bench/bench_ocr.py [--letters 6] [--smoke]

Each corpus letter (tests/corpus/producers) is "scanned" (tests/pdfgen/scans.py: page images,
no text layer), clean and noisy, at 150, 200 and 300 dpi, and read as the gateway reads a scan:
page 1's top 40 % rendered at 200 dpi and read by tesseract (gateway/pdf/ocr.py). Per scan
kind: the median and worst OCR time per letter, the median subject similarity (difflib, best
line or line pair of the OCR text against the truth), and the share of letters at >= 90 %.
``--smoke``: one letter, clean 200 dpi only. Target (issue #20): >= 90 % similarity for about
95 % of scans, 0.3–0.6 s a letter; reported, not checked.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gateway.pdf.ocr import ocr_page1, tesseract_path  # noqa: E402
from tests.pdfgen.scans import CORPUS, corpus_letters, scan_pdf  # noqa: E402


def _key(s: str) -> str:
    return "".join(s.split()).replace("\u0e4d\u0e32", "\u0e33")


def similarity(text: str, subject: str) -> float:
    import difflib

    lines = [line for line in text.splitlines() if line.strip()]
    pieces = lines + [a + b for a, b in zip(lines, lines[1:], strict=False)]
    best = 0.0
    for p in pieces:
        p = p.strip().removeprefix("เรื่อง").removeprefix("เรือง")
        best = max(best, difflib.SequenceMatcher(None, _key(p), _key(subject)).ratio())
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--letters", type=int, default=6)
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args()
    if tesseract_path() is None:
        print("tesseract is not installed (scripts/install-system-deps.sh)", file=sys.stderr)
        return 1
    letters = corpus_letters()
    # a spread of producers: every k-th letter
    step = max(1, len(letters) // max(1, args.letters))
    chosen = letters[::step][: 1 if args.smoke else args.letters]
    kinds = [(200, False)] if args.smoke else [(d, n) for n in (False, True) for d in (150, 200, 300)]
    print(f"{len(chosen)} letters; OCR of page 1's top 40 % at 200 dpi, tesseract -l tha+eng")
    print(f"{'scan':<14}{'median s':>10}{'max s':>8}{'median sim':>12}{'>= 90 %':>9}")
    for dpi, noise in kinds:
        times: list[float] = []
        sims: list[float] = []
        for i, letter in enumerate(chosen):
            scan = scan_pdf(CORPUS / str(letter["file"]), dpi=dpi, noise=noise, pages=1, seed=i)
            t0 = time.perf_counter()
            got = ocr_page1(scan)
            times.append(time.perf_counter() - t0)
            if got.skipped:
                print(f"  {letter['file']}: {got.skipped}", file=sys.stderr)
                return 1
            sims.append(similarity(got.text, str(letter["subject"])))
        good = sum(1 for s in sims if s >= 0.9) / len(sims)
        name = f"{'noisy' if noise else 'clean'} {dpi} dpi"
        print(f"{name:<14}{statistics.median(times):>10.2f}{max(times):>8.2f}"
              f"{statistics.median(sims):>12.3f}{good:>9.0%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
