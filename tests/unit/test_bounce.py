"""read_bounce over the delivery reports in tests/data/dsn (a table of file → expected bounce),
VERP round trips, and the hostile inputs it must survive without raising."""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.outbound.bounces import (
    MAX_RECIPIENTS,
    Bounce,
    RecipientStatus,
    read_bounce,
    verp_address,
    verp_token,
)

DSN_DIR = Path(__file__).resolve().parents[1] / "data" / "dsn"
FIXTURES = sorted(p.name for p in DSN_DIR.glob("*.eml"))
CENTRAL = "saraban@agency.test"


@dataclass(frozen=True)
class R:
    """An expected recipient: address, action, status, permanent, and a piece of the diagnostic."""

    final: str
    action: str
    status: str | None
    permanent: bool
    diagnostic: str | None = None
    original: str | None = None


@dataclass(frozen=True)
class Expect:
    token: str | None
    message_id: str | None
    recipients: tuple[R, ...]
    kind: str
    envelope_to: tuple[str, ...] = ()


NOT_A_BOUNCE = None

EXPECTED: dict[str, Expect | None] = {
    "postfix_511_verp.eml": Expect(
        "p7k2m9x4q1w8e5r3",
        "<4fad1e70c6c22e32f8da029d8d421ff3@agency.test>",
        (
            R(
                "somchai.j@example.go.th",
                "failed",
                "5.1.1",
                True,
                "550 5.1.1 <somchai.j@example.go.th>: Recipient address rejected: User unknown in "
                "virtual mailbox table",
                original="somchai.j@example.go.th",
            ),
        ),
        "rfc3464",
    ),
    "postfix_delayed_441.eml": Expect(
        "d4l8y2e6d0q3w7x1",
        "<88372e4b1a3c3478cc89cbb569b7545a@agency.test>",  # folded, in text/rfc822-headers
        (
            R(
                "registry@example.go.th",
                "delayed",
                "4.4.1",
                False,
                "connect to mx.example.go.th[203.0.113.40]:25: Connection timed out",
                original="registry@example.go.th",
            ),
        ),
        "rfc3464",
    ),
    "office365_ndr_dsn.eml": Expect(
        "o365nd8r2k4m6p9q",
        "<5ddcc6fbeed60ff0097a187f842cf587@agency.test>",
        (
            R(
                "wichai.k@example.go.th",
                "failed",
                "5.1.10",
                True,
                "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient wichai.k@example.go.th not "
                "found by SMTP address lookup",
                original="wichai.k@example.go.th",
            ),
        ),
        "rfc3464",
    ),
    "exchange_ndr_html_only.eml": Expect(
        "ex2010html7k3m9q",  # only in the SMTP envelope; the NDR's To is the plain address
        "<3a4b44cf0539b9352913daa9a34e0fe2@agency.test>",  # from "Original message headers"
        (
            R(
                "somchai.s@example.go.th",
                "failed",
                "5.1.1",
                True,
                "550 5.1.1 RESOLVER.ADR.RecipNotFound; not found",
            ),
        ),
        "text",
        envelope_to=("saraban+b.ex2010html7k3m9q@agency.test",),
    ),
    "gmail_dsn_failure.eml": Expect(
        "gm41l5q8w2e6r0t4y7u1",
        "<bc78dcf2dd8b41f30fb645f121ca3b09@agency.test>",
        (
            R(
                "nattaya.r@example.go.th",
                "failed",
                "5.1.1",
                True,
                "550-5.1.1 The email account that you tried to reach does not exist. Please try "
                "550-5.1.1 double-checking",
            ),
        ),
        "rfc3464",
    ),
    "qmail_failure_notice.eml": Expect(
        "qm41l7x3c9v5b1n8",
        "<1140dec2b541d19f28a267ad28a79528@agency.test>",  # from the copy below the notice
        (
            R(
                "nobody@example.go.th",
                "failed",
                "5.1.1",
                True,
                "Sorry, no mailbox here by that name. (#5.1.1)",
            ),
            R(
                "full.box@example.go.th",
                "failed",
                "5.0.0",
                True,
                "Remote host said: 552 Requested mail action aborted",
            ),
        ),
        "qmail",
    ),
    "sendmail_envid.eml": Expect(
        "s3ndm41l9a8b7c6d",  # Original-Envelope-Id only: the return path had no VERP
        "<32c9d916eb30328d0a1201a7e87db64a@agency.test>",
        (
            R(
                "pranee.w@example.go.th",
                "failed",
                "5.1.1",
                True,
                "550 5.1.1 <Pranee.W@example.go.th>... User unknown",
            ),
        ),
        "rfc3464",
    ),
    "global_dsn_thai.eml": Expect(
        "th41gl0b4ld5n7x2",
        "<16bd15dda3cbee73a6bf25bd00fd0464@agency.test>",  # message/global-headers
        (
            R(
                "สมชาย@example.go.th",
                "failed",
                "5.1.1",
                True,
                "550 5.1.1 ไม่พบกล่องจดหมายของผู้รับ สมชาย@example.go.th ในระบบ กรุณาตรวจสอบที่อยู่อีกครั้ง",
                original="สมชาย@example.go.th",
            ),
        ),  # \x{…} escapes
        "rfc6533",
    ),
    "global_dsn_base64_cp874.eml": Expect(
        "g10b4lb64x7c9v1n",  # ENVID sent upper/lower mixed: tokens compare case-insensitively
        "<3d9f0e1c2b4a59687a6b5c4d3e2f1a0b@agency.test>",  # message/global
        (
            R(
                "ปราณี.ว@example.go.th",
                "failed",
                "5.2.2",
                True,
                "552 5.2.2 กล่องจดหมายของผู้รับเต็ม (mailbox full)",
            ),
        ),
        "rfc6533",
    ),
    "two_recipients_expanded.eml": Expect(
        "q7w8e9r0t1y2u3i4",  # To in capitals
        "<0a050ac15e0d163de51c99b27db84d16@agency.test>",
        (
            R(
                "kanda.p@example.go.th",
                "failed",
                "5.1.1",
                True,
                "550 5.1.1 No such user here",
                original="committee@example.go.th",
            ),
            R(
                "wirat.t@example.go.th",
                "delayed",
                "4.2.2",
                False,
                "452-4.2.2 The email account that you tried to reach is over quota. 452 4.2.2 Please",
                original="committee@example.go.th",
            ),
        ),
        "rfc3464",
    ),
    "broken_dsn_no_separators.eml": Expect(
        "br0k3nf0rm4t1x2",
        None,
        (
            R(
                "anan.c@example.go.th",
                "failed",
                "5.1.1",
                True,
                "550 5.1.1 Mailbox anan.c@example.go.th does not exist here; please check the address",
            ),
            R(
                "busaba.n@example.go.th",
                "failed",
                "5.0.0",
                True,
                "553 sorry, that domain isn't in my list of allowed rcpthosts",
            ),
        ),
        "rfc3464",
    ),
    "mailer_daemon_x_failed_recipients.eml": Expect(
        "ex1m4f7g2h8j5k3l",  # X-Original-To
        "<6f00e8b6a2ca3d49305f8cda1f04cb65@agency.test>",
        (
            R(
                "wrong.user@example.go.th",
                "failed",
                "5.1.1",
                True,
                "550 5.1.1 <wrong.user@example.go.th>: Recipient address rejected",
            ),
        ),
        "text",
    ),
    "truncated_report.eml": Expect(
        "trunc4t3d9x8c7v6",
        None,
        (
            R(
                "malee.s@example.go.th",
                "failed",
                "5.2.1",
                True,
                "550 5.2.1 <malee.s@example.go.th>: mailbox disa",
            ),
        ),
        "rfc3464",
    ),
    "read_receipt_mdn.eml": NOT_A_BOUNCE,
    "out_of_office_thai.eml": NOT_A_BOUNCE,
    "ordinary_letter.eml": NOT_A_BOUNCE,
}


