"""Benchmark: read + validate a CorrespondenceLetter XML carrying a 5 MB PDF (issue 5).

    .venv/bin/python bench/bench_xml.py [--payload-mb 5] [--repeat 7] [--smoke]

Builds an ECMS letter whose MainLetterBinaryObject is a 5 MB "PDF" (random bytes behind a %PDF
header, base64 in the XML), then measures, each in a fresh subprocess so the numbers do not mix:

- ``fromstring``: plain ``lxml.etree.fromstring(data)`` on the same bytes: the baseline;
- ``naive``: ``fromstring`` + ``base64.b64decode(element.text)``: what a straightforward reader
  costs, for context;
- ``read``: ``gateway.xmlletter.read_letter_xml(data)``: hardened parse, lenient read, base64
  decoded on the fly, strict XSD validation (the result kept alive until measured);
- ``validate``: ``gateway.xmlletter.validate_xml(data)`` alone.

Time is the median of ``--repeat`` runs. Memory is reported two ways, because they see different
things:

- peak RSS above the RSS just before the call, which includes libxml2's C allocations. The
  kernel's high-water mark is reset first (``echo 5 > /proc/self/clear_refs``, Linux) and read
  back as VmHWM after the call, so warm-up and loading do not mask the figure. The input bytes
  are already in memory before the call and are not counted; the summary line adds them back;
- the ``tracemalloc`` peak, which sees Python allocations only (libxml2's are invisible to it, so
  the baseline's figure is near zero and not a fair denominator).

The issue's target: peak memory under 4x the payload size.

``--smoke`` (CI: the benchmark must not rot): every operation in every mode, each in its own
subprocess as above, on a 0.25 MiB payload, once, with a time limit per subprocess; the same
table and ratio are printed, the target is reported, not checked. Any failure (a child's too,
with its stderr) exits non-zero.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import date, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MB = 1024 * 1024
TARGET_RATIO = 4.0
CHILD_TIMEOUT = 600.0  # seconds per measuring subprocess; --smoke: SMOKE_CHILD_TIMEOUT
SMOKE_CHILD_TIMEOUT = 60.0


def build_sample(payload_bytes: int) -> tuple[bytes, int]:
    from gateway.xmlletter import OutgoingFile, OutgoingXmlLetter, Party, build_letter_xml

    pdf = b"%PDF-1.7\n" + os.urandom(payload_bytes - 9)
    letter = OutgoingXmlLetter(
        letter_id="ศธ 04183/ว1891",
        correspondence_date=date(2023, 6, 20),
        subject="ขอเชิญประชุมคณะทำงาน & ผู้เกี่ยวข้อง",
        speed_code="002",
        sender=Party(ministry_id="20", department_id="2004183"),
        receiver=Party(ministry_id="00", department_id="0031500001"),
        send_date=datetime(2023, 6, 20, 9, 30),
        main_letter=OutgoingFile("application/pdf", pdf),
    )
    return build_letter_xml(letter, dialect="ecms"), len(pdf)


def _status(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) * 1024  # kB
    raise KeyError(key)


def _reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def _operation(name: str) -> Any:
    import base64

    from lxml import etree

    from gateway.xmlletter import RAM_NS, read_letter_xml, validate_xml

    def naive(data: bytes) -> Any:
        root = etree.fromstring(data)
        element = root.find(f".//{{{RAM_NS}}}MainLetterBinaryObject")
        return root, base64.b64decode(element.text)

    def read(data: bytes) -> Any:
        result = read_letter_xml(data)
        if not (result.valid and result.letter is not None and result.letter.main_letter):
            raise SystemExit(f"read_letter_xml: not a valid letter with its PDF: {result!r}"[:2000])
        return result

    def validate(data: bytes) -> Any:
        report = validate_xml(data)
        if not report.valid:
            raise SystemExit(f"validate_xml: not valid: {report!r}"[:2000])
        return report

    return {"fromstring": etree.fromstring, "naive": naive, "read": read, "validate": validate}[
        name
    ]


def child(name: str, mode: str, path: str, repeat: int) -> dict[str, float]:
    """Run in a fresh interpreter: warm up on a small letter, then measure one thing."""
    operation = _operation(name)
    small, _ = build_sample(4096)
    operation(small)  # imports, schema compilation, code lists: not part of the measurement
    data = Path(path).read_bytes()
    if mode == "rss":
        reset = _reset_peak_rss()
        before = _status("VmRSS:")
        peak_before = (
            _status("VmHWM:")
            if reset
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        )
        result = operation(data)
        peak = _status("VmHWM:")
        del result
        # Without a reset, an earlier higher peak would hide (or inflate) the delta: say so.
        return {"rss_delta": peak - before, "masked": float(peak_before > before + MB)}
    if mode == "trace":
        tracemalloc.start()
        result = operation(data)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del result
        return {"trace_peak": peak}
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = operation(data)
        times.append(time.perf_counter() - start)
        del result
    return {"seconds": statistics.median(times)}


def measure(name: str, path: Path, repeat: int, timeout: float) -> dict[str, float]:
    out: dict[str, float] = {}
    for mode in ("rss", "trace", "time"):
        what = f"child {name} {mode}"
        try:
            proc = subprocess.run(
                [sys.executable, __file__, "--child", name, mode, str(path), str(repeat)],
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:  # run() has killed it
            raise SystemExit(f"{what}: no result within {timeout:.0f} s") from exc
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr)
            raise SystemExit(f"{what} failed (exit {proc.returncode})")
        out.update(json.loads(proc.stdout))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--payload-mb", type=float, default=None, help="default 5")
    parser.add_argument("--repeat", type=int, default=None, help="default 7")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny run for CI: 0.25 MiB payload, 1 run, every operation and mode")
    parser.add_argument("--child", nargs=4, metavar=("OP", "MODE", "PATH", "REPEAT"))
    args = parser.parse_args()
    if args.child:
        name, mode, path, repeat = args.child
        print(json.dumps(child(name, mode, path, int(repeat))))
        return
    if args.payload_mb is None:
        args.payload_mb = 0.25 if args.smoke else 5.0
    if args.repeat is None:
        args.repeat = 1 if args.smoke else 7
    if args.payload_mb <= 0 or args.repeat < 1:
        parser.error("--payload-mb must be > 0 and --repeat >= 1")
    timeout = SMOKE_CHILD_TIMEOUT if args.smoke else CHILD_TIMEOUT

    data, payload = build_sample(int(args.payload_mb * MB))
    with tempfile.TemporaryDirectory(prefix="bench-xml-") as tmp:
        path = Path(tmp) / "letter.xml"
        path.write_bytes(data)
        results = {
            name: measure(name, path, args.repeat, timeout)
            for name in ("fromstring", "naive", "read", "validate")
        }

    base = results["fromstring"]
    print(f"payload (decoded PDF): {payload / MB:.2f} MiB   XML: {len(data) / MB:.2f} MiB")
    print(
        f"Python {sys.version.split()[0]}, time: median of {args.repeat} runs; "
        "memory: peak beyond the input bytes"
    )
    print()
    print(
        f"{'operation':<12}{'time ms':>10}{'x base':>8}{'peak RSS MiB':>14}{'x base':>8}"
        f"{'/payload':>10}{'tracemalloc MiB':>17}{'/payload':>10}"
    )
    for name, r in results.items():
        masked = " (masked)" if r["masked"] else ""
        print(
            f"{name:<12}{r['seconds'] * 1000:>10.1f}{r['seconds'] / base['seconds']:>8.1f}"
            f"{r['rss_delta'] / MB:>14.1f}"
            f"{(r['rss_delta'] / base['rss_delta'] if base['rss_delta'] else float('nan')):>8.1f}"
            f"{r['rss_delta'] / payload:>10.2f}{r['trace_peak'] / MB:>17.1f}"
            f"{r['trace_peak'] / payload:>10.2f}{masked}"
        )
    read = results["read"]
    worst = max(read["rss_delta"], read["trace_peak"])
    print()
    print(
        f"read_letter_xml peak / payload: {worst / payload:.2f}x "
        f"(incl. the input bytes: {(worst + len(data)) / payload:.2f}x); "
        f"target < {TARGET_RATIO:.0f}x: {'met' if worst / payload < TARGET_RATIO else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
