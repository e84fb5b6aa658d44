"""Headless Chromium (Debian's `chromium`) as an independent renderer of the HTML we send.

    png = screenshot(html_file, out_png, width=1000, height=1400)
    image = read_png(png)          # width, height, rows of (r, g, b) — no Pillow needed
    text = dump_dom(html_file)     # the DOM after parsing, as Chromium sees it
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "chromium"
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--no-first-run", "--disable-extensions", "--disable-background-networking",
         "--default-background-color=ffffffff"]


def screenshot(html: Path, out: Path, *, width: int = 1000, height: int = 1400) -> Path:
    subprocess.run([CHROMIUM, *FLAGS, f"--screenshot={out}", f"--window-size={width},{height}",
                    html.as_uri()], check=True, capture_output=True, timeout=120)
    return out


def dump_dom(html: Path) -> str:
    return subprocess.run([CHROMIUM, *FLAGS, "--dump-dom", html.as_uri()], check=True,
                          capture_output=True, timeout=120, text=True).stdout


@dataclass(frozen=True)
class Image:
    width: int
    height: int
    rows: list[list[tuple[int, int, int]]]

    def dark_fraction(self, threshold: int = 160) -> float:
        dark = sum(1 for row in self.rows for r, g, b in row if (r + g + b) / 3 < threshold)
        return dark / (self.width * self.height)


def read_png(path: Path) -> Image:
    """8-bit RGB/RGBA, non-interlaced PNG (what Chromium writes)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    width = height = channels = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and color in (2, 6) and interlace == 0, (depth, color, interlace)
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    prev = bytearray(stride)
    rows = []
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if f == 1:
                line[i] = (line[i] + a) & 0xFF
            elif f == 2:
                line[i] = (line[i] + b) & 0xFF
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append([(line[x * channels], line[x * channels + 1], line[x * channels + 2]) for x in range(width)])
        prev = line
    return Image(width, height, rows)
