"""What happens to letters, in the settings: intake and its folders, signing, sending, forwarding
to units by rules."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from gateway.config.model import ConfigModel, EnvVar

__all__ = ["Folders", "Forwarding", "Intake", "Outbound", "RoutingRule", "Signing"]

class Folders(ConfigModel):
    """Folder names in the central mailbox: the clerk's view of the register (Thai by default)."""

    registered: str = "ลงรับแล้ว"
    review: str = "รอตรวจสอบ"
    restricted: str = "รอตรวจสอบ (ลับ)"
    rejected: str = "ไม่รับ"
    other: str = "อื่น ๆ"
    # Where a clerk's commands are read (issue #18): only a client holding the mailbox's
    # password can put mail there. The mail client's Sent folder (not created by the
    # gateway; "" to not read it) and a command folder of the gateway's own ("" for none).
    sent: str = "Sent"
    commands: str = "คำสั่ง"

    def all(self) -> tuple[str, ...]:
        return (self.registered, self.review, self.restricted, self.rejected, self.other)

    @model_validator(mode="after")
    def _distinct(self) -> Folders:
        names = (*self.all(), *(x for x in (self.sent, self.commands) if x))
        if len(set(names)) != len(names):
            raise ValueError("ชื่อโฟลเดอร์ต้องไม่ซ้ำกัน (folder names must differ)")
        return self


class Intake(ConfigModel):
    ack_disabled_domains: tuple[str, ...] = Field(
        default=(), description="no acknowledgement to senders in these domains (e.g. our units)"
    )
    max_auto_mail_per_sender_hour: int = Field(
        default=10, ge=0, description="automatic mails (acknowledgements, notices, notifiers) to one "
        "address in an hour; more are withheld and the clerk sees why (0: none at all)",
    )
    folders: Folders = Folders()
    alarm_after_minutes: int = Field(default=30, ge=1)
    max_attempts: int = Field(default=5, ge=1, description="a letter failing this often goes to review")
    receive_notifier: bool = Field(
        default=False, description="answer XML letters on arrival with a ReceiveLetterNotifier"
    )
    stamp_corner: Literal["top-right", "top-left", "bottom-right", "bottom-left"] = "top-right"
    stamp_margin: float = Field(default=28.0, ge=0)
    # "free": the receive stamp goes in blank space of page 1 (issue #20), stamp_corner only
    # when the page cannot be rendered; "corner": always at stamp_corner.
    stamp_placement: Literal["free", "corner"] = "free"
    stamp_font: Path | None = None
    trust_roots_dir: Path | None = Field(
        default=None, description="folder of CA certificates (.pem/.crt/.cer/.der) that incoming "
        "signatures are checked against (docs/trust-roots.md)"
    )
    revocation: Literal["hard-fail", "soft-fail", "off"] = Field(
        default="hard-fail",
        description="OCSP/CRL of signers' certificates: hard-fail = not trusted when the CA "
        "cannot be asked; soft-fail = trusted with a remark; off = never asked (remark)",
    )
    revocation_timeout_seconds: float = Field(
        default=5.0, gt=0, le=60,
        description="one OCSP/CRL request; a letter gets three times this in all",
    )
    read_processes: int | None = Field(
        default=None, ge=0, le=32,
        description="worker processes that read messages (MIME, PDF, XML); unset: one per core, "
        "at most 4 and at most half the memory / read_memory_mb, at a lower priority than the "
        "gateway's own process; 0: read inside the gateway's own process (then without the "
        "read_seconds / read_memory_mb budget: a thread cannot be stopped)",
    )
    read_seconds: float = Field(
        default=10.0, gt=0, le=600,
        description="one message may take this long to read (its PDF, XML, attachments) in a "
        "worker process, plus 3 x revocation_timeout_seconds for OCSP/CRL unless revocation = "
        "off; longer: the worker is stopped and the letter goes to review with a Thai reason, "
        "the other letters keep flowing (a real letter reads in well under a second); drawing "
        "the receive stamp has the same budget (over it: registered, not stamped, with a remark)",
    )
    read_memory_mb: int = Field(
        default=1024, ge=128, le=65536,
        description="memory one worker process may use while reading a message; more: the "
        "worker is stopped and the letter goes to review with a Thai reason (the receive "
        "stamp likewise: registered, not stamped, with a remark)",
    )
    ocr: bool = Field(
        default=True,
        description="read page 1 of a scanned letter (no text layer) with tesseract to pre-fill "
        "its review, when the mail, file name and XML leave a required field or the secrecy "
        "class unknown; never registers from OCR alone (false: scans go to review unread)",
    )


    @property
    def read_budget_seconds(self) -> float:
        """The time one message may take to read: read_seconds and the OCSP/CRL allowance."""
        network = 3 * self.revocation_timeout_seconds if self.revocation != "off" else 0.0
        return self.read_seconds + network


