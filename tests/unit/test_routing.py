"""Routing inside the agency, the pure part: rules, unit names, the clerk's and units' replies."""

from __future__ import annotations

import pytest

from gateway.config import RoutingRule, Unit
from gateway.forwarding.routing import (
    RouteFacts,
    find_unit,
    read_clerk_route,
    read_unit_reply,
    receive_ref,
    reply_address,
    reply_token,
    route,
)

UNITS = (
    Unit(code="admin", name_th="กลุ่มอำนวยการ", emails=("admin@agency.test",), aliases=("ธุรการ",)),
    Unit(code="hr", name_th="กลุ่มบริหารงานบุคคล", emails=("hr@agency.test",), aliases=("บุคคล",)),
    Unit(code="policy", name_th="กลุ่มนโยบายและแผน", emails=("policy@agency.test",), aliases=("แผน",)),
)
RULES = (
    RoutingRule(name="คำสั่งแต่งตั้ง", subject=("แต่งตั้ง", "บรรจุ"), unit="hr", copies=("admin",)),
    RoutingRule(name="สพฐ แผน", sender=("@obec.go.th",), subject=("แผน",), unit="policy"),
    RoutingRule(name="ถึงกลุ่มนโยบาย", to=("นโยบายและแผน",), unit="policy", sure=False),
    RoutingRule(name="XML", xml_receiver=("กลุ่มอำนวยการ",), unit="admin"),
)


@pytest.mark.parametrize(
    ("facts", "rule", "primary", "copies", "sure"),
    [
        (RouteFacts(subject="ขอแจ้งคำสั่งแต่งตั้งคณะกรรมการ"), "คำสั่งแต่งตั้ง", "hr", ("admin",), True),
        (RouteFacts(subject="ส่งแผนปฏิบัติการ", sender_address="saraban@obec.go.th"), "สพฐ แผน", "policy", (), True),
        (RouteFacts(subject="ส่งแผนปฏิบัติการ", sender_address="x@moe.go.th"), None, None, (), False),
        (RouteFacts(recipient="ผู้อำนวยการกลุ่มนโยบายและแผน"), "ถึงกลุ่มนโยบาย", "policy", (), False),
        (RouteFacts(xml_receiver="กลุ่มอำนวยการ"), "XML", "admin", (), True),
        (RouteFacts(subject="เชิญประชุม"), None, None, (), False),
        (RouteFacts(subject="ขอแจ้ง คำสั่ง แต่ง ตั้ง"), "คำสั่งแต่งตั้ง", "hr", ("admin",), True),  # spacing
        (RouteFacts(subject="ตั้งงบประมาณ"), None, None, (), False),
    ],
)
def test_first_matching_rule_decides(facts: RouteFacts, rule: str | None, primary: str | None,
                                     copies: tuple[str, ...], sure: bool) -> None:
    r = route(facts, RULES)
    if rule is None:
        assert r is None
    else:
        assert r is not None and (r.rule, r.primary, r.copies, r.sure) == (rule, primary, copies, sure)


def test_a_rule_needs_a_criterion() -> None:
    with pytest.raises(ValueError):
        RoutingRule(name="x", unit="hr")


@pytest.mark.parametrize(("name", "code"), [("กลุ่มบริหารงานบุคคล", "hr"), ("บุคคล", "hr"), ("HR", "hr"),
                                            ("กลุ่ม นโยบายและแผน", "policy"), ("ธุรการ", "admin"), ("การเงิน", None)])
def test_units_by_name_code_or_alias(name: str, code: str | None) -> None:
    u = find_unit(name, UNITS)
    assert (u.code if u else None) == code


@pytest.mark.parametrize(
    ("text", "units", "unknown"),
    [
        ("ส่ง กลุ่มบริหารงานบุคคล", ("hr",), ()),
        ("ส่ง บุคคล, แผน\n\n> quoted", ("hr", "policy"), ()),
        ("ส่งต่อ: ธุรการ และ บุคคล", ("admin", "hr"), ()),
        ("ส่ง บุคคล, การเงิน", ("hr",), ("การเงิน",)),
        ("\n\nส่ง บุคคล, บุคคล", ("hr",), ()),
    ],
)
def test_clerk_route_command(text: str, units: tuple[str, ...], unknown: tuple[str, ...]) -> None:
    got = read_clerk_route(text, UNITS)
    assert got is not None and (got.units, got.unknown) == (units, unknown)


@pytest.mark.parametrize("text", ["ขอบคุณครับ", "> ส่ง บุคคล", "", "ส่งเอกสารให้แล้ว"])
def test_not_a_clerk_route(text: str) -> None:
    got = read_clerk_route(text, UNITS)
    assert got is None or got.units == ()


@pytest.mark.parametrize(
    ("body", "subject", "accept", "reason"),
    [
        ("รับ", "Re: x", True, ""),
        ("", "Re: x", True, ""),
        ("ได้รับแล้ว ขอบคุณค่ะ", "", True, ""),
        ("คืน ไม่ใช่งานของกลุ่ม", "", False, "ไม่ใช่งานของกลุ่ม"),
        ("คืนเรื่อง: เอกสารไม่ครบ\n> เดิม", "", False, "เอกสารไม่ครบ"),
        ("คืน", "", False, "ไม่ระบุเหตุผล"),
        ("> คืน อ้างถึงข้อความเดิม", "Re: x", True, ""),  # only the quote says คืน
        ("", "คืน ผิดหน่วยงาน", False, "ผิดหน่วยงาน"),
        # a reason the client hard-wrapped at 72 (Claws Mail, Outlook) goes on; a short line does not
        ("คืน ไม่ใช่หนังสือของหน่วยงานเรา เรื่องนี้เป็นงานของสำนักงานเขตพื้นที่การศึกษา\n"
         "มัธยมศึกษาขอนแก่น\n\nขอบคุณครับ", "", False,
         "ไม่ใช่หนังสือของหน่วยงานเรา เรื่องนี้เป็นงานของสำนักงานเขตพื้นที่การศึกษา มัธยมศึกษาขอนแก่น"),
        ("คืน ผิดกลุ่ม\nขอบคุณครับ", "", False, "ผิดกลุ่ม"),
        ("คืน ไม่ใช่หนังสือของหน่วยงานเรา เรื่องนี้เป็นงานของสำนักงานเขตพื้นที่การศึกษา\n"
         "> ข้อความเดิม", "", False, "ไม่ใช่หนังสือของหน่วยงานเรา เรื่องนี้เป็นงานของสำนักงานเขตพื้นที่การศึกษา"),
    ],
)
def test_unit_replies(body: str, subject: str, accept: bool, reason: str) -> None:
    r = read_unit_reply(body, subject)
    assert (r.accept, r.reason) == (accept, reason)


def test_reply_tokens_and_receive_refs() -> None:
    token = "0123456789abcdef0123"
    address = reply_address("saraban@agency.test", token)
    assert address == f"saraban+u.{token}@agency.test"
    assert reply_token([address.upper()], "") == token
    assert reply_token(["saraban@agency.test"], f"Re: [รับ 1/2569] เรื่อง [#{token}]") == token
    assert reply_token(["saraban+b.0123456789ab@agency.test"], "Re: x") is None  # a bounce path
    assert reply_token(["saraban+u.short@agency.test"], "[#short]") is None
    assert receive_ref("Re: [รับ ๑๒/๒๕๖๙] เรื่อง") == (12, 2569)
    assert receive_ref("Fwd: [คืน 3/2569] x") == (3, 2569)
    assert receive_ref("ไม่มีเลข") is None
