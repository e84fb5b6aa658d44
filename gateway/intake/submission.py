"""Submission server (RFC 6409) a clerk's mail client sends outgoing letters through.

A thin adapter over aiosmtpd: STARTTLS first (RFC 3207), then AUTH PLAIN or LOGIN
(RFC 4954) against `gateway.passwords.load_users`, then any recipients (they are the
external agencies). Never a relay for anyone else: without AUTH, MAIL/RCPT/DATA get 530.
The reply 250 is sent only after `submit` has durably committed the message; a store
failure answers 451 so the client tries again. Failed logins are counted in the store per
(login name, client address); past the limit, AUTH for that name from that address is refused
until the window has passed, across restarts, while other names behind the same address (an
office NAT) and the same name from elsewhere log in as usual.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import datetime as dt
import ipaddress
import logging
import math
import os
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.clock import Clock
from gateway.config import Settings, SubmissionUser
from gateway.errors import ConfigError, Permanent, Transient
from gateway.intake.smtp import TRY_AGAIN, smtp_factory, try_again
from gateway.passwords import load_users, verify_password
from gateway.store import audit, logins
from gateway.store.handle import Store
from gateway.wholefile import whole_file

log = logging.getLogger(__name__)

# Called with (raw bytes, envelope sender, recipients, authenticated user name);
# returns the letter id once durably committed.
Submit = Callable[[bytes, str, list[str], str], Awaitable[int]]

# RFC 5321 §4.5.3.1.8 asks servers to take at least 100; a circular to every school of an
# area can have several hundred.
MAX_RECIPIENTS = 1000

_TEMPORARY = "454 4.7.0 Temporary authentication failure"
_STORE_ERRORS = (SQLAlchemyError, Transient, TimeoutError, OSError)

# Checked when the login name is unknown, so an unknown name costs the same scrypt time
# as a known one (no user enumeration by timing). Matches no password.
_ZEROS = base64.b64encode(bytes(32)).decode("ascii")
_NO_SUCH_USER = f"scrypt$16384$8$1${_ZEROS}${_ZEROS}"

TLS_DIR = "tls"
SELF_SIGNED_CERT = "submission.pem"
SELF_SIGNED_KEY = "submission.key"
SELF_SIGNED_DAYS = 825  # the longest validity clients still accept for a server certificate


# Failed-login limit ------------------------------------------------------------------------


@dataclass
class _Turn:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    waiting: int = 0


class LoginLimiter:
    """Failed AUTH attempts per (login name, client address), kept in the store
    (store/logins.py): `max_failures` of them within one `window` lock the pair out for a
    `window` from the last of them. Refused attempts are not counted (nor checked).

    Checks of one pair take turns (`turn`), so a burst of parallel connections cannot make
    more guesses than the limit before the first failures are counted; other pairs are not
    held up.
    """

    def __init__(self, store: Store, *, max_failures: int, window: dt.timedelta,
                 clock: Clock) -> None:
        self.store = store
        self.max_failures = max_failures
        self.window = window
        self.clock = clock
        self._turns: dict[tuple[str, str], _Turn] = {}

    @staticmethod
    def _pair(name: str, address: str) -> tuple[str, str]:
        return name.strip().lower(), address

    @contextlib.asynccontextmanager
    async def turn(self, name: str, address: str) -> AsyncIterator[None]:
        key = self._pair(name, address)
        t = self._turns.setdefault(key, _Turn())
        t.waiting += 1
        try:
            async with t.lock:
                yield
        finally:
            t.waiting -= 1
            if not t.waiting:
                del self._turns[key]

    def _locked_until(self, times: list[dt.datetime], now: dt.datetime) -> dt.datetime | None:
        if len(times) < self.max_failures:
            return None
        last, first = times[-1], times[-self.max_failures]
        if last - first >= self.window or now >= last + self.window:
            return None
        return last + self.window

    async def _failures(self, s: AsyncSession, name: str, address: str,
                        now: dt.datetime) -> list[dt.datetime]:
        # two windows back: the failures that may have locked the pair in the last window
        return await logins.failures_since(s, username=name, client_ip=address,
                                           since=now - 2 * self.window)

    async def refused_until(self, name: str, address: str) -> dt.datetime | None:
        """When `name` may try again from `address`, or None when it may try now."""
        now = self.clock()
        async with self.store.readers() as s:
            return self._locked_until(await self._failures(s, name, address, now), now)

    async def record(self, name: str, address: str, *, success: bool) -> dt.datetime | None:
        """Count a login; when this failure locks the pair out: until when (else None)."""
        now = self.clock()
        async with self.store.sessions.begin() as s:
            if success:  # a success forgets earlier failures
                await logins.clear(s, username=name, client_ip=address)
                return None
            await logins.prune(s, before=now - 2 * self.window)
            await logins.record_failure(s, username=name, client_ip=address, now=now)
            await s.flush()
            until = self._locked_until(await self._failures(s, name, address, now), now)
            if until is None:
                return None
            await audit.append(s, now=now, actor="submission", action="login.locked_out",
                               subject_type="login", subject_id=f"{name.strip().lower()[:200]}",
                               details={"client_ip": address, "failures": self.max_failures,
                                        "until": until.isoformat()})
        log.warning("submission: %r from %s locked out until %s after %d failed logins",
                    name, address, until.isoformat(), self.max_failures)
        return until


# The aiosmtpd handler ----------------------------------------------------------------------


def _client_address(session: Session) -> str:
    peer = session.peer
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return str(peer)


class SubmissionHandler:
    """aiosmtpd hooks: AUTH PLAIN/LOGIN, any recipient (at most 1000), DATA → `submit`.

    aiosmtpd 1.4.6 calls the `authenticator` of SMTP synchronously from its built-in
    auth_PLAIN/auth_LOGIN, so an scrypt check there (~45 ms) would stall every other
    client; an async authenticator is not supported (its coroutine is never awaited:
    smtp_AUTH answers 235 yet leaves the session unauthenticated). A handler's own `auth_<MECHANISM>` methods replace the
    built-ins (aiosmtpd docs, "AUTH Mechanism Hooks"), so these read the credentials as the
    built-ins do and check the password in a thread. Attribute names starting with `auth_`
    or `handle_` are hooks to aiosmtpd: do not add others.
    """

    def __init__(self, settings: Settings, submit: Submit, *, clock: Clock, store: Store) -> None:
        self.settings = settings
        self.submit = submit
        self.limiter = LoginLimiter(
            store,
            max_failures=settings.submission.max_failed_logins,
            window=dt.timedelta(minutes=settings.submission.lockout_minutes),
            clock=clock,
        )
        self.clock = clock

    # AUTH (RFC 4954) ---------------------------------------------------------------------

    async def auth_PLAIN(self, server: SMTP, args: list[str]) -> AuthResult:
        if len(args) == 1:
            blob = await server.challenge_auth("")
            if not isinstance(blob, bytes):  # '*' or bad base64: already answered 501
                return AuthResult(success=False, handled=True)
        else:
            decoded = await self._b64(server, args[1])
            if decoded is None:
                return AuthResult(success=False, handled=True)
            blob = decoded
        # RFC 4616 §2: [authzid] NUL authcid NUL passwd
        parts = blob.split(b"\x00")
        if len(parts) != 3:
            await server.push("501 5.5.2 Can't split auth value")
            return AuthResult(success=False, handled=True)
        return await self._authenticate(server, "PLAIN", LoginPassword(parts[1], parts[2]))

    async def auth_LOGIN(self, server: SMTP, args: list[str]) -> AuthResult:
        if len(args) == 1:
            login = await server.challenge_auth(server.AuthLoginUsernameChallenge)
            if not isinstance(login, bytes):
                return AuthResult(success=False, handled=True)
        else:
            decoded = await self._b64(server, args[1])
            if decoded is None:
                return AuthResult(success=False, handled=True)
            login = decoded
        refused = await self._refusal(server, login)  # before the password is asked for
        if refused is not None:
            return refused
        password = await server.challenge_auth(server.AuthLoginPasswordChallenge)
        if not isinstance(password, bytes):
            return AuthResult(success=False, handled=True)
        return await self._authenticate(server, "LOGIN", LoginPassword(login, password))

    @staticmethod
    async def _b64(server: SMTP, text: str) -> bytes | None:
        try:
            return base64.b64decode(text.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            await server.push("501 5.5.2 Can't decode base64")
            return None

    async def _refusal(self, server: SMTP, login: bytes) -> AuthResult | None:
        """Refuse at once, while this name is locked out from this address."""
        assert server.session is not None
        name = login.decode("utf-8", "backslashreplace")
        address = _client_address(server.session)
        try:
            until = await self.limiter.refused_until(name, address)
        except _STORE_ERRORS as exc:  # fail closed: no guess is checked that is not counted
            log.error("submission: cannot read the failed logins: %s", exc)
            return AuthResult(success=False, handled=False, message=_TEMPORARY)
        return None if until is None else self._locked_out(name, address, until)

    def _locked_out(self, name: str, address: str, until: dt.datetime) -> AuthResult:
        minutes = max(1, math.ceil((until - self.clock()).total_seconds() / 60))
        log.warning("submission: AUTH refused, %r from %s is locked out until %s",
                    name, address, until.isoformat())
        # Neither the name nor the address is echoed: the name is the client's text.
        return AuthResult(
            success=False,
            handled=False,
            message=(
                f"454 4.7.0 เข้าสู่ระบบผิดเกินกำหนด กรุณารอ {minutes} นาทีแล้วลองใหม่ "
                f"(too many failed logins; try again in {minutes} "
                f"minute{'s' if minutes > 1 else ''})"
            ),
        )

    async def _authenticate(self, server: SMTP, mechanism: str, creds: LoginPassword) -> AuthResult:
        try:
            return await self._authenticate_counted(server, mechanism, creds)
        except _STORE_ERRORS as exc:
            log.error("submission: cannot count the failed logins: %s", exc)
            return AuthResult(success=False, handled=False, message=_TEMPORARY)

    async def _authenticate_counted(self, server: SMTP, mechanism: str,
                                    creds: LoginPassword) -> AuthResult:
        assert server.session is not None
        address = _client_address(server.session)
        name = creds.login.decode("utf-8", "backslashreplace")
        async with self.limiter.turn(name, address):
            until = await self.limiter.refused_until(name, address)
            if until is not None:
                return self._locked_out(name, address, until)
            try:
                login = creds.login.decode("utf-8")
                password = creds.password.decode("utf-8")
            except UnicodeDecodeError:
                user = None
            else:
                try:
                    user = await asyncio.to_thread(self._check, login, password)
                except ConfigError as exc:  # not the client's fault: not counted
                    log.error("submission: cannot read the users: %s", exc)
                    return AuthResult(success=False, handled=False, message=_TEMPORARY)
            await self.limiter.record(name, address, success=user is not None)
        if user is None:
            # The login name may be logged; the password never is.
            shown = creds.login.decode("utf-8", "backslashreplace")
            log.warning("submission: failed AUTH %s for %r from %s", mechanism, shown, address)
            return AuthResult(success=False, handled=False)  # 535 5.7.8
        log.info("submission: %s authenticated as %s (%s)", address, user.name, mechanism)
        return AuthResult(success=True, auth_data=user)

    def _check(self, login: str, password: str) -> SubmissionUser | None:
        # Runs in a worker thread: reads the users file again (it may have been edited by
        # `saraban-gateway passwd`) and does the scrypt check.
        user = load_users(self.settings).get(login.lower())
        ok = verify_password(password, user.password_hash if user else _NO_SUCH_USER)
        return user if ok and user is not None else None

    # Envelope and data -------------------------------------------------------------------

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        # aiosmtpd has already answered 530 to an unauthenticated RCPT (auth_required).
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"  # RFC 5321 §4.5.3.1.10
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        user = session.auth_data
        if not isinstance(user, SubmissionUser):
            return "530 5.7.0 Authentication required"
        data = envelope.original_content or b""
        try:
            letter_id = await self.submit(data, envelope.mail_from or "", list(envelope.rcpt_tos), user.name)
        except (TimeoutError, Transient, OSError) as exc:
            log.warning("submission: could not store message from %s: %s", user.name, exc)
            return TRY_AGAIN
        except Permanent as exc:
            log.warning("submission: message from %s refused: %s", user.name, exc)
            return "554 5.6.0 The message was refused and will not be sent"
        except Exception:  # ours, not the clerk's: 451, the text only in the log
            return try_again("submission: could not store message from %s", user.name)
        return f"250 2.0.0 OK queued as letter {letter_id}"


def _refuse_builtin(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    # Reached only by a built-in mechanism the handler does not override: fail closed (535).
    return AuthResult(success=False, handled=False)


def submission_factory(
    handler: SubmissionHandler, *, hostname: str, data_size_limit: int, tls: ssl.SSLContext
) -> Callable[[], SMTP]:
    return smtp_factory(handler, hostname=hostname, data_size_limit=data_size_limit,
                        require_starttls=True, auth_required=True, auth_require_tls=True,
                        tls_context=tls, authenticator=_refuse_builtin)


async def start_submission(settings: Settings, submit: Submit, *, clock: Clock,
                           store: Store) -> asyncio.Server:
    """The submission server; failed logins are counted in `store` (they outlive a restart)."""
    sub = settings.submission
    users = await asyncio.to_thread(load_users, settings)  # a bad users file stops the start
    if not users:
        log.warning("submission: no users configured; nobody can send through %s:%s", sub.host, sub.port)
    ctx = await asyncio.to_thread(tls_context, settings, now=clock())
    handler = SubmissionHandler(settings, submit, clock=clock, store=store)
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        submission_factory(
            handler, hostname=sub.hostname, data_size_limit=sub.max_message_bytes, tls=ctx
        ),
        sub.host,
        sub.port,
    )


# TLS ---------------------------------------------------------------------------------------


def _given(p: Path | None) -> Path | None:
    # `cert_file = ""` in TOML arrives as Path("."): treat it as not given.
    return None if p is None or str(p) in ("", ".") else p


def own_certificate(settings: Settings) -> Path | None:
    """The self-signed certificate the clerks' clients must trust, when no cert_file is given."""
    sub = settings.submission
    if _given(sub.cert_file) is not None:
        return None
    return settings.data_path / TLS_DIR / SELF_SIGNED_CERT


