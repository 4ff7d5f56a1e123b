"""Policy questions: what was asked, what the bot answered and from which version of the
policy, and the IT Network Manager's answers, some kept as the bot's answers for next time.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "policy_questions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("reference", sa.String(length=16), nullable=True),
        sa.Column("asker_key", sa.String(length=200), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("policy_hash", sa.String(length=64), nullable=True),
        sa.Column("sections", sa.JSON(), nullable=False),
        sa.Column("topic", sa.String(length=100), nullable=True),
        sa.Column("learned_from", sa.Integer(), nullable=True),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_by", sa.String(length=200), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answer_policy_hash", sa.String(length=64), nullable=True),
        sa.Column("learned", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("learned_sections", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_questions")),
        sa.UniqueConstraint("reference", name=op.f("uq_policy_questions_reference")),
    )
    op.create_index(
        op.f("ix_policy_questions_asker_key"), "policy_questions", ["asker_key"], unique=False
    )
    op.create_index(
        op.f("ix_policy_questions_learned"), "policy_questions", ["learned"], unique=False
    )
    counters = sa.table("counters", sa.column("kind", sa.String), sa.column("last", sa.Integer))
    op.bulk_insert(counters, [{"kind": "Q", "last": 0}])


def downgrade() -> None:
    op.execute("DELETE FROM counters WHERE kind = 'Q'")
    op.drop_index(op.f("ix_policy_questions_learned"), table_name="policy_questions")
    op.drop_index(op.f("ix_policy_questions_asker_key"), table_name="policy_questions")
    op.drop_table("policy_questions")
