"""Routing inside the agency, the pure part: which unit gets a registered letter, and what the
clerk's and the units' replies say.

Register → here → units.py. The rules are data ([[forwarding.rules]] in config.toml), tried
in order, the first match deciding (house style 4: tables over ladders). A unit is named in a
clerk's command by its Thai name, code or an alias, compared in normalised form. A unit's
reply is an acceptance unless its first line says `คืน <reason>` (domain.md §6: ลงรับ /
คืนเรื่อง). The reply is tied to its forward by a token in the reply address
(`saraban+u.<token>@…`) or in the subject (`[#<token>]`). No I/O, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gateway.config import RoutingRule, Unit
from gateway.core.parse.wrap import continues
from gateway.thai import normalize_for_match, normalize_text
from gateway.trust.secrecy import CONFIRM_WORD


@dataclass(frozen=True)
class RouteFacts:
    """What a rule can look at, from the registered letter."""

    recipient: str = ""  # ถึง
    salutation: str = ""  # เรียน
    subject: str = ""
    sender: str = ""  # จาก (agency name)
    sender_address: str = ""
    xml_receiver: str = ""


@dataclass(frozen=True)
class Route:
    rule: str
    primary: str
    copies: tuple[str, ...]
    sure: bool


def _key(text: str) -> str:
    """Thai is written without spaces between words; a clerk's spacing must not matter."""
    return "".join(normalize_for_match(text).split())


def _any_in(words: Iterable[str], *texts: str) -> bool:
    haystack = "\n".join(_key(t) for t in texts if t)
    return any(_key(w) in haystack for w in words if _key(w))


def _sender_matches(words: Sequence[str], facts: RouteFacts) -> bool:
    address = facts.sender_address.lower()
    for w in words:
        w_low = w.strip().lower()
        if "@" in w_low:  # an address, or "@domain" for every address of a domain
            if address == w_low or (w_low.startswith("@") and address.endswith(w_low)):
                return True
        elif _any_in([w], facts.sender):
            return True
    return False


def route(facts: RouteFacts, rules: Sequence[RoutingRule]) -> Route | None:
    """The first rule whose every given criterion matches; None when no rule does."""
    for rule in rules:
        checks = []
        if rule.to:
            checks.append(_any_in(rule.to, facts.recipient, facts.salutation))
        if rule.subject:
            checks.append(_any_in(rule.subject, facts.subject))
        if rule.sender:
            checks.append(_sender_matches(rule.sender, facts))
        if rule.xml_receiver:
            checks.append(_any_in(rule.xml_receiver, facts.xml_receiver))
        if checks and all(checks):
            copies = tuple(c for c in dict.fromkeys(rule.copies) if c != rule.unit)
            return Route(rule.name, rule.unit, copies, rule.sure)
    return None


# ------------------------------------------------------------------------------------------
# Naming units
# ------------------------------------------------------------------------------------------


def unit_names(unit: Unit) -> tuple[str, ...]:
    return (unit.name_th, unit.code, *unit.aliases)


def find_unit(name: str, units: Sequence[Unit]) -> Unit | None:
    """A unit by Thai name, code or alias (normalised: spaces, Thai digits, case)."""
    key = _key(name)
    if not key:
        return None
    for u in units:
        if any(_key(n) == key for n in unit_names(u)):
            return u
    return None


@dataclass(frozen=True)
class ClerkRoute:
    units: tuple[str, ...]  # unit codes, in the order given
    unknown: tuple[str, ...]  # names that match no unit
    confirm_secret: bool = False  # `ยืนยันส่งลับ`: mail the held secret letter (issue #18)


_SEND_COMMAND = re.compile(r"^\s*ส่ง(?:ต่อ)?(?:ถึง|ให้)?\s*[:：]?\s*(.+)$")
_CONFIRM_COMMAND = re.compile(r"^\s*" + CONFIRM_WORD + r"\s*[.!]?\s*$")


def read_clerk_route(text: str, units: Sequence[Unit]) -> ClerkRoute | None:
    """`ส่ง กลุ่มอำนวยการ, บุคคล` on the first line of a clerk's reply; None when it is not that."""
    first = _first_line(text)
    if _CONFIRM_COMMAND.match(first):
        return ClerkRoute((), (), confirm_secret=True)
    m = _SEND_COMMAND.match(first)
    if not m:
        return None
    names = [n.strip() for n in re.split(r"[,，、;]|\sและ\s", m.group(1)) if n.strip()]
    found: list[str] = []
    unknown: list[str] = []
    for n in names:
        u = find_unit(n, units)
        if u is None:
            unknown.append(n)
        elif u.code not in found:
            found.append(u.code)
    return ClerkRoute(tuple(found), tuple(unknown))


