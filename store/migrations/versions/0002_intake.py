"""intake: duplicates, effects, imap locations

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 03:03:38.563486
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('imap_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('mailbox', sa.String(length=200), nullable=False),
    sa.Column('folder', sa.String(length=300), nullable=False),
    sa.Column('uidvalidity', sa.BigInteger(), nullable=False),
    sa.Column('uid', sa.BigInteger(), nullable=False),
    sa.Column('letter_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['letter_id'], ['letters.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('mailbox', 'folder', 'uidvalidity', 'uid', name='uq_imap_location')
    )
    with op.batch_alter_table('imap_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_imap_messages_letter_id'), ['letter_id'], unique=False)

    with op.batch_alter_table('letters', schema=None) as batch_op:
        batch_op.add_column(sa.Column('duplicate_of', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('effects', sa.JSON(), nullable=False, server_default='{}'))
        batch_op.create_foreign_key('fk_letters_duplicate_of', 'letters', ['duplicate_of'], ['id'])


def downgrade() -> None:
    raise NotImplementedError("the store is never downgraded")
