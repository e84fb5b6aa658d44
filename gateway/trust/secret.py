"""The per-install secret: what the gateway signs its own mail and its reply tokens with.

From the environment variable SARABAN_SECRET when it is set (several gateways sharing one
store must share it), else a random key made once and kept in `<data>/secret.key` (mode 0600,
created atomically; never in config.toml). Loaded by the composition root (gateway/app.py)
and carried on the Store. Losing the file means the gateway no longer recognises mail it sent
before (its own copies then come back as ordinary mail); replies still find their forwards
and recipients by the tokens kept in the store.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gateway.errors import ConfigError

__all__ = ["ENV", "FILE", "InstallSecret", "load_secret"]

ENV = "SARABAN_SECRET"
FILE = "secret.key"
MIN_CHARS = 16
MIN_MAC_DIGITS = 24  # a MAC shortened to fit a header line is still 96 bits


@dataclass(frozen=True)
class InstallSecret:
    """A key that signs; it never shows in a repr or a log."""

    key: bytes = field(repr=False)

    def sign(self, purpose: str, *parts: str) -> str:
        """HMAC-SHA256 of `parts` for one `purpose` (never the same MAC for two uses), hex."""
        data = "\0".join((purpose, *parts)).encode("utf-8", "surrogateescape")
        return hmac.new(self.key, data, hashlib.sha256).hexdigest()[:32]

    def verify(self, signature: str, purpose: str, *parts: str) -> bool:
        """Whether `signature` is sign()'s, or its first 24 digits or more (96 bits)."""
        given = signature.strip().lower().encode("ascii", "replace")
        if len(given) < MIN_MAC_DIGITS:
            return False
        return hmac.compare_digest(given, self.sign(purpose, *parts).encode()[:len(given)])


def load_secret(data_dir: Path, environ: Mapping[str, str] | None = None) -> InstallSecret:
    """The install's secret: SARABAN_SECRET, else <data>/secret.key (made once, 0600)."""
    env = os.environ if environ is None else environ
    given = env.get(ENV, "")
    if given:
        if len(given.strip()) < MIN_CHARS:
            raise ConfigError(f"{ENV} สั้นเกินไป ต้องยาวอย่างน้อย {MIN_CHARS} ตัวอักษร",
                              f"{ENV} is too short: at least {MIN_CHARS} characters")
        return InstallSecret(given.strip().encode("utf-8"))
    path = data_dir / FILE
    key = _read(path)
    if key is None:
        key = _create(path)
    return InstallSecret(key)


def _read(path: Path) -> bytes | None:
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"อ่านกุญแจลับของระบบ {path} ไม่ได้: {exc}",
                          f"cannot read the install secret {path}: {exc}") from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) < 32:
        raise ConfigError(f"ไฟล์กุญแจลับของระบบ {path} เสียหาย (ไม่ใช่ตัวเลขฐานสิบหก 64 ตัว)",
                          f"the install secret {path} is damaged (not 64 hex digits)")
    return key


def _create(path: Path) -> bytes:
    """A new random key, written whole under a temporary name and linked into place, so a
    reader never sees half a file; when another process made one first, that one is kept."""
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            os.fchmod(fh.fileno(), 0o600)
            fh.write(key.hex() + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            theirs = _read(path)
            assert theirs is not None
            return theirs
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    finally:
        tmp.unlink(missing_ok=True)
    return key
