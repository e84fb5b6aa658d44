"""Every table of the store, as typed SQLAlchemy 2 rows in one module.

The schema itself is created and changed only by Alembic migrations
(store/migrations); these classes must match them (a test compares the two).
Times are stored in UTC and come back timezone-aware; clerks see them in
Asia/Bangkok through gateway.thai.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite (no tz support) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass an aware datetime")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dt.datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Blob(Base):
    """A file kept content-addressed on disk (store/blobs.py); this row says it exists."""

    __tablename__ = "blobs"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime]


class RawMessage(Base):
    """The exact bytes of one message as it reached us, keyed by where it came from."""

    __tablename__ = "raw_messages"
    # a clerk's move is matched to its letter by the message's hash (intake/filing.py)
    __table_args__ = (Index("ix_raw_messages_sha256", "sha256"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))  # imap | smtp | submission | cli
    # Natural key of the transport (architecture.md, durability rule 2):
    # imap:<mailbox>:<uidvalidity>:<uid>  or  smtp:<sha256>  …
    source_key: Mapped[str] = mapped_column(String(300), unique=True)
    sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"))
    size: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[dt.datetime]
    envelope_from: Mapped[str] = mapped_column(String(500), default="")
    envelope_to: Mapped[list[Any]] = mapped_column(default=list)


# The partial indexes' conditions (migration 0008 makes the same); _finish's query repeats them.
SMTP_UNFILED = "channel = 'smtp' AND filed_folder = ''"
COPY_UNFILED_SQLITE = "state = 'registered' AND copy_appended = 0"
COPY_UNFILED_PG = "state = 'registered' AND NOT copy_appended"


class Letter(Base):
    """One official letter, incoming or outgoing, and where it is in the flow."""

    __tablename__ = "letters"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    state: Mapped[str] = mapped_column(String(20), index=True)
    source_key: Mapped[str] = mapped_column(String(300), unique=True)
    raw_message_id: Mapped[int | None] = mapped_column(ForeignKey("raw_messages.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20), default="")
    letter_no: Mapped[str] = mapped_column(String(200), default="")
    letter_no_norm: Mapped[str] = mapped_column(String(200), default="", index=True)
    letter_date: Mapped[dt.date | None] = mapped_column(Date)
    sender: Mapped[str] = mapped_column(Text, default="")
    sender_address: Mapped[str] = mapped_column(String(500), default="")
    recipient: Mapped[str] = mapped_column(Text, default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    salutation: Mapped[str] = mapped_column(Text, default="")
    speed: Mapped[str] = mapped_column(String(100), default="")
    secrecy: Mapped[str] = mapped_column(String(50), default="")
    field_sources: Mapped[dict[str, Any]] = mapped_column(default=dict)
    problems: Mapped[list[Any]] = mapped_column(default=list)
    review_reason: Mapped[str] = mapped_column(Text, default="")
    # sender + letter number + date + PDF hash: the same letter by two channels.
    dedupe_key: Mapped[str | None] = mapped_column(String(100), index=True)
    # A re-sent or second-channel copy points at the registration it duplicates.
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("letters.id"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]

    # What reading found beside the fields (shown to the clerk, put in the register's remarks).
    sender_flags: Mapped[list[Any]] = mapped_column(default=list)  # Thai remarks on the sender
    signatures: Mapped[list[Any]] = mapped_column(default=list)  # signature checks, in Thai
    xml_report: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # strict XSD validation
    xml_receiver: Mapped[str] = mapped_column(Text, default="")  # for routing rules
    sender_auth: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # gateway.trust.SenderAuth
    # a secret letter a clerk moved to ส่งต่อ/: {"units": [...], "asked_at", "confirmed_by", …}
    secret_hold: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    # A message that is not itself a letter but about one (a reply, report, notifier, copy).
    about: Mapped[str] = mapped_column(String(20), default="")  # an About, or ""
    about_letter_id: Mapped[int | None] = mapped_column(Integer)  # letters.id
    forward_id: Mapped[int | None] = mapped_column(Integer)  # forwards.id of a unit reply
    clerk_route: Mapped[list[Any]] = mapped_column(default=list)  # unit codes a clerk asked for
    bounce_report: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    notifier_kind: Mapped[str] = mapped_column(String(30), default="")
    notifier_letter_no: Mapped[str] = mapped_column(String(200), default="")
    accept_resent: Mapped[int] = mapped_column(Integer, default=0)  # AcceptLetterNotifier again
    delivery_state: Mapped[str] = mapped_column(String(20), default="")  # from notifiers (out)

    # Effects after a registration, each done once.
    routed_rule: Mapped[str | None] = mapped_column(Text)  # None: routing rules not tried yet
    suggested_units: Mapped[list[Any]] = mapped_column(default=list)  # a rule that is not sure
    stamped_at: Mapped[dt.datetime | None]  # the receive stamp is recorded (or failed)
    stamp_error: Mapped[str] = mapped_column(Text, default="")
    filing_folder: Mapped[str] = mapped_column(Text, default="")  # an APPEND under way (intent)
    filed_folder: Mapped[str] = mapped_column(Text, default="")  # the clerk's folder it is in
    copy_appending: Mapped[bool] = mapped_column(Boolean, default=False)  # [รับ n/ปี] copy: intent
    copy_appended: Mapped[bool] = mapped_column(Boolean, default=False)

    # Outgoing letters: who submitted it and how it left. Its number is its register entry.
    submitted_by: Mapped[str] = mapped_column(String(200), default="")
    unit_code: Mapped[str] = mapped_column(String(60), default="")
    file_name: Mapped[str] = mapped_column(Text, default="")  # Appendix 7 name of the letter file
    signed: Mapped[bool] = mapped_column(Boolean, default=False)
    cc_unit: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        # resume() finds the registered letters a crash left unstamped without a full scan
        Index("ix_letters_unstamped", "state", "stamped_at"),
        # the duplicate check (inbound/record.py): the same number and date, found directly
        Index("ix_letters_number_date", "letter_no_norm", "letter_date"),
        # what each IMAP round files (intake/filing.py _finish): only the letters left
        # unfiled are in these (partial) indexes, so the round does not read history
        Index("ix_letters_smtp_unfiled", "id", sqlite_where=text(SMTP_UNFILED),
              postgresql_where=text(SMTP_UNFILED)),
        Index("ix_letters_copy_unfiled", "state", sqlite_where=text(COPY_UNFILED_SQLITE),
              postgresql_where=text(COPY_UNFILED_PG)),
    )


class About(StrEnum):
    """Letter.about: what a message that is not a letter is about (Letter.about_letter_id)."""

    OWN_COPY = "own_copy"  # our own copy of a letter we sent, or one a unit returned
    CLERK_ROUTE = "clerk_route"  # a clerk's ส่ง reply naming units for a registered letter
    UNIT_REPLY = "unit_reply"  # a unit accepting or returning a forwarded letter
    BOUNCE = "bounce"  # a delivery report for a letter we sent
    ACKNOWLEDGEMENT = "acknowledgement"  # a recipient's reply quoting our letter's number


class DeliveryNotice(Base):
    """A CorrespondenceLetter notifier that came back for a letter we sent (xml.md)."""

    __tablename__ = "delivery_notices"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    letter_id: Mapped[int] = mapped_column(ForeignKey("letters.id"), index=True)
    notice_letter_id: Mapped[int | None] = mapped_column(ForeignKey("letters.id"))  # the message
    kind: Mapped[str] = mapped_column(String(30))
    state: Mapped[str] = mapped_column(String(20))  # received | accepted | rejected | invalid
    from_addr: Mapped[str] = mapped_column(String(500), default="")
    accept_id: Mapped[str] = mapped_column(String(100), default="")
    accept_date: Mapped[dt.date | None] = mapped_column(Date)
    at: Mapped[dt.datetime]


class LetterFile(Base):
    __tablename__ = "letter_files"
    # the duplicate check finds a letter by its main file's hash (inbound/record.py)
    __table_args__ = (Index("ix_letter_files_sha256", "sha256"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    letter_id: Mapped[int] = mapped_column(ForeignKey("letters.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))  # main | enclosure | xml | stamped | signed
    position: Mapped[int] = mapped_column(Integer, default=0)
    filename: Mapped[str] = mapped_column(Text, default="")  # as sent; never used as a path
    safe_name: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"))
    size: Mapped[int] = mapped_column(BigInteger)


class RegisterBook(Base):
    """A register (ทะเบียน): the agency's receive/send/circular/order books, or a unit's own."""

    __tablename__ = "register_books"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(60), unique=True)
    name_th: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(10))  # receive | send
    unit_code: Mapped[str | None] = mapped_column(String(60))


class Counter(Base):
    """Last number given out per book and Buddhist-era year (gapless: see store/registers.py)."""

    __tablename__ = "counters"
    book_id: Mapped[int] = mapped_column(ForeignKey("register_books.id"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class Reservation(Base):
    """สำรองเลข: a run of numbers held for a unit until its letters are signed."""

    __tablename__ = "reservations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    book_id: Mapped[int] = mapped_column(ForeignKey("register_books.id"))
    year: Mapped[int] = mapped_column(Integer)
    unit_code: Mapped[str] = mapped_column(String(60), default="")
    first_number: Mapped[int] = mapped_column(Integer)
    count: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    status: Mapped[str] = mapped_column(String(10), default="open")  # open | closed


class RegisterEntry(Base):
    """One line of a register, with the columns of the official forms (domain.md §3)."""

    __tablename__ = "register_entries"
    __table_args__ = (
        UniqueConstraint("book_id", "year", "number", name="uq_entry_number"),
        # the day's entries (the digest), not the book's every year
        Index("ix_register_entries_registered_at", "book_id", "registered_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    book_id: Mapped[int] = mapped_column(ForeignKey("register_books.id"))
    year: Mapped[int] = mapped_column(Integer)
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12))  # registered | reserved | cancelled
    registered_at: Mapped[dt.datetime]
    letter_no: Mapped[str] = mapped_column(String(200), default="")
    letter_date: Mapped[dt.date | None] = mapped_column(Date)
    sender: Mapped[str] = mapped_column(Text, default="")
    recipient: Mapped[str] = mapped_column(Text, default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    action: Mapped[str] = mapped_column(Text, default="")  # การปฏิบัติ
    remarks: Mapped[str] = mapped_column(Text, default="")  # หมายเหตุ
    speed: Mapped[str] = mapped_column(String(100), default="")
    secrecy: Mapped[str] = mapped_column(String(50), default="")
    channel: Mapped[str] = mapped_column(String(20), default="")
    unit_code: Mapped[str] = mapped_column(String(60), default="")
    letter_id: Mapped[int | None] = mapped_column(ForeignKey("letters.id"), index=True)
    reservation_id: Mapped[int | None] = mapped_column(ForeignKey("reservations.id"))
    cancel_reason: Mapped[str] = mapped_column(Text, default="")
    cancelled_at: Mapped[dt.datetime | None]
    # A cancelled receive entry whose letter was registered again: the entry that replaced it.
    replaced_by_id: Mapped[int | None] = mapped_column(ForeignKey("register_entries.id"))


class Amendment(Base):
    """One corrected field of a registered letter (a register is amended, never overwritten):
    the value before, the value after, who, when and why. Dates as ISO text."""

    __tablename__ = "amendments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    letter_id: Mapped[int] = mapped_column(ForeignKey("letters.id"), index=True)
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("register_entries.id"))  # the line amended
    field: Mapped[str] = mapped_column(String(30))  # letter_no | letter_date | sender | …
    old_value: Mapped[str] = mapped_column(Text, default="")
    new_value: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(200))
    at: Mapped[dt.datetime]
    reason: Mapped[str] = mapped_column(Text, default="")


class Unit(Base):
    """An internal unit (กลุ่ม / กอง / ฝ่าย), synchronised from config.toml at start-up."""

    __tablename__ = "units"
    code: Mapped[str] = mapped_column(String(60), primary_key=True)
    name_th: Mapped[str] = mapped_column(String(300))
    emails: Mapped[list[Any]] = mapped_column(default=list)
    aliases: Mapped[list[Any]] = mapped_column(default=list)
    own_register: Mapped[bool] = mapped_column(Boolean, default=False)
    parent_code: Mapped[str] = mapped_column(String(60), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Agency(Base):
    """The directory of agencies' central addresses (importable from CSV)."""

    __tablename__ = "agencies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    thai_name: Mapped[str] = mapped_column(String(300))
    thai_code: Mapped[str] = mapped_column(String(60), default="")
    latin_code: Mapped[str] = mapped_column(String(60), default="")
    central_email: Mapped[str] = mapped_column(String(300), unique=True)
    ministry: Mapped[str] = mapped_column(String(300), default="")
    updated_at: Mapped[dt.datetime]


