"""Blobs on disk and the schema: content-addressed, durable, read-only; migrations match the models."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from gateway.store.blobs import BlobStore
from gateway.store.tables import Base

pytestmark = pytest.mark.integration


def test_blob_is_named_by_its_hash_and_written_once(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "blobs")
    data = "หนังสือราชการ".encode() * 1000
    digest = blobs.put(data)
    assert digest == hashlib.sha256(data).hexdigest()
    path = blobs.path(digest)
    assert path.read_bytes() == data and path.parent.parent.parent == tmp_path / "blobs"
    assert not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)  # never altered
    mtime = path.stat().st_mtime_ns
    assert blobs.put(data) == digest and path.stat().st_mtime_ns == mtime  # idempotent
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".tmp-")]


def test_blob_corruption_is_detected_and_names_are_never_paths(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    digest = blobs.put(b"%PDF-1.7 original")
    p = blobs.path(digest)
    p.chmod(0o640)
    p.write_bytes(b"%PDF-1.7 altered!")
    with pytest.raises(OSError, match="corrupt"):
        blobs.get(digest)
    for bad in ("../../etc/passwd", "a" * 63, "A" * 64, digest[:-1] + "/"):
        with pytest.raises(ValueError):
            blobs.path(bad)


async def test_migrations_match_the_models(store) -> None:
    def diff(conn):  # type: ignore[no-untyped-def]
        return compare_metadata(MigrationContext.configure(conn), Base.metadata)

    async with store.engine.connect() as conn:
        changes = await conn.run_sync(diff)
    assert changes == []


def test_a_new_directory_is_made_durable_in_its_parent(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A blob in directories made for it survives a power cut only if those directories'
    names are synced too (fsync of each new directory's parent), not only the file and its
    own directory."""
    import gateway.store.blobs as blobs_module

    synced: list[Path] = []
    real = blobs_module._fsync_dir

    def spy(path: Path) -> None:
        synced.append(Path(path))
        real(path)

    monkeypatch.setattr(blobs_module, "_fsync_dir", spy)
    root = tmp_path / "blobs"
    root.mkdir()
    blobs = BlobStore(root)
    digest = blobs.put(b"%PDF-1.7 first")
    leaf = blobs.path(digest).parent
    assert set(synced) == {leaf, leaf.parent, root}  # the file's, and both new names'
    synced.clear()
    twin = next(d for d in (hashlib.sha256(str(n).encode()).hexdigest() for n in range(10**6))
                if d[:4] == digest[:4] and d != digest)  # same directories: nothing new
    blobs.put(b"", digest=twin)
    assert synced == [leaf]
