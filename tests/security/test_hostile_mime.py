"""Hostile MIME gets a defined outcome (issue 18, finding 7): each attack is one row of a table.

A message nested a thousand levels deep used to end as an "empty" letter (the stdlib parser
raised RecursionError and the reading gave up), and an empty letter is refused with a notice to
the sender. Now nesting beyond ``MAX_NESTING`` levels and parts beyond ``MAX_PARTS`` are not
read, and the letter goes to the clerk with a Thai reason; whatever stays within the limits is
read as before. Every row goes through the real gateway (SMTP listener → store → reading →
classification): the letter ends in the state the row names, with its reason, and the raw bytes
are kept as they came. No row is timed; each must simply finish.
"""

from __future__ import annotations

import asyncio
import base64
import functools
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from gateway.app import open_store
from gateway.core.parse import MAX_NESTING, MAX_PARTS
from gateway.service import serve
from gateway.store.handle import Store
from gateway.store.tables import RawMessage
from tests.conftest import TickingClock, kept_as_received, make_settings
from tests.corpus.mail import letter_mail, letter_pdf
from tests.data.eml.make_tnef import tnef
from tests.integration.test_inbound_smtp import _id, _send, _until

pytestmark = pytest.mark.integration

HEAD = (b"From: =?utf-8?b?4Liq4Lie4LiQLg==?= <saraban@obec.go.th>\r\nTo: saraban@agency.test\r\n"
        b"Date: Sun, 22 Nov 2026 09:30:00 +0700\r\nMIME-Version: 1.0\r\n")
TOO_DEEP = f"อีเมลซ้อนกันลึกเกินกำหนด ({MAX_NESTING} ชั้น) ระบบจึงอ่านไม่ครบ"
TOO_MANY = f"อีเมลมีส่วนย่อยเกินกำหนด ({MAX_PARTS} ส่วน) ระบบจึงอ่านไม่ครบ"
NO_PDF = "ไม่พบไฟล์หนังสือ (PDF)"


@functools.cache
def pdf() -> bytes:
    return letter_pdf()


def _b64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def pdf_part() -> bytes:
    return (b'Content-Type: application/pdf; name="2569_OBEC_1234.pdf"\r\n'
            b'Content-Disposition: attachment; filename="2569_OBEC_1234.pdf"\r\n'
            b"Content-Transfer-Encoding: base64\r\n\r\n" + _b64(pdf()))


def multipart_deep(levels: int, param: str = "boundary") -> bytes:
    """`levels` multiparts, one inside the other, the letter's PDF in the innermost."""
    body = pdf_part()
    for i in range(levels):
        b = f"lvl{i}".encode()
        body = (b'Content-Type: multipart/mixed; ' + param.encode() + b'="' + b + b'"\r\n\r\n--'
                + b + b"\r\n" + body + b"\r\n--" + b + b"--\r\n")
    return HEAD + b"Subject: deep\r\n" + body


def rfc822_deep(levels: int) -> bytes:
    """`levels` messages, each the only part of the one around it."""
    body = b"Subject: inner\r\n" + multipart_deep(1)[len(HEAD):]
    for _ in range(levels):
        body = HEAD + b"Subject: fw\r\nContent-Type: message/rfc822\r\n\r\n" + body
    return body


def forwarded_chain(levels: int, *, encoded: bool = False) -> bytes:
    """A letter forwarded as an attachment `levels` times (Outlook's "Forward as attachment"),
    the message/rfc822 parts base64-encoded when `encoded` (forbidden, but sent)."""
    inner = letter_mail(pdf())
    for i in range(levels):
        cte = b"Content-Transfer-Encoding: base64\r\n" if encoded else b""
        payload = _b64(inner) if encoded else inner
        inner = (HEAD + b"Subject: Fw: %d\r\nContent-Type: multipart/mixed; boundary=\"f%d\"\r\n\r\n"
                 b"--f%d\r\nContent-Type: text/plain\r\n\r\nforwarded\r\n--f%d\r\n"
                 b"Content-Type: message/rfc822\r\n" % (i, i, i, i) + cte + b"\r\n" + payload
                 + b"\r\n--f%d--\r\n" % i)
    return inner


def many_parts(n: int) -> bytes:
    part = b"--x\r\nContent-Type: text/plain\r\n\r\nx\r\n"
    return (HEAD + b'Subject: parts\r\nContent-Type: multipart/mixed; boundary="x"\r\n\r\n'
            + b"--x\r\n" + pdf_part() + b"\r\n" + part * n + b"--x--\r\n")