class OutboxItem(Base):
    """A mail to send, written in the transaction that caused it (durability rule 4)."""

    __tablename__ = "outbox"
    # the sender's every look for what is due (store/outbox.py due, next_due_at) reads only
    # the rows waiting, not every mail ever sent
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))  # ack | notice | forward | letter | reply | alarm …
    letter_id: Mapped[int | None] = mapped_column(ForeignKey("letters.id"), index=True)
    recipient: Mapped[str] = mapped_column(String(500))
    # One row per (cause, recipient): re-running a step never mails twice.
    dedupe_key: Mapped[str] = mapped_column(String(300), unique=True)
    # The stored message; None for an outgoing letter, which is composed at delivery from
    # `recipe` deterministically (same bytes, same Message-ID on every attempt) so that a
    # circular to 1,000 agencies does not store 1,000 copies of its PDF.
    message_sha256: Mapped[str | None] = mapped_column(ForeignKey("blobs.sha256"))
    recipe: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    envelope_from: Mapped[str] = mapped_column(String(500), default="", server_default="")
    # pending | sending | sent | parked | uncertain (the process died after the final dot of
    # DATA was due to be written and before the 250 was recorded: resent with the same bytes
    # under [outbox] uncertain = "resend", at most 3 times; with "ask", left for the clerk)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime]
    sent_at: Mapped[dt.datetime | None]
    in_flight_at: Mapped[dt.datetime | None]  # set just before the end of DATA is written
    sent_digest: Mapped[str] = mapped_column(String(64), default="", server_default="")


