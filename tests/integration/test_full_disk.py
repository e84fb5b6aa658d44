"""A full data volume, for real: the gateway's data on a small tmpfs that the test fills.

The gateway starts and stays up on a full disk (no crash loop), its SMTP listener answers 451
while the store cannot write, the alarm goes out once (command hook and /metrics; its mail once
the store writes again), and when space returns every letter is registered: those kept before,
those whose reading the full disk stopped (retried in-process), and those the sending server
tried again after its 451, gapless, in arrival order, with none of their attempts used up.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiosmtplib
import pytest
from sqlalchemy import select

from gateway.app import opened_store
from gateway.config import Settings, load_settings
from gateway.service import accept_smtp, serve
from gateway.store.handle import Store
from gateway.store.tables import Letter, OutboxItem, RegisterEntry
from tests.conftest import add_to_directory, make_settings
from tests.corpus.mail import letter_mail, numbered_letter_pdf
from tests.dnsserver import quiet_dns
from tests.processes import write_config

pytestmark = pytest.mark.integration

SENDER = "saraban@obec.go.th"
DEADLINE = 25.0  # guards a hang only


@pytest.fixture
def volume(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs of the test's own (we are root here), unmounted after it."""
    vol = tmp_path / "vol"
    vol.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(vol)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.fail(f"a small tmpfs is needed (run as root): mount said {done.stderr.strip()}")
    try:
        yield vol
    finally:
        subprocess.run(["umount", "-l", str(vol)], check=False)


def fill(vol: Path, *, leave: int = 0) -> Path:
    """Take the volume's free space, all of it or all but `leave` bytes; returns the ballast."""
    ballast = vol / "ballast"
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    chunk = b"\0" * 65536
    try:
        while (room := shutil.disk_usage(vol).free - leave) > 0:
            os.write(fd, chunk[:min(len(chunk), room)])
        if not leave:
            with pytest.raises(OSError) as full:
                while True:
                    os.write(fd, chunk)
            assert full.value.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return ballast


def settings_on(vol: Path, tmp: Path, **intake: object) -> Settings:
    alarms = tmp / "alarms.txt"  # outside the full volume, as an operator's hook would write
    return make_settings(tmp, storage={"data_dir": str(vol / "data")},
                         intake={"read_processes": 1, **intake},
                         alarm={"command": ["/bin/sh", "-c", f"cat >> {alarms}; echo '#' >> {alarms}"]})


def mail(n: int) -> bytes:
    return letter_mail(numbered_letter_pdf(n), subject=f"หนังสือฉบับที่ {n}", sender=SENDER)


async def smtp(port: int, data: bytes) -> int:
    """The reply code the listener gives one message."""
    try:
        await aiosmtplib.send(data, sender=SENDER, recipients=["saraban@agency.test"],
                              hostname="127.0.0.1", port=port, timeout=15)
    except aiosmtplib.SMTPResponseException as exc:
        return exc.code
    return 250


async def metrics(port: int) -> dict[str, float]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        body = (await asyncio.wait_for(reader.read(), 15)).partition(b"\r\n\r\n")[2].decode()
    finally:
        writer.close()
    return {m[1]: float(m[2]) for m in re.finditer(r"^(\w+) ([0-9.e+-]+)$", body, re.M)}


async def until(what: str, check) -> None:  # type: ignore[no-untyped-def]
    """Wait for `check()` (async) to hold; the deadline only guards a hang."""
    loop = asyncio.get_running_loop()
    end = loop.time() + DEADLINE
    while not await check():
        assert loop.time() < end, f"not reached within {DEADLINE} s: {what}"
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def gateway(settings: Settings) -> AsyncIterator[tuple[asyncio.Task[int], dict[str, int]]]:
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    stop, ports = asyncio.Event(), {}
    task = asyncio.create_task(serve(settings, ready=ready, stop=stop, ready_ports=ports))
    await asyncio.wait_for(asyncio.shield(ready), DEADLINE)
    try:
        yield task, ports
    finally:
        stop.set()
        await asyncio.wait_for(task, DEADLINE)


