"""What the command modules share: who acts, the store a command works on, reading a file.

Like every command module, this one imports at its top only the standard library and the
gateway's light modules (config, errors, thai, state, reports, ...): main.py imports them all to
build the parser, and `--help` must not pay for the store, SQLAlchemy, the mail or PDF code;
those are imported inside the handlers.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from gateway.config import Settings
from gateway.errors import UserError

if TYPE_CHECKING:
    from gateway.store.handle import Store

ACTOR = "cli:" + os.environ.get("USER", "admin")  # the audit log's actor for an administrator
ACTOR_USER = "cli"  # the submission user of `send`, and the actor of `outbox retry`

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Handler = Callable[[argparse.Namespace, Settings], Awaitable[int] | int]


def add_actions(sub: Subparsers, name: str, help: str, dest: str,
                handler: Handler | None = None) -> Subparsers:
    """A command whose ACTION comes next (`db upgrade`, `registers list`), run by `handler`."""
    command = sub.add_parser(name, help=help)
    if handler is not None:
        command.set_defaults(handler=handler)
    return command.add_subparsers(dest=dest, metavar="ACTION", required=True)


@asynccontextmanager
async def command_store(settings: Settings) -> AsyncIterator[Store]:
    """The store from the composition root (schema current, books and units synced), then closed."""
    from gateway.app import opened_store

    async with opened_store(settings) as store:
        yield store


def read_input(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UserError(f"อ่านไฟล์ {path} ไม่ได้: {exc.strerror}",
                        f"cannot read {path}: {exc.strerror}") from None
