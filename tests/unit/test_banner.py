"""The start-up banner tells the IT officer what each clerk's mail client needs."""

from __future__ import annotations

from pathlib import Path

from gateway.service import banner
from tests.conftest import make_settings


def test_the_banner_names_the_certificate_the_clients_must_trust(tmp_path: Path) -> None:
    own = banner(make_settings(tmp_path), 2525, submission_port=2587)
    cert = tmp_path / "data" / "tls" / "submission.pem"
    assert f"นำเข้าใบรับรอง {cert}" in own and "เชื่อถือ CA นี้เพื่อระบุเว็บไซต์" in own
    assert f"import the certificate {cert}" in own
    given = banner(make_settings(tmp_path, submission={"cert_file": "cert.pem", "key_file": "key.pem"}),
                   2525, submission_port=2587)
    assert "พอร์ต 2587" in given and "นำเข้าใบรับรอง" not in given  # the agency's own CA: nothing to do
