"""Spoofed senders, one row each: what the SMTP listener's check (vouch → Authentication-Results
→ read_verdict) says of them. moi.go.th publishes SPF -all, a DKIM key and DMARC p=reject; the
attacker owns evil.test (its own SPF and DKIM pass) and sends from 203.0.113.9."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from gateway.config.trust import Authentication
from gateway.trust import AuthResult
from gateway.trust.auth import vouch
from gateway.trust.dns import Resolver
from gateway.trust.results import read_verdict
from tests.dnsserver import DnsServer
from tests.mailauth import Sender, letter

GW = "saraban-gateway.test"
MX = "mx.agency.go.th"
ATTACKER = "203.0.113.9"
MOI = Sender("moi.go.th")
EVIL = Sender("evil.test", key_no=1)
FORGED_MOI_KEY = Sender("moi.go.th", key_no=1)  # signs as d=moi.go.th with the attacker's key


@dataclass(frozen=True)
class Case:
    name: str
    message: Callable[[], bytes]
    mail_from: str
    result: AuthResult
    from_domain: str
    reason: str = ""  # a fragment of one Thai reason, when the case must name what failed
    helo: str = "mail.evil.test"


CASES = [
    Case("forged From of a government domain from an unrelated host",
         lambda: letter(), "saraban@moi.go.th", AuthResult.FAIL, "moi.go.th",
         "SPF ไม่ผ่าน: 203.0.113.9 ไม่ได้รับอนุญาตให้ส่งในนาม moi.go.th"),
    Case("forged From, the attacker's own envelope sender (SPF passes, not aligned)",
         lambda: letter(), "bounce@evil.test", AuthResult.FAIL, "moi.go.th", "DMARC ไม่ผ่าน"),
    Case("forged From, a valid DKIM signature of the attacker's domain",
         lambda: EVIL.sign(letter()), "bounce@evil.test", AuthResult.FAIL, "moi.go.th", "DMARC ไม่ผ่าน"),
    Case("DKIM signature claiming d=moi.go.th, made with another key",
         lambda: FORGED_MOI_KEY.sign(letter()), "bounce@evil.test", AuthResult.FAIL, "moi.go.th",
         "DKIM ไม่ผ่าน"),
    Case("a genuine signed letter replayed with another subject",
         lambda: MOI.sign(letter()).replace("ขอเชิญประชุม".encode(), "โอนเงินด่วน".encode()),
         "bounce@evil.test", AuthResult.FAIL, "moi.go.th", "DKIM ไม่ผ่าน"),
    Case("display-name spoof: the government address as the name, the attacker's address",
         lambda: EVIL.sign(letter('"saraban@moi.go.th" <saraban@evil.test>')), "saraban@evil.test",
         AuthResult.PASS, "evil.test"),
    Case("look-alike domain under the attacker's (moi.go.th.evil.test, evil.test says p=none)",
         lambda: letter("สป.มท. <saraban@moi.go.th.evil.test>"), "saraban@moi.go.th.evil.test",
         AuthResult.FAIL, "moi.go.th.evil.test", "DMARC ไม่ผ่าน"),
    Case("an unpublished subdomain of a government domain (its parent says p=reject)",
         lambda: letter("สป.มท. <saraban@secure.moi.go.th>"), "saraban@secure.moi.go.th",
         AuthResult.FAIL, "secure.moi.go.th", "DMARC ไม่ผ่าน"),
    Case("forged Authentication-Results of the gateway's own id and of the agency MX",
         lambda: (f"Authentication-Results: {GW}; dmarc=pass header.from=moi.go.th\r\n"
                  f"Authentication-Results: {MX}; dmarc=pass header.from=moi.go.th\r\n").encode() + letter(),
         "saraban@moi.go.th", AuthResult.FAIL, "moi.go.th", "SPF ไม่ผ่าน"),
    Case("two From fields, the government one first",
         lambda: letter(extra="From: saraban@evil.test\r\n"), "saraban@evil.test", AuthResult.FAIL,
         "moi.go.th", "หัว From มีผู้ส่งหลายโดเมน"),
    Case("null sender with a forged HELO of the government domain",
         lambda: letter(), "", AuthResult.FAIL, "moi.go.th", "SPF ไม่ผ่าน: 203.0.113.9", helo="moi.go.th"),
]


@pytest.fixture(scope="module")
def zone() -> DnsServer:
    with DnsServer() as dns:
        MOI.publish(dns, spf="v=spf1 ip4:192.0.2.10 -all", dmarc="v=DMARC1; p=reject")
        EVIL.publish(dns, spf=f"v=spf1 ip4:{ATTACKER} -all", dmarc="v=DMARC1; p=none")
        yield dns


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_spoofed_sender(case: Case, zone: DnsServer) -> None:
    settings = Authentication(authserv_id=MX, trusted_relays=("10.0.0.0/24",), dns_servers=(zone.address,))
    kept = await vouch(case.message(), settings=settings, resolver=Resolver.from_settings(settings),
                       authserv_id=GW, ip=ATTACKER, helo=case.helo, mail_from=case.mail_from)
    verdict = read_verdict(kept, {GW, MX})
    assert verdict is not None and verdict.judged_by == GW
    assert (verdict.result, verdict.from_domain) == (case.result, case.from_domain), verdict
    if case.reason:
        assert any(case.reason in r for r in verdict.reasons_th), verdict.reasons_th
