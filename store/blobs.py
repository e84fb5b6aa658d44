"""Content-addressed files on disk: raw messages, letters, stamped copies, composed mails.

A blob's name is the sha256 of its bytes, so it can never be altered without
changing its name, and storing the same bytes twice is a no-op. Writes go
tmp → fsync → rename → fsync(dir), and fsync of the parent of a directory just made
(architecture.md, durability rule 1): after
`put` returns, the bytes survive a power cut. Paths are made only from the hex
digest, never from a name someone sent us.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, digest: str) -> Path:
        if not _HEX64.match(digest):
            raise ValueError(f"not a sha256 hex digest: {digest!r}")
        return self.root / digest[:2] / digest[2:4] / digest

    def exists(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def put(self, data: bytes, *, digest: str | None = None) -> str:
        """Store `data` durably and return its sha256; idempotent. `digest`: the sha256 the
        caller has just computed from these bytes (it names the file; `get` checks it)."""
        digest = digest or sha256_hex(data)
        final = self.path(digest)
        if final.is_file() and final.stat().st_size == len(data):
            return digest
        made = [d for d in (final.parent.parent, final.parent) if not d.is_dir()]
        for d in made:
            d.mkdir(exist_ok=True, parents=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=final.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o440)  # never altered after it is written
            os.replace(tmp, final)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(final.parent)
        for d in reversed(made):  # a new directory's name is durable once its parent is synced
            _fsync_dir(d.parent)
        return digest

    def sizes(self) -> dict[str, int]:
        """Every blob in the folder: sha256 → size (temporary files and strays left out)."""
        found: dict[str, int] = {}
        if not self.root.is_dir():
            return found
        for top in os.scandir(self.root):
            if not (top.is_dir() and len(top.name) == 2):
                continue
            for sub in os.scandir(top.path):
                if not (sub.is_dir() and len(sub.name) == 2):
                    continue
                for f in os.scandir(sub.path):
                    name = f.name
                    if _HEX64.match(name) and name[:2] == top.name and name[2:4] == sub.name and f.is_file():
                        found[name] = f.stat().st_size
        return found

    def get(self, digest: str) -> bytes:
        data = self.path(digest).read_bytes()
        if sha256_hex(data) != digest:
            raise OSError(f"blob {digest} is corrupt on disk (content does not match its name)")
        return data


def fsync_dir(path: Path) -> None:
    """The names in a folder made durable (after a rename into it, or a new entry)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_fsync_dir = fsync_dir  # what put() calls (tests/integration/test_store_files.py watches it)
