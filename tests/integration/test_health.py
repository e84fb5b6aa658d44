"""Visible health (issue 23), on the real running gateway: /metrics says what the store holds,
/healthz turns 503 when a mailbox has had no good round, the endpoint answers nothing but its
two paths, JSON log lines name their letter, and the alarm goes out by command and webhook.

Time is moved with the injected clock, never slept; the only waits guard a hang.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import http.server
import json
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from gateway.app import build_app, open_store, opened_store
from gateway.config import Settings
from gateway.ops.alarm import AlarmOut
from gateway.service import Alarm, accept_smtp, serve
from gateway.store.tables import Letter, OutboxItem
from tests.conftest import FakeClock, TickingClock, add_to_directory, make_settings
from tests.corpus.mail import letter_mail, numbered_letter_pdf
from tests.integration.test_inbound_smtp import _id, _send, _until

pytestmark = pytest.mark.integration

WEBHOOK_ENV = "SARABAN_TEST_ALARM_WEBHOOK"


class MovableClock(TickingClock):
    """Ticks on like TickingClock (a running gateway needs time to pass) and can be moved on."""

    def __init__(self) -> None:
        super().__init__()
        self.offset = dt.timedelta()

    def __call__(self) -> dt.datetime:
        return super().__call__() + self.offset

    def advance(self, **kw: float) -> None:
        self.offset += dt.timedelta(**kw)


async def _serving(settings, store) -> tuple[asyncio.Task[int], asyncio.Event, dict[str, int]]:
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    stop, ports = asyncio.Event(), {}
    task = asyncio.create_task(serve(settings, ready=ready, stop=stop, store=store, ready_ports=ports))
    await asyncio.wait_for(ready, 120)  # guards a hang only
    return task, stop, ports


async def _http(port: int, request: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


async def _get(port: int, path: str) -> tuple[int, bytes]:
    return await _http(port, f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())


def _samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def test_metrics_match_the_store_after_letters_are_taken_in(tmp_path: Path, db_url: str) -> None:
    settings = make_settings(tmp_path, db_url)
    clock = MovableClock()
    store = await open_store(settings, upgrade=True, clock=clock)
    await add_to_directory(store, "saraban@obec.go.th")
    task, stop, ports = await _serving(settings, store)
    try:
        sent = [_id(await _send(ports["smtp"], letter_mail(numbered_letter_pdf(n), subject=f"ฉบับ {n}")))
                for n in (1, 2, 3)]
        sent.append(_id(await _send(ports["smtp"], letter_mail(None))))  # no PDF: review
        decided = [await _until(store, lid, states={"registered", "review"}, timeout=120) for lid in sent]
        assert [x.state for x in decided] == ["registered"] * 3 + ["review"]
        # kept but not handed to a worker (as after a crash mid-way): waits to be read
        waiting = await accept_smtp(store, letter_mail(numbered_letter_pdf(4)), "saraban@obec.go.th",
                                    ["saraban@agency.test"])
        clock.advance(minutes=10)
        status, body = await _get(ports["health"], "/metrics")
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)
    assert status == 200
    m = _samples(body)
    async with store.readers() as s:
        states = {k: n for k, n in (await s.execute(
            select(Letter.state, func.count()).group_by(Letter.state))).all()}
        outbox = {k: n for k, n in (await s.execute(
            select(OutboxItem.status, func.count()).group_by(OutboxItem.status))).all()}
        kept_at = (await s.get(Letter, waiting)).created_at
    await store.close()
    assert m[("saraban_letters", (("state", "registered"),))] == 3 == states["registered"]
    assert m[("saraban_letters", (("state", "review"),))] == 1 == states["review"]
    assert m[("saraban_letters", (("state", "rejected"),))] == 0
    assert m[("saraban_reading_queue_depth", ())] == 1 == states["received"]
    age = m[("saraban_oldest_unregistered_age_seconds", ())]
    assert 600 <= age < 600 + (clock() - kept_at - dt.timedelta(minutes=10)).total_seconds() + 1
    assert outbox and all(m[("saraban_outbox", (("status", k),))] == n for k, n in outbox.items())
    assert m[("saraban_outbox", (("status", "uncertain"),))] == outbox.get("uncertain", 0)
    assert m[("saraban_reading_failures_total", ())] == 0
    assert m[("saraban_send_failures_total", ())] == 0
    assert m[("saraban_alarms_total", ())] == 0


class _Webhook(http.server.BaseHTTPRequestHandler):
    posts: list[tuple[str, bytes]]

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        length = int(self.headers["Content-Length"])
        self.posts.append((self.path, self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    posts: list[tuple[str, bytes]] = []
    handler = type("Hook", (_Webhook,), {"posts": posts})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook/s3cret-token", posts
    server.shutdown()
    server.server_close()


HOOK = """import json, os, sys
with open(sys.argv[1], "a", encoding="utf-8") as out:
    out.write(json.dumps({"stdin": sys.stdin.read(), "env": os.environ["SARABAN_ALARM_TEXT"],
                          "subject": os.environ["SARABAN_ALARM_SUBJECT"]}, ensure_ascii=False) + "\\n")