def tls_context(settings: Settings, *, now: dt.datetime) -> ssl.SSLContext:
    """The server context: the configured PEM files, else a self-signed pair in <data>/tls."""
    sub = settings.submission
    cert_file, key_file = _given(sub.cert_file), _given(sub.key_file)
    if (cert_file is None) != (key_file is None):
        raise ConfigError(
            "submission: ต้องระบุทั้ง cert_file และ key_file หรือไม่ระบุทั้งสองค่า",
            "submission: give both cert_file and key_file, or neither",
        )
    if cert_file is not None and key_file is not None:
        cert_path, key_path = settings.base_dir / cert_file, settings.base_dir / key_file
    else:
        cert_path, key_path = self_signed_certificate(
            settings.data_path / TLS_DIR, sub.hostname, now=now
        )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(os.fspath(cert_path), os.fspath(key_path))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"submission: อ่านใบรับรอง {cert_path} หรือกุญแจ {key_path} ไม่ได้: {exc}",
            f"submission: cannot load certificate {cert_path} or key {key_path}: {exc}",
        ) from None
    return ctx


def _names(hostname: str) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for n in (hostname, "localhost", "127.0.0.1"):
        try:
            ip = ipaddress.ip_address(n)
        except ValueError:
            entry: x509.GeneralName = x509.DNSName(n.lower())
        else:
            entry = x509.IPAddress(ip)
        if entry not in names:
            names.append(entry)
    return names


