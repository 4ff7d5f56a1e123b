"""Records say who acted, as they were at that moment; a policy question keeps no asker until
it is sent on, and its times only to the day.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, prefix of the two new columns)
SIGNED = (
    ("reports", "reporter"),
    ("report_events", "actor"),
    ("post_versions", "created_by"),
    ("history", "actor"),
    ("policy_questions", "asker"),
    ("policy_questions", "answered_by"),
)


def upgrade() -> None:
    # Plain ADD COLUMN, not a batch copy: a copied report_events would lose the triggers
    # that keep the chronology append-only.
    for table, prefix in SIGNED:
        op.add_column(table, sa.Column(f"{prefix}_name", sa.String(length=200), nullable=True))
        op.add_column(table, sa.Column(f"{prefix}_identity", sa.String(length=500), nullable=True))
    op.add_column(
        "policy_questions", sa.Column("escalation_digest", sa.String(length=64), nullable=True)
    )
    with op.batch_alter_table("policy_questions", schema=None) as batch_op:
        batch_op.alter_column("asker_key", existing_type=sa.String(length=200), nullable=True)
    _forget_askers()


def _forget_askers() -> None:
    """Questions never sent on lose their asker; every question's times keep only the day (in
    UTC: the school's time zone is not known here)."""
    questions = sa.table(
        "policy_questions",
        sa.column("id", sa.Integer),
        sa.column("asker_key", sa.String),
        sa.column("asked_at", sa.DateTime(timezone=True)),
        sa.column("escalated_at", sa.DateTime(timezone=True)),
    )
    bind = op.get_bind()
    bind.execute(
        questions.update().where(questions.c.escalated_at.is_(None)).values(asker_key=None)
    )
    rows = bind.execute(
        sa.select(questions.c.id, questions.c.asked_at, questions.c.escalated_at)
    ).all()
    for question_id, asked_at, escalated_at in rows:
        bind.execute(
            questions.update()
            .where(questions.c.id == question_id)
            .values(asked_at=_day(asked_at), escalated_at=_day(escalated_at))
        )


def _day(value: datetime | str | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite hands back text without a type to read it as
        value = datetime.fromisoformat(value)
    day = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return (
        midnight if op.get_context().dialect.name == "postgresql" else midnight.replace(tzinfo=None)
    )


def downgrade() -> None:
    op.execute("UPDATE policy_questions SET asker_key = '' WHERE asker_key IS NULL")
    with op.batch_alter_table("policy_questions", schema=None) as batch_op:
        batch_op.alter_column("asker_key", existing_type=sa.String(length=200), nullable=False)
    op.drop_column("policy_questions", "escalation_digest")
    for table, prefix in SIGNED:
        if op.get_context().dialect.name == "sqlite" and table == "report_events":
            # SQLite drops a column by copying the table, which would take the append-only
            # triggers with it; the two columns stay, unused by the older code.
            continue
        op.drop_column(table, f"{prefix}_identity")
        op.drop_column(table, f"{prefix}_name")
