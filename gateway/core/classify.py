"""Validate and decide: what happens to one incoming message. Pure: data in, a Decision out.

`validate` lists the problems a clerk would see (Thai first); `decide` turns a
reading and its problems into a Decision value: register, review (restricted
for secret letters), reject with a notice, or set aside as not a letter; and
whether the sender is acknowledged. The rules are tables, not ladders.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from gateway.core.extract.crosscheck import conflict_problems
from gateway.core.thaifix import FIELD_LABELS, damage
from gateway.letter import (
    REQUIRED_FIELDS,
    Attachment,
    FieldSource,
    LetterFields,
    ParsedMessage,
    Problem,
    Secrecy,
    unattended,
)
from gateway.state import Event
from gateway.trust import AuthResult, SenderAuth
from gateway.trust.automail import stranger_reason
from gateway.trust.results import thai_domains
from gateway.xmlletter.model import Notifier, XmlLetter


class Outcome(StrEnum):
    """What reading a letter decided: each is an event of the letter's table (gateway/state.py)."""

    REGISTER = Event.READ_REGISTER.value
    REVIEW = Event.READ_REVIEW.value
    RESTRICTED = Event.READ_RESTRICTED.value  # secret: restricted review, never forwarded automatically
    REJECT = Event.READ_REJECT.value
    NOT_LETTER = Event.READ_NOT_LETTER.value
    SENT_COPY = Event.READ_SENT_COPY.value  # our own confirmation of a letter we sent: ส่งแล้ว
    RETURNED_COPY = Event.READ_RETURNED_COPY.value  # a letter a unit returned, back to the clerk

    @property
    def event(self) -> Event:
        return Event(self.value)


@dataclass(frozen=True)
class SignatureFact:
    summary_th: str
    intact: bool
    modified_after_signing: bool
    trusted: bool
    revoked: bool = False  # the signer's (or a CA's) certificate is revoked: broken


@dataclass(frozen=True)
class PdfFacts:
    readable: bool
    reason_th: str = ""
    reason_en: str = ""
    page1_text: str = ""
    signatures: tuple[SignatureFact, ...] = ()
    # Thai remarks on scripts, launch actions, embedded files, form submission (issue #18)
    active_content: tuple[str, ...] = ()
    # Page 1 had no text layer (a scan): what OCR read of its header (#20), "" when nothing was
    # read; `ocr_skipped` says why not (no tesseract, a timeout), in English, for the log.
    ocr_text: str = ""
    ocr_skipped: str = ""
    # the share of page 1's Thai letters outside dictionary words (gateway/pdf/text.py
    # misspelt_share): a text layer whose vowels a conversion lost reads as garbage fields
    misspelt: float = 0.0


@dataclass(frozen=True)
class XmlFacts:
    readable: bool
    valid: bool
    reason_th: str = ""
    reason_en: str = ""
    errors: tuple[str, ...] = ()
    carries_letter: bool = False  # MainLetterBinaryObject present: the file is the letter
    dialect: str = ""
    variants: tuple[str, ...] = ()  # real-world deviations that were read anyway


@dataclass(frozen=True)
class Reading:
    """Everything read from one message, before any decision."""

    message: ParsedMessage
    main: Attachment | None
    enclosures: tuple[Attachment, ...]
    xml_attachment: Attachment | None
    pdf: PdfFacts | None
    xml: XmlFacts | None
    fields: LetterFields
    xml_letter: XmlLetter | None = None  # the CorrespondenceLetter read from the XML, if any
    notifier: Notifier | None = None  # a status message instead of a letter
    # the numbers of attached PDFs that are letters of their own, which the letter does not
    # name (several letters in one e-mail: each needs its own receive number)
    other_letters: tuple[str, ...] = ()


@dataclass(frozen=True)
class Policy:
    central_addresses: tuple[str, ...]
    ack_disabled_domains: tuple[str, ...] = ()
    reject_codes: frozenset[str] = frozenset({"empty_message"})
    max_message_bytes: int = 25 * 1024 * 1024
    auth_enforce: bool = True  # [authentication] mode = "enforce"; False: "monitor" (remarks only)
    auth_none_review: bool = False  # [authentication] none_action = "review"


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    problems: tuple[Problem, ...] = ()
    acknowledge_to: str | None = None  # ack (registered) or notice (rejected) goes here
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def reason_th(self) -> str:
        return "; ".join(p.reason_th for p in self.problems)


