"""Sender authentication as a receiving mail server does it: SPF, DKIM, DMARC, ARC.

`authenticate` checks one raw message (synchronous: callers run it in a thread) with every DNS
query through one `Lookup` of the gateway's resolver (gateway/trust/dns.py), so the whole check
has one time bound and DNS trouble is temperror, never a pass. `stamp` writes the verdict on the
raw message as an `Authentication-Results` header (RFC 8601) at the top; `vouch` is what the
intake adapters call: believe the agency MX's header when it may be believed, else check and
stamp. The verdict is read back from the stored bytes by gateway/trust/results.py.

- SPF (pyspf, through gateway/trust/hooks.py) only on the SMTP path, where the connecting IP
  is known; MAIL FROM, or the HELO name for a null sender.
- DKIM (dkimpy) on every signature (at most MAX_SIGNATURES), each reported.
- DMARC (RFC 7489): the policy at _dmarc.<From domain>, else at its organizational domain
  (Public Suffix List: moi.go.th for saraban.moi.go.th), relaxed or strict alignment (adkim,
  aspf) of a passing SPF or DKIM domain with the From domain.
- ARC (dkimpy): the chain's validity only. When DMARC fails but a valid chain says the mail
  was forwarded, the result stays fail and the clerk is told so (a Thai reason) to decide.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import re
from dataclasses import dataclass

import dkim
from publicsuffixlist import PublicSuffixList

from gateway.config.trust import Authentication
from gateway.trust import SenderAuth
from gateway.trust.dns import DnsFailure, Lookup, Resolver
from gateway.trust.hooks import spf_check
from gateway.trust.results import (
    Method,
    from_domains,
    head_of,
    header_block,
    spf_domain,
    topmost_results,
    verdict_of,
)

log = logging.getLogger(__name__)

__all__ = ["Voucher", "authenticate", "believed", "org_domain", "stamp", "vouch"]

MAX_SIGNATURES = 5  # DKIM signatures checked per message (each costs a lookup and a hash)
MIN_KEY_BITS = 1024
SLACK_SECONDS = 10.0  # hashing a large message, on top of the DNS budget


@functools.lru_cache(maxsize=1)
def _psl() -> PublicSuffixList:
    return PublicSuffixList()  # the copy shipped in the package: no download


def org_domain(domain: str) -> str:
    """The organizational domain (RFC 7489 3.2): one label under the public suffix."""
    domain = domain.lower().strip(".")
    return _psl().privatesuffix(domain) or domain


def _aligned(a: str, b: str, mode: str) -> bool:
    a, b = a.lower().strip("."), b.lower().strip(".")
    if not a or not b:
        return False
    return a == b if mode == "s" else org_domain(a) == org_domain(b)


def _ascii_domain(domain: str) -> str:
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain


def _clause_address(address: str) -> str:
    """MAIL FROM as an Authentication-Results property value: as it came when it is ASCII; an
    internationalized one (SMTPUTF8, สารบรรณ@กรมอนามัย.ไทย) as its domain in ASCII, all that
    SPF checked and all that the header's ASCII grammar can carry (read back unchanged)."""
    if address.isascii():
        return address
    return _ascii_domain(address.rpartition("@")[2])


# -- DKIM ----------------------------------------------------------------------------------------


def _has_field(head: bytes, name: bytes) -> bool:
    return re.search(rb"(?im)^" + re.escape(name) + rb"[ \t]*:", head) is not None


def _dkim(raw: bytes, lookup: Lookup) -> list[Method]:
    # dkimpy splits the whole message into lines first: 20 ms for a 1.7 MB letter, in a
    # thread that holds the GIL. A message without a signature has nothing to verify.
    if not _has_field(head_of(raw), b"dkim-signature"):
        return []
    try:
        d = dkim.DKIM(raw, minkey=MIN_KEY_BITS)
    except dkim.DKIMException:
        return [Method("dkim", "permerror", "bad signature")]
    count = sum(1 for name, _ in d.headers if name.lower() == b"dkim-signature")
    out: list[Method] = []
    for idx in range(min(count, MAX_SIGNATURES)):
        keys: list[bytes | None] = []

        def txt(name: bytes, timeout: float = 0, keys: list[bytes | None] = keys) -> bytes | None:
            found = lookup.txt(name.decode("ascii", "replace").rstrip("."))
            keys.append(found[0] if found else None)
            return keys[-1]

        try:
            ok = d.verify(idx=idx, dnsfunc=txt)
            result, why = ("pass", "") if ok else (
                ("permerror", "no key") if keys and keys[-1] is None else ("fail", "signature mismatch"))
        except DnsFailure:
            result, why = "temperror", ""
        except dkim.ValidationError as exc:
            result, why = "fail", "body hash mismatch" if "body hash" in str(exc) else "bad signature"
        except dkim.KeyFormatError as exc:
            result, why = "permerror", "key too small" if "too small" in str(exc) else "bad signature"
        except dkim.DKIMException:
            result, why = "permerror", "bad signature"
        domain = (d.domain or b"").decode("ascii", "replace").lower()
        selector = (getattr(d, "selector", None) or b"").decode("ascii", "replace")
        out.append(Method("dkim", result, why, (("header.d", domain), ("header.s", selector))))
        d.domain = d.selector = None  # a signature that fails to parse must not report the last
    return out


