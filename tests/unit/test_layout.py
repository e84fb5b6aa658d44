"""The tree stays readable: no module over about 500 lines, no class over about 300, and every
room (package) says in its docstring where it sits in the flow (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCES = sorted(p for d in ("gateway", "store") for p in (REPO / d).rglob("*.py"))
MAX_MODULE, MAX_CLASS = 520, 300


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_module_and_class_sizes(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count("\n") <= MAX_MODULE, f"{path.name}: {text.count(chr(10))} lines"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ClassDef):
            size = (node.end_lineno or node.lineno) - node.lineno + 1
            assert size <= MAX_CLASS, f"class {node.name}: {size} lines"


ROOMS = sorted(p.parent for p in (REPO / "gateway").glob("*/__init__.py"))


@pytest.mark.parametrize("room", ROOMS, ids=lambda p: p.name)
def test_every_room_says_what_it_is(room: Path) -> None:
    doc = ast.get_docstring(ast.parse((room / "__init__.py").read_text(encoding="utf-8")))
    assert doc, f"gateway/{room.name}/__init__.py has no docstring"


ALL_PY = sorted(p for d in ("gateway", "store", "tests", "bench") for p in (REPO / d).rglob("*.py"))


def test_the_store_is_imported_only_as_gateway_store() -> None:
    """store/ installs as gateway.store (gateway/store is a link to it): a top-level `store`
    import would make a second copy of every table class, and could meet another package's
    `store` module."""
    found = []
    for path in ALL_PY:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            found += [f"{path.relative_to(REPO)}: {n}" for n in names if n.split(".")[0] == "store"]
    assert found == []
    assert (REPO / "gateway" / "store").resolve() == (REPO / "store").resolve()
