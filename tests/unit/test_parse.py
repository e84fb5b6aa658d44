"""parse_message over the .eml corpus in tests/data/eml (each with expected/<name>.json), plus the
limits, the hostile inputs and a mutation fuzz that it must survive without raising."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import unicodedata
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
import tnefparse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.core.parse import (
    MAX_FORWARD_DEPTH,
    MAX_NESTING,
    MAX_PARTS,
    decode_words,
    parse_message,
    safe_filename,
)
from gateway.letter import Attachment, ParsedMessage

EML_DIR = Path(__file__).resolve().parents[1] / "data" / "eml"
EXPECTED_DIR = EML_DIR / "expected"
FIXTURES = sorted(p.name for p in EML_DIR.glob("*.eml"))


def _expected(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXPECTED_DIR / f"{Path(name).stem}.json").read_text("utf-8"))
    return data


def _attachment_view(a: Attachment) -> dict[str, Any]:
    return {
        "filename": a.filename,
        "safe_name": a.safe_name,
        "content_type": a.content_type,
        "size": a.size,
        "sha256": a.sha256,
        "is_pdf": a.is_pdf,
        "inline": a.inline,
        "content_id": a.content_id,
        "origin": a.origin,
    }


def test_every_fixture_has_an_expectation_and_back() -> None:
    assert len(FIXTURES) >= 19
    stems = {Path(n).stem for n in FIXTURES}
    expectations = {p.stem for p in EXPECTED_DIR.glob("*.json")}
    assert stems == expectations


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_parses_as_expected(name: str) -> None:
    raw = (EML_DIR / name).read_bytes()
    exp = _expected(name)
    msg = parse_message(raw)

    assert msg.raw_size == len(raw)
    for key in (
        "message_id",
        "subject",
        "from_addr",
        "from_name",
        "in_reply_to",
        "body_text",
        "body_html",
        "is_auto_reply",
        "auto_reply_reason",
        "is_spam_flagged",
    ):
        if key in exp:
            assert getattr(msg, key) == exp[key], key
    for key in ("to_addrs", "cc_addrs", "references"):
        if key in exp:
            assert list(getattr(msg, key)) == exp[key], key
    if "date" in exp:
        assert (msg.date.isoformat() if msg.date else None) == exp["date"]
    for needle in exp.get("body_text_contains", []):
        assert needle in msg.body_text
    for needle in exp.get("body_html_contains", []):
        assert needle in msg.body_html
    if "attachments" in exp:
        assert [_attachment_view(a) for a in msg.attachments] == exp["attachments"]
    if "defects" in exp:
        assert list(msg.defects) == exp["defects"]
    for needle in exp.get("defects_contain", []):
        assert any(needle in d for d in msg.defects), (needle, msg.defects)
    if "forwarded_subjects" in exp:
        assert [f.subject for f in msg.forwarded] == exp["forwarded_subjects"]


def test_attachment_hashes_match_their_bytes() -> None:
    for name in FIXTURES:
        for a in parse_message((EML_DIR / name).read_bytes()).attachments:
            assert a.sha256 == hashlib.sha256(a.data).hexdigest()


def test_winmail_fixture_is_real_tnef() -> None:
    """The generated winmail.dat must be readable by tnefparse itself, not only by our code."""
    raw = (EML_DIR / "07_outlook_winmail_tnef.eml").read_bytes()
    body = raw.split(b"Content-Transfer-Encoding: base64\r\n\r\n", 1)[1].split(b"\r\n\r\n--", 1)[0]
    tnef = tnefparse.TNEF(base64.b64decode(body))
    assert [a.long_filename() for a in tnef.attachments] == [
        "2566_MOPH_1234.pdf",
        "สิ่งที่ส่งมาด้วย แบบสำรวจ.pdf",
    ]
    assert all(a.data.startswith(b"%PDF-") for a in tnef.attachments)


# --------------------------------------------------------------------------------------------
# Headers and charsets
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [
        # a Thai character (3 UTF-8 bytes) split across two encoded words
        ("=?UTF-8?B?4Lij?= =?UTF-8?B?4LmI4Liy?=", "ร่า"),
        ("=?UTF-8?B?4Lij4LmI?=\r\n =?UTF-8?B?4Liy?=", "ร่า"),
        ("=?windows-874?Q?=CB=B9=D1=A7=CA=D7=CD?=", "หนังสือ"),
        ("=?x-windows-874?B?y7nRp8rXzQ==?=", "หนังสือ"),
        ("=?TIS-620?B?y7nRp8rXzQ==?= plain", "หนังสือ plain"),
        ("a =?UTF-8?Q?b?= c", "a b c"),
        ("=?utf-8?b?4Lij4LmI4Liy?=", "ร่า"),  # lower-case b
        ("=?UTF-8*th?B?4Lij?=", "ร"),  # RFC 2231 language tag inside an encoded word
        ("=?UTF-8?B?4Lij4LmI4Liy!!?=", "ร่า"),  # junk in base64 is skipped
        ("no encoded words", "no encoded words"),
    ],
)
def test_decode_words(encoded: str, decoded: str) -> None:
    assert decode_words(encoded) == decoded


def _mail(headers: str, body: str = "hello\r\n") -> bytes:
    return (headers.strip("\n").replace("\n", "\r\n") + "\r\n\r\n" + body).encode(
        "utf-8", "surrogateescape"
    )


def test_minus_zero_zone_date_is_aware_utc() -> None:
    msg = parse_message(_mail("From: a@b.go.th\nDate: Tue, 20 Jun 2023 10:00:00 -0000"))
    assert msg.date is not None and msg.date.tzinfo is not None
    assert msg.date.utcoffset() == UTC.utcoffset(None)


@pytest.mark.parametrize("value", ["yesterday", "Tue, 99 Foo 2023 99:99:99 +0700", ""])
def test_unreadable_date_is_a_defect_not_an_error(value: str) -> None:
    msg = parse_message(_mail(f"From: a@b.go.th\nDate: {value}"))
    assert msg.date is None
    assert any("Date" in d for d in msg.defects)


def test_undeclared_utf8_header_is_kept() -> None:
    raw = b"From: a@b.go.th\r\nSubject: " + "หนังสือราชการ".encode() + b"\r\n\r\nbody"
    msg = parse_message(raw)
    assert msg.subject == "หนังสือราชการ"
    assert any("8-bit" in d for d in msg.defects)


def test_outlook_rfc2047_filename_inside_parameter() -> None:
    name = base64.b64encode("หนังสือ.pdf".encode("cp874")).decode()
    raw = _mail(
        f"""From: a@b.go.th
