"""The reader workers (gateway/inbound/read.py, one process each) load the pure core and what
reads a mail, not the reports or the store's tables: a report request is known there by its
subject's tag alone (gateway/core/parse/reporttag.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOT_IN_A_READER = ("gateway.reports", "gateway.store.tables", "sqlalchemy")


def _loaded_by(module: str) -> set[str]:
    """The modules a fresh interpreter holds after importing ``module``."""
    code = f"import sys, {module}; print('\\n'.join(sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=True)
    return set(done.stdout.split())


def _heavy(loaded: set[str]) -> set[str]:
    return {m for m in loaded if any(m == n or m.startswith(n + ".") for n in NOT_IN_A_READER)}


def test_the_reader_worker_loads_no_reports_and_no_store_tables() -> None:
    loaded = _loaded_by("gateway.inbound.read")
    assert "gateway.core.parse.reporttag" in loaded
    assert _heavy(loaded) == set()


def test_the_check_sees_the_reports_where_they_are_loaded() -> None:
    """The check above can fail: the report request reader itself loads them."""
    assert {"gateway.reports.stats", "gateway.store.tables"} <= _heavy(_loaded_by("gateway.reports.request"))
