"""The trust roots folder (`[intake] trust_roots_dir`): the CA certificates that incoming
signatures are checked against (issue #18, docs/trust-roots.md).

Every `.pem`, `.crt`, `.cer` and `.der` file in the folder is read, PEM or DER, a PEM file
possibly holding several certificates. A file that is not a CA certificate is reported, with
a Thai reason, and skipped: one bad file never stops the gateway nor hides the good roots.
`saraban-gateway check` prints what was loaded; `scripts/trust-roots` installs files here.
"""

from __future__ import annotations

import hashlib
import logging
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from asn1crypto import pem, x509

__all__ = ["CERT_SUFFIXES", "RootCert", "RootsFolder", "describe", "parse_certificates",
           "read_roots_folder"]

log = logging.getLogger(__name__)

CERT_SUFFIXES = frozenset({".pem", ".crt", ".cer", ".der"})
MAX_FILE_BYTES = 1024 * 1024  # a bundle of every Thai root is a few tens of kB


@dataclass(frozen=True)
class RootCert:
    file: str  # the file's name in the folder
    der: bytes
    common_name: str
    subject: str  # human-friendly, as asn1crypto prints it
    not_after: datetime
    sha256: str  # fingerprint of the DER, upper-case hex pairs separated by ':'
    is_ca: bool

    def expired(self, now: datetime) -> bool:
        return self.not_after < now


@dataclass(frozen=True)
class RootsFolder:
    folder: Path
    roots: tuple[RootCert, ...]
    problems: tuple[tuple[str, str], ...]  # (file name, Thai reason) for each file skipped

    @property
    def ders(self) -> tuple[bytes, ...]:
        return tuple(r.der for r in self.roots)


def parse_certificates(blob: bytes) -> list[x509.Certificate]:
    """The certificates in one DER or PEM blob (a PEM bundle may hold several).
    Raises ValueError when the blob is not certificates."""
    certs: list[x509.Certificate] = []
    try:
        if pem.detect(blob):
            for kind, _, der in pem.unarmor(blob, multiple=True):
                if kind not in ("CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"):
                    raise ValueError(f"PEM block {kind!r} is not a certificate")
                certs.append(x509.Certificate.load(der))
        else:
            certs.append(x509.Certificate.load(blob))
        for cert in certs:
            _ = cert.native  # force a full parse now, not mid-validation
    except Exception as exc:  # asn1crypto raises assorted types
        raise ValueError(f"not an X.509 certificate: {exc}") from exc
    if not certs:
        raise ValueError("no certificate in the file")
    return certs


def _common_name(cert: x509.Certificate) -> str:
    try:
        cn = cert.subject.native.get("common_name", "")
    except Exception:  # noqa: BLE001 - a strange subject must not sink the listing
        return ""
    return cn[-1] if isinstance(cn, list) else str(cn)


def describe(cert: x509.Certificate, file: str = "") -> RootCert:
    der = cert.dump()
    digest = hashlib.sha256(der).hexdigest().upper()
    try:
        subject = str(cert.subject.human_friendly)
    except Exception:  # noqa: BLE001
        subject = ""
    return RootCert(
        file=file,
        der=der,
        common_name=_common_name(cert),
        subject=subject,
        not_after=cert["tbs_certificate"]["validity"]["not_after"].native,
        sha256=":".join(digest[i:i + 2] for i in range(0, len(digest), 2)),
        is_ca=bool(cert.ca),
    )


def read_roots_folder(folder: Path) -> RootsFolder:
    """Every CA certificate in `folder`; files that cannot be used are listed in `problems`."""
    roots: dict[str, RootCert] = {}
    problems: list[tuple[str, str]] = []
    try:
        files = sorted(p for p in folder.iterdir()
                       if p.suffix.lower() in CERT_SUFFIXES and not p.name.startswith("."))
    except OSError as exc:
        return RootsFolder(folder, (), ((str(folder), f"เปิดโฟลเดอร์ใบรับรองไม่ได้ ({exc.strerror})"),))
    for path in files:
        try:
            if not path.is_file():
                continue
            if path.stat().st_size > MAX_FILE_BYTES:
                problems.append((path.name, "ไฟล์ใหญ่เกินกว่าจะเป็นใบรับรอง"))
                continue
            certs = parse_certificates(path.read_bytes())
        except OSError as exc:
            problems.append((path.name, f"อ่านไฟล์ไม่ได้ ({exc.strerror})"))
            continue
        except ValueError as exc:
            problems.append((path.name, f"ไม่ใช่ใบรับรอง X.509 ({exc})"))
            continue
        for cert in certs:
            root = describe(cert, path.name)
            if not root.is_ca:
                problems.append((path.name, f"{root.common_name or root.subject} ไม่ใช่ใบรับรองของ"
                                            " CA (ใบรับรองผู้ใช้ไม่ใช้เป็นรากที่เชื่อถือ)"))
                continue
            roots.setdefault(root.sha256, root)
    for name, reason in problems:
        log.warning("trust root %s skipped: %s", name, reason)
    return RootsFolder(folder, tuple(roots.values()), tuple(problems))


