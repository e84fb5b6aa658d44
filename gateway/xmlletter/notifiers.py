"""The five status messages (docs/xml.md, "Status messages"): read one, or build one.

The receiver answers a letter with ReceiveLetterNotifier, then AcceptLetterNotifier (AcceptID =
its receive number) or RejectLetterNotifier / InvalidLetterNotifier; the sender answers a wrong
AcceptID with InvalidAcceptIDNotifier. Each travels alone in a CorrespondenceLetterOutboundRequest
and nothing in it has a namespace.
"""

from __future__ import annotations

from typing import Any

from .build import XmlWriter, format_date, write_document
from .model import Notifier, NotifierKind
from .walk import (
    ChildSpec,
    Occurs,
    ReadContext,
    children,
    first_group,
    leaf,
    read_date,
    read_datetime,
)

__all__ = ["NOTIFIER_CHILDREN", "build_notifier", "read_notifier"]

REQ, OPT = Occurs.REQUIRED, Occurs.OPTIONAL

_LETTER_ID = ChildSpec("LetterID", None, REQ, needs_value=True)
_DATE = ChildSpec("CorrespondenceDate", None, REQ)  # may be empty: we may not know it either
_SUBJECT = ChildSpec("Subject", None, REQ)

# Children per kind, in order; mirrors schemas/notifier-types.xsd.
NOTIFIER_CHILDREN: dict[NotifierKind, tuple[ChildSpec, ...]] = {
    NotifierKind.RECEIVE: (_LETTER_ID, _DATE, _SUBJECT),
    NotifierKind.ACCEPT: (
        _LETTER_ID,
        ChildSpec("AcceptID", None, REQ, needs_value=True),
        _DATE,
        _SUBJECT,
        ChildSpec("AcceptDate", None, OPT),
        ChildSpec("AcceptDepartment", None, OPT),
    ),
    NotifierKind.REJECT: (_LETTER_ID, _DATE, _SUBJECT),
    NotifierKind.INVALID: (_LETTER_ID, _DATE, _SUBJECT),
    NotifierKind.INVALID_ACCEPT_ID: (
        _LETTER_ID,
        ChildSpec("AcceptID", None, REQ),  # the wrong number, possibly empty
        _DATE,
        _SUBJECT,
    ),
}
_DEPARTMENT = (ChildSpec("Code", None, REQ),)


def read_notifier(ctx: ReadContext, kind: NotifierKind, element: Any) -> Notifier:
    specs = NOTIFIER_CHILDREN[kind]
    found = children(ctx, element, specs)

    def text(name: str) -> tuple[str, str]:
        return leaf(ctx, found, specs, name) if name in found else ("", "")

    accept_date = None
    raw_accept, accept_path = text("AcceptDate")
    if raw_accept.strip():
        # Receivers send a date or a date and time here; the register keeps the date.
        if "T" in raw_accept or ":" in raw_accept:
            moment = read_datetime(ctx, raw_accept, accept_path)
            accept_date = moment.date() if moment else None
        else:
            accept_date = read_date(ctx, raw_accept, accept_path)
    department = (
        first_group(ctx, found, "AcceptDepartment") if "AcceptDepartment" in found else None
    )
    department_code = (
        leaf(ctx, children(ctx, department, _DEPARTMENT), _DEPARTMENT, "Code")[0].strip()
        if department is not None
        else ""
    )
    return Notifier(
        kind=kind,
        letter_id=text("LetterID")[0],
        correspondence_date=read_date(ctx, *text("CorrespondenceDate")),
        subject=text("Subject")[0],
        accept_id=text("AcceptID")[0],
        accept_date=accept_date,
        accept_department_code=department_code,
    )


def build_notifier(notifier: Notifier) -> bytes:
    """The notifier as its own CorrespondenceLetterOutboundRequest document, every child of its
    kind emitted (empty when there is no value)."""

    def body(w: XmlWriter) -> None:
        with w.group(notifier.kind.value):
            w.leaf("LetterID", notifier.letter_id)
            if notifier.kind.carries_accept_id:
                w.leaf("AcceptID", notifier.accept_id)
            w.leaf(
                "CorrespondenceDate",
                format_date(notifier.correspondence_date, "CorrespondenceDate"),
            )
            w.leaf("Subject", notifier.subject)
            if notifier.kind is NotifierKind.ACCEPT:
                w.leaf("AcceptDate", format_date(notifier.accept_date, "AcceptDate"))
                with w.group("AcceptDepartment"):
                    w.leaf("Code", notifier.accept_department_code)

    return write_document(body)