# -- DMARC ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    p: str
    adkim: str = "r"
    aspf: str = "r"


def _record(lookup: Lookup, domain: str) -> dict[str, str] | None:
    records = [r for r in lookup.txt(f"_dmarc.{domain}")
               if re.match(rb"\s*v\s*=\s*DMARC1\s*(;|$)", r, re.I)]
    if len(records) != 1:  # none, or ambiguous: no policy (RFC 7489 6.6.3)
        return None
    tags: dict[str, str] = {}
    for part in records[0].decode("ascii", "replace").split(";"):
        key, eq, value = part.partition("=")
        if eq:
            tags.setdefault(key.strip().lower(), value.strip().lower())
    return tags


def _policy(lookup: Lookup, from_domain: str) -> Policy | None | str:
    """The From domain's DMARC policy; None: none published; "permerror": unusable."""
    domain = _ascii_domain(from_domain)
    org = org_domain(domain)
    tags, sub = _record(lookup, domain), False
    if tags is None and org != domain:
        tags, sub = _record(lookup, org), True
    if tags is None:
        return None
    p = tags.get("sp", tags.get("p")) if sub else tags.get("p")
    if p not in ("none", "quarantine", "reject"):
        return Policy("none") if "rua" in tags else "permerror"
    return Policy(p, "s" if tags.get("adkim") == "s" else "r", "s" if tags.get("aspf") == "s" else "r")


def _dmarc(lookup: Lookup, domains: list[str], spf: Method | None, sigs: list[Method]) -> Method:
    if not domains:
        return Method("dmarc", "fail", "no from")
    if len(set(domains)) > 1:
        return Method("dmarc", "fail", "multiple from", (("header.from", domains[0]),))
    frm = domains[0]
    try:
        policy = _policy(lookup, frm)
    except DnsFailure:
        return Method("dmarc", "temperror", "", (("header.from", frm),))
    if policy is None:
        return Method("dmarc", "none", "", (("header.from", frm),))
    if isinstance(policy, str):
        return Method("dmarc", "permerror", "", (("header.from", frm),))
    props = (("header.from", frm), ("policy.dmarc", policy.p))
    if any(s.result == "pass" and _aligned(s.prop("header.d"), frm, policy.adkim) for s in sigs) \
            or (spf is not None and spf.result == "pass" and _aligned(spf_domain(spf), frm, policy.aspf)):
        return Method("dmarc", "pass", "", props)
    if any(m.result == "temperror" for m in (*sigs, *([spf] if spf else []))):
        return Method("dmarc", "temperror", "", props)
    return Method("dmarc", "fail", "", props)


# -- ARC -----------------------------------------------------------------------------------------


def _arc(raw: bytes, lookup: Lookup) -> Method | None:
    if not _has_field(head_of(raw), b"arc-seal"):
        return None

    def txt(name: bytes, timeout: float = 0) -> bytes | None:
        found = lookup.txt(name.decode("ascii", "replace").rstrip("."))
        return found[0] if found else None

    try:
        cv, results, _why = dkim.ARC(raw, minkey=MIN_KEY_BITS).verify(dnsfunc=txt)
    except DnsFailure:
        return Method("arc", "temperror")
    except dkim.DKIMException:
        return Method("arc", "fail")
    sealer = results[0].get("as-domain", b"").decode("ascii", "replace") if results else ""
    return Method("arc", "pass" if cv == dkim.CV_Pass else "fail", "",
                  (("header.as-d", sealer),) if sealer else ())


# -- the whole check -----------------------------------------------------------------------------


