"""Units end to end on a real Dovecot: routed by a rule and accepted with a unit number; routed
by the clerk's folder move and returned with a reason; both paths traced.
"""

from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.app import opened_store
from gateway.service import ingest_once
from gateway.store import audit
from gateway.store.tables import Forward, Letter, RegisterEntry
from tests.conftest import TickingClock, central_mailbox_settings
from tests.corpus.mail import letter_mail, letter_pdf
from tests.integration.test_cli import cli_process as cli

pytestmark = pytest.mark.integration

HR, POLICY = "hr@agency.test", "policy@agency.test"


def _letter(n: int, subject: str) -> bytes:
    pdf = letter_pdf(lines=(f"ที่ ศธ 04010/{n}", "สำนักงานคณะกรรมการการศึกษาขั้นพื้นฐาน",
                            "วันที่ 20 พฤศจิกายน 2569", f"เรื่อง {subject}",
                            "เรียน ผู้อำนวยการสำนักงานเขตพื้นที่การศึกษา"))
    return letter_mail(pdf, subject=subject, filename=f"2569_OBEC_{n}.pdf")


def _outbox(settings, kind: str) -> list[EmailMessage]:  # type: ignore[no-untyped-def]
    out = []
    for p in sorted(settings.outbox_path.glob(f"*-{kind}.eml")):
        raw = p.read_bytes()
        while raw.startswith(b"X-Envelope-"):
            raw = raw.split(b"\r\n", 1)[1]
        out.append(email.message_from_bytes(raw, policy=policy.default))
    return out


def _reply(to_forward: EmailMessage, frm: str, body: str) -> bytes:
    m = EmailMessage()
    m["From"] = frm
    m["To"] = str(to_forward["Reply-To"])
    m["Subject"] = "Re: " + str(to_forward["Subject"])
    m["In-Reply-To"] = str(to_forward["Message-ID"])
    m.set_content(body + "\n\n> ข้อความเดิม\n")
    return m.as_bytes()