"""


def _unreachable_mailbox(tmp_path: Path, hook_out: Path, **overrides: object):
    script = tmp_path / "hook.py"
    script.write_text(HOOK, encoding="utf-8")
    return make_settings(
        tmp_path,
        imap=[{"name": "central", "host": "127.0.0.1", "port": 1, "user": "u@agency.test",
               "password_env": "SARABAN_TEST_IMAP_PASSWORD"}],
        intake={"alarm_after_minutes": 15},
        alarm={"command": [sys.executable, str(script), str(hook_out)], "webhook_env": WEBHOOK_ENV},
        **overrides,
    )


async def _eventually(check, what: str) -> None:
    for _ in range(600):  # guards a hang only: 60 s
        if check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(what)


async def test_healthz_turns_503_and_the_alarm_goes_out_by_command_and_webhook(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, webhook) -> None:
    url, posts = webhook
    monkeypatch.setenv("SARABAN_TEST_IMAP_PASSWORD", "x")
    monkeypatch.setenv(WEBHOOK_ENV, url)
    hook_out = tmp_path / "alarm.jsonl"
    settings = _unreachable_mailbox(tmp_path, hook_out)
    clock = MovableClock()
    async with opened_store(settings, upgrade=True, clock=clock) as store:
        task, stop, ports = await _serving(settings, store)
        try:
            status, body = await _get(ports["health"], "/healthz")
            assert (status, json.loads(body)) == (200, {"status": "ok", "mailboxes": {"central": None}})
            assert not hook_out.exists() and posts == []
            clock.advance(minutes=16)
            status, body = await _get(ports["health"], "/healthz")
            assert status == 503
            verdict = json.loads(body)
            assert verdict["status"] == "fail"
            assert any(r.startswith("mailbox central: no successful round for 16 minutes")
                       for r in verdict["reasons"])
            # /healthz woke the housekeeping: the alarm goes out now, not at the next minute
            await _eventually(lambda: hook_out.exists() and posts, "the alarm never went out")
            status, body = await _get(ports["health"], "/metrics")
            assert _samples(body)[("saraban_alarms_total", ())] == 1
            assert _samples(body)[("saraban_last_alarm_timestamp_seconds", ())] > 0
        finally:
            stop.set()
            await asyncio.wait_for(task, 60)
        async with store.readers() as s:
            kinds = list((await s.execute(select(OutboxItem.kind))).scalars())
    assert kinds == ["alarm"]  # and the mail to the central mailbox, as before
    (record,) = [json.loads(line) for line in hook_out.read_text(encoding="utf-8").splitlines()]
    assert record["subject"] == "[แจ้งเตือน] ระบบสารบรรณไม่ได้ตรวจกล่องจดหมาย central มา 16 นาที"
    assert record["stdin"].startswith(record["subject"] + "\n\n")
    assert "ไม่สามารถตรวจกล่องจดหมาย central (127.0.0.1)" in record["stdin"]
    assert record["env"] == record["stdin"]
    ((path, raw),) = posts
    assert path == "/hook/s3cret-token"
    payload = json.loads(raw)
    assert payload["subject"] == record["subject"] and payload["mailbox"] == "central"
    assert payload["minutes"] == 16


def _alarmed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, webhook: tuple[str, list[tuple[str, bytes]]],
             ) -> tuple[Settings, FakeClock, Path, list[tuple[str, bytes]]]:
    """An away mailbox whose alarm runs a command (its lines in the returned file) and calls
    the test's webhook (its posts in the returned list)."""
    url, posts = webhook
    monkeypatch.setenv(WEBHOOK_ENV, url)
    hook_out = tmp_path / "alarm.jsonl"
    settings = _unreachable_mailbox(tmp_path, hook_out)
    return settings, FakeClock(dt.datetime(2026, 11, 22, 3, 0, tzinfo=dt.UTC)), hook_out, posts


