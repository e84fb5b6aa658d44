"""history indexes: nothing a letter or an IMAP round asks of the store grows with its past

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06

The duplicate check finds the same letter by its main file's hash (letter_files.sha256) and by
its number and date (letters.letter_no_norm, letter_date); a clerk's move is matched to its
letter by the message's hash (raw_messages.sha256 and letters.raw_message_id,
imap_messages.sha256); each IMAP round
reads the placements of one kind in a mailbox (imap_messages mailbox, kind, folder) and the
letters left unfiled, which two partial indexes hold (only those rows: SMTP letters not yet
shown in a folder, registered letters without their findable copy). The sender's look for
what is due reads the waiting outbox rows only (outbox status, next_attempt_at), the reminders
the open forwards (forwards state, clerk_told_at), the digest the day's entries
(register_entries registered_at).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

SMTP_UNFILED = "channel = 'smtp' AND filed_folder = ''"
COPY_UNFILED_SQLITE = "state = 'registered' AND copy_appended = 0"
COPY_UNFILED_PG = "state = 'registered' AND NOT copy_appended"


def upgrade() -> None:
    op.create_index('ix_letter_files_sha256', 'letter_files', ['sha256'])
    op.create_index('ix_letters_number_date', 'letters', ['letter_no_norm', 'letter_date'])
    op.create_index('ix_raw_messages_sha256', 'raw_messages', ['sha256'])
    op.create_index('ix_letters_raw_message_id', 'letters', ['raw_message_id'])
    op.create_index('ix_imap_messages_sha256', 'imap_messages', ['sha256', 'mailbox', 'kind'])
    op.create_index('ix_imap_messages_kind', 'imap_messages', ['mailbox', 'kind', 'folder'])
    op.create_index('ix_outbox_due', 'outbox', ['status', 'next_attempt_at'])
    op.create_index('ix_forwards_open', 'forwards', ['state', 'clerk_told_at'])
    op.create_index('ix_register_entries_registered_at', 'register_entries', ['book_id', 'registered_at'])
    op.create_index('ix_letters_smtp_unfiled', 'letters', ['id'],
                    sqlite_where=sa.text(SMTP_UNFILED), postgresql_where=sa.text(SMTP_UNFILED))
    op.create_index('ix_letters_copy_unfiled', 'letters', ['state'],
                    sqlite_where=sa.text(COPY_UNFILED_SQLITE), postgresql_where=sa.text(COPY_UNFILED_PG))
    if op.get_bind().dialect.name == "postgresql":
        # PostgreSQL takes columns to be independent: 95 % registered and 5 % without a copy
        # would be thousands of rows, where there are none, and a plan reading every letter;
        # the statistics of the combinations (ANALYZE, autovacuum) tell it they are rare
        op.execute("CREATE STATISTICS IF NOT EXISTS st_letters_filing (mcv) "
                   "ON state, copy_appended, channel, filed_folder FROM letters")
        op.execute("CREATE STATISTICS IF NOT EXISTS st_imap_messages_kind (mcv) "
                   "ON mailbox, kind, folder FROM imap_messages")


def downgrade() -> None:
    raise NotImplementedError("the store is never downgraded")