MISSPELT_REVIEW = 0.05  # of page 1's Thai letters outside words: its text is not to be trusted


def misspelt_text(share: float) -> Problem:
    return Problem(
        "misspelt_text",
        f"ข้อความในไฟล์ PDF สะกดผิดมาก (ตัวอักษรร้อยละ {share * 100:.0f} ไม่อยู่ในคำใด) "
        "มักเกิดจากสระหายเมื่อแปลงหรือพิมพ์ไฟล์ซ้ำ ข้อมูลที่ระบบอ่านจากไฟล์อาจผิด กรุณาตรวจ",
        f"{share:.0%} of page 1's Thai letters are outside dictionary words (a text layer that "
        "lost its vowels): the fields read from the PDF may be wrong",
    )


OCR_REVIEW = Problem(
    "read_by_ocr",
    "อ่านจากภาพสแกน (OCR) ต้องให้เจ้าหน้าที่ตรวจทาน: ข้อมูลที่ระบบกรอกไว้ให้มาจากการอ่านภาพ อาจผิดได้",
    "fields read from a scan by OCR: a clerk must check them before the letter is registered",
)

MISSING_FIELD = {
    "letter_no": ("missing_letter_no", "อ่านเลขที่หนังสือไม่ได้", "letter number (ที่) not found"),
    "letter_date": ("missing_letter_date", "อ่านวันที่ของหนังสือไม่ได้", "letter date not found"),
    "sender": ("missing_sender", "ไม่ทราบส่วนราชการเจ้าของหนังสือ", "sender not found"),
    "subject": ("missing_subject", "ไม่พบเรื่องของหนังสือ", "subject not found"),
}

SECRECY_TH = {Secrecy.CONFIDENTIAL: "ลับ", Secrecy.SECRET: "ลับมาก", Secrecy.TOP_SECRET: "ลับที่สุด"}


SOURCE_TH = {FieldSource.XML: "ไฟล์ XML", FieldSource.PDF: "ไฟล์ PDF",
             FieldSource.SUBJECT: "หัวเรื่องอีเมล", FieldSource.BODY: "เนื้อความอีเมล",
             FieldSource.FILENAME: "ชื่อไฟล์", FieldSource.EMAIL: "ผู้ส่งอีเมล"}
TEXT_FIELDS = ("letter_no", "sender", "recipient", "subject", "salutation")


def damaged_fields(fields: LetterFields) -> tuple[Problem, ...]:
    """A Problem for each text field holding what no letter prints (controls, U+FFFD, the
    Private Use Area, a digit or Latin letter inside a Thai word, a mark with no base):
    such a value is never registered as it is (#19)."""
    out = []
    for name in TEXT_FIELDS:
        f = getattr(fields, name)
        what = damage(str(f.value)) if f is not None else None
        if f is not None and what is not None:
            label, source = FIELD_LABELS[name], SOURCE_TH.get(f.source, str(f.source))
            out.append(Problem(f"garbled_{name}",
                               f"อ่าน{label}จาก{source} ได้ไม่ถูกต้อง ({what}) กรุณาตรวจ",
                               f"the {name} read from the {f.source} holds stray characters"))
    return tuple(out)


