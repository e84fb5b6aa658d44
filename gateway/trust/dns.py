"""The one DNS resolver of sender authentication, built from `[authentication]`.

Every SPF, DKIM, DMARC and ARC query of the gateway goes through a `Resolver` made once by the
composition root (gateway/app.py) from `dns_servers` ("host" or "host:port"; empty: the system's
resolver) and `dns_timeout_seconds`. One message's checks ask through a `Lookup`, which holds
the message's whole time budget: when it is spent, or a server fails or does not answer, the
lookup raises `DnsFailure`, which every check turns into temperror, never into a pass. "No such
name" and "no record of that type" are answers (an empty list), not failures.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import dns.exception
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver

from gateway.config.trust import Authentication, parse_server

__all__ = ["DnsFailure", "Lookup", "Resolver", "parse_server"]

CACHE_ENTRIES = 20_000  # answers kept for their TTL; an MX's resolver would cache them too
TRY_SECONDS = 2.0  # one try at one server; the rest of the budget goes to the next tries


class DnsFailure(Exception):
    """DNS did not answer (timeout, SERVFAIL, refused, no servers, budget spent)."""


class Resolver:
    """dnspython's resolver pointed at the configured servers, with an answer cache."""

    def __init__(self, servers: tuple[str, ...] = (), *, timeout_seconds: float = 5.0,
                 cache: bool = True) -> None:
        self.timeout_seconds = timeout_seconds
        self.servers = servers
        if servers:
            r = dns.resolver.Resolver(configure=False)
            r.nameservers = [dns.nameserver.Do53Nameserver(h, p)
                             for h, p in map(parse_server, servers)]
        else:
            try:
                r = dns.resolver.Resolver()
            except dns.resolver.NoResolverConfiguration:  # no resolv.conf: every query fails
                r = dns.resolver.Resolver(configure=False)
                r.nameservers = []
        r.timeout = min(TRY_SECONDS, timeout_seconds)
        r.lifetime = timeout_seconds
        if cache:
            r.cache = dns.resolver.LRUCache(CACHE_ENTRIES)
        self._r = r

    @classmethod
    def from_settings(cls, auth: Authentication) -> Resolver:
        return cls(auth.dns_servers, timeout_seconds=auth.dns_timeout_seconds)

    def describe(self) -> str:
        return ", ".join(self.servers) if self.servers else "system (" + ", ".join(
            str(n) for n in self._r.nameservers) + ")"

    def lookup(self, budget_seconds: float | None = None) -> Lookup:
        """The DNS of one message: at most `budget_seconds` in all (default: the timeout)."""
        return Lookup(self, time.monotonic() + (budget_seconds or self.timeout_seconds))

    def resolve(self, name: str, rdtype: str, lifetime: float) -> list[object]:
        if not self._r.nameservers:
            raise DnsFailure("no DNS server configured")
        try:
            answer = self._r.resolve(name, rdtype, lifetime=lifetime, search=False,
                                     raise_on_no_answer=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except dns.resolver.LifetimeTimeout as exc:
            raise DnsFailure(f"{name} {rdtype}: timed out") from exc
        except dns.resolver.NoNameservers as exc:  # SERVFAIL, REFUSED, unreachable
            raise DnsFailure(f"{name} {rdtype}: no server answered") from exc
        except (dns.exception.DNSException, OSError) as exc:
            raise DnsFailure(f"{name} {rdtype}: {exc}") from exc
        return list(answer.rrset or ())

    def answers(self, name: str = "_dmarc.example", timeout: float | None = None) -> str | None:
        """One bounded query (for `check`): None when the server answered, else why not."""
        try:
            self.resolve(name, "TXT", timeout or self.timeout_seconds)
        except DnsFailure as exc:
            return str(exc)
        return None


@dataclass
class Lookup:
    """One message's queries, all within one deadline (time.monotonic)."""

    resolver: Resolver
    deadline: float
    queries: int = 0

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def _ask(self, name: str, rdtype: str) -> list[object]:
        left = self.remaining()
        if left <= 0:
            raise DnsFailure(f"{name} {rdtype}: the time for this message's DNS is spent")
        self.queries += 1
        return self.resolver.resolve(name, rdtype, left)

    def txt(self, name: str) -> list[bytes]:
        """Each TXT record's strings joined (RFC 7208 3.3, RFC 6376 3.6.2.2)."""
        return [b"".join(r.strings) for r in self._ask(name, "TXT")]  # type: ignore[attr-defined]

    def addresses(self, name: str, rdtype: str = "A") -> list[str]:
        return [r.address for r in self._ask(name, rdtype)]  # type: ignore[attr-defined]

    def mx(self, name: str) -> list[tuple[int, str]]:
        return [(r.preference, r.exchange.to_text(omit_final_dot=True))  # type: ignore[attr-defined]
                for r in self._ask(name, "MX")]

    def ptr(self, name: str) -> list[str]:
        return [r.target.to_text(omit_final_dot=True) for r in self._ask(name, "PTR")]  # type: ignore[attr-defined]