def authenticate(raw: bytes, *, ip: str | None, helo: str, mail_from: str, resolver: Resolver,
                 authserv_id: str) -> SenderAuth:
    """Check one message; the verdict (with its Authentication-Results clauses in `results`)."""
    lookup = resolver.lookup()
    methods: list[Method] = []
    spf: Method | None = None
    if ip:
        mail_from = mail_from.strip().strip("<>")
        try:
            result, _ = spf_check(lookup, ip=str(ipaddress.ip_address(ip)), mail_from=mail_from,
                                  helo=helo)
        except ValueError:  # not an IP address: nothing SPF can say
            result = "none"
        who = ("smtp.mailfrom", _clause_address(mail_from)) if mail_from else ("smtp.helo", helo)
        spf = Method("spf", result, "", (who, ("smtp.remote-ip", ip)))
        methods.append(spf)
    sigs = _dkim(raw, lookup)
    methods.extend(sigs or [Method("dkim", "none")])
    domains = [_ascii_domain(d) for d in from_domains(header_block(raw))]
    methods.append(_dmarc(lookup, domains, spf, sigs))
    arc = _arc(raw, lookup)
    if arc is not None:
        methods.append(arc)
    return verdict_of(methods, from_domain=domains[0] if domains else "", judged_by=authserv_id)


def temperror_verdict(raw: bytes, authserv_id: str) -> SenderAuth:
    """What is stamped when the check itself could not finish."""
    domains = from_domains(header_block(raw))
    frm = domains[0] if domains else ""
    return verdict_of([Method("dmarc", "temperror", "", (("header.from", frm),) if frm else ())],
                      from_domain=frm, judged_by=authserv_id)


def stamp(raw: bytes, verdict: SenderAuth, authserv_id: str) -> bytes:
    """`raw` with `Authentication-Results: <authserv_id>; <clauses>` prepended, one clause a
    line, in the message's own line ending; the rest of the bytes unchanged."""
    first = raw.split(b"\n", 1)[0]
    eol = b"\r\n" if first.endswith(b"\r") or not raw else b"\n"
    clauses = verdict.results or ("none",)
    text = f"Authentication-Results: {authserv_id};" + ";".join(
        f"\n\t{c}" for c in clauses)
    return text.encode("ascii", "replace").replace(b"\n", eol) + eol + raw


# -- the intake's one call -----------------------------------------------------------------------


def _in_networks(ip: str, networks: tuple[str, ...]) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(addr in ipaddress.ip_network(n, strict=False) for n in networks)


def believed(raw: bytes, settings: Authentication, ip: str | None) -> bool:
    """The agency MX's own verdict is on top and may be believed: over IMAP (the mailbox is
    the agency's), or over SMTP from one of its trusted relays."""
    top = topmost_results(raw)
    if not settings.authserv_id or top is None or top[0] != settings.authserv_id.lower():
        return False
    return ip is None or _in_networks(ip, settings.trusted_relays)


@dataclass(frozen=True)
class Voucher:
    """`vouch` with the gateway's settings, resolver and authserv-id: what the composition
    root hands the SMTP listener and the IMAP watchers."""

    settings: Authentication
    resolver: Resolver
    authserv_id: str

    async def __call__(self, raw: bytes, *, ip: str | None = None, helo: str = "",
                       mail_from: str = "") -> bytes:
        return await vouch(raw, settings=self.settings, resolver=self.resolver,
                           authserv_id=self.authserv_id, ip=ip, helo=helo, mail_from=mail_from)


async def vouch(raw: bytes, *, settings: Authentication, resolver: Resolver, authserv_id: str,
                ip: str | None = None, helo: str = "", mail_from: str = "") -> bytes:
    """The bytes to store: `raw` as is when the agency MX's verdict is believed, else `raw`
    stamped with the gateway's own (`authserv_id`: its hostname). Bounded in time: a check that
    does not finish is stamped temperror."""
    if believed(raw, settings, ip):
        return raw
    try:
        verdict = await asyncio.wait_for(
            asyncio.to_thread(authenticate, raw, ip=ip, helo=helo, mail_from=mail_from,
                              resolver=resolver, authserv_id=authserv_id),
            resolver.timeout_seconds + SLACK_SECONDS)
    except TimeoutError:
        log.warning("sender authentication did not finish in time; stamped temperror")
        verdict = temperror_verdict(raw, authserv_id)
    except Exception:  # a library's surprise must not lose the message: temperror, never pass
        log.exception("sender authentication failed; stamped temperror")
        verdict = temperror_verdict(raw, authserv_id)
    return stamp(raw, verdict, authserv_id)
