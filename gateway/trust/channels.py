"""Which channels prove a clerk (issue #18, "commands only from the clerks"): pure.

A command read from mail (`ส่ง <หน่วยงาน>`, and any later one) is obeyed only with a proof
that a clerk wrote it, and the proof is decided here and nowhere else:

- ``submission:<user>`` / ``cli:<user>``: it came through the gateway's submission server
  after AUTH (or `saraban-gateway send` on the gateway's own machine);
- ``imap:<folder>``: the IMAP adapter found it in a folder of the central mailbox that only a
  client holding the mailbox's password can write: the client's Sent folder, or the command
  folder ([intake.folders] sent, commands);
- ``dkim:<domain>``: delivered mail From a clerk's address (a central address or a
  submission login) of the agency's own domain, whose sender authentication passed as judged
  by the agency's own MX ([authentication] authserv_id).

Anything else — any From header over the SMTP listener, anything in INBOX — proves nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.config import Settings
from gateway.letter import ParsedMessage
from gateway.trust import SenderAuth

__all__ = ["Origin", "clerk_addresses", "clerk_proof", "folder_key", "folder_of", "own_domains"]


@dataclass(frozen=True)
class Origin:
    """Where a message came in: what proves who wrote it.

    `channel` is raw_messages.channel (imap | smtp | submission | cli); `source_key` its
    natural key (``imap:<mailbox>:<uidvalidity>:<uid>`` for INBOX,
    ``imap:<mailbox>:<uidvalidity>:<uid>#<folder>`` for another folder (`folder_key`),
    ``smtp:<sha256>`` …)."""

    channel: str = ""
    source_key: str = ""


_FOLDER_KEY = re.compile(r"imap:(?P<mailbox>.*?):(?P<validity>\d+):(?P<uid>\d+)#(?P<folder>.+)", re.S)


def folder_key(mailbox: str, validity: int, uid: int, folder: str) -> str:
    """The source key of a message the IMAP adapter took from `folder` (not INBOX)."""
    return f"imap:{mailbox}:{validity}:{uid}#{folder}"


def folder_of(origin: Origin) -> tuple[str, str] | None:
    """(mailbox name, folder) of a message taken from a folder other than the watched one."""
    if origin.channel != "imap":
        return None
    m = _FOLDER_KEY.fullmatch(origin.source_key)
    return (m["mailbox"], m["folder"]) if m else None


def own_domains(settings: Settings) -> frozenset[str]:
    return frozenset(a.rpartition("@")[2].lower() for a in settings.agency.central_addresses)


def clerk_addresses(settings: Settings) -> frozenset[str]:
    """The addresses a clerk writes from: the central addresses and the submission logins."""
    logins = (u.name for u in settings.submission.users if "@" in u.name)
    return frozenset(a.lower() for a in (*settings.agency.central_addresses, *logins))


def command_folders(settings: Settings) -> tuple[str, ...]:
    f = settings.intake.folders
    return tuple(x for x in (f.sent, f.commands) if x)


def clerk_proof(origin: Origin, auth: SenderAuth | None, msg: ParsedMessage, settings: Settings,
                *, user: str = "") -> str | None:
    """What proves that a clerk wrote this message, or None: then no command in it is obeyed."""
    if origin.channel in ("submission", "cli"):  # authenticated by the server, or local
        return f"{origin.channel}:{user or '-'}"
    place = folder_of(origin)
    if place is not None:
        mailbox, folder = place
        watched = {m.name for m in settings.imap}
        return f"imap:{folder}" if mailbox in watched and folder in command_folders(settings) else None
    sender = (msg.from_addr or "").lower()
    domain = sender.rpartition("@")[2]
    judge = settings.authentication.authserv_id.strip().lower()
    if (auth is not None and auth.passed and judge and auth.judged_by.strip().lower() == judge
            and sender in clerk_addresses(settings) and domain in own_domains(settings)
            and auth.from_domain.lower() == domain):
        return f"dkim:{domain}"
    return None
