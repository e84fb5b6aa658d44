"""pyspf's DNS hook, routed through the gateway's resolver (its one module-level use).

pyspf looks every name up through the module function `spf.DNSLookup(name, qtype, strict,
timeout)`, by default with dnspython's *global* resolver: the designed way to change that is to
replace the function. It is replaced once, here, by one that asks the `Lookup` of the message
being checked (a context variable, so checks in parallel threads do not mix) and raises
pyspf's TempError when DNS fails or no lookup is set, so nothing ever reaches the system's
resolver behind the settings' back. tests/unit/test_dependency_internals.py checks that the
installed pyspf still calls the hook this way.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

import spf

from gateway.trust.dns import DnsFailure, Lookup

__all__ = ["install", "spf_check", "spf_lookup"]

_current: contextvars.ContextVar[Lookup | None] = contextvars.ContextVar("spf_lookup", default=None)


def spf_lookup(name: str, qtype: str, strict: Any = True, timeout: Any = None) -> list[Any]:
    """pyspf's DNSLookup contract: [((name, qtype), value)], [] for no such name/record."""
    lookup = _current.get()
    if lookup is None:
        raise spf.TempError("DNS: no resolver for this check")
    try:
        if qtype == "TXT":
            values: list[Any] = [(s,) for s in lookup.txt(name)]  # pyspf joins the strings
        elif qtype in ("A", "AAAA"):
            values = list(lookup.addresses(name, qtype))
        elif qtype == "MX":
            values = list(lookup.mx(name))
        elif qtype == "PTR":
            values = list(lookup.ptr(name))
        else:  # the obsolete SPF type (99): nobody publishes it
            values = []
    except DnsFailure as exc:
        raise spf.TempError(f"DNS {exc}") from exc
    return [((name, qtype), v) for v in values]


def install() -> None:
    """Idempotent: pyspf asks `spf_lookup` from now on."""
    spf.DNSLookup = spf_lookup


@contextlib.contextmanager
def _using(lookup: Lookup) -> Iterator[None]:
    token = _current.set(lookup)
    try:
        yield
    finally:
        _current.reset(token)


def spf_check(lookup: Lookup, *, ip: str, mail_from: str, helo: str) -> tuple[str, str]:
    """SPF (RFC 7208) of `mail_from` (or the HELO name for a null sender) from `ip`:
    (result, explanation), result one of pass fail softfail neutral none temperror permerror."""
    install()
    budget = max(lookup.remaining(), 0.001)
    with _using(lookup):
        result, explanation = spf.check2(i=ip, s=mail_from, h=helo, timeout=budget, querytime=budget)
    return str(result), str(explanation)