def validate(r: Reading, policy: Policy | None = None) -> tuple[Problem, ...]:
    out: list[Problem] = []
    m = r.message
    if policy is not None and m.raw_size > policy.max_message_bytes:
        mb, limit = m.raw_size / 2**20, policy.max_message_bytes / 2**20
        out.append(Problem("too_large", f"อีเมลมีขนาด {mb:.1f} MB เกินกำหนด {limit:.0f} MB",
                           f"message of {mb:.1f} MB is over the {limit:.0f} MB limit"))
    # Hostile nesting: not all of the message was read, so it is never "empty"; the clerk
    # looks at the kept raw message.
    if m.too_deep:
        out.append(Problem("too_deep",
                           f"อีเมลซ้อนกันลึกเกินกำหนด ({m.too_deep} ชั้น) ระบบจึงอ่านไม่ครบ",
                           f"message nested deeper than {m.too_deep} levels; not all of it "
                           "was read"))
    if m.too_many_parts:
        out.append(Problem("too_many_parts",
                           f"อีเมลมีส่วนย่อยเกินกำหนด ({m.too_many_parts} ส่วน) ระบบจึงอ่านไม่ครบ",
                           f"message has more than {m.too_many_parts} parts; not all of it "
                           "was read"))
    read_in_full = not (m.too_deep or m.too_many_parts)
    if read_in_full and not m.attachments and not m.body_text.strip() and not m.subject.strip():
        out.append(Problem("empty_message", "อีเมลว่าง ไม่มีเนื้อหาและไม่มีไฟล์แนบ",
                           "empty message: no text and no attachment"))
        return tuple(out)
    carried = r.xml is not None and r.xml.carries_letter
    if r.main is None and not carried:
        out.append(Problem("no_letter_file", "ไม่พบไฟล์หนังสือ (PDF)", "no letter file (PDF) found"))
    elif r.pdf is not None and not r.pdf.readable:
        out.append(Problem("pdf_unreadable", f"เปิดไฟล์หนังสือไม่ได้: {r.pdf.reason_th}",
                           f"the letter PDF cannot be read: {r.pdf.reason_en}"))
    if r.xml is not None and not r.xml.readable:
        out.append(Problem("xml_unreadable", f"อ่านไฟล์ XML ไม่ได้: {r.xml.reason_th}",
                           f"the XML file cannot be read: {r.xml.reason_en}"))
    elif r.xml is not None and not r.xml.valid:
        detail = "; ".join(r.xml.errors[:3])
        out.append(Problem("xml_invalid", f"ไฟล์ XML ไม่ถูกต้องตามแบบมาตรฐาน ({detail})",
                           f"the XML does not validate ({detail})"))
    for name in r.fields.missing_required():
        code, th, en = MISSING_FIELD[name]
        out.append(Problem(code, th, en))
    out.extend(damaged_fields(r.fields))
    from_ocr = [n for n in REQUIRED_FIELDS if (f := getattr(r.fields, n)) is not None
                and f.source == FieldSource.OCR]
    if from_ocr:  # a scan's reading pre-fills the review, never registers (#20)
        out.append(OCR_REVIEW)
    if r.other_letters:
        out.append(Problem(
            "several_letters",
            f"อีเมลนี้แนบหนังสือราชการมาอีก {len(r.other_letters)} ฉบับ "
            f"(ที่ {', '.join(r.other_letters[:5])}) ซึ่งหนังสือฉบับแรกไม่ได้อ้างถึง "
            "หนังสือแต่ละฉบับต้องลงรับแยกกัน กรุณาตรวจ",
            f"{len(r.other_letters)} more letters attached ({', '.join(r.other_letters[:5])}): "
            "each needs a receive number of its own",
        ))
    from_pdf = any(f is not None and f.source == FieldSource.PDF
                   for f in (getattr(r.fields, n) for n in REQUIRED_FIELDS))
    if r.pdf is not None and r.pdf.misspelt >= MISSPELT_REVIEW and from_pdf:
        out.append(misspelt_text(r.pdf.misspelt))
    if r.pdf is not None:
        for s in r.pdf.signatures:
            if not s.intact or s.modified_after_signing or s.revoked:
                out.append(Problem("signature_broken",
                                   f"ลายมือชื่อดิจิทัลในไฟล์หนังสือไม่ถูกต้อง: {s.summary_th}",
                                   "a digital signature in the letter is broken or the file was "
                                   "modified after signing"))
                break
    xml_no = [f for n, f in r.fields.alternatives if n == "letter_no" and f.source == "pdf"]
    if r.fields.letter_no is not None and r.fields.letter_no.source == "xml" and xml_no:
        out.append(Problem("letter_no_mismatch",
                           f"เลขที่หนังสือใน XML ({r.fields.letter_no.value}) ไม่ตรงกับในไฟล์ PDF "
                           f"({xml_no[0].value})",
                           "the letter number in the XML differs from the PDF's"))
    out.extend(conflict_problems(r.fields))  # a labelled e-mail line against the PDF (#19)
    if r.fields.secrecy is not None and r.fields.secrecy.value.rank > 0:
        level = SECRECY_TH.get(r.fields.secrecy.value, str(r.fields.secrecy.value))
        out.append(Problem("secret", f"หนังสือชั้นความลับ ({level}) ต้องให้เจ้าหน้าที่ผู้ได้รับอนุญาตตรวจสอบ",
                           f"classified letter ({level}): restricted review"))
    return tuple(out)


