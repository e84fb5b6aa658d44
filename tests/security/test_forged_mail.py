"""Mail about mail is proved, not believed (issue #18): each attack is one row of a table.

Through the real incoming pipeline on a SQLite store: a registered letter (เลขรับ 1/2569)
forwarded to the unit hr (its token T), and a letter we sent to two agencies (each with its
own token). Then:

- COMMANDS: a clerk's `ส่ง <หน่วยงาน>` is obeyed only from a channel that proves a clerk
  (submission after AUTH, the mailbox's Sent or command folder, the own MX's passing verdict
  for a clerk's address); any From header over SMTP or in INBOX is kept for the clerk.
- REPLIES: a unit's reply acts only with the forward's token, from the unit's address, and not
  automatic; an acknowledgement or notifier for a letter we sent acts only with that
  recipient's token or a sender authenticated for its domain.
- AUTO: every sign of an automatic answer (RFC 3834, X-Autoreply, Exchange out-of-office,
  Thai and English subjects) stops a reply carrying a forward's token from acting.
- OWN: the gateway's own mail (its signed X-Saraban-Origin) is never read back as input; a
  forged or replayed-and-altered origin header is not ours.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email
import imaplib
from collections.abc import AsyncIterator, Callable
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from gateway.app import Store, open_store, opened_store
from gateway.config import Settings
from gateway.core.classify import Outcome, Policy
from gateway.core.compose import Mail, compose, template_env
from gateway.inbound import pipeline as pipeline_module
from gateway.inbound.pipeline import Pipeline
from gateway.inbound.read import examine, read_message
from gateway.outbound.flow import Outbound
from gateway.service import ingest_once
from gateway.store.letters import put_blobs
from gateway.store.tables import Forward, Letter, LetterRecipient, OutboxItem
from gateway.trust import AuthResult, SenderAuth
from gateway.trust.channels import Origin, folder_key
from gateway.trust.secret import InstallSecret, load_secret
from gateway.xmlletter import Notifier, NotifierKind, build_notifier, default_resources
from tests.conftest import FakeClock, TickingClock, central_mailbox_settings, make_settings
from tests.corpus.mail import letter_mail, letter_pdf
from tests.servers.dovecot import mutf7_encode

CENTRAL = "saraban@agency.test"
HR, POLICY = "hr@agency.test", "policy@agency.test"
ONE, TWO = "saraban@one.go.th", "saraban@two.go.th"
R_ONE, R_TWO = "1a" * 10, "2b" * 10  # the recipients' tokens of the letter we sent
MX = "mx.agency.test"  # [authentication] authserv_id: the agency's own MX
UNITS = [{"code": "hr", "name_th": "กลุ่มบริหารงานบุคคล", "emails": [HR], "aliases": ["บุคคล"],
          "own_register": True},
         {"code": "policy", "name_th": "กลุ่มนโยบายและแผน", "emails": [POLICY], "aliases": ["นโยบาย"]}]


def _auth(result: str, domain: str, judged_by: str = MX) -> SenderAuth:
    return SenderAuth(AuthResult(result), from_domain=domain, dmarc=result, judged_by=judged_by)


def _mail(frm: str, subject: str, body: str, *, to: str = CENTRAL, **headers: str) -> bytes:
    m = EmailMessage()
    m["From"] = frm
    m["To"] = to
    m["Subject"] = subject
    m["Message-ID"] = f"<{abs(hash((frm, subject, body, to)))}@{frm.rpartition('@')[2]}>"
    m.set_content(body)
    for k, v in headers.items():  # after the content: set_content drops Content-* headers
        m[k.replace("_", "-")] = v
    return m.as_bytes()


def _notifier(kind: NotifierKind, frm: str, *, to: str = CENTRAL) -> bytes:
    n = Notifier(kind, "ศธ 04183/77", dt.date(2026, 11, 20), "แจ้งผล",
                 accept_id="555" if kind is NotifierKind.ACCEPT else "",
                 accept_date=dt.date(2026, 11, 22) if kind is NotifierKind.ACCEPT else None)
    return letter_mail(None, subject=kind.value, sender=frm, to=to, body="xml\n",
                       attachments=[(f"{kind.value}.xml", "application/xml", build_notifier(n))])


@dataclasses.dataclass
class Site:
    store: Store
    pipeline: Pipeline
    letter_id: int  # registered as 1/2569
    token: str  # the forward of letter 1 to hr
    monkeypatch: pytest.MonkeyPatch

    @property
    def settings(self) -> Settings:
        return self.store.settings

    async def take(self, raw: bytes, *, channel: str = "smtp", key: str = "",
                   to: tuple[str, ...] = (CENTRAL,), auth: SenderAuth | None = None) -> Letter:
        """One message through the pipeline, with the sender's verdict as the pipeline gets it."""
        real = examine

        def with_verdict(*args: Any, **kw: Any) -> Any:
            return real(*args, **{**kw, "auth": auth})

        self.monkeypatch.setattr(pipeline_module, "examine", with_verdict)
        (digest,) = await put_blobs(self.store.blobs, raw)
        letter_id, _, _ = await self.pipeline.take_in(raw, digest=digest, channel=channel,
                                                      source_key=key or f"{channel}:{digest}",
                                                      envelope_to=list(to))
        return await self.letter(letter_id)

    async def letter(self, letter_id: int) -> Letter:
        async with self.store.sessions() as s:
            letter = await s.get(Letter, letter_id)
        assert letter is not None
        return letter

    async def forwards(self) -> dict[str, str]:
        async with self.store.sessions() as s:
            return {f.unit_code: f.state for f in (await s.execute(
                select(Forward).where(Forward.letter_id == self.letter_id))).scalars()}

    async def recipients(self) -> dict[str, str]:
        async with self.store.sessions() as s:
            return {r.address: r.state for r in (await s.execute(select(LetterRecipient))).scalars()}


