"""The real command line, stopped by the machine: a full disk under its output, a database that
does not answer, a reader that closed the pipe. Each ends with one Thai line and a non-zero
exit, never a Python traceback (gateway/cli/failures.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.dnsserver import quiet_dns
from tests.processes import write_config

pytestmark = pytest.mark.integration


def _run(site: Path, *args: str, stdout: int | None = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SARABAN_CONFIG": str(site / "config.toml")}
    return subprocess.run([sys.executable, "-m", "gateway", *args], cwd=site, env=env, stdout=stdout,
                          stderr=subprocess.PIPE, text=True, timeout=120)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    write_config(tmp_path / "config.toml", dns=quiet_dns())
    assert _run(tmp_path, "db", "upgrade").returncode == 0
    return tmp_path


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once it is closed


def test_a_full_disk_under_the_output(site: Path) -> None:
    with open("/dev/full", "w") as full:
        r = _run(site, "registers", "export", "--book", "receive", "--format", "csv", stdout=full.fileno())
    assert r.returncode == 1
    assert "พื้นที่ดิสก์เต็ม" in r.stderr and "ENOSPC" in r.stderr
    assert "Traceback" not in r.stderr


def test_an_output_folder_that_is_not_there(site: Path) -> None:
    target = site / "ไม่มี" / "ทะเบียน.csv"
    r = _run(site, "registers", "export", "--book", "receive", "--format", "csv", "-o", str(target))
    assert r.returncode == 1
    assert str(target) in r.stderr and "Traceback" not in r.stderr
    assert not target.parent.exists()


def test_a_database_that_does_not_answer(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://saraban@127.0.0.1:{_closed_port()}/saraban"
    write_config(tmp_path / "config.toml", storage=f'database_url = "{url}"', dns=quiet_dns())
    r = _run(tmp_path, "registers", "export", "--book", "receive")
    assert r.returncode == 1
    assert "ติดต่อฐานข้อมูลไม่ได้" in r.stderr and "Connection refused" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_reader_that_closed_the_pipe(site: Path) -> None:
    """`registers export | head`: the reader went away before the first byte; the command stops
    quietly with the shell's SIGPIPE code."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        r = _run(site, "registers", "export", "--book", "receive", "--format", "csv", stdout=write_end)
    finally:
        os.close(write_end)
    assert r.returncode == 128 + 13
    assert r.stderr == ""
