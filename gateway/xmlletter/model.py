"""Value types of the CorrespondenceLetter XML reader and builders (docs/xml.md).

``read.read_letter_xml`` turns bytes into an :class:`XmlReadResult`: a :class:`XmlLetter` (either
dialect) or a :class:`Notifier`, the real-world variants it tolerated, the things it flagged, and a
strict :class:`ValidationReport` against our own XSDs, kept apart so that a letter that does not
validate is still read. Builders take an :class:`OutgoingXmlLetter` or a :class:`Notifier`.
Everything here is a frozen dataclass or an enum: data, not behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Literal

__all__ = [
    "DS_NS",
    "RAM_NS",
    "RAM_NS_MISSPELT",
    "RSM_NS",
    "SOAP_NS",
    "BinaryPayload",
    "CodedValue",
    "Dialect",
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
    "XmlLetter",
    "XmlReadResult",
]

RSM_NS = "urn:th:gov:egif:data:standard:GovernmentDocument:1.0"
RAM_NS = "urn:th:gov:egif:data:standard:ReusableAggregateBusinessInformationEntity:1"
# One real client writes this (docs/xml.md, "Namespaces"): accepted on input, never emitted.
RAM_NS_MISSPELT = "urn:th:gov:egif:data:standard:ReuseableAggregateBusinessInformaionEntity:1"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"

Dialect = Literal["ecms", "dga"]
"""``ecms``: TH e-GIF rsm:GovernmentDocument/ram:CorrespondenceLetter; ``dga``: DGA's e-mail
variant CorrespondenceLetterSpecial."""


class NotifierKind(StrEnum):
    """The five status messages; the value is the element name on the wire."""

    RECEIVE = "ReceiveLetterNotifier"  # receiver: the letter arrived
    ACCEPT = "AcceptLetterNotifier"  # receiver: registered; AcceptID = its receive number
    REJECT = "RejectLetterNotifier"  # receiver: refused (not ours, not acceptable)
    INVALID = "InvalidLetterNotifier"  # receiver: wrong or defective letter, please resend
    INVALID_ACCEPT_ID = "InvalidAcceptIDNotifier"  # sender: the AcceptID you gave is wrong

    @property
    def carries_accept_id(self) -> bool:
        return self in (NotifierKind.ACCEPT, NotifierKind.INVALID_ACCEPT_ID)


class ReadStatus(StrEnum):
    LETTER = "letter"
    NOTIFIER = "notifier"
    REFUSED = "refused"  # hostile, malformed, too big, or not a CorrespondenceLetter document


class RefusalReason(StrEnum):
    TOO_LARGE = "too_large"
    EMPTY = "empty"
    DOCTYPE = "doctype"  # any DTD: XXE, billion laughs, external DTD all need one
    TOO_DEEP = "too_deep"
    TOO_MANY_ELEMENTS = "too_many_elements"
    MALFORMED = "malformed"
    UNKNOWN_DOCUMENT = "unknown_document"  # well-formed XML, but neither letter nor notifier


class Variant(StrEnum):
    """Real-world deviations the reader accepts and reports (docs/xml.md, domain.md §8)."""

    SOAP_ENVELOPE = "soap_envelope"  # the whole SOAP message was attached, not just the body
    NO_WRAPPER = "no_wrapper"  # document element without CorrespondenceLetterOutboundRequest
    OTHER_WRAPPER = "other_wrapper"  # e.g. CorrespondenceLetterInboundResponse
    MISSPELT_RAM_NAMESPACE = "misspelt_ram_namespace"  # ReuseableAggregate…Informaion…
    SWAPPED_PREFIXES = "swapped_prefixes"  # rsm: bound to the ram URI or the reverse
    UNEXPECTED_NAMESPACE = "unexpected_namespace"  # element in another namespace than ours
    PROCESSID_CASE = "processid_case"  # processID for ProcessID
    ELEMENT_NAME_CASE = "element_name_case"  # any other element spelt in another case
    MISSING_OPTIONAL_CHILDREN = "missing_optional_children"
    MISSING_REQUIRED_CHILDREN = "missing_required_children"
    EMPTY_ELEMENTS = "empty_elements"  # an element that must carry a value or children is empty
    DUPLICATE_ELEMENTS = "duplicate_elements"  # a single-valued element repeated; first one read
    UNKNOWN_ELEMENTS = "unknown_elements"  # children we do not know; ignored
    THAI_DIGITS = "thai_digits"  # ๐–๙ in a code or a date
    UNPADDED_CODE = "unpadded_code"  # "1" for "001"
    NON_ISO_DATE = "non_iso_date"  # dd/MM/yyyy, or a date and time where a date belongs
    BUDDHIST_ERA_YEAR = "buddhist_era_year"  # 2564-11-16 (th-TH culture); read as 2021
    SPACE_BEFORE_DECLARATION = "space_before_declaration"  # a blank line before <?xml (PHP)


class NoticeCode(StrEnum):
    """Things the reader flagged without refusing the document."""

    UNKNOWN_CODE = "unknown_code"  # speed, secrecy or MIME code not in schemas/codelists
    BAD_DATE = "bad_date"
    BAD_DATETIME = "bad_datetime"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    BAD_BASE64 = "bad_base64"
    EMPTY_PAYLOAD = "empty_payload"
    TEXT_LOSSY = "text_lossy"  # text/plain payload undecodable even as cp874; replaced chars
    SIGNATURE_NOT_VERIFIED = "signature_not_verified"  # ds:Signature present; not checked here


class PayloadRole(StrEnum):
    MAIN = "main"  # MainLetterBinaryObject: the letter itself
    ATTACHMENT = "attachment"  # AttachmentBinaryObject: an enclosure


@dataclass(frozen=True, slots=True)
class CodedValue:
    """A code read through a code list (schemas/codelists/*.csv).

    ``raw`` is the text as sent; ``code`` its normalised form (trimmed, Thai digits as ASCII,
    zero-padded; MIME codes lower-cased without parameters). An unknown code keeps its raw value,
    has ``known`` False and empty labels, and is flagged with a notice.
    """

    raw: str
    code: str
    label_th: str
    label_en: str
    known: bool


@dataclass(frozen=True, slots=True)
class Party:
    """Sender or receiver. ECMS names people and codes organisations (``*_id``); DGA names the
    organisations (``*_name``); each dialect leaves the other's fields empty."""

    given_name: str = ""
    family_name: str = ""
    job_title: str = ""
    ministry_id: str = ""
    department_id: str = ""
    ministry_name: str = ""
    department_name: str = ""


@dataclass(frozen=True, slots=True)
class Reference:
    """อ้างถึง: a letter this one refers to (ECMS ReferenceCorrespondence)."""

    letter_id: str
    correspondence_date: date | None
    subject: str


@dataclass(frozen=True, slots=True)
class BinaryPayload:
    """A file carried inline as base64, decoded once while parsing.

    ``index`` is 0 for the main letter and 1, 2, … for enclosures in document order. ``data`` is
    empty when the payload was over the per-payload limit (``size`` then says how big it claimed
    to be). ``text`` is set for ``text/plain`` payloads, decoded as the declared charset, else
    UTF-8, else cp874 (TIS-620); ``text_encoding`` names the codec that worked.
    """

    role: PayloadRole
    index: int
    mime_code: str
    mime: CodedValue
    data: bytes
    size: int
    text: str | None = None
    text_encoding: str | None = None
    problems: tuple[NoticeCode, ...] = ()


@dataclass(frozen=True, slots=True)
class SignatureInfo:
    """ECMS ram:GovernmentSignature. ``has_xmldsig`` says a ds:Signature is present; verifying it
    is not this module's job (and must never be required: old senders use rsa-sha1)."""

    type_code: str = ""
    given_name: str = ""
    family_name: str = ""
    title: str = ""
    ministry_code: str = ""
    department_code: str = ""
    has_xmldsig: bool = False


@dataclass(frozen=True, slots=True)
class XmlLetter:
    """A CorrespondenceLetter as read, either dialect. Free text is kept exactly as sent;
    absent and empty text both read as ``""``, absent or empty codes and dates as None."""

    dialect: Dialect
    letter_id: str
    correspondence_date: date | None
    subject: str
    secrecy: CodedValue | None = None
    speed: CodedValue | None = None
    sender: Party = field(default_factory=Party)
    receiver: Party = field(default_factory=Party)
    references: tuple[Reference, ...] = ()
    attachment_text: str = ""
    send_date: datetime | None = None
    description: str = ""
    main_letter: BinaryPayload | None = None
    attachments: tuple[BinaryPayload, ...] = ()
    signature: SignatureInfo | None = None


@dataclass(frozen=True, slots=True)
class Notifier:
    """A status message, read or to be built.

    ``accept_id`` is the receiver's receive number: set for ACCEPT and INVALID_ACCEPT_ID, empty
    otherwise. ``accept_date`` and ``accept_department_code`` are the optional extras of an
    AcceptLetterNotifier. No notifier carries a reason on the wire (docs/xml.md).
    """

    kind: NotifierKind
    letter_id: str
    correspondence_date: date | None
    subject: str
    accept_id: str = ""
    accept_date: date | None = None
    accept_department_code: str = ""


@dataclass(frozen=True, slots=True)
class Notice:
    """One thing noticed while reading: a variant or a flag, where, in English and Thai."""

    code: Variant | NoticeCode
    path: str
    message_en: str
    message_th: str


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a document was not read at all. ``detail`` is the parser's own words, if any."""

    reason: RefusalReason
    message_en: str
    message_th: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ValidationIssue:
    """One way the document breaks our XSD: where, what (English), and a Thai summary."""

    path: str
    message_en: str
    summary_th: str


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """Strict validation against ``schemas/<schema>``; ``schema`` is empty when no schema
    applies (the document was refused or is not a letter or notifier)."""

    schema: str
    issues: tuple[ValidationIssue, ...] = ()

    @property
    def valid(self) -> bool:
        return bool(self.schema) and not self.issues


@dataclass(frozen=True, slots=True)
class XmlReadResult:
    """What ``read_letter_xml`` made of some bytes. Exactly one of ``letter``, ``notifier`` and
    ``refusal`` is set, as ``status`` says. ``variants`` lists each tolerated variant once, in the
    order first met; ``notices`` has the details (path, English, Thai) of variants and flags."""

    status: ReadStatus
    letter: XmlLetter | None = None
    notifier: Notifier | None = None
    refusal: Refusal | None = None
    variants: tuple[Variant, ...] = ()
    notices: tuple[Notice, ...] = ()
    validation: ValidationReport = field(default_factory=lambda: ValidationReport(schema=""))
    process_id: str = ""

    @property
    def valid(self) -> bool:
        return self.validation.valid


@dataclass(frozen=True, slots=True)
class OutgoingFile:
    """A file to carry inline: its MIME code (there is no file name on the wire) and bytes."""

    mime_code: str
    data: bytes


@dataclass(frozen=True, slots=True)
class OutgoingXmlLetter:
    """A letter to build. The DGA dialect carries only the number, date, subject, codes and the
    parties' department and ministry names; the rest is ECMS only. ``send_date`` is written to the
    second (yyyy-MM-ddTHH:mm:ss, with its offset when aware)."""

    letter_id: str
    correspondence_date: date
    subject: str
    secrecy_code: str = "001"
    speed_code: str = "001"
    sender: Party = field(default_factory=Party)
    receiver: Party = field(default_factory=Party)
    references: tuple[Reference, ...] = ()
    attachment_text: str = ""
    send_date: datetime | None = None
    description: str = ""
    main_letter: OutgoingFile | None = None
    attachments: tuple[OutgoingFile, ...] = ()