class Signing(ConfigModel):
    """The agency's signing certificate for outgoing letters (PAdES)."""

    pkcs12_file: Path | None = None
    passphrase_env: EnvVar = ""
    timestamp_url: str = ""  # set: PAdES B-T; empty: B-B
    visible: bool = False
    signer_name: str = ""
    position: str = ""
    reason: str = "ลงนามหนังสือราชการ"

    @model_validator(mode="after")
    def _visible_needs_name(self) -> Signing:
        if self.visible and not (self.signer_name and self.position):
            raise ValueError(
                "visible = true ต้องระบุ signer_name และ position (needs signer_name and position)"
            )
        return self


class Outbound(ConfigModel):
    """Sending letters: names, recipients, retries, follow-up (domain.md §5)."""

    # Appendix 7 item 4.3: <BE year>_<Latin code>_<number>.pdf; {w} is the circular mark.
    file_name: str = "{year}_{code}_{number}"
    circular_file_name: str = "{year}_{code}_W{number}"
    order_file_name: str = "{year}_{code}_C{number}"
    subject_rule: Literal["subject", "number-subject"] = "subject"
    allow_unlisted_recipients: bool = Field(
        default=False, description="send to addresses not in the directory without [ยืนยันผู้รับ]"
    )
    max_message_bytes: int = Field(default=25 * 1024 * 1024, gt=0, description="the relay's size limit")
    lifetime_days: int = Field(default=5, ge=1, description="give up retrying after this many days")
    followup_working_days: int = Field(default=5, ge=1)
    # The old hand-typed holiday list: still read, as the agency's own days off, added to
    # [calendar] days_off (public holidays now come from the `holidays` package).
    holidays: tuple[dt.date, ...] = Field(
        default=(), description="deprecated: use [calendar] days_off (still counted as days off)")
    xml_dialect: Literal["dga", "ecms"] = "dga"
    xml_dialects: dict[str, Literal["dga", "ecms"]] = Field(
        default_factory=dict, description="per recipient address or domain"
    )
    sent_folder: str = "ส่งแล้ว"
    stamp_number: bool = False  # write the number on page 1 when the letter left it blank
    number_position: tuple[float, float] = (120.0, 95.0)  # points from the top-left of page 1
    cc_owning_unit: bool = False

    def dialect_for(self, address: str) -> str:
        a = address.lower()
        return self.xml_dialects.get(a) or self.xml_dialects.get(a.partition("@")[2]) or self.xml_dialect


class RoutingRule(ConfigModel):
    """One routing rule (a row of the table, tried in order): every criterion given must match,
    any word of a criterion may. The first rule that matches decides."""

    name: str = Field(min_length=1)
    to: tuple[str, ...] = ()  # words in ถึง / เรียน
    subject: tuple[str, ...] = ()  # words in เรื่อง
    sender: tuple[str, ...] = ()  # words in จาก, or sender addresses / @domains
    xml_receiver: tuple[str, ...] = ()  # words in the XML's receiver
    unit: str = Field(min_length=1)  # the primary unit (code)
    copies: tuple[str, ...] = ()  # units that get a copy
    sure: bool = True  # false: suggest to the clerk, do not forward by itself

    @model_validator(mode="after")
    def _has_criteria(self) -> RoutingRule:
        if not (self.to or self.subject or self.sender or self.xml_receiver):
            raise ValueError("กฎต้องมีเงื่อนไขอย่างน้อยหนึ่งข้อ: to, subject, sender หรือ xml_receiver "
                             "(a rule needs at least one criterion)")
        return self


class Forwarding(ConfigModel):
    """Passing registered letters to units, and following them up (domain.md §6)."""

    folder_prefix: str = "ส่งต่อ"  # ส่งต่อ/<unit name>: moving a letter there forwards it
    # Working hours: office time on working days ([calendar]), not clock hours.
    remind_after_hours: float = Field(default=24.0, gt=0)
    remind_after_hours_urgent: dict[str, float] = Field(
        default_factory=lambda: {"ด่วน": 8.0, "ด่วนมาก": 4.0, "ด่วนที่สุด": 2.0})
    tell_clerk_after_hours: float = Field(default=24.0, gt=0, description="working hours after the reminder")
    digest: bool = True
    digest_time: str = Field(default="16:30", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    rules: tuple[RoutingRule, ...] = ()

    def remind_after(self, speed: str) -> float:
        return self.remind_after_hours_urgent.get(speed, self.remind_after_hours)


class Reports(ConfigModel):
    """Reports asked for by mail (`[รายงาน] ทะเบียนรับ ธันวาคม 2569`, #22)."""

    by_mail: bool = Field(default=True, description="answer a clerk's `[รายงาน] …` mail with the report")
    # Who may receive them besides the central addresses (a clerk's own address). The request
    # itself must still come with a clerk's proof (gateway/trust/channels.py).
    mail_to: tuple[str, ...] = ()
