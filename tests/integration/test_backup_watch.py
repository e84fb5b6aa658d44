"""Backups that stop are noticed (gateway/ops/backupwatch.py): a finished `db backup` is in the
audit log, /metrics shows when the newest finished, and with `[backup] max_age_hours` the
gateway raises the alarm once per episode (command and mail), once for the whole deployment."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from gateway.app import build_app, opened_store
from gateway.intake.imap import MailboxHealth
from gateway.ops.alarm import AlarmOut
from gateway.ops.backupwatch import ACTION, BackupWatch, record_backup
from gateway.ops.metrics import GatewayMetrics
from gateway.store import audit
from gateway.store.tables import AuditEntry, OutboxItem
from tests.conftest import FakeClock, make_settings
from tests.dnsserver import quiet_dns
from tests.integration.test_cli import cli
from tests.processes import write_config

pytestmark = pytest.mark.integration

START = dt.datetime(2026, 12, 1, 19, 30, tzinfo=dt.UTC)  # 2 ธ.ค. 2569 02:30 in Bangkok
HOOK = """import json, os, sys
with open(sys.argv[1], "a", encoding="utf-8") as out:
    out.write(json.dumps({"subject": os.environ["SARABAN_ALARM_SUBJECT"], "text": sys.stdin.read()},
                         ensure_ascii=False) + "\\n")
"""


def _watched(tmp_path: Path, hours: float) -> tuple[object, Path]:
    script, out = tmp_path / "hook.py", tmp_path / "alarms.jsonl"
    script.write_text(HOOK, encoding="utf-8")
    settings = make_settings(tmp_path, backup={"max_age_hours": hours},
                             alarm={"command": [sys.executable, str(script), str(out)]})
    return settings, out


def _subjects(out: Path) -> list[str]:
    if not out.exists():
        return []
    return [json.loads(line)["subject"] for line in out.read_text(encoding="utf-8").splitlines()]


async def test_an_overdue_backup_raises_one_alarm_until_a_backup_comes(tmp_path: Path) -> None:
    settings, out = _watched(tmp_path, 36)
    clock = FakeClock(START)
    async with opened_store(settings, upgrade=True, clock=clock) as store:
        app = build_app(settings, store)
        watch = BackupWatch(store, app.pipeline.templates, clock(), AlarmOut(settings.alarm))  # type: ignore[arg-type]
        assert await watch.check() is False  # just started: no backup yet, but not overdue
        clock.advance(hours=35)
        assert await watch.check() is False
        clock.advance(hours=2)  # 37 h after the start and never a backup
        assert await watch.check() is True
        clock.advance(hours=5)
        assert await watch.check() is False  # the same episode: nothing more
        await record_backup(store, "2569-12-03_150000", {"blobs": 0})
        assert await watch.check() is False  # a backup came: the episode is over
        clock.advance(hours=37)
        assert await watch.check() is True  # the nightly backup stopped: a new episode
        async with store.readers() as s:
            kinds = list((await s.execute(select(OutboxItem.kind))).scalars())
            recorded = list((await s.execute(select(AuditEntry.subject_id)
                                             .where(AuditEntry.action == ACTION))).scalars())
    assert _subjects(out) == ["[แจ้งเตือน] ยังไม่มีการสำรองข้อมูลทะเบียนหนังสือ",
                              "[แจ้งเตือน] ไม่ได้สำรองข้อมูลทะเบียนหนังสือมา 37 ชั่วโมง"]
    text = json.loads(out.read_text(encoding="utf-8").splitlines()[1])["text"]
    assert "เมื่อ 3 ธ.ค. 2569 " in text and "เกินกำหนด 36 ชั่วโมง" in text
    assert kinds == ["alarm", "alarm"]  # and each by mail to the central mailbox
    assert recorded == ["2569-12-03_150000"]


async def test_an_install_never_backed_up_is_told_at_once_however_often_it_restarts(tmp_path: Path) -> None:
    """Months of registers and no backup: the count is from the audit log's first entry, not
    from this process's start (a gateway restarted each night would otherwise never be told)."""
    settings, out = _watched(tmp_path, 36)
    clock = FakeClock(START)
    async with opened_store(settings, upgrade=True, clock=clock) as store:
        async with store.sessions.begin() as s:
            await audit.append(s, now=clock(), actor="ธุรการ", action="register.allocate")
        clock.advance(days=90)
        watch = BackupWatch(store, build_app(settings, store).pipeline.templates, clock(),
                            AlarmOut(settings.alarm))  # type: ignore[arg-type]
        assert await watch.check() is True
    assert _subjects(out) == ["[แจ้งเตือน] ยังไม่มีการสำรองข้อมูลทะเบียนหนังสือ"]
    assert "(2160 ชั่วโมง)" in json.loads(out.read_text(encoding="utf-8"))["text"]