# --- scripts/trust-roots: install certificate files into the folder ------------------------

def _fingerprint_key(text: str) -> str:
    return "".join(c for c in text.upper() if c in "0123456789ABCDEF")


def _folder_from_config(config: Path) -> Path | None:
    import tomllib

    try:
        data = tomllib.loads(config.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return None
    name = data.get("intake", {}).get("trust_roots_dir")
    return (config.resolve().parent / name) if isinstance(name, str) and name else None


def _show(root: RootCert, issuer: str, self_signed: bool) -> None:
    print(f"  ชื่อ (subject):        {root.subject}")
    print(f"  ผู้ออก (issuer):       {'ตัวเอง (self-signed root)' if self_signed else issuer}")
    print(f"  ใช้ได้ถึง (not after): {root.not_after:%Y-%m-%d %H:%M} UTC")
    print(f"  SHA-256:              {root.sha256}")


def install_main(argv: list[str] | None = None) -> int:
    """Copy certificate files into the trust roots folder, after showing each certificate's
    subject and SHA-256 fingerprint for comparison with what its CA publishes. No network."""
    import argparse
    import os
    import shutil

    ap = argparse.ArgumentParser(
        prog="scripts/trust-roots",
        description="ติดตั้งใบรับรอง CA ลงโฟลเดอร์ trust_roots_dir หลังแสดงชื่อและลายนิ้วมือ SHA-256 "
                    "(install CA certificates after showing subject and SHA-256 fingerprint)")
    ap.add_argument("files", nargs="+", type=Path, help="ไฟล์ใบรับรอง .pem .crt .cer .der")
    ap.add_argument("--dir", type=Path, help="โฟลเดอร์ปลายทาง (default: [intake] trust_roots_dir "
                    "of $SARABAN_CONFIG or ./config.toml)")
    ap.add_argument("--sha256", action="append", default=[], metavar="FINGERPRINT",
                    help="ลายนิ้วมือที่ผู้ออกประกาศ: คัดลอกเฉพาะใบที่ตรง (copy only matching ones)")
    ap.add_argument("--yes", action="store_true", help="ไม่ต้องถามยืนยัน (do not ask)")
    args = ap.parse_args(argv)
    folder = args.dir or _folder_from_config(Path(os.environ.get("SARABAN_CONFIG", "config.toml")))
    if folder is None:
        print("ไม่ทราบโฟลเดอร์ปลายทาง: ใส่ --dir หรือตั้ง [intake] trust_roots_dir ใน config.toml "
              "(no destination: give --dir or set trust_roots_dir)", file=sys.stderr)
        return 2
    wanted = {_fingerprint_key(f) for f in args.sha256}
    failed = 0
    for path in args.files:
        print(f"{path}:")
        try:
            certs = parse_certificates(path.read_bytes())
        except (OSError, ValueError) as exc:
            print(f"  ✗ อ่านเป็นใบรับรองไม่ได้ (not a certificate): {exc}")
            failed += 1
            continue
        ok = True
        for cert in certs:
            root = describe(cert, path.name)
            _show(root, str(cert.issuer.human_friendly), cert.self_signed != "no")
            if not root.is_ca:
                print("  ✗ ไม่ใช่ใบรับรองของ CA (an end-entity certificate is not a root)")
                ok = False
            elif wanted and _fingerprint_key(root.sha256) not in wanted:
                print("  ✗ ลายนิ้วมือไม่ตรงกับที่ระบุใน --sha256 (fingerprint does not match)")
                ok = False
        if not ok:
            failed += 1
            continue
        target = folder / (path.name if path.suffix.lower() in CERT_SUFFIXES else path.name + ".pem")
        if target.exists() and target.read_bytes() != path.read_bytes():
            print(f"  ✗ มีไฟล์ชื่อ {target.name} อยู่แล้วแต่เนื้อหาต่างกัน (different file exists)")
            failed += 1
            continue
        if not (args.yes or wanted):
            answer = input("  ตรงกับลายนิ้วมือที่ผู้ออกใบรับรองประกาศหรือไม่? คัดลอก [y/N] ")
            if answer.strip().lower() not in ("y", "yes", "ใช่"):
                print("  – ข้าม (skipped)")
                failed += 1
                continue
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        print(f"  ✓ คัดลอกไปที่ {target} (installed)")
    print("ตรวจผลด้วย: saraban-gateway check (then run check)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(install_main())
