"""PDF effects benchmark: receive stamp, signing and validation on a 10-page, ~1.3 MB
scanned letter, each against the same run's baseline of a bare pyHanko incremental
update of the same file (open, touch the catalog, write).

    .venv/bin/python bench/bench_pdf.py [--rounds N] [--smoke]

Prints the median and best of N rounds, the ratio to the baseline, and peak memory
(Python heap per operation via tracemalloc, and the process's max RSS). The issue's
target is a stamp within 3x the baseline; placing the stamp in free space (#20) adds <= 30 ms
to the fixed-corner stamp.

--smoke (CI: the benchmark must not rot): every case and the baseline once, on a 2-page
letter; the same figures and ratios are printed, the target is not checked. Any failure
exits non-zero.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from gateway.pdf.check import inspect_pdf
from gateway.pdf.sign import SignerConfig, VisibleSignature, sign_pdf
from gateway.pdf.space import choose_place, ink_map
from gateway.pdf.stamp import ReceiptStamp, StampStyle, stamp_receipt
from tests.pdfgen.documents import PdfSpec, make_pdf
from tests.pdfgen.pki import make_pki


def baseline(pdf: bytes) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    writer.update_root()  # one object, so a real revision (xref, trailer) is written
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def place(pdf: bytes) -> object:
    """What free-space placement adds to a stamp (issue #20, target <= 30 ms)."""
    ink = ink_map(pdf)
    assert ink is not None
    return choose_place(ink, 211.0, 94.0, min_scale=8 / 14, edge=28.0)


LETTERHEADS = Path(__file__).resolve().parents[1] / "tests" / "corpus" / "letterheads"


def place_letterheads(pdfs: list[bytes]) -> object:
    """Placement on every letterhead of tests/corpus/letterheads (divide by their number)."""
    return [place(pdf) for pdf in pdfs]


def measure(fn: Callable[[], object], rounds: int) -> tuple[float, float, int]:
    fn()  # warm-up: imports, font caches, first-use costs
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return statistics.median(times), min(times), peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds (default 10)")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny run for CI: 1 round on a 2-page letter, no target checked")
    args = parser.parse_args()
    if args.rounds is None:
        args.rounds = 1 if args.smoke else 10
    if args.rounds < 1:
        parser.error("--rounds must be >= 1")
    pages = 2 if args.smoke else 10

    pdf = make_pdf(PdfSpec(pages=pages, content="scan", scan_noise=True))
    pki = make_pki()
    now = dt.datetime.now(dt.UTC)
    stamp = ReceiptStamp("สำนักงานเขตพื้นที่การศึกษาทดสอบ", 1234, now)
    signer = SignerConfig(pki.agency_p12, pki.passphrase)
    visible = SignerConfig(
        pki.agency_p12, pki.passphrase, visible=VisibleSignature("นายสมชาย รักราชการ", "ผู้อำนวยการ")
    )
    signed = sign_pdf(pdf, signer, now=now)
    roots = [pki.ca_pem]
    heads = [p.read_bytes() for p in sorted(LETTERHEADS.glob("*.pdf"))]

    cases: list[tuple[str, Callable[[], object]]] = [
        ("baseline: open + empty incremental write", lambda: baseline(pdf)),
        ("stamp_receipt, fixed corner", lambda: stamp_receipt(pdf, stamp)),
        ("stamp_receipt, free space (render+search+stamp)",
         lambda: stamp_receipt(pdf, stamp, StampStyle(placement="free"))),
        ("  placement alone: render page 1 + search", lambda: place(pdf)),
        (f"  placement on the {len(heads)} letterheads (all of them)",
         lambda: place_letterheads(heads)),
        ("sign_pdf PAdES B-B, invisible", lambda: sign_pdf(pdf, signer, now=now)),
        ("sign_pdf PAdES B-B, visible Thai box", lambda: sign_pdf(pdf, visible, now=now)),
        (
            "inspect_pdf, signed (validate + page-1 text)",
            lambda: inspect_pdf(signed, trust_roots=roots, now=now),
        ),
        ("inspect_pdf, unsigned", lambda: inspect_pdf(pdf, now=now)),
    ]
    print(f"input: {len(pdf) / 1e6:.2f} MB, {pages} pages; {args.rounds} rounds, median (best)")
    base = None
    for name, fn in cases:
        median, best, peak = measure(fn, args.rounds)
        base = base or median
        print(
            f"  {name:50s} {median * 1e3:7.1f} ms ({best * 1e3:6.1f})  "
            f"x{median / base:5.2f}  peak heap {peak / 1e6:5.1f} MB"
        )
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process max RSS {rss_mb:.0f} MB")


if __name__ == "__main__":
    main()