async def test_processes_sharing_a_store_raise_it_once(tmp_path: Path) -> None:
    settings, out = _watched(tmp_path, 36)
    clock = FakeClock(START)
    async with opened_store(settings, upgrade=True, clock=clock) as store:
        watches = [BackupWatch(store, build_app(settings, store).pipeline.templates, clock(),
                               AlarmOut(settings.alarm)) for _ in range(3)]  # type: ignore[arg-type]
        clock.advance(hours=40)
        assert [await w.check() for w in watches] == [True, False, False]
        await record_backup(store, "2569-12-04_023000", {})
        assert [await w.check() for w in watches] == [False, False, False]
        clock.advance(hours=40)
        assert [await w.check() for w in reversed(watches)] == [True, False, False]
    assert len(_subjects(out)) == 2


async def test_unwatched_backups_raise_nothing(tmp_path: Path) -> None:
    settings, out = _watched(tmp_path, 0)
    clock = FakeClock(START)
    async with opened_store(settings, upgrade=True, clock=clock) as store:
        watch = BackupWatch(store, build_app(settings, store).pipeline.templates, clock(),
                            AlarmOut(settings.alarm))  # type: ignore[arg-type]
        clock.advance(days=400)
        assert await watch.check() is False
    assert _subjects(out) == []


def _gauge(text: bytes, name: str) -> float:
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            if sample.name == name:
                return float(sample.value)
    raise AssertionError(f"{name} is not in /metrics")


async def test_metrics_show_when_the_newest_backup_finished(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    clock = FakeClock(START)
    async with opened_store(settings, upgrade=True, clock=clock) as store:
        metrics = GatewayMetrics(store, MailboxHealth())
        assert _gauge(await metrics.render(), "saraban_backup_last_success_timestamp_seconds") == 0
        clock.advance(hours=3)
        await record_backup(store, "a", {})
        clock.advance(hours=1)
        assert _gauge(await metrics.render(), "saraban_backup_last_success_timestamp_seconds") == \
            (START + dt.timedelta(hours=3)).timestamp()


def test_db_backup_is_recorded_and_check_reports_its_age(tmp_path: Path) -> None:
    write_config(tmp_path / "config.toml", "[backup]\nmax_age_hours = 36\n", dns=quiet_dns())
    assert cli(tmp_path, "db", "upgrade").returncode == 0
    line = next(x for x in cli(tmp_path, "check").stdout.splitlines() if " backup " in x)
    assert line.startswith("✗") and "ยังไม่เคยสำรองข้อมูล" in line
    r = cli(tmp_path, "db", "backup", str(tmp_path / "backups"))
    assert r.returncode == 0, r.stderr
    line = next(x for x in cli(tmp_path, "check").stdout.splitlines() if " backup " in x)
    assert line.startswith("✓") and "สำรองข้อมูลครั้งล่าสุด" in line and "(0 ชั่วโมงก่อน)" in line
    r = cli(tmp_path, "audit", "verify")
    assert r.returncode == 0 and "1 รายการ" in r.stdout
