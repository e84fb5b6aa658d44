"""gateway.xmlletter over the samples in tests/data/xml: both dialects, the five notifiers, the
real-world variants, the hostile inputs; the strict validation report kept beside the lenient
reading; limits; builders' output validating; and a fuzz that nothing raises on bad bytes."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

import gateway.xmlletter as xl
from gateway.xmlletter import (
    RAM_NS,
    RAM_NS_MISSPELT,
    RSM_NS,
    NoticeCode,
    Notifier,
    NotifierKind,
    OutgoingFile,
    OutgoingXmlLetter,
    Party,
    PayloadRole,
    ReadStatus,
    Reference,
    RefusalReason,
    Variant,
    XmlBuildError,
    XmlReadResult,
    build_letter_xml,
    build_notifier,
    default_resources,
    load_resources,
    read_letter_xml,
    schemas_dir,
    validate_xml,
)
from gateway.xmlletter.hardened import Limits, _SkeletonTarget
from gateway.xmlletter.payloads import decode_text
from gateway.xmlletter.resources import SCHEMA_FILES

XML_DIR = Path(__file__).resolve().parents[1] / "data" / "xml"
PACKAGE_DIR = Path(xl.__file__).resolve().parent
THAI = re.compile("[\u0e00-\u0e7f]")

V = Variant


@dataclass(frozen=True)
class Expect:
    status: ReadStatus
    kind: str  # dialect, notifier element name, or refusal reason
    valid: bool
    variants: frozenset[Variant] = frozenset()


def letter(dialect: str, valid: bool = True, *variants: Variant) -> Expect:
    return Expect(ReadStatus.LETTER, dialect, valid, frozenset(variants))


def notifier(kind: NotifierKind, valid: bool = True, *variants: Variant) -> Expect:
    return Expect(ReadStatus.NOTIFIER, kind.value, valid, frozenset(variants))


def refused(reason: RefusalReason) -> Expect:
    return Expect(ReadStatus.REFUSED, reason.value, False)


SAMPLES: dict[str, Expect] = {
    "ecms_letter.xml": letter("ecms"),
    "ecms_letter_signed.xml": letter("ecms"),
    "dga_letter.xml": letter("dga"),
    "dga_letter_tis620.xml": letter("dga"),
    "notifier_receive.xml": notifier(NotifierKind.RECEIVE),
    "notifier_accept.xml": notifier(NotifierKind.ACCEPT),
    "notifier_reject.xml": notifier(NotifierKind.REJECT),
    "notifier_invalid.xml": notifier(NotifierKind.INVALID),
    "notifier_invalid_accept_id.xml": notifier(NotifierKind.INVALID_ACCEPT_ID),
    # known real-world variants: read, reported, and (mostly) not valid against our XSD
    "variant_misspelt_ram_namespace.xml": letter("ecms", False, V.MISSPELT_RAM_NAMESPACE),
    "variant_swapped_prefixes_letter.xml": letter("ecms", True, V.SWAPPED_PREFIXES),
    "variant_swapped_prefixes_notifier.xml": notifier(
        NotifierKind.ACCEPT,
        True,
        V.MISSPELT_RAM_NAMESPACE,
        V.SWAPPED_PREFIXES,
        V.MISSING_OPTIONAL_CHILDREN,
    ),
    "variant_processid_case.xml": letter("dga", False, V.PROCESSID_CASE),
    "variant_missing_optional.xml": letter("ecms", True, V.MISSING_OPTIONAL_CHILDREN),
    "variant_empty_elements.xml": letter("dga", False, V.EMPTY_ELEMENTS),
    "variant_soap_envelope.xml": letter("ecms", True, V.SOAP_ENVELOPE),
    "variant_inbound_response.xml": letter("ecms", False, V.OTHER_WRAPPER, V.UNKNOWN_ELEMENTS),
    "variant_no_wrapper_dga.xml": letter("dga", False, V.NO_WRAPPER),
    "variant_th_culture.xml": letter(
        "dga", False, V.THAI_DIGITS, V.NON_ISO_DATE, V.BUDDHIST_ERA_YEAR
    ),
    "variant_unknown_codes.xml": letter("ecms", False, V.UNPADDED_CODE),
    "variant_bad_base64.xml": letter("ecms", False, V.MISSING_OPTIONAL_CHILDREN),
    # a PHP page's blank lines before <?xml (XML forbids them: libxml2 refused the letter)
    "variant_space_before_declaration.xml": letter("dga", True, V.SPACE_BEFORE_DECLARATION),
    # hostile
    "hostile_xxe.xml": refused(RefusalReason.DOCTYPE),
    "hostile_billion_laughs.xml": refused(RefusalReason.DOCTYPE),
    "hostile_external_dtd.xml": refused(RefusalReason.DOCTYPE),
    "hostile_parameter_entity.xml": refused(RefusalReason.DOCTYPE),
    "hostile_utf16_doctype.xml": refused(RefusalReason.DOCTYPE),
    "hostile_utf32_doctype.xml": refused(RefusalReason.DOCTYPE),
    "hostile_space_then_doctype.xml": refused(RefusalReason.DOCTYPE),
    "hostile_deep.xml": refused(RefusalReason.TOO_DEEP),
    "hostile_xinclude.xml": notifier(NotifierKind.RECEIVE, False, V.UNKNOWN_ELEMENTS),
    "hostile_schema_location.xml": letter("dga"),
    "hostile_oversized_payload.xml": letter("ecms", True, V.MISSING_OPTIONAL_CHILDREN),
    "malformed_unclosed.xml": refused(RefusalReason.MALFORMED),
    "malformed_undefined_entity.xml": refused(RefusalReason.MALFORMED),
    "not_a_letter.xml": refused(RefusalReason.UNKNOWN_DOCUMENT),
}


def read(name: str, *, max_payload_bytes: int = Limits().max_payload_bytes) -> XmlReadResult:
    return read_letter_xml((XML_DIR / name).read_bytes(), max_payload_bytes=max_payload_bytes)


def kind_of(result: XmlReadResult) -> str:
    if result.letter is not None:
        return result.letter.dialect
    if result.notifier is not None:
        return result.notifier.kind.value
    assert result.refusal is not None
    return result.refusal.reason.value


def test_every_sample_file_is_in_the_table() -> None:
    assert sorted(p.name for p in XML_DIR.glob("*.xml")) == sorted(SAMPLES)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_sample(name: str) -> None:
    expect = SAMPLES[name]
    result = read(name)
    assert result.status is expect.status
    assert kind_of(result) == expect.kind
    assert result.valid is expect.valid, result.validation.issues
    assert set(result.variants) == expect.variants, result.notices
    # exactly one of letter / notifier / refusal
    assert [result.letter, result.notifier, result.refusal].count(None) == 2
    # every variant has a notice saying where, in English and Thai
    for variant in result.variants:
        notices = [n for n in result.notices if n.code is variant]
        assert notices and all(
            n.path.startswith("/") and THAI.search(n.message_th) for n in notices
        )
    # the strict report agrees with validate_xml on the same bytes
    assert validate_xml((XML_DIR / name).read_bytes()) == result.validation


@pytest.mark.parametrize("name", sorted(n for n, e in SAMPLES.items() if not e.valid))
def test_invalid_documents_explain_themselves_in_thai_and_english(name: str) -> None:
    result = read(name)
    issues = result.validation.issues
    assert issues
    for issue in issues:
        assert issue.path.startswith("/") and issue.message_en and THAI.search(issue.summary_th)


@pytest.mark.parametrize("name", sorted(n for n, e in SAMPLES.items() if e.kind == "doctype"))
def test_no_entity_is_ever_expanded(name: str) -> None:
    result = read(name)
    assert result.refusal is not None
    assert "DOCTYPE" in result.refusal.message_en and "DOCTYPE" in result.refusal.message_th
    shown = repr(result)
    assert "root:" not in shown and "lollol" not in shown


def test_ecms_letter_fields() -> None:
    result = read("ecms_letter.xml")
    letter = result.letter
    assert letter is not None and letter.dialect == "ecms"
    assert letter.letter_id == "อก 0905/0007"
    assert letter.correspondence_date == date(2012, 9, 7)
    assert letter.subject == "ขอเชิญประชุมคณะทำงาน & ผู้เกี่ยวข้อง (ครั้งที่ ๒/๒๕๕๕)"
    assert letter.secrecy is not None and letter.secrecy.code == "001"
    assert (letter.secrecy.label_th, letter.secrecy.known) == ("ปกติ", True)
    assert letter.speed is not None and (letter.speed.label_th, letter.speed.label_en) == (
        "ด่วน",
        "urgent",
    )
    assert letter.sender == Party(
        given_name="อัครวัฒน์",
        family_name="พุทธจันทร์",
        job_title="นักวิเคราะห์นโยบายและแผน",
        ministry_id="11",
        department_id="11008",
    )
    assert (letter.receiver.ministry_id, letter.receiver.department_id) == ("00", "0031500001")
    assert letter.references == (
        Reference(
            letter_id="อก 0905/0001", correspondence_date=date(2012, 8, 30), subject="แต่งตั้งคณะทำงาน"
        ),
    )
    assert letter.attachment_text == "บัญชีรายชื่อผู้เข้าร่วมประชุม"
    assert letter.send_date == datetime(2012, 9, 7, 10, 15, 30)
    assert letter.description.startswith("โปรดแจ้งรายชื่อ")
    main = letter.main_letter
    assert main is not None and main.role is PayloadRole.MAIN and main.index == 0
    # the base64 was wrapped at 76 characters, as .NET's InsertLineBreaks writes it
    assert main.data.startswith(b"%PDF-1.4\n") and main.data.endswith(b"%%EOF\n")
    assert main.size == len(main.data) and main.problems == ()
    assert (main.mime_code, main.mime.known, main.mime.label_en) == (
        "application/pdf",
        True,
        "PDF document",
    )
    assert main.text is None
    (enclosure,) = letter.attachments
    assert (enclosure.role, enclosure.index, enclosure.mime.code) == (
        PayloadRole.ATTACHMENT,
        1,
        "text/plain",
    )
    # a TIS-620 text file with no charset: not UTF-8, read as cp874
    assert enclosure.text == "สิ่งที่ส่งมาด้วย: บัญชีรายชื่อผู้เข้าร่วมประชุม\r\n"
    assert enclosure.text_encoding == "cp874"
    assert letter.signature is None
    assert result.notices == () and result.process_id == ""


def test_dga_letter_fields_match_seed_003() -> None:
    letter = read("dga_letter.xml").letter
    assert letter is not None and letter.dialect == "dga"
    assert letter.letter_id == "สพร 2564/ว2547"
    assert letter.correspondence_date == date(2021, 11, 16)
    assert letter.secrecy is not None and letter.secrecy.code == "001"
    assert letter.speed is not None and letter.speed.label_th == "ปกติ"
    assert letter.sender == Party(
        department_name="สำนักงานพัฒนารัฐบาลดิจิทัล (องค์การมหาชน)",
        ministry_name="สำนักนายกรัฐมนตรี",
    )
    assert letter.receiver.ministry_name == "กระทรวงยุติธรรม"
    assert letter.main_letter is None and letter.attachments == () and letter.references == ()


def test_tis620_declared_document_reads_like_its_utf8_twin() -> None:
    assert read("dga_letter_tis620.xml").letter == read("dga_letter.xml").letter


def test_variants_still_yield_the_same_letter() -> None:
    reference = read("ecms_letter.xml").letter
    for name in (
        "variant_misspelt_ram_namespace.xml",
        "variant_swapped_prefixes_letter.xml",
        "variant_soap_envelope.xml",
        "variant_inbound_response.xml",
    ):
        assert read(name).letter == reference, name
    assert read("variant_no_wrapper_dga.xml").letter == read("dga_letter.xml").letter
    assert read("variant_processid_case.xml").letter == read("dga_letter.xml").letter
    assert read("variant_space_before_declaration.xml").letter == read("dga_letter.xml").letter


def test_process_id_is_read_whatever_its_case() -> None:
    assert read("variant_processid_case.xml").process_id == "PX-2564-000981"
    assert read("variant_inbound_response.xml").process_id == "20120907-000123"
    notice = next(
        n for n in read("variant_processid_case.xml").notices if n.code is V.PROCESSID_CASE
    )
    assert notice.path == "/CorrespondenceLetterOutboundRequest/processID"


def test_misspelt_namespace_is_one_finding_with_a_thai_validation_summary() -> None:
    result = read("variant_misspelt_ram_namespace.xml")
    notices = [n for n in result.notices if n.code is V.MISSPELT_RAM_NAMESPACE]
    assert len(notices) == 1 and RAM_NS_MISSPELT in notices[0].message_en
    (issue,) = result.validation.issues
    assert issue.path.endswith("/ram:CorrespondenceLetter")
    assert RAM_NS_MISSPELT in issue.message_en and "namespace" in issue.summary_th


def test_th_culture_variant_reads_gregorian_date_and_thai_digit_code() -> None:
    letter = read("variant_th_culture.xml").letter
    assert letter is not None and letter.correspondence_date == date(2021, 11, 16)
    assert letter.speed is not None
    assert (letter.speed.raw, letter.speed.code, letter.speed.label_th) == ("๐๐๓", "003", "ด่วนมาก")


def test_unknown_codes_are_kept_raw_and_flagged() -> None:
    result = read("variant_unknown_codes.xml")
    letter = result.letter
    assert letter is not None and letter.secrecy is not None and letter.speed is not None
    assert (letter.secrecy.raw, letter.secrecy.known, letter.secrecy.label_th) == ("009", False, "")
    assert (letter.speed.raw, letter.speed.code, letter.speed.known) == ("1", "001", True)
    (enclosure,) = letter.attachments
    assert (enclosure.mime_code, enclosure.mime.known) == ("application/x-hwp", False)
    flagged = [
        n.path.rpartition("/")[2] for n in result.notices if n.code is NoticeCode.UNKNOWN_CODE
    ]
    assert sorted(flagged) == ["ram:AttachmentBinaryObject", "ram:SecretCode"]
    # the strict report: "1" is not a three-digit code
    (issue,) = result.validation.issues
    assert issue.path.endswith("ram:SpeedCode") and "ชั้นความเร็ว" in issue.summary_th


def test_empty_elements_are_read_as_empty_and_reported() -> None:
    result = read("variant_empty_elements.xml")
    letter = result.letter
    assert letter is not None
    assert (letter.subject, letter.secrecy, letter.speed) == ("", None, None)
    assert letter.receiver == Party()
    assert letter.sender.department_name == "สำนักงานคณะกรรมการการศึกษาขั้นพื้นฐาน"
    empty = sorted(n.path.rpartition("/")[2] for n in result.notices if n.code is V.EMPTY_ELEMENTS)
    assert empty == ["Ministry", "Receiver", "Secret", "Subject"]
    summaries = " ".join(i.summary_th for i in result.validation.issues)
    assert "เรื่อง (Subject)" in summaries and "หน่วยงาน (Department)" in summaries


def test_missing_optional_children_are_listed() -> None:
    result = read("variant_missing_optional.xml")
    missing = {n.path.rpartition("/")[2] for n in result.notices}
    assert {"SecretCode", "SpeedCode", "Attachment", "SendDate", "Description"} <= missing
    assert {"GivenName", "FamilyName", "JobTitle", "MinistryOrganization"} <= missing
    letter = result.letter
    assert letter is not None and letter.secrecy is None and letter.send_date is None


def test_signed_letter_reports_signer_and_that_the_signature_was_not_verified() -> None:
    result = read("ecms_letter_signed.xml")
    assert result.letter is not None and result.letter.signature is not None
    signature = result.letter.signature
    assert (signature.type_code, signature.title, signature.department_code) == (
        "DSIG",
        "ปลัดกระทรวงอุตสาหกรรม",
        "11008",
    )
    assert signature.has_xmldsig
    assert [n.code for n in result.notices] == [NoticeCode.SIGNATURE_NOT_VERIFIED]


NOTIFIERS = {
    "notifier_receive.xml": (NotifierKind.RECEIVE, "", None, ""),
    "notifier_accept.xml": (NotifierKind.ACCEPT, "2564/1234", date(2021, 11, 17), "0031500001"),
    "notifier_reject.xml": (NotifierKind.REJECT, "", None, ""),
    "notifier_invalid.xml": (NotifierKind.INVALID, "", None, ""),
    "notifier_invalid_accept_id.xml": (NotifierKind.INVALID_ACCEPT_ID, "2564/12345", None, ""),
}


@pytest.mark.parametrize("name", sorted(NOTIFIERS))
def test_notifier_fields(name: str) -> None:
    kind, accept_id, accept_date, department = NOTIFIERS[name]
    assert read(name).notifier == Notifier(
        kind=kind,
        letter_id="สพร 2564/ว2547",
        correspondence_date=date(2021, 11, 16),
        subject="ขอเชิญเข้าร่วมชี้แจงการปรับปรุงระบบสารบรรณอิเล็กทรอนิกส์และอบรมการใช้งาน",
        accept_id=accept_id,
        accept_date=accept_date,
        accept_department_code=department,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021-11-17", date(2021, 11, 17)),
        ("2021-11-17T10:20:00", date(2021, 11, 17)),
        ("2021-11-17T23:20:00+07:00", date(2021, 11, 17)),  # the receiver's own calendar day
        ("2564-11-17", date(2021, 11, 17)),
        ("", None),
    ],
)
def test_accept_date_may_carry_a_time(text: str, expected: date | None) -> None:
    data = (XML_DIR / "notifier_accept.xml").read_text("utf-8").replace("2021-11-17", text)
    result = read_letter_xml(data.encode("utf-8"))
    assert result.notifier is not None and result.notifier.accept_date == expected
    assert result.valid


def test_swapped_prefix_notifier_from_the_csharp_client() -> None:
    result = read("variant_swapped_prefixes_notifier.xml")
    assert result.notifier is not None
    assert (result.notifier.letter_id, result.notifier.accept_id) == ("อก 0905/0007", "รับ 5521")
    assert result.notifier.subject == "ขอเชิญประชุมคณะทำงาน & ผู้เกี่ยวข้อง"
    missing = sorted(
        n.path.rpartition("/")[2] for n in result.notices if n.code is V.MISSING_OPTIONAL_CHILDREN
    )
    assert missing == ["AcceptDate", "AcceptDepartment"]


# -- dates as real senders write them -----------------------------------------------------------


DATES: list[tuple[str, date | None, set[Variant | NoticeCode]]] = [
    ("2021-11-16", date(2021, 11, 16), set()),
    ("2021-11-16+07:00", date(2021, 11, 16), set()),
    ("2021-11-16T00:00:00", date(2021, 11, 16), {V.NON_ISO_DATE}),
    ("16/11/2021", date(2021, 11, 16), {V.NON_ISO_DATE}),
    ("16/11/2021 0:00:00", date(2021, 11, 16), {V.NON_ISO_DATE}),
    ("11/16/2021 12:00:00 AM", date(2021, 11, 16), {V.NON_ISO_DATE}),
    ("2564-11-16", date(2021, 11, 16), {V.BUDDHIST_ERA_YEAR}),
    ("๒๕๖๔-๑๑-๑๖", date(2021, 11, 16), {V.BUDDHIST_ERA_YEAR, V.THAI_DIGITS}),
    ("2567-02-29", date(2024, 2, 29), {V.BUDDHIST_ERA_YEAR}),
    ("2021-02-30", None, {NoticeCode.BAD_DATE}),
    ("16 พ.ย. 2564", None, {NoticeCode.BAD_DATE}),
    ("", None, {V.EMPTY_ELEMENTS}),
]


@pytest.mark.parametrize(("text", "expected", "codes"), DATES)
def test_correspondence_date_forms(
    text: str, expected: date | None, codes: set[Variant | NoticeCode]
) -> None:
    data = (XML_DIR / "dga_letter.xml").read_text("utf-8").replace("2021-11-16", text)
    result = read_letter_xml(data.encode("utf-8"))
    assert result.letter is not None and result.letter.correspondence_date == expected
    assert {n.code for n in result.notices} == codes
    # only xs:date forms are valid against the XSD; 2567-02-29 is not a date in the Gregorian
    # calendar xs:date uses, though it is one in the Thai calendar (2024-02-29)
    assert result.valid is (text in ("2021-11-16", "2021-11-16+07:00", "2564-11-16"))


SEND_DATES: list[tuple[str, datetime | None, set[Variant | NoticeCode]]] = [
    ("2012-09-07T10:15:30", datetime(2012, 9, 7, 10, 15, 30), set()),
    (
        "2012-09-07T10:15:30+07:00",
        datetime(2012, 9, 7, 10, 15, 30, tzinfo=timezone(timedelta(hours=7))),
        set(),
    ),
    ("2012-09-07T03:15:30Z", datetime(2012, 9, 7, 3, 15, 30, tzinfo=UTC), set()),
    ("2012-09-07T10:15:30.25", datetime(2012, 9, 7, 10, 15, 30, 250000), set()),
    (
        "07/09/2555 10:15:30",
        datetime(2012, 9, 7, 10, 15, 30),
        {V.NON_ISO_DATE, V.BUDDHIST_ERA_YEAR},
    ),
    ("9/7/2012 3:15:30 PM", datetime(2012, 9, 7, 15, 15, 30), {V.NON_ISO_DATE}),
    ("2012-09-07", datetime(2012, 9, 7), {V.NON_ISO_DATE}),
    ("yesterday", None, {NoticeCode.BAD_DATETIME}),
    ("", None, set()),
]


@pytest.mark.parametrize(("text", "expected", "codes"), SEND_DATES)
def test_send_date_forms(
    text: str, expected: datetime | None, codes: set[Variant | NoticeCode]
) -> None:
    data = (XML_DIR / "ecms_letter.xml").read_text("utf-8").replace("2012-09-07T10:15:30", text)
    result = read_letter_xml(data.encode("utf-8"))
    assert result.letter is not None
    assert result.letter.send_date == expected
    if expected is not None:
        assert result.letter.send_date.tzinfo == expected.tzinfo  # type: ignore[union-attr]
    assert {n.code for n in result.notices} == codes


# -- embedded files -----------------------------------------------------------------------------


def test_bad_base64_is_decoded_as_far_as_possible_and_reported() -> None:
    result = read("variant_bad_base64.xml")
    assert result.letter is not None and result.letter.main_letter is not None
    main = result.letter.main_letter
    assert NoticeCode.BAD_BASE64 in main.problems
    assert main.data.startswith(b"%PDF-1.4")  # the characters before the junk decoded fine
    (issue,) = result.validation.issues
    assert issue.path.endswith("ram:MainLetterBinaryObject") and "base64" in issue.summary_th


def test_payload_over_the_limit_is_not_kept_but_its_size_is_known() -> None:
    full = read("hostile_oversized_payload.xml")
    assert full.letter is not None and full.letter.main_letter is not None
    assert full.letter.main_letter.size == 204_809 and full.valid

    limited = read("hostile_oversized_payload.xml", max_payload_bytes=100_000)
    assert limited.letter is not None and limited.letter.main_letter is not None
    main = limited.letter.main_letter
    assert (main.data, main.size, main.problems) == (b"", 204_809, (NoticeCode.PAYLOAD_TOO_LARGE,))
    assert not limited.valid
    assert [i.path.rpartition("/")[2] for i in limited.validation.issues] == [
        "ram:MainLetterBinaryObject"
    ]
    # the letter's fields are still read
    assert limited.letter.letter_id == "นร 0506/ว 123"


BASE64_CASES: list[tuple[str, bytes, bool]] = [
    ("QUJD", b"ABC", False),
    ("QUI=", b"AB", False),
    ("QQ==", b"A", False),
    (" Q U\nJ D\r\n\tRA== ", b"ABCD", False),
    ("QUI", b"AB", True),  # padding missing
    ("QQ==QUJD", b"AABC", True),  # data after the padding
    ("QU*JD", b"ABC", True),  # a character outside the alphabet
    ("QUJDé", b"ABC", True),
    ("Q", b"", True),
]


@pytest.mark.parametrize(("text", "data", "bad"), BASE64_CASES)
def test_base64_decoding(text: str, data: bytes, bad: bool) -> None:
    xml = (XML_DIR / "variant_missing_optional.xml").read_text("utf-8")
    start = xml.index('mimeCode="application/pdf">') + len('mimeCode="application/pdf">')
    xml = xml[:start] + text + xml[xml.index("</ram:MainLetterBinaryObject>") :]
    result = read_letter_xml(xml.encode("utf-8"))
    assert result.letter is not None and result.letter.main_letter is not None
    main = result.letter.main_letter
    assert main.data == data
    assert (NoticeCode.BAD_BASE64 in main.problems) is bad
    assert result.valid is (not bad and bool(data))


def test_empty_main_letter_is_a_validation_issue() -> None:
    xml = (XML_DIR / "variant_missing_optional.xml").read_text("utf-8")
    start = xml.index('mimeCode="application/pdf">') + len('mimeCode="application/pdf">')
    xml = xml[:start] + xml[xml.index("</ram:MainLetterBinaryObject>") :]
    result = read_letter_xml(xml.encode("utf-8"))
    assert result.letter is not None and result.letter.main_letter is not None
    assert result.letter.main_letter.problems == (NoticeCode.EMPTY_PAYLOAD,)
    assert not result.valid


TEXTS: list[tuple[bytes, str, str, str, bool]] = [
    ("สวัสดี".encode(), "text/plain", "สวัสดี", "utf-8", False),
    ("สวัสดี".encode("cp874"), "text/plain", "สวัสดี", "cp874", False),
    ("สวัสดี".encode("cp874"), "text/plain; charset=windows-874", "สวัสดี", "cp874", False),
    ("สวัสดี".encode("cp874"), "text/plain; charset=TIS-620", "สวัสดี", "cp874", False),
    ("สวัสดี".encode("cp874"), "text/plain; charset=utf-8", "สวัสดี", "cp874", False),
    (b"\xef\xbb\xbf" + "ไทย".encode(), "text/plain", "ไทย", "utf-8", False),
    ("ไทย".encode("utf-16"), "text/plain", "ไทย", "utf-16", False),
    (b"abc\xdb", "text/plain", "abc\ufffd", "cp874", True),  # 0xDB is undefined in TIS-620
]


@pytest.mark.parametrize(("data", "mime", "text", "encoding", "lossy"), TEXTS)
def test_text_payload_decoding(
    data: bytes, mime: str, text: str, encoding: str, lossy: bool
) -> None:
    assert decode_text(data, mime) == (text, encoding, lossy)


# -- limits and hostile input --------------------------------------------------------------------


def test_size_limit_is_checked_before_parsing() -> None:
    data = (XML_DIR / "ecms_letter.xml").read_bytes()
    result = read_letter_xml(data, max_bytes=len(data) - 1)
    assert result.refusal is not None and result.refusal.reason is RefusalReason.TOO_LARGE
    assert read_letter_xml(data, max_bytes=len(data)).status is ReadStatus.LETTER
    huge = b"<a>" + b" " * (64 * 1024 * 1024) + b"</a>"
    assert read_letter_xml(huge).status is ReadStatus.REFUSED


def test_depth_and_element_limits() -> None:
    data = (XML_DIR / "ecms_letter.xml").read_bytes()
    too_deep = read_letter_xml(data, max_depth=5)
    assert too_deep.refusal is not None and too_deep.refusal.reason is RefusalReason.TOO_DEEP
    assert read_letter_xml(data, max_depth=7).status is ReadStatus.LETTER
    wide = read_letter_xml(data, max_elements=20)
    assert wide.refusal is not None and wide.refusal.reason is RefusalReason.TOO_MANY_ELEMENTS
    # libxml2's own bound (256 without huge_tree) is reported the same way
    nested = b"<a>" * 300 + b"</a>" * 300
    beyond = read_letter_xml(nested, max_depth=1000)
    assert beyond.refusal is not None and beyond.refusal.reason is RefusalReason.TOO_DEEP


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", RefusalReason.EMPTY),
        (b" \r\n\t", RefusalReason.EMPTY),
        (b"not xml at all", RefusalReason.MALFORMED),
        (b"<a><b></a>", RefusalReason.MALFORMED),
        (b"\x00\x01\x02\xff", RefusalReason.MALFORMED),
        (b"<Envelope><Body/></Envelope>", RefusalReason.UNKNOWN_DOCUMENT),
        (b"<CorrespondenceLetterOutboundRequest/>", RefusalReason.UNKNOWN_DOCUMENT),
        # a DOCTYPE after the first element is no DTD, but a syntax error
        (b"<a/><!DOCTYPE a>", RefusalReason.MALFORMED),
    ],
)
def test_refusals(data: bytes, reason: RefusalReason) -> None:
    result = read_letter_xml(data)
    assert result.status is ReadStatus.REFUSED
    assert result.refusal is not None and result.refusal.reason is reason
    assert result.refusal.message_en and THAI.search(result.refusal.message_th)
    assert validate_xml(data).schema == "" and not validate_xml(data).valid


def test_doctype_inside_a_comment_is_not_a_doctype() -> None:
    data = (
        (XML_DIR / "dga_letter.xml")
        .read_bytes()
        .replace(
            b"<CorrespondenceLetterSpecial>",
            b"<!-- <!DOCTYPE x> --><CorrespondenceLetterSpecial>",
            1,
        )
    )
    assert read_letter_xml(data).status is ReadStatus.LETTER


def test_parser_target_refuses_a_doctype_the_prolog_check_did_not_see() -> None:
    # Second line of defence: the target's doctype() callback, reached before any entity
    # declaration is read, for an encoding the prolog check might not recognise.
    target = _SkeletonTarget(Limits())
    parser = etree.XMLParser(target=target, resolve_entities=False, no_network=True)
    with pytest.raises(etree.LxmlError):
        etree.fromstring(
            b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>', parser
        )
    assert target.refused is not None and target.refused.reason is RefusalReason.DOCTYPE


def test_parsed_tree_keeps_the_prefixes_the_sender_declared() -> None:
    # lxml 6.2.0 stopped passing nsmap to a target's start() (LP#2178248): the tree must still
    # carry the sender's own prefixes, never ns0/ns1 made up by the TreeBuilder.
    data = (
        f'<w xmlns="urn:d"><rsm:a xmlns:rsm="{RAM_NS}" xmlns:ram="{RSM_NS}">'
        "<ram:b/><c/></rsm:a></w>"
    ).encode()
    parsed = xl.hardened.parse_hardened(data, Limits())
    assert isinstance(parsed, xl.hardened.ParsedDocument)
    a, b, c = parsed.root[0], parsed.root[0][0], parsed.root[0][1]
    assert (parsed.root.prefix, a.prefix, b.prefix, c.prefix) == (None, "rsm", "ram", None)
    assert a.nsmap == {None: "urn:d", "rsm": RAM_NS, "ram": RSM_NS}
    assert parsed.root.nsmap == {None: "urn:d"}


_SAMPLE_BYTES = [(XML_DIR / name).read_bytes() for name in sorted(SAMPLES)]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    result = read_letter_xml(data)
    assert result.status in ReadStatus
    validate_xml(data)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(_SAMPLE_BYTES),
    st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), min_size=1, max_size=8),
)
def test_mutated_samples_never_raise(data: bytes, flips: list[tuple[int, int]]) -> None:
    mutated = bytearray(data)
    for position, value in flips:
        mutated[position % len(mutated)] = value
    result = read_letter_xml(bytes(mutated))
    assert [result.letter, result.notifier, result.refusal].count(None) == 2


# -- builders ------------------------------------------------------------------------------------


FULL = OutgoingXmlLetter(
    letter_id="ศธ 04183/ว1891",
    correspondence_date=date(2023, 6, 20),
    subject='ขอเชิญประชุม "วางแผน" <ด่วน> & ติดตาม ครั้งที่ ๑',
    secrecy_code="001",
    speed_code="003",
    sender=Party(
        given_name="สมหญิง",
        family_name="รักงาน",
        job_title="ผู้อำนวยการ",
        ministry_id="20",
        department_id="2004183",
        ministry_name="กระทรวงศึกษาธิการ",
        department_name="สำนักงานเขตพื้นที่การศึกษา",
    ),
    receiver=Party(ministry_id="00", department_id="0031500001", department_name="สพร"),
    references=(Reference("ศธ 04183/ว1800", date(2023, 5, 1), "เรื่องเดิม"),),
    attachment_text="กำหนดการ 1 ฉบับ",
    send_date=datetime(2023, 6, 20, 14, 5, 9),
    description="",
    main_letter=OutgoingFile("application/pdf", b"%PDF-1.7\n" + bytes(range(256)) * 40),
    attachments=(OutgoingFile("text/plain", "กำหนดการ".encode()),),
)


@pytest.mark.parametrize("dialect", ["ecms", "dga"])
def test_built_letter_validates_and_reads_back_without_variants(dialect: str) -> None:
    data = build_letter_xml(FULL, dialect=dialect)  # type: ignore[arg-type]
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    assert validate_xml(data).valid
    result = read_letter_xml(data)
    assert result.valid and result.variants == () and result.notices == ()
    assert result.letter is not None and result.letter.subject == FULL.subject
    assert RAM_NS_MISSPELT.encode() not in data


def test_ecms_output_has_the_right_namespaces_and_prefixes() -> None:
    root = etree.fromstring(build_letter_xml(FULL, dialect="ecms"))
    assert root.tag == "CorrespondenceLetterOutboundRequest" and root.nsmap == {}
    document = root[0]
    assert document.tag == f"{{{RSM_NS}}}GovernmentDocument"
    assert document.nsmap == {"rsm": RSM_NS, "ram": RAM_NS}
    assert document.prefix == "rsm" and document[0].prefix == "ram"
    assert document[0].get("ID") == "Letter"
    names = [etree.QName(child).localname for child in document[0]]
    assert names == [
        "ID",
        "CorrespondenceDate",
        "Subject",
        "SecretCode",
        "SpeedCode",
        "SenderParty",
        "ReceiverParty",
        "ReferenceCorrespondence",
        "Attachment",
        "SendDate",
        "Description",
        "MainLetterBinaryObject",
        "AttachmentBinaryObject",
    ]
    main = document[0].find(f"{{{RAM_NS}}}MainLetterBinaryObject")
    assert main is not None and base64.b64decode(main.text or "") == FULL.main_letter.data  # type: ignore[union-attr]


def test_builders_emit_every_child_even_when_empty() -> None:
    bare = OutgoingXmlLetter(letter_id="", correspondence_date=date(2024, 1, 2), subject="")
    ecms = etree.fromstring(build_letter_xml(bare, dialect="ecms"))
    leaves = {etree.QName(el).localname for el in ecms.iter() if len(el) == 0}
    assert {
        "ID",
        "Subject",
        "SecretCode",
        "SpeedCode",
        "GivenName",
        "FamilyName",
        "JobTitle",
        "Attachment",
        "SendDate",
        "Description",
        "MainLetterBinaryObject",
    } <= leaves
    dga = etree.fromstring(build_letter_xml(bare, dialect="dga"))
    assert [etree.QName(el).localname for el in dga.iter()] == [
        "CorrespondenceLetterOutboundRequest",
        "CorrespondenceLetterSpecial",
        "ID",
        "CorrespondenceDate",
        "Subject",
        "Secret",
        "Code",
        "Speed",
        "Code",
        "Sender",
        "Department",
        "Name",
        "Ministry",
        "Name",
        "Receiver",
        "Department",
        "Name",
        "Ministry",
        "Name",
    ]
    # what is missing is reported by validation, in Thai too, before anything is sent
    report = validate_xml(build_letter_xml(bare, dialect="ecms"))
    assert not report.valid
    summaries = " ".join(i.summary_th for i in report.issues)
    assert "เรื่อง (Subject)" in summaries and "แฟ้มหนังสือ" in summaries


@pytest.mark.parametrize(
    ("letter", "message"),
    [
        (OutgoingXmlLetter("a\x00b", date(2024, 1, 2), "s"), "U+0000"),
        (OutgoingXmlLetter("a", date(2024, 1, 2), "s\ufffe"), "U+FFFE"),
        (OutgoingXmlLetter("a", date(2567, 1, 2), "s"), "Buddhist-era"),
        (
            OutgoingXmlLetter("a", date(2024, 1, 2), "s", send_date=datetime(2566, 1, 1)),
            "Buddhist-era",
        ),
    ],
)
def test_builder_refuses_what_xml_cannot_carry(letter: OutgoingXmlLetter, message: str) -> None:
    with pytest.raises(XmlBuildError, match=re.escape(message)):
        build_letter_xml(letter, dialect="ecms")


@pytest.mark.parametrize("kind", list(NotifierKind))
def test_built_notifiers_validate_and_read_back(kind: NotifierKind) -> None:
    sent = Notifier(
        kind=kind,
        letter_id="สพร 2564/ว2547",
        correspondence_date=date(2021, 11, 16),
        subject="ขอเชิญ & <ทดสอบ>",
        accept_id="2564/77" if kind.carries_accept_id else "",
        accept_date=date(2021, 11, 17) if kind is NotifierKind.ACCEPT else None,
        accept_department_code="0031500001" if kind is NotifierKind.ACCEPT else "",
    )
    data = build_notifier(sent)
    report = validate_xml(data)
    assert report.valid and report.schema == SCHEMA_FILES[kind.value]
    result = read_letter_xml(data)
    assert result.notifier == sent and result.variants == () and result.notices == ()


def test_accept_notifier_without_a_receive_number_does_not_validate() -> None:
    data = build_notifier(Notifier(NotifierKind.ACCEPT, "x", None, "s"))
    report = validate_xml(data)
    assert [i.path for i in report.issues] == [
        "/CorrespondenceLetterOutboundRequest/AcceptLetterNotifier/AcceptID"
    ]
    assert "เลขทะเบียนรับ" in report.issues[0].summary_th


# -- resources and house style --------------------------------------------------------------------


def test_schemas_and_code_lists_load_once() -> None:
    assert (schemas_dir() / "ecms-letter.xsd").is_file()
    assert default_resources() is default_resources()
    resources = load_resources(schemas_dir())
    assert set(resources.schemas) == set(SCHEMA_FILES)
    assert resources.speed.entries["004"].label_th == "ด่วนที่สุด"
    assert resources.secrecy.entries["002"].label_en == "confidential"
    assert resources.mime.extension("application/pdf") == "pdf"


def test_validation_never_fetches_location_hints() -> None:
    # xsi:noNamespaceSchemaLocation names a permissive remote schema; had it been fetched
    # (there is no network here) the report would carry an error about it.
    report = validate_xml((XML_DIR / "hostile_schema_location.xml").read_bytes())
    assert report.valid and report.schema == "dga-letter.xsd"
