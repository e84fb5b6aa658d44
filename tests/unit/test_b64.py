"""gateway.b64 gives the standard library's bytes, and leaves anything unusual to it."""

from __future__ import annotations

import base64
import email
from email import errors, policy

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gateway.b64 import decode_clean, encode_lines
from gateway.core.parse import parse_message


def _stdlib_lines(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n").rstrip(b"\r\n")


@given(st.binary(max_size=2000))
@settings(max_examples=300)
def test_encoded_lines_are_the_standard_librarys(data: bytes) -> None:
    assert encode_lines(data) == _stdlib_lines(data)


@given(st.binary(max_size=2000), st.sampled_from([b"\r\n", b"\n"]))
@settings(max_examples=300)
def test_a_clean_body_decodes_to_its_bytes(data: bytes, eol: bytes) -> None:
    body = base64.encodebytes(data).replace(b"\n", eol)
    assert decode_clean(body) == data


def test_an_empty_body_is_empty() -> None:
    assert decode_clean(b"") == b""
    assert decode_clean(b"\r\n") == b""


def test_anything_unusual_is_left_to_the_standard_library() -> None:
    good = base64.encodebytes(b"hello world, a letter").replace(b"\n", b"\r\n")
    assert decode_clean(good) == b"hello world, a letter"
    assert decode_clean(good.replace(b"\r\n", b" \r\n", 1)) is None  # a space
    assert decode_clean(b"aGVsbG8*" + good) is None  # a stray character
    assert decode_clean(b"aGVsbG8") is None  # padding missing
    assert decode_clean(b"aGk=aGVsbG8=") is None  # padding in the middle
    assert decode_clean(b"aGk===") is None
    assert decode_clean("aGVsbG8=ก".encode()) is None


@given(st.binary(min_size=1, max_size=3000),
       st.lists(st.sampled_from([" ", "\t", "*", "=", "-", "!", "ก"]), max_size=3),
       st.lists(st.integers(min_value=0, max_value=5000), max_size=3))
@settings(max_examples=200)
def test_parsed_attachment_bytes_match_the_email_package(
        data: bytes, junk: list[str], where: list[int]) -> None:
    """Clean or damaged, an attachment's bytes are what the email package decodes."""
    text = base64.encodebytes(data).decode("ascii")
    for ch, at in zip(junk, where, strict=False):
        at = min(at, len(text))
        text = text[:at] + ch + text[at:]
    raw = ("From: a@example.org\r\nTo: b@example.org\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
           "Content-Type: multipart/mixed; boundary=BND\r\n\r\n--BND\r\n"
           "Content-Type: text/plain; charset=utf-8\r\n\r\nbody\r\n--BND\r\n"
           "Content-Type: application/octet-stream; name=f.bin\r\n"
           "Content-Disposition: attachment; filename=f.bin\r\n"
           "Content-Transfer-Encoding: base64\r\n\r\n"
           + text.replace("\n", "\r\n") + "\r\n--BND--\r\n").encode("utf-8")
    part = [p for p in email.message_from_bytes(raw, policy=policy.default).walk()
            if p.get_filename() == "f.bin"][0]
    expected = part.get_payload(decode=True)
    # (where the email package gives up and returns the text, parse keeps what decodes)
    assume(not any(isinstance(d, errors.InvalidBase64LengthDefect) for d in part.defects))
    got = [a for a in parse_message(raw).attachments if a.filename == "f.bin"]
    assert got and got[0].data == expected