async def test_route_accept_return_and_trace(tmp_path: Path, dovecot, monkeypatch) -> None:
    user, password = dovecot.new_user("central")
    monkeypatch.setenv("SARABAN_TEST_IMAP_PASSWORD", password)
    settings = central_mailbox_settings(
        tmp_path, dovecot, user,
        units=[{"code": "hr", "name_th": "กลุ่มบริหารงานบุคคล", "emails": [HR], "own_register": True,
                "aliases": ["บุคคล"]},
               {"code": "policy", "name_th": "กลุ่มนโยบายและแผน", "emails": [POLICY]}],
        forwarding={"rules": [{"name": "งานบุคคล", "subject": ["แต่งตั้ง", "บรรจุ"], "unit": "hr"}]},
    )
    (tmp_path / "config.toml").write_text(f"""
[agency]
name_th = "สำนักงานทดสอบ"
letter_code = "ศธ 04183"
latin_code = "TEST04183"
central_addresses = ["{user}"]
[storage]
data_dir = "data"
[[units]]
code = "hr"
name_th = "กลุ่มบริหารงานบุคคล"
emails = ["{HR}"]
own_register = true
[[units]]
code = "policy"
name_th = "กลุ่มนโยบายและแผน"
emails = ["{POLICY}"]
""", encoding="utf-8")
    dovecot.deliver(user, _letter(101, "ขอแจ้งคำสั่งแต่งตั้งคณะกรรมการ"))
    dovecot.deliver(user, _letter(102, "ขอเชิญประชุมจัดทำแผนปฏิบัติการ"))
    async with opened_store(settings, upgrade=True, clock=TickingClock()) as store:  # dates asserted: set, ticking
        await ingest_once(settings, store=store)
        (fw_hr,) = _outbox(settings, "forward")  # the rule routed letter 1 only; letter 2 waits
        assert fw_hr["To"] == HR
        assert "[รับ 1/2569]" in str(fw_hr["Subject"])
        assert [p.get_filename() for p in fw_hr.iter_attachments()][0].endswith("-ตรารับ.pdf")
        body = fw_hr.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "ขอแจ้งคำสั่งแต่งตั้งคณะกรรมการ" in body and "คืน" in body

        # unit A accepts by reply; a stranger holding the token cannot
        dovecot.deliver(user, _reply(fw_hr, "intruder@evil.example", "รับ"))
        dovecot.deliver(user, _reply(fw_hr, HR, "รับ"))
        # the clerk moves letter 2's findable copy into ส่งต่อ/<unit B>, twice over
        delim = "."
        target = f"ส่งต่อ{delim}กลุ่มนโยบายและแผน"
        await ingest_once(settings, store=store)  # creates the folders
        assert target in dovecot.list_mailboxes(user)
        dovecot.doveadm("copy", "-u", user, target, "mailbox", "ลงรับแล้ว", "header",
                        "X-Saraban-Receive-Number", "2/2569")
        dovecot.doveadm("copy", "-u", user, target, "mailbox", "ลงรับแล้ว", "header",
                        "X-Saraban-Receive-Number", "2/2569")
        await ingest_once(settings, store=store)

        async with store.sessions() as s:
            forwards = {f.unit_code: f for f in (await s.execute(select(Forward))).scalars()}
        assert forwards["hr"].state == "accepted" and forwards["hr"].accepted_by == HR
        assert (forwards["hr"].unit_number, forwards["hr"].unit_year) == (1, 2569)
        (accepted,) = _outbox(settings, "unit-accepted")
        assert "เลขรับกลุ่มบริหารงานบุคคล 1/2569" in str(accepted["Subject"])
        fw_policy = [m for m in _outbox(settings, "forward") if m["To"] == POLICY]
        assert len(fw_policy) == 1  # moved twice, forwarded once

        # unit B returns it with a reason; it comes back to the clerk's review folder
        dovecot.deliver(user, _reply(fw_policy[0], POLICY, "คืน ไม่ใช่งานของกลุ่มนโยบายและแผน"))
        await ingest_once(settings, store=store)
        (returned,) = _outbox(settings, "returned")
        assert "[คืน 2/2569]" in str(returned["Subject"])
        raw = next(settings.outbox_path.glob("*-returned.eml")).read_bytes()
        while raw.startswith(b"X-Envelope-"):
            raw = raw.split(b"\r\n", 1)[1]
        dovecot.deliver(user, raw)  # the relay brings it into the central mailbox
        await ingest_once(settings, store=store)
        review = dovecot.doveadm("fetch", "-u", user, "hdr", "mailbox", "รอตรวจสอบ").stdout
        # the returned letter, and the intruder's reply kept for the clerk with a reason (#18)
        assert "X-Saraban-Returned:" in review and dovecot.message_count(user, "รอตรวจสอบ") == 3  # + the review copy of the intruder's reply (#21)
        async with store.sessions() as s:
            reasons = (await s.execute(select(Letter.review_reason).where(
                Letter.state == "review"))).scalars().all()
        assert any("intruder@evil.example ซึ่งไม่ใช่อีเมลของหน่วยงาน" in r for r in reasons)
        async with store.sessions() as s:
            entries = {e.number: e for e in (await s.execute(select(RegisterEntry).where(
                RegisterEntry.book_id == 1))).scalars()}
            letters = (await s.execute(select(Letter.state).where(Letter.direction == "in"))).scalars().all()
            assert (await audit.verify(s)).ok
        assert "ส่ง กลุ่มบริหารงานบุคคล" in entries[1].action and "เลขรับ 1/2569" in entries[1].action
        assert "คืนเรื่อง" in entries[2].action and "ไม่ใช่งานของกลุ่มนโยบายและแผน" in entries[2].action
        assert sorted(letters).count("registered") == 2  # replies and copies were not registered

    one = cli(tmp_path, "letter", "trace", "1/2569")  # the gateway ran at a set date
    assert one.returncode == 0, one.stderr
    for words in ("รับทาง imap จาก saraban@obec.go.th", "ลงทะเบียนรับ เลขรับ 1/2569", "ประทับตรารับ", "ส่งต่อ กลุ่มบริหารงานบุคคล",
                  "ลงรับ", "เลขรับหน่วยงาน 1/2569"):
        assert words in one.stdout, (words, one.stdout)
    two = cli(tmp_path, "letter", "trace", "2/2569")
    for words in ("ส่งต่อ กลุ่มนโยบายและแผน", "คืนเรื่อง", "ไม่ใช่งานของกลุ่มนโยบายและแผน"):
        assert words in two.stdout, (words, two.stdout)
    assert "intruder@evil.example" in two.stdout or "intruder@evil.example" in one.stdout  # logged
