"""What a log line is about (gateway/logabout.py), as the formatters of gateway/ops/logs.py
write it: a JSON field, or a bracket at the end of a text line for what the call did not say."""

from __future__ import annotations

import asyncio
import json
import logging
import pickle
import sys

import pytest

from gateway.logabout import about, now_about, within
from gateway.ops.logs import TextFormatter, json_formatter


def _record(msg: str = "incorrect startxref pointer(1)", *, exc: bool = False,
            **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("pypdf._reader", logging.WARNING, __file__, 1, msg, None,
                               sys.exc_info() if exc else None)
    record.__dict__.update(extra)
    return record


def test_blocks_nest_and_end() -> None:
    assert now_about() == {}
    with about(mailbox="central"):
        with about(source_key="imap:central:7:12"):
            with about(letter_id=12, outbox_id=None):
                assert now_about() == {"mailbox": "central", "source_key": "imap:central:7:12",
                                       "letter_id": 12}
            assert now_about() == {"mailbox": "central", "source_key": "imap:central:7:12"}
        with within({"letter_id": 3}):  # a worker's task: what the gateway handed over, only
            assert now_about() == {"letter_id": 3}
        assert now_about() == {"mailbox": "central"}
    assert now_about() == {}


def test_an_unknown_key_is_refused() -> None:
    with pytest.raises(ValueError, match="letter"):
        with about(letter=12):
            pass


def test_a_json_line_carries_it_and_what_the_call_passed_wins() -> None:
    fmt = json_formatter()
    with about(mailbox="central", letter_id=12):
        line = json.loads(fmt.format(_record()))
        called = json.loads(fmt.format(_record(letter_id=99)))
    assert (line["letter_id"], line["mailbox"], line["logger"]) == (12, "central", "pypdf._reader")
    assert called["letter_id"] == 99
    assert "letter_id" not in json.loads(fmt.format(_record()))  # outside the block


def test_a_text_line_ends_with_what_the_call_did_not_say() -> None:
    fmt = TextFormatter()
    with about(letter_id=12, outbox_id=4):
        line = fmt.format(_record())
        called = fmt.format(_record("letter 12 sent", letter_id=12))
    assert line.endswith("pypdf._reader: incorrect startxref pointer(1) [letter_id=12 outbox_id=4]")
    assert called.endswith("letter 12 sent [outbox_id=4]")
    assert fmt.format(_record()).endswith("pointer(1)")


def test_a_traceback_comes_after_the_bracket() -> None:
    fmt = TextFormatter()
    try:
        raise ValueError("broken xref")
    except ValueError:
        with about(letter_id=12):
            text = fmt.format(_record(exc=True))
    first, *rest = text.splitlines()
    assert first.endswith("[letter_id=12]") and rest[-1] == "ValueError: broken xref"


def test_a_thread_inherits_it_and_the_formatter_travels_to_a_worker() -> None:
    async def main() -> str:
        with about(letter_id=5):
            return await asyncio.to_thread(TextFormatter().format, _record())

    assert asyncio.run(main()).endswith("[letter_id=5]")
    copy = pickle.loads(pickle.dumps(TextFormatter()))
    with within({"letter_id": 6}):
        assert copy.format(_record()).endswith("[letter_id=6]")
