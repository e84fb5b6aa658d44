"""amendments: corrected fields of registered letters; a cancelled entry points to its successor

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06

amendments keeps every correction of a registered letter (field, old, new, who, when, why);
register_entries.replaced_by_id links a cancelled receive entry to the entry the letter got
when it was registered again. Letters may now be in the state "cancelled" (a string column:
nothing to change for it).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch: SQLite adds a foreign key column only by copying the table (nothing references
    # register_entries yet: amendments is made after)
    with op.batch_alter_table('register_entries') as batch:
        batch.add_column(sa.Column('replaced_by_id', sa.Integer(), nullable=True))
        batch.create_foreign_key('fk_register_entries_replaced_by', 'register_entries',
                                 ['replaced_by_id'], ['id'])
    op.create_table(
        'amendments',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('letter_id', sa.Integer(), nullable=False),
        sa.Column('entry_id', sa.Integer(), nullable=True),
        sa.Column('field', sa.String(length=30), nullable=False),
        sa.Column('old_value', sa.Text(), nullable=False),
        sa.Column('new_value', sa.Text(), nullable=False),
        sa.Column('actor', sa.String(length=200), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['letter_id'], ['letters.id'], ),
        sa.ForeignKeyConstraint(['entry_id'], ['register_entries.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_amendments_letter_id', 'amendments', ['letter_id'], unique=False)


def downgrade() -> None:
    raise NotImplementedError("the store is never downgraded")