def _read(name: str) -> Bounce | None:
    expect = EXPECTED[name]
    envelope_to = expect.envelope_to if expect is not None else ()
    return read_bounce((DSN_DIR / name).read_bytes(), envelope_to=envelope_to)


def test_every_fixture_is_in_the_table_and_back() -> None:
    assert len(FIXTURES) >= 13
    assert set(FIXTURES) == set(EXPECTED)


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_reads_as_expected(name: str) -> None:
    bounce = _read(name)
    expect = EXPECTED[name]
    if expect is None:
        assert bounce is None
        return
    assert bounce is not None
    assert bounce.token == expect.token
    assert bounce.original_message_id == expect.message_id
    assert bounce.kind == expect.kind
    got = [(r.final_recipient, r.action, r.status, r.permanent) for r in bounce.recipients]
    assert got == [(r.final, r.action, r.status, r.permanent) for r in expect.recipients]
    for r, want in zip(bounce.recipients, expect.recipients, strict=True):
        if want.diagnostic is not None:
            assert r.diagnostic is not None and want.diagnostic in r.diagnostic
        if want.original is not None:
            assert r.original_recipient == want.original
    assert bounce.permanent_failures == tuple(r for r in bounce.recipients if r.permanent)


@pytest.mark.parametrize("name", FIXTURES)
def test_line_endings_do_not_matter(name: str) -> None:
    raw = (DSN_DIR / name).read_bytes()
    lf = raw.replace(b"\r\n", b"\n")
    crlf = lf.replace(b"\n", b"\r\n")
    expect = EXPECTED[name]
    envelope_to = expect.envelope_to if expect is not None else ()
    assert read_bounce(lf, envelope_to=envelope_to) == read_bounce(crlf, envelope_to=envelope_to)


