"""The trust roots folder as the IT officer fills it (issue #18): what the gateway loads, what
`check` says about it, and `scripts/trust-roots` installing files after showing fingerprints."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.inbound.context import trust_roots_of
from gateway.pdf.check import Verdict, inspect_pdf
from gateway.pdf.roots import read_roots_folder
from tests.integration.test_cli import CONFIG, cli
from tests.pdfgen.pki import Pki, other_ca_pem

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
NOW = dt.datetime.now(dt.UTC)


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def expired_ca_pem() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Old Root CA")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(dt.datetime(2001, 1, 1, tzinfo=dt.UTC))
            .not_valid_after(dt.datetime(2011, 1, 1, tzinfo=dt.UTC))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return _pem(cert)


def fingerprint(der: bytes) -> str:
    h = hashlib.sha256(der).hexdigest().upper()
    return ":".join(h[i:i + 2] for i in range(0, len(h), 2))


# One file per row: (file name, contents, roots it adds, reported as a problem)
FILES = [
    ("root.pem", lambda p: p.ca_pem, 1, False),
    ("root-again.der", lambda p: p.ca_der, 0, False),  # the same root as DER: loaded once
    ("bundle.crt", lambda p: other_ca_pem() + expired_ca_pem(), 2, False),  # a PEM bundle
    ("signer.cer", lambda p: _pem(p.signer_cert), 0, True),  # not a CA: never a root
    ("broken.pem", lambda p: b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
     0, True),
    ("key.pem", lambda p: b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
     0, True),
    ("empty.der", lambda p: b"", 0, True),
    ("README.txt", lambda p: b"where these came from", 0, False),  # not a certificate name
    (".hidden.pem", lambda p: b"junk", 0, False),
]


@pytest.fixture
def roots_dir(tmp_path: Path, pki: Pki) -> Path:
    folder = tmp_path / "trust"
    folder.mkdir()
    for name, make, _, _ in FILES:
        (folder / name).write_bytes(make(pki))
    return folder


def test_folder_loads_every_root_and_reports_bad_files(roots_dir: Path, pki: Pki) -> None:
    got = read_roots_folder(roots_dir)
    assert len(got.roots) == sum(n for _, _, n, _ in FILES)
    assert sorted(f for f, _ in got.problems) == sorted(n for n, _, _, bad in FILES if bad)
    assert all(reason for _, reason in got.problems)
    assert {r.common_name for r in got.roots} == {"Saraban Test Root CA", "Unrelated Root CA",
                                                 "Old Root CA"}
    mine = next(r for r in got.roots if r.common_name == "Saraban Test Root CA")
    assert mine.sha256 == fingerprint(pki.ca_der)
    # what the gateway validates with: the roots, and the letters' signatures trust them
    ders = trust_roots_of(roots_dir.parent, Path("trust"))
    assert ders is not None and len(ders.ders) == len(got.roots)


def test_loaded_roots_make_signatures_trusted(roots_dir: Path, sender_signed_pdf: bytes) -> None:
    roots = read_roots_folder(roots_dir).ders
    (sig,) = inspect_pdf(sender_signed_pdf, trust_roots=roots, now=NOW).signatures
    assert sig.verdict is Verdict.VALID


def test_missing_folder_is_reported_not_fatal(tmp_path: Path) -> None:
    got = read_roots_folder(tmp_path / "nowhere")
    assert got.roots == () and len(got.problems) == 1


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "config.toml").write_text(CONFIG, encoding="utf-8")
    assert cli(tmp_path, "db", "upgrade").returncode == 0
    return tmp_path


def _configure(site: Path, extra: str) -> None:
    text = CONFIG.replace("[forwarding]", f"[intake]\n{extra}\n\n[forwarding]")
    (site / "config.toml").write_text(text, encoding="utf-8")


def test_check_warns_without_roots(site: Path) -> None:
    r = cli(site, "check")
    assert r.returncode == 0, r.stdout
    assert "⚠ trust roots" in r.stdout and "ไม่ทราบผู้ออกใบรับรอง" in r.stdout
    assert "revocation" in r.stdout and "hard-fail" in r.stdout
    (site / "trust").mkdir()
    _configure(site, 'trust_roots_dir = "trust"')
    r = cli(site, "check")
    assert r.returncode == 0 and "⚠ trust roots" in r.stdout and "ไม่มีใบรับรอง CA" in r.stdout


def test_check_lists_each_root_and_each_bad_file(site: Path, roots_dir: Path) -> None:
    _configure(site, f'trust_roots_dir = "{roots_dir}"\nrevocation = "soft-fail"')
    r = cli(site, "check")
    lines = r.stdout.splitlines()
    mine = [ln for ln in lines if "Saraban Test Root CA" in ln]
    assert len(mine) == 1 and mine[0].startswith("✓ trust root") and "ใช้ได้ถึง 31 ธ.ค. 2642" in mine[0]
    (old,) = [ln for ln in lines if "Old Root CA" in ln]
    assert old.startswith("⚠") and "หมดอายุแล้ว" in old
    for name in ("signer.cer", "broken.pem", "key.pem", "empty.der"):
        (line,) = [ln for ln in lines if name in ln]
        assert line.startswith("✗ trust root"), line
    assert "โหลดใบรับรอง CA 3 ใบ" in r.stdout and "soft-fail" in r.stdout
    assert r.returncode == 1  # a file named as a certificate that is not one: fix the folder


def _script(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SARABAN_PYTHON": sys.executable}
    return subprocess.run([str(REPO / "scripts" / "trust-roots"), *args], input=stdin,
                          capture_output=True, text=True, env=env, timeout=60)


def test_script_shows_fingerprint_then_installs(tmp_path: Path, pki: Pki) -> None:
    src = tmp_path / "thai-root.crt"
    src.write_bytes(pki.ca_der)
    dest = tmp_path / "trust"
    r = _script("--dir", str(dest), str(src), stdin="n\n")  # the officer did not confirm
    assert fingerprint(pki.ca_der) in r.stdout and "Saraban Test Root CA" in r.stdout
    assert r.returncode == 1 and not (dest / "thai-root.crt").exists()
    r = _script("--dir", str(dest), str(src), stdin="y\n")
    assert r.returncode == 0 and (dest / "thai-root.crt").read_bytes() == pki.ca_der
    assert [x.common_name for x in read_roots_folder(dest).roots] == ["Saraban Test Root CA"]


def test_script_refuses_mismatched_fingerprints_and_leaf_certificates(tmp_path: Path,
                                                                      pki: Pki) -> None:
    root, leaf = tmp_path / "root.pem", tmp_path / "leaf.pem"
    root.write_bytes(pki.ca_pem)
    leaf.write_bytes(_pem(pki.signer_cert))
    dest = tmp_path / "trust"
    r = _script("--dir", str(dest), "--sha256", "00:11:22", str(root))
    assert r.returncode == 1 and not dest.exists()
    r = _script("--dir", str(dest), "--sha256", fingerprint(pki.ca_der).lower(), str(root))
    assert r.returncode == 0 and (dest / "root.pem").exists()
    r = _script("--dir", str(dest), "--yes", str(leaf))
    assert r.returncode == 1 and not (dest / "leaf.pem").exists()


def test_script_uses_the_configured_folder(tmp_path: Path, pki: Pki) -> None:
    (tmp_path / "config.toml").write_text('[intake]\ntrust_roots_dir = "roots"\n', encoding="utf-8")
    (tmp_path / "ca.pem").write_bytes(pki.ca_pem)
    env = {**os.environ, "SARABAN_PYTHON": sys.executable,
           "SARABAN_CONFIG": str(tmp_path / "config.toml")}
    r = subprocess.run([str(REPO / "scripts" / "trust-roots"), "--yes", str(tmp_path / "ca.pem")],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "roots" / "ca.pem").exists()
