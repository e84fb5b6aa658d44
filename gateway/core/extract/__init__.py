"""Extract: which attachment is the letter, and the letter's fields with their sources (pure).

Place in the flow: part of *parse* (architecture.md), after ``parse.parse_message``. It picks the
main letter among the attachments (preferring an Appendix 7 name such as ``2564_DGA_2487.pdf``,
domain.md §5.3), spots a CorrespondenceLetter XML, reads the Thai letter header (ที่, date, เรื่อง,
เรียน, จาก/ถึง, speed, secrecy) from page-1 text, the e-mail subject, the body and the file name,
and merges them in the order of trust of §5.5: XML > PDF > subject > body > file name, with the
From header as the last resort for the sender. Each value keeps its source.

The modules:

- ``attachments``: the main letter, its enclosures and its XML.
- ``words``: numbers, dates, speed and secrecy words in Thai text; the fields one source gave.
- ``labels``: the one table of label synonyms (ที่/เลขที่/เลขที่หนังสือ, …), and the lines of
  an e-mail body that claim a field (``เลขที่หนังสือ: …``).
- ``layout``: where page 1 puts the letter's own date, the agency and wrapped lines (text
  order today; a line's right edge, when a reader gives positions, refines it).
- ``letterhead``: page 1 of the PDF, or an e-mail body, read as a letter header.
- ``crosscheck``: a damaged PDF reading mended from a clean source; disagreements for review.
- ``subject``, ``filename``, ``xmlfields``: the other sources.
- ``merge``: every source into one LetterFields (speed ปกติ by default).
"""

from gateway.core.extract.attachments import choose_main_letter
from gateway.core.extract.filename import extract_from_filename, parse_appendix7_filename
from gateway.core.extract.letterhead import extract_from_text
from gateway.core.extract.merge import FIELD_NAMES, extract_fields
from gateway.core.extract.subject import extract_from_subject
from gateway.core.extract.words import find_letter_number, find_thai_date

__all__ = [
    "FIELD_NAMES",
    "choose_main_letter",
    "extract_fields",
    "extract_from_filename",
    "extract_from_subject",
    "extract_from_text",
    "find_letter_number",
    "find_thai_date",
    "parse_appendix7_filename",
]
