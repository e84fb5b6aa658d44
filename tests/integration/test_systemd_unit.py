"""contrib/systemd's units as systemd reads them: `systemd-analyze verify` finds no unknown key,
bad value or missing command (with the install paths pointed at this clone) in the gateway's
service, the backup's service and its timer, and `systemd-analyze security` rates each
service's sandbox "OK" or better (exposure ≤ 2.0 of 10)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "contrib" / "systemd" / "saraban-gateway.service"
BACKUP = UNIT.with_name("saraban-gateway-backup.service")
TIMER = UNIT.with_name("saraban-gateway-backup.timer")
INSTALLED = "/opt/saraban-gateway"  # where README's install steps put the clone
COMMAND = Path(sys.executable).parent / "saraban-gateway"  # the entry point of the venv running us
MAX_EXPOSURE = 2.0


def _analyze(*args: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("systemd-analyze")
    assert tool, "systemd-analyze is missing: scripts/install-system-deps.sh installs systemd"
    return subprocess.run([tool, *args], capture_output=True, text=True, timeout=60)


def _here(tmp_path: Path, text: str, name: str = UNIT.name) -> Path:
    """The unit as installed from this clone: its commands are this clone's venv's."""
    unit = tmp_path / name
    text = text.replace(f"{INSTALLED}/.venv/bin/saraban-gateway", str(COMMAND))
    unit.write_text(text.replace(INSTALLED, str(REPO)), encoding="utf-8")
    return unit


@pytest.mark.parametrize("unit", [UNIT, BACKUP, TIMER], ids=lambda u: u.name)
def test_systemd_reads_every_line_of_the_unit(tmp_path: Path, unit: Path) -> None:
    assert COMMAND.exists()
    _here(tmp_path, BACKUP.read_text(encoding="utf-8"), BACKUP.name)  # the timer's unit, beside it
    r = _analyze("verify", str(_here(tmp_path, unit.read_text(encoding="utf-8"), unit.name)))
    assert r.returncode == 0 and r.stderr.strip() == "", r.stderr


def test_the_timer_starts_the_backup_daily_and_makes_up_a_missed_night() -> None:
    timer = TIMER.read_text(encoding="utf-8")
    assert f"Unit={BACKUP.name}" in timer and "Persistent=true" in timer
    assert re.search(r"^OnCalendar=\*-\*-\* \d\d:\d\d:\d\d Asia/Bangkok$", timer, re.M)
    backup = BACKUP.read_text(encoding="utf-8")
    assert "Type=oneshot" in backup and " db backup /var/backups/saraban-gateway" in backup
    # the same user and sandbox as the gateway's, and the backup folder writable
    sandbox = [line for line in UNIT.read_text(encoding="utf-8").splitlines()
               if line.startswith(("User=", "Group=", "Protect", "Restrict", "Private", "NoNew",
                                   "SystemCall", "Capability", "Ambient"))]
    assert [line for line in sandbox if line not in backup.splitlines()] == []
    assert re.search(r"^ReadWritePaths=.*/var/backups/saraban-gateway", backup, re.M)


@pytest.mark.parametrize("line", ["ProtectSystm=strict", "Restart=sometimes", "NoNewPrivileges=perhaps"])
def test_a_misspelt_line_would_be_seen(tmp_path: Path, line: str) -> None:
    text = UNIT.read_text(encoding="utf-8").replace("[Service]\n", f"[Service]\n{line}\n", 1)
    r = _analyze("verify", str(_here(tmp_path, text)))
    assert line.split("=")[0] in r.stderr or line.split("=")[1] in r.stderr


@pytest.mark.parametrize("unit", [UNIT, BACKUP], ids=lambda u: u.name)
def test_the_sandbox_is_rated_ok(tmp_path: Path, unit: Path) -> None:
    r = _analyze("security", "--offline=true", "--no-pager",
                 str(_here(tmp_path, unit.read_text(encoding="utf-8"), unit.name)))
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", r.stdout)
    assert found, r.stdout[-500:] + r.stderr
    assert float(found.group(1)) <= MAX_EXPOSURE, r.stdout
