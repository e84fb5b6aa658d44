"""Sender authentication against a real DNS server in this process (tests/dnsserver.py), with
mail signed by dkimpy: every verdict is written as Authentication-Results and read back."""

from __future__ import annotations

import pytest

from gateway.config.trust import Authentication
from gateway.core.classify import auth_remark
from gateway.trust import AuthResult, SenderAuth
from gateway.trust.auth import authenticate, believed, org_domain, stamp, vouch
from gateway.trust.dns import Resolver
from gateway.trust.results import read_verdict, thai_domains
from tests.dnsserver import DnsServer
from tests.mailauth import Sender, letter

GW = "saraban-gateway.test"
MOI_IP = "192.0.2.10"
STRANGER_IP = "203.0.113.9"


@pytest.fixture
def moi(dns_server: DnsServer) -> Sender:
    return Sender("moi.go.th").publish(dns_server, spf=f"v=spf1 ip4:{MOI_IP} -all",
                                       dmarc="v=DMARC1; p=reject")


def check(dns: DnsServer, raw: bytes, ip: str | None = MOI_IP, mail_from: str = "saraban@moi.go.th",
          timeout: float = 2.0) -> SenderAuth:
    verdict = authenticate(raw, ip=ip, helo="mail.example", mail_from=mail_from,
                           resolver=Resolver((dns.address,), timeout_seconds=timeout), authserv_id=GW)
    # what is written is what is read back
    assert read_verdict(stamp(raw, verdict, GW), {GW}) == verdict
    return verdict


def test_pass_when_spf_and_dkim_are_aligned(dns_server: DnsServer, moi: Sender) -> None:
    v = check(dns_server, moi.sign(letter()))
    assert (v.result, v.spf, v.dkim, v.dmarc, v.dmarc_policy) == (AuthResult.PASS, "pass", "pass", "pass", "reject")
    assert v.dkim_domains == ("moi.go.th",) and v.from_domain == "moi.go.th" and v.reasons_th == ()


def test_spf_fail_from_an_unrelated_ip_of_an_unsigned_letter(dns_server: DnsServer, moi: Sender) -> None:
    v = check(dns_server, letter(), ip=STRANGER_IP)
    assert (v.result, v.spf, v.dkim, v.dmarc) == (AuthResult.FAIL, "fail", "none", "fail")
    assert "SPF ไม่ผ่าน: 203.0.113.9 ไม่ได้รับอนุญาตให้ส่งในนาม moi.go.th" in v.reasons_th
    assert any(r.startswith("DMARC ไม่ผ่าน") and "p=reject" in r for r in v.reasons_th)


def test_dkim_body_tampered(dns_server: DnsServer, moi: Sender) -> None:
    raw = moi.sign(letter(body="โอนเงินให้บัญชี 111\r\n")).replace(b"111", b"999")
    v = check(dns_server, raw, ip=STRANGER_IP)
    assert (v.result, v.dkim) == (AuthResult.FAIL, "fail")
    assert "DKIM ไม่ผ่าน: ลายมือชื่อไม่ตรงกับเนื้อหา (d=moi.go.th)" in v.reasons_th


def test_dkim_alone_passes_dmarc_on_the_imap_path(dns_server: DnsServer, moi: Sender) -> None:
    v = check(dns_server, moi.sign(letter()), ip=None)
    assert (v.result, v.spf, v.dmarc) == (AuthResult.PASS, "none", "pass")


def test_a_domain_with_no_records_is_none(dns_server: DnsServer) -> None:
    v = check(dns_server, letter("x <a@nothing.test>"), ip=STRANGER_IP, mail_from="a@nothing.test")
    assert (v.result, v.spf, v.dkim, v.dmarc) == (AuthResult.NONE, "none", "none", "none")
    assert v.reasons_th == ("โดเมน nothing.test ไม่ได้ประกาศ SPF/DKIM/DMARC ให้ตรวจสอบ (none)",)


def test_a_thai_domain_is_named_in_thai_to_the_clerk(dns_server: DnsServer) -> None:
    """An agency on a Thai domain (EAI, .ไทย): the clerk reads its name, not xn--…"""
    v = check(dns_server, letter("กรมอนามัย <สารบรรณ@กรมอนามัย.ไทย>"), ip=STRANGER_IP,
              mail_from="สารบรรณ@กรมอนามัย.ไทย")
    assert v.result is AuthResult.NONE
    assert v.reasons_th == ("โดเมน กรมอนามัย.ไทย ไม่ได้ประกาศ SPF/DKIM/DMARC ให้ตรวจสอบ (none)",)
    assert "(กรมอนามัย.ไทย)" in auth_remark(v)


