"""SYSTEM_MAILBOX (gateway/letter.py): the one pattern for mailboxes no person writes from.

The table holds every name the four readers of such senders list today (core/parse.py's auto-
reply check, core/classify.py's no-acknowledgement rule, inbound/pipeline.py's bounce filter,
outbound/bounces.py's system senders), so each can read the pattern instead of its own copy.
"""

from __future__ import annotations

import pytest

from gateway.letter import SYSTEM_MAILBOX

MAIL_SYSTEM = ["MAILER-DAEMON", "mailer-daemon", "mailerdaemon", "mail-daemon", "maildaemon",
               "postmaster", "Postmaster", "mdaemon", "bounce", "bounces", "bounces+b.s3ndm41l",
               "postmaster.th", "MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e"]
NO_REPLY = ["noreply", "no-reply", "NoReply", "donotreply", "do-not-reply", "do-not-reply.saraban",
            "root", "daemon", "no-reply+x"]
PEOPLE = ["saraban", "somchai.j", "postmasters", "bouncer", "daemons", "rooted", "mailer",
          "xmailer-daemon", "noreplyplease", "microsoftexchange", "reply", "admin", ""]


@pytest.mark.parametrize("local", MAIL_SYSTEM)
def test_mail_systems(local: str) -> None:
    m = SYSTEM_MAILBOX.fullmatch(local)
    assert m is not None and m.lastgroup == "mail_system"


@pytest.mark.parametrize("local", NO_REPLY)
def test_no_one_reads_replies(local: str) -> None:
    m = SYSTEM_MAILBOX.fullmatch(local)
    assert m is not None and m.lastgroup == "no_reply"


@pytest.mark.parametrize("local", PEOPLE)
def test_people(local: str) -> None:
    assert SYSTEM_MAILBOX.fullmatch(local) is None
