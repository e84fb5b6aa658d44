"""A CA that publishes revocation: root → intermediate → signers, with a CRL and an OCSP
responder served over HTTP on 127.0.0.1 by an in-process server (issue #18).

The certificates name the server's URLs (AIA OCSP, CRL distribution points), so the server
is started first and the PKI made for its port. EC P-256 keys: quick to generate.
`RevokingCa.mode` switches the server between answering, refusing (HTTP 503: the CA is "down")
and hanging (answering only after `hang_seconds`).
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from tests.pdfgen.pki import VALID_FROM, VALID_UNTIL

# CRLs and OCSP answers are current for this long either side of `now` and of the real time:
# poppler's pdfsig (not Python) reads the real clock, while the tests' `now` may be shifted by
# `scripts/test --at` (tests/timeshift: SARABAN_TIME_SHIFT seconds), months or years away.
WINDOW = dt.timedelta(days=90)


def _real(now: dt.datetime) -> dt.datetime:
    return now - dt.timedelta(seconds=float(os.environ.get("SARABAN_TIME_SHIFT") or 0))

Mode = Literal["up", "down", "hang"]


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "TH"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Saraban Revocation Tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@dataclass
class Party:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey = field(repr=False)


@dataclass
class RevokingCa:
    base: str  # http://127.0.0.1:<port>
    now: dt.datetime
    root: Party
    intermediate: Party
    signers: dict[str, Party]
    revoked: set[int] = field(default_factory=set)  # serial numbers
    mode: Mode = "up"
    hang_seconds: float = 2.0
    requests: list[str] = field(default_factory=list)  # paths asked for, in order

    @property
    def root_pem(self) -> bytes:
        return self.root.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def since(self) -> dt.datetime:
        """The start of what CRLs and OCSP answers cover, and every revocation's date."""
        return min(self.now, _real(self.now)) - WINDOW

    @property
    def until(self) -> dt.datetime:
        return max(self.now, _real(self.now)) + WINDOW

    def revoke(self, who: str) -> None:  # revoked at `since`
        self.revoked.add(self.signers[who].cert.serial_number)

    def crl(self, issuer: Party, serials: set[int]) -> bytes:
        b = (x509.CertificateRevocationListBuilder().issuer_name(issuer.cert.subject)
             .last_update(self.since)
             .next_update(self.until)
             .add_extension(x509.CRLNumber(1), critical=False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                 issuer.key.public_key()), critical=False))
        for serial in sorted(serials):
            b = b.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial)
                .revocation_date(self.since).build())
        return b.sign(issuer.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

    def ocsp_response(self, request_der: bytes) -> bytes:
        req = ocsp.load_der_ocsp_request(request_der)
        cert = next(p.cert for p in self.signers.values()
                    if p.cert.serial_number == req.serial_number)
        revoked = cert.serial_number in self.revoked
        b = ocsp.OCSPResponseBuilder().add_response(
            cert=cert, issuer=self.intermediate.cert, algorithm=req.hash_algorithm,
            cert_status=ocsp.OCSPCertStatus.REVOKED if revoked else ocsp.OCSPCertStatus.GOOD,
            this_update=self.since,
            next_update=self.until,
            revocation_time=self.since if revoked else None,
            revocation_reason=x509.ReasonFlags.key_compromise if revoked else None,
        ).responder_id(ocsp.OCSPResponderEncoding.HASH, self.intermediate.cert)
        return b.sign(self.intermediate.key, hashes.SHA256()).public_bytes(
            serialization.Encoding.DER)

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, str, bytes]:
        self.requests.append(path)
        if self.mode == "down":
            return 503, "text/plain", b"down"
        if self.mode == "hang":
            time.sleep(self.hang_seconds)
        if path == "/root.crl":
            return 200, "application/pkix-crl", self.crl(self.root, set())
        if path == "/int.crl":
            return 200, "application/pkix-crl", self.crl(self.intermediate, self.revoked)
        if path == "/ocsp" and method == "POST":
            return 200, "application/ocsp-response", self.ocsp_response(body)
        if path.startswith("/ocsp/") and method == "GET":  # RFC 6960 A.1, as NSS asks first
            request = base64.b64decode(urllib.parse.unquote(path[len("/ocsp/"):]))
            return 200, "application/ocsp-response", self.ocsp_response(request)
        return 404, "text/plain", b"no such thing"


def _issue(subject: x509.Name, key: ec.EllipticCurvePrivateKey, issuer: Party | None, *,
           ca: bool, base: str, ocsp_url: bool = False, crl: str | None = None) -> Party:
    issuer_name = issuer.cert.subject if issuer else subject
    issuer_key = issuer.key if issuer else key
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(VALID_FROM).not_valid_after(VALID_UNTIL)
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
         .add_extension(x509.KeyUsage(
             digital_signature=True, content_commitment=not ca, key_encipherment=False,
             data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
             encipher_only=False, decipher_only=False), critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                        critical=False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
             issuer_key.public_key()), critical=False))
    if ocsp_url:
        b = b.add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
            AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(f"{base}/ocsp"))]),
            critical=False)
    if crl:
        b = b.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
            full_name=[x509.UniformResourceIdentifier(f"{base}{crl}")], relative_name=None,
            reasons=None, crl_issuer=None)]), critical=False)
    return Party(b.sign(issuer_key, hashes.SHA256()), key)


def _handler(ca: RevokingCa) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self, method: str) -> None:
            size = int(self.headers.get("Content-Length") or 0)
            status, ctype, body = ca.answer(method, self.path, self.rfile.read(size))
            try:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:  # the client gave up (timeout): nobody to answer
                pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self._serve("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._serve("POST")

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    return Handler


@contextmanager
def revoking_ca(now: dt.datetime) -> Iterator[RevokingCa]:
    """The CA and its HTTP server on 127.0.0.1; signers: "both" (OCSP + CRL), "crl" (CRL
    only), "ocsp" (OCSP only)."""
    holder: list[RevokingCa] = []

    class Late(BaseHTTPRequestHandler):  # the CA needs the port; the handler needs the CA
        def __init__(self, *args: object, **kw: object) -> None:
            _handler(holder[0])(*args, **kw)  # type: ignore[arg-type]

    server = ThreadingHTTPServer(("127.0.0.1", 0), Late)
    server.daemon_threads = True
    base = f"http://127.0.0.1:{server.server_address[1]}"
    root = _issue(_name("Saraban Revocation Test Root"), _key(), None, ca=True, base=base)
    inter = _issue(_name("Saraban Revocation Test Sub CA"), _key(), root, ca=True, base=base,
                   crl="/root.crl")
    signers = {
        "both": _issue(_name("ผู้ลงนาม สอง"), _key(), inter, ca=False, base=base,
                       ocsp_url=True, crl="/int.crl"),
        "crl": _issue(_name("ผู้ลงนาม CRL"), _key(), inter, ca=False, base=base,
                      crl="/int.crl"),
        "ocsp": _issue(_name("ผู้ลงนาม OCSP"), _key(), inter, ca=False, base=base,
                       ocsp_url=True),
    }
    holder.append(RevokingCa(base, now, root, inter, signers))
    thread = threading.Thread(target=server.serve_forever, daemon=True, name="revoking-ca")
    thread.start()
    try:
        yield holder[0]
    finally:
        server.shutdown()
        server.server_close()
