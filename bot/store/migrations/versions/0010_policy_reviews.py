"""The school's review of where the bot answers each topic from: one row per decision, with
the version of the policy it was made on and the passages it rests on, kept as history.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "policy_reviews",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("policy_version", sa.String(length=64), nullable=False),
        sa.Column("topic_key", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("passages", sa.JSON(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=False),
        sa.Column("decided_by_name", sa.String(length=200), nullable=True),
        sa.Column("decided_by_identity", sa.String(length=500), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_reviews")),
    )
    op.create_index(
        op.f("ix_policy_reviews_topic_key"), "policy_reviews", ["topic_key"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_policy_reviews_topic_key"), table_name="policy_reviews")
    op.drop_table("policy_reviews")