_ADDRESS_IN_NAME = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def sender_flags(m: ParsedMessage, *, in_directory: bool | None) -> tuple[str, ...]:
    """Unusual senders are accepted but flagged for the clerk (domain.md §5.1)."""
    flags: list[str] = []
    frm = (m.from_addr or "").lower()
    shown = _ADDRESS_IN_NAME.findall(m.from_name or "")
    if shown and any(a.lower() != frm for a in shown):
        flags.append(f"ชื่อผู้ส่งแสดงอีเมล {shown[0]} แต่ส่งจาก {frm or '-'} (อาจปลอมแปลง)")
    if m.reply_to_addrs and frm:
        other = [a for a in m.reply_to_addrs if a.partition("@")[2] != frm.partition("@")[2]]
        if other:
            flags.append(f"ให้ตอบกลับไปยังโดเมนอื่น ({other[0]})")
    if in_directory is False:
        flags.append(f"ผู้ส่ง {frm or '-'} ไม่อยู่ในทะเบียนหน่วยงาน")
    return tuple(flags)




def ack_address(m: ParsedMessage, policy: Policy, envelope_from: str = "", *,
                trusted: bool) -> str | None:
    """Where automatic mail (acknowledgement, notice, notifier) may go, or None: only the From
    address (never Reply-To: a forged message names its victim there), only a sender that is
    not a stranger (`trusted`: gateway.trust.automail.stranger_reason), never bounces,
    auto-replies, no-reply mailboxes or ourselves."""
    if not trusted or m.is_auto_reply or m.is_spam_flagged:
        return None
    if envelope_from == "<>":
        return None
    addr = (m.from_addr or "").lower()
    local, _, domain = addr.partition("@")
    if not local or not domain or unattended(local):
        return None
    if addr in policy.central_addresses:
        return None
    if any(domain == d or domain.endswith("." + d) for d in policy.ack_disabled_domains):
        return None
    return addr


def auth_problem(auth: SenderAuth | None, policy: Policy) -> Problem | None:
    """Why a sender's authentication keeps the letter from the register until the clerk looks
    (enforce mode): it failed, DNS did not answer (never taken as a pass), or, when so
    configured, the domain publishes nothing. None when it passed or was not checked."""
    if auth is None or not policy.auth_enforce:
        return None
    domain = thai_domains(auth.from_domain or "-")
    why = "; ".join(auth.reasons_th)
    if auth.result is AuthResult.FAIL:
        return Problem("sender_auth_failed",
                       f"ยืนยันตัวตนผู้ส่งไม่ผ่าน อาจเป็นอีเมลปลอม ({domain}): {why or 'DMARC ไม่ผ่าน'}",
                       f"sender authentication failed for {domain}")
    if auth.result is AuthResult.TEMPERROR:
        return Problem("sender_auth_temperror",
                       f"ตรวจสอบตัวตนผู้ส่งไม่ได้ เพราะ DNS ไม่ตอบ ({domain}) จึงยังไม่ถือว่าผ่าน",
                       f"sender authentication could not be checked (DNS) for {domain}")
    if auth.result is AuthResult.NONE and policy.auth_none_review:
        return Problem("sender_auth_none",
                       f"โดเมนผู้ส่ง {domain} ไม่ได้ประกาศ SPF/DKIM/DMARC จึงยืนยันตัวตนผู้ส่งไม่ได้",
                       f"{domain} publishes no SPF/DKIM/DMARC")
    return None


