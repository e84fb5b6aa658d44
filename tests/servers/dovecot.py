"""A real Dovecot (IMAP + IMAPS + LMTP) as a throwaway test server.

    with DovecotServer({"saraban@agency.test": "secret"}) as dc:
        dc.host, dc.imap_port, dc.imaps_port, dc.lmtp_port, dc.ca_file
        dc.deliver("saraban@agency.test", raw_bytes)         # LMTP
        dc.message_count("saraban@agency.test")              # doveadm
        dc.create_mailbox("saraban@agency.test", "หนังสือรับ")   # returns the mUTF-7 name

It writes its own config (nothing from /etc/dovecot is read) into a temp ``base_dir``, listens on
127.0.0.1 only, on free ports, and runs ``dovecot -F -c CONF`` as a child of this process (so it
can be waited for and never becomes a zombie).  Users live in per-user ``passwd-file``s
(``{PLAIN}`` passwords, UTF-8 allowed; :meth:`add_user` works at once on a running server).  As root, mail is owned by a system user (``vmail``, created with
``useradd -r`` if missing, else ``nobody``); as non-root everything runs as the current user.

Traps handled here:
* dovecot keeps stderr open after start: stdio goes to /dev/null and ``<base>/dovecot.stderr``;
* ``mail_max_userip_connections`` defaults to 10 per user and IP: raised to 200 for tests;
* ``auth_failure_delay`` defaults to 2 s: set to 0 so wrong-password tests are fast;
* anvil's auth penalty: after one failed login every later login from the same IP (successful
  ones too) waits 2 s, 4 s, ... up to 15 s (``login_trusted_networks`` does not help in 2.3);
  anvil's ``anvil-auth-penalty`` listener is disabled (``mode = 0``), which switches it off;
* no UTF8=ACCEPT: mailbox names on the wire are modified UTF-7 (see :func:`mutf7_encode`),
  while ``doveadm`` takes and prints UTF-8 names.
"""

from __future__ import annotations

import base64
import contextlib
import grp
import os
import pwd
import re
import shutil
import signal
import smtplib
import ssl
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Self

from . import (
    INSTALL_HINT,
    ServerBinaryMissing,
    ServerStartError,
    Watchdog,
    alive,
    free_port,
    kill_tree,
    process_tree,
    register,
    tail,
    unregister,
    wait_for_port,
    wait_gone,
)
from .tls import TestPKI, client_ssl_context, make_test_pki

__all__ = ["DovecotServer", "find_dovecot", "mutf7_decode", "mutf7_encode"]


# --------------------------------------------------------------------------- modified UTF-7


def mutf7_encode(name: str) -> str:
    """Encode a mailbox name in IMAP modified UTF-7 (RFC 3501 section 5.1.3)."""
    out: list[str] = []
    buf: list[str] = []

    def flush() -> None:
        if buf:
            raw = "".join(buf).encode("utf-16-be")
            b64 = base64.b64encode(raw).decode("ascii").rstrip("=").replace("/", ",")
            out.append("&" + b64 + "-")
            buf.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            buf.append(ch)
    flush()
    return "".join(out)


_MUTF7_RE = re.compile(r"&([^-]*)-")


def mutf7_decode(name: str) -> str:
    """Decode an IMAP modified UTF-7 mailbox name."""

    def dec(m: re.Match[str]) -> str:
        b64 = m.group(1)
        if not b64:
            return "&"
        b64 = b64.replace(",", "/")
        b64 += "=" * (-len(b64) % 4)
        return base64.b64decode(b64).decode("utf-16-be")

    return _MUTF7_RE.sub(dec, name)


# --------------------------------------------------------------------------- binaries / users


def find_dovecot() -> tuple[str, str]:
    """Paths of ``dovecot`` and ``doveadm``; raises :class:`ServerBinaryMissing`."""
    found = []
    for name in ("dovecot", "doveadm"):
        path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
        if path is None:
            raise ServerBinaryMissing(
                f"{name} not found (Debian packages dovecot-imapd, dovecot-lmtpd): {INSTALL_HINT}"
            )
        found.append(path)
    lmtp = Path("/usr/lib/dovecot/lmtp")
    if Path("/usr/lib/dovecot").is_dir() and not lmtp.exists():
        raise ServerBinaryMissing(f"{lmtp} not found (package dovecot-lmtpd): {INSTALL_HINT}")
    return found[0], found[1]


