"""`scripts/test --at`: every Python process of the run sees the same shifted wall clock.

The shift is made by tests/timeshift/sitecustomize.py (time-machine) from SARABAN_TIME_SHIFT;
timed waits and monotonic clocks must keep working (what libfaketime breaks).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TARGET = dt.datetime(2026, 12, 31, 23, 59, 30, tzinfo=dt.timezone(dt.timedelta(hours=7)))

PROBE = r"""
import datetime as dt, json, multiprocessing as mp, threading, time

def child(q):
    q.put(dt.datetime.now(dt.UTC).timestamp())

if __name__ == "__main__":
    ctx = mp.get_context("spawn")   # as the gateway's reading workers are started
    q = ctx.Queue()
    p = ctx.Process(target=child, args=(q,))
    p.start(); spawned = q.get(timeout=60); p.join(60)
    t0 = time.monotonic(); threading.Event().wait(0.2); waited = time.monotonic() - t0
    print(json.dumps({"now": dt.datetime.now(dt.UTC).timestamp(), "time": time.time(),
                      "spawned": spawned, "waited": waited}))
"""


def real_time() -> float:
    """The machine's own clock, also when this run is itself shifted (scripts/test --at)."""
    try:
        import time_machine
    except ImportError:  # pragma: no cover - a test tool of the lock
        return time.time()
    hatch = time_machine.escape_hatch
    return hatch.time.time() if hatch.is_travelling() else time.time()


def _probe(tmp_path: Path, shift: float) -> dict[str, float]:
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    env = {**os.environ, "SARABAN_TIME_SHIFT": str(shift),
           "PYTHONPATH": str(REPO / "tests" / "timeshift")}
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True,
                         timeout=120, check=True)
    return json.loads(out.stdout)


def test_every_process_starts_at_the_instant_and_ticks_on(tmp_path: Path) -> None:
    real = real_time()
    got = _probe(tmp_path, TARGET.timestamp() - real)
    elapsed = real_time() - real
    target = TARGET.timestamp()
    for key in ("now", "time", "spawned"):  # datetime, time.time, and a spawned worker agree
        assert target - 1 <= got[key] <= target + elapsed + 1, (key, got[key] - target)
    assert 0.15 <= got["waited"] < 5  # a timed wait still returns on time


def test_without_the_variable_the_clock_is_real(tmp_path: Path) -> None:
    got = _probe(tmp_path, 0)
    assert abs(got["now"] - real_time()) < 60
