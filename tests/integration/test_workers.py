"""Worker processes that read letters: same results as in-process, a dead worker costs one
attempt and is replaced, a task over its time or memory budget is killed while the other
workers keep serving, and a gateway killed outright leaves no worker behind."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from gateway import workers
from gateway.errors import ConfigError
from gateway.inbound.read import read_message, read_with_default_resources
from gateway.xmlletter import default_resources
from tests.corpus.mail import letter_mail, numbered_letter_pdf

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 11, 22, 3, 0, tzinfo=dt.UTC)


def _die() -> None:
    os._exit(3)


def _raise_config() -> None:
    raise ConfigError("ไม่พบแบบอักษร", "font not found")


async def test_a_letter_read_in_a_worker_is_read_the_same() -> None:
    raw = letter_mail(numbered_letter_pdf(41), subject="ที่ ศธ 04010/41 ทดสอบ")
    here = read_message(raw, xml_resources=default_resources(), trust_roots=(), now=NOW)
    there = await workers.run(1, read_with_default_resources, raw, trust_roots=(), now=NOW)
    assert there == here
    assert there.fields.letter_no is not None and "04010/41" in str(there.fields.letter_no.value)


async def test_a_dead_worker_is_reported_and_replaced() -> None:
    with pytest.raises(workers.WorkerDied):
        await workers.run(1, _die)
    raw = letter_mail(numbered_letter_pdf(42))
    got = await workers.run(1, read_with_default_resources, raw, trust_roots=(), now=NOW)
    assert got.main is not None


async def test_errors_cross_from_the_worker_intact() -> None:
    with pytest.raises(ConfigError) as info:
        await workers.run(1, _raise_config)
    assert info.value.message_th == "ไม่พบแบบอักษร"
    err = pickle.loads(pickle.dumps(ConfigError("ก", "k")))
    assert (err.message_th, err.message_en) == ("ก", "k")


def _sleep_long() -> None:
    time.sleep(600)


def _grow(limit_mb: int) -> int:
    """Touch memory 16 MB at a time, with pauses; gives up (returns) at `limit_mb`."""
    chunks = []
    while len(chunks) * 16 < limit_mb:
        chunks.append(b"x" * (16 * 1024 * 1024))
        time.sleep(0.02)
    return len(chunks)


def _pid_after(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


async def test_a_task_over_its_time_budget_is_killed_and_the_pool_keeps_serving() -> None:
    budget = workers.Budget(seconds=2, memory_mb=1024)
    # both workers loaded (busy at once), so that the other one answers at once below
    first = await asyncio.gather(workers.run(2, _pid_after, 0.2), workers.run(2, _pid_after, 0.2))
    slow = asyncio.create_task(workers.run(2, _sleep_long, budget=budget))
    # while the slow task holds one worker, the other one serves
    quick = await workers.run(2, _pid_after, 0.0)
    assert not slow.done()
    with pytest.raises(workers.OverBudget) as info:
        await slow
    assert info.value.what == "time"
    # the killed worker is replaced: the pool still serves both
    again = await asyncio.gather(workers.run(2, _pid_after, 0.2), workers.run(2, _pid_after, 0.2))
    assert len(set(again)) == 2 and quick in first


async def test_a_task_over_its_memory_budget_is_killed() -> None:
    budget = workers.Budget(seconds=120, memory_mb=300)
    with pytest.raises(workers.OverBudget) as info:
        await workers.run(1, _grow, 4096, budget=budget)
    assert info.value.what == "memory"
    assert await workers.run(1, _grow, 64, budget=budget) == 4  # within it: served


def test_workers_end_when_the_gateway_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent(f"""
        import asyncio, os, sys
        sys.path.insert(0, {str(ROOT)!r})
        from gateway import workers

        async def main():
            pid = await workers.run(1, os.getpid)
            print(pid, flush=True)
            await asyncio.sleep(60)

        if __name__ == "__main__":
            asyncio.run(main())
    """))
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        line = parent.stdout.readline() if parent.stdout else ""
        worker = int(line)
        os.kill(worker, 0)  # running
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(worker, 0)
            except ProcessLookupError:
                break
            try:  # reap it if it is ours (it is not: it was the parent's)
                os.waitpid(worker, os.WNOHANG)
            except ChildProcessError:
                pass
            time.sleep(0.1)
        else:
            os.kill(worker, signal.SIGKILL)
            pytest.fail("the worker outlived the gateway by 10 s")
    finally:
        if parent.poll() is None:
            parent.kill()


def _niceness() -> int:
    return os.nice(0)


async def test_workers_yield_the_cpu_to_the_gateway() -> None:
    """A reader runs NICENESS lower than the gateway's own process: one reader per core must
    not starve the listener and the IMAP connection of their core."""
    assert await workers.run(1, _niceness) == os.nice(0) + workers.NICENESS
    assert workers.NICENESS > 0


@pytest.mark.parametrize(("cores", "memory_gb", "budget_mb", "readers"), [
    (1, 16, 1024, 1), (2, 16, 1024, 2), (3, 16, 1024, 3), (16, 64, 1024, 4),  # by cores
    (2, 2, 1024, 1), (4, 4, 1024, 2), (4, 4, 512, 4), (8, 1, 1024, 1),  # by memory, never none
])
def test_one_reader_per_usable_core_as_memory_allows(monkeypatch: pytest.MonkeyPatch, cores: int,
                                                      memory_gb: int, budget_mb: int, readers: int) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(cores)))
    monkeypatch.setattr(workers, "memory_bytes", lambda: memory_gb << 30)
    assert workers.auto_processes(budget_mb) == readers


def test_the_memory_counted_is_this_machines() -> None:
    from_meminfo = int(Path("/proc/meminfo").read_text().split()[1]) * 1024
    assert 0 < workers.memory_bytes() <= from_meminfo


def test_the_memory_limit_is_read_where_each_cgroup_version_keeps_it() -> None:
    v1 = "9:name=systemd:/\n4:memory:/process_api/abc\n3:cpuset:/\n0::/\n"
    assert workers.cgroup_limit_files(v1) == ["/sys/fs/cgroup/memory/process_api/abc/memory.limit_in_bytes",
                                              "/sys/fs/cgroup/memory.max"]
    assert workers.cgroup_limit_files("0::/system.slice/saraban-gateway.service\n") == [
        "/sys/fs/cgroup/system.slice/saraban-gateway.service/memory.max"]
    assert workers.cgroup_limit_files("garbage\n\n") == []
