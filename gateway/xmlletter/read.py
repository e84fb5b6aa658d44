"""Read a CorrespondenceLetter XML file: bytes in, :class:`XmlReadResult` out (pure).

The lenient reading (by local name, every known variant accepted and reported) and the strict
validation against our XSD are two separate results of one parse, so a letter from a drifting
sender is still read, and flagged not valid, rather than lost (domain.md §8). Hostile or broken
input comes back as a refusal with its reason in Thai and English; no exception escapes for bad
input.
"""

from __future__ import annotations

from typing import Any

from .hardened import (
    DEFAULT_LIMITS,
    Limits,
    ParsedDocument,
    ParseRefused,
    declaration_first,
    local_name,
    parse_hardened,
)
from .locate import Located, locate
from .messages import REFUSAL_TEXT
from .model import (
    DS_NS,
    RAM_NS,
    NoticeCode,
    NotifierKind,
    Party,
    PayloadRole,
    ReadStatus,
    Reference,
    Refusal,
    RefusalReason,
    SignatureInfo,
    Variant,
    XmlLetter,
    XmlReadResult,
)
from .notifiers import read_notifier
from .payloads import read_payload
from .resources import XmlResources, default_resources
from .validate import refusal_report, validate_located
from .walk import (
    ChildSpec,
    Occurs,
    ReadContext,
    children,
    first_group,
    leaf,
    path_of,
    read_code,
    read_date,
    read_datetime,
    scan_namespace_declarations,
)

__all__ = ["read_letter_xml"]

REQ, OPT, MANY = Occurs.REQUIRED, Occurs.OPTIONAL, Occurs.MANY

# ECMS / TH e-GIF (docs/xml.md, "Dialect 1"); mirrors schemas/ram.xsd and rsm.xsd.
GOVERNMENT_DOCUMENT = (
    ChildSpec("CorrespondenceLetter", RAM_NS, REQ, needs_value=True),
    ChildSpec("GovernmentSignature", RAM_NS, OPT, report_missing=False),
)
ECMS_LETTER = (
    ChildSpec("ID", RAM_NS, REQ, needs_value=True),
    ChildSpec("CorrespondenceDate", RAM_NS, REQ, needs_value=True),
    ChildSpec("Subject", RAM_NS, REQ, needs_value=True),
    ChildSpec("SecretCode", RAM_NS, OPT),
    ChildSpec("SpeedCode", RAM_NS, OPT),
    ChildSpec("SenderParty", RAM_NS, REQ, needs_value=True),
    ChildSpec("ReceiverParty", RAM_NS, REQ, needs_value=True),
    ChildSpec("ReferenceCorrespondence", RAM_NS, MANY),
    ChildSpec("Attachment", RAM_NS, OPT),
    ChildSpec("SendDate", RAM_NS, OPT),
    ChildSpec("Description", RAM_NS, OPT),
    ChildSpec("MainLetterBinaryObject", RAM_NS, REQ),
    ChildSpec("AttachmentBinaryObject", RAM_NS, MANY),
)
ECMS_PARTY = (
    ChildSpec("GivenName", RAM_NS, OPT),
    ChildSpec("FamilyName", RAM_NS, OPT),
    ChildSpec("JobTitle", RAM_NS, OPT),
    ChildSpec("MinistryOrganization", RAM_NS, OPT),
    ChildSpec("DepartmentOrganization", RAM_NS, REQ, needs_value=True),
)
ECMS_ORGANIZATION = (ChildSpec("ID", RAM_NS, REQ),)
ECMS_DEPARTMENT = (ChildSpec("ID", RAM_NS, REQ, needs_value=True),)
ECMS_REFERENCE = (
    ChildSpec("ID", RAM_NS, REQ, needs_value=True),
    ChildSpec("CorrespondenceDate", RAM_NS, REQ),
    ChildSpec("Subject", RAM_NS, REQ),
)
GOVERNMENT_SIGNATURE = (
    ChildSpec("TypeCode", RAM_NS, OPT),
    ChildSpec("SignerParty", RAM_NS, OPT),
    ChildSpec("Signature", DS_NS, OPT, report_missing=False),
)
SIGNER_PARTY = tuple(
    ChildSpec(name, RAM_NS, OPT)
    for name in ("GivenName", "FamilyName", "Title", "MinistryCode", "DepartmentCode")
)