def test_token_sources_in_order() -> None:
    raw = (DSN_DIR / "sendmail_envid.eml").read_bytes()
    # An envelope recipient outranks the report's Original-Envelope-Id.
    bounce = read_bounce(raw, envelope_to=["<SARABAN+B.ABCDEFGHIJKL@agency.test>"])
    assert bounce is not None and bounce.token == "abcdefghijkl"
    # Garbage in the envelope is ignored, not fatal.
    bounce = read_bounce(raw, envelope_to=["", "not an address", "x+b.short@agency.test"])
    assert bounce is not None and bounce.token == "s3ndm41l9a8b7c6d"


def test_in_reply_to_is_the_last_resort_for_the_message_id() -> None:
    raw = (DSN_DIR / "truncated_report.eml").read_bytes()
    raw = raw.replace(b"Date: ", b"In-Reply-To: <9d8c7b6a5f4e3d2c@agency.test>\nDate: ", 1)
    bounce = read_bounce(raw)
    assert bounce is not None and bounce.original_message_id == "<9d8c7b6a5f4e3d2c@agency.test>"
    raw = raw.replace(b"In-Reply-To:", b"References: <a@agency.test>\n <b@agency.test>\nX-Old:")
    bounce = read_bounce(raw)
    assert bounce is not None and bounce.original_message_id == "<b@agency.test>"


def test_auto_submitted_alone_is_not_a_bounce_but_a_report_is() -> None:
    ooo = (DSN_DIR / "out_of_office_thai.eml").read_bytes()
    assert read_bounce(ooo) is None
    # Postfix marks its bounces Auto-Submitted: auto-replied too (RFC 3834 §5); the report wins.
    postfix = (DSN_DIR / "postfix_511_verp.eml").read_bytes()
    assert b"Auto-Submitted: auto-replied" in postfix
    assert read_bounce(postfix) is not None


@pytest.mark.parametrize(
    ("action", "status", "want_action", "want_status", "permanent"),
    [
        (b"Action: failed", b"Status: 5.1.1", "failed", "5.1.1", True),
        (b"Action: delivered", b"Status: 2.0.0", "delivered", "2.0.0", False),
        (b"Action: relayed", b"Status: 2.0.0", "relayed", "2.0.0", False),
        (b"Action: expanded", b"Status: 2.0.0", "expanded", "2.0.0", False),
        (b"Action: Failed (bad mailbox)", b"Status: 5.1.1 (unknown user)", "failed", "5.1.1", True),
        (b"Action: delayed", b"Status: 4.7.1", "delayed", "4.7.1", False),
        (b"Action: delayed", b"Status: 5.7.1", "delayed", "5.7.1", True),  # class 5 is final
        (b"X-Action: none", b"Status: 4.4.7", "delayed", "4.4.7", False),  # no action: by class
        (b"Action: failed", b"Status: 5.1", "failed", "5.1.1", True),  # bad status: diagnostic's
        (b"Action: failed", b"Status: 5.01.001", "failed", "5.1.1", True),
    ],
)
def test_actions_and_statuses(
    action: bytes, status: bytes, want_action: str, want_status: str, permanent: bool
) -> None:
    raw = (DSN_DIR / "postfix_511_verp.eml").read_bytes()
    raw = raw.replace(b"Action: failed", action).replace(b"Status: 5.1.1", status)
    bounce = read_bounce(raw)
    assert bounce is not None
    (r,) = bounce.recipients
    assert (r.action, r.status, r.permanent) == (want_action, want_status, permanent)


