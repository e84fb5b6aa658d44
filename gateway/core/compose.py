"""Composing the mails the gateway sends, from the Jinja2 templates in templates/mail: pure.

Every text a clerk or a sender reads comes from a template (house style 12);
this module only fills them in and builds the MIME message. It takes `now`
and the template environment as arguments and returns bytes.

Auto-Submitted: auto-replied (RFC 3834 §5) marks every automatic mail, so
well-behaved auto-responders do not answer it and loops cannot start. Every mail, automatic
or not, carries `X-Saraban-Origin: <Message-ID hash>.<HMAC>`, signed with the install's
secret over its Message-ID and the X-Saraban-Sent/-Returned values it carries: the gateway
knows its own mail when it comes back (gateway/inbound/read.py) and a forger cannot make it.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8, Policy
from email.utils import format_datetime
from typing import Any, Protocol

import jinja2

from gateway.b64 import encode_lines
from gateway.resources import resource_dir


def template_env(directory: str | None = None) -> jinja2.Environment:
    """Built once by the composition root and passed down."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(directory or resource_dir("templates")),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(["html"]),
        keep_trailing_newline=True,
        trim_blocks=True,
    )


@dataclass(frozen=True)
class FileToAttach:
    filename: str
    content_type: str
    data: bytes
    # The base64 form (CRLF lines), when the caller keeps it for many mails: a circular's PDF
    # is encoded once, not once per recipient.
    encoded: bytes | None = field(default=None, repr=False, compare=False)

    def with_encoding(self) -> FileToAttach:
        return FileToAttach(self.filename, self.content_type, self.data, encode_lines(self.data))


@dataclass(frozen=True)
class Mail:
    template: str  # "ack", "notice", … : templates/mail/<name>.subject.j2 and .txt.j2
    context: Mapping[str, Any]
    from_addr: str
    from_name: str
    to: Sequence[str]
    key: str  # what makes this mail unique: its Message-ID is derived from it
    in_reply_to: str | None = None
    references: Sequence[str] = ()
    attachments: Sequence[FileToAttach] = field(default_factory=tuple)
    attach_messages: Sequence[bytes] = field(default_factory=tuple)
    auto: bool = True
    extra_headers: Mapping[str, str] = field(default_factory=dict)
    # Set: the MIME boundary is derived from it, so composing again gives the same bytes.
    boundary_seed: str = ""
    html: bool = False  # also render templates/mail/<name>.html.j2 as the HTML alternative
    # Images the HTML part shows by ``cid:``: (content id, content type, bytes), sent with it
    # as multipart/related.
    inline_images: Sequence[tuple[str, str, bytes]] = field(default_factory=tuple)


ORIGIN_HEADER = "X-Saraban-Origin"
# headers whose values the origin signature covers: a copy of ours names the letter it is for
ORIGIN_BOUND = ("x-saraban-sent", "x-saraban-returned")


class Signer(Protocol):
    """The install's secret (gateway/trust/secret.py InstallSecret), as compose sees it."""

    def sign(self, purpose: str, *parts: str) -> str: ...


def origin_parts(message_id: str, headers: Mapping[str, str]) -> tuple[str, ...]:
    """What the origin signature covers: the Message-ID and the bound headers' values."""
    bound = {k.lower(): v.strip() for k, v in headers.items() if k.lower() in ORIGIN_BOUND}
    return (message_id.strip(), *(f"{name}={bound.get(name, '')}" for name in ORIGIN_BOUND))


def origin_value(signer: Signer, message_id: str, headers: Mapping[str, str]) -> str:
    name = message_id.strip().strip("<>").partition("@")[0]
    # 24 digits (96 bits) of the MAC: the header fits one line unfolded
    return f"{name}.{signer.sign('origin', *origin_parts(message_id, headers))[:24]}"


def message_id(key: str, domain: str) -> str:
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


