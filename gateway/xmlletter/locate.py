"""Find the document in a parsed tree and say what it is, by local name (domain.md §8).

Accepted shapes: ``CorrespondenceLetterOutboundRequest`` around one of GovernmentDocument (ECMS),
CorrespondenceLetterSpecial (DGA) or a notifier; the same inside a SOAP Envelope/Body (some
systems attach the whole message); another wrapper (CorrespondenceLetterInboundResponse …); or
the document element on its own. Anything else is not a letter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .hardened import local_name
from .model import RSM_NS, NotifierKind, Variant
from .walk import ReadContext, check_element, path_of

__all__ = ["WRAPPER", "Located", "locate"]

WRAPPER = "CorrespondenceLetterOutboundRequest"

# Lower-cased local name → (document kind, name as we emit it, its namespace).
_DOCUMENTS: dict[str, tuple[str, str, str | None]] = {
    "governmentdocument": ("ecms", "GovernmentDocument", RSM_NS),
    "correspondenceletterspecial": ("dga", "CorrespondenceLetterSpecial", None),
    **{kind.value.lower(): (kind.value, kind.value, None) for kind in NotifierKind},
}


@dataclass(frozen=True, slots=True)
class Located:
    """``kind`` is "ecms", "dga" or a NotifierKind value (the keys of resources.SCHEMA_FILES)."""

    kind: str
    document: Any
    wrapper: Any | None
    process_id: str


def _element_children(element: Any) -> list[Any]:
    return [child for child in element if isinstance(child.tag, str)]


def locate(ctx: ReadContext, root: Any) -> Located | None:
    element = root
    if local_name(root.tag).lower() == "envelope":
        body = next(
            (c for c in _element_children(root) if local_name(c.tag).lower() == "body"), None
        )
        inside = _element_children(body) if body is not None else []
        if not inside:
            return None
        ctx.flag(Variant.SOAP_ENVELOPE, path_of(inside[0]))
        element = inside[0]

    known = _DOCUMENTS.get(local_name(element.tag).lower())
    if known is not None:
        kind, name, ns = known
        ctx.flag(Variant.NO_WRAPPER, path_of(element), name)
        check_element(ctx, element, name, ns)
        return Located(kind=kind, document=element, wrapper=None, process_id="")

    wrapper = element
    document = None
    process_id = ""
    for child in _element_children(wrapper):
        lower = local_name(child.tag).lower()
        if document is None and lower in _DOCUMENTS:
            kind, name, ns = _DOCUMENTS[lower]
            check_element(ctx, child, name, ns)
            document = child
        elif lower == "processid" and not process_id:
            check_element(ctx, child, "ProcessID", None)
            process_id = (child.text or "").strip()
        else:
            ctx.flag(Variant.UNKNOWN_ELEMENTS, path_of(child), local_name(child.tag))
    if document is None:
        return None
    wrapper_name = local_name(wrapper.tag)
    if wrapper_name.lower() != WRAPPER.lower():
        ctx.flag(Variant.OTHER_WRAPPER, path_of(wrapper), wrapper_name)
    else:
        check_element(ctx, wrapper, WRAPPER, None)
    return Located(kind=kind, document=document, wrapper=wrapper, process_id=process_id)
