"""Helpers shared by the tests and the benchmarks that run whole gateways: the config file
they start them with, stopping the processes they started, and noting when the gateway logged
a lost connection."""

from __future__ import annotations

import logging
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.servers.dovecot import DovecotServer

CENTRAL = "saraban@agency.test"
AGENCY_TH = "สำนักงานทดสอบ"
NO_DIGEST = "digest = false  # scheduled work off: the daily digest would depend on the hour the test runs"


def config_text(sections: str = "", *, central: str = CENTRAL, data_dir: str | Path = "data",
                storage: str = "", dns: str = "", name_th: str = AGENCY_TH,
                forwarding: str = NO_DIGEST) -> str:
    """The text of a config.toml for a gateway a test or benchmark runs as a whole: the test
    agency (named `name_th`) with its central address, its data directory (+ `storage` lines,
    e.g. a database_url), the [forwarding] lines (scheduled work off), /metrics on a free port;
    then `sections`, the tables the test is about (each with its header); and with `dns`, the
    address of the test's own DNS server (tests/dnsserver.py), the [authentication] table that
    has the sender checks ask it, never the internet."""
    authentication = f'\n[authentication]\ndns_servers = ["{dns}"]\n' if dns else ""
    return f"""
[agency]
name_th = "{name_th}"
letter_code = "ศธ 04183"
latin_code = "TEST04183"
central_addresses = ["{central}"]

[storage]
data_dir = "{data_dir}"
{storage}
[forwarding]
{forwarding}

[health]
listen = "127.0.0.1:0"  # gateways side by side in tests: no fixed port
{sections}{authentication}"""


def imap_table(dovecot: DovecotServer, user: str, password_env: str) -> str:
    """The `[[imap]]` table of a central mailbox `user` on a test Dovecot (tests/servers), its
    password in the environment variable `password_env`, polled every second."""
    return f"""
[[imap]]
name = "central"
host = "127.0.0.1"
port = {dovecot.imaps_port}
user = "{user}"
password_env = "{password_env}"
ca_file = "{dovecot.ca_file}"
poll_seconds = 1
"""


def smtp_gateway_config(path: Path, *, database_url: str, port: int, dns: str, intake: str = "",
                        extra: str = "", central: str = CENTRAL) -> Path:
    """A gateway that takes letters in by its SMTP listener on 127.0.0.1:`port` (no submission
    server) into `database_url`, and asks the test's own DNS server `dns` about senders (never
    the internet). Every letter is acknowledged, so the hourly limit per sender is raised;
    `intake` adds lines to [intake], `extra` whole tables."""
    return write_config(path, f"""
[smtp_listener]
host = "127.0.0.1"
port = {port}

[submission]
enabled = false

[intake]
max_auto_mail_per_sender_hour = 100000
{intake}
{extra}""", central=central, storage=f'database_url = "{database_url}"', dns=dns)


def write_config(path: Path, sections: str = "", *, central: str = CENTRAL,
                 data_dir: str | Path = "data", storage: str = "", dns: str = "",
                 name_th: str = AGENCY_TH, forwarding: str = NO_DIGEST) -> Path:
    """`config_text` written to `path` (UTF-8); returns the path."""
    path.write_text(config_text(sections, central=central, data_dir=data_dir, storage=storage,
                                dns=dns, name_th=name_th, forwarding=forwarding), encoding="utf-8")
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
