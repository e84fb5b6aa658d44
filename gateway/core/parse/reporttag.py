"""The `[รายงาน]` tag of a report asked for by mail (#22, "Reports by mail"), found in a subject
(pure: no I/O, no clock).

The reader workers (gateway/inbound/read.py) only need to know that a mail asks for a report;
what it asks for is read after the tag by gateway/reports/request.py, with the periods and
months of the reports, in the process that answers it.
"""

from __future__ import annotations

import re

__all__ = ["REPORT_TAG", "after_report_tag", "asks_for_report"]

REPORT_TAG = re.compile(r"\[\s*รายงาน\s*\]")


def asks_for_report(subject: str) -> bool:
    """The subject carries the `[รายงาน]` tag."""
    return REPORT_TAG.search(subject or "") is not None


def after_report_tag(subject: str) -> str | None:
    """The words after the first `[รายงาน]` tag, one space between each; None without a tag."""
    m = REPORT_TAG.search(subject or "")
    return None if m is None else " ".join(subject[m.end():].split())
