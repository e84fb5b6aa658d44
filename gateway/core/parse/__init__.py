"""Parse: raw message bytes → :class:`~gateway.letter.ParsedMessage` (pure; no I/O, no clock).

Place in the flow: the first pure step after *receive* has stored the bytes (architecture.md). It
reads MIME as it arrives at a Thai agency (domain.md §7): UTF-8, TIS-620 and windows-874 bodies
and headers, 8-bit headers nobody encoded, RFC 2047 and RFC 2231 file names (and Outlook's RFC 2047
inside a quoted parameter), nested multiparts, forwarded ``message/rfc822`` letters, Outlook's
``winmail.dat`` (TNEF), inline images, nameless attachments, and plain breakage (no boundary, bad
base64, empty input).

The modules, in the order a message meets them:

- ``message``: ``parse_message`` and the MIME walk; never raises, problems become ``defects``.
- ``base64runs``: long base64 runs cut out before the stdlib parser and put back after.
- ``headers``: header values from ``raw_items()``: 8-bit Thai, RFC 2047 words, parameters, dates.
- ``names``: safe attachment names and the type the bytes are.
- ``tnef``: the files and body inside winmail.dat.
- ``forwards``: the message inside a ``message/rfc822`` part.
- ``flowed``: a ``format=flowed`` text part (Thunderbird's) joined back into the lines typed.
- ``htmltext``: text of an HTML-only body.
- ``signs``: auto-replies, bounces and spam, by their headers.
- ``reporttag``: the ``[รายงาน]`` tag of a report asked for by mail, in a subject.
"""

from gateway.core.parse.headers import decode_words
from gateway.core.parse.htmltext import html_to_text
from gateway.core.parse.message import MAX_FORWARD_DEPTH, MAX_NESTING, MAX_PARTS, parse_message
from gateway.core.parse.names import safe_filename

__all__ = [
    "MAX_FORWARD_DEPTH",
    "MAX_NESTING",
    "MAX_PARTS",
    "decode_words",
    "html_to_text",
    "parse_message",
    "safe_filename",
]
