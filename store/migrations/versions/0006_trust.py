"""trust: sender authentication verdicts, held secret letters, persisted login failures

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06

letters.sender_auth keeps the SPF/DKIM/DMARC/ARC verdict read for each message;
letters.secret_hold keeps a secret letter a clerk asked to forward until a clerk confirms;
login_failures makes the submission lockout per (user, client address) and lasting.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('letters', sa.Column('sender_auth', sa.JSON(), nullable=True))
    op.add_column('letters', sa.Column('secret_hold', sa.JSON(), nullable=True))
    op.create_table(
        'login_failures',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('username', sa.String(length=200), nullable=False),
        sa.Column('client_ip', sa.String(length=64), nullable=False),
        sa.Column('failed_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_login_failures_who', 'login_failures',
                    ['username', 'client_ip', 'failed_at'])


def downgrade() -> None:
    op.drop_index('ix_login_failures_who', table_name='login_failures')
    op.drop_table('login_failures')
    op.drop_column('letters', 'secret_hold')
    op.drop_column('letters', 'sender_auth')