def test_an_unusable_charset_label_still_reads() -> None:
    raw = (DSN_DIR / "qmail_failure_notice.eml").read_bytes()
    raw = raw.replace(
        b"Subject: failure notice\n",
        b'Subject: failure notice\nContent-Type: text/plain; charset="utf\x00-8"\n',
        1,
    )
    raw = raw.replace(b"Sorry, no mailbox", "ขออภัย Sorry, no mailbox".encode(), 1)
    bounce = read_bounce(raw)
    assert bounce is not None and bounce.kind == "qmail"
    assert [r.final_recipient for r in bounce.recipients] == [
        "nobody@example.go.th",
        "full.box@example.go.th",
    ]
    assert bounce.recipients[0].diagnostic == "ขออภัย Sorry, no mailbox here by that name. (#5.1.1)"


# --------------------------------------------------------------------------------------------
# VERP
# --------------------------------------------------------------------------------------------

_LOCAL = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,30}", fullmatch=True)
_DOMAIN = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z]{2,10}){1,3}", fullmatch=True)
_TOKENS = st.from_regex(r"[a-z0-9]{12,40}", fullmatch=True)


@settings(max_examples=300, deadline=None)
@given(_LOCAL, _DOMAIN, _TOKENS)
def test_verp_round_trip(local: str, domain: str, token: str) -> None:
    address = verp_address(f"{local}@{domain}", token)
    assert address == f"{local}+b.{token}@{domain}"
    assert verp_token(address) == token
    assert verp_token(address.upper()) == token
    assert verp_token(f" <{address}> ") == token


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_verp_token_never_raises(text: str) -> None:
    token = verp_token(text)
    assert token is None or re.fullmatch(r"[a-z0-9]{12,40}", token)


@pytest.mark.parametrize(
    "address",
    [
        "saraban@agency.test",
        "saraban+b.short@agency.test",  # token under 12
        "saraban+b." + "a" * 41 + "@agency.test",  # over 40
        "saraban+b.abcdefghijk!@agency.test",
        "+b.abcdefghijkl@agency.test",  # no local part
        "saraban+b.abcdefghijkl@",  # no domain
        "saraban+b.abcdefghijkl",
        "Name <saraban+b.abcdefghijkl@agency.test>",  # a display name is not an address
        "saraban+x.abcdefghijkl@agency.test",
        "",
    ],
)
def test_verp_token_refuses_other_shapes(address: str) -> None:
    assert verp_token(address) is None


def test_verp_token_refuses_non_strings() -> None:
    assert verp_token(None) is None  # type: ignore[arg-type]
    assert verp_token(b"saraban+b.abcdefghijkl@agency.test") is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("central", "token"),
    [
        (CENTRAL, "short"),
        (CENTRAL, "ABCDEFGHIJKL"),  # tokens are minted lower-case
        (CENTRAL, "abc-defghijkl"),
        ("not-an-address", "abcdefghijkl"),
        ("saraban@", "abcdefghijkl"),
        ("sara ban@agency.test", "abcdefghijkl"),
    ],
)
def test_verp_address_refuses_what_could_not_come_back(central: str, token: str) -> None:
    with pytest.raises(ValueError):
        verp_address(central, token)


# --------------------------------------------------------------------------------------------
# Hostile input
# --------------------------------------------------------------------------------------------


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=3000))
def test_random_bytes_never_raise(raw: bytes) -> None:
    result = read_bounce(raw)
    assert result is None or isinstance(result, Bounce)


_JUNK = [
    b"\r\n\r\n", b"\n ", b":", b";", b"<", b">", b"\x00", b"\xff\xfe", b"\xe0\xb8",
    b"\r\n--", b"Final-Recipient: ", b"rfc822;", b"Status: 5.", b"Action: ", b"\\x{",
    b"Content-Type: message/delivery-status\r\n", b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n",
    b"=?utf-8?b?", b"<<<<", b"@@@@",
]  # fmt: skip


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    data = bytearray((DSN_DIR / draw(st.sampled_from(FIXTURES))).read_bytes())
    for _ in range(draw(st.integers(1, 6))):
        pos = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        if op == "flip" and pos < len(data):
            data[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.sampled_from(_JUNK))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 200))]
        elif op == "truncate":
            del data[pos:]
    return bytes(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutated())