@pytest.fixture
async def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Site]:
    settings = make_settings(
        tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'store.sqlite3'}", units=UNITS,
        imap=[{"name": "central", "host": "127.0.0.1", "user": CENTRAL,
               "password_env": "SARABAN_TEST_UNUSED", "enabled": False}],
        authentication={"authserv_id": MX},
        submission={"users": [{"name": "clerk@agency.test", "password_hash": "scrypt$16384$8$1$AA==$AA=="}]})
    store = await open_store(settings, upgrade=True, clock=FakeClock(dt.datetime(2026, 12, 2, 3, 0, tzinfo=dt.UTC)))
    pipeline = Pipeline.build(store, template_env())
    site = Site(store, pipeline, 0, "", monkeypatch)
    pdf = letter_pdf(lines=("ที่ ศธ 04010/1", "สำนักงานคณะกรรมการการศึกษาขั้นพื้นฐาน",
                            "วันที่ 20 พฤศจิกายน 2569", "เรื่อง ขอเชิญประชุม", "เรียน ผู้อำนวยการ"))
    first = await site.take(letter_mail(pdf, subject="ขอเชิญประชุม"))
    assert first.state == "registered", first.review_reason
    site.letter_id = first.id
    assert await pipeline.units.clerk_route(first.id, ["hr"], via="folder", by="clerk:test") == ["hr"]
    async with store.sessions.begin() as s:
        site.token = (await s.execute(select(Forward.token))).scalar_one()
        now = store.clock()
        sent = Letter(direction="out", state="queued", source_key="out:test:77", channel="cli",
                      letter_no="ศธ 04183/77", letter_no_norm="ศธ 04183/77", subject="แจ้งผล",
                      created_at=now, updated_at=now)
        s.add(sent)
        await s.flush()
        for address, token in ((ONE, R_ONE), (TWO, R_TWO)):
            s.add(LetterRecipient(letter_id=sent.id, address=address, name_th="", token=token,
                                  state="sent", error="", ack_number="", ack_source=""))
    yield site
    await store.close()


# -- commands only from the clerks ------------------------------------------------------------