def self_signed_certificate(directory: Path, hostname: str, *, now: dt.datetime) -> tuple[Path, Path]:
    """(cert, key) in `directory`, made once and reused while valid for `hostname`."""
    cert_path, key_path = directory / SELF_SIGNED_CERT, directory / SELF_SIGNED_KEY
    if _reusable(cert_path, key_path, hostname, now):
        return cert_path, key_path
    if cert_path.exists() or key_path.exists():
        log.warning("submission: replacing the self-signed certificate in %s", directory)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, hostname),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "saraban-gateway (self-signed)"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        # a year back: a client whose clock is behind ours still accepts it
        .not_valid_before(now - dt.timedelta(days=365))
        .not_valid_after(now + dt.timedelta(days=SELF_SIGNED_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(_names(hostname)), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Key first: a crash between the two leaves a certificate that does not match, which
    # the next start replaces.
    _write_atomic(key_path, key_pem, 0o600)
    _write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    fingerprint = cert.fingerprint(hashes.SHA256()).hex(":").upper()
    log.warning(
        "submission: made a self-signed certificate for %s (SHA-256 %s). Import %s into each "
        "clerk's mail client as an authority trusted to identify websites (Thunderbird does not "
        "offer to trust it when sending: README, Sending a letter)",
        hostname, fingerprint, cert_path,
    )
    return cert_path, key_path


def _reusable(cert_path: Path, key_path: Path, hostname: str, now: dt.datetime) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return False
    if cert.public_key() != key.public_key():
        return False
    if not cert.not_valid_before_utc <= now < cert.not_valid_after_utc - dt.timedelta(days=1):
        return False
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    return all(n in san for n in _names(hostname))


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    with whole_file(path, mode) as fh:
        fh.write(data)
