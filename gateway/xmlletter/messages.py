"""Every English and Thai sentence the XML reader reports, in one table.

Clerks see these in the review queue and in the validation errors sent back to a sender, so they
are kept together (house style 12) rather than scattered through the reader. ``{detail}`` is
filled with the element, value or parser message concerned.
"""

from __future__ import annotations

from .model import NoticeCode, RefusalReason, Variant

__all__ = [
    "FIELD_LABELS_TH",
    "NOTICE_TEXT",
    "REFUSAL_TEXT",
    "VALIDATION_TEXT_TH",
    "field_label_th",
]

REFUSAL_TEXT: dict[RefusalReason, tuple[str, str]] = {
    RefusalReason.TOO_LARGE: (
        "XML file is larger than the limit ({detail})",
        "แฟ้ม XML มีขนาดเกินกำหนด ({detail})",
    ),
    RefusalReason.EMPTY: ("XML file is empty", "แฟ้ม XML ว่างเปล่า"),
    RefusalReason.DOCTYPE: (
        (
            "XML file declares a DOCTYPE (DTD); refused because DTDs carry external-entity and "
            "entity-expansion attacks and no real letter needs one"
        ),
        (
            "แฟ้ม XML มีการประกาศ DOCTYPE (DTD) จึงไม่รับ เพราะอาจเป็นการโจมตีแบบ XXE หรือ "
            "entity expansion และหนังสือจริงไม่ใช้ DTD"
        ),
    ),
    RefusalReason.TOO_DEEP: (
        "XML elements are nested deeper than the limit ({detail})",
        "แฟ้ม XML ซ้อนองค์ประกอบลึกเกินกำหนด ({detail})",
    ),
    RefusalReason.TOO_MANY_ELEMENTS: (
        "XML file has more elements than the limit ({detail})",
        "แฟ้ม XML มีจำนวนองค์ประกอบเกินกำหนด ({detail})",
    ),
    RefusalReason.MALFORMED: (
        "XML file is not well-formed: {detail}",
        "แฟ้ม XML มีรูปแบบไม่ถูกต้อง อ่านไม่ได้: {detail}",
    ),
    RefusalReason.UNKNOWN_DOCUMENT: (
        "XML file is neither a CorrespondenceLetter nor a notifier (document element {detail})",
        ("แฟ้ม XML ไม่ใช่หนังสือราชการ (CorrespondenceLetter) หรือหนังสือแจ้งสถานะ (องค์ประกอบหลัก {detail})"),
    ),
}

