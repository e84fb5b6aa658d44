"""Test senders that publish SPF, DKIM and DMARC in a tests/dnsserver.py zone and sign their
mail with dkimpy (RSA keys made here with cryptography), and forwarders that seal with ARC."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.dnsserver import DnsServer


@functools.lru_cache(maxsize=8)
def rsa_key(n: int = 0, bits: int = 1024) -> tuple[bytes, str]:
    """(PKCS#1 private key PEM, public key base64 for p=); `n` names a distinct key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption())
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    import base64

    return pem, base64.b64encode(der).decode()


@dataclass
class Sender:
    """A domain with its records; `sign` as its outgoing server would."""

    domain: str
    selector: str = "s1"
    key_no: int = 0

    @property
    def key(self) -> bytes:
        return rsa_key(self.key_no)[0]

    def publish(self, dns: DnsServer, *, spf: str | None = None, dmarc: str | None = None,
                dkim_key: bool = True) -> Sender:
        if spf is not None:
            dns.add(self.domain, "TXT", spf)
        if dmarc is not None:
            dns.add(f"_dmarc.{self.domain}", "TXT", dmarc)
        if dkim_key:
            dns.add(f"{self.selector}._domainkey.{self.domain}", "TXT",
                    f"v=DKIM1; k=rsa; p={rsa_key(self.key_no)[1]}")
        return self

    def sign(self, raw: bytes, *, domain: str | None = None) -> bytes:
        header = dkim.sign(raw, self.selector.encode(), (domain or self.domain).encode(), self.key,
                           include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
        return header + raw

    def arc_seal(self, raw: bytes, srv_id: str) -> bytes:
        """ARC-seal `raw` (which carries this forwarder's Authentication-Results `srv_id`)."""
        lines = dkim.arc_sign(raw, self.selector.encode(), self.domain.encode(), self.key,
                              srv_id.encode(), include_headers=[b"from", b"to", b"subject"])
        assert lines, "dkimpy found no Authentication-Results of the forwarder to seal"
        return b"".join(lines) + raw


def letter(frm: str = "สป.มท. <saraban@moi.go.th>", *, to: str = "saraban@agency.test",
           subject: str = "ขอเชิญประชุม", body: str = "เรียน ผู้อำนวยการ\r\n", extra: str = "") -> bytes:
    return (f"From: {frm}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: Mon, 23 Nov 2026 09:00:00 +0700\r\n"
            f"Message-ID: <m1@moi.go.th>\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n{extra}\r\n{body}").encode()
