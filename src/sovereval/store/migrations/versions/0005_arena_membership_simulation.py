"""arena: per-round panel membership, regenerated leaking answers, simulation rounds

Adds ``panelists.user_id`` (the web user who is that round's panelist; unique per round),
``battles.regenerations`` (answer pairs discarded because they named a model) and
``rounds.simulation`` (set when a round is created as a simulation; only such a round takes
simulated panels and votes). Existing panelists are linked to the panelist account whose
username equals their code, which is how membership was decided before.

Revision ID: 0005_arena
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_arena"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("panelists") as batch_op:
        batch_op.add_column(sa.Column("user_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_panelists_user_id", "web_users", ["user_id"], ["id"])
        batch_op.create_index("ix_panelists_user_id", ["user_id"])
        batch_op.create_unique_constraint("uq_panelists_round_user", ["round_id", "user_id"])
    op.execute(
        "UPDATE panelists SET user_id = (SELECT web_users.id FROM web_users "
        "WHERE web_users.username = panelists.code AND web_users.role = 'panelist')"
    )
    with op.batch_alter_table("battles") as batch_op:
        batch_op.add_column(
            sa.Column("regenerations", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("rounds") as batch_op:
        batch_op.add_column(
            sa.Column("simulation", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("rounds") as batch_op:
        batch_op.drop_column("simulation")
    with op.batch_alter_table("battles") as batch_op:
        batch_op.drop_column("regenerations")
    with op.batch_alter_table("panelists") as batch_op:
        batch_op.drop_constraint("uq_panelists_round_user", type_="unique")
        batch_op.drop_index("ix_panelists_user_id")
        batch_op.drop_constraint("fk_panelists_user_id", type_="foreignkey")
        batch_op.drop_column("user_id")
