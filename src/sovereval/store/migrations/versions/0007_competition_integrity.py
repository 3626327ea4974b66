"""competition integrity: replay-mode ledgers and reasoned round reopenings

``ledger_head.replay`` marks a database whose events are timed by ``--at`` (a replay); on a
live database ``--at`` is refused. ``rounds.reopenings`` lists each reasoned reopening of a
closed round, shown wherever the round's results appear.

Revision ID: 0007_integrity
Revises: 0006_ledger_jcs
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_integrity"
down_revision = "0006_ledger_jcs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_head") as batch_op:
        batch_op.add_column(
            sa.Column("replay", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("rounds") as batch_op:
        batch_op.add_column(
            sa.Column("reopenings", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("rounds") as batch_op:
        batch_op.drop_column("reopenings")
    with op.batch_alter_table("ledger_head") as batch_op:
        batch_op.drop_column("replay")