class LetterRecipient(Base):
    """One recipient agency of an outgoing letter, and how far the letter got with it."""

    __tablename__ = "letter_recipients"
    __table_args__ = (UniqueConstraint("letter_id", "address", name="uq_letter_recipient"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    letter_id: Mapped[int] = mapped_column(ForeignKey("letters.id"), index=True)
    address: Mapped[str] = mapped_column(String(500), index=True)  # replies are matched by sender
    name_th: Mapped[str] = mapped_column(Text, default="")
    # The per-recipient idempotency key: outbox dedupe key, VERP return path, DSN ENVID.
    token: Mapped[str] = mapped_column(String(40), unique=True)
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"), index=True)
    state: Mapped[str] = mapped_column(String(14), default="queued")  # queued | sent | failed | acknowledged
    error: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[dt.datetime | None]
    failed_at: Mapped[dt.datetime | None]
    ack_number: Mapped[str] = mapped_column(String(100), default="")
    ack_date: Mapped[dt.date | None] = mapped_column(Date)
    ack_at: Mapped[dt.datetime | None]
    ack_source: Mapped[str] = mapped_column(String(20), default="")  # reply | notifier


class Forward(Base):
    """A registered letter passed to a unit, and what the unit did with it."""

    __tablename__ = "forwards"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    letter_id: Mapped[int] = mapped_column(ForeignKey("letters.id"), index=True)
    unit_code: Mapped[str] = mapped_column(String(60))
    role: Mapped[str] = mapped_column(String(10))  # primary | copy
    # In the reply address (saraban+u.<token>@…) and the subject: unguessable, one per forward.
    token: Mapped[str] = mapped_column(String(40), unique=True)
    state: Mapped[str] = mapped_column(String(12), index=True)  # sent | accepted | returned
    via: Mapped[str] = mapped_column(String(20))  # rule | folder | reply | cli
    by: Mapped[str] = mapped_column(String(200), default="")
    forwarded_at: Mapped[dt.datetime]
    accepted_at: Mapped[dt.datetime | None]
    accepted_by: Mapped[str] = mapped_column(String(500), default="")
    unit_number: Mapped[int | None] = mapped_column(Integer)
    unit_year: Mapped[int | None] = mapped_column(Integer)
    returned_at: Mapped[dt.datetime | None]
    return_reason: Mapped[str] = mapped_column(Text, default="")
    reminded_at: Mapped[dt.datetime | None]
    clerk_told_at: Mapped[dt.datetime | None]

    # the reminders' look (forwarding/units.py remind_due): forwards not yet accepted whose
    # clerk was not told, not every forward a unit never answered
    __table_args__ = (Index("ix_forwards_open", "state", "clerk_told_at"),)


class Digest(Base):
    """One row per daily digest sent (so a restart never sends the day's digest twice)."""

    __tablename__ = "digests"
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    sent_at: Mapped[dt.datetime]


class AuditEntry(Base):
    """Append-only, hash-chained log: each row's hash covers its content and the previous hash."""

    __tablename__ = "audit_log"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime]
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(60), index=True)
    subject_type: Mapped[str] = mapped_column(String(30), default="")
    subject_id: Mapped[str] = mapped_column(String(100), default="")
    details: Mapped[str] = mapped_column(Text, default="{}")  # canonical JSON, hashed as stored
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


