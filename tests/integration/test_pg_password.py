"""PostgreSQL as an agency runs it: a role that must give its password (scram-sha-256 over
TCP), the password in the environment variable `[storage] database_password_env` names.

Every other test's cluster trusts its `postgres` user, so without this file the password path
(store/handle.py build_engine for the gateway's own connections; gateway/ops/backup.py
pg_target's PGPASSWORD for pg_dump and pg_restore) would never meet a server that asks. The
commands that log in run as the administrator runs them: `python -m gateway` in a process of
its own, whose environment holds the password and no libpq variable (PGPASSWORD, PGPASSFILE …)
that could stand in for it. `db upgrade`, the letters registered and `registers export` run
in this process (a new interpreter costs 1-3 s on this machine), the password in its
environment only for their duration.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.dnsserver import quiet_dns
from tests.integration.test_backup import register, snapshots
from tests.integration.test_cli import cli
from tests.processes import write_config
from tests.servers.postgres import PostgresServer

pytestmark = pytest.mark.integration

ENV = "SARABAN_TEST_DB_PASSWORD"
# what a password manager hands out: URL and shell metacharacters, a quote, a space, Thai
TAIL = uuid.uuid4().hex[:16]  # found however the password is quoted or escaped
PASSWORD = f"ร@:/%' x-{TAIL}"
LETTERS = 20


@dataclass
class Install:
    pg: PostgresServer
    role: str
    live: Path  # a registered store in the role's first database
    fresh: Path  # an empty install on the role's second database: the restore's target


def child_env(password: str | None = PASSWORD) -> dict[str, str]:
    """This environment with `password` (or none) in $SARABAN_TEST_DB_PASSWORD and no libpq
    variable (PGPASSWORD, PGPASSFILE …) that could stand in for it."""
    env = {k: v for k, v in os.environ.items() if not (k.startswith("PG") and k != "PG_BIN_DIR")}
    env.pop(ENV, None)
    if password is not None:
        env[ENV] = password
    return env


def argv(root: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "gateway", "--config", str(root / "config.toml"), *args]


def gateway(root: Path, *args: str, password: str | None = PASSWORD) -> subprocess.CompletedProcess[bytes]:
    """`python -m gateway --config root/config.toml ARGS` in a process of its own."""
    return subprocess.run(argv(root, *args), cwd=root, env=child_env(password), capture_output=True,
                          timeout=120)


def ok(r: subprocess.CompletedProcess[bytes]) -> str:
    assert r.returncode == 0, r.stderr.decode("utf-8", "replace")
    return r.stdout.decode("utf-8")


def install(root: Path, url: str) -> Path:
    root.mkdir(parents=True)
    storage = f'database_url = "{url}"\ndatabase_password_env = "{ENV}"'
    write_config(root / "config.toml", data_dir="data", storage=storage, dns=quiet_dns())
    return root


def in_process(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The command in this process (a new interpreter costs ~1-3 s here), the password in
    this process's environment for its duration only."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ENV, PASSWORD)
        for name in [k for k in os.environ if k.startswith("PG") and k != "PG_BIN_DIR"]:
            mp.delenv(name)
        return cli(root, *args)


def export(root: Path) -> bytes:
    r = in_process(root, "registers", "export", "--book", "receive", "--format", "json")
    assert r.returncode == 0, r.stderr
    return r.stdout.encode("utf-8")


@pytest.fixture(scope="module")
def site(postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Install]:
    role = f"t_clerk_{uuid.uuid4().hex[:8]}"
    with postgres_server.require_password(role, PASSWORD, [f"{role}_live", f"{role}_fresh"]) as urls:
        base = tmp_path_factory.mktemp("pgpass")
        live, fresh = install(base / "live", urls[0]), install(base / "fresh", urls[1])
        assert "@127.0.0.1:" in urls[0] and PASSWORD not in (live / "config.toml").read_text()
        r = in_process(live, "db", "upgrade")
        assert r.returncode == 0, r.stderr
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv(ENV, PASSWORD)
            register(live, 0, LETTERS)  # as the gateway registers: blob, then its commit
        yield Install(postgres_server, role, live, fresh)


def test_upgrade_register_export_backup_check_and_restore_with_a_password(
        site: Install, tmp_path: Path) -> None:
    before = export(site.live)
    assert [e["letter_no"] for e in json.loads(before)][-1] == f"ศธ 0400/{LETTERS - 1}", before[:300]
    dest = tmp_path / "dest"
    out = ok(gateway(site.live, "db", "backup", str(dest)))  # pg_dump logs in with PGPASSWORD
    assert "สำรองข้อมูลเสร็จ" in out
    [snap] = snapshots(dest)
    assert (snap / "database.pgdump").is_file()
    assert cli(site.live, "db", "check-backup", str(snap)).returncode == 0  # needs no login: in-process
    ok(gateway(site.fresh, "db", "restore", str(snap)))  # pg_restore logs in with PGPASSWORD
    assert export(site.fresh) == before  # byte for byte
    owners = site.pg.execute("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'",
                             dbname=f"{site.role}_fresh")
    assert owners == [(site.role,)]  # restored as the password role, not as a superuser


def _cmdlines() -> dict[int, bytes]:
    found = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                found[int(p.name)] = (p / "cmdline").read_bytes()
            except OSError:  # gone meanwhile
                pass
    return found


def test_the_password_is_on_no_command_line_and_in_no_file(site: Install, tmp_path: Path) -> None:
    """pg_dump is held mid-dump by a lock on a table the backup's own queries do not read, so
    the command lines are looked at while it (and the gateway waiting on it) are alive."""
    import psycopg

    secret = [PASSWORD.encode(), TAIL.encode()]
    dest = tmp_path / "dest"
    with psycopg.connect(site.pg.dsn(f"{site.role}_live"), connect_timeout=10) as holder:
        holder.execute("LOCK TABLE audit_log IN ACCESS EXCLUSIVE MODE")
        proc = subprocess.Popen(argv(site.live, "db", "backup", str(dest)), cwd=site.live,
                                env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            waiting = """SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
                         WHERE NOT l.granted AND a.application_name = 'pg_dump' AND a.usename = %s"""
            deadline = time.monotonic() + 60
            while site.pg.execute(waiting, (site.role,))[0][0] == 0:  # logged in, now blocked
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "pg_dump never reached the lock"
                time.sleep(0.02)
            lines = _cmdlines()
        finally:
            holder.rollback()  # the lock goes; pg_dump goes on
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    dumps = [c for c in lines.values() if b"pg_dump\0" in c or c.startswith(b"pg_dump")]
    assert any(b"--snapshot=" in c for c in dumps), "the look missed pg_dump"
    assert any(b"db\0backup\0" in c for c in lines.values()), "the look missed the gateway"
    assert [(pid, c.split(b"\0")[0]) for pid, c in lines.items() if any(s in c for s in secret)] == []
    [snap] = snapshots(dest)
    files = [p for p in dest.rglob("*") if p.is_file()]
    assert len(files) > 2 * LETTERS  # the manifest, the dump, the blobs
    # (the dump is compressed, so this proves little for it beyond what pg_dump promises: no roles)
    assert [p for p in files if any(s in p.read_bytes() for s in secret)] == []
    assert not any(s in (site.live / "config.toml").read_bytes() for s in secret)
    assert not any(s in site.pg.log_file.read_bytes() for s in secret)  # log_statement is off


LOGIN_FAILURE = "ติดต่อฐานข้อมูลไม่ได้"


@pytest.mark.parametrize("password,said,command", [
    ("not the password", LOGIN_FAILURE, ("db", "backup")),  # the nightly job after a password change
    (None, f"ไม่พบตัวแปรสภาพแวดล้อม {ENV}", ("registers", "export", "--book", "receive")),
], ids=["a wrong password", "no password in the environment"])
def test_a_wrong_or_missing_password_is_one_line_not_a_traceback(
        site: Install, tmp_path: Path, password: str | None, said: str, command: tuple[str, ...]) -> None:
    args = (*command, str(tmp_path / "dest")) if command[0] == "db" else command
    r = gateway(site.live, *args, password=password)
    err = r.stderr.decode("utf-8")
    assert r.returncode == 1 and r.stdout == b"", err
    assert "Traceback" not in err, err
    thai, english = err.splitlines()  # the form every command failure takes: Thai, then English
    assert thai.startswith("ผิดพลาด: ") and said in thai, err
    assert english.startswith("error: "), err
    if password is not None:
        assert password not in err
    assert not (tmp_path / "dest").exists() or snapshots(tmp_path / "dest") == []


def test_check_logs_in_with_the_password(site: Install) -> None:
    r = gateway(site.live, "check")
    database = [line for line in r.stdout.decode().splitlines() if " database " in f"{line} "]
    assert database and database[0].startswith("✓ database"), r.stdout.decode()
    assert "เชื่อมต่อได้" in database[0], database
