"""Lenient reading machinery shared by the letter and notifier readers.

Elements are matched by local name, case-insensitively, whatever their namespace; every deviation
from the form we emit (case, namespace, missing, empty, repeated or unknown children) is recorded
in a :class:`ReadContext` as a variant with its path, and reading goes on. Child tables
(:class:`ChildSpec` tuples) describe each level once, mirroring our XSDs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from enum import Enum
from typing import Any

from .hardened import local_name
from .messages import NOTICE_TEXT
from .model import RAM_NS, RAM_NS_MISSPELT, RSM_NS, CodedValue, Notice, NoticeCode, Variant
from .resources import CodeList

__all__ = [
    "ChildSpec",
    "Occurs",
    "ReadContext",
    "children",
    "first_group",
    "leaf",
    "namespace_of",
    "path_of",
    "read_code",
    "read_date",
    "read_datetime",
    "scan_namespace_declarations",
]

THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")
# A year this large is a Buddhist-era year (พ.ศ. = ค.ศ. + 543, domain.md §3): .NET under the th-TH
# culture writes yyyy in the Thai calendar. Builders refuse Gregorian years this large.
BUDDHIST_ERA_FROM = 2400
BUDDHIST_ERA_OFFSET = 543

_TZ = r"(Z|[+-]\d{2}:?\d{2})?"
_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})" + _TZ, re.ASCII)
_ISO_DATETIME = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*" + _TZ,
    re.ASCII,
)
# 16/11/2021, 16/11/2021 0:00:00, 11/16/2021 12:00:00 AM (DateTime.ToString() under some culture)
_DMY = re.compile(
    r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})"
    r"(?:[T ]+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s*([AaPp][Mm]))?)?",
    re.ASCII,
)


class Occurs(Enum):
    REQUIRED = "required"  # exactly one
    OPTIONAL = "optional"  # at most one
    MANY = "many"  # any number


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """One expected child: its name as we emit it, its namespace, how often, and whether an
    empty one is a defect (``needs_value``: text for leaves, children for groups). A missing
    optional child is reported as a variant unless ``report_missing`` is off."""

    name: str
    ns: str | None
    occurs: Occurs = Occurs.OPTIONAL
    needs_value: bool = False
    report_missing: bool = True  # False where we never emit it either (an unsigned letter)


class ReadContext:
    """Collects variants and notices while one document is read."""

    def __init__(self) -> None:
        self._variants: list[Variant] = []
        self._notices: list[Notice] = []
        self._once: set[tuple[str, str]] = set()

    def flag(
        self, code: Variant | NoticeCode, path: str, detail: str = "", *, once: bool = False
    ) -> None:
        """Record ``code`` at ``path``. With ``once``, repeated (code, detail) pairs are noted
        only the first time (a misspelt namespace is one finding, not one per element)."""
        if once:
            key = (code.value, detail)
            if key in self._once:
                return
            self._once.add(key)
        if isinstance(code, Variant) and code not in self._variants:
            self._variants.append(code)
        english, thai = NOTICE_TEXT[code]
        self._notices.append(
            Notice(
                code=code,
                path=path,
                message_en=english.format(detail=detail),
                message_th=thai.format(detail=detail),
            )
        )

    @property
    def variants(self) -> tuple[Variant, ...]:
        return tuple(self._variants)

    @property
    def notices(self) -> tuple[Notice, ...]:
        return tuple(self._notices)


def namespace_of(element: Any) -> str | None:
    tag: str = element.tag
    return tag[1:].partition("}")[0] if tag.startswith("{") else None


def path_of(element: Any) -> str:
    """``/CorrespondenceLetterOutboundRequest/rsm:GovernmentDocument/ram:…`` as written."""
    parts: list[str] = []
    node = element
    while node is not None:
        name = local_name(node.tag)
        parts.append(f"{node.prefix}:{name}" if node.prefix else name)
        node = node.getparent()
    return "/" + "/".join(reversed(parts))


def _check_namespace(ctx: ReadContext, element: Any, expected: str | None) -> None:
    actual = namespace_of(element)
    if actual == expected:
        return
    if expected == RAM_NS and actual == RAM_NS_MISSPELT:
        ctx.flag(Variant.MISSPELT_RAM_NAMESPACE, path_of(element), actual, once=True)
        return
    ctx.flag(
        Variant.UNEXPECTED_NAMESPACE,
        path_of(element),
        f"{actual or '(none)'}, expected {expected or '(none)'}",
        once=True,
    )


def check_element(ctx: ReadContext, element: Any, name: str, ns: str | None) -> None:
    """Flag ``element`` if its name differs from ``name`` in case or its namespace from ``ns``."""
    local = local_name(element.tag)
    if local != name:
        code = Variant.PROCESSID_CASE if name == "ProcessID" else Variant.ELEMENT_NAME_CASE
        ctx.flag(code, path_of(element), f"{local} → {name}")
    _check_namespace(ctx, element, ns)


def children(ctx: ReadContext, parent: Any, specs: Sequence[ChildSpec]) -> dict[str, list[Any]]:
    """Parent's element children, by the spec name they match; deviations are flagged."""
    by_lower = {spec.name.lower(): spec for spec in specs}
    found: dict[str, list[Any]] = {spec.name: [] for spec in specs}
    for child in parent:
        if not isinstance(child.tag, str):
            continue
        spec = by_lower.get(local_name(child.tag).lower())
        if spec is None:
            ctx.flag(Variant.UNKNOWN_ELEMENTS, path_of(child), local_name(child.tag))
            continue
        check_element(ctx, child, spec.name, spec.ns)
        found[spec.name].append(child)
    parent_path = path_of(parent)
    for spec in specs:
        elements = found[spec.name]
        if not elements:
            if spec.occurs is Occurs.REQUIRED:
                ctx.flag(Variant.MISSING_REQUIRED_CHILDREN, f"{parent_path}/{spec.name}", spec.name)
            elif spec.occurs is Occurs.OPTIONAL and spec.report_missing:
                ctx.flag(Variant.MISSING_OPTIONAL_CHILDREN, f"{parent_path}/{spec.name}", spec.name)
        elif len(elements) > 1 and spec.occurs is not Occurs.MANY:
            ctx.flag(Variant.DUPLICATE_ELEMENTS, path_of(elements[1]), spec.name)
            del elements[1:]
    return found


