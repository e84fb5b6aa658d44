"""Typed, frozen settings read once from config.toml (architecture.md, house style 9).

The whole file is parsed and validated at start-up into one `Settings` object that
is passed down; nothing reads the file again. A bad file is refused with a message
that names the key (`agency.latin_code`) and what is wrong, in Thai and English.

Secrets never live in the file: keys ending in `_env` name the environment
variable that holds the secret, and `secret()` reads it when it is needed.

The modules: ``settings`` (the whole file, loading, secrets), ``agency`` (names, codes,
register books, units, directory), ``mail`` (listener, mailboxes, relay, submission),
``letters`` (intake, signing, sending, forwarding), ``office`` (the working calendar), ``ops``
(logs, health endpoint, alarm channels), ``model`` (the base model and checked types).
"""

from gateway.config.agency import BOOK_CODES, Agency, Books, BookStart, Directory, Unit
from gateway.config.letters import Folders, Forwarding, Intake, Outbound, RoutingRule, Signing
from gateway.config.mail import Imap, Outbox, Relay, SmtpListener, Submission, SubmissionUser
from gateway.config.model import Email, EnvVar
from gateway.config.office import Calendar
from gateway.config.ops import AlarmChannels, BackupSettings, Health, Logging
from gateway.config.settings import Settings, Storage, load_settings, parse_settings, secret

__all__ = [
    "BOOK_CODES",
    "Agency",
    "AlarmChannels",
    "BackupSettings",
    "BookStart",
    "Books",
    "Calendar",
    "Directory",
    "Email",
    "EnvVar",
    "Folders",
    "Forwarding",
    "Health",
    "Imap",
    "Intake",
    "Logging",
    "Outbound",
    "Outbox",
    "Relay",
    "RoutingRule",
    "Settings",
    "Signing",
    "SmtpListener",
    "Storage",
    "Submission",
    "SubmissionUser",
    "Unit",
    "load_settings",
    "parse_settings",
    "secret",
]
