"""Password hashes of the submission server's users, and the list of those users.

`hash_password` / `verify_password` are pure (stdlib scrypt, RFC 7914); `load_users` reads
`[submission] users` plus the optional users file, which `saraban-gateway passwd` may edit
while the gateway runs, so the submission server reads it again at each AUTH.

Stored form: ``scrypt$<n>$<r>$<p>$<salt base64>$<hash base64>`` (the pattern of
`SubmissionUser.password_hash`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import unicodedata
from pathlib import Path

from pydantic import ValidationError

from gateway.config import Settings, SubmissionUser
from gateway.errors import ConfigError

N = 2**14
R = 8
P = 1
SALT_BYTES = 32
HASH_BYTES = 32

# Upper bounds on what a stored value may ask for: a hand-edited hash must not make one
# login attempt take gigabytes or minutes.
_MAX_N = 2**20
_MAX_R = 32
_MAX_P = 16


def _encode(password: str) -> bytes:
    # RFC 8265 §4.2 (OpaqueString): passwords are compared after NFC normalisation, so the
    # same Thai password typed on different keyboards/systems gives the same bytes.
    return unicodedata.normalize("NFC", password).encode("utf-8")


def _scrypt(password: bytes, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    # OpenSSL needs 128·r·(n+2) bytes for V plus 128·r·p for B (RFC 7914 §5); its default
    # ceiling (32 MiB) is too small for some valid parameters, so give it what is needed.
    maxmem = 128 * r * (n + 2) + 128 * r * p + 1024 * 1024
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, dklen=dklen, maxmem=maxmem)


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """The stored form of `password`, with a fresh random salt unless one is given."""
    if salt is None:
        salt = os.urandom(SALT_BYTES)
    digest = _scrypt(_encode(password), salt, N, R, P, HASH_BYTES)
    b64 = base64.b64encode
    return f"scrypt${N}${R}${P}${b64(salt).decode('ascii')}${b64(digest).decode('ascii')}"


def verify_password(password: str, stored: str) -> bool:
    """True when `password` matches `stored`; False for a wrong password or a malformed value."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return False
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt = base64.b64decode(parts[4], validate=True)
        expected = base64.b64decode(parts[5], validate=True)
    except (ValueError, binascii.Error):
        return False
    if not (1 < n <= _MAX_N and n & (n - 1) == 0 and 0 < r <= _MAX_R and 0 < p <= _MAX_P):
        return False
    if not salt or not 16 <= len(expected) <= 64:
        return False
    try:
        actual = _scrypt(_encode(password), salt, n, r, p, len(expected))
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(actual, expected)


def users_file_path(settings: Settings) -> Path | None:
    f = settings.submission.users_file
    return None if f is None else settings.base_dir / f


def load_users(settings: Settings) -> dict[str, SubmissionUser]:
    """Every submission user by lower-cased login name: config first, then the users file.

    A name given twice (in config, in the file, or in both) is an error, not an override:
    two password hashes for one login would leave it unclear which password is valid.
    """
    users: dict[str, SubmissionUser] = {}
    for i, user in enumerate(settings.submission.users):
        key = user.name.lower()
        if key in users:
            raise ConfigError(
                f"submission.users[{i}]: ชื่อผู้ใช้ {user.name!r} ซ้ำ",
                f"submission.users[{i}]: duplicate user name {user.name!r}",
            )
        users[key] = user
    path = users_file_path(settings)
    if path is None:
        return users
    unit_codes = {u.code for u in settings.units}
    for lineno, user in _read_users_file(path):
        key = user.name.lower()
        if key in users:
            raise ConfigError(
                f"{path} บรรทัด {lineno}: ชื่อผู้ใช้ {user.name!r} มีอยู่แล้ว (ในไฟล์การตั้งค่าหรือบรรทัดก่อนหน้า)",
                f"{path} line {lineno}: user name {user.name!r} is already defined "
                "(in the config file or an earlier line)",
            )
        if user.unit and user.unit not in unit_codes:
            raise ConfigError(
                f"{path} บรรทัด {lineno}: ไม่มีหน่วยงาน {user.unit!r}",
                f"{path} line {lineno}: no such unit {user.unit!r}",
            )
        users[key] = user
    return users


def _read_users_file(path: Path) -> list[tuple[int, SubmissionUser]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"อ่านไฟล์รายชื่อผู้ใช้ {path} ไม่ได้: {exc.strerror}",
            f"cannot read users file {path}: {exc.strerror}",
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(
            f"{path}: ไฟล์ต้องเข้ารหัส UTF-8", f"{path}: the file must be UTF-8"
        ) from None
    out: list[tuple[int, SubmissionUser]] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = [f.strip() for f in line.split(":")]
        user: SubmissionUser | None = None
        if len(fields) in (2, 3):
            try:
                user = SubmissionUser(
                    name=fields[0],
                    password_hash=fields[1],
                    unit=fields[2] if len(fields) == 3 else "",
                )
            except ValidationError:
                user = None
        if user is None:
            raise ConfigError(
                f"{path} บรรทัด {lineno}: รูปแบบไม่ถูกต้อง ต้องเป็น ชื่อ:รหัสผ่านที่แฮชแล้ว[:หน่วยงาน]",
                f"{path} line {lineno}: malformed line, expected name:password_hash[:unit]",
            )
        out.append((lineno, user))
    return out