# DGA's e-mail variant (docs/xml.md, "Dialect 2"); mirrors schemas/dga-letter.xsd.
DGA_LETTER = (
    ChildSpec("ID", None, REQ, needs_value=True),
    ChildSpec("CorrespondenceDate", None, REQ, needs_value=True),
    ChildSpec("Subject", None, REQ, needs_value=True),
    ChildSpec("Secret", None, OPT),
    ChildSpec("Speed", None, OPT),
    ChildSpec("Sender", None, REQ, needs_value=True),
    ChildSpec("Receiver", None, REQ, needs_value=True),
)
DGA_CODE = (ChildSpec("Code", None, REQ),)
DGA_PARTY = (
    ChildSpec("Department", None, REQ, needs_value=True),
    ChildSpec("Ministry", None, OPT),
)
DGA_NAME = (ChildSpec("Name", None, REQ),)


def _text(ctx: ReadContext, element: Any | None, specs: tuple[ChildSpec, ...], name: str) -> str:
    if element is None:
        return ""
    return leaf(ctx, children(ctx, element, specs), specs, name)[0]


def _ecms_party(ctx: ReadContext, element: Any | None) -> Party:
    if element is None:
        return Party()
    found = children(ctx, element, ECMS_PARTY)
    ministry = first_group(ctx, found, "MinistryOrganization")
    department = first_group(ctx, found, "DepartmentOrganization")
    return Party(
        given_name=leaf(ctx, found, ECMS_PARTY, "GivenName")[0],
        family_name=leaf(ctx, found, ECMS_PARTY, "FamilyName")[0],
        job_title=leaf(ctx, found, ECMS_PARTY, "JobTitle")[0],
        ministry_id=_text(ctx, ministry, ECMS_ORGANIZATION, "ID").strip(),
        department_id=_text(ctx, department, ECMS_DEPARTMENT, "ID").strip(),
    )


def _ecms_reference(ctx: ReadContext, element: Any) -> Reference:
    found = children(ctx, element, ECMS_REFERENCE)
    raw_date, date_path = leaf(ctx, found, ECMS_REFERENCE, "CorrespondenceDate")
    return Reference(
        letter_id=leaf(ctx, found, ECMS_REFERENCE, "ID")[0],
        correspondence_date=read_date(ctx, raw_date, date_path),
        subject=leaf(ctx, found, ECMS_REFERENCE, "Subject")[0],
    )


def _signature(ctx: ReadContext, element: Any | None) -> SignatureInfo | None:
    if element is None:
        return None
    found = children(ctx, element, GOVERNMENT_SIGNATURE)
    signer = first_group(ctx, found, "SignerParty")
    signer_found = children(ctx, signer, SIGNER_PARTY) if signer is not None else None

    def signer_text(name: str) -> str:
        return leaf(ctx, signer_found, SIGNER_PARTY, name)[0] if signer_found else ""

    has_xmldsig = bool(found["Signature"])
    if has_xmldsig:
        ctx.flag(NoticeCode.SIGNATURE_NOT_VERIFIED, path_of(found["Signature"][0]))
    return SignatureInfo(
        type_code=leaf(ctx, found, GOVERNMENT_SIGNATURE, "TypeCode")[0].strip(),
        given_name=signer_text("GivenName"),
        family_name=signer_text("FamilyName"),
        title=signer_text("Title"),
        ministry_code=signer_text("MinistryCode").strip(),
        department_code=signer_text("DepartmentCode").strip(),
        has_xmldsig=has_xmldsig,
    )


def _read_ecms(
    ctx: ReadContext, document: Any, parsed: ParsedDocument, resources: XmlResources
) -> XmlLetter:
    top = children(ctx, document, GOVERNMENT_DOCUMENT)
    signature = _signature(ctx, first_group(ctx, top, "GovernmentSignature"))
    element = first_group(ctx, top, "CorrespondenceLetter")
    if element is None:
        return XmlLetter(
            dialect="ecms", letter_id="", correspondence_date=None, subject="", signature=signature
        )
    found = children(ctx, element, ECMS_LETTER)

    def text(name: str) -> tuple[str, str]:
        return leaf(ctx, found, ECMS_LETTER, name)

    mains = found["MainLetterBinaryObject"]
    main = (
        read_payload(
            ctx, mains[0], parsed.payloads.get(mains[0]), PayloadRole.MAIN, 0, resources.mime
        )
        if mains
        else None
    )
    attachments = tuple(
        read_payload(ctx, el, parsed.payloads.get(el), PayloadRole.ATTACHMENT, i, resources.mime)
        for i, el in enumerate(found["AttachmentBinaryObject"], start=1)
    )
    return XmlLetter(
        dialect="ecms",
        letter_id=text("ID")[0],
        correspondence_date=read_date(ctx, *text("CorrespondenceDate")),
        subject=text("Subject")[0],
        secrecy=read_code(ctx, *text("SecretCode"), resources.secrecy),
        speed=read_code(ctx, *text("SpeedCode"), resources.speed),
        sender=_ecms_party(ctx, first_group(ctx, found, "SenderParty")),
        receiver=_ecms_party(ctx, first_group(ctx, found, "ReceiverParty")),
        references=tuple(_ecms_reference(ctx, el) for el in found["ReferenceCorrespondence"]),
        attachment_text=text("Attachment")[0],
        send_date=read_datetime(ctx, *text("SendDate")),
        description=text("Description")[0],
        main_letter=main,
        attachments=attachments,
        signature=signature,
    )