AUTH_REMARK = {
    AuthResult.PASS: "ยืนยันตัวตนผู้ส่งผ่าน",
    AuthResult.NONE: "ยืนยันตัวตนผู้ส่งไม่ได้ (โดเมนไม่ได้ประกาศ SPF/DKIM/DMARC)",
    AuthResult.FAIL: "ยืนยันตัวตนผู้ส่งไม่ผ่าน",
    AuthResult.TEMPERROR: "ตรวจสอบตัวตนผู้ส่งไม่ได้ (DNS ไม่ตอบ)",
}


def auth_remark(auth: SenderAuth | None) -> str:
    """The one line the register's remarks and the clerk read about the sender's authentication."""
    if auth is None:
        return ""
    line = f"{AUTH_REMARK[auth.result]} ({thai_domains(auth.from_domain or '-')})"
    if auth.result is not AuthResult.PASS and auth.reasons_th:
        line += ": " + "; ".join(auth.reasons_th)
    return line


@dataclass(frozen=True)
class Kind:
    """What else a message may be besides a letter: facts read before any decision (pure)."""

    own_copy: str | None = None  # our own mail come back (signed): "sent", "returned" or "mail"
    bounce: bool = False  # a delivery report about mail we sent
    unit_reply: bool = False  # a unit answering a forward (its token found, proved by its From)
    clerk_route: tuple[str, ...] | None = None  # a clerk's `ส่ง …`: the unit names not known
    clerk_fix: bool = False  # a clerk's correction reply (ลงรับ / แก้ไข / คืน / ยกเลิก, #21), proved
    clerk_report: bool = False  # a clerk's `[รายงาน] …` request (#22), proved
    acknowledgement: bool = False  # a recipient quoting our letter's number (found in the store)
    # an automatic answer (out-of-office …) to our mail: it never acts; why it is automatic
    auto_answer: str | None = None
    # mail about mail that did not prove who sent it (a command not from a clerk's channel, a
    # reply with a forward's token from a stranger): kept for the clerk, never obeyed (#18)
    unproved: Problem | None = None


@dataclass(frozen=True)
class Facts:
    reading: Reading
    problems: tuple[Problem, ...]
    policy: Policy
    envelope_from: str = ""
    kind: Kind = Kind()
    auth: SenderAuth | None = None  # the sender's authentication, when it was checked
    # the From address is in the agency directory (store); None: not looked up here, and
    # then the outbox gate (inbound/feedback.py) decides with the store at queue time
    in_directory: bool | None = None

    @property
    def codes(self) -> frozenset[str]:
        return frozenset(p.code for p in self.problems)

    @property
    def set_aside(self) -> str | None:
        """Why this is not a letter to read at all: a notifier, an auto-reply, spam."""
        r, m = self.reading, self.reading.message
        if r.notifier is not None:  # a status message about a letter, handled by the record step
            return f"notifier:{r.notifier.kind.value}"
        if m.is_auto_reply or m.is_spam_flagged:
            return m.auto_reply_reason or ("spam" if m.is_spam_flagged else "auto-reply")
        return None

    @property
    def letter_problems(self) -> tuple[Problem, ...]:
        """The problems of the message read as a letter (none for what is set aside unread)."""
        return () if self.set_aside else self.problems

    @property
    def auth_problem(self) -> Problem | None:
        return auth_problem(self.auth, self.policy)

    @property
    def ack_to(self) -> str | None:
        """A passed verdict, or a directory sender with no verdict against it; a sender whose
        directory membership is not known here is left to the outbox gate, which knows."""
        m = self.reading.message
        refused = stranger_reason(self.auth, True if self.in_directory is None else self.in_directory,
                                  (m.from_addr or "").lower())
        return ack_address(m, self.policy, self.envelope_from, trusted=not refused)


@dataclass(frozen=True)
class Rule:
    """One row of the table: when `applies`, the message gets `decision` (the first row wins)."""

    name: str
    applies: Callable[[Facts], bool]
    decision: Callable[[Facts], Decision]


def _unknown_unit(f: Facts) -> Decision:
    names = ", ".join(f.kind.clerk_route or ())
    return Decision(Outcome.REVIEW, (Problem("unknown_unit", "ไม่รู้จักหน่วยงาน: " + names,
                                             "unknown unit(s): " + names),))


