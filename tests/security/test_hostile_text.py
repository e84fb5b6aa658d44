"""Control characters from a sender never reach the store or a terminal (issue 18, finding 7).

A hostile subject or sender name used to be stored as written and printed by `letter show` as
written: an ESC[2J cleared the administrator's screen, an OSC 52 sequence wrote to their
clipboard, a U+202E made "fdp.exe" read "exe.pdf", a bare CR overwrote what the line showed.
Each attack is one row: what is stored and printed is clean (``thai.clean_text``), and the raw
message is kept byte for byte.
"""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import pytest

from gateway.app import open_store
from gateway.config import load_settings
from gateway.service import serve
from gateway.store.tables import RawMessage
from gateway.thai import clean_text
from tests.conftest import TickingClock, kept_as_received
from tests.integration.test_cli import CONFIG, cli
from tests.integration.test_inbound_smtp import _id, _send, _until

# (attack, what the sender wrote, as one line (a field), as text (a body))
HOSTILE = [
    ("ANSI clear screen", "ขอเชิญ\x1b[2J\x1b[Hประชุม", "ขอเชิญประชุม", "ขอเชิญประชุม"),
    ("ANSI colour", "\x1b[31;1mด่วนที่สุด\x1b[0m", "ด่วนที่สุด", "ด่วนที่สุด"),
    ("OSC 52 clipboard write", "ประชุม\x1b]52;c;cm0gLXJmIH4=\x07วันนี้", "ประชุมวันนี้", "ประชุมวันนี้"),
    ("OSC window title, ST end", "a\x1b]0;pwned\x1b\\b", "ab", "ab"),
    ("C1 CSI", "a\x9b2Jb", "ab", "ab"),
    ("BEL", "แจ้ง\x07\x07เวียน", "แจ้งเวียน", "แจ้งเวียน"),
    ("NUL", "หนังสือ\x00ราชการ", "หนังสือราชการ", "หนังสือราชการ"),
    ("bidi override: fdp.exe shows as exe.pdf", "\u202efdp.exe", "fdp.exe", "fdp.exe"),
    ("bidi isolate and marks", "\u2067a\u2069\u200fb\u200e", "ab", "ab"),
    ("CR overwrite", "ส่งถึงทุกหน่วย\rหนังสือลับ", "ส่งถึงทุกหน่วย หนังสือลับ",
     "ส่งถึงทุกหน่วย\nหนังสือลับ"),
    ("backspace over text", "ok\x08\x08no", "okno", "okno"),
    ("tab and line break in a field", "เรื่อง\tประชุม\nครั้งที่ 1", "เรื่อง ประชุม ครั้งที่ 1",
     "เรื่อง\tประชุม\nครั้งที่ 1"),
    ("Thai word-break hint (ZWSP)", "ขอเชิญ\u200bประชุม", "ขอเชิญประชุม", "ขอเชิญ\u200bประชุม"),
    ("line separator", "a\u2028b", "a b", "a\nb"),
]
FORBIDDEN = {chr(c) for c in (*range(0x20), 0x7F, *range(0x80, 0xA0), 0x202A, 0x202B, 0x202C,
                              0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069, 0x200E, 0x200F)}


@pytest.mark.parametrize(("attack", "written", "line", "text"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_clean_text(attack: str, written: str, line: str, text: str) -> None:
    assert clean_text(written) == line
    assert clean_text(written, multiline=True) == text


def _word(s: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(s.encode()).decode() + "?="


def hostile_mail(n: int, written: str) -> bytes:
    return (f"From: {_word('สพฐ.' + written)} <saraban@obec.go.th>\r\n"
            f"To: saraban@agency.test\r\nMessage-ID: <h{n}@obec.go.th>\r\n"
            f"Subject: {_word('ขอเชิญประชุม ' + written)}\r\n"
            "Date: Sun, 22 Nov 2026 09:30:00 +0700\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            ).encode() + base64.encodebytes(f"เรียน ผู้อำนวยการ\r\n{written}\r\n".encode()).replace(
                b"\n", b"\r\n")  # base64: a bare CR in the body survives the SMTP client


@pytest.mark.integration
async def test_hostile_text_is_stored_and_printed_clean(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(CONFIG + "\n[smtp_listener]\nport = 0\n", encoding="utf-8")
    settings = load_settings(tmp_path / "config.toml")
    store = await open_store(settings, upgrade=True, clock=TickingClock())
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, ready=ready, stop=stop, store=store))
    port = await asyncio.wait_for(ready, 30)
    sent: list[tuple[str, str, bytes, int]] = []
    subjects: dict[int, str] = {}
    try:
        for n, (attack, written, line, _) in enumerate(HOSTILE):
            raw = hostile_mail(n, written)
            sent.append((attack, line, raw, _id(await _send(port, raw))))
        for attack, _, raw, letter_id in sent:
            letter = await _until(store, letter_id, states={"review", "registered", "rejected"})
            async with store.sessions() as s:
                kept = await s.get(RawMessage, letter.raw_message_id)
            assert kept is not None and kept_as_received(store.blobs.get(kept.sha256), raw), attack  # raw as it came
            for value in (letter.subject, letter.sender, letter.review_reason):
                assert not FORBIDDEN & set(value), (attack, value)
            assert letter.subject.strip(), attack
            subjects[letter_id] = letter.subject
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await store.close()
    for attack, _, _, letter_id in sent:
        shown = await asyncio.to_thread(cli, tmp_path, "letter", "show", str(letter_id))
        assert shown.returncode == 0, shown.stderr
        assert not (FORBIDDEN - {"\n"}) & set(shown.stdout + shown.stderr), (attack, shown.stdout)
        assert subjects[letter_id] in shown.stdout  # the clean subject, as stored


# (command line carrying the attack) — what the command prints or stores must be clean
CLI_ARGS = [
    ["letter", "show", "\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J"],  # echoed in the error message
    ["reserve", "--book", "send", "--count", "1", "--note", "รอลงนาม\x1b[2J\u202egnp.exe"],
]


@pytest.mark.parametrize("argv", CLI_ARGS, ids=["echoed", "stored"])
def test_cli_arguments_and_output_carry_no_controls(tmp_path: Path, argv: list[str]) -> None:
    (tmp_path / "config.toml").write_text(CONFIG, encoding="utf-8")
    assert cli(tmp_path, "db", "upgrade").returncode == 0
    r = cli(tmp_path, *argv)
    listed = cli(tmp_path, "reservations", "list")
    for out in (r.stdout, r.stderr, listed.stdout, listed.stderr):
        assert not (FORBIDDEN - {"\n"}) & set(out), out
    if "--note" in argv:
        assert r.returncode == 0 and "รอลงนามgnp.exe" in listed.stdout