NOTICE_TEXT: dict[Variant | NoticeCode, tuple[str, str]] = {
    Variant.SOAP_ENVELOPE: (
        "the letter is wrapped in a SOAP envelope",
        "หนังสืออยู่ภายใน SOAP envelope",
    ),
    Variant.NO_WRAPPER: (
        "no CorrespondenceLetterOutboundRequest wrapper around {detail}",
        "ไม่มี CorrespondenceLetterOutboundRequest ครอบ {detail}",
    ),
    Variant.OTHER_WRAPPER: (
        "wrapper is {detail}, not CorrespondenceLetterOutboundRequest",
        "องค์ประกอบที่ครอบคือ {detail} ไม่ใช่ CorrespondenceLetterOutboundRequest",
    ),
    Variant.MISSPELT_RAM_NAMESPACE: (
        "misspelt ram namespace {detail}",
        "namespace ของ ram สะกดผิด ({detail})",
    ),
    Variant.SWAPPED_PREFIXES: (
        "namespace prefixes rsm and ram are swapped ({detail})",
        "prefix ของ namespace rsm และ ram สลับกัน ({detail})",
    ),
    Variant.UNEXPECTED_NAMESPACE: (
        "element in an unexpected namespace: {detail}",
        "องค์ประกอบอยู่ใน namespace ที่ไม่ถูกต้อง: {detail}",
    ),
    Variant.PROCESSID_CASE: (
        "element name {detail} should be ProcessID",
        "ชื่อองค์ประกอบ {detail} ควรเป็น ProcessID",
    ),
    Variant.ELEMENT_NAME_CASE: (
        "element name in the wrong case: {detail}",
        "ชื่อองค์ประกอบใช้ตัวพิมพ์เล็ก/ใหญ่ไม่ถูกต้อง: {detail}",
    ),
    Variant.MISSING_OPTIONAL_CHILDREN: (
        "optional element missing: {detail}",
        "ไม่มีองค์ประกอบ (ไม่บังคับ): {detail}",
    ),
    Variant.MISSING_REQUIRED_CHILDREN: (
        "required element missing: {detail}",
        "ขาดองค์ประกอบที่จำเป็น: {detail}",
    ),
    Variant.EMPTY_ELEMENTS: (
        "element is empty but must have a value: {detail}",
        "องค์ประกอบว่างเปล่า แต่ต้องมีค่า: {detail}",
    ),
    Variant.DUPLICATE_ELEMENTS: (
        "element appears more than once; the first was read: {detail}",
        "องค์ประกอบซ้ำ ใช้ค่าแรก: {detail}",
    ),
    Variant.UNKNOWN_ELEMENTS: (
        "unknown element ignored: {detail}",
        "ไม่รู้จักองค์ประกอบ จึงข้ามไป: {detail}",
    ),
    Variant.SPACE_BEFORE_DECLARATION: (
        "whitespace before the XML declaration, skipped",
        "มีช่องว่างหรือบรรทัดว่างก่อนการประกาศ XML (<?xml) จึงข้ามไป",
    ),
    Variant.THAI_DIGITS: (
        "Thai digits read as ASCII digits: {detail}",
        "อ่านเลขไทยเป็นเลขอารบิก: {detail}",
    ),
    Variant.UNPADDED_CODE: (
        "code without leading zeros read as {detail}",
        "รหัสไม่มีเลขศูนย์นำหน้า อ่านเป็น {detail}",
    ),
    Variant.NON_ISO_DATE: (
        "date not in yyyy-MM-dd form, read as {detail}",
        "วันที่ไม่อยู่ในรูปแบบ ปปปป-ดด-วว อ่านเป็น {detail}",
    ),
    Variant.BUDDHIST_ERA_YEAR: (
        "Buddhist-era year read as Gregorian: {detail}",
        "ปีเป็นพุทธศักราช แปลงเป็นคริสต์ศักราช: {detail}",
    ),
    NoticeCode.UNKNOWN_CODE: (
        "code not in the code list, kept as sent: {detail}",
        "รหัสไม่อยู่ในบัญชีรหัส เก็บค่าตามที่ส่งมา: {detail}",
    ),
    NoticeCode.BAD_DATE: ("date could not be read: {detail}", "อ่านวันที่ไม่ได้: {detail}"),
    NoticeCode.BAD_DATETIME: (
        "date and time could not be read: {detail}",
        "อ่านวันที่และเวลาไม่ได้: {detail}",
    ),
    NoticeCode.PAYLOAD_TOO_LARGE: (
        "embedded file is larger than the limit and was not kept: {detail}",
        "แฟ้มที่แนบในหนังสือมีขนาดเกินกำหนด จึงไม่เก็บไว้: {detail}",
    ),
    NoticeCode.BAD_BASE64: (
        "embedded file is not valid base64; decoded what could be: {detail}",
        "แฟ้มที่แนบในหนังสือเข้ารหัส base64 ไม่ถูกต้อง ถอดรหัสได้บางส่วน: {detail}",
    ),
    NoticeCode.EMPTY_PAYLOAD: (
        "embedded file is empty: {detail}",
        "แฟ้มที่แนบในหนังสือว่างเปล่า: {detail}",
    ),
    NoticeCode.TEXT_LOSSY: (
        "text file is neither UTF-8 nor TIS-620; undecodable bytes replaced: {detail}",
        "แฟ้มข้อความไม่ใช่ UTF-8 หรือ TIS-620 อักขระที่อ่านไม่ได้ถูกแทนที่: {detail}",
    ),
    NoticeCode.SIGNATURE_NOT_VERIFIED: (
        "the letter carries an XML signature, which was not verified here",
        "หนังสือมีลายมือชื่อดิจิทัล (XML signature) ซึ่งยังไม่ได้ตรวจสอบในขั้นนี้",
    ),
}