def _dga_party(ctx: ReadContext, element: Any | None) -> Party:
    if element is None:
        return Party()
    found = children(ctx, element, DGA_PARTY)
    return Party(
        department_name=_text(ctx, first_group(ctx, found, "Department"), DGA_NAME, "Name"),
        ministry_name=_text(ctx, first_group(ctx, found, "Ministry"), DGA_NAME, "Name"),
    )


def _dga_code(ctx: ReadContext, element: Any | None) -> tuple[str, str]:
    if element is None:
        return "", ""
    return leaf(ctx, children(ctx, element, DGA_CODE), DGA_CODE, "Code")


def _read_dga(ctx: ReadContext, document: Any, resources: XmlResources) -> XmlLetter:
    found = children(ctx, document, DGA_LETTER)

    def text(name: str) -> tuple[str, str]:
        return leaf(ctx, found, DGA_LETTER, name)

    return XmlLetter(
        dialect="dga",
        letter_id=text("ID")[0],
        correspondence_date=read_date(ctx, *text("CorrespondenceDate")),
        subject=text("Subject")[0],
        secrecy=read_code(
            ctx, *_dga_code(ctx, first_group(ctx, found, "Secret")), resources.secrecy
        ),
        speed=read_code(ctx, *_dga_code(ctx, first_group(ctx, found, "Speed")), resources.speed),
        sender=_dga_party(ctx, first_group(ctx, found, "Sender")),
        receiver=_dga_party(ctx, first_group(ctx, found, "Receiver")),
    )


def _refused(reason: RefusalReason, detail: str = "") -> XmlReadResult:
    english, thai = REFUSAL_TEXT[reason]
    return XmlReadResult(
        status=ReadStatus.REFUSED,
        refusal=Refusal(
            reason=reason,
            message_en=english.format(detail=detail),
            message_th=thai.format(detail=detail),
            detail=detail,
        ),
        validation=refusal_report(reason, detail),
    )


def _read_located(
    ctx: ReadContext, located: Located, parsed: ParsedDocument, resources: XmlResources
) -> XmlReadResult:
    letter = notifier = None
    if located.kind == "ecms":
        letter = _read_ecms(ctx, located.document, parsed, resources)
    elif located.kind == "dga":
        letter = _read_dga(ctx, located.document, resources)
    else:
        notifier = read_notifier(ctx, NotifierKind(located.kind), located.document)
    return XmlReadResult(
        status=ReadStatus.LETTER if letter is not None else ReadStatus.NOTIFIER,
        letter=letter,
        notifier=notifier,
        variants=ctx.variants,
        notices=ctx.notices,
        validation=validate_located(located, parsed, resources),
        process_id=located.process_id,
    )


def read_letter_xml(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_LIMITS.max_bytes,
    max_depth: int = DEFAULT_LIMITS.max_depth,
    max_elements: int = DEFAULT_LIMITS.max_elements,
    max_payload_bytes: int = DEFAULT_LIMITS.max_payload_bytes,
    resources: XmlResources | None = None,
) -> XmlReadResult:
    """Read a CorrespondenceLetter (ECMS or DGA) or a notifier from untrusted bytes.

    Limits: the whole document (``max_bytes``), element nesting (``max_depth``; libxml2 stops at
    256 anyway), element count (``max_elements``) and the decoded size of each embedded file
    (``max_payload_bytes``; a bigger one is reported, not kept). ``resources`` (compiled XSDs
    and code lists) defaults to the process-wide cached ones.
    """
    limits = Limits(
        max_bytes=max_bytes,
        max_depth=max_depth,
        max_elements=max_elements,
        max_payload_bytes=max_payload_bytes,
    )
    data, spaced = declaration_first(data)
    parsed = parse_hardened(data, limits)
    if isinstance(parsed, ParseRefused):
        return _refused(parsed.reason, parsed.detail)
    ctx = ReadContext()
    if spaced:
        ctx.flag(Variant.SPACE_BEFORE_DECLARATION, "/")
    located = locate(ctx, parsed.root)
    if located is None:
        return _refused(RefusalReason.UNKNOWN_DOCUMENT, local_name(parsed.root.tag))
    scan_namespace_declarations(ctx, parsed.root)
    return _read_located(ctx, located, parsed, resources or default_resources())
