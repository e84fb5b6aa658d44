"""Real throwaway servers for integration tests (Dovecot IMAP/LMTP, PostgreSQL) and a test PKI.

Every server binds 127.0.0.1 only, on free ports, and lives in its own temp dir.  Three layers
make sure no server outlives the test run:

1. the pytest fixtures in :mod:`tests.servers.plugin` stop them at session end (yield fixtures);
2. an :mod:`atexit` hook stops whatever is still registered when the interpreter exits;
3. a tiny shell *watchdog* per server, in its own session, holds the read end of a pipe whose
   write end only this Python process has; if the process dies without saying "done" (SIGKILL,
   SIGTERM, crash) the watchdog gets EOF and stops the server and removes its temp dir.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shlex
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Protocol

__all__ = [
    "INSTALL_HINT",
    "ServerBinaryMissing",
    "ServerStartError",
    "Watchdog",
    "free_port",
    "kill_tree",
    "process_tree",
    "register",
    "stop_all",
    "unregister",
    "wait_for_port",
]

INSTALL_HINT = "run scripts/install-system-deps.sh (as root, or with sudo) to install it"


class ServerBinaryMissing(RuntimeError):
    """A server binary (dovecot, initdb, pg_ctl, ...) is not installed."""


class ServerStartError(RuntimeError):
    """The server was installed but did not come up; the message includes its log tail."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (callers retry on a bind race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float, alive=lambda: True) -> None:
    """Wait until ``host:port`` accepts TCP connections; ``alive()`` False aborts early."""
    deadline = time.monotonic() + timeout
    last: OSError | None = None
    while time.monotonic() < deadline:
        if not alive():
            raise ServerStartError(f"server process exited before {host}:{port} was listening")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError as exc:
            last = exc
            time.sleep(0.01)
    raise ServerStartError(f"{host}:{port} not listening after {timeout:.1f}s ({last})")


def tail(path: str | os.PathLike[str], lines: int = 30) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


# --------------------------------------------------------------------------- watchdog

_WATCHDOG_SH = 'IFS= read -r line; [ "$line" = done ] && exit 0; exec /bin/sh -c "$1"'


class Watchdog:
    """Runs ``cleanup`` (a shell command) if this process dies without calling :meth:`disarm`."""

    def __init__(self, cleanup: str) -> None:
        self.cleanup = cleanup
        self._proc = subprocess.Popen(
            ["/bin/sh", "-c", _WATCHDOG_SH, "saraban-test-watchdog", cleanup],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in the terminal must not kill it
            close_fds=True,
        )

    def disarm(self) -> None:
        proc = self._proc
        if proc.poll() is None and proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.write(b"done\n")
                proc.stdin.flush()
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    @staticmethod
    def quote(*parts: str | os.PathLike[str]) -> str:
        return " ".join(shlex.quote(os.fspath(p)) for p in parts)


# --------------------------------------------------------------------------- registry


class _Stoppable(Protocol):
    def stop(self) -> None: ...


_registry: dict[int, _Stoppable] = {}
_registry_lock = threading.Lock()


def register(server: _Stoppable) -> None:
    with _registry_lock:
        _registry[id(server)] = server


def unregister(server: _Stoppable) -> None:
    with _registry_lock:
        _registry.pop(id(server), None)


@atexit.register
def stop_all() -> None:
    """Stop every server still running (atexit backstop; also safe to call directly)."""
    with _registry_lock:
        servers = list(_registry.values())
    for server in servers:
        with contextlib.suppress(Exception):
            server.stop()


# --------------------------------------------------------------------------- processes


def _stat(pid: int) -> tuple[int, int, str] | None:
    """(ppid, starttime, state) of ``pid`` from /proc, or None if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = raw[raw.rindex(")") + 2 :].split()
    return int(rest[1]), int(rest[19]), rest[0]


def process_tree(root: int) -> list[tuple[int, int]]:
    """(pid, starttime) of ``root`` and all its descendants (Linux /proc)."""
    children: dict[int, list[tuple[int, int]]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        st = _stat(int(entry))
        if st is not None:
            children.setdefault(st[0], []).append((int(entry), st[1]))
    root_stat = _stat(root)
    if root_stat is None:
        return []
    out = [(root, root_stat[1])]
    todo = [root]
    while todo:
        pid = todo.pop()
        for child in children.get(pid, []):
            out.append(child)
            todo.append(child[0])
    return out


def alive(pid: int, starttime: int | None = None) -> bool:
    st = _stat(pid)
    if st is None or st[2] == "Z":
        return False
    return starttime is None or st[1] == starttime


def kill_tree(procs: list[tuple[int, int]], sig: int) -> None:
    for pid, start in procs:
        if alive(pid, start):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)


def wait_gone(procs: list[tuple[int, int]], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(alive(p, s) for p, s in procs):
            return True
        time.sleep(0.02)
    return not any(alive(p, s) for p, s in procs)
