"""letter facts as typed columns; the effects JSON bag and the second copy of numbers go

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06

Every key that lived in letters.effects becomes a typed column (or, for the notifiers that
came back for a sent letter, rows of delivery_notices), carried across for existing letters.
The receive and send numbers were also copied into effects: they live only in
register_entries now, so those keys are dropped after a check that each one agrees with the
register (a disagreement stops the upgrade rather than losing a number).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

# where each old key went: key -> (column, conversion)
_TEXT_KEYS = {
    "xml_receiver": "xml_receiver", "stamp_error": "stamp_error", "filed": "filed_folder",
    "filing": "filing_folder", "user": "submitted_by", "unit": "unit_code", "file_name": "file_name",
    "notifier": "notifier_kind", "notifier_letter": "notifier_letter_no",
    "delivery_state": "delivery_state",
}
_LIST_KEYS = {"sender_flags": "sender_flags", "signatures": "signatures",
              "clerk_route": "clerk_route", "suggested": "suggested_units"}
_BOOL_KEYS = {"copy_appending": "copy_appending", "copy_appended": "copy_appended",
              "signed": "signed", "cc_unit": "cc_unit"}
_ABOUT_KEYS = (("bounce_for", "bounce"), ("acknowledges", "acknowledgement"),
               ("unit_reply_for", "unit_reply"))
# in the register already (register_entries): checked, then dropped
_NUMBER_KEYS = ("receive_number", "receive_year", "book", "number", "year", "registered_at")
_DROPPED = ("stamped", "stamped_sha256", "delivery", "routed", "for_letter", "forward", "xml",
            "bounce", "accept_resent", *_NUMBER_KEYS)


_COLUMN_TYPES: dict[str, Any] = {
    **{c: sa.Text() for c in _TEXT_KEYS.values()}, **{c: sa.JSON() for c in _LIST_KEYS.values()},
    **{c: sa.Boolean() for c in _BOOL_KEYS.values()}, "xml_report": sa.JSON(),
    "bounce_report": sa.JSON(), "accept_resent": sa.Integer(), "routed_rule": sa.Text(),
    "stamped_at": sa.DateTime(timezone=True), "forward_id": sa.Integer(), "about": sa.Text(),
    "about_letter_id": sa.Integer(),
}


def columns_from(effects: dict[str, Any], updated_at: Any) -> dict[str, Any]:
    """The new columns' values for one letter's old effects (pure; tested on its own)."""
    out: dict[str, Any] = {}
    for key, col in _TEXT_KEYS.items():
        if effects.get(key) not in (None, ""):
            out[col] = str(effects[key])
    for key, col in _LIST_KEYS.items():
        if effects.get(key):
            out[col] = [str(x) for x in effects[key]]
    for key, col in _BOOL_KEYS.items():
        if effects.get(key):
            out[col] = True
    if effects.get("xml") is not None:
        out["xml_report"] = effects["xml"]
    if effects.get("bounce") is not None:
        out["bounce_report"] = effects["bounce"]
    if effects.get("accept_resent"):
        out["accept_resent"] = int(effects["accept_resent"])
    if "routed" in effects:
        out["routed_rule"] = str(effects["routed"] or "")
    if effects.get("stamped"):
        out["stamped_at"] = updated_at  # the best time known: the stamp was its last change
    if effects.get("forward") is not None:
        out["forward_id"] = int(effects["forward"])
    for key, about in _ABOUT_KEYS:
        if effects.get(key) is not None:
            out["about"], out["about_letter_id"] = about, int(effects[key])
    if effects.get("for_letter") is not None:
        out["about"] = "clerk_route" if effects.get("clerk_route") is not None else "own_copy"
        out["about_letter_id"] = int(effects["for_letter"])
    return out


def upgrade() -> None:
    # Plain ALTER TABLE on both databases (SQLite >= 3.35 drops columns itself): a batch
    # copy-and-move would drop the letters table, which other tables reference.
    op.add_column('letters', sa.Column('sender_flags', sa.JSON(), nullable=False, server_default='[]'))
    op.add_column('letters', sa.Column('signatures', sa.JSON(), nullable=False, server_default='[]'))
    op.add_column('letters', sa.Column('xml_report', sa.JSON(), nullable=True))
    op.add_column('letters', sa.Column('xml_receiver', sa.Text(), nullable=False, server_default=''))
    op.add_column('letters', sa.Column('about', sa.String(length=20), nullable=False, server_default=''))
    op.add_column('letters', sa.Column('about_letter_id', sa.Integer(), nullable=True))
    op.add_column('letters', sa.Column('forward_id', sa.Integer(), nullable=True))
    op.add_column('letters', sa.Column('clerk_route', sa.JSON(), nullable=False, server_default='[]'))
    op.add_column('letters', sa.Column('bounce_report', sa.JSON(), nullable=True))
    op.add_column('letters', sa.Column('notifier_kind', sa.String(length=30), nullable=False,
                  server_default=''))
    op.add_column('letters', sa.Column('notifier_letter_no', sa.String(length=200), nullable=False,
                  server_default=''))
    op.add_column('letters', sa.Column('accept_resent', sa.Integer(), nullable=False, server_default='0'))
    op.add_column('letters', sa.Column('delivery_state', sa.String(length=20), nullable=False,
                  server_default=''))
    op.add_column('letters', sa.Column('routed_rule', sa.Text(), nullable=True))
    op.add_column('letters', sa.Column('suggested_units', sa.JSON(), nullable=False, server_default='[]'))
    op.add_column('letters', sa.Column('stamped_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('letters', sa.Column('stamp_error', sa.Text(), nullable=False, server_default=''))
    op.add_column('letters', sa.Column('filing_folder', sa.Text(), nullable=False, server_default=''))
    op.add_column('letters', sa.Column('filed_folder', sa.Text(), nullable=False, server_default=''))
    op.add_column('letters', sa.Column('copy_appending', sa.Boolean(), nullable=False,
                  server_default=sa.false()))
    op.add_column('letters', sa.Column('copy_appended', sa.Boolean(), nullable=False,
                  server_default=sa.false()))
    op.add_column('letters', sa.Column('submitted_by', sa.String(length=200), nullable=False,
                  server_default=''))
    op.add_column('letters', sa.Column('unit_code', sa.String(length=60), nullable=False,
                  server_default=''))
    op.add_column('letters', sa.Column('file_name', sa.Text(), nullable=False, server_default=''))
    op.add_column('letters', sa.Column('signed', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column('letters', sa.Column('cc_unit', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_index('ix_letters_unstamped', 'letters', ['state', 'stamped_at'], unique=False)

    op.create_table('delivery_notices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('letter_id', sa.Integer(), nullable=False),
    sa.Column('notice_letter_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('from_addr', sa.String(length=500), nullable=False),
    sa.Column('accept_id', sa.String(length=100), nullable=False),
    sa.Column('accept_date', sa.Date(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['letter_id'], ['letters.id'], ),
    sa.ForeignKeyConstraint(['notice_letter_id'], ['letters.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('delivery_notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_delivery_notices_letter_id'), ['letter_id'], unique=False)

    _carry_across()

    op.drop_column('letters', 'effects')


def _carry_across() -> None:
    conn = op.get_bind()
    sqlite = conn.dialect.name == "sqlite"

    def when(value: Any) -> Any:  # stored as the models store it: UTC, naive on SQLite
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        if isinstance(value, dt.datetime) and value.tzinfo is not None and sqlite:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value

    letters = sa.table('letters', sa.column('id'), sa.column('effects', sa.JSON()),
                       sa.column('updated_at', sa.DateTime(timezone=True)),
                       *(sa.column(c, t) for c, t in _COLUMN_TYPES.items()))
    entries = sa.table('register_entries', sa.column('letter_id'), sa.column('number'),
                       sa.column('year'), sa.column('status'))
    notices = sa.table('delivery_notices', sa.column('letter_id'), sa.column('kind'),
                       sa.column('state'), sa.column('from_addr'), sa.column('accept_id'),
                       sa.column('accept_date', sa.Date()),
                       sa.column('at', sa.DateTime(timezone=True)))
    rows = conn.execute(sa.select(letters.c.id, letters.c.effects, letters.c.updated_at)).all()
    for letter_id, raw, updated_at in rows:
        effects = raw if isinstance(raw, dict) else json.loads(raw or "{}")
        if not effects:
            continue
        for number_key, year_key in (("receive_number", "receive_year"), ("number", "year")):
            if effects.get(number_key) is None:
                continue
            held = conn.execute(sa.select(entries.c.number, entries.c.year).where(
                entries.c.letter_id == letter_id, entries.c.number == int(effects[number_key]),
                entries.c.year == int(effects[year_key]))).first()
            if held is None:
                raise RuntimeError(f"letter {letter_id}: number {effects[number_key]}/"
                                   f"{effects[year_key]} is not in the register; not migrating")
        values = columns_from(effects, when(updated_at))
        if values:
            conn.execute(letters.update().where(letters.c.id == letter_id).values(**values))
        for event in effects.get("delivery", []):
            at = event.get("at")
            conn.execute(notices.insert().values(
                letter_id=letter_id, kind=str(event.get("kind", "")), state=str(event.get("state", "")),
                from_addr=str(event.get("from", "")), accept_id=str(event.get("accept_id") or ""),
                accept_date=dt.date.fromisoformat(event["accept_date"]) if event.get("accept_date") else None,
                at=when(at) if at else when(updated_at)))


def downgrade() -> None:
    raise NotImplementedError("the store is never downgraded")