def _mail_account(preferred: str | None) -> tuple[str, int, int]:
    """(name, uid, gid) of the system user that owns the test mail (root only)."""
    if preferred:
        pw = pwd.getpwnam(preferred)
        return pw.pw_name, pw.pw_uid, pw.pw_gid
    for attempt in range(2):
        try:
            pw = pwd.getpwnam("vmail")
            return pw.pw_name, pw.pw_uid, pw.pw_gid
        except KeyError:
            pass
        if attempt == 0 and shutil.which("useradd", path="/usr/sbin:/usr/bin:/sbin:/bin"):
            # Concurrent sessions may race here: a failure is followed by a second lookup.
            subprocess.run(
                [
                    shutil.which("useradd", path="/usr/sbin:/usr/bin:/sbin:/bin") or "useradd",
                    "--system", "--user-group", "--no-create-home",
                    "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
                    "--comment", "virtual mail (test servers)", "vmail",
                ],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                check=False, timeout=30,
            )  # fmt: skip
    pw = pwd.getpwnam("nobody")
    return pw.pw_name, pw.pw_uid, pw.pw_gid


def _check_credentials(user: str, password: str) -> None:
    for label, value in (("user", user), ("password", password)):
        bad = set(value) & {":", "\n", "\r", "\0"}
        if bad:
            raise ValueError(f"{label} may not contain {sorted(bad)!r} (passwd-file format)")
    if not user or "/" in user or user.startswith("."):
        raise ValueError(f"bad user name {user!r}")


# --------------------------------------------------------------------------- server


