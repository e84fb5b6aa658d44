"""How far long work has got (issue #21): `ingest --once` on a backlog, `directory import`,
a big `registers export`.

The work reports stages and steps to a `Progress`; it counts as it goes and never gathers its
items to report them (a stage's total is what the work already knows, e.g. the UIDs it was
going to take in anyway). The default reports nowhere; the command line draws it on a
terminal (gateway/cli/progress.py), and the service never shows it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

__all__ = ["SILENT", "Progress"]

T = TypeVar("T")


class Progress:
    """Reports nowhere; a terminal's progress bar overrides `stage` and `advance`."""

    def stage(self, label: str, total: int | None = None) -> None:
        """A new piece of work begins: `label` in Thai, `total` steps when known."""

    def advance(self, steps: int = 1) -> None:
        """`steps` more of the current stage are done."""

    def each(self, items: Iterable[T], label: str, total: int | None = None) -> Iterator[T]:
        """The items one by one, a step counted as each is taken (nothing is held)."""
        self.stage(label, total)
        for item in items:
            yield item
            self.advance()


SILENT = Progress()