# (a name as DNS gives it, as the clerk reads it)
DOMAINS = [
    ("xn--12c2cxabfc5e8ah.xn--o3cw4h", "กรมอนามัย.ไทย"),
    ("d=mail.xn--12c2cxabfc5e8ah.xn--o3cw4h)", "d=mail.กรมอนามัย.ไทย)"),
    ("obec.go.th", "obec.go.th"),
    ("xn--gv-fmc.th", "xn--gv-fmc.th"),  # gоv.th with a Cyrillic о: not shown as gov.th
    ("xn--broken--.th", "xn--broken--.th"),  # no valid IDN label: as it came
]


@pytest.mark.parametrize(("name", "shown"), DOMAINS)
def test_thai_domain_names_are_shown_in_thai_and_others_as_they_are(name: str, shown: str) -> None:
    assert thai_domains(name) == shown


def test_dns_down_is_temperror_never_pass(dns_server: DnsServer, moi: Sender) -> None:
    raw = moi.sign(letter())
    dns_server.stop()
    v = check(dns_server, raw, timeout=0.3)
    assert v.result is AuthResult.TEMPERROR and not v.passed
    assert all(r.startswith("ตรวจสอบ DNS ไม่ได้ (temperror)") for r in v.reasons_th)


def test_servfail_is_temperror(dns_server: DnsServer, moi: Sender) -> None:
    raw = moi.sign(letter())
    dns_server.servfail = True
    assert check(dns_server, raw).result is AuthResult.TEMPERROR


def test_forwarded_with_a_valid_arc_chain_stays_fail_with_a_reason(dns_server: DnsServer,
                                                                   moi: Sender) -> None:
    fwd = Sender("forwarder.test", key_no=1).publish(dns_server, spf="v=spf1 ip4:198.51.100.7 -all")
    original = moi.sign(letter())
    # the forwarder checks it, writes its results, adds a footer (breaking DKIM), and seals
    checked = b"Authentication-Results: mx.forwarder.test; dkim=pass header.d=moi.go.th\r\n" + original
    modified = checked + "-- ส่งต่อโดยระบบ forwarder.test\r\n".encode()
    sealed = fwd.arc_seal(modified, "mx.forwarder.test")
    v = check(dns_server, sealed, ip="198.51.100.7", mail_from="bounce@forwarder.test")
    assert (v.result, v.arc, v.dmarc, v.dkim) == (AuthResult.FAIL, "pass", "fail", "fail")
    assert any("forwarder.test" in r and "ARC" in r and "เจ้าหน้าที่พิจารณา" in r for r in v.reasons_th)
    # the same chain broken after sealing: arc=fail
    broken = sealed.replace("ส่งต่อโดยระบบ".encode(), b"changed")
    assert check(dns_server, broken, ip="198.51.100.7", mail_from="bounce@forwarder.test").arc == "fail"


@pytest.mark.parametrize(("adkim", "signer", "result"), [
    ("r", "mail.moi.go.th", AuthResult.PASS),  # relaxed: same organizational domain
    ("s", "mail.moi.go.th", AuthResult.FAIL),  # strict: the exact domain only
    ("s", "moi.go.th", AuthResult.PASS),
    ("r", "mof.go.th", AuthResult.FAIL),  # another ministry is not aligned, go.th is a suffix
])
def test_relaxed_and_strict_dkim_alignment(dns_server: DnsServer, adkim: str, signer: str,
                                           result: AuthResult) -> None:
    dns_server.add("_dmarc.moi.go.th", "TXT", f"v=DMARC1; p=reject; adkim={adkim}")
    Sender(signer).publish(dns_server)
    raw = Sender(signer).sign(letter())
    assert check(dns_server, raw, ip=None).result is result


@pytest.mark.parametrize(("aspf", "mail_from", "result"), [
    ("r", "bounces@mail.moi.go.th", AuthResult.PASS),
    ("s", "bounces@mail.moi.go.th", AuthResult.FAIL),
])
def test_relaxed_and_strict_spf_alignment(dns_server: DnsServer, aspf: str, mail_from: str,
                                          result: AuthResult) -> None:
    dns_server.add("_dmarc.moi.go.th", "TXT", f"v=DMARC1; p=quarantine; aspf={aspf}")
    dns_server.add("mail.moi.go.th", "TXT", f"v=spf1 ip4:{MOI_IP} -all")
    assert check(dns_server, letter(), mail_from=mail_from).result is result