async def test_the_alarm_goes_out_once_per_episode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   webhook) -> None:
    settings, clock, hook_out, posts = _alarmed(tmp_path, monkeypatch, webhook)
    async with opened_store(settings, upgrade=True, clock=clock) as store:
        app = build_app(settings, store)
        out = AlarmOut(settings.alarm)
        alarm = Alarm(app.pipeline, app.health, clock(), {}, out)
        assert await alarm.check() == []
        clock.advance(minutes=16)
        assert await alarm.check() == ["central"]
        clock.advance(minutes=16)
        assert await alarm.check() == []  # the same outage: nothing more
        app.health.last_ok["central"] = clock()  # the mailbox is back: the episode ends
        assert await alarm.check() == []
        clock.advance(minutes=16)
        assert await alarm.check() == ["central"]  # a new outage: a new alarm
    lines = hook_out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and len(posts) == 2
    assert out.record.raised == 2 and out.record.last == clock()


async def test_processes_sharing_a_store_raise_one_alarm_per_outage(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, webhook) -> None:
    """Every gateway process on the store finds the away mailbox overdue; only the first to
    claim the outage raises the alarm (command, webhook, mail), until the outage is over."""
    settings, clock, hook_out, posts = _alarmed(tmp_path, monkeypatch, webhook)
    async with opened_store(settings, upgrade=True, clock=clock) as store:
        apps = [build_app(settings, store) for _ in range(3)]  # three processes' parts
        out = AlarmOut(settings.alarm)
        alarms = [Alarm(app.pipeline, app.health, clock(), {}, out) for app in apps]
        clock.advance(minutes=16)
        assert [await a.check() for a in alarms] == [["central"], [], []]
        clock.advance(minutes=16)
        assert [await a.check() for a in alarms] == [[], [], []]  # the same outage
        apps[0].health.last_ok["central"] = clock()  # back for the first: its claim is over
        assert [await a.check() for a in alarms] == [[], [], []]  # the others had it raised
        for app in apps:
            app.health.last_ok["central"] = clock()
        assert [await a.check() for a in alarms] == [[], [], []]
        clock.advance(minutes=16)  # a new outage: one alarm again, by whichever claims first
        assert [await a.check() for a in reversed(alarms)] == [["central"], [], []]
        async with store.readers() as s:
            kinds = list((await s.execute(select(OutboxItem.kind))).scalars())
    assert kinds == ["alarm", "alarm"]
    assert len(hook_out.read_text(encoding="utf-8").splitlines()) == 2 and len(posts) == 2


