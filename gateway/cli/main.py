"""The `saraban-gateway` command line: the administrator's and auditor's entry point.

Every command reads config.toml once, does its work in one transaction where it
changes anything, prints Thai first (English alongside for technical terms),
and exits non-zero with a clear message and nothing changed on bad input.

One module per command group (run, check, db, registers, ...) owns its subparser, in an
`add_parser(subparsers)` that names the group's handler(s) as the `handler` default; this
module only builds the parser from them and calls the handler. Those modules import the
store, SQLAlchemy and the mail and PDF code inside their handlers, so `--help` stays fast
(gateway/cli/common.py says which imports may stand at the top).
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO, cast

from gateway.cli import (
    audit,
    check,
    db,
    directory,
    letter,
    outbox,
    passwd,
    pdf,
    registers,
    report,
    run,
    send,
)
from gateway.cli.failures import explain
from gateway.config import load_settings
from gateway.errors import UserError
from gateway.thai import clean_text

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
EXIT_PIPE = 128 + 13  # as a shell reports a command ended by SIGPIPE


def _default_config() -> Path:
    return Path(os.environ.get("SARABAN_CONFIG", "config.toml"))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="saraban-gateway",
        description=(
            "เกตเวย์ไปรษณีย์อิเล็กทรอนิกส์กลาง งานสารบรรณ: รับหนังสือ ลงทะเบียน ประทับตรารับ ตอบรับ ส่งต่อ\n"
            "Central e-mail gateway for Thai official correspondence."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--config",
        type=Path,
        default=None,
        help="ไฟล์การตั้งค่า (config file; default $SARABAN_CONFIG or ./config.toml)",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in (run, check, db, registers, report, directory, send, letter, outbox, passwd, pdf, audit):
        group.add_parser(sub)  # in this order in `--help`
    return p


def _err(e: UserError) -> None:
    print(f"ผิดพลาด: {e.message_th}\nerror: {e.message_en}", file=sys.stderr)


def _line_breaks(args: argparse.Namespace) -> str | None:
    """The first option whose value holds CR or LF: one would become a header of a mail the
    gateway sends (`--subject "x\r\nBcc: …"`) or a forged line in a register."""
    for name, value in vars(args).items():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str | Path) and any(c in str(item) for c in "\r\n"):
                return name
    return None


class _CleanOutput:
    """A text stream that drops terminal escape sequences, control characters and bidi
    overrides from what is written: subjects and names come from strangers, and an ESC[2J or
    an OSC 52 clipboard write in one must not reach the administrator's terminal. Bytes
    written to ``.buffer`` (an export) pass as they are."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    @property
    def unfiltered(self) -> TextIO:
        """The stream itself: for the progress bar (gateway/cli/progress.py), whose cursor
        movements are ours and whose text is our own labels and counts."""
        return self._stream

    def write(self, text: str) -> int:
        self._stream.write(clean_text(text, multiline=True))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextmanager
def _clean_output() -> Iterator[None]:
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = cast(TextIO, _CleanOutput(out)), cast(TextIO, _CleanOutput(err))
    try:
        yield
    finally:
        sys.stdout, sys.stderr = out, err


def main(argv: Sequence[str] | None = None) -> int:
    with _clean_output():
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    bad = _line_breaks(args)
    if bad is not None:
        option = "--" + bad.replace("_", "-")
        print(f"ผิดพลาด (error): {option} มีการขึ้นบรรทัดใหม่ ซึ่งไม่อนุญาต "
              "(contains a line break, CR/LF: not allowed)", file=sys.stderr)
        return EXIT_USAGE
    for name, value in vars(args).items():  # what is stored (a note, a reason) holds no controls
        if isinstance(value, str):
            setattr(args, name, clean_text(value))
        elif isinstance(value, list):
            setattr(args, name, [clean_text(v) if isinstance(v, str) else v for v in value])
    try:
        config = args.config or _default_config()
        if getattr(args, "without_config", None) is not None and not config.exists():
            done = args.without_config(args)  # `db check-backup` on a machine with only the backup
        else:
            # Most handlers are async; `pdf` and `passwd` are not (the PDF code runs a loop of its own).
            done = args.handler(args, load_settings(config))
        code = asyncio.run(done) if inspect.iscoroutine(done) else done
        sys.stdout.flush()  # a closed pipe shows here, not at the interpreter's exit
        return code
    except UserError as e:
        _err(e)
        return EXIT_FAIL
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `registers export | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_PIPE
    except Exception as e:
        told = explain(e)
        if told is None:
            raise
        _err(told)
        return EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())