# Thai names of the elements, for validation summaries a clerk can act on.
FIELD_LABELS_TH: dict[str, str] = {
    "CorrespondenceLetterOutboundRequest": "เอกสารหนังสือ",
    "GovernmentDocument": "เอกสารราชการ",
    "CorrespondenceLetter": "หนังสือ",
    "CorrespondenceLetterSpecial": "หนังสือ",
    "ID": "เลขที่หนังสือ",
    "LetterID": "เลขที่หนังสือ",
    "CorrespondenceDate": "ลงวันที่",
    "Subject": "เรื่อง",
    "SecretCode": "ชั้นความลับ",
    "Secret": "ชั้นความลับ",
    "SpeedCode": "ชั้นความเร็ว",
    "Speed": "ชั้นความเร็ว",
    "Code": "รหัส",
    "SenderParty": "ผู้ส่ง",
    "Sender": "ผู้ส่ง",
    "ReceiverParty": "ผู้รับ",
    "Receiver": "ผู้รับ",
    "GivenName": "ชื่อ",
    "FamilyName": "นามสกุล",
    "JobTitle": "ตำแหน่ง",
    "Title": "ตำแหน่ง",
    "MinistryOrganization": "กระทรวง",
    "Ministry": "กระทรวง",
    "MinistryCode": "รหัสกระทรวง",
    "DepartmentOrganization": "หน่วยงาน",
    "Department": "หน่วยงาน",
    "DepartmentCode": "รหัสหน่วยงาน",
    "Name": "ชื่อ",
    "ReferenceCorrespondence": "อ้างถึง",
    "Attachment": "สิ่งที่ส่งมาด้วย",
    "SendDate": "วันที่ส่ง",
    "Description": "รายละเอียด",
    "MainLetterBinaryObject": "แฟ้มหนังสือ",
    "AttachmentBinaryObject": "แฟ้มสิ่งที่ส่งมาด้วย",
    "mimeCode": "ชนิดแฟ้ม (mimeCode)",
    "GovernmentSignature": "ลายมือชื่อดิจิทัล",
    "AcceptID": "เลขทะเบียนรับ",
    "AcceptDate": "วันที่ลงรับ",
    "AcceptDepartment": "หน่วยงานที่ลงรับ",
    "ProcessID": "เลขอ้างอิงการส่ง (ProcessID)",
}

# Names that mean something else under a particular parent ("ID" is a letter number, a
# department code or a ministry code).
FIELD_LABELS_IN_CONTEXT_TH: dict[tuple[str, str], str] = {
    ("DepartmentOrganization", "ID"): "รหัสหน่วยงาน",
    ("MinistryOrganization", "ID"): "รหัสกระทรวง",
    ("ReferenceCorrespondence", "ID"): "เลขที่หนังสือที่อ้างถึง",
    ("ReferenceCorrespondence", "CorrespondenceDate"): "ลงวันที่ของหนังสือที่อ้างถึง",
    ("ReferenceCorrespondence", "Subject"): "เรื่องของหนังสือที่อ้างถึง",
    ("Department", "Name"): "ชื่อหน่วยงาน",
    ("Ministry", "Name"): "ชื่อกระทรวง",
    ("AcceptDepartment", "Code"): "รหัสหน่วยงานที่ลงรับ",
}

VALIDATION_TEXT_TH = {
    "missing": "ขาด {label}",
    "unexpected": "มี {label} ที่ไม่ควรมีหรืออยู่ผิดลำดับ",
    "namespace": "{label} อยู่ใน namespace ที่ไม่ถูกต้อง",
    "value": "{label} มีค่าไม่ถูกต้องตามรูปแบบที่กำหนด",
    "attribute": "{label} ไม่ถูกต้อง",
    "other": "{label} ไม่ตรงตามโครงสร้างที่กำหนด",
    "wrapper": "องค์ประกอบหลักของเอกสารต้องเป็น CorrespondenceLetterOutboundRequest",
}


def field_label_th(local_name: str, parent: str = "") -> str:
    """The Thai name of an element (under ``parent``, if that changes its meaning), with its XML
    name so the sender can find it."""
    label = FIELD_LABELS_IN_CONTEXT_TH.get((parent, local_name)) or FIELD_LABELS_TH.get(local_name)
    return f"{label} ({local_name})" if label else local_name
