"""Our XSDs and code lists, loaded once: the only place in the XML package that reads files.

The reader and builders are pure and take an :class:`XmlResources`; callers that do not pass one
get :func:`default_resources`, loaded on first use and cached for the life of the process.
The schemas live in the repository's ``schemas/`` (a sibling of the ``gateway`` package) or, in an
installed wheel, in ``gateway/_data/schemas`` (pyproject.toml force-includes them there).
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import xmlschema

from gateway.resources import resource_dir

from .model import CodedValue, NotifierKind

__all__ = [
    "SCHEMA_FILES",
    "CodeEntry",
    "CodeList",
    "XmlResources",
    "default_resources",
    "load_resources",
    "schemas_dir",
]

# Document kind → the XSD that validates it. Kinds are the dialects and the notifier names.
SCHEMA_FILES: Mapping[str, str] = MappingProxyType(
    {
        "ecms": "ecms-letter.xsd",
        "dga": "dga-letter.xsd",
        NotifierKind.RECEIVE.value: "receive-letter-notifier.xsd",
        NotifierKind.ACCEPT.value: "accept-letter-notifier.xsd",
        NotifierKind.REJECT.value: "reject-letter-notifier.xsd",
        NotifierKind.INVALID.value: "invalid-letter-notifier.xsd",
        NotifierKind.INVALID_ACCEPT_ID.value: "invalid-accept-id-notifier.xsd",
    }
)

_THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")


def schemas_dir() -> Path:
    """The directory holding our XSDs and ``codelists/``: the wheel's copy first, then the
    repository's (gateway.resources)."""
    return resource_dir("schemas")


@dataclass(frozen=True, slots=True)
class CodeEntry:
    code: str
    label_th: str
    label_en: str
    extension: str = ""  # MIME list only: the usual file extension, without the dot


@dataclass(frozen=True, slots=True, eq=False)
class CodeList:
    """One code list (speed, secrecy or MIME), keyed by normalised code."""

    name: str
    entries: Mapping[str, CodeEntry]

    def lookup(self, raw: str, code: str) -> CodedValue:
        """``code`` is ``raw`` already normalised by the caller; unknown codes stay raw."""
        entry = self.entries.get(code)
        if entry is None:
            return CodedValue(raw=raw, code=code, label_th="", label_en="", known=False)
        return CodedValue(
            raw=raw, code=code, label_th=entry.label_th, label_en=entry.label_en, known=True
        )

    def extension(self, code: str) -> str:
        entry = self.entries.get(code)
        return entry.extension if entry else ""


@dataclass(frozen=True, slots=True, eq=False)
class XmlResources:
    """Compiled schemas (by document kind, see SCHEMA_FILES) and the three code lists.

    xmlschema schemas are read-only once built, so one instance can serve every thread.
    """

    schemas: Mapping[str, xmlschema.XMLSchemaBase]
    speed: CodeList
    secrecy: CodeList
    mime: CodeList


def _read_code_list(path: Path, name: str, *, lower: bool = False) -> CodeList:
    entries: dict[str, CodeEntry] = {}
    with path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            code = row["code"].strip()
            code = code.lower() if lower else code.translate(_THAI_DIGITS)
            entries[code] = CodeEntry(
                code=code,
                label_th=row["label_th"].strip(),
                label_en=row["label_en"].strip(),
                extension=(row.get("extension") or "").strip(),
            )
    return CodeList(name=name, entries=MappingProxyType(entries))


def load_resources(directory: Path | None = None) -> XmlResources:
    """Read and compile everything from ``directory`` (default :func:`schemas_dir`).

    Schemas are compiled with ``allow="sandbox"``: they may only include files from this
    directory, never fetch anything from the network.
    """
    base = (directory or schemas_dir()).resolve()
    schemas = {
        kind: xmlschema.XMLSchema(str(base / filename), allow="sandbox")
        for kind, filename in SCHEMA_FILES.items()
    }
    codelists = base / "codelists"
    return XmlResources(
        schemas=MappingProxyType(schemas),
        speed=_read_code_list(codelists / "speed.csv", "speed"),
        secrecy=_read_code_list(codelists / "secrecy.csv", "secrecy"),
        mime=_read_code_list(codelists / "mime.csv", "mime", lower=True),
    )


@functools.cache
def default_resources() -> XmlResources:
    """:func:`load_resources` from :func:`schemas_dir`, once per process."""
    return load_resources()