def test_mutated_fixtures_never_raise(raw: bytes) -> None:
    result = read_bounce(raw)
    if result is not None:
        assert len(result.recipients) <= MAX_RECIPIENTS
        assert all(isinstance(r, RecipientStatus) and r.final_recipient for r in result.recipients)


def _report(status_part: bytes, *, cte: bytes = b"") -> bytes:
    return (
        b"From: MAILER-DAEMON@mx.example.go.th\r\n"
        b"To: saraban+b.h0st1l3t3st99@agency.test\r\n"
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=B\r\n\r\n"
        b"--B\r\nContent-Type: message/delivery-status\r\n"
        + cte
        + b"\r\n"
        + status_part
        + b"\r\n--B--\r\n"
    )


def test_recipient_groups_are_capped() -> None:
    group = b"Final-Recipient: rfc822; x%d@example.go.th\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
    status = b"Reporting-MTA: dns; mx\r\n\r\n" + b"".join(group % i for i in range(5000))
    started = time.monotonic()
    bounce = read_bounce(_report(status))
    assert time.monotonic() - started < 20
    assert bounce is not None and len(bounce.recipients) == MAX_RECIPIENTS
    assert bounce.recipients[0].final_recipient == "x0@example.go.th"


def test_recipients_without_blank_lines_are_capped_too() -> None:
    group = b"Final-Recipient: rfc822; x%d@example.go.th\r\nAction: failed\r\n"
    bounce = read_bounce(_report(b"".join(group % i for i in range(3000))))
    assert bounce is not None and len(bounce.recipients) == MAX_RECIPIENTS


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\r\n\r\n",
        b"From: MAILER-DAEMON@x\r\nX-Failed-Recipients: " + b"a@b.cc, " * 20000 + b"\r\n\r\nx",
        b"Subject: Undeliverable\r\nFrom: postmaster@x.test\r\n\r\n" + b"a" * 3_000_000,
        b"Subject: failure notice\r\n\r\nHi. This is the qmail-send program\r\n"
        + b"<a@b.cc>:\r\n" * 50_000,
        _report(b"Final-Recipient: rfc822; " + b"x" * 500_000 + b"@y\r\nAction: failed\r\n"),
        _report(b"Diagnostic-Code: smtp; " + b"5.5.5." * 100_000),
        _report(b"\\x{110000}\\x{d800}" * 1000, cte=b"Content-Transfer-Encoding: base64\r\n"),
        b"Content-Type: multipart/mixed; boundary=a\r\n\r\n"
        + b"--a\r\nContent-Type: multipart/mixed; boundary=a\r\n\r\n" * 5000,
        b"Content-Type: message/rfc822\r\n\r\n" * 3000,
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
        + b"--b\r\nContent-Type: text/html\r\n\r\n<!"
        + b"<![ x" * 10_000
        + b"\r\n--b--\r\n",
    ],
    ids=[
        "empty",
        "blank",
        "many-failed-recipients",
        "long-line",
        "many-qmail-recipients",
        "long-address",
        "long-diagnostic",
        "bad-escapes-base64",
        "deep-multipart",
        "deep-rfc822",
        "html-declarations",
    ],
)
def test_hostile_inputs_are_bounded(raw: bytes) -> None:
    started = time.monotonic()
    result = read_bounce(raw)
    assert time.monotonic() - started < 20
    if result is not None:
        assert len(result.recipients) <= MAX_RECIPIENTS
        assert all(len(r.final_recipient) <= 320 for r in result.recipients)
        assert all(r.diagnostic is None or len(r.diagnostic) <= 2000 for r in result.recipients)


def test_seeded_byte_soup_from_report_fragments_never_raises() -> None:
    rng = random.Random(3464)
    pieces = [*_JUNK, b"rfc822; a@b.cc", b"5.1.1", b"failed", b"--B", b"\r\n"]
    for _ in range(300):
        soup = b"".join(rng.choice(pieces) for _ in range(rng.randint(1, 80)))
        result = read_bounce(_report(soup))
        assert result is None or isinstance(result, Bounce)
