"""Helpers shared by the tests and the benchmarks that run whole gateways: stopping the
processes they started, and noting when the gateway logged a lost connection."""

from __future__ import annotations

import logging
import subprocess
import time


def stop_processes(procs: list[subprocess.Popen[bytes]], timeout: float = 30.0) -> None:
    """SIGTERM every process, wait for each (SIGKILL after `timeout`), close their pipes."""
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        if p.stdout is not None:
            p.stdout.close()


class Noticed(logging.Handler):
    """The monotonic times at which a lost connection was logged (gateway/reconnect.py warns)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.times: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.times.append(time.monotonic())
