"""outbound: letter recipients, outbox recipes and in-flight markers

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.alter_column('message_sha256', existing_type=sa.String(length=64), nullable=True)
        batch_op.add_column(sa.Column('recipe', sa.JSON(), nullable=False, server_default='{}'))
        batch_op.add_column(sa.Column('envelope_from', sa.String(length=500), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('in_flight_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('sent_digest', sa.String(length=64), nullable=False,
                                      server_default=''))
    op.create_table('letter_recipients',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('letter_id', sa.Integer(), nullable=False),
    sa.Column('address', sa.String(length=500), nullable=False),
    sa.Column('name_th', sa.Text(), nullable=False),
    sa.Column('token', sa.String(length=40), nullable=False),
    sa.Column('outbox_id', sa.Integer(), nullable=True),
    sa.Column('state', sa.String(length=14), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('failed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ack_number', sa.String(length=100), nullable=False),
    sa.Column('ack_date', sa.Date(), nullable=True),
    sa.Column('ack_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ack_source', sa.String(length=20), nullable=False),
    sa.ForeignKeyConstraint(['letter_id'], ['letters.id'], ),
    sa.ForeignKeyConstraint(['outbox_id'], ['outbox.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('letter_id', 'address', name='uq_letter_recipient'),
    sa.UniqueConstraint('token')
    )
    with op.batch_alter_table('letter_recipients', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_letter_recipients_letter_id'), ['letter_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_letter_recipients_address'), ['address'], unique=False)
        batch_op.create_index(batch_op.f('ix_letter_recipients_outbox_id'), ['outbox_id'], unique=False)


def downgrade() -> None:
    raise NotImplementedError("the store is never downgraded")
