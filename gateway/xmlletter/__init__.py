"""CorrespondenceLetter XML: read both dialects and the notifiers, build them, validate them.

Place in the flow (architecture.md): ``parse`` calls :func:`read_letter_xml` on an attached XML
file (pure: bytes in, :class:`XmlReadResult` out); ``validate`` looks at its
:class:`ValidationReport`; effects build notifiers with :func:`build_notifier`; the send side
builds letters with :func:`build_letter_xml` and checks them with :func:`validate_xml`.
The spec is docs/xml.md; our XSDs and code lists are in ``schemas/`` (see :func:`schemas_dir`).
"""

from .build import XmlBuildError, build_letter_xml
from .hardened import Limits
from .model import (
    DS_NS,
    RAM_NS,
    RAM_NS_MISSPELT,
    RSM_NS,
    BinaryPayload,
    CodedValue,
    Dialect,
    Notice,
    NoticeCode,
    Notifier,
    NotifierKind,
    OutgoingFile,
    OutgoingXmlLetter,
    Party,
    PayloadRole,
    ReadStatus,
    Reference,
    Refusal,
    RefusalReason,
    SignatureInfo,
    ValidationIssue,
    ValidationReport,
    Variant,
    XmlLetter,
    XmlReadResult,
)
from .notifiers import build_notifier
from .read import read_letter_xml
from .resources import (
    CodeEntry,
    CodeList,
    XmlResources,
    default_resources,
    load_resources,
    schemas_dir,
)
from .validate import validate_xml

__all__ = [
    "DS_NS",
    "RAM_NS",
    "RAM_NS_MISSPELT",
    "RSM_NS",
    "BinaryPayload",
    "CodeEntry",
    "CodeList",
    "CodedValue",
    "Dialect",
    "Limits",
    "Notice",
    "NoticeCode",
    "Notifier",
    "NotifierKind",
    "OutgoingFile",
    "OutgoingXmlLetter",
    "Party",
    "PayloadRole",
    "ReadStatus",
    "Reference",
    "Refusal",
    "RefusalReason",
    "SignatureInfo",
    "ValidationIssue",
    "ValidationReport",
    "Variant",
    "XmlBuildError",
    "XmlLetter",
    "XmlReadResult",
    "XmlResources",
    "build_letter_xml",
    "build_notifier",
    "default_resources",
    "load_resources",
    "read_letter_xml",
    "schemas_dir",
    "validate_xml",
]
