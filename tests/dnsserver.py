"""A real DNS server in the test process (dnslib) on 127.0.0.1, with a zone from a dict.

    with DnsServer({"moi.go.th": [("TXT", "v=spf1 ip4:192.0.2.10 -all")]}) as dns:
        settings = make_settings(tmp, authentication={"dns_servers": [dns.address]})

Names are answered exactly (no wildcards); a name with no records is NXDOMAIN, a name with
records of another type an empty answer. `servfail = True` answers SERVFAIL to everything
(a broken resolver); `stop()` closes the socket (DNS down: queries time out). Long TXT values
(DKIM keys) are split into 255-byte strings as a zone file would.

`quiet_dns()`: one process-wide server with an empty zone, which tests/conftest.make_settings
points every test gateway at, so no test ever asks the real internet.
"""

from __future__ import annotations

import threading
from typing import Any

from dnslib import AAAA, MX, PTR, QTYPE, RCODE, RR, TXT, A, DNSLabel, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer

Zone = dict[str, list[tuple[str, Any]]]

_TYPES = {"A": A, "AAAA": AAAA, "TXT": None, "MX": None, "PTR": PTR}


def _rdata(rtype: str, value: Any) -> Any:
    if rtype == "TXT":
        data = value.encode() if isinstance(value, str) else bytes(value)
        return TXT([data[i:i + 255] for i in range(0, len(data), 255)] or [b""])
    if rtype == "MX":
        pref, host = value
        return MX(host, pref)
    return _TYPES[rtype](value)


class _Resolver(BaseResolver):  # type: ignore[misc]
    def __init__(self, server: DnsServer) -> None:
        self.server = server

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        reply = request.reply()
        self.server.queries += 1
        if self.server.servfail:
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        qname = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE[request.q.qtype]
        records = self.server.zone.get(qname)
        if not records:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        for rtype, value in records:
            if rtype == qtype:
                reply.add_answer(RR(DNSLabel(qname), getattr(QTYPE, rtype), rdata=_rdata(rtype, value),
                                    ttl=300))
        return reply


class DnsServer:
    """dnslib's UDP server on 127.0.0.1, a random port, in a thread."""

    def __init__(self, zone: Zone | None = None) -> None:
        self.zone: Zone = {k.lower().rstrip("."): list(v) for k, v in (zone or {}).items()}
        self.servfail = False
        self.queries = 0
        self._server = DNSServer(_Resolver(self), address="127.0.0.1", port=0,
                                 logger=DNSLogger(log="-recv,-send,-request,-reply,-truncated,-data",
                                                  logf=lambda _s: None))
        self.port: int = self._server.server.server_address[1]
        self.address = f"127.0.0.1:{self.port}"
        self._running = False

    def add(self, name: str, rtype: str, value: Any) -> None:
        self.zone.setdefault(name.lower().rstrip("."), []).append((rtype, value))

    def start(self) -> DnsServer:
        # a short poll: stop() returns at once instead of after socketserver's half second
        threading.Thread(target=self._server.server.serve_forever, kwargs={"poll_interval": 0.02},
                         daemon=True, name=f"dns-{self.port}").start()
        self._running = True
        return self

    def stop(self) -> None:
        """DNS down: the socket is closed, nothing answers."""
        if self._running:
            self._server.stop()
            self._server.server.server_close()
            self._running = False

    def __enter__(self) -> DnsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


_quiet: DnsServer | None = None
_quiet_lock = threading.Lock()


def quiet_dns() -> str:
    """The address of the process-wide empty-zone server (started on first use)."""
    global _quiet
    with _quiet_lock:
        if _quiet is None:
            _quiet = DnsServer().start()
        return _quiet.address
