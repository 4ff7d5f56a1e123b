"""The asker's thumbs up or down on a policy answer, and the reason for a thumbs down, kept on
the question itself: one vote per answer, and nothing about who voted.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN: nullable, so no table is copied and no row is touched.
    op.add_column("policy_questions", sa.Column("vote", sa.String(length=16), nullable=True))
    op.add_column("policy_questions", sa.Column("vote_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("policy_questions", schema=None) as batch_op:
        batch_op.drop_column("vote_reason")
        batch_op.drop_column("vote")
