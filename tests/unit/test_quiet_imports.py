"""Nothing but the gateway's own words on the clerk's terminal: importing the PDF signature code
(pyHanko, which loads cryptography's deprecated DSA class) prints no deprecation warning, in the
command's process or in a worker's (both import the gateway package first)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _stderr(code: str) -> str:
    done = subprocess.run([sys.executable, "-W", "default", "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=True)
    return done.stderr


def test_importing_the_signature_code_prints_no_dsa_warning() -> None:
    assert "DSA" not in _stderr("import gateway.pdf.signatures")


def test_the_warning_is_there_without_the_gateway_filter() -> None:
    """The check above can fail: pyHanko alone still warns. When a release stops warning, this
    fails: then remove the filter in gateway/__init__.py, it is dead code."""
    assert "DSA is deprecated" in _stderr("import pyhanko.sign.signers.pdf_cms")
