"""Helpers shared by the tests and the benchmarks that run whole gateways: the config file
they start them with, stopping the processes they started, and noting when the gateway logged
a lost connection."""

from __future__ import annotations

import logging
import subprocess
import time
from pathlib import Path

CENTRAL = "saraban@agency.test"


def config_text(sections: str = "", *, central: str = CENTRAL, data_dir: str | Path = "data",
                storage: str = "") -> str:
    """The text of a config.toml for a gateway a test or benchmark runs as a whole: the test
    agency with its central address, its data directory (+ `storage` lines, e.g. a
    database_url), scheduled work off, /metrics on a free port; then `sections`, the tables
    the test is about (each with its header)."""
    return f"""
[agency]
name_th = "สำนักงานทดสอบ"
letter_code = "ศธ 04183"
latin_code = "TEST04183"
central_addresses = ["{central}"]

[storage]
data_dir = "{data_dir}"
{storage}
[forwarding]
digest = false  # scheduled work off: the daily digest would depend on the hour the test runs

[health]
listen = "127.0.0.1:0"  # gateways side by side in tests: no fixed port
{sections}"""


def write_config(path: Path, sections: str = "", *, central: str = CENTRAL,
                 data_dir: str | Path = "data", storage: str = "") -> Path:
    """`config_text` written to `path` (UTF-8); returns the path."""
    path.write_text(config_text(sections, central=central, data_dir=data_dir, storage=storage),
                    encoding="utf-8")
    return path


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