async def letters(store: Store) -> list[tuple[str, str, int, int | None]]:
    """(subject, state, attempts, receive number) of every letter, in arrival order."""
    async with store.readers() as s:
        rows = (await s.execute(select(Letter.subject, Letter.state, Letter.attempts, RegisterEntry.number)
                                .outerjoin(RegisterEntry, RegisterEntry.letter_id == Letter.id)
                                .order_by(Letter.id))).all()
    return [(r[0] or "", r[1], r[2], r[3]) for r in rows]


async def test_a_gateway_started_on_a_full_disk_stays_up_and_loses_nothing(volume: Path, tmp_path: Path) -> None:
    settings = settings_on(volume, tmp_path)
    async with opened_store(settings, upgrade=True) as store:
        await add_to_directory(store, SENDER)
        for n in (1, 2):  # kept before the disk filled, not read yet (as a crash leaves them)
            await accept_smtp(store, mail(n), SENDER, ["saraban@agency.test"])
    ballast = fill(volume)  # the database's -wal and -shm went with the last connection:
    # on this volume SQLite cannot even open it again (SQLITE_IOERR_SHMSIZE)

    async with gateway(settings) as (task, ports):
        assert await smtp(ports["smtp"], mail(3)) == 451  # try again later: nothing is lost
        await until("the start waited out the full disk more than once",
                    lambda: _at_least(ports["health"], "saraban_environment_faults_total", 2))
        seen = await metrics(ports["health"])
        assert not task.done()  # up, not crashed
        assert seen["saraban_store_write_outage"] == 1 and seen["saraban_alarms_total"] == 1
        assert await smtp(ports["smtp"], mail(3)) == 451

        ballast.unlink()  # the administrator makes room

        async def retried_by_the_sender() -> bool:  # the sending server's next try
            return await smtp(ports["smtp"], mail(3)) == 250

        await until("the listener takes the letter again", retried_by_the_sender)
        async with opened_store(settings) as store:
            async def registered() -> bool:
                return [x[1] for x in await letters(store)] == ["registered"] * 3
            await until("every letter registered", registered)
            got = await letters(store)
            # gapless, in arrival order (letter n is numbered n), no attempt used up
            assert [(x[0].rsplit(" ", 1)[-1], x[2], x[3]) for x in got] == [("1", 0, 1), ("2", 0, 2), ("3", 0, 3)]

            async def alarm_mail_queued() -> bool:
                async with store.readers() as s:
                    return (await s.execute(select(OutboxItem).where(OutboxItem.kind == "alarm"))).first() is not None
            await until("the alarm mail queued once the store writes", alarm_mail_queued)
        seen = await metrics(ports["health"])
        assert seen["saraban_store_write_outage"] == 0 and seen["saraban_alarms_total"] == 1
    text = (tmp_path / "alarms.txt").read_text(encoding="utf-8")
    assert text.count("\n#\n") == 1 and "ระบบสารบรรณเขียนข้อมูลไม่ได้ตั้งแต่" in text  # once, in Thai


async def _at_least(port: int, name: str, value: float) -> bool:
    return (await metrics(port)).get(name, 0) >= value