SEND_HR = ("Re: [รับ 1/2569] ขอเชิญประชุม", "ส่ง นโยบาย\n\n> เดิม")

# (case, channel, source key (folder) or "", From, the sender's verdict, obeyed)
COMMANDS = [
    ("SMTP, From the clerk's address, no verdict", "smtp", "", CENTRAL, None, False),
    ("SMTP, From the clerk, passed but judged by a stranger's server", "smtp", "", CENTRAL,
     _auth("pass", "agency.test", judged_by="mx.evil.example"), False),
    ("SMTP, From the clerk, failed at the own MX", "smtp", "", CENTRAL, _auth("fail", "agency.test"), False),
    ("SMTP, From the clerk, no records at the own MX", "smtp", "", CENTRAL, _auth("none", "agency.test"), False),
    ("SMTP, From a stranger who passed for his own domain", "smtp", "", "x@evil.example",
     _auth("pass", "evil.example"), False),
    ("SMTP, From the clerk, a verdict for another domain", "smtp", "", CENTRAL,
     _auth("pass", "evil.example"), False),
    ("SMTP, From a unit of the agency's domain (not a clerk)", "smtp", "", HR, _auth("pass", "agency.test"), False),
    ("IMAP INBOX, From the clerk", "imap", "imap:central:1:7", CENTRAL, None, False),
    ("IMAP, a folder anyone's mail is filed in", "imap", folder_key("central", 1, 7, "ลงรับแล้ว"), CENTRAL,
     None, False),
    ("IMAP Sent of a mailbox not configured", "imap", folder_key("other", 1, 7, "Sent"), CENTRAL, None, False),
    ("IMAP, Sent named inside a INBOX key", "imap", "imap:central#Sent:1:7", CENTRAL, None, False),
    ("SMTP, From the clerk, passed at the own MX", "smtp", "", CENTRAL, _auth("pass", "agency.test"), True),
    ("SMTP, From a submission login, passed at the own MX", "smtp", "", "clerk@agency.test",
     _auth("pass", "agency.test"), True),
    ("IMAP, the client's Sent folder", "imap", folder_key("central", 1, 7, "Sent"), CENTRAL, None, True),
    ("IMAP, the command folder", "imap", folder_key("central", 1, 7, "คำสั่ง"), "anyone@evil.example",
     None, True),
]


@pytest.mark.parametrize(("case", "channel", "key", "frm", "auth", "obeyed"), COMMANDS, ids=[c[0] for c in COMMANDS])
async def test_a_command_is_obeyed_only_from_a_clerks_channel(site: Site, case: str, channel: str, key: str,
                                                              frm: str, auth: SenderAuth | None,
                                                              obeyed: bool) -> None:
    got = await site.take(_mail(frm, *SEND_HR), channel=channel, key=key, auth=auth)
    if obeyed:
        assert got.state == "not_letter"
        assert (await site.forwards()).get("policy") == "sent"
    else:
        assert "policy" not in await site.forwards()
        assert got.state == "review"
        assert "คำสั่งนี้ไม่ได้มาจากช่องทางของเจ้าหน้าที่ (ไม่ยืนยันตัวตน) จึงไม่ดำเนินการ" in got.review_reason


async def test_a_command_through_the_submission_server_is_obeyed(site: Site) -> None:
    out = Outbound.build(site.store, site.pipeline.templates)
    sub = await out.accept(_mail(CENTRAL, *SEND_HR), CENTRAL, [CENTRAL], "clerk@agency.test")
    assert await out.process(sub) == "answered"
    assert (await site.forwards()).get("policy") == "sent"