Content-Type: application/octet-stream; name="=?windows-874?B?{name}?="
Content-Transfer-Encoding: base64""",
        base64.b64encode(b"%PDF-1.7\n").decode(),
    )
    (att,) = parse_message(raw).attachments
    assert att.filename == "หนังสือ.pdf"
    assert att.content_type == "application/pdf"  # sniffed from the bytes
    assert att.is_pdf


def test_rfc2231_windows874_filename() -> None:
    quoted = "".join(f"%{b:02X}" for b in "หนังสือ.pdf".encode("cp874"))
    raw = _mail(
        f"""From: a@b.go.th
Content-Type: application/pdf
Content-Disposition: attachment; filename*=windows-874''{quoted}""",
        "%PDF-1.4\r\n",
    )
    assert parse_message(raw).attachments[0].filename == "หนังสือ.pdf"


# --------------------------------------------------------------------------------------------
# Auto-replies
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ("Auto-Submitted: auto-generated", "Auto-Submitted: auto-generated"),
        ("Auto-Submitted: no", None),
        ("Return-Path: <>", "bounce (null Return-Path)"),
        ("X-Autoreply: yes", "x-autoreply header"),
        ("Precedence: auto_reply", "Precedence: auto_reply"),
        ("Precedence: bulk", None),  # mass mailings of real letters exist; not set aside
        ("Subject: Automatic reply: ประชุม", "auto-reply subject"),
        ("Subject: Out of Office: ประชุม", "auto-reply subject"),
        ("Subject: Undeliverable: ประชุม", "auto-reply subject"),
        ("Subject: ขอเชิญประชุม", None),
        (
            "Content-Type: multipart/report; report-type=delivery-status; boundary=x",
            "delivery or read report (multipart/report)",
        ),
    ],
)
def test_auto_reply_detection(headers: str, reason: str | None) -> None:
    msg = parse_message(_mail("From: a@b.go.th\n" + headers))
    assert msg.auto_reply_reason == reason
    assert msg.is_auto_reply is (reason is not None)


def test_mailer_daemon_is_an_auto_reply() -> None:
    msg = parse_message(_mail("From: MAILER-DAEMON@mx.example.go.th\nSubject: failure"))
    assert msg.is_auto_reply


# --------------------------------------------------------------------------------------------
# Limits and structure
# --------------------------------------------------------------------------------------------


def _multipart(n: int) -> bytes:
    parts = "".join(
        f'--B\r\nContent-Type: application/pdf; name="f{i}.pdf"\r\n\r\n%PDF-1.4 {i}\r\n'
        for i in range(n)
    )
    return _mail("From: a@b.go.th\nContent-Type: multipart/mixed; boundary=B", parts + "--B--\r\n")


def test_five_hundred_parts_are_all_read() -> None:
    msg = parse_message(_multipart(500))
    assert len(msg.attachments) == 500
    assert len({a.safe_name for a in msg.attachments}) == 500
    assert not any("MIME parts" in d for d in msg.defects)


def test_part_count_is_bounded() -> None:
    msg = parse_message(_multipart(MAX_PARTS + 50))
    assert len(msg.attachments) == MAX_PARTS - 1  # the container is a part too
    assert any(f"more than {MAX_PARTS} MIME parts" in d for d in msg.defects)


def _forward_chain(levels: int) -> bytes:
    inner = _mail(
        "From: origin@b.go.th\nSubject: level-0\nContent-Type: multipart/mixed; boundary=L0",
        '--L0\r\nContent-Type: application/pdf; name="deep.pdf"\r\n\r\n%PDF-1.4 deep\r\n--L0--\r\n',
    )
    for level in range(1, levels + 1):
        inner = _mail(
            f"From: fwd{level}@b.go.th\nSubject: level-{level}\n"
            f"Content-Type: multipart/mixed; boundary=L{level}",
            f"--L{level}\r\nContent-Type: message/rfc822\r\n\r\n".encode().decode()
            + inner.decode()
            + f"\r\n--L{level}--\r\n",
        )
    return inner


def test_forwarded_message_is_read_with_its_attachment() -> None:
    msg = parse_message(_forward_chain(2))
    (att,) = msg.attachments
    assert att.filename == "deep.pdf" and att.origin == "rfc822/rfc822/mime"
    assert msg.forwarded[0].subject == "level-1"
    assert msg.forwarded[0].forwarded[0].subject == "level-0"


def test_forward_depth_is_bounded() -> None:
    msg = parse_message(_forward_chain(MAX_FORWARD_DEPTH + 1))
    assert [a.content_type for a in msg.attachments] == ["message/rfc822"]
    assert msg.attachments[0].safe_name.endswith(".eml")
    assert b"deep.pdf" in msg.attachments[0].data
    assert any("nested deeper" in d for d in msg.defects)


def test_deep_multipart_nesting_does_not_raise() -> None:
    depth = 200
    head = "".join(
        f"--N{i}\r\nContent-Type: multipart/mixed; boundary=N{i + 1}\r\n\r\n" for i in range(depth)
    )
    tail = "".join(f"--N{i}--\r\n" for i in reversed(range(depth)))
    raw = _mail("From: a@b.go.th\nContent-Type: multipart/mixed; boundary=N0", head + tail)
    msg = parse_message(raw)
    assert isinstance(msg, ParsedMessage)
    assert msg.too_deep == MAX_NESTING
    assert any(f"nested deeper than {MAX_NESTING}" in d for d in msg.defects)


def test_corrupt_winmail_is_kept_as_a_file() -> None:
    raw = _mail(
        'From: a@b.go.th\nContent-Type: application/ms-tnef; name="winmail.dat"\n'
        "Content-Transfer-Encoding: base64",
        base64.b64encode(b"\x78\x9f\x3e\x22\x01\x00\x01\xff\xff").decode(),
    )
    msg = parse_message(raw)
    (att,) = msg.attachments
    assert att.safe_name == "winmail.dat" and att.origin == "mime"
    assert any("winmail.dat could not be read" in d for d in msg.defects)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\r\n\r\n",
        b"\x00\xff" * 100,
        b"From: \xff\xfe\r\nSubject: =?bogus?B?!!?=\r\n\r\n",
        b"Content-Type: multipart/mixed; boundary=\r\n\r\n--\r\n--\r\n",
        b"Content-Type: message/rfc822\r\n\r\n",
        b"Content-Type: text/plain; charset=does-not-exist\r\n\r\n\xe0\xb8\x81",
        b'To: ,,,@@@<>"\r\nCc: =?utf-8?q?=ZZ?= <>\r\nFrom: <\r\n\r\n',
        b"Content-Disposition: attachment; filename*0*=x''%ZZ; filename*1=y\r\n\r\nz",
    ],
)
def test_hostile_inputs_never_raise(raw: bytes) -> None:
    msg = parse_message(raw)
    assert msg.raw_size == len(raw)


def test_policy_default_crash_falls_back_to_compat32() -> None:
    """``Content-Type: ;0*`` makes policy.default's header parser raise IndexError (CPython
    3.11); the message must still be read."""
    raw = b"From: a@b.go.th\r\nSubject: x\r\nContent-Type: ;0*\r\n\r\nbody"
    msg = parse_message(raw)
    assert (msg.subject, msg.from_addr, msg.body_text) == ("x", "a@b.go.th", "body")
    assert "parser failed with EmailPolicy: IndexError" in msg.defects


# --------------------------------------------------------------------------------------------
# Safe names
# --------------------------------------------------------------------------------------------


def _assert_safe(name: str) -> None:
    assert name and name.strip() == name
    assert "/" not in name and "\\" not in name
    assert ".." not in name and not name.startswith((".", "-"))
    assert not any(unicodedata.category(c).startswith("C") for c in name)
    assert len(name.encode("utf-8")) <= 150
    assert re.search(r"\.[A-Za-z0-9]{1,10}$", name)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.none(), st.text(max_size=400)), st.sampled_from(["application/pdf", "x/y"]))
def test_safe_filename_is_always_safe(filename: str | None, ctype: str) -> None:
    used: set[str] = set()
    first = safe_filename(filename, ctype, b"", 3, used)
    second = safe_filename(filename, ctype, b"", 4, used)
    _assert_safe(first)
    _assert_safe(second)
    assert first.casefold() != second.casefold()


def test_safe_filename_keeps_thai_and_guesses_extension() -> None:
    assert safe_filename("หนังสือ ราชการ.pdf", "application/pdf", b"", 1) == "หนังสือ ราชการ.pdf"
    assert safe_filename(None, "application/octet-stream", b"%PDF-1.4", 2) == "attachment-2.pdf"
    assert safe_filename("รายงาน", "application/vnd.ms-excel", b"", 1) == "รายงาน.xls"
    assert safe_filename("lpt1.txt", "text/plain", b"", 1) == "_lpt1.txt"


# --------------------------------------------------------------------------------------------
# Never raises: mutations of the corpus
# --------------------------------------------------------------------------------------------

_CORPUS = [(EML_DIR / n).read_bytes() for n in FIXTURES if (EML_DIR / n).stat().st_size]


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(_CORPUS)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "dup", "truncate"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[pos : pos + draw(st.integers(1, 200))]
        elif op == "insert":
            junk = draw(
                st.sampled_from(
                    [
                        b"\r\n",
                        b"--",
                        b"=?",
                        b"?=",
                        b"\xff\xfe",
                        b";",
                        b'"',
                        b"\x00",
                        b"\r\n--boundary\r\n",
                        b"Content-Type: multipart/mixed\r\n",
                        b"=?UTF-8?B?",
                        b"filename*0*=",
                        b"message/rfc822",
                        b"\x78\x9f\x3e\x22",
                    ]
                )
            )
            data[pos:pos] = junk
        elif op == "dup":
            end = pos + draw(st.integers(1, 300))
            data[pos:pos] = data[pos:end]
        elif op == "truncate":
            del data[pos:]
    return bytes(data)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutated())
def test_parse_message_never_raises_on_mutated_fixtures(raw: bytes) -> None:
    msg = parse_message(raw)
    assert msg.raw_size == len(raw)
    # policy.default may raise on a mangled header (see the test above); the compat32 retry may not
    assert not any(d.startswith("parser failed with Compat32") for d in msg.defects), msg.defects
    for a in msg.attachments:
        _assert_safe(a.safe_name)
        assert a.sha256 == hashlib.sha256(a.data).hexdigest()


def test_large_base64_bodies_read_the_same_with_the_fast_path() -> None:
    """Long base64 runs are cut out before the stdlib parser and put back: same result, and a
    message that itself contains the marker text is not confused by it."""
    import os
    from email.message import EmailMessage
    from email.policy import SMTP

    from gateway.core.parse.base64runs import mask_base64_runs

    pdf = b"%PDF-1.7\n" + os.urandom(300_000)
    enclosure = os.urandom(120_000)
    m = EmailMessage()
    m["From"] = "a@b.go.th"
    m["Subject"] = "x"
    m.set_content("SARABANRUN0N0X\nข้อความ SARABANRUN1N0X\n")
    m.add_attachment(pdf, maintype="application", subtype="pdf", filename="2569_A_1.pdf")
    m.add_attachment(enclosure, maintype="application", subtype="octet-stream", filename="x.bin")
    fwd = EmailMessage()
    fwd["From"] = "c@d.go.th"
    fwd["Subject"] = "fwd"
    fwd.set_content("inner")
    fwd.add_attachment(enclosure[:90_000], maintype="application", subtype="pdf", filename="inner.pdf")
    m.add_attachment(fwd)
    raw = m.as_bytes(policy=SMTP)
    skeleton, runs, token = mask_base64_runs(raw)
    assert len(runs) == 3 and len(skeleton) < 5_000 and token not in raw.decode("ascii", "replace")
    got = parse_message(raw)
    datas = {a.safe_name: a.data for a in got.attachments}
    assert datas["2569_A_1.pdf"] == pdf and datas["x.bin"] == enclosure
    assert datas["inner.pdf"] == enclosure[:90_000]
    assert "SARABANRUN0N0X" in got.body_text and "SARABANRUN1N0X" in got.body_text
    assert not got.defects


@pytest.mark.parametrize("param", ['boundary="N{i}"', "boundary*=\"us-ascii''N{i}\"",
                                   'boundary*0="N{i}"', "BOUNDARY = N{i}"])
def test_deep_nesting_is_cut_before_the_parser_whatever_the_boundary_form(param: str) -> None:
    body = "Content-Type: text/plain\r\n\r\nhello\r\n"
    for i in range(1000):
        b = param.format(i=i)
        body = (f"Content-Type: multipart/mixed; {b}\r\n\r\n--N{i}\r\n{body}\r\n--N{i}--\r\n")
    msg = parse_message(b"From: a@b.go.th\r\nSubject: deep\r\n" + body.encode())
    assert msg.subject == "deep" and msg.too_deep == MAX_NESTING
    assert not any("parser failed" in d for d in msg.defects)  # cut before, not caught after


def test_a_recursion_the_scan_missed_still_reads_the_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.core.parse import bounds

    monkeypatch.setattr(bounds, "cut_deep", lambda data, limit: (data, False))
    body = "Content-Type: text/plain\r\n\r\nhello\r\n"
    for i in range(1000):
        body = f'Content-Type: multipart/mixed; boundary="N{i}"\r\n\r\n--N{i}\r\n{body}\r\n--N{i}--\r\n'
    msg = parse_message(b"From: a@b.go.th\r\nSubject: deep\r\n" + body.encode())
    assert msg.subject == "deep" and msg.from_addr == "a@b.go.th"
    assert msg.too_deep == MAX_NESTING
    assert "parser failed with EmailPolicy: RecursionError" in msg.defects


def test_within_the_nesting_limit_everything_is_read() -> None:
    body = "Content-Type: text/plain\r\n\r\nhello\r\n"
    for i in range(MAX_NESTING):
        body = f'Content-Type: multipart/mixed; boundary="N{i}"\r\n\r\n--N{i}\r\n{body}\r\n--N{i}--\r\n'
    msg = parse_message(b"From: a@b.go.th\r\nSubject: deep\r\n" + body.encode())
    assert msg.body_text.strip() == "hello" and msg.too_deep == 0 and msg.defects == ()


def test_a_long_base64_part_right_before_its_boundary_is_read_whole() -> None:
    data = bytes(range(256)) * 400  # 100 kB: the base64 fast path
    encoded = base64.encodebytes(data).replace(b"\n", b"\r\n").rstrip(b"\r\n")
    raw = (b'From: a@b.go.th\r\nContent-Type: multipart/mixed; boundary="w"\r\n\r\n--w\r\n'
           b'Content-Type: application/octet-stream; name="a.bin"\r\n'
           b"Content-Transfer-Encoding: base64\r\n\r\n" + encoded + b"\r\n--w--\r\n")
    (att,) = parse_message(raw).attachments
    assert att.data == data