def _checkpoint(db: Path) -> None:
    with contextlib.closing(sqlite3.connect(db, timeout=10)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


async def test_a_letter_the_full_disk_stopped_is_retried_in_process_without_using_attempts(
        volume: Path, tmp_path: Path) -> None:
    settings = settings_on(volume, tmp_path, max_attempts=1)  # one counted failure would be review
    async with opened_store(settings, upgrade=True) as store:
        await add_to_directory(store, SENDER)
    annex = os.urandom(1_200_000)  # kept as a file of the letter when it is read: 1.2 MB more
    big = letter_mail(numbered_letter_pdf(2), subject="หนังสือฉบับที่ 2", sender=SENDER,
                      attachments=[("ภาคผนวก.bin", "application/octet-stream", annex)])
    async with gateway(settings) as (task, ports), opened_store(settings) as store:
        assert await smtp(ports["smtp"], mail(1)) == 250

        async def states(*want: str) -> bool:
            return [x[1] for x in await letters(store)] == list(want)

        await until("letter 1 registered", lambda: states("registered"))
        _checkpoint(volume / "data" / "saraban.sqlite3")  # the WAL starts small: room is predictable
        # room for the message to be kept (250), not for its files once it is read
        ballast = fill(volume, leave=len(big) + 400_000)
        assert await smtp(ports["smtp"], big) == 250
        await until("the reading stopped by the full disk",
                    lambda: _at_least(ports["health"], "saraban_store_write_outage", 1))
        got = await letters(store)
        assert [(x[1], x[2]) for x in got] == [("registered", 0), ("received", 0)]  # waiting, not counted
        assert (await metrics(ports["health"]))["saraban_alarms_total"] == 1

        ballast.unlink()
        await until("letter 2 registered once there is room", lambda: states("registered", "registered"))
        assert await smtp(ports["smtp"], mail(3)) == 250
        await until("letter 3 registered", lambda: states("registered", "registered", "registered"))
        got = await letters(store)
        assert [(x[2], x[3]) for x in got] == [(0, 1), (0, 2), (0, 3)]  # gapless, no attempt used
        seen = await metrics(ports["health"])
        assert seen["saraban_store_write_outage"] == 0 and seen["saraban_alarms_total"] == 1
        assert not task.done()


async def test_the_run_command_on_a_full_disk_does_not_crash_loop(volume: Path, tmp_path: Path) -> None:
    """The real `saraban-gateway run` process, started on the full volume: it stays up (it used to
    exit at start, "database or disk is full", and be restarted to exit again), answers 451, and
    once there is room registers the letter kept before and the one sent again."""
    cfg = write_config(tmp_path / "config.toml", """
[smtp_listener]
port = 0
""", data_dir=volume / "data", dns=quiet_dns())
    settings = load_settings(cfg)
    async with opened_store(settings, upgrade=True) as store:
        await accept_smtp(store, mail(1), SENDER, ["saraban@agency.test"])
    ballast = fill(volume)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "--config", str(cfg), "run", cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    drained: asyncio.Task[bytes] | None = None
    try:
        port = 0
        while not port:
            line = (await asyncio.wait_for(proc.stdout.readline(), DEADLINE)).decode()
            assert line, "the gateway ended before its banner"
            if found := re.search(r"port (\d+)", line):
                port = int(found[1])
        waits = 0
        while waits < 2:  # it retries in place (more than once), not by exiting
            line = (await asyncio.wait_for(proc.stderr.readline(), DEADLINE)).decode()
            assert line, "the gateway ended on the full disk"
            waits += "still cannot write" in line
        assert proc.returncode is None
        drained = asyncio.create_task(proc.stderr.read())  # its log must not fill the pipe
        assert await smtp(port, mail(2)) == 451
        ballast.unlink()

        async def taken() -> bool:
            return await smtp(port, mail(2)) == 250

        await until("the listener takes the letter once there is room", taken)
        async with opened_store(settings) as store:
            async def registered() -> bool:
                return [(x[1], x[2], x[3]) for x in await letters(store)] == [
                    ("registered", 0, 1), ("registered", 0, 2)]
            await until("both letters registered, in order", registered)
    finally:
        if proc.returncode is None:
            proc.terminate()
        assert await asyncio.wait_for(proc.wait(), DEADLINE) == 0
        if drained is not None:
            await drained


async def test_a_first_start_on_a_full_disk_waits_and_then_runs(volume: Path, tmp_path: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    """Nothing on the volume yet (no database, no secret.key) and no room: the gateway waits
    instead of ending, and runs as soon as there is room (the listener opens then)."""
    settings = settings_on(volume, tmp_path)
    ballast = fill(volume)
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    stop, ports = asyncio.Event(), {}
    task = asyncio.create_task(serve(settings, ready=ready, stop=stop, ready_ports=ports))
    try:
        async def waited_twice() -> bool:
            return sum("cannot be written" in r.getMessage() for r in caplog.records) >= 2

        await until("the start waits for the data folder, and tries again", waited_twice)
        assert not task.done() and not ready.done()
        ballast.unlink()
        port = await asyncio.wait_for(asyncio.shield(ready), DEADLINE)
        assert await smtp(port, mail(1)) == 250
    finally:
        stop.set()
        await asyncio.wait_for(task, DEADLINE)