# The whole classification of a message that reached the central mailbox, in order
# (Mailman's chains as data). Mail about mail comes first: our own copies, delivery reports,
# units' and clerks' replies; then what is set aside unread; then the letter itself.
RULES: tuple[Rule, ...] = (
    Rule("our copy of a sent letter", lambda f: f.kind.own_copy == "sent",
         lambda f: Decision(Outcome.SENT_COPY)),
    Rule("a letter a unit returned", lambda f: f.kind.own_copy == "returned",
         lambda f: Decision(Outcome.RETURNED_COPY)),
    Rule("our own mail", lambda f: f.kind.own_copy is not None,
         lambda f: Decision(Outcome.NOT_LETTER, notes=("own mail",))),
    # a report about our own mail is never a letter, even when it returns the PDF
    Rule("delivery report", lambda f: f.kind.bounce,
         lambda f: Decision(Outcome.NOT_LETTER, f.letter_problems, notes=("bounce",))),
    # an out-of-office answer carries the forward's token: set aside before a unit's reply
    Rule("automatic answer to our mail", lambda f: f.kind.auto_answer is not None,
         lambda f: Decision(Outcome.NOT_LETTER, notes=(f.kind.auto_answer or "",))),
    Rule("not proved", lambda f: f.kind.unproved is not None,
         lambda f: Decision(Outcome.REVIEW, (f.kind.unproved,) if f.kind.unproved else ())),
    Rule("a unit's reply", lambda f: f.kind.unit_reply and not f.reading.message.is_auto_reply,
         lambda f: Decision(Outcome.NOT_LETTER, notes=("unit reply",))),
    Rule("clerk names an unknown unit", lambda f: bool(f.kind.clerk_route), _unknown_unit),
    Rule("clerk routes a letter", lambda f: f.kind.clerk_route is not None,
         lambda f: Decision(Outcome.NOT_LETTER, notes=("clerk route",))),
    Rule("clerk corrects a letter", lambda f: f.kind.clerk_fix,
         lambda f: Decision(Outcome.NOT_LETTER, notes=("clerk correction",))),
    Rule("clerk asks for a report", lambda f: f.kind.clerk_report,
         lambda f: Decision(Outcome.NOT_LETTER, notes=("clerk report",))),
    # a reply that acknowledges our letter is no letter of its own unless it is a complete one
    Rule("acknowledgement of ours", lambda f: f.kind.acknowledgement and bool(
             f.set_aside or f.problems),
         lambda f: Decision(Outcome.NOT_LETTER, f.letter_problems, notes=("acknowledgement",))),
    Rule("set aside unread", lambda f: f.set_aside is not None,
         lambda f: Decision(Outcome.NOT_LETTER, notes=(f.set_aside or "",))),
    Rule("secret", lambda f: "secret" in f.codes, lambda f: Decision(Outcome.RESTRICTED, f.problems)),
    Rule("refused", lambda f: bool(f.codes & f.policy.reject_codes),
         lambda f: Decision(Outcome.REJECT, f.problems, acknowledge_to=f.ack_to)),
    # a letter from a sender whose authentication failed is never registered or acknowledged
    # by itself (issue #18): the clerk sees what failed
    Rule("sender not authenticated", lambda f: f.auth_problem is not None,
         lambda f: Decision(Outcome.REVIEW, (*f.problems, *filter(None, (f.auth_problem,))))),
    Rule("needs the clerk", lambda f: bool(f.problems), lambda f: Decision(Outcome.REVIEW, f.problems)),
    Rule("a complete letter", lambda f: True,
         lambda f: Decision(Outcome.REGISTER, (), acknowledge_to=f.ack_to)),
)


def classify(facts: Facts) -> Decision:
    """The first rule of RULES that applies decides."""
    return next(rule.decision(facts) for rule in RULES if rule.applies(facts))


def decide(r: Reading, problems: Sequence[Problem], policy: Policy, *,
           envelope_from: str = "") -> Decision:
    """A message that is only a letter (nothing else): the letter rows of the table."""
    return classify(Facts(r, tuple(problems), policy, envelope_from))
