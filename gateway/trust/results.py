"""Authentication-Results, written and read: the one place a verdict becomes text and back.

Pure (no I/O). The gateway's checks (gateway/trust/auth.py) produce method results (`Method`);
`verdict_of` turns them into a `SenderAuth` — overall result and the clerk's Thai reasons — and
`read_verdict` does the same from the topmost `Authentication-Results` header of a stored raw
message, so a verdict read back is the verdict that was written. Only the topmost header is
read, and only when its authserv-id is trusted: anyone can write such a header lower down.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from email.utils import getaddresses

import authres

from gateway.trust import AuthResult, SenderAuth

__all__ = ["Method", "from_domains", "header_block", "read_verdict", "related", "resinfo", "spf_domain",
           "topmost_results", "verdict_of"]

_FEATURES = authres.all_features()  # core + dmarc + arc: the classes that print and parse


@dataclass(frozen=True)
class Method:
    """One resinfo clause: `spf=fail smtp.mailfrom=a@b smtp.remote-ip=…`."""

    method: str  # spf | dkim | dmarc | arc | anything a trusted MX writes
    result: str
    reason: str = ""  # an ASCII reason code (see _DKIM_WHY), or the MX's text
    props: tuple[tuple[str, str], ...] = ()  # (("header.d", "moi.go.th"), …)

    def prop(self, key: str) -> str:
        return next((v for k, v in self.props if k == key), "")


def resinfo(m: Method) -> str:
    """The clause as authres writes it (quoting values that need it)."""
    r = _FEATURES.result(m.method, None, m.result, None, m.reason or None, None,
                         [authres.AuthenticationResultProperty(*k.split(".", 1), value=v)
                          for k, v in m.props if v])
    return str(r)


# -- reading a raw message's header block ------------------------------------------------------


def head_of(raw: bytes) -> bytes:
    """The header block of `raw` (all of it when there is no body)."""
    end = re.search(rb"\r?\n\r?\n", raw)
    return raw[: end.start()] if end else raw


def header_block(raw: bytes) -> list[tuple[str, str]]:
    """The header fields of `raw` in order, (name, unfolded value), decoded leniently."""
    head = head_of(raw)
    fields: list[tuple[str, str]] = []
    for line in re.split(rb"\r?\n", head):
        if line[:1] in (b" ", b"\t") and fields:
            name, value = fields[-1]
            fields[-1] = (name, value + " " + line.strip().decode("utf-8", "replace"))
        elif b":" in line:
            key, _, rest = line.partition(b":")
            fields.append((key.strip().decode("ascii", "replace"),
                           rest.strip().decode("utf-8", "replace")))
    return fields


def _domain(address: str) -> str:
    return address.rpartition("@")[2].strip().strip(".").lower() if "@" in address else ""


def from_domains(fields: Sequence[tuple[str, str]]) -> list[str]:
    """The domains of every address in every From field (DMARC's RFC5322.From), in order."""
    # Encoded words are not decoded: a display name that decodes to an address must not
    # become one (DMARC reads the address, not what a mail client shows).
    values = [value for name, value in fields if name.lower() == "from"]
    return [d for _, addr in getaddresses(values) if (d := _domain(addr))]


def related(a: str, b: str) -> bool:
    """Same domain, or one under the other: aligned without a public-suffix list (used only
    where no DMARC record names the alignment mode)."""
    a, b = a.lower().strip("."), b.lower().strip(".")
    return bool(a and b) and (a == b or a.endswith("." + b) or b.endswith("." + a))


def topmost_results(raw: bytes) -> tuple[str, str] | None:
    """(authserv-id, value) of the first Authentication-Results field, if any."""
    for name, value in header_block(raw):
        if name.lower() == "authentication-results":
            ident = re.match(r"\s*([^\s;()]+)", value)
            return (ident.group(1).lower() if ident else "", value)
    return None


def read_verdict(raw: bytes, trusted_ids: Collection[str]) -> SenderAuth | None:
    """The verdict of the topmost Authentication-Results header of `raw`, if its authserv-id
    is one of `trusted_ids` (the gateway's own, the agency MX's); else None. A trusted header
    that cannot be parsed reads as temperror: never a pass."""
    top = topmost_results(raw)
    trusted = {t.lower() for t in trusted_ids if t}
    if top is None or top[0] not in trusted:
        return None
    fields = header_block(raw)
    domains = from_domains(fields)
    try:
        header = _FEATURES.parse_value(top[1])
    except Exception:
        return SenderAuth(AuthResult.TEMPERROR, domains[0] if domains else "", judged_by=top[0],
                          reasons_th=(f"อ่านผลการตรวจสอบผู้ส่ง (Authentication-Results) จาก {top[0]} ไม่ได้",))
    methods = [Method(r.method, r.result, str(r.reason or ""),
                      tuple((f"{p.type}.{p.name}", str(p.value or "")) for p in r.properties))
               for r in header.results]
    dmarc_from = next((m.prop("header.from") for m in methods if m.method == "dmarc"), "")
    return verdict_of(methods, from_domain=dmarc_from or (domains[0] if domains else ""),
                      judged_by=top[0])


# -- the verdict -------------------------------------------------------------------------------


def _worst(results: Sequence[str]) -> str:
    """pass if any passed; else the most telling of the rest."""
    for r in ("pass", "temperror", "fail", "permerror", "softfail", "neutral", "policy"):
        if r in results:
            return r
    return "none"


def spf_domain(m: Method) -> str:
    """The domain SPF was checked for: MAIL FROM's, or the HELO name for a null sender."""
    return _domain(m.prop("smtp.mailfrom")) or m.prop("smtp.mailfrom").lower() \
        or m.prop("smtp.helo").lower()


def overall(methods: Sequence[Method], from_domain: str) -> AuthResult:
    """DMARC's word when it has one; without a DMARC record, SPF or DKIM of the From domain
    (or a domain above or below it) decides; any DNS failure is temperror, never a pass."""
    dmarc = next((m.result for m in methods if m.method == "dmarc"), "none")
    if dmarc == "pass":
        return AuthResult.PASS
    if dmarc in ("fail", "temperror"):
        return AuthResult(dmarc)
    spf = [m for m in methods if m.method == "spf"]
    dkim = [m for m in methods if m.method == "dkim"]
    if any(m.result == "pass" and related(m.prop("header.d"), from_domain) for m in dkim) or \
            any(m.result == "pass" and related(spf_domain(m), from_domain) for m in spf):
        return AuthResult.PASS
    if any(m.result == "temperror" for m in (*spf, *dkim)):
        return AuthResult.TEMPERROR
    if any(m.result == "fail" and related(spf_domain(m), from_domain) for m in spf) or \
            any(m.result in ("fail", "permerror") and related(m.prop("header.d"), from_domain)
                for m in dkim):
        return AuthResult.FAIL
    return AuthResult.NONE


def verdict_of(methods: Sequence[Method], *, from_domain: str, judged_by: str) -> SenderAuth:
    """The SenderAuth these method results add up to, with the clerk's reasons."""
    result = overall(methods, from_domain)
    spf = [m for m in methods if m.method == "spf"]
    dkim = [m for m in methods if m.method == "dkim"]
    dmarc = next((m for m in methods if m.method == "dmarc"), None)
    arc = next((m.result for m in methods if m.method == "arc"), "none")
    return SenderAuth(
        result, from_domain,
        spf=spf[0].result if spf else "none",
        dkim=_worst([m.result for m in dkim]),
        dkim_domains=tuple(m.prop("header.d").lower() for m in dkim if m.result == "pass"),
        dmarc=dmarc.result if dmarc else "none",
        dmarc_policy=dmarc.prop("policy.dmarc") if dmarc else "",
        arc=arc, judged_by=judged_by,
        reasons_th=() if result is AuthResult.PASS else _reasons(methods, result, from_domain),
        results=tuple(resinfo(m) for m in methods))


_DKIM_WHY = {
    "body hash mismatch": "ลายมือชื่อไม่ตรงกับเนื้อหา",
    "signature mismatch": "ลายมือชื่อไม่ตรงกับหัวจดหมาย",
    "no key": "ไม่พบกุญแจสาธารณะของผู้ลงลายมือชื่อใน DNS",
    "bad signature": "ลายมือชื่อผิดรูปแบบ",
    "key too small": "กุญแจของผู้ลงลายมือชื่อสั้นเกินไป",
}
_DMARC_WHY = {
    "no from": "จดหมายไม่มีหัว From",
    "multiple from": "หัว From มีผู้ส่งหลายโดเมน",
}
DNS_DOWN = "ตรวจสอบ DNS ไม่ได้ (temperror)"


_ACE_NAME = re.compile(r"(?<![\w.-])(?:[a-z0-9-]+\.)*xn--[a-z0-9-]+(?:\.[a-z0-9-]+)*(?![\w-])", re.I)
_THAI_LABEL = re.compile(r"[\u0e01-\u0e5b0-9-]+")


def _thai_name(m: re.Match[str]) -> str:
    try:
        labels = [label.encode("ascii").decode("idna") if label.lower().startswith("xn--") else label
                  for label in m.group(0).split(".")]
    except UnicodeError:  # not a valid IDN label: shown as it came
        return m.group(0)
    decoded = [u for u, a in zip(labels, m.group(0).split("."), strict=True) if a.lower().startswith("xn--")]
    if not all(_THAI_LABEL.fullmatch(u) for u in decoded):
        return m.group(0)  # another script (a look-alike of a Latin name): its ASCII form stays
    return ".".join(labels)


def thai_domains(s: str) -> str:
    """`s` with every Thai domain name in its ASCII form (``xn--…``, as DNS and the
    authentication checks give it) written in Thai, as the clerk knows it (กรมอนามัย.ไทย).
    A label of any other script stays in its ASCII form, so a name that only looks like a
    familiar one (Cyrillic о for Latin o) is not shown as that name."""
    return _ACE_NAME.sub(_thai_name, s) if "xn--" in s.lower() else s


def _reasons(methods: Sequence[Method], result: AuthResult, from_domain: str) -> tuple[str, ...]:
    out: list[str] = []
    for m in methods:
        what = m.method.upper()
        if m.result == "temperror":
            named = spf_domain(m) if m.method == "spf" else m.prop("header.d") or \
                m.prop("header.from") or from_domain
            out.append(f"{DNS_DOWN}: {what} ของ {named}" if named else f"{DNS_DOWN}: {what}")
        elif m.method == "spf" and m.result in ("fail", "softfail"):
            ip = m.prop("smtp.remote-ip") or "เครื่องที่ส่ง"
            soft = " (softfail)" if m.result == "softfail" else ""
            out.append(f"SPF ไม่ผ่าน{soft}: {ip} ไม่ได้รับอนุญาตให้ส่งในนาม {spf_domain(m)}")
        elif m.method == "spf" and m.result == "permerror":
            out.append(f"SPF ของ {spf_domain(m)} ผิดรูปแบบ (permerror)")
        elif m.method == "dkim" and m.result in ("fail", "permerror"):
            why = _DKIM_WHY.get(m.reason, "ลายมือชื่อใช้ไม่ได้")
            out.append(f"DKIM ไม่ผ่าน: {why} (d={m.prop('header.d') or '?'})")
        elif m.method == "dmarc" and m.result == "fail":
            why = _DMARC_WHY.get(m.reason) or (
                f"ไม่มี SPF หรือ DKIM ที่ผ่านในนามโดเมนผู้ส่ง {m.prop('header.from') or from_domain}")
            policy = m.prop("policy.dmarc")
            out.append(f"DMARC ไม่ผ่าน: {why}" + (f" (นโยบายของโดเมน p={policy})" if policy else ""))
        elif m.method == "dmarc" and m.result == "permerror":
            out.append(f"ระเบียน DMARC ของ {m.prop('header.from') or from_domain} ผิดรูปแบบ (permerror)")
        elif m.method == "arc" and m.result == "pass" and result is not AuthResult.PASS:
            sealer = m.prop("header.as-d") or "ผู้ส่งต่อ"
            out.append(f"จดหมายถูกส่งต่อโดย {sealer} พร้อมห่วงโซ่ ARC ที่ถูกต้อง: ต้นทางอาจส่งถูกต้อง "
                       "แต่ถูกแก้ไขระหว่างส่งต่อ ให้เจ้าหน้าที่พิจารณา")
        elif m.method == "arc" and m.result == "fail":
            out.append("ARC ไม่ผ่าน: ห่วงโซ่การส่งต่อ (ARC) ไม่ถูกต้อง")
    if result is AuthResult.NONE and not out:
        named = from_domain or "ของผู้ส่ง"
        out.append(f"โดเมน {named} ไม่ได้ประกาศ SPF/DKIM/DMARC ให้ตรวจสอบ (none)")
    if result is AuthResult.TEMPERROR and not any(r.startswith(DNS_DOWN) for r in out):
        out.append(DNS_DOWN)
    return tuple(dict.fromkeys(thai_domains(r) for r in out))  # a Thai domain as the clerk knows it