def shown_version(context: Mapping[str, Any]) -> str:
    """A short stable name for what a copy shows (its template's context), for its Message-ID
    key: a copy filed again after its letter changed is a new message (a server that merges
    messages by Message-ID, as Gmail does, would keep the old one), and one composed again
    unchanged, after a crash, is the same message."""
    shown = json.dumps(context, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(shown.encode("utf-8")).hexdigest()[:16]


def render(env: jinja2.Environment, template: str, context: Mapping[str, Any]) -> tuple[str, str]:
    subject = env.get_template(f"mail/{template}.subject.j2").render(context)
    body = env.get_template(f"mail/{template}.txt.j2").render(context)
    return " ".join(subject.split()), body


def wire_policy(*addresses: str) -> Policy:
    """How a mail is written for these addresses: SMTP's (7-bit headers), or, when one is
    internationalized (สารบรรณ@กรมอนามัย.ไทย, sent with SMTPUTF8), RFC 6532's UTF-8 headers:
    an encoded word is no address (=?utf-8?b?…?=@=?utf-8?b?…?= reaches nobody)."""
    return SMTPUTF8 if any(not a.isascii() for a in addresses) else SMTP


def compose(env: jinja2.Environment, mail: Mail, *, now: dt.datetime, signer: Signer) -> bytes:
    subject, body = render(env, mail.template, mail.context)
    msg = EmailMessage()
    local, _, domain = mail.from_addr.partition("@")
    msg["From"] = Address(display_name=mail.from_name, username=local, domain=domain)
    msg["To"] = ", ".join(mail.to)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(now.astimezone(dt.timezone(dt.timedelta(hours=7))))
    msg["Message-ID"] = mid = message_id(mail.key, domain or "saraban.invalid")
    if mail.in_reply_to:
        msg["In-Reply-To"] = mail.in_reply_to
    refs = [*mail.references, *([mail.in_reply_to] if mail.in_reply_to else [])]
    if refs:
        msg["References"] = " ".join(dict.fromkeys(refs))
    if mail.auto:
        msg["Auto-Submitted"] = "auto-replied"
        msg["X-Auto-Response-Suppress"] = "All"  # Exchange/Outlook: no out-of-office back
    for k, v in mail.extra_headers.items():
        msg[k] = v
    msg[ORIGIN_HEADER] = origin_value(signer, mid, mail.extra_headers)
    msg.set_content(body, charset="utf-8", cte="base64" if not body.isascii() else "7bit")
    if mail.html:
        html = env.get_template(f"mail/{mail.template}.html.j2").render(mail.context)
        msg.add_alternative(html, subtype="html", charset="utf-8", cte="base64")
        part = msg.get_body(("html",))
        for cid, ctype, data in mail.inline_images:
            maintype, _, subtype = ctype.partition("/")
            assert part is not None
            part.add_related(data, maintype=maintype, subtype=subtype, cid=f"<{cid}>",
                             disposition="inline")
    # Large files are spliced in after serialising: the email package's generator writes
    # base64 line by line in Python (~150 ms per MB); binascii does it in C.
    spliced: dict[bytes, bytes] = {}
    for i, a in enumerate(mail.attachments):
        # a placeholder that cannot occur in the text (a digest of that text); it never
        # reaches the output, and the same mail composes to the same bytes every time
        seed = hashlib.sha256(f"{i}\0{a.filename}\0{body}".encode()).hexdigest()
        placeholder = f"SARABAN-ATTACHMENT-{i}-{seed}".encode()
        maintype, _, subtype = a.content_type.partition("/")
        msg.add_attachment(placeholder, maintype=maintype, subtype=subtype or "octet-stream",
                           filename=a.filename, cte="7bit")
        spliced[placeholder] = a.encoded if a.encoded is not None else encode_lines(a.data)
    # A message attached is spliced in as it is (RFC 2046: never base64), CRLF line ends.
    for i, raw in enumerate(mail.attach_messages):
        placeholder = f"SARABAN-MESSAGE-{i}-{hashlib.sha256(raw).hexdigest()}".encode()
        msg.add_attachment(placeholder, maintype="message", subtype="rfc822",
                           filename="original.eml", cte="7bit")
        spliced[placeholder] = _crlf(raw)
    if mail.boundary_seed and msg.is_multipart():
        msg.set_boundary("=_saraban_" + hashlib.sha256(mail.boundary_seed.encode()).hexdigest()[:40])
    out = msg.as_bytes(policy=wire_policy(mail.from_addr, *mail.to))
    for token, encoded in spliced.items():
        at = out.index(token)
        head = out.rfind(b"\r\n--", 0, at)  # this part's boundary line
        cte = b"base64" if token.startswith(b"SARABAN-ATTACHMENT-") else \
            b"7bit" if encoded.isascii() else b"8bit"
        part_head = out[head:at].replace(b"Content-Transfer-Encoding: 7bit",
                                         b"Content-Transfer-Encoding: " + cte, 1)
        out = out[:head] + part_head + encoded + out[at + len(token):]
    return out


def _crlf(raw: bytes) -> bytes:
    """`raw` with CRLF line ends, ending in one."""
    out = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")
    return out if out.endswith(b"\r\n") else out + b"\r\n"


@functools.cache
def _env_at(directory: str) -> jinja2.Environment:
    return template_env(directory)


def compose_from(directory: str, mail: Mail, *, now: dt.datetime, signer: Signer) -> bytes:
    """compose() with the templates in `directory`: for worker processes, which cannot be
    handed an Environment and keep one per directory."""
    return compose(_env_at(directory), mail, now=now, signer=signer)


def templates_dir(env: jinja2.Environment) -> str | None:
    """The one folder `env` loads from, when it is a plain folder loader."""
    loader = env.loader
    if isinstance(loader, jinja2.FileSystemLoader) and len(loader.searchpath) == 1:
        return str(loader.searchpath[0])
    return None
