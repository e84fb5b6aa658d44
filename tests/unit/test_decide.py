"""validate / decide: the pure core's rules, as a table, with no I/O."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from gateway.core.classify import (
    Facts,
    Outcome,
    PdfFacts,
    Policy,
    Reading,
    SignatureFact,
    XmlFacts,
    ack_address,
    classify,
    decide,
    sender_flags,
    validate,
)
from gateway.core.parse import parse_message
from gateway.letter import Attachment, Field, FieldSource, LetterFields, ParsedMessage, Secrecy
from gateway.trust import AuthResult, SenderAuth

POLICY = Policy(central_addresses=("saraban@agency.test",), ack_disabled_domains=("units.agency.test",),
                max_message_bytes=1000)

PDF = Attachment("2569_OBEC_1.pdf", "2569_OBEC_1.pdf", "application/pdf", b"%PDF-1.7", "0" * 64,
                 False, None, "mime")


def msg(**kw: object) -> ParsedMessage:
    base = dict(message_id="<m@x>", subject="เรื่อง", from_addr="saraban@obec.go.th",
                from_name="สพฐ.", to_addrs=("saraban@agency.test",), cc_addrs=(), date=None,
                in_reply_to=None, references=(), body_text="เรียน", body_html="",
                attachments=(PDF,), defects=(), is_auto_reply=False, raw_size=500)
    base.update(kw)
    return ParsedMessage(**base)  # type: ignore[arg-type]


FULL = LetterFields(
    letter_no=Field("ศธ 04010/1", FieldSource.PDF),
    letter_date=Field(dt.date(2026, 11, 20), FieldSource.PDF),
    sender=Field("สพฐ.", FieldSource.PDF),
    subject=Field("ประชุม", FieldSource.PDF),
)


def reading(**kw: object) -> Reading:
    base = dict(message=msg(), main=PDF, enclosures=(), xml_attachment=None,
                pdf=PdfFacts(readable=True), xml=None, fields=FULL)
    base.update(kw)
    return Reading(**base)  # type: ignore[arg-type]


CASES = [
    ("complete letter", reading(), Outcome.REGISTER, set()),
    ("no pdf", reading(main=None, pdf=None), Outcome.REVIEW, {"no_letter_file"}),
    ("xml carries the letter", reading(main=None, pdf=None,
                                       xml=XmlFacts(readable=True, valid=True, carries_letter=True)),
     Outcome.REGISTER, set()),
    ("unreadable pdf", reading(pdf=PdfFacts(False, "ไฟล์เสีย", "broken")), Outcome.REVIEW,
     {"pdf_unreadable"}),
    ("no number", reading(fields=replace(FULL, letter_no=None)), Outcome.REVIEW, {"missing_letter_no"}),
    ("no date, no subject", reading(fields=replace(FULL, letter_date=None, subject=None)),
     Outcome.REVIEW, {"missing_letter_date", "missing_subject"}),
    ("hostile xml", reading(xml=XmlFacts(False, False, "มี DOCTYPE", "DOCTYPE")), Outcome.REVIEW,
     {"xml_unreadable"}),
    ("invalid xml", reading(xml=XmlFacts(True, False, errors=("/ID: ว่าง",))), Outcome.REVIEW,
     {"xml_invalid"}),
    ("tampered signature", reading(pdf=PdfFacts(True, signatures=(SignatureFact("แก้ไข", False, False, False),))),
     Outcome.REVIEW, {"signature_broken"}),
    ("unknown issuer is fine", reading(pdf=PdfFacts(True, signatures=(SignatureFact("ไม่ทราบ", True, False, False),))),
     Outcome.REGISTER, set()),
    ("revoked certificate", reading(pdf=PdfFacts(True, signatures=(
        SignatureFact("ใบรับรองถูกเพิกถอน", True, False, False, revoked=True),))),
     Outcome.REVIEW, {"signature_broken"}),
    ("revocation unchecked is a remark", reading(pdf=PdfFacts(True, signatures=(
        SignatureFact("ตรวจสอบการเพิกถอนใบรับรองไม่ได้", True, False, False),))),
     Outcome.REGISTER, set()),
    ("active content is a remark", reading(pdf=PdfFacts(True, active_content=(
        "ไฟล์ PDF มีสคริปต์ (JavaScript)",))), Outcome.REGISTER, set()),
    ("page 1 misspelt: its text lost its vowels", reading(pdf=PdfFacts(True, misspelt=0.09)),
     Outcome.REVIEW, {"misspelt_text"}),
    ("a few names outside the dictionary are fine", reading(pdf=PdfFacts(True, misspelt=0.03)),
     Outcome.REGISTER, set()),
    ("a misspelt page whose fields all came from the XML", reading(
        pdf=PdfFacts(True, misspelt=0.09), xml=XmlFacts(readable=True, valid=True),
        fields=LetterFields(**{n: replace(getattr(FULL, n), source=FieldSource.XML)
                               for n in ("letter_no", "letter_date", "sender", "subject")})),
     Outcome.REGISTER, set()),
    ("secret", reading(fields=replace(FULL, secrecy=Field(Secrecy.SECRET, FieldSource.PDF))),
     Outcome.RESTRICTED, {"secret"}),
    ("too large", reading(message=msg(raw_size=5000)), Outcome.REVIEW, {"too_large"}),
    ("empty", reading(message=msg(attachments=(), body_text="", subject=""), main=None, pdf=None,
                      fields=LetterFields()), Outcome.REJECT, {"empty_message"}),
    ("auto reply", reading(message=msg(is_auto_reply=True)), Outcome.NOT_LETTER, set()),
    ("spam", reading(message=msg(is_spam_flagged=True)), Outcome.NOT_LETTER, set()),
]


@pytest.mark.parametrize("name, r, outcome, codes", CASES, ids=[c[0] for c in CASES])
def test_decisions(name: str, r: Reading, outcome: Outcome, codes: set[str]) -> None:
    problems = validate(r, POLICY)
    d = decide(r, problems, POLICY)
    assert d.outcome is outcome
    assert {p.code for p in d.problems} == codes
    assert all(p.reason_th and p.reason_en for p in d.problems)
    if outcome in (Outcome.REVIEW, Outcome.RESTRICTED):
        assert d.acknowledge_to is None  # the clerk decides first


@pytest.mark.parametrize("m, envelope, want", [
    (msg(), "", "saraban@obec.go.th"),
    # the From, never a Reply-To: a forged message names its victim there
    (msg(reply_to_addrs=("reply@obec.go.th",)), "", "saraban@obec.go.th"),
    (msg(reply_to_addrs=("victim@elsewhere.example",)), "", "saraban@obec.go.th"),
    (msg(from_addr="MAILER-DAEMON@obec.go.th"), "", None),
    (msg(from_addr="no-reply@obec.go.th"), "", None),
    (msg(from_addr="noreply+x@obec.go.th"), "", None),
    (msg(from_addr="postmaster@obec.go.th"), "", None),
    (msg(), "<>", None),
    (msg(from_addr="saraban@agency.test"), "", None),
    (msg(from_addr="hr@units.agency.test"), "", None),
    (msg(from_addr="hr@agency.test"), "", "hr@agency.test"),
    (msg(is_auto_reply=True), "", None),
    (msg(from_addr=None), "", None),
])
def test_acknowledgement_address(m: ParsedMessage, envelope: str, want: str | None) -> None:
    assert ack_address(m, POLICY, envelope, trusted=True) == want
    assert ack_address(m, POLICY, envelope, trusted=False) is None  # a stranger gets nothing


PASS = SenderAuth(AuthResult.PASS, "obec.go.th")

# (verdict, in the directory, acknowledged): a passed verdict or a directory sender with no
# verdict against it; unknown membership (None) is left to the outbox gate, which knows
TRUST = [
    (PASS, False, True),
    (SenderAuth(AuthResult.NONE), True, True),
    (SenderAuth(AuthResult.NONE), False, False),
    (SenderAuth(AuthResult.FAIL), True, False),
    (SenderAuth(AuthResult.TEMPERROR), True, False),
    (None, True, True),
    (None, False, False),
    (None, None, True),
    (SenderAuth(AuthResult.FAIL), None, False),
]


@pytest.mark.parametrize("auth, in_directory, acknowledged", TRUST)
def test_only_trusted_senders_are_acknowledged(auth: SenderAuth | None, in_directory: bool | None,
                                               acknowledged: bool) -> None:
    facts = Facts(reading(), (), POLICY, auth=auth, in_directory=in_directory)
    assert classify(facts).acknowledge_to == ("saraban@obec.go.th" if acknowledged else None)


def test_forged_from_is_read_as_its_real_address_and_flagged() -> None:
    raw = (b"From: saraban@opm.go.th <attacker@evil.example>\r\nTo: saraban@agency.test\r\n"
           b"Subject: x\r\n\r\nbody\r\n")
    m = parse_message(raw)
    assert m.from_addr == "attacker@evil.example"
    flags = sender_flags(m, in_directory=False)
    assert any("อาจปลอมแปลง" in f for f in flags)
    assert any("ไม่อยู่ในทะเบียนหน่วยงาน" in f for f in flags)
    assert sender_flags(msg(), in_directory=True) == ()
