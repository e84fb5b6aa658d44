"""A file a command writes (a register export, a printed register, a hand-over sheet, the
monthly statistics): whole or not at all. It is written under a temporary name beside it and
renamed over the target once complete, so a command that fails half-way (the database gone,
the disk full, Ctrl-C) leaves no truncated file that looks like a finished register, and an
older file of that name stays as it was."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from gateway.errors import UserError

__all__ = ["output_file"]


@contextmanager
def output_file(path: Path) -> Iterator[BinaryIO]:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        file = tmp.open("wb")
    except OSError as exc:
        raise UserError(f"เขียนไฟล์ {path} ไม่ได้: {exc.strerror}",
                        f"cannot write {path}: {exc.strerror}") from None
    try:
        with file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
