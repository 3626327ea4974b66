"""bench item scores may be null (writing tasks before judging)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bench_items") as batch_op:
        batch_op.alter_column("score", existing_type=sa.Float(), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("bench_items") as batch_op:
        batch_op.alter_column("score", existing_type=sa.Float(), nullable=False)