def _spec_needs_value(specs: Iterable[ChildSpec], name: str) -> bool:
    return any(spec.needs_value for spec in specs if spec.name == name)


def leaf(
    ctx: ReadContext, found: dict[str, list[Any]], specs: Sequence[ChildSpec], name: str
) -> tuple[str, str]:
    """(text exactly as sent, path) of the single child ``name``; ``""`` when absent."""
    elements = found[name]
    if not elements:
        return "", ""
    element = elements[0]
    path = path_of(element)
    for grandchild in element:
        if isinstance(grandchild.tag, str):
            ctx.flag(Variant.UNKNOWN_ELEMENTS, path_of(grandchild), local_name(grandchild.tag))
    text: str = element.text or ""
    if not text.strip() and _spec_needs_value(specs, name):
        ctx.flag(Variant.EMPTY_ELEMENTS, path, name)
    return text, path


def first_group(ctx: ReadContext, found: dict[str, list[Any]], name: str) -> Any | None:
    """The single child ``name`` that should hold children; None (and flagged) when empty."""
    elements = found[name]
    if not elements:
        return None
    element = elements[0]
    if not any(isinstance(child.tag, str) for child in element):
        ctx.flag(Variant.EMPTY_ELEMENTS, path_of(element), name)
        return None
    return element


def _normalise_digits(ctx: ReadContext, text: str, path: str) -> str:
    normal = text.strip().translate(THAI_DIGITS)
    if normal != text.strip():
        ctx.flag(Variant.THAI_DIGITS, path, text.strip())
    return normal


def read_code(ctx: ReadContext, raw: str, path: str, codes: CodeList) -> CodedValue | None:
    """A speed or secrecy code through its code list; None when absent or empty."""
    if not raw.strip():
        return None
    code = _normalise_digits(ctx, raw, path)
    if code.isascii() and code.isdigit() and len(code) < 3:
        code = code.zfill(3)
        ctx.flag(Variant.UNPADDED_CODE, path, code)
    value = codes.lookup(raw, code)
    if not value.known:
        ctx.flag(NoticeCode.UNKNOWN_CODE, path, f"{codes.name} {raw.strip()!r}")
    return value


def _gregorian_year(ctx: ReadContext, year: int, path: str, raw: str) -> int:
    if year >= BUDDHIST_ERA_FROM:
        ctx.flag(Variant.BUDDHIST_ERA_YEAR, path, raw)
        return year - BUDDHIST_ERA_OFFSET
    return year


