"""A real PostgreSQL cluster as a throwaway test server.

    with PostgresServer() as pg:
        url = pg.create_database("t_demo")   # postgresql+psycopg://postgres@127.0.0.1:PORT/t_demo
        pg.drop_database("t_demo")

``initdb`` into a temp dir (as the ``postgres`` system user when running as root: PostgreSQL
refuses to run as root), then ``postgres -D`` as a direct child process (what ``pg_ctl start``
runs, minus the daemonising: a daemonised postmaster becomes a zombie of PID 1 after stopping) on
127.0.0.1 with a free port, its own unix socket dir, trust authentication,
fsync/synchronous_commit/full_page_writes off; stopped with ``pg_ctl -m fast stop`` and reaped.
Binaries come from the highest ``/usr/lib/postgresql/<version>/bin`` (or ``$PG_BIN_DIR``, or
``pg_config --bindir``).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Self

from . import (
    INSTALL_HINT,
    ServerBinaryMissing,
    ServerStartError,
    Watchdog,
    free_port,
    register,
    tail,
    unregister,
)

__all__ = ["PostgresServer", "find_pg_bin_dir"]


_DB_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def _version_key(path: Path) -> tuple[int, ...]:
    parts = re.findall(r"\d+", path.parent.name)
    return tuple(int(p) for p in parts) or (0,)


def find_pg_bin_dir() -> Path:
    """Directory holding initdb and pg_ctl; raises :class:`ServerBinaryMissing`."""
    env = os.environ.get("PG_BIN_DIR")
    candidates: list[Path] = []
    if env:
        candidates.append(Path(env))
    candidates += sorted(
        (p for p in Path("/usr/lib/postgresql").glob("*/bin") if p.is_dir()),
        key=_version_key,
        reverse=True,
    )
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
            if out:
                candidates.append(Path(out))
    for d in candidates:
        if all(os.access(d / b, os.X_OK) for b in ("initdb", "pg_ctl", "postgres")):
            return d
    raise ServerBinaryMissing(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found under "
        f"/usr/lib/postgresql/*/bin (Debian package postgresql): {INSTALL_HINT}"
    )


class PostgresServer:
    """A PostgreSQL cluster on 127.0.0.1:<free port> with trust auth for user ``postgres``."""

    user = "postgres"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        base_dir: str | os.PathLike[str] | None = None,
        settings: Mapping[str, Any] | None = None,
        startup_timeout: float = 60.0,
        keep_base_dir: bool = False,
    ) -> None:
        self.bin_dir = find_pg_bin_dir()
        self.version = self.bin_dir.parent.name
        self.host = host
        self.port = port or 0
        self._fixed_port = port is not None
        self._own_base = base_dir is None
        self.base_dir = Path(base_dir or tempfile.mkdtemp(prefix="saraban-pg-"))
        self.data_dir = self.base_dir / "data"
        self.socket_dir = self.base_dir / "sock"
        self.log_file = self.base_dir / "postgres.log"
        self.keep_base_dir = keep_base_dir
        self.startup_timeout = startup_timeout
        self.settings: dict[str, Any] = {
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": 200,
            "timezone": "'Asia/Bangkok'",
            "log_timezone": "'Asia/Bangkok'",
            **(settings or {}),
        }
        self.initdb_seconds: float | None = None
        self.startup_seconds: float | None = None
        self._as_root = os.geteuid() == 0
        self._started = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._watchdog: Watchdog | None = None

    # ------------------------------------------------------------------ commands

    def _cmd(self, *args: str | os.PathLike[str]) -> list[str]:
        argv = [os.fspath(a) for a in args]
        if self._as_root:
            runuser = shutil.which("runuser", path="/usr/sbin:/usr/bin:/sbin:/bin") or "runuser"
            return [runuser, "-u", self.user, "--", *argv]
        return argv

    def _run(
        self, *args: str | os.PathLike[str], timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            self._cmd(*args),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=self.base_dir,  # runuser'd tools complain if they cannot read the cwd
        )
        return proc

    # ------------------------------------------------------------------ lifecycle

    @property
    def running(self) -> bool:
        return self._started

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<PostgresServer {self.version} {self.host}:{self.port} base={self.base_dir} running={self.running}>"

    def start(self) -> Self:
        if self._started:
            return self
        t0 = time.monotonic()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        if self._as_root:
            try:
                pw = pwd.getpwnam(self.user)
            except KeyError:
                raise ServerBinaryMissing(
                    f"system user {self.user!r} missing (created by the postgresql package): "
                    f"{INSTALL_HINT}"
                ) from None
            os.chown(self.base_dir, pw.pw_uid, pw.pw_gid)
            os.chmod(self.base_dir, 0o700)
        try:
            self._initdb()
            self.initdb_seconds = time.monotonic() - t0
            self._start_server()
        except BaseException:  # also Ctrl-C while waiting: leave nothing running
            if self._proc is not None:
                self._terminate(self._proc)
                self._proc = None
            self._cleanup_dir()
            raise
        self._arm_watchdog()
        register(self)
        self.startup_seconds = time.monotonic() - t0
        return self

    def _arm_watchdog(self) -> None:
        assert self._proc is not None
        if self._watchdog is not None:
            self._watchdog.disarm()
        pid = self._proc.pid
        cleanup = (
            f"kill -INT {pid} 2>/dev/null; i=0; while [ $i -lt 50 ] && kill -0 {pid} 2>/dev/null; "
            f"do sleep 0.1; i=$((i+1)); done; kill -KILL {pid} 2>/dev/null"
        )
        if self._own_base and not self.keep_base_dir:
            cleanup += f"; rm -rf {Watchdog.quote(self.base_dir)}"
        self._watchdog = Watchdog(cleanup)

    def halt(self) -> None:
        """``pg_ctl -m fast stop`` (clients are disconnected, as in a restart), keeping the
        data and the port for :meth:`resume`."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            self._run(self.bin_dir / "pg_ctl", "-D", self.data_dir, "-m", "fast", "-w", "-t", "30",
                      "stop", timeout=60)
            self._terminate(proc)
        self._started = False

    def resume(self) -> Self:
        """Start again after :meth:`halt`: the same data, the same port."""
        if self._proc is not None and self._proc.poll() is None:
            return self
        fixed, self._fixed_port = self._fixed_port, True
        try:
            self._start_server()
        finally:
            self._fixed_port = fixed
        self._arm_watchdog()
        return self

    _INITDB_ARGS = (
        "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8",
        "--no-sync", "--no-instructions",
    )  # fmt: skip

    def _initdb_into(self, data_dir: Path) -> None:
        proc = self._run(self.bin_dir / "initdb", "-D", data_dir, *self._INITDB_ARGS)
        if proc.returncode != 0:
            raise ServerStartError(
                f"initdb failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
            )

    def _initdb(self) -> None:
        # (Copying a cached pristine cluster with ``cp -a`` was measured at 0.2-1.2 s against
        # 0.8-1.0 s for initdb on this machine: not worth a persistent cache.)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb_into(self.data_dir)
        lines = [
            "\n# added by tests/servers/postgres.py",
            f"listen_addresses = '{self.host}'",
            f"unix_socket_directories = '{self.socket_dir}'",
            *(f"{k} = {v}" for k, v in self.settings.items()),
        ]
        with open(self.data_dir / "postgresql.conf", "a", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
        self._mkdir_owned(self.socket_dir)

    def _mkdir_owned(self, path: Path) -> None:
        path.mkdir(exist_ok=True)
        if self._as_root:
            pw = pwd.getpwnam(self.user)
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def _start_server(self) -> None:
        # ``postgres -D`` runs as a direct child (``pg_ctl start`` would daemonise it, leaving
        # a zombie to be reaped by PID 1 after stop); readiness is what ``pg_ctl -w`` checks:
        # the "ready" status line of postmaster.pid.
        last = ""
        kwargs: dict[str, Any] = {}
        if self._as_root:
            pw = pwd.getpwnam(self.user)
            kwargs = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
        for _attempt in range(1 if self._fixed_port else 4):
            if not self._fixed_port:
                self.port = free_port(self.host)
            with open(self.log_file, "ab") as log:
                proc = subprocess.Popen(
                    [
                        os.fspath(self.bin_dir / "postgres"),
                        "-D",
                        os.fspath(self.data_dir),
                        "-p",
                        str(self.port),
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # Ctrl-C is handled by the fixtures
                    close_fds=True,
                    cwd=self.base_dir,
                    **kwargs,
                )
            self._proc = proc
            if self._wait_ready(proc):
                self._started = True
                return
            last = f"postgres did not start (exit code {proc.poll()}):\n{tail(self.log_file)}"
            self._terminate(proc)
            if "already in use" not in last and "could not bind" not in last:
                break
        raise ServerStartError(last)

    def _wait_ready(self, proc: subprocess.Popen[bytes]) -> bool:
        deadline = time.monotonic() + self.startup_timeout
        pidfile = self.data_dir / "postmaster.pid"
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False
            with contextlib.suppress(OSError):
                lines = pidfile.read_text().split("\n")
                if (
                    len(lines) > 7
                    and lines[0].strip() == str(proc.pid)
                    and lines[7].strip() == "ready"
                ):
                    return True
            time.sleep(0.01)
        return False

    def _terminate(self, proc: subprocess.Popen[bytes]) -> None:
        for sig, wait in ((signal.SIGINT, 30.0), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
            if proc.poll() is not None:
                return
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=wait)

    def stop(self) -> None:
        """``pg_ctl -m fast stop``, then wait for (and reap) the postmaster; remove the temp dir."""
        try:
            proc = self._proc
            if proc is not None and proc.poll() is None:
                self._run(
                    self.bin_dir / "pg_ctl",
                    "-D",
                    self.data_dir,
                    "-m",
                    "fast",
                    "-w",
                    "-t",
                    "30",
                    "stop",
                    timeout=60,
                )
                self._terminate(proc)  # waits; escalates only if pg_ctl did not stop it
            self._proc = None
            self._started = False
        finally:
            if self._watchdog is not None:
                self._watchdog.disarm()
                self._watchdog = None
            unregister(self)
            self._cleanup_dir()

    def _cleanup_dir(self) -> None:
        if self._own_base and not self.keep_base_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    # ------------------------------------------------------------------ databases

    def url(self, dbname: str = "postgres", driver: str = "psycopg") -> str:
        """SQLAlchemy URL, e.g. ``postgresql+psycopg://postgres@127.0.0.1:PORT/DB``."""
        scheme = f"postgresql+{driver}" if driver else "postgresql"
        return f"{scheme}://{self.user}@{self.host}:{self.port}/{dbname}"

    def dsn(self, dbname: str = "postgres") -> str:
        """libpq connection string for ``psycopg.connect``."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{dbname}"

    def execute(
        self, sql: str, params: Any = None, dbname: str = "postgres"
    ) -> list[tuple[Any, ...]]:
        """Run one statement in autocommit mode; returns the rows (if any)."""
        import psycopg

        with psycopg.connect(self.dsn(dbname), autocommit=True, connect_timeout=10) as conn:
            cur = conn.execute(sql, params)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []

    def create_database(self, name: str | None = None) -> str:
        """Create database ``name`` (random if None); returns its postgresql+psycopg URL."""
        import psycopg
        from psycopg import sql

        name = name or f"t_{uuid.uuid4().hex[:12]}"
        if not _DB_NAME_RE.match(name):
            raise ValueError(f"database name {name!r} must match {_DB_NAME_RE.pattern}")
        with psycopg.connect(self.dsn(), autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name``, terminating its remaining connections (PostgreSQL >= 13)."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.dsn(), autocommit=True, connect_timeout=10) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    @contextlib.contextmanager
    def require_password(self, role: str, password: str, databases: Sequence[str]) -> Iterator[list[str]]:
        """A LOGIN role that must give `password` (scram-sha-256 over TCP, as an agency's
        PostgreSQL asks), owning the new empty `databases`; yields their URLs (no password in
        them). The pg_hba.conf lines put first name only `role`, so ``postgres`` and every
        other test keep trust; on exit the databases and the role are dropped and the lines
        taken out again."""
        import psycopg
        from psycopg import sql

        for name in (role, *databases):
            if not _DB_NAME_RE.match(name):
                raise ValueError(f"name {name!r} must match {_DB_NAME_RE.pattern}")
        hba = self.data_dir / "pg_hba.conf"
        mark = f"# require_password {role}"
        try:
            with psycopg.connect(self.dsn(), autocommit=True, connect_timeout=10) as conn:
                conn.execute("SET password_encryption = 'scram-sha-256'")
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(password)))
                for db in databases:
                    conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(db), sql.Identifier(role)))
            lines = [f"host all {role} {net} scram-sha-256  {mark}" for net in ("127.0.0.1/32", "::1/128")]
            hba.write_text("\n".join(lines) + "\n" + hba.read_text())  # first match wins
            self.execute("SELECT pg_reload_conf()")
            self._wait_refused(role, databases[0] if databases else "postgres")
            yield [self.url(db).replace(f"//{self.user}@", f"//{role}@", 1) for db in databases]
        finally:
            with psycopg.connect(self.dsn(), autocommit=True, connect_timeout=10) as conn:
                for db in databases:
                    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db)))
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
            hba.write_text("".join(line for line in hba.read_text().splitlines(keepends=True)
                                   if not line.rstrip().endswith(mark)))
            self.execute("SELECT pg_reload_conf()")

    def _wait_refused(self, role: str, dbname: str, timeout: float = 10.0) -> None:
        """Until the postmaster has read the new pg_hba.conf: `role` without a password is
        refused (under trust it got in)."""
        import psycopg

        deadline = time.monotonic() + timeout
        dsn = f"postgresql://{role}@{self.host}:{self.port}/{dbname}"
        while True:
            try:
                psycopg.connect(dsn, connect_timeout=10, passfile=str(self.base_dir / "none")).close()
            except psycopg.OperationalError as exc:
                if "password" in str(exc):
                    return
                raise
            if time.monotonic() > deadline:
                raise ServerStartError(f"pg_hba.conf not reloaded after {timeout} s:\n{self.log_tail()}")
            time.sleep(0.01)

    def log_tail(self, lines: int = 40) -> str:
        return tail(self.log_file, lines)