async def test_our_forward_confirmation_does_not_come_back_as_a_command(site: Site) -> None:
    """Finding 6: the `ส่งต่อแล้ว` confirmation, delivered back into the central mailbox."""
    out = Outbound.build(site.store, site.pipeline.templates)
    sub = await out.accept(_mail(CENTRAL, *SEND_HR), CENTRAL, [CENTRAL], "clerk@agency.test")
    assert await out.process(sub) == "answered"
    async with site.store.sessions() as s:
        item = (await s.execute(select(OutboxItem).where(OutboxItem.kind == "routed"))).scalar_one()
    routed = site.store.blobs.get(item.message_sha256 or "")
    assert "ส่งต่อแล้ว [รับ 1/2569]" in str(email.message_from_bytes(routed, policy=policy.default)["Subject"])
    for channel, key in (("imap", "imap:central:1:99"), ("smtp", "")):
        back = await site.take(routed, channel=channel, key=key)
        assert back.state == "not_letter" and back.review_reason == ""
    # known by its signature, before anything else is asked of it
    reading = read_message(routed, xml_resources=default_resources(), trust_roots=(), now=site.store.clock())
    ex = examine(reading, routed, envelope_from="", envelope_to=[CENTRAL], policy=site.pipeline.ctx.policy,
                 settings=site.settings, secret=site.store.secret)
    assert ex.kind.own_copy == "mail" and ex.clerk is None and ex.decision.notes == ("own mail",)


# -- replies proved ----------------------------------------------------------------------------

def _unit_reply(frm: str, body: str = "รับ", *, token: str = "", subject_token: str = "",
                **headers: str) -> bytes:
    to = f"saraban+u.{token}@agency.test" if token else CENTRAL
    tag = f" [#{subject_token}]" if subject_token else ""
    return _mail(frm, f"Re: [รับ 1/2569] ขอเชิญประชุม{tag}", body + "\n\n> เดิม\n", to=to, **headers)


def _ack(frm: str, *, token: str = "", subject: str = "ตอบรับ: ที่ ศธ 04183/77 ลงรับเลขที่ 88/2569",
         **headers: str) -> bytes:
    return _mail(frm, subject, "ได้รับแล้ว\n", to=f"saraban+r.{token}@agency.test" if token else CENTRAL,
                 **headers)