def test_dmarc_policy_of_the_organizational_domain(dns_server: DnsServer, moi: Sender) -> None:
    v = check(dns_server, letter("x <saraban@dopa.moi.go.th>"), ip=STRANGER_IP,
              mail_from="x@dopa.moi.go.th")
    assert (v.result, v.dmarc, v.from_domain) == (AuthResult.FAIL, "fail", "dopa.moi.go.th")


@pytest.mark.parametrize(("domain", "org"), [
    ("saraban.moi.go.th", "moi.go.th"), ("moi.go.th", "moi.go.th"), ("reg.chula.ac.th", "chula.ac.th"),
    ("x.redcross.or.th", "redcross.or.th"), ("a.b.in.th", "b.in.th"), ("hq.rta.mi.th", "rta.mi.th"),
    ("mail.example.com", "example.com"),
])
def test_organizational_domains_of_thai_suffixes(domain: str, org: str) -> None:
    assert org_domain(domain) == org


def test_stamp_prepends_one_header_and_keeps_every_byte(dns_server: DnsServer, moi: Sender) -> None:
    for raw in (moi.sign(letter()), letter().replace(b"\r\n", b"\n")):
        v = check(dns_server, raw)
        out = stamp(raw, v, GW)
        eol = b"\r\n" if b"\r\n" in raw else b"\n"
        head, _, rest = out.partition(eol + b"\t" + v.results[-1].encode() + eol)
        assert rest == raw and head.startswith(b"Authentication-Results: " + GW.encode() + b";")
        assert (b"\r\n" in out[: len(out) - len(raw)]) == (eol == b"\r\n")


def test_only_the_topmost_header_of_a_trusted_authserv_id_is_believed() -> None:
    forged = b"Authentication-Results: mx.agency.go.th; dmarc=pass header.from=moi.go.th\r\n" + letter()
    real = b"Authentication-Results: mx.agency.go.th; dmarc=fail header.from=moi.go.th\r\n" + forged
    assert read_verdict(forged, {"other.test"}) is None  # not trusted
    v = read_verdict(real, {"mx.agency.go.th"})
    assert v is not None and v.result is AuthResult.FAIL and v.judged_by == "mx.agency.go.th"
    # a forged header below someone else's topmost one is never read
    assert read_verdict(b"Authentication-Results: relay.test; none\r\n" + forged, {"mx.agency.go.th"}) is None
    # a trusted header without header.from: the From field gives the domain
    v = read_verdict(b"Authentication-Results: mx.agency.go.th; dkim=pass header.d=moi.go.th\r\n"
                     + letter(), {"mx.agency.go.th"})
    assert v is not None and (v.result, v.from_domain) == (AuthResult.PASS, "moi.go.th")
    v = read_verdict(b"Authentication-Results: mx.agency.go.th; dmarc pass\r\n" + letter(),
                     {"mx.agency.go.th"})
    assert v is not None and v.result is AuthResult.TEMPERROR  # unreadable: never a pass


async def test_a_trusted_relays_header_is_believed_and_an_untrusted_ones_is_not(
        dns_server: DnsServer) -> None:
    settings = Authentication(authserv_id="mx.agency.go.th", trusted_relays=("10.0.0.0/24",),
                              dns_servers=(dns_server.address,))
    resolver = Resolver.from_settings(settings)
    raw = b"Authentication-Results: mx.agency.go.th; dmarc=pass header.from=moi.go.th\r\n" + letter()
    assert believed(raw, settings, "10.0.0.25") and believed(raw, settings, None)
    assert await vouch(raw, settings=settings, resolver=resolver, authserv_id=GW, ip="10.0.0.25") == raw
    out = await vouch(raw, settings=settings, resolver=resolver, authserv_id=GW, ip=STRANGER_IP,
                      mail_from="saraban@moi.go.th")
    assert out.endswith(raw) and out != raw
    v = read_verdict(out, {GW, "mx.agency.go.th"})
    assert v is not None and v.judged_by == GW and v.result is AuthResult.NONE
    # without a configured authserv-id nobody's header is believed
    assert not believed(raw, Authentication(trusted_relays=("10.0.0.0/24",)), "10.0.0.25")