async def test_the_endpoint_answers_its_two_paths_and_nothing_else(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with opened_store(settings, upgrade=True, clock=TickingClock()) as store:
        task, stop, ports = await _serving(settings, store)
        port = ports["health"]
        try:
            assert (await _get(port, "/healthz"))[0] == 200
            assert (await _get(port, "/metrics?x=1"))[0] == 200
            for path in ("/", "/metrics/", "/healthz/../metrics", "/../../etc/passwd", "/%2e%2e/etc/passwd",
                         "//metrics", "/favicon.ico", "*"):
                assert (await _get(port, path))[0] == 404, path
            assert (await _http(port, b"POST /metrics HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi"))[0] == 405
            assert (await _http(port, b"DELETE /healthz HTTP/1.1\r\n\r\n"))[0] == 405
            assert (await _http(port, b"GET /healthz\r\n\r\n"))[0] == 400
            huge = b"GET /metrics HTTP/1.1\r\nX-Pad: " + b"a" * 100_000 + b"\r\n\r\n"
            status, body = await _http(port, huge)
            assert status == 431 and b"saraban" not in body
            assert (await _get(port, "/healthz"))[0] == 200  # still serving
        finally:
            stop.set()
            await asyncio.wait_for(task, 60)
    assert ports["health"] != 9108  # the tests' own port, not the default


async def test_json_logs_parse_line_by_line_and_name_the_letter(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = make_settings(tmp_path, logging={"format": "json"})
    async with opened_store(settings, upgrade=True, clock=TickingClock()) as store:
        await add_to_directory(store, "saraban@obec.go.th")
        task, stop, ports = await _serving(settings, store)
        try:
            lid = _id(await _send(ports["smtp"], letter_mail(numbered_letter_pdf(1))))
            await _until(store, lid, states={"registered"}, timeout=120)
        finally:
            stop.set()
            await asyncio.wait_for(task, 60)
    err = capsys.readouterr().err
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert lines, "no log lines"
    for line in lines:
        assert {"time", "level", "logger", "message"} <= set(line)
        assert dt.datetime.fromisoformat(line["time"]).tzinfo is not None
    about = [line for line in lines if line.get("letter_id") == lid]
    assert [line["message"] for line in about] == [
        f"letter {lid} taken in over SMTP from saraban@obec.go.th", f"letter {lid}: registered"]
    assert all(line["level"] == "INFO" and line["logger"] == "saraban-gateway" for line in about)


async def test_check_names_the_health_endpoint_and_the_alarm_channels(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from gateway.cli.check import run_checks

    monkeypatch.delenv(WEBHOOK_ENV, raising=False)
    settings = make_settings(tmp_path, alarm={"command": ["no-such-alarm-program"], "webhook_env": WEBHOOK_ENV})
    async with opened_store(settings, upgrade=True):
        pass
    assert await run_checks(settings) == 1
    out = " ".join(capsys.readouterr().out.split())  # columns aside
    assert "✓ health endpoint" in out and "/healthz" in out
    assert "✗ alarm command" in out and "no-such-alarm-program" in out
    assert f"✗ alarm webhook ไม่พบตัวแปรสภาพแวดล้อม {WEBHOOK_ENV}" in out
    monkeypatch.setenv(WEBHOOK_ENV, "http://127.0.0.1:9/hook/s3cret-token")
    settings = make_settings(tmp_path, alarm={"command": [sys.executable], "webhook_env": WEBHOOK_ENV})
    assert await run_checks(settings) == 0
    out = " ".join(capsys.readouterr().out.split())  # columns aside
    assert f"✓ alarm command {sys.executable}" in out
    assert "✓ alarm webhook POST JSON ไปที่ http://127.0.0.1" in out and "s3cret" not in out
    # a running gateway on the address: its own /healthz verdict is shown
    async with opened_store(settings, upgrade=True, clock=TickingClock()) as store:
        task, stop, ports = await _serving(settings, store)
        try:
            running = make_settings(tmp_path, health={"listen": f"127.0.0.1:{ports['health']}"})
            await run_checks(running)
        finally:
            stop.set()
            await asyncio.wait_for(task, 60)
    out = " ".join(capsys.readouterr().out.split())  # columns aside
    assert "✓ health endpoint เกตเวย์ที่ทำงานอยู่ตอบว่าปกติ" in out and '"status": "ok"' in out
    assert "⚠ alarm" in out  # no second channel configured: said so
