"""A file a command writes (a register export, a printed register, a hand-over sheet, the
monthly statistics): whole or not at all (gateway/wholefile.py), so a command that fails
half-way leaves no truncated file that looks like a finished register, and an older file of
that name stays as it was; a file that cannot be made is a clear message, in Thai."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import BinaryIO

from gateway.errors import UserError
from gateway.wholefile import whole_file

__all__ = ["output_file"]


@contextmanager
def output_file(path: Path) -> Iterator[BinaryIO]:
    with ExitStack() as stack:
        try:
            file = stack.enter_context(whole_file(path))
        except OSError as exc:
            raise UserError(f"เขียนไฟล์ {path} ไม่ได้: {exc.strerror}",
                            f"cannot write {path}: {exc.strerror}") from None
        yield file
