"""A real RFC 3161 timestamp authority over HTTP on 127.0.0.1, for PAdES B-T tests.

The HTTP side is the standard library's server; the token is made by pyHanko's
DummyTimeStamper with the test PKI's TSA certificate. Started and stopped by the test
that needs it (a context manager), bound to an ephemeral loopback port.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from asn1crypto import tsp
from pyhanko.sign.timestamps import DummyTimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore

from .pki import Pki
from .signed import asn1_cert, asn1_key


@contextmanager
def running_tsa(pki: Pki) -> Iterator[str]:
    """Yield the URL of a TSA that timestamps every request; count in `.requests`."""
    stamper = DummyTimeStamper(
        tsa_cert=asn1_cert(pki.tsa_cert),
        tsa_key=asn1_key(pki.tsa_key),
        certs_to_embed=SimpleCertificateStore.from_certs([asn1_cert(pki.ca_cert)]),
    )

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # http.server's naming
            length = int(self.headers.get("Content-Length", "0"))
            req = tsp.TimeStampReq.load(self.rfile.read(length))
            body = stamper.request_tsa_response(req).dump()
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/tsa"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