OOF = {"Auto-Submitted": "auto-replied"}
NOT_UNITS = "ไม่ใช่อีเมลของหน่วยงาน"
UNPROVED = "พิสูจน์ไม่ได้ว่ามาจากผู้รับ"
# (case, message from the forward's token, sender's verdict, hr's forward after, recipients
#  changed, the message's state, what the clerk reads ("" for nothing asked))
REPLIES: list[tuple[str, Callable[[str], bytes], SenderAuth | None, str, dict[str, str], str, str]] = [
    ("unit replies with its token (Reply-To)", lambda t: _unit_reply(HR, token=t), None,
     "accepted", {}, "not_letter", ""),
    ("unit replies with its token in the subject", lambda t: _unit_reply(HR, subject_token=t), None,
     "accepted", {}, "not_letter", ""),
    ("unit returns with its token", lambda t: _unit_reply(HR, "คืน ไม่ใช่งานของกลุ่ม", token=t), None,
     "returned", {}, "not_letter", ""),
    ("out-of-office of the unit carries the token", lambda t: _unit_reply(HR, "ไม่อยู่", token=t, **OOF),
     None, "sent", {}, "not_letter", ""),
    ("Exchange OOF: subject and X-Auto-Response-Suppress only",
     lambda t: _mail(HR, "Automatic reply: [รับ 1/2569] ขอเชิญประชุม", "I am away",
                     to=f"saraban+u.{t}@agency.test", X_Auto_Response_Suppress="All"), None,
     "sent", {}, "not_letter", ""),
    ("Thai out-of-office subject", lambda t: _mail(HR, "ตอบกลับอัตโนมัติ: ขอเชิญประชุม", "ไม่อยู่",
                                                   to=f"saraban+u.{t}@agency.test"), None,
     "sent", {}, "not_letter", ""),
    ("the token from a stranger's address", lambda t: _unit_reply("intruder@evil.example", token=t), None,
     "sent", {}, "review", NOT_UNITS),
    ("the token from another unit", lambda t: _unit_reply(POLICY, token=t), None, "sent", {}, "review",
     NOT_UNITS),
    ("a return with the token from a stranger",
     lambda t: _unit_reply("intruder@evil.example", "คืน ไม่รับ", token=t), None, "sent", {}, "review",
     NOT_UNITS),
    ("a token that is no forward's, From the unit", lambda t: _unit_reply(HR, token="f" * 20), None,
     "sent", {}, "review", "ไม่มีในระบบ"),
    ("the unit's address, no token", lambda t: _unit_reply(HR), None, "sent", {}, "review", "ไม่พบไฟล์หนังสือ"),
    ("recipient acknowledges with its token", lambda t: _ack(ONE, token=R_ONE), None,
     "sent", {ONE: "acknowledged"}, "not_letter", ""),
    ("recipient acknowledges, sender authenticated for its domain", lambda t: _ack(ONE),
     _auth("pass", "one.go.th"), "sent", {ONE: "acknowledged"}, "not_letter", ""),
    ("quoting our number, no token, no verdict", lambda t: _ack(ONE), None, "sent", {}, "review", UNPROVED),
    ("quoting our number, verdict failed", lambda t: _ack(ONE), _auth("fail", "one.go.th"), "sent", {},
     "review", UNPROVED),
    ("quoting our number, passed for another domain", lambda t: _ack(ONE), _auth("pass", "evil.example"),
     "sent", {}, "review", UNPROVED),
    ("another recipient's token, quoting the number", lambda t: _ack(ONE, token="9" * 20), None,
     "sent", {}, "review", UNPROVED),
    ("quoting our number from a stranger", lambda t: _ack("x@evil.example"), None, "sent", {}, "review",
     "ไม่พบไฟล์หนังสือ"),
    ("out-of-office quoting our number, with the token",
     lambda t: _ack(ONE, token=R_ONE, subject="Out of Office: ที่ ศธ 04183/77 แจ้งผล"), None,
     "sent", {}, "not_letter", ""),
    ("auto-submitted acknowledgement with the token", lambda t: _ack(ONE, token=R_ONE, **OOF), None,
     "sent", {}, "not_letter", ""),
    ("forged Accept notifier, no token", lambda t: _notifier(NotifierKind.ACCEPT, ONE), None, "sent", {},
     "not_letter", UNPROVED),
    ("forged Reject notifier, no token", lambda t: _notifier(NotifierKind.REJECT, TWO), None, "sent", {},
     "not_letter", UNPROVED),
    ("Invalid notifier from a stranger who passed for his domain",
     lambda t: _notifier(NotifierKind.INVALID, "x@evil.example"), _auth("pass", "evil.example"),
     "sent", {}, "not_letter", UNPROVED),
    ("Accept notifier with the recipient's token",
     lambda t: _notifier(NotifierKind.ACCEPT, ONE, to=f"saraban+r.{R_ONE}@agency.test"), None,
     "sent", {ONE: "acknowledged"}, "not_letter", ""),
    ("Reject notifier, sender authenticated for the recipient's domain",
     lambda t: _notifier(NotifierKind.REJECT, TWO), _auth("pass", "two.go.th"),
     "sent", {TWO: "failed"}, "not_letter", ""),
]
NOTIFIED = {"acknowledged": "accepted", "failed": "rejected"}


@pytest.mark.parametrize(("case", "make", "auth", "hr", "changed", "state", "reason"), REPLIES,
                         ids=[r[0] for r in REPLIES])
async def test_a_reply_changes_state_only_when_proved(site: Site, case: str, make: Callable[[str], bytes],
                                                      auth: SenderAuth | None, hr: str,
                                                      changed: dict[str, str], state: str,
                                                      reason: str) -> None:
    got = await site.take(make(site.token), auth=auth)
    assert (await site.forwards())["hr"] == hr
    assert await site.recipients() == {ONE: "sent", TWO: "sent", **changed}
    assert got.state == state, got.review_reason
    assert reason in got.review_reason  # "" when the clerk is asked nothing in particular
    async with site.store.sessions() as s:
        sent = (await s.execute(select(Letter).where(Letter.direction == "out"))).scalar_one()
    notified = NOTIFIED[next(iter(changed.values()))] if changed and "notifier" in case else ""
    assert (sent.delivery_state or "") == notified


