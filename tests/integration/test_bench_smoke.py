"""Benchmarks do not rot: every bench/bench_*.py runs in its `--smoke` mode and must succeed.

A smoke run is tiny (a few seconds) but goes through every step of its benchmark, the same-run
baseline included, and prints its figures; speed targets are reported, never asserted. A new
benchmark is picked up by the glob, so it needs a `--smoke` flag from the start.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
BENCHES = sorted(p.name for p in (REPO / "bench").glob("bench_*.py"))
TIMEOUT = 120.0  # seconds per benchmark; a smoke run takes a few
GRACE = 15.0  # after Ctrl-C: the benchmark stops its servers and removes its directories


def tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


def run_smoke(name: str, *options: str) -> tuple[int, str, str]:
    # Its own process group: on a timeout, whatever it started is stopped with it.
    proc = subprocess.Popen(
        [sys.executable, f"bench/{name}", "--smoke", *options],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)  # KeyboardInterrupt: its finally blocks clean up
        try:
            out, err = proc.communicate(timeout=GRACE)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
        pytest.fail(f"bench/{name} --smoke took over {TIMEOUT:.0f} s\n"
                    f"--- stdout\n{tail(out)}\n--- stderr\n{tail(err)}")
    return proc.returncode, out, err


def test_benchmarks_found() -> None:
    assert BENCHES, f"no bench/bench_*.py under {REPO}"


@pytest.mark.parametrize("name", BENCHES)
def test_bench_smoke(name: str) -> None:
    code, out, err = run_smoke(name)
    report = f"--- stdout\n{tail(out)}\n--- stderr\n{tail(err)}"
    assert code == 0, f"bench/{name} --smoke exited {code}\n{report}"
    assert re.search(r"\d", out), f"bench/{name} --smoke printed no figures\n{report}"


def test_bench_inbound_with_sender_authentication_smoke() -> None:
    code, out, err = run_smoke("bench_inbound.py", "--auth")
    report = f"--- stdout\n{tail(out)}\n--- stderr\n{tail(err)}"
    assert code == 0, f"bench/bench_inbound.py --smoke --auth exited {code}\n{report}"
    assert "ratio with auth / without" in out and "per letter" in out, report
