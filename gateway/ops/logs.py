"""The gateway's log lines: text for a terminal (the default) or one JSON object a line.

A JSON line carries `time` (ISO 8601 with its offset), `level`, `logger`, `message`, and
what the line is about: `letter_id`, `source_key` (a message not yet a letter), `mailbox`,
`outbox_id`, whether the call passed them in `extra=` or the line was written while the
gateway worked on that letter (gateway/logabout.py: a library's line in a reader process too).
A text line ends with the latter in brackets, e.g. `[letter_id=12]`; what a call passed in
`extra=` it says in its message already.
The time is the moment the line was written, taken by `logging` itself; it is not a date of
the register, so it does not go through the injected clock.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from gateway.config import Settings
from gateway.logabout import ABOUT, now_about

__all__ = ["ABOUT", "TEXT_FORMAT", "TextFormatter", "json_formatter", "logging_set_up"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _Formatter(JsonFormatter):
    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord,
                   message_dict: dict[str, Any]) -> None:
        super().add_fields(log_data, record, message_dict)
        # only what the line is about: not every attribute some library hung on the record
        for key in [k for k in log_data if k not in _KEPT]:
            del log_data[key]
        for key, value in now_about().items():  # formatted in the thread that logged
            log_data.setdefault(key, value)


class TextFormatter(logging.Formatter):
    """TEXT_FORMAT, and what the gateway was working on when a line did not say it itself."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        line = super().formatMessage(record)  # before a traceback, if the line has one
        context = [f"{k}={v}" for k, v in now_about().items() if not hasattr(record, k)]
        return f"{line} [{' '.join(context)}]" if context else line


_KEPT = {"time", "level", "logger", "message", "exc_info", "stack_info", *ABOUT}


def json_formatter() -> logging.Formatter:
    return _Formatter(["levelname", "name", "message"], timestamp="time",
                      rename_fields={"levelname": "level", "name": "logger"},
                      json_ensure_ascii=False)


@contextlib.contextmanager
def logging_set_up(settings: Settings) -> Iterator[None]:
    """The configured log format for the length of the block (the gateway's run).

    Text: as `logging.basicConfig` does it (nothing changes where logging is set up already).
    JSON: a handler on stderr in place of a plain stderr one, removed again at the end."""
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command at INFO
    # fontTools logs each step of subsetting the stamp's font at INFO (the whole glyph list),
    # and warns of tables of our own font it drops: nothing an operator acts on
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    root = logging.getLogger()
    if settings.logging.format == "text":
        text = logging.StreamHandler()
        text.setFormatter(TextFormatter())
        logging.basicConfig(level=settings.logging.level, handlers=[text])
        yield
        return
    handler = logging.StreamHandler()
    handler.setFormatter(json_formatter())
    plain = [h for h in root.handlers if type(h) is logging.StreamHandler]
    level = root.level
    for h in plain:
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(settings.logging.level)
    try:
        yield
    finally:
        root.removeHandler(handler)
        for h in plain:
            root.addHandler(h)
        root.setLevel(level)