# -- auto-replies never act --------------------------------------------------------------------

# (case, headers, subject): each a unit's answer carrying its forward's token
AUTO = [
    ("RFC 3834 auto-replied", {"Auto-Submitted": "auto-replied"}, "Re: ขอเชิญประชุม"),
    ("RFC 3834 auto-generated", {"Auto-Submitted": "auto-generated"}, "Re: ขอเชิญประชุม"),
    ("RFC 3834 with a parameter", {"Auto-Submitted": "auto-replied; owner-email=hr@agency.test"}, "Re: x"),
    ("X-Autoreply", {"X-Autoreply": "yes"}, "Re: ขอเชิญประชุม"),
    ("X-Autorespond", {"X-Autorespond": "1"}, "Re: ขอเชิญประชุม"),
    ("X-Auto-Response-Suppress (Exchange OOF)", {"X-Auto-Response-Suppress": "All"}, "Re: ขอเชิญประชุม"),
    ("Exchange inbox rule", {"X-MS-Exchange-Inbox-Rules-Loop": HR}, "Re: ขอเชิญประชุม"),
    ("Precedence: auto_reply", {"Precedence": "auto_reply"}, "Re: ขอเชิญประชุม"),
    ("Precedence: bulk", {"Precedence": "bulk"}, "Re: ขอเชิญประชุม"),
    ("Precedence: junk", {"Precedence": "junk"}, "Re: ขอเชิญประชุม"),
    ("Precedence: list", {"Precedence": "list"}, "Re: ขอเชิญประชุม"),
    ("null Return-Path", {"Return-Path": "<>"}, "Re: ขอเชิญประชุม"),
    ("Content-Class of an Exchange OOF", {"Content-Class": "urn:content-classes:autoreply"}, "Re: x"),
    ("Automatic reply:", {}, "Automatic reply: ขอเชิญประชุม"),
    ("Out of Office", {}, "Out of Office: ขอเชิญประชุม"),
    ("Auto-Reply", {}, "Auto-Reply: ขอเชิญประชุม"),
    ("ตอบกลับอัตโนมัติ", {}, "ตอบกลับอัตโนมัติ: ขอเชิญประชุม"),
    ("การตอบกลับอัตโนมัติ", {}, "การตอบกลับอัตโนมัติ: ขอเชิญประชุม"),
    ("ไม่อยู่ที่สำนักงาน", {}, "ไม่อยู่ที่สำนักงาน: ขอเชิญประชุม"),
    ("Réponse automatique", {}, "Réponse automatique : ขอเชิญประชุม"),
]
SECRET = InstallSecret(b"k" * 32)


def _examined(settings: Settings, raw: bytes, **kw: Any) -> Any:
    reading = read_message(raw, xml_resources=default_resources(), trust_roots=(),
                           now=dt.datetime(2026, 12, 2, 3, 0, tzinfo=dt.UTC))
    return examine(reading, raw, envelope_from="", envelope_to=[CENTRAL],
                   policy=Policy(central_addresses=settings.agency.central_addresses),
                   settings=settings, secret=SECRET, **kw)


@pytest.mark.parametrize(("case", "headers", "subject"), AUTO, ids=[a[0] for a in AUTO])
def test_an_automatic_answer_never_acts(tmp_path: Path, case: str, headers: dict[str, str],
                                        subject: str) -> None:
    settings = make_settings(tmp_path, units=UNITS)
    raw = _mail(HR, subject, "รับ\n", to="saraban+u." + "a" * 20 + "@agency.test",
                **{k.replace("-", "_"): v for k, v in headers.items()})
    ex = _examined(settings, raw)
    assert ex.unit_token is None and ex.clerk is None
    assert ex.decision.outcome is Outcome.NOT_LETTER and ex.decision.notes != ("unit reply",)
    # the same words as a clerk's command from the Sent folder: not a command either
    cmd = _mail(CENTRAL, f"{subject} [รับ 1/2569]", "ส่ง บุคคล\n",
                **{k.replace("-", "_"): v for k, v in headers.items()})
    assert _examined(settings, cmd, origin=Origin("imap", folder_key("central", 1, 1, "Sent"))).clerk is None


