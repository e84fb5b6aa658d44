"""`saraban-gateway check`: validate the configuration and try every connection it names.

The config has already been parsed (a bad file never gets here). Each check
prints one line, ✓ or ✗ with the reason; the exit status is non-zero when any
check failed, so an installer or a monitoring script can rely on it.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import os
import socket
import ssl
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from gateway.cli.common import Subparsers
from gateway.clock import system_clock
from gateway.config import Imap, Settings, secret
from gateway.errors import UserError
from gateway.oauth import TokenSource, TokenUnavailable, smtp_login

TIMEOUT = 10.0
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    warning: bool = False  # ok, but the administrator should look (printed ⚠)

    @property
    def mark(self) -> str:
        return "✗" if not self.ok else "⚠" if self.warning else "✓"


def add_parser(sub: Subparsers) -> None:
    sub.add_parser(
        "check", help="ตรวจการตั้งค่าและทดลองเชื่อมต่อทุกระบบ (validate config, try each connection)"
    ).set_defaults(handler=check)


async def check(args: argparse.Namespace, settings: Settings) -> int:
    return await run_checks(settings)


async def _database(settings: Settings) -> str:
    from gateway.app import schema_revision
    from gateway.store import migrate

    current = await asyncio.wait_for(schema_revision(settings), TIMEOUT)
    head = migrate.head_revision()
    if current != head:
        raise UserError(
            f"เชื่อมต่อได้ แต่โครงสร้างเป็นรุ่น {current or 'ว่าง'} ต้องสั่ง db upgrade",
            f"connected, schema at {current or 'nothing'} (need {head}): run db upgrade",
        )
    return f"เชื่อมต่อได้ รุ่น {current} (connected, schema {current})"


async def _backup_age(settings: Settings) -> str:
    """The newest finished `db backup`; a failure when [backup] max_age_hours is passed."""
    from sqlalchemy.exc import DBAPIError

    from gateway.ops.backupwatch import newest_backup
    from gateway.store.handle import build_engine
    from gateway.thai import BANGKOK, format_short_date, format_time

    engine = build_engine(settings)
    try:
        async with engine.connect() as conn:
            last = await asyncio.wait_for(newest_backup(conn), TIMEOUT)
    except DBAPIError as exc:  # no database yet, or none reachable: the database line says which
        raise UserError("อ่านบันทึกการสำรองข้อมูลไม่ได้ (ดูบรรทัด database)",
                        f"cannot read the backup record: {type(exc.orig).__name__}") from None
    finally:
        await engine.dispose()
    limit = settings.backup.max_age_hours
    if last is None:
        if limit:
            raise UserError("ยังไม่เคยสำรองข้อมูล (db backup) ทั้งที่ตั้ง [backup] max_age_hours ไว้",
                            "no backup recorded, and [backup] max_age_hours is set")
        return "ยังไม่เคยสำรองข้อมูล — ดูหัวข้อ Backups ใน README (no backup recorded yet)"
    hours = (system_clock() - last).total_seconds() / 3600
    local = last.astimezone(BANGKOK)
    when = f"{format_short_date(local.date())} {format_time(local)} ({hours:.0f} ชั่วโมงก่อน)"
    if limit and hours > limit:
        raise UserError(f"สำรองข้อมูลครั้งล่าสุด {when} เกิน {limit:g} ชั่วโมง",
                        f"the newest backup is {hours:.0f} h old (limit {limit:g} h)")
    return f"สำรองข้อมูลครั้งล่าสุด {when}"


async def _folder(path_name: str, path: os.PathLike[str]) -> str:
    os.makedirs(path, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path, prefix=".check-"):
        pass
    return f"เขียนได้ (writable): {path}"


def _ssl_context(m: Imap) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if m.ca_file is not None:
        ctx.load_verify_locations(cafile=str(m.ca_file))
    return ctx


async def probe_token(tokens: TokenSource) -> str:
    """A new access token from the token endpoint (never the cached one: this proves the fetch)."""
    from urllib.parse import urlsplit

    try:
        await tokens.token(renew=True)
    except TokenUnavailable as exc:
        raise UserError(exc.message_th, exc.message_en) from exc
    cfg = tokens.cfg
    return (f"ได้ access token จาก {urlsplit(cfg.token_url).hostname} ({cfg.grant}"
            f"{', scope ' + cfg.scope if cfg.scope else ''}) (token fetched)")


async def probe_imap_oauth(m: Imap, tokens: TokenSource) -> str:
    """Log in with the token (XOAUTH2 / OAUTHBEARER) and open the watched mailbox."""
    from gateway.intake.imap_client import ImapClient
    from gateway.ports import ImapFailure

    assert m.oauth2 is not None
    client = ImapClient(m, "", _ssl_context(m), timeout=TIMEOUT, tokens=tokens)
    try:
        await client.connect()
        await client.select(m.mailbox)
        idle = client.has("IDLE")
    except ImapFailure as exc:
        if isinstance(exc.__cause__, UserError):
            raise exc.__cause__ from exc
        if isinstance(exc, OSError):
            raise
        raise UserError(f"เข้าสู่ระบบด้วย OAuth ({m.oauth2.mechanism.upper()}) ไม่สำเร็จ "
                        f"หรือเปิดกล่อง {m.mailbox} ไม่ได้: ตรวจว่าแอปได้รับสิทธิ์เข้ากล่อง {m.user}",
                        f"OAuth login or select failed: {exc}") from exc
    finally:
        await client.close()
    return (f"เข้าสู่ระบบด้วย {m.oauth2.mechanism.upper()} และเปิดกล่อง {m.mailbox} ได้ "
            f"(OAuth login ok, IDLE={'yes' if idle else 'no'})")


async def probe_imap(m: Imap) -> str:
    import aioimaplib

    password = secret(m.password_env, what=f"รหัสผ่าน IMAP {m.name}", what_en=f"IMAP password of {m.name}")
    client = aioimaplib.IMAP4_SSL(host=m.host, port=m.port, ssl_context=_ssl_context(m), timeout=TIMEOUT)
    await asyncio.wait_for(client.wait_hello_from_server(), TIMEOUT)
    try:
        resp = await asyncio.wait_for(client.login(m.user, password), TIMEOUT)
        if resp.result != "OK":
            raise UserError("เข้าสู่ระบบไม่สำเร็จ", f"login failed: {resp.result}")
        sel = await asyncio.wait_for(client.select(_quote_mailbox(m.mailbox)), TIMEOUT)
        if sel.result != "OK":
            raise UserError(f"ไม่พบกล่อง {m.mailbox}", f"cannot select {m.mailbox}: {sel.result}")
        idle = "IDLE" in client.protocol.capabilities
    finally:
        try:
            await asyncio.wait_for(client.logout(), TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - best effort goodbye on a probe connection
            log.debug("IMAP logout after probe failed: %r", exc)
    return f"เข้าสู่ระบบและเปิดกล่อง {m.mailbox} ได้ (login ok, IDLE={'yes' if idle else 'no'})"


async def probe_folders(m: Imap, sent: str, tokens: TokenSource | None = None) -> str:
    """Where the gateway's folders go on this server (its personal namespace) and which folder
    is the clerks' Sent: a Sent folder not found means replies from the mail client are not
    read, so it fails the check."""
    from gateway.intake.imap_client import ImapClient
    from gateway.ports import ImapFailure

    password = "" if tokens is not None else secret(
        m.password_env, what=f"รหัสผ่าน IMAP {m.name}", what_en=f"IMAP password of {m.name}")
    client = ImapClient(m, password, _ssl_context(m), timeout=TIMEOUT, tokens=tokens, sent=sent)
    try:
        await client.connect()
        have = await client.folders()
    except ImapFailure as exc:  # the login line above says why, in Thai
        if isinstance(exc, OSError):
            raise
        raise UserError("อ่านรายชื่อโฟลเดอร์ไม่ได้ (ดูบรรทัด imap)", f"cannot list the folders: {exc}") from None
    finally:
        await client.close()
    where = (f"โฟลเดอร์ของระบบอยู่ใต้ {client.prefix} (namespace {client.prefix!r})"
             if client.prefix else "โฟลเดอร์ของระบบอยู่ระดับบนสุด (no namespace prefix)")
    if not sent:
        return f"{where}; ไม่อ่านคำสั่งจากโฟลเดอร์ Sent ([intake.folders] sent = \"\")"
    if sent not in have:
        raise UserError(f"{where}; ไม่พบโฟลเดอร์จดหมายที่ส่ง \"{sent}\" และไม่มีโฟลเดอร์ที่เซิร์ฟเวอร์ระบุว่าเป็น "
                        "Sent: คำตอบของเจ้าหน้าที่จากโปรแกรมอีเมลจะไม่ถูกอ่าน ตั้ง [intake.folders] sent "
                        "เป็นชื่อโฟลเดอร์ที่ส่งแล้วของโปรแกรมอีเมล (หรือส่งอีเมลจากโปรแกรมสักฉบับให้โฟลเดอร์ถูกสร้าง)",
                        f"no folder {sent!r} and none marked \\Sent: the clerks' replies would not be read")
    shown = client.on_server(sent)
    return (f"{where}; คำตอบของเจ้าหน้าที่อ่านจาก \"{shown}\""
            f"{' (โฟลเดอร์ที่เซิร์ฟเวอร์ระบุว่าเป็น Sent)' if sent in client.aliases else ''}"
            f" (Sent folder: {shown!r})")


def _quote_mailbox(name: str) -> str:
    from gateway.intake.mutf7 import encode_mailbox

    return encode_mailbox(name)


async def probe_relay(settings: Settings, tokens: TokenSource | None = None) -> str:
    import aiosmtplib

    from gateway.outbound.sender import relay_tls_context

    r = settings.relay
    client = aiosmtplib.SMTP(hostname=r.host, port=r.port, timeout=TIMEOUT, start_tls=r.starttls,
                             tls_context=relay_tls_context(r, settings.base_dir))
    await client.connect()
    try:
        if r.auth == "oauth2" and r.oauth2 is not None:
            try:
                await smtp_login(client, r.username, r.oauth2, tokens)
            except aiosmtplib.SMTPAuthenticationError as exc:
                raise UserError(f"relay ไม่รับ token ของ {r.username} ({exc.code})",
                                f"the relay refused the OAuth login: {exc.code} {exc.message}") from exc
            return (f"เชื่อมต่อ {r.host}:{r.port} และเข้าสู่ระบบด้วย {r.oauth2.mechanism.upper()} ได้ "
                    "(relay reachable, OAuth login ok)")
        if r.username:
            password = secret(r.password_env, what="รหัสผ่าน relay", what_en="relay password")
            await client.login(r.username, password)
    finally:
        await client.quit()
    return f"เชื่อมต่อ {r.host}:{r.port} ได้ (relay reachable)"


async def probe_listener(settings: Settings) -> str:
    import aiosmtplib

    lst = settings.smtp_listener
    try:
        with socket.create_server((lst.host, lst.port)):
            pass
        return f"พอร์ต {lst.host}:{lst.port} ว่าง พร้อมรับอีเมล (port free)"
    except OSError:
        # Busy: fine if it is our own running gateway answering SMTP.
        smtp = aiosmtplib.SMTP(hostname=lst.host, port=lst.port, timeout=TIMEOUT, start_tls=False)
        await smtp.connect()
        banner = smtp.last_ehlo_response or None
        await smtp.quit()
        return f"มีบริการ SMTP ทำงานอยู่ที่ {lst.host}:{lst.port} แล้ว (in use: {banner or 'SMTP answers'})"


async def probe_submission(settings: Settings) -> str:
    """Users readable, certificate loadable (made once if none is configured), port free."""
    from gateway.intake.submission import own_certificate, tls_context
    from gateway.passwords import load_users

    users = load_users(settings)
    if not users:  # not an error: sending from the mail client is simply not set up yet
        return "ยังไม่มีผู้ใช้ จึงไม่เปิดเซิร์ฟเวอร์ส่งหนังสือ (no users: the submission server stays off)"
    await asyncio.to_thread(tls_context, settings, now=system_clock())
    sub = settings.submission
    try:
        with socket.create_server((sub.host, sub.port)):
            pass
        state = "พอร์ตว่าง (port free)"
    except OSError:
        state = "พอร์ตมีบริการอยู่แล้ว (port in use: a running gateway?)"
    own = own_certificate(settings)
    trust = f"; โปรแกรมอีเมลของเจ้าหน้าที่ต้องนำเข้า {own} เป็นหน่วยงานที่เชื่อถือ (README)" if own else ""
    return f"ผู้ใช้ {len(users)} ราย ใบรับรองใช้ได้ {sub.host}:{sub.port} {state}{trust}"


async def probe_authentication(settings: Settings) -> str:
    """The mode, and whether DNS answers (one bounded query through the gateway's resolver)."""
    from gateway.trust.dns import Resolver

    auth = settings.authentication
    resolver = Resolver.from_settings(auth)
    domain = settings.agency.central_addresses[0].rpartition("@")[2] or "example.org"
    mode = ("enforce: ผู้ส่งที่ตรวจไม่ผ่านรอเจ้าหน้าที่ตรวจสอบ" if auth.mode == "enforce"
            else "monitor: ผลการตรวจเป็นหมายเหตุเท่านั้น")
    trusted = f", เชื่อผลจาก {auth.authserv_id}" if auth.authserv_id else ""
    failure = await asyncio.to_thread(resolver.answers, f"_dmarc.{domain}",
                                      min(auth.dns_timeout_seconds, TIMEOUT))
    if failure is None:
        return f"โหมด {mode}{trusted}; DNS ตอบ ({resolver.describe()}) (mode {auth.mode}, DNS answers)"
    if auth.mode == "monitor":
        return (f"โหมด {mode}{trusted}; DNS ไม่ตอบ ({resolver.describe()}): ทุกฉบับจะเป็น temperror "
                f"(mode monitor, DNS does not answer: {failure})")
    raise UserError(
        f"DNS ไม่ตอบ ({resolver.describe()}): ทุกฉบับจะรอเจ้าหน้าที่ตรวจสอบ (temperror) "
        "ตั้ง [authentication] dns_servers หรือใช้ mode = \"monitor\"",
        f"mode enforce, DNS does not answer: {failure}")


async def probe_health(settings: Settings) -> str:
    """The endpoint's address: free (the gateway will serve /metrics and /healthz there) or
    answered by a running gateway (its /healthz verdict, shown)."""
    h = settings.health
    if not h.listen:
        return "ปิดอยู่ ([health] listen = \"\") (health endpoint off)"
    try:
        with socket.create_server((h.host, h.port)):
            pass
        return (f"พอร์ตว่าง จะเปิด http://{h.listen}/healthz และ /metrics "
                f"(port free: /healthz and /metrics will be served there)")
    except OSError:
        pass
    reader, writer = await asyncio.open_connection(h.host, h.port)
    try:
        writer.write(f"GET /healthz HTTP/1.1\r\nHost: {h.listen}\r\n\r\n".encode())
        answer = await asyncio.wait_for(reader.read(4096), TIMEOUT)
    finally:
        writer.close()
    status = answer.split(b"\r\n", 1)[0].decode("latin-1")
    body = answer.partition(b"\r\n\r\n")[2].decode("utf-8", "replace").strip()
    if " 200 " in f"{status} ":
        return f"เกตเวย์ที่ทำงานอยู่ตอบว่าปกติ (running gateway healthy): {body[:200]}"
    raise UserError(f"เกตเวย์ที่ทำงานอยู่ตอบว่าผิดปกติ: {status}",
                    f"the running gateway's /healthz says {status}: {body[:300]}")


def alarm_results(settings: Settings) -> list[CheckResult]:
    """Where the alarm goes besides the mail: the command (found and runnable) and the
    webhook (its variable set, an http(s) URL, not shown: it may carry a secret). Not fired."""
    import shutil
    import urllib.parse

    a = settings.alarm
    out: list[CheckResult] = []
    if not a.command and not a.webhook_env:
        return [CheckResult("alarm", True, "แจ้งเตือนทางอีเมลเข้ากล่องกลางเท่านั้น ซึ่งอาจเป็นกล่องที่ล่มอยู่ "
                            "ตั้ง [alarm] command หรือ webhook_env เพิ่ม (alarm by mail only: add a "
                            "second channel)", warning=True)]
    if a.command:
        found = shutil.which(a.command[0])
        if found is None:
            out.append(CheckResult("alarm command", False, f"ไม่พบโปรแกรม {a.command[0]} "
                                   "หรือไม่มีสิทธิ์เรียกใช้ (not found or not executable)"))
        else:
            out.append(CheckResult("alarm command", True, f"{found} (ข้อความแจ้งเตือนทาง stdin และ "
                                   f"$SARABAN_ALARM_TEXT, จำกัดเวลา {a.timeout_seconds:g} วินาที)"))
    if a.webhook_env:
        url = os.environ.get(a.webhook_env, "")
        parts = urllib.parse.urlsplit(url)
        if not url:
            out.append(CheckResult("alarm webhook", False, f"ไม่พบตัวแปรสภาพแวดล้อม {a.webhook_env} "
                                   f"(environment variable {a.webhook_env} is not set)"))
        elif parts.scheme not in ("http", "https") or not parts.hostname:
            out.append(CheckResult("alarm webhook", False, f"${a.webhook_env} ไม่ใช่ URL http(s) "
                                   "(not an http(s) URL)"))
        else:
            out.append(CheckResult("alarm webhook", True, f"POST JSON ไปที่ {parts.scheme}://"
                                   f"{parts.hostname} (จาก ${a.webhook_env})"))
    return out


async def run_checks(settings: Settings) -> int:
    import aiosmtplib

    checks: list[tuple[str, Callable[[], Awaitable[str]]]] = [
        ("config", lambda: _ok(f"อ่านการตั้งค่าได้ ({settings.agency.name_th})")),
        ("database", lambda: _database(settings)),
        ("backup", lambda: _backup_age(settings)),
        ("data folder", lambda: _folder("data", settings.data_path)),
        ("authentication", lambda: probe_authentication(settings)),
    ]
    if settings.smtp_listener.enabled:
        checks.append(("smtp listener", lambda: probe_listener(settings)))
    for m in settings.imap:
        if not m.enabled:
            continue
        tokens = None
        if m.oauth2 is not None and m.auth == "oauth2":
            tokens = TokenSource(m.oauth2, subject=m.user)  # its own: check proves a fetch, not a cached token
            checks.append((f"oauth2 {m.name}", lambda t=tokens: probe_token(t)))  # type: ignore[misc]
            checks.append((f"imap {m.name}", lambda m=m, t=tokens: probe_imap_oauth(m, t)))  # type: ignore[misc]
        else:
            checks.append((f"imap {m.name}", lambda m=m: probe_imap(m)))  # type: ignore[misc]
        checks.append((f"folders {m.name}", lambda m=m, t=tokens: probe_folders(  # type: ignore[misc]
            m, settings.intake.folders.sent, t)))
    if settings.submission.enabled:
        checks.append(("submission", lambda: probe_submission(settings)))
    if settings.relay.mode == "smtp" and settings.relay.auth == "oauth2" and settings.relay.oauth2:
        relay_tokens = TokenSource(settings.relay.oauth2, subject=settings.relay.username)
        checks.append(("oauth2 relay", lambda: probe_token(relay_tokens)))
        checks.append(("relay", lambda: probe_relay(settings, relay_tokens)))
    elif settings.relay.mode == "smtp":
        checks.append(("relay", lambda: probe_relay(settings)))
    else:
        checks.append(("outbox folder", lambda: _folder("outbox", settings.outbox_path)))
    checks.append(("health endpoint", lambda: probe_health(settings)))
    results: list[CheckResult] = []
    for name, fn in checks:
        try:
            results.append(CheckResult(name, True, await asyncio.wait_for(fn(), TIMEOUT * 2)))
        except UserError as e:
            results.append(CheckResult(name, False, f"{e.message_th} ({e.message_en})"))
        except (TimeoutError, OSError, aiosmtplib.SMTPException) as e:
            results.append(CheckResult(name, False, f"เชื่อมต่อไม่ได้ (cannot connect): {e!r}"))
    results.extend(alarm_results(settings))
    results.extend(trust_root_results(settings))
    results.append(calendar_result(settings, system_clock()))
    for r in results:
        print(f"{r.mark} {r.name:<16} {r.detail}")
    failed = [r for r in results if not r.ok]
    print(
        "ทุกอย่างพร้อม (all checks passed)"
        if not failed
        else f"ไม่ผ่าน {len(failed)} รายการ ({len(failed)} check(s) failed)"
    )
    return 0 if not failed else 1


async def _ok(text: str) -> str:
    return text


_REVOCATION_TH = {
    "hard-fail": "ถามสถานะการเพิกถอน (OCSP/CRL) ทุกครั้ง ถามไม่ได้ถือว่ายังเชื่อถือไม่ได้",
    "soft-fail": "ถามสถานะการเพิกถอน (OCSP/CRL) ถามไม่ได้ยังถือว่าถูกต้องแต่มีหมายเหตุ",
    "off": "ไม่ถามสถานะการเพิกถอน (มีหมายเหตุในทะเบียน)",
}


def trust_root_results(settings: Settings) -> list[CheckResult]:
    """One line per CA certificate in `[intake] trust_roots_dir` (name, expiry), one per
    file that could not be used, a warning when there are none, and the revocation mode."""
    from gateway.inbound.context import trust_roots_of
    from gateway.thai import format_short_date

    intake = settings.intake
    now = system_clock()
    hint = "ลายมือชื่อดิจิทัลทุกฉบับจะขึ้นว่า \"ไม่ทราบผู้ออกใบรับรอง\" ดู docs/trust-roots.md"
    folder = trust_roots_of(settings.base_dir, intake.trust_roots_dir)
    out: list[CheckResult] = []
    if folder is None:
        out.append(CheckResult("trust roots", True, "ยังไม่ได้ตั้ง [intake] trust_roots_dir: "
                               f"{hint} (no trust roots configured)", warning=True))
    else:
        for r in folder.roots:
            until = format_short_date(r.not_after.date())
            if r.expired(now):
                out.append(CheckResult("trust root", True, f"{r.common_name or r.subject} "
                                       f"หมดอายุแล้วเมื่อ {until} ({r.file}; expired)", warning=True))
            else:
                out.append(CheckResult("trust root", True, f"{r.common_name or r.subject} "
                                       f"ใช้ได้ถึง {until} ({r.file}, SHA-256 {r.sha256[:23]}…)"))
        for name, reason in folder.problems:
            out.append(CheckResult("trust root", False, f"{name}: {reason} (file skipped)"))
        if not folder.roots:
            out.append(CheckResult("trust roots", True, f"ไม่มีใบรับรอง CA ใน {folder.folder}: "
                                   f"{hint} (no trust roots loaded)", warning=True))
        else:
            out.append(CheckResult("trust roots", True, f"โหลดใบรับรอง CA {len(folder.roots)} ใบ "
                                   f"จาก {folder.folder} ({len(folder.roots)} loaded)"))
    out.append(CheckResult("revocation", True, f"{intake.revocation}: "
                           f"{_REVOCATION_TH[intake.revocation]} รอครั้งละไม่เกิน "
                           f"{intake.revocation_timeout_seconds:g} วินาที",
                           warning=intake.revocation == "off"))
    return out


def calendar_result(settings: Settings, now: dt.datetime) -> CheckResult:
    """Office hours and the next days off on working weekdays (Thai public holidays, the
    agency's own): reminders count working hours by them. The old `[outbound] holidays` is
    still read, with a warning to move it."""
    from gateway.thai import format_short_date
    from gateway.workcalendar import work_calendar

    cal = work_calendar(settings)
    today = now.astimezone(cal.tz).date()
    ahead = (today + dt.timedelta(days=n) for n in range(1, 120))
    off = [d for d in ahead if d.weekday() in cal.weekdays and not cal.is_working_day(d)][:3]
    detail = (f"เวลาราชการ {cal.start:%H:%M}–{cal.end:%H:%M} ({settings.calendar.timezone}); "
              "วันหยุดถัดไป " + (", ".join(format_short_date(d) for d in off) or "-"))
    if settings.outbound.holidays:
        return CheckResult("calendar", True, detail + "; [outbound] holidays เลิกใช้แล้ว ยังนับเป็นวันหยุด "
                           "ให้ย้ายไป [calendar] days_off (deprecated: move it)", warning=True)
    return CheckResult("calendar", True, detail)
