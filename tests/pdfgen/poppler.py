"""poppler-utils as an independent reader of what the gateway writes: pdftoppm renders,
pdftotext reads the text layer, pdfsig checks signatures with NSS."""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


def _run(args: list[str], stdin: bytes | None = None) -> bytes:
    return subprocess.run(args, input=stdin, capture_output=True, check=True, timeout=60).stdout


def _with_file(pdf: bytes, args: list[str]) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in.pdf"
        path.write_bytes(pdf)
        return _run([*args, str(path)] if args[0] != "pdftotext" else [*args, str(path), "-"])


def pdftotext(pdf: bytes, *, first_page_only: bool = True) -> str:
    args = ["pdftotext", "-enc", "UTF-8"] + (["-l", "1"] if first_page_only else [])
    return _with_file(pdf, args).decode("utf-8")


@dataclass(frozen=True)
class Raster:
    """An 8-bit greyscale rendering; (0, 0) is the top-left of the page as shown."""

    width: int
    height: int
    pixels: bytes

    def at(self, x: int, y: int) -> int:
        return self.pixels[y * self.width + x]

    def dark_bbox(self, threshold: int = 128) -> tuple[int, int, int, int] | None:
        """(x_min, y_min, x_max, y_max) of pixels darker than `threshold`."""
        xs: list[int] = []
        ys: list[int] = []
        w = self.width
        for y in range(self.height):
            row = self.pixels[y * w : (y + 1) * w]
            if min(row) < threshold:
                ys.append(y)
                xs.extend(x for x, v in enumerate(row) if v < threshold)
        if not xs:
            return None
        return min(xs), min(ys), max(xs), max(ys)

    def dark_count(self, box: tuple[int, int, int, int], threshold: int = 128) -> int:
        x0, y0, x1, y1 = box
        return sum(
            1
            for y in range(max(0, y0), min(self.height, y1 + 1))
            for v in self.pixels[
                y * self.width + max(0, x0) : y * self.width + min(self.width, x1 + 1)
            ]
            if v < threshold
        )


def render_page1(pdf: bytes, dpi: int = 100, *, png_to: Path | None = None) -> Raster:
    """pdftoppm's rendering of page 1 as greyscale PGM (trivial to parse without Pillow);
    `png_to` also writes the same page as PNG for a person to look at."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in.pdf"
        path.write_bytes(pdf)
        pgm = _run(["pdftoppm", "-r", str(dpi), "-f", "1", "-l", "1", "-gray", str(path)])
        if png_to is not None:
            _run(
                [
                    "pdftoppm",
                    "-r",
                    str(dpi),
                    "-f",
                    "1",
                    "-l",
                    "1",
                    "-png",
                    "-singlefile",
                    str(path),
                    str(png_to.with_suffix("")),
                ]
            )
    # P5 header: magic, width, height, maxval, each followed by whitespace.
    parts = pgm.split(maxsplit=4)
    assert parts[0] == b"P5" and parts[3] == b"255", parts[:4]
    width, height = int(parts[1]), int(parts[2])
    return Raster(width, height, parts[4][: width * height])


def make_nssdb(directory: Path, ca_pem: bytes) -> str:
    """An NSS database trusting only `ca_pem`; returns the -nssdir argument for pdfsig."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "ca.pem").write_bytes(ca_pem)
    db = f"sql:{directory}"
    _run(["certutil", "-N", "-d", db, "--empty-password"])
    _run(
        [
            "certutil",
            "-A",
            "-d",
            db,
            "-n",
            "Saraban Test Root CA",
            "-t",
            "CT,C,C",
            "-i",
            str(directory / "ca.pem"),
        ]
    )
    return db


def pdfsig(pdf: bytes, nssdir: str) -> str:
    """pdfsig's report. It exits 0 even on "Digest Mismatch": callers read the text."""
    return _with_file(pdf, ["pdfsig", "-nssdir", nssdir]).decode("utf-8")