Index("ix_audit_subject", AuditEntry.subject_type, AuditEntry.subject_id)


class AuditHead(Base):
    """The chain's tip, one row; locking it serialises appends so the chain never forks."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class ImapMessage(Base):
    """Where a message sits in an IMAP mailbox, so the gateway knows its own from the clerk's moves."""

    __tablename__ = "imap_messages"
    __table_args__ = (
        UniqueConstraint("mailbox", "folder", "uidvalidity", "uid", name="uq_imap_location"),
        # a message is matched to its letter by its hash; each round looks for the placements
        # of one kind (review copies, originals in the review folders) of a mailbox
        Index("ix_imap_messages_sha256", "sha256", "mailbox", "kind"),
        Index("ix_imap_messages_kind", "mailbox", "kind", "folder"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mailbox: Mapped[str] = mapped_column(String(200))  # the [[imap]] name in config
    folder: Mapped[str] = mapped_column(String(300))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    uid: Mapped[int] = mapped_column(BigInteger)
    letter_id: Mapped[int | None] = mapped_column(ForeignKey("letters.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # original | copy | unknown
    sha256: Mapped[str] = mapped_column(String(64), default="")
    seen_at: Mapped[dt.datetime]


class MailboxLease(Base):
    """One worker per mailbox at a time (durability rule 6)."""

    __tablename__ = "mailbox_leases"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[dt.datetime]


class LoginFailure(Base):
    """One failed login at the submission server: the lockout counts these per (user, client
    address) in a window, so it survives a restart and one office NAT does not lock out all."""

    __tablename__ = "login_failures"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(200))
    client_ip: Mapped[str] = mapped_column(String(64))
    failed_at: Mapped[dt.datetime]

    __table_args__ = (Index("ix_login_failures_who", "username", "client_ip", "failed_at"),)