def _tzinfo(text: str | None) -> timezone | None:
    if not text:
        return None
    if text == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def _dmy(groups: Sequence[str | None]) -> tuple[int, int, int]:
    """(year, month, day) of a d/m/y match (the Thai order). m/d/y when only that reading is a
    date, or when an AM/PM marker says the writer used the en-US culture."""
    first, second, year = int(groups[0] or 0), int(groups[1] or 0), int(groups[2] or 0)
    us_culture = len(groups) > 6 and bool(groups[6])
    if first <= 12 < second or (us_culture and second <= 12):
        return year, first, second
    return year, second, first


def _hour(hour: str | None, meridiem: str | None) -> int:
    value = int(hour or 0)
    if meridiem:
        value = value % 12 + (12 if meridiem.lower() == "pm" else 0)
    return value


def read_date(ctx: ReadContext, raw: str, path: str) -> date | None:
    """yyyy-MM-dd (Gregorian); known variants are read and flagged; None when absent or bad."""
    text = raw.strip()
    if not text:
        return None
    text = _normalise_digits(ctx, text, path)
    try:
        if match := _ISO_DATE.fullmatch(text):
            year, month, day = (int(g) for g in match.groups()[:3])
        elif match := _ISO_DATETIME.fullmatch(text):
            year, month, day = (int(g) for g in match.groups()[:3])
            ctx.flag(Variant.NON_ISO_DATE, path, text)
        elif match := _DMY.fullmatch(text):
            year, month, day = _dmy(match.groups())
            ctx.flag(Variant.NON_ISO_DATE, path, text)
        else:
            raise ValueError(text)
        return date(_gregorian_year(ctx, year, path, text), month, day)
    except ValueError:
        ctx.flag(NoticeCode.BAD_DATE, path, raw.strip())
        return None


def read_datetime(ctx: ReadContext, raw: str, path: str) -> datetime | None:
    """yyyy-MM-ddTHH:mm:ss, naive (local time) unless an offset is given."""
    text = raw.strip()
    if not text:
        return None
    text = _normalise_digits(ctx, text, path)
    try:
        if match := _ISO_DATETIME.fullmatch(text):
            ys, mos, ds, hs, mis, ss, frac, tz = match.groups()
            micro = int((frac or "0")[:6].ljust(6, "0"))
            parts = (int(ys), int(mos), int(ds), int(hs), int(mis), int(ss or 0), micro)
            tzinfo = _tzinfo(tz)
        elif match := _DMY.fullmatch(text):
            year, month, day = _dmy(match.groups())
            g = match.groups()
            parts = (year, month, day, _hour(g[3], g[6]), int(g[4] or 0), int(g[5] or 0), 0)
            tzinfo = None
            ctx.flag(Variant.NON_ISO_DATE, path, text)
        elif match := _ISO_DATE.fullmatch(text):
            y, mo, d = (int(g) for g in match.groups()[:3])
            parts = (y, mo, d, 0, 0, 0, 0)
            tzinfo = _tzinfo(match.group(4))
            ctx.flag(Variant.NON_ISO_DATE, path, text)
        else:
            raise ValueError(text)
        year = _gregorian_year(ctx, parts[0], path, text)
        return datetime(year, *parts[1:], tzinfo=tzinfo)
    except ValueError:
        ctx.flag(NoticeCode.BAD_DATETIME, path, raw.strip())
        return None


def scan_namespace_declarations(ctx: ReadContext, root: Any) -> None:
    """Flag the misspelt ram URI and swapped rsm/ram prefixes wherever they are declared, even
    when no element uses them (one client declares both on notifiers that use neither)."""
    seen: set[tuple[str | None, str]] = set()
    for element in root.iter():
        for prefix, uri in element.nsmap.items():
            if (prefix, uri) in seen:
                continue
            seen.add((prefix, uri))
            if uri == RAM_NS_MISSPELT:
                ctx.flag(Variant.MISSPELT_RAM_NAMESPACE, path_of(element), uri, once=True)
            swapped = (prefix == "rsm" and uri in (RAM_NS, RAM_NS_MISSPELT)) or (
                prefix == "ram" and uri == RSM_NS
            )
            if swapped:
                ctx.flag(Variant.SWAPPED_PREFIXES, path_of(element), f"{prefix}={uri}", once=True)
