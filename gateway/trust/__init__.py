"""Who may make the gateway act: sender authentication (SPF, DKIM, DMARC, ARC), the
channels that prove a clerk, tokens that prove a reply, and what never leaves by mail.

`SenderAuth` is the verdict on one message's sender, as read from the
`Authentication-Results` header the gateway (or the agency's own MX, when trusted) wrote on
the stored raw message. It is a value: the classification table (gateway/core/classify.py)
decides on it, the store keeps it (letters.sender_auth), the clerk reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["AuthResult", "SenderAuth"]


class AuthResult(StrEnum):
    """The verdict on a sender, worst last (RFC 8601 words)."""

    PASS = "pass"  # DMARC passed: SPF or DKIM passed for a domain aligned with From
    NONE = "none"  # the From domain publishes nothing to check against
    FAIL = "fail"  # a check the domain asks for failed (or the From is not aligned)
    TEMPERROR = "temperror"  # DNS did not answer: never taken as a pass


@dataclass(frozen=True)
class SenderAuth:
    """What the checks found for one message. `method` results use RFC 8601 words."""

    result: AuthResult
    from_domain: str = ""
    spf: str = "none"  # pass | fail | softfail | neutral | none | temperror | permerror
    dkim: str = "none"  # pass | fail | none | temperror | permerror
    dkim_domains: tuple[str, ...] = ()  # d= of every DKIM signature that passed
    dmarc: str = "none"  # pass | fail | none | temperror | permerror
    dmarc_policy: str = ""  # p= of the From domain's record: none | quarantine | reject
    arc: str = "none"  # pass | fail | none | temperror
    judged_by: str = ""  # the authserv-id whose Authentication-Results this was read from
    reasons_th: tuple[str, ...] = ()  # what failed, in Thai, for the clerk
    # the method results as written in Authentication-Results ("spf=pass smtp.mailfrom=…")
    results: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.result is AuthResult.PASS

    def to_json(self) -> dict[str, Any]:
        return {"result": self.result.value, "from_domain": self.from_domain, "spf": self.spf,
                "dkim": self.dkim, "dkim_domains": list(self.dkim_domains), "dmarc": self.dmarc,
                "dmarc_policy": self.dmarc_policy, "arc": self.arc, "judged_by": self.judged_by,
                "reasons_th": list(self.reasons_th), "results": list(self.results)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SenderAuth:
        return cls(AuthResult(data["result"]), data.get("from_domain", ""), data.get("spf", "none"),
                   data.get("dkim", "none"), tuple(data.get("dkim_domains", ())),
                   data.get("dmarc", "none"), data.get("dmarc_policy", ""), data.get("arc", "none"),
                   data.get("judged_by", ""), tuple(data.get("reasons_th", ())),
                   tuple(data.get("results", ())))
