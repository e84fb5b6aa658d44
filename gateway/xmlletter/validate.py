"""Strict validation against our XSDs, kept apart from the lenient reading.

The tree validated is the hardened parser's: base64 elements are there, with their attributes,
but empty (their text was decoded on the fly, see hardened.py). What the XSD would have checked
in that text — that it is base64 — is checked while decoding and reported here too, with one rule
the XSD cannot say: an embedded file must not be empty or over the size limit.
"""

from __future__ import annotations

import re
from typing import Any

import xmlschema

from .hardened import (
    DEFAULT_LIMITS,
    Limits,
    ParsedDocument,
    ParseRefused,
    declaration_first,
    local_name,
    parse_hardened,
)
from .locate import WRAPPER, Located, locate
from .messages import (
    NOTICE_TEXT,
    REFUSAL_TEXT,
    VALIDATION_TEXT_TH,
    field_label_th,
)
from .model import NoticeCode, RefusalReason, ValidationIssue, ValidationReport
from .resources import SCHEMA_FILES, XmlResources, default_resources
from .walk import ReadContext, path_of

__all__ = ["refusal_report", "validate_located", "validate_xml"]


def refusal_report(reason: RefusalReason, detail: str = "") -> ValidationReport:
    english, thai = REFUSAL_TEXT[reason]
    return ValidationReport(
        schema="",
        issues=(ValidationIssue("/", english.format(detail=detail), thai.format(detail=detail)),),
    )


def _prefixed(tag: str, element: Any) -> str:
    """``{ns}Name`` → ``prefix:Name`` using the prefixes in scope at ``element``."""
    name = local_name(tag)
    if tag.startswith("{") and element is not None:
        ns = tag[1:].partition("}")[0]
        for prefix, uri in element.nsmap.items():
            if uri == ns and prefix:
                return f"{prefix}:{name}"
    return name


def _namespace(tag: str) -> str:
    return tag[1:].partition("}")[0] if tag.startswith("{") else "(none)"


def _label(element: Any) -> str:
    """Thai label of ``element``, in the context of its parent."""
    parent = element.getparent()
    return field_label_th(
        local_name(element.tag), local_name(parent.tag) if parent is not None else ""
    )


_ATTRIBUTE = re.compile(r"attribute '?([A-Za-z_][\w.-]*)")


def _issue(error: xmlschema.XMLSchemaValidationError) -> ValidationIssue:
    element = error.elem
    here = path_of(element) if element is not None else (error.path or "/")
    name = local_name(element.tag) if element is not None else ""
    reason = error.reason or error.message
    if not isinstance(error, xmlschema.XMLSchemaChildrenValidationError) and name:
        reason = f"{name}: {reason}"
    if isinstance(error, xmlschema.XMLSchemaChildrenValidationError):
        child = error.invalid_child
        expected = [str(p.name) for p in (error.expected or []) if getattr(p, "name", None)]
        if child is not None:
            label = _label(child)
            same_name = [tag for tag in expected if local_name(tag) == local_name(child.tag)]
            if same_name:
                # Same name, other namespace: "unexpected ram:X, ram:X expected" makes no sense
                # to a reader when only the URI behind the prefix differs.
                return ValidationIssue(
                    path_of(child),
                    f"{reason} (namespace {_namespace(child.tag)} is not "
                    f"{_namespace(same_name[0])})",
                    VALIDATION_TEXT_TH["namespace"].format(label=label),
                )
            return ValidationIssue(
                path_of(child), reason, VALIDATION_TEXT_TH["unexpected"].format(label=label)
            )
        missing = local_name(expected[0]) if expected else ""
        path = f"{here}/{_prefixed(expected[0], element)}" if expected else here
        label = field_label_th(missing, name) if missing else _label(element)
        return ValidationIssue(path, reason, VALIDATION_TEXT_TH["missing"].format(label=label))
    if attribute := _ATTRIBUTE.search(reason):
        label = field_label_th(attribute.group(1), name)
        return ValidationIssue(here, reason, VALIDATION_TEXT_TH["attribute"].format(label=label))
    label = _label(element) if element is not None else name
    if isinstance(error, xmlschema.XMLSchemaDecodeError) or "value" in reason:
        return ValidationIssue(here, reason, VALIDATION_TEXT_TH["value"].format(label=label))
    return ValidationIssue(here, reason, VALIDATION_TEXT_TH["other"].format(label=label))


_PAYLOAD_RULES = (NoticeCode.BAD_BASE64, NoticeCode.EMPTY_PAYLOAD, NoticeCode.PAYLOAD_TOO_LARGE)


def validate_located(
    located: Located, parsed: ParsedDocument, resources: XmlResources
) -> ValidationReport:
    """Validate an already parsed and located document against the XSD for its kind."""
    schema = resources.schemas[located.kind]
    issues: list[ValidationIssue] = []
    if located.wrapper is None or local_name(located.wrapper.tag) != WRAPPER:
        top = located.wrapper if located.wrapper is not None else located.document
        issues.append(
            ValidationIssue(
                path_of(top),
                f"the document element must be {WRAPPER}",
                VALIDATION_TEXT_TH["wrapper"],
            )
        )
    top = located.wrapper if located.wrapper is not None else located.document
    # allow="none": the instance may not make the validator open any file or URL
    # (xsi:schemaLocation hints are ignored as well: use_location_hints is off by default).
    resource = xmlschema.XMLResource(top, allow="none")
    try:
        issues.extend(_issue(error) for error in schema.iter_errors(resource))
    except xmlschema.XMLSchemaException as exc:  # a tree the validator cannot walk at all
        issues.append(
            ValidationIssue(
                path_of(top), str(exc), VALIDATION_TEXT_TH["other"].format(label=WRAPPER)
            )
        )
    for element, decoded in parsed.payloads.items():
        for problem in decoded.problems:
            if problem in _PAYLOAD_RULES:
                english, thai = NOTICE_TEXT[problem]
                issues.append(
                    ValidationIssue(
                        path_of(element),
                        english.format(detail=local_name(element.tag)),
                        thai.format(detail=_label(element)),
                    )
                )
    return ValidationReport(schema=SCHEMA_FILES[located.kind], issues=tuple(issues))


def validate_xml(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_LIMITS.max_bytes,
    max_depth: int = DEFAULT_LIMITS.max_depth,
    max_elements: int = DEFAULT_LIMITS.max_elements,
    max_payload_bytes: int = DEFAULT_LIMITS.max_payload_bytes,
    resources: XmlResources | None = None,
) -> ValidationReport:
    """Parse (hardened) and validate strictly; what the sender checks before sending.

    Same limits as ``read_letter_xml``. A refused or unrecognised document gives a report with
    no schema and one issue saying why.
    """
    limits = Limits(
        max_bytes=max_bytes,
        max_depth=max_depth,
        max_elements=max_elements,
        max_payload_bytes=max_payload_bytes,
    )
    parsed = parse_hardened(declaration_first(data)[0], limits)  # as the reader takes it
    if isinstance(parsed, ParseRefused):
        return refusal_report(parsed.reason, parsed.detail)
    located = locate(ReadContext(), parsed.root)
    if located is None:
        return refusal_report(RefusalReason.UNKNOWN_DOCUMENT, local_name(parsed.root.tag))
    return validate_located(located, parsed, resources or default_resources())