# -- the gateway's own mail --------------------------------------------------------------------

def _ours(headers: dict[str, str] | None = None, secret: InstallSecret = SECRET,
          frm: str = CENTRAL) -> bytes:
    mail = Mail(template="routed", context={"agency": "สำนักงานทดสอบ", "number": 1, "year": 2569,
                                            "done": ["กลุ่มบริหารงานบุคคล"], "already": [], "problems": []},
                from_addr=frm, from_name="สำนักงานทดสอบ", to=[CENTRAL], key="routed:5",
                extra_headers=headers or {})
    return compose(template_env(), mail, now=dt.datetime(2026, 12, 2, 3, 0, tzinfo=dt.UTC), signer=secret)


def _swap(raw: bytes, old: bytes, new: bytes) -> bytes:
    assert old in raw
    return raw.replace(old, new, 1)


def _origin(raw: bytes) -> bytes:
    return raw.split(b"X-Saraban-Origin: ", 1)[1].split(b"\r\n", 1)[0]


# (case, message, own_copy expected: "mail" | "sent" | "returned" | None)
OWN: list[tuple[str, Callable[[], bytes], str | None]] = [
    ("our confirmation, as sent", lambda: _ours(), "mail"),
    ("our copy of a sent letter", lambda: _ours({"X-Saraban-Sent": "12"}), "sent"),
    ("a letter a unit returned", lambda: _ours({"X-Saraban-Returned": "7"}), "returned"),
    ("signed by another install's secret", lambda: _ours(secret=InstallSecret(b"x" * 32)), None),
    ("the origin header removed", lambda: _swap(_ours(), b"X-Saraban-Origin:", b"X-Other:"), None),
    ("an origin made up", lambda: _swap(_ours(), _origin(_ours()), b"0" * 32 + b"." + b"f" * 24), None),
    ("our returned-copy header added to a signed mail",
     lambda: _swap(_ours(), b"X-Saraban-Origin:", b"X-Saraban-Returned: 1\r\nX-Saraban-Origin:"), None),
    ("the letter id of a copy changed", lambda: _swap(_ours({"X-Saraban-Sent": "12"}),
                                                     b"X-Saraban-Sent: 12", b"X-Saraban-Sent: 13"), None),
    ("a second origin header", lambda: _swap(_ours(), b"X-Saraban-Origin:",
                                             b"X-Saraban-Origin: 00.00\r\nX-Saraban-Origin:"), None),
    ("the Message-ID changed", lambda: _swap(_ours(), b"Message-ID: <", b"Message-ID: <0"), None),
    ("not From the central address", lambda: _ours(frm="saraban@evil.example"), None),
    ("a forged returned copy, no origin", lambda: _mail(CENTRAL, "[คืน 1/2569] x", "x", X_Saraban_Returned="1"),
     None),
]


@pytest.mark.parametrize(("case", "make", "own"), OWN, ids=[o[0] for o in OWN])
def test_the_gateway_knows_its_own_mail(tmp_path: Path, case: str, make: Callable[[], bytes],
                                        own: str | None) -> None:
    ex = _examined(make_settings(tmp_path, units=UNITS), make())
    assert ex.kind.own_copy == own
    if own == "mail":
        assert ex.decision.outcome is Outcome.NOT_LETTER and ex.decision.notes == ("own mail",)
    if own is None:
        assert ex.decision.outcome not in (Outcome.SENT_COPY, Outcome.RETURNED_COPY)


# -- the per-install secret --------------------------------------------------------------------

