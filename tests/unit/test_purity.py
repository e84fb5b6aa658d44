"""The pure core does no I/O (architecture: house style 2): one check, over every pure module.

A pure module takes data and returns data: no files, sockets, processes, clock, randomness,
logging, event loop or store — imports anywhere in the module (lazy ones included) and calls
of open() are looked at. Adding a module to the core means adding its path here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GATEWAY = REPO / "gateway"

PURE = sorted({
    *(GATEWAY / "core").rglob("*.py"),
    *(p for p in (GATEWAY / "xmlletter").glob("*.py") if p.name != "resources.py"),
    GATEWAY / "b64.py",
    GATEWAY / "letter.py",
    GATEWAY / "thai.py",
    GATEWAY / "state.py",
    GATEWAY / "outbound" / "rules.py",
    *(GATEWAY / "outbound" / "bounces").glob("*.py"),
    GATEWAY / "forwarding" / "routing.py",
    GATEWAY / "reports" / "trace.py",
    GATEWAY / "trust" / "__init__.py",
    GATEWAY / "trust" / "automail.py",
    GATEWAY / "trust" / "secrecy.py",
    GATEWAY / "trust" / "results.py",
} - {GATEWAY / "core" / "__init__.py"})

# What a pure module may import: an allow-list, so that a new import is looked at, not waved
# through. Standard-library modules that compute (no files, sockets, processes, clock,
# randomness, logging, threads or event loop); libraries that transform data in memory; and
# the gateway's own pure modules (those in PURE) plus its error tree, typed settings and the
# location of its packaged data.
STDLIB = {
    "__future__", "abc", "base64", "binascii", "bisect", "codecs", "collections", "contextlib",
    "copy", "dataclasses", "datetime", "decimal", "email", "enum", "functools", "hashlib", "heapq",
    "html", "io", "ipaddress", "itertools", "json", "math", "operator", "quopri", "re", "string",
    "struct", "textwrap", "types", "typing", "unicodedata", "zoneinfo",
}
LIBRARIES = {"lxml", "xmlschema", "elementpath", "jinja2", "tnefparse", "pybase64", "authres"}
OWN = {"gateway.errors", "gateway.config", "gateway.resources"}


def _dotted(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def allowed(name: str) -> bool:
    return (name.split(".")[0] in STDLIB | LIBRARIES or name in OWN
            or name in {_dotted(p) for p in PURE})


def impurities(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "open":
            found.add("open()")
        found |= {n for n in names if not allowed(n)}
    return found


@pytest.mark.parametrize("path", [p for p in PURE if p.exists()],
                         ids=lambda p: str(p.relative_to(REPO)))
def test_pure_module_does_no_io(path: Path) -> None:
    assert impurities(path) == set()


def test_the_check_finds_io(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import os.path\nfrom store import letters\nfrom gateway.intake.imap import x\n"
                   "import re, lxml.etree\nfrom gateway.thai import BANGKOK\n"
                   "def f():\n    import time\n    return open('x')\n")
    assert impurities(bad) == {"os.path", "store", "gateway.intake.imap", "time", "open()"}
