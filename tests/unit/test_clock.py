"""The injected clock is the only way the gateway reads the time (gateway/clock.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCES = sorted([*(REPO / "gateway").rglob("*.py"), *(REPO / "store").rglob("*.py")])
ALLOWED = {REPO / "gateway" / "clock.py"}

# (object name, attribute): the calls that read the wall clock or the machine's zone.
READS = {
    ("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today"),
    ("time", "time"), ("time", "time_ns"), ("time", "localtime"), ("time", "gmtime"),
    ("time", "ctime"), ("time", "strftime"), ("dt", "now"),
}


def _reads_time(node: ast.Call) -> bool:
    f = node.func
    if not isinstance(f, ast.Attribute):
        return False
    owner = f.value
    name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
    if (name, f.attr) not in READS:
        return False
    # time.localtime(t) / time.gmtime(t) / time.strftime(fmt, t) convert a given time: fine.
    if name == "time" and f.attr in {"localtime", "gmtime", "ctime"} and node.args:
        return False
    return not (name == "time" and f.attr == "strftime" and len(node.args) > 1)


def violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [f"{path.name}:{n.lineno}: {ast.unparse(n.func)}()"
            for n in ast.walk(tree) if isinstance(n, ast.Call) and _reads_time(n)]


@pytest.mark.parametrize("path", [p for p in SOURCES if p not in ALLOWED],
                         ids=lambda p: str(p.relative_to(REPO)))
def test_module_reads_time_only_through_the_clock(path: Path) -> None:
    assert violations(path) == []


def test_the_check_finds_a_direct_read(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import datetime as dt, time\n"
                   "a = dt.datetime.now(dt.UTC)\nb = time.time()\nc = dt.date.today()\n"
                   "d = time.localtime(5)\n")
    found = [v.split(": ", 1)[1] for v in violations(bad)]
    assert found == ["dt.datetime.now()", "time.time()", "dt.date.today()"]

