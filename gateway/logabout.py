"""What the log lines written now are about: a letter, a message not yet a letter, an outbox
row — carried by a context variable, so that a line written deep inside a library (pypdf's
warning about a sender's broken PDF, pyHanko's) names the letter it was written for.

The gateway sets it around a letter's steps (`about(letter_id=12)`); threads started with
`asyncio.to_thread` inherit it, and a worker process is handed it with each task
(gateway/workers.py). The formatters of gateway/ops/logs.py write it: JSON lines as fields,
text lines as a bracket at the end, for the keys the call itself did not pass in `extra=`.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Mapping
from types import MappingProxyType

__all__ = ["ABOUT", "about", "now_about", "within"]

# The keys a log line may be about (gateway/ops/logs.py keeps them in the JSON).
ABOUT = ("letter_id", "source_key", "mailbox", "outbox_id")

_ABOUT: contextvars.ContextVar[Mapping[str, object]] = contextvars.ContextVar(
    "log_about", default=MappingProxyType({}))


@contextlib.contextmanager
def about(**what: object) -> Iterator[None]:
    """The lines written in this block are about `what` too (the inner block's value of a key
    wins; a None value is left out)."""
    unknown = set(what) - set(ABOUT)
    if unknown:
        raise ValueError(f"not a key a log line is about: {sorted(unknown)}")
    with within({**_ABOUT.get(), **{k: v for k, v in what.items() if v is not None}}):
        yield


def now_about() -> dict[str, object]:
    """What the lines written now are about (plain data: it travels to a worker process)."""
    return dict(_ABOUT.get())


@contextlib.contextmanager
def within(what: Mapping[str, object]) -> Iterator[None]:
    """The lines written in this block are about `what` only: in a worker process, what the
    gateway's were when it handed the task over."""
    token = _ABOUT.set(dict(what))
    try:
        yield
    finally:
        _ABOUT.reset(token)
