"""contrib/systemd/saraban-gateway.service as systemd reads it: `systemd-analyze verify` finds
no unknown key, bad value or missing command (with the install paths pointed at this clone),
and `systemd-analyze security` rates its sandbox "OK" or better (exposure ≤ 2.0 of 10)."""

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
INSTALLED = "/opt/saraban-gateway"  # where README's install steps put the clone
COMMAND = Path(sys.executable).parent / "saraban-gateway"  # the entry point of the venv running us
MAX_EXPOSURE = 2.0


def _analyze(*args: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("systemd-analyze")
    assert tool, "systemd-analyze is missing: scripts/install-system-deps.sh installs systemd"
    return subprocess.run([tool, *args], capture_output=True, text=True, timeout=60)


def _here(tmp_path: Path, text: str) -> Path:
    """The unit as installed from this clone: its commands are this clone's venv's."""
    unit = tmp_path / UNIT.name
    text = text.replace(f"{INSTALLED}/.venv/bin/saraban-gateway", str(COMMAND))
    unit.write_text(text.replace(INSTALLED, str(REPO)), encoding="utf-8")
    return unit


def test_systemd_reads_every_line_of_the_unit(tmp_path: Path) -> None:
    assert COMMAND.exists()
    r = _analyze("verify", str(_here(tmp_path, UNIT.read_text(encoding="utf-8"))))
    assert r.returncode == 0 and r.stderr.strip() == "", r.stderr


@pytest.mark.parametrize("line", ["ProtectSystm=strict", "Restart=sometimes", "NoNewPrivileges=perhaps"])
def test_a_misspelt_line_would_be_seen(tmp_path: Path, line: str) -> None:
    text = UNIT.read_text(encoding="utf-8").replace("[Service]\n", f"[Service]\n{line}\n", 1)
    r = _analyze("verify", str(_here(tmp_path, text)))
    assert line.split("=")[0] in r.stderr or line.split("=")[1] in r.stderr


def test_the_sandbox_is_rated_ok(tmp_path: Path) -> None:
    r = _analyze("security", "--offline=true", "--no-pager", str(_here(tmp_path, UNIT.read_text(encoding="utf-8"))))
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", r.stdout)
    assert found, r.stdout[-500:] + r.stderr
    assert float(found.group(1)) <= MAX_EXPOSURE, r.stdout