def clerk_command(subject: str, body: str,
                  units: Sequence[Unit]) -> tuple[tuple[int, int], ClerkRoute] | None:
    """`ส่ง <unit>, …` in reply to `[รับ n/ปี]` (or `[คืน n/ปี]`), whoever it claims to be from:
    whether it is obeyed is for the channel to prove (gateway/trust/channels.py)."""
    ref = receive_ref(subject)
    if ref is None:
        return None
    wanted = read_clerk_route(body, units)
    return (ref, wanted) if wanted is not None and (
        wanted.units or wanted.unknown or wanted.confirm_secret) else None


# ------------------------------------------------------------------------------------------
# A unit's reply
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitReply:
    accept: bool
    reason: str = ""  # why it was returned


# A letter a unit returned, mailed to the central mailbox (gateway/forwarding/units.py), carries
# this header with the letter's id: the reader knows it for the gateway's own (inbound/read.py).
RETURNED_HEADER = "X-Saraban-Returned"
_RETURN = re.compile(r"^\s*(?:คืน(?:เรื่อง)?|ส่งคืน)\s*[:：]?\s*(.*)$")
_QUOTE_START = re.compile(r"^(?:>|On .+ wrote:|เมื่อ .+ เขียน|-----\s*Original Message|From:|จาก:)")


def _first_line(text: str) -> str:
    """The first line written, with what the client's hard wrapping cut from it (parse/wrap.py)."""
    written: list[str] = []
    for line in normalize_text(text).splitlines():
        line = line.strip()
        if not written:
            if _QUOTE_START.match(line):
                return ""
            if line:
                written.append(line)
        elif line and not _QUOTE_START.match(line) and continues(written[-1], line):
            written.append(line)
        else:
            break
    return " ".join(written)


def read_unit_reply(body: str, subject: str = "") -> UnitReply:
    """An acceptance (anything, or รับ), or a return with its reason (`คืน <reason>`)."""
    first = _first_line(body)
    if not first:
        stripped = re.sub(r"^\s*(?:(?:re|fw|fwd|ตอบกลับ)\s*:\s*)+", "", subject, flags=re.IGNORECASE)
        first = stripped.strip() if _RETURN.match(stripped) else ""
    m = _RETURN.match(first)
    if m:
        return UnitReply(False, m.group(1).strip() or "ไม่ระบุเหตุผล")
    return UnitReply(True)


_TOKEN = r"[a-z0-9]{16,40}"
_REPLY_ADDRESS = re.compile(rf"\+u\.({_TOKEN})@", re.IGNORECASE)
_SUBJECT_TOKEN = re.compile(rf"\[#({_TOKEN})\]", re.IGNORECASE)


def _plus_address(central: str, tag: str, token: str) -> str:
    local, _, domain = central.partition("@")
    return f"{local}+{tag}.{token}@{domain}"


def _token_in(addresses: Iterable[str], subject: str, in_address: re.Pattern[str],
              in_subject: re.Pattern[str]) -> str | None:
    for a in addresses:
        if m := in_address.search(a or ""):
            return m.group(1).lower()
    if m := in_subject.search(subject or ""):
        return m.group(1).lower()
    return None


def reply_address(central: str, token: str) -> str:
    return _plus_address(central, "u", token)


def reply_token(addresses: Iterable[str], subject: str) -> str | None:
    """The forward a reply belongs to: from the address it was sent to, else its subject."""
    return _token_in(addresses, subject, _REPLY_ADDRESS, _SUBJECT_TOKEN)


# A letter we sent: each recipient's mail has Reply-To `saraban+r.<token>@…` with that
# recipient's own unguessable token (letter_recipients.token, also its VERP token), so an
# acknowledgement proves whose it is (issue #18); `[#r.<token>]` in a subject is read too.
_RECIPIENT_ADDRESS = re.compile(rf"\+r\.({_TOKEN})@", re.IGNORECASE)
_RECIPIENT_SUBJECT = re.compile(rf"\[#r\.({_TOKEN})\]", re.IGNORECASE)


def recipient_reply_address(central: str, token: str) -> str:
    return _plus_address(central, "r", token)


def recipient_token(addresses: Iterable[str], subject: str) -> str | None:
    """The recipient of a letter we sent that a reply answers: its address, else its subject."""
    return _token_in(addresses, subject, _RECIPIENT_ADDRESS, _RECIPIENT_SUBJECT)


_RECEIVE_REF = re.compile(r"\[(?:รับ|คืน)\s*([0-9๐-๙]+)\s*/\s*([0-9๐-๙]{4})\]")


def receive_ref(subject: str) -> tuple[int, int] | None:
    """`[รับ 12/2569]` in a subject (the findable copy's title, kept in a reply's Re:)."""
    from gateway.thai import to_arabic_digits

    m = _RECEIVE_REF.search(subject or "")
    if not m:
        return None
    return int(to_arabic_digits(m.group(1))), int(to_arabic_digits(m.group(2)))