class DovecotServer:
    """A Dovecot instance on 127.0.0.1 with IMAP (STARTTLS), IMAPS and LMTP on free ports."""

    def __init__(
        self,
        users: Mapping[str, str] | None = None,
        *,
        host: str = "127.0.0.1",
        base_dir: str | os.PathLike[str] | None = None,
        pki: TestPKI | None = None,
        mail_user: str | None = None,
        extra_config: str = "",
        startup_timeout: float = 15.0,
        keep_base_dir: bool = False,
        oauth2_introspection_url: str | None = None,
        prefix: str = "",
        separator: str = "",
        sent_folder: str = "Sent",
    ) -> None:
        self.dovecot_bin, self.doveadm_bin = find_dovecot()
        self.host = host
        self.users: dict[str, str] = {}
        for user, password in (users or {}).items():
            _check_credentials(user, password)
            self.users[user] = password
        self._own_base = base_dir is None
        self.base_dir = Path(base_dir or tempfile.mkdtemp(prefix="saraban-dovecot-"))
        self.keep_base_dir = keep_base_dir
        self.extra_config = extra_config
        # OAuth 2.0 variant: XOAUTH2 / OAUTHBEARER checked by the oauth2 passdb, which asks this
        # RFC 7662 endpoint (POST token=...) whether a bearer token is active and for whom
        self.oauth2_introspection_url = oauth2_introspection_url
        # The personal namespace as other servers lay it out: Courier IMAP and Cyrus (and a
        # Dovecot set up to stand in for them) put every folder under "INBOX." (prefix "INBOX.",
        # separator "."); Exchange calls the client's Sent folder "Sent Items" (special-use \Sent).
        self.prefix, self.separator, self.sent_folder = prefix, separator, sent_folder
        self.startup_timeout = startup_timeout
        self._pki = pki
        self._mail_user_pref = mail_user
        self.instance_name = f"saraban-test-{uuid.uuid4().hex[:8]}"

        self.conf = self.base_dir / "dovecot.conf"
        self.conf_path = self.conf  # alias
        self.run_dir = self.base_dir / "run"  # dovecot's base_dir (sockets, master.pid)
        self.state_dir = self.base_dir / "state"
        self.mail_root = self.base_dir / "mail"
        self.passwd_dir = self.base_dir / "passwd.d"  # one passwd-file per user
        self.log_file = self.base_dir / "dovecot.log"
        self.stderr_file = self.base_dir / "dovecot.stderr"

        self.imap_port = 0
        self.imaps_port = 0
        self.lmtp_port = 0
        self.ca_file: Path | None = pki.ca_file if pki else None
        self.cert_file: Path | None = pki.cert_file if pki else None
        self.key_file: Path | None = pki.key_file if pki else None
        self.pid: int | None = None
        self.startup_seconds: float | None = None
        self.mail_uid = os.getuid()
        self.mail_gid = os.getgid()
        self.mail_user_name = pwd.getpwuid(os.getuid()).pw_name
        self._proc: subprocess.Popen[bytes] | None = None
        self._watchdog: Watchdog | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return (
            f"<DovecotServer {self.host} imap={self.imap_port} imaps={self.imaps_port} "
            f"lmtp={self.lmtp_port} base={self.base_dir} running={self.running}>"
        )

    def start(self) -> Self:
        if self.running:
            return self
        t0 = time.monotonic()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        # Traversable by dovecot's unprivileged processes (auth, login, mail user).
        os.chmod(self.base_dir, 0o711)
        if self._pki is None:
            self._pki = make_test_pki(self.base_dir / "tls")
        self.ca_file = self._pki.ca_file
        self.cert_file = self._pki.cert_file
        self.key_file = self._pki.key_file

        if os.geteuid() == 0:
            self.mail_user_name, self.mail_uid, self.mail_gid = _mail_account(self._mail_user_pref)
        for d in (self.state_dir, self.mail_root):
            d.mkdir(parents=True, exist_ok=True)
        os.chmod(self.mail_root, 0o700)
        os.chown(self.mail_root, self.mail_uid, self.mail_gid)
        for user in self.users:
            self._make_home(user)
        self._write_passwd()

        last_error: Exception | None = None
        try:
            for _attempt in range(4):  # free ports can be taken by someone else in between
                self.imap_port, self.imaps_port, self.lmtp_port = self._pick_ports()
                self._write_conf()
                try:
                    self._spawn()
                    break
                except ServerStartError as exc:
                    last_error = exc
                    self._reap()
                    if "in use" not in str(exc):
                        break
        except BaseException:  # also Ctrl-C while waiting: leave nothing running
            self._reap()
            self._cleanup_dir()
            raise
        if not self.running:
            self._cleanup_dir()
            raise last_error or ServerStartError("dovecot did not start")

        self._arm_watchdog()
        register(self)
        self.startup_seconds = time.monotonic() - t0
        return self

    def _arm_watchdog(self) -> None:
        if self._watchdog is not None:
            self._watchdog.disarm()
        self._watchdog = Watchdog(
            f"kill -TERM {self.pid} 2>/dev/null; sleep 1; kill -KILL {self.pid} 2>/dev/null; "
            + (f"rm -rf {Watchdog.quote(self.base_dir)}" if self._own_base and not self.keep_base_dir else "true")
        )  # fmt: skip

    def halt(self) -> None:
        """Stop the server as an outage does (its clients' connections are closed at once),
        keeping its mail, configuration and ports for :meth:`resume`."""
        self._reap()

    def resume(self) -> Self:
        """Start again after :meth:`halt`: the same ports, the same mail."""
        if self.running:
            return self
        self._spawn()
        self._arm_watchdog()
        return self

    def _pick_ports(self) -> tuple[int, int, int]:
        ports: set[int] = set()
        while len(ports) < 3:
            ports.add(free_port(self.host))
        a, b, c = sorted(ports)
        return a, b, c

    def _spawn(self) -> None:
        with open(os.devnull, "rb") as devnull_in, open(self.stderr_file, "ab") as err:
            self._proc = subprocess.Popen(
                [self.dovecot_bin, "-F", "-c", str(self.conf)],
                stdin=devnull_in,
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,  # Ctrl-C is handled by the fixtures, not by dovecot
                close_fds=True,
                cwd=self.base_dir,
            )
        self.pid = self._proc.pid
        proc = self._proc
        try:
            for port in (self.imap_port, self.imaps_port, self.lmtp_port):
                wait_for_port(
                    self.host, port, self.startup_timeout, alive=lambda: proc.poll() is None
                )
        except ServerStartError as exc:
            with contextlib.suppress(Exception):
                proc.wait(timeout=1)
            raise ServerStartError(f"dovecot failed to start: {exc}\n{self.log_tail()}") from None

    @property
    def master_pid(self) -> int | None:
        """The pid in ``<run_dir>/master.pid`` (the ``dovecot -F`` child), if running."""
        try:
            return int((self.run_dir / "master.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _reap(self) -> None:
        proc = self._proc
        if proc is None:
            return
        tree = process_tree(proc.pid) if proc.poll() is None else []
        master = self.master_pid
        if master is not None and master != proc.pid and alive(master):  # never seen; be safe
            tree += process_tree(master)
        if proc.poll() is None:
            # SIGTERM to the master alone takes ~1.1 s (it waits for its services); signalling
            # the whole tree at once takes ~5 ms.  It is a throwaway server: no data to keep.
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            kill_tree([(p, s) for p, s in tree if p != proc.pid], signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        # Master is gone: anything of its tree still alive gets SIGKILL.
        leftovers = [(p, s) for p, s in tree if p != proc.pid]
        if not wait_gone(leftovers, 2.0):
            kill_tree(leftovers, signal.SIGKILL)
            wait_gone(leftovers, 2.0)
        self._proc = None

    def stop(self) -> None:
        """Stop dovecot (SIGTERM to the master, wait, SIGKILL stragglers); remove the temp dir."""
        try:
            self._reap()
        finally:
            if self._watchdog is not None:
                self._watchdog.disarm()
                self._watchdog = None
            unregister(self)
            self._cleanup_dir()

    def _cleanup_dir(self) -> None:
        if self._own_base and not self.keep_base_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    # ------------------------------------------------------------------ config

    def _write_passwd(self, only: str | None = None) -> None:
        """One passwd-file per user (``passwd.d/<user>``).

        Dovecot re-stats a passwd-file at most once per second, so users added to a single file
        stay unknown for up to 1 s; a per-user path (``%u`` in the passdb args) is read fresh."""
        self.passwd_dir.mkdir(exist_ok=True)
        try:
            # Read by the auth process, which runs as dovecot's internal user.
            gid = grp.getgrnam("dovecot").gr_gid if os.geteuid() == 0 else os.getgid()
            mode = 0o640
        except KeyError:
            gid, mode = os.getgid(), 0o644
        os.chown(self.passwd_dir, os.getuid(), gid)
        os.chmod(self.passwd_dir, 0o750 if mode == 0o640 else 0o755)
        for user, password in self.users.items():
            if only is not None and user != only:
                continue
            key = user.lower()  # auth_username_format = %Lu lowercases before the lookup
            path = self.passwd_dir / key
            tmp = self.passwd_dir / f".{key}.tmp"
            tmp.write_text(f"{key}:{{PLAIN}}{password}::::::\n", encoding="utf-8")
            os.chown(tmp, os.getuid(), gid)
            os.chmod(tmp, mode)
            os.replace(tmp, path)

    def _make_home(self, user: str) -> None:
        home = self.home(user)
        if not home.exists():
            home.mkdir(mode=0o700)
            os.chown(home, self.mail_uid, self.mail_gid)

    def _write_conf(self) -> None:
        root = os.geteuid() == 0
        dh = Path("/usr/share/dovecot/dh.pem")
        me = pwd.getpwuid(os.getuid()).pw_name
        my_group = grp.getgrgid(os.getgid()).gr_name
        if root:
            ids = f"""
mail_uid = {self.mail_uid}
mail_gid = {self.mail_gid}
first_valid_uid = {self.mail_uid}
last_valid_uid = {self.mail_uid}
first_valid_gid = {self.mail_gid}
last_valid_gid = {self.mail_gid}
"""
            chroot_login = ""
        else:
            ids = f"""
default_internal_user = {me}
default_internal_group = {my_group}
default_login_user = {me}
first_valid_uid = {os.getuid()}
first_valid_gid = {os.getgid()}
"""
            chroot_login = "  chroot =\n"
        mechanisms, passdbs = "plain login", f"""passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.passwd_dir}/%u
}}"""
        if self.oauth2_introspection_url:
            ext = self.base_dir / "dovecot-oauth2.conf.ext"
            ext.write_text(
                f"introspection_url = {self.oauth2_introspection_url}\n"
                "introspection_mode = post\n"
                "username_attribute = username\n"
                "active_attribute = active\n"
                "active_value = true\n", encoding="utf-8")
            os.chmod(ext, 0o644)
            mechanisms += " xoauth2 oauthbearer"
            passdbs = f"""passdb {{
  driver = passwd-file
  mechanisms = none plain login
  args = scheme=PLAIN username_format=%u {self.passwd_dir}/%u
}}
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {ext}
}}"""
        conf = f"""# generated by tests/servers/dovecot.py - throwaway test server
instance_name = {self.instance_name}
base_dir = {self.run_dir}
state_dir = {self.state_dir}
log_path = {self.log_file}
info_log_path = {self.log_file}
protocols = imap lmtp
listen = {self.host}
shutdown_clients = yes

ssl = yes
ssl_cert = <{self.cert_file}
ssl_key = <{self.key_file}
{f"ssl_dh = <{dh}" if dh.exists() else ""}
ssl_min_protocol = TLSv1.2

disable_plaintext_auth = no
auth_mechanisms = {mechanisms}
auth_failure_delay = 0
auth_verbose = yes
auth_cache_size = 0

mail_location = maildir:~/Maildir
mail_fsync = never
{ids}
namespace inbox {{
  inbox = yes
  {f"prefix = {self.prefix}" if self.prefix else ""}
  {f"separator = {self.separator}" if self.separator else ""}
  mailbox Drafts {{
    special_use = \\Drafts
  }}
  mailbox "{self.sent_folder}" {{
    special_use = \\Sent
  }}
  mailbox Trash {{
    special_use = \\Trash
  }}
  mailbox Junk {{
    special_use = \\Junk
  }}
}}

{passdbs}
userdb {{
  driver = static
  args = uid={self.mail_uid} gid={self.mail_gid} home={self.mail_root}/%u
}}

service anvil {{
  # No auth penalty: one failed login would delay every later login from 127.0.0.1 (even
  # successful ones) by 2, 4, 8 ... 15 s.  Without this socket the auth process disables it.
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
{chroot_login}}}
service imap-login {{
  inet_listener imap {{
    address = {self.host}
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    address = {self.host}
    port = {self.imaps_port}
    ssl = yes
  }}
{chroot_login}}}
service lmtp {{
  inet_listener lmtp {{
    address = {self.host}
    port = {self.lmtp_port}
  }}
}}
protocol imap {{
  mail_max_userip_connections = 200
}}
protocol lmtp {{
  postmaster_address = postmaster@agency.test
}}
{self.extra_config}
"""
        self.conf.write_text(conf, encoding="utf-8")

    # ------------------------------------------------------------------ helpers

    def ssl_context(self) -> ssl.SSLContext:
        """Client SSL context trusting the test CA (hostname 127.0.0.1/localhost verified)."""
        assert self.ca_file is not None, "server not started"
        return client_ssl_context(self.ca_file)

    def home(self, user: str) -> Path:
        return self.mail_root / user.lower()

    def log_tail(self, lines: int = 40) -> str:
        parts = [tail(self.log_file, lines), tail(self.stderr_file, lines)]
        return "\n".join(p for p in parts if p)

    def add_user(self, user: str, password: str) -> None:
        """Add (or change the password of) a user; works while the server runs."""
        _check_credentials(user, password)
        self.users[user] = password
        if self.mail_root.exists():
            self._make_home(user)
            self._write_passwd(only=user)

    def new_user(self, prefix: str = "t", domain: str = "agency.test") -> tuple[str, str]:
        """Create a fresh user with a random password; returns (user, password)."""
        user = f"{prefix}-{uuid.uuid4().hex[:10]}@{domain}"
        password = uuid.uuid4().hex
        self.add_user(user, password)
        return user, password

    def doveadm(
        self, *args: str, check: bool = True, timeout: float = 30.0
    ) -> subprocess.CompletedProcess[str]:
        """Run ``doveadm -c CONF ARGS...``; returns the CompletedProcess (text, UTF-8)."""
        proc = subprocess.run(
            [self.doveadm_bin, "-c", str(self.conf), *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=timeout,
            cwd=self.base_dir,
            check=False,
        )
        if check and proc.returncode != 0:
            raise RuntimeError(
                f"doveadm {' '.join(args)} failed ({proc.returncode}): "
                f"{proc.stderr.strip() or proc.stdout.strip()}"
            )
        return proc

    def mailbox_status(
        self, user: str, mailbox: str = "INBOX", fields: str = "messages unseen"
    ) -> dict[str, int]:
        """``doveadm mailbox status`` as a dict, e.g. {"messages": 3, "unseen": 1}.

        ``mailbox`` is the UTF-8 name (doveadm converts to mUTF-7 itself)."""
        out = self.doveadm("-f", "flow", "mailbox", "status", "-u", user, fields, mailbox).stdout
        result: dict[str, int] = {}
        for item in out.split():
            key, _, value = item.partition("=")
            if value.isdigit():
                result[key] = int(value)
        return result

    def message_count(self, user: str, mailbox: str = "INBOX") -> int:
        return self.mailbox_status(user, mailbox, "messages")["messages"]

    def wait_for_count(
        self, user: str, count: int, mailbox: str = "INBOX", timeout: float = 5.0
    ) -> int:
        """Poll until ``mailbox`` holds at least ``count`` messages; returns the count."""
        deadline = time.monotonic() + timeout
        while True:
            n = self.message_count(user, mailbox)
            if n >= count or time.monotonic() >= deadline:
                return n
            time.sleep(0.05)

    def create_mailbox(self, user: str, name: str, subscribe: bool = True) -> str:
        """Create mailbox ``name`` (UTF-8, e.g. Thai) for ``user``; returns its mUTF-7 wire name."""
        args = ["mailbox", "create"] + (["-s"] if subscribe else []) + ["-u", user, name]
        self.doveadm(*args)
        return mutf7_encode(name)

    def list_mailboxes(self, user: str) -> list[str]:
        """Mailbox names of ``user`` as UTF-8 (doveadm decodes mUTF-7)."""
        out = self.doveadm("mailbox", "list", "-u", user).stdout
        return [line for line in out.splitlines() if line]

    def delete_mailbox(self, user: str, name: str) -> None:
        self.doveadm("mailbox", "delete", "-r", "-s", "-u", user, name)

    def expunge(self, user: str, mailbox: str = "INBOX", query: str = "all") -> None:
        self.doveadm("expunge", "-u", user, "mailbox", mailbox, *query.split())

    def reset_user(self, user: str) -> None:
        """Expunge INBOX and delete every other non-special mailbox of ``user``."""
        special = {"INBOX", "Drafts", "Sent", "Trash", "Junk"}
        for name in sorted(self.list_mailboxes(user), key=len, reverse=True):
            if name not in special:
                self.doveadm("mailbox", "delete", "-s", "-u", user, name, check=False)
        for name in special:
            self.doveadm("expunge", "-u", user, "mailbox", name, "all", check=False)

    def deliver(
        self,
        user: str | Iterable[str],
        raw: bytes,
        sender: str = "sender@example.test",
        timeout: float = 30.0,
    ) -> None:
        """Deliver ``raw`` (CRLF line endings expected) to one or more users over LMTP.

        One transaction per recipient: smtplib.LMTP reads only one DATA reply."""
        recipients = [user] if isinstance(user, str) else list(user)
        with smtplib.LMTP(self.host, self.lmtp_port, timeout=timeout) as lmtp:
            for rcpt in recipients:
                refused = lmtp.sendmail(sender, [rcpt], raw)
                if refused:
                    raise RuntimeError(f"LMTP refused {refused!r}")