def winmail_with(files: int) -> bytes:
    dat = tnef("winmail", "body", [(f"F{i}.TXT", f"f{i}.txt", b"x") for i in range(files)]
               + [("2569~1.PDF", "2569_OBEC_1234.pdf", pdf())])
    return (HEAD + b'Subject: winmail\r\nContent-Type: multipart/mixed; boundary="w"\r\n\r\n'
            b'--w\r\nContent-Type: application/ms-tnef; name="winmail.dat"\r\n'
            b"Content-Transfer-Encoding: base64\r\n\r\n" + _b64(dat) + b"--w--\r\n")


def header_of_1mb(name: str) -> bytes:
    """A letter with one header of 1 MB, folded into lines as a mail server passes it on."""
    mail = letter_mail(pdf())
    folded = b"\r\n ".join([b"word" * 18] * (2**20 // 74))
    return name.encode() + b": " + folded + b"\r\n" + mail


def boundary_never_closed() -> bytes:
    mail = letter_mail(pdf())
    return mail[: mail.rstrip().rfind(b"\r\n--")] + b"\r\n"  # the closing line is missing


def nul_in_charset() -> bytes:
    """Thai 8-bit text under `charset="\\x00utf-8"`: Python's own decoding of it raised
    ValueError (embedded null character), and both parsers gave the message up (found by
    test_parse's mutation fuzz)."""
    return (HEAD + b'Subject: nul\r\nContent-Type: multipart/mixed; boundary="n"\r\n\r\n'
            b'--n\r\nContent-Type: text/plain; charset="\x00utf-8"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'
            + "เรียน ผู้อำนวยการ ส่งหนังสือมาเพื่อทราบ".encode() + b"\r\n--n\r\n" + pdf_part() + b"--n--\r\n")


# (what the sender did, the raw message, the state it ends in, what the reason says)
CASES: list[tuple[str, Callable[[], bytes], str, str | None]] = [
    ("multipart 1,000 deep, letter at the bottom", lambda: multipart_deep(1000), "review", TOO_DEEP),
    ("multipart 10,000 deep", lambda: multipart_deep(10_000), "review", TOO_DEEP),
    ("message/rfc822 1,000 deep", lambda: rfc822_deep(1000), "review", TOO_DEEP),
    ("message/rfc822 10,000 deep", lambda: rfc822_deep(10_000), "review", TOO_DEEP),
    ("boundary in RFC 2231 form, 1,000 deep", lambda: multipart_deep(1000, "boundary*"), "review",
     TOO_DEEP),
    ("10,000 parts", lambda: many_parts(10_000), "review", TOO_MANY),
    ("winmail.dat holding 1,001 files", lambda: winmail_with(MAX_PARTS + 1), "review", TOO_MANY),
    # forwarded deeper than MAX_FORWARD_DEPTH: the innermost is kept as an .eml file, unread
    ("forwarded as an attachment 5 times", lambda: forwarded_chain(5), "review", NO_PDF),
    # within the limits everything is read as before
    ("multipart 40 deep, letter at the bottom", lambda: multipart_deep(40), "registered", None),
    ("base64 message/rfc822 inside base64 message/rfc822", lambda: forwarded_chain(2, encoded=True),
     "registered", None),
    ("a Subject of 1 MB", lambda: header_of_1mb("Subject"), "registered", None),
    ("an unknown header of 1 MB", lambda: header_of_1mb("X-Junk"), "registered", None),
    ("boundary never closed", boundary_never_closed, "registered", None),
    ("a NUL inside the text part's charset", nul_in_charset, "registered", None),
]


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[tuple[int, Store]]:
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'store.sqlite3'}")
    store = await open_store(settings, upgrade=True, clock=TickingClock())
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, ready=ready, stop=stop, store=store))
    port = await asyncio.wait_for(ready, 30)
    yield port, store
    stop.set()
    await asyncio.wait_for(task, 30)
    await store.close()


@pytest.mark.parametrize(("attack", "build", "state", "reason"), CASES, ids=[c[0] for c in CASES])
async def test_hostile_mime_has_a_defined_outcome(gw: tuple[int, Store], attack: str,
                                                  build: Callable[[], bytes], state: str,
                                                  reason: str | None) -> None:
    port, store = gw
    raw = build()
    letter = await _until(store, _id(await _send(port, raw)),
                          states={"review", "registered", "rejected", "not_letter"}, timeout=120)
    assert letter.state == state, letter.review_reason
    if reason is None:
        assert not letter.review_reason
    else:
        assert reason in letter.review_reason
    assert "อีเมลว่าง" not in letter.review_reason  # never read as an empty letter
    async with store.sessions() as s:
        kept = await s.get(RawMessage, letter.raw_message_id)
    assert kept is not None and kept_as_received(store.blobs.get(kept.sha256), raw)  # the raw bytes, as they came
