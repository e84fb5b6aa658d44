"""Progress on the administrator's terminal (issue #21): a `rich` bar with counts and Thai
labels, on stderr so that stdout (an export, a summary) stays as it is.

Drawn only when stderr is a terminal and `--quiet` was not given: cron, pipes and files get
nothing extra. rich is imported only then. The bar writes to the terminal itself, past the
command line's output filter (which would strip its cursor movements); what it shows is our
own labels and counts, never text from a letter.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO

from gateway.progress import SILENT, Progress

if TYPE_CHECKING:
    from rich.progress import TaskID


def add_quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", "-q", action="store_true",
                        help="ไม่แสดงความคืบหน้า (no progress bar on the terminal)")


class _Bar(Progress):
    def __init__(self, bar: Any) -> None:
        self.bar = bar
        self.task: TaskID | None = None

    def stage(self, label: str, total: int | None = None) -> None:
        last = self.bar.tasks[-1] if self.task is not None else None
        if last is not None and last.total is None:  # a count without a total: it ended here
            self.bar.update(last.id, total=last.completed)
        self.task = self.bar.add_task(label, total=total)

    def advance(self, steps: int = 1) -> None:
        if self.task is not None:
            self.bar.advance(self.task, steps)


def _terminal() -> TextIO | None:
    stream = sys.stderr
    try:
        if stream is None or not stream.isatty():
            return None
    except (AttributeError, ValueError):  # closed or not a real stream
        return None
    unfiltered: TextIO = getattr(stream, "unfiltered", stream)
    return unfiltered


@contextmanager
def terminal_progress(quiet: bool = False) -> Iterator[Progress]:
    """A progress bar on the terminal for the length of the block, or SILENT."""
    out = None if quiet else _terminal()
    if out is None:
        yield SILENT
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.progress import Progress as RichProgress

    console = Console(file=out, highlight=False)
    with RichProgress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                      MofNCompleteColumn(), TextColumn("รายการ"), TimeElapsedColumn(),
                      console=console, transient=False, refresh_per_second=8) as bar:
        yield _Bar(bar)
