"""Lines a mail client cut by hard wrapping, known again (pure).

Claws Mail and Thunderbird without format=flowed wrap plain text at 72 characters, Outlook at 76,
with hard line breaks: what the writer typed as one line arrives as two, the second with nothing
that says it goes on. It does when its first word would not have fitted on the line above: the
client cut there. (format=flowed text is joined before this, gateway/core/parse/flowed.py.)
"""

from __future__ import annotations

__all__ = ["WRAP", "continues"]

WRAP = 72
"""The narrowest width clients hard-wrap at, in characters (code points, as Claws counts)."""


def continues(above: str, text: str) -> bool:
    """Whether `text` is the rest of line `above`, cut by the client's wrapping."""
    words = text.split(maxsplit=1)
    return bool(words) and len(above) + 1 + len(words[0]) > WRAP