def test_the_secret_is_made_once_private_and_kept(tmp_path: Path) -> None:
    first = load_secret(tmp_path, environ={})
    path = tmp_path / "secret.key"
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_secret(tmp_path, environ={}).key == first.key and len(first.key) == 32
    assert first.key.hex() not in repr(first) and repr(first.key) not in repr(first)
    given = load_secret(tmp_path, environ={"SARABAN_SECRET": "a shared secret of some length"})
    assert given.key == b"a shared secret of some length" and given.key != first.key
    with pytest.raises(Exception, match="SARABAN_SECRET"):
        load_secret(tmp_path, environ={"SARABAN_SECRET": "short"})
    path.write_text("not hex\n", encoding="ascii")
    with pytest.raises(Exception, match="secret"):
        load_secret(tmp_path, environ={})


# -- over a real Dovecot: the Sent folder and the command folder --------------------------------

@pytest.mark.integration
async def test_commands_from_sent_and_the_command_folder_over_imap(tmp_path: Path, dovecot,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    user, password = dovecot.new_user("central")
    monkeypatch.setenv("SARABAN_TEST_IMAP_PASSWORD", password)
    settings = central_mailbox_settings(tmp_path, dovecot, user, units=UNITS)
    old = _mail(user, "Re: [รับ 1/2569] ขอเชิญประชุม", "ส่ง นโยบาย\n")  # in Sent before the upgrade
    if "Sent" not in dovecot.list_mailboxes(user):
        dovecot.create_mailbox(user, "Sent")
    pdf = letter_pdf(lines=("ที่ ศธ 04010/1", "สำนักงานคณะกรรมการการศึกษาขั้นพื้นฐาน",
                            "วันที่ 20 พฤศจิกายน 2569", "เรื่อง ขอเชิญประชุม", "เรียน ผู้อำนวยการ"))
    dovecot.deliver(user, letter_mail(pdf, subject="ขอเชิญประชุม"))

    def append(folder: str, raw: bytes) -> None:  # what the clerk's mail client does
        with imaplib.IMAP4_SSL("127.0.0.1", dovecot.imaps_port, ssl_context=dovecot.ssl_context()) as c:
            c.login(user, password)
            typ, _ = c.append(mutf7_encode(folder), r"(\Seen)", None, raw)
            assert typ == "OK"

    append("Sent", old)
    async with opened_store(settings, upgrade=True, clock=TickingClock()) as store:
        await ingest_once(settings, store=store)  # registers 1/2569; notes what Sent holds
        assert "คำสั่ง" in dovecot.list_mailboxes(user)
        async with store.sessions() as s:
            assert (await s.execute(select(Forward))).scalars().all() == []  # the old reply: not obeyed
        # the clerk replies `ส่ง บุคคล`: the client files it in Sent, and the server delivers it to
        # INBOX too; a forger sends `ส่ง นโยบาย` From the clerk's address; the clerk drops a
        # command into the command folder; and an ordinary letter sits in Sent
        reply = _mail(user, "Re: [รับ 1/2569] ขอเชิญประชุม", "ส่ง บุคคล\n\n> เดิม\n")
        append("Sent", reply)
        dovecot.deliver(user, reply)
        dovecot.deliver(user, _mail(user, "Re: [รับ 1/2569] ขอเชิญประชุม", "ส่ง นโยบาย\n"))
        append("Sent", letter_mail(pdf, subject="หนังสือที่ส่งออก", sender=user, to=ONE))
        await ingest_once(settings, store=store)
        async with store.sessions() as s:
            forwards = {f.unit_code: f.via for f in (await s.execute(select(Forward))).scalars()}
            states = sorted((await s.execute(select(Letter.state).where(Letter.direction == "in"))).scalars())
        assert forwards == {"hr": "reply"}
        # the letter, the command from Sent, its INBOX copy (set aside: done), the forgery (review)
        assert states == ["not_letter", "not_letter", "registered", "review"]
        assert dovecot.message_count(user, "Sent") == 3  # nothing is moved out of Sent
        append("คำสั่ง", _mail(user, "Re: [รับ 1/2569] ขอเชิญประชุม", "ส่ง นโยบาย\n"))
        await ingest_once(settings, store=store)
        async with store.sessions() as s:
            forwards = {f.unit_code: f.via for f in (await s.execute(select(Forward))).scalars()}
        assert forwards == {"hr": "reply", "policy": "reply"}
