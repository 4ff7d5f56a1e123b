"""Concern reports and their append-only chronology; attachments may belong to a report.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("reference", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("reporter_key", sa.String(length=200), nullable=True),
        sa.Column("receipt_digest", sa.String(length=64), nullable=True),
        sa.Column("where", sa.String(length=200), nullable=False),
        sa.Column("links", sa.JSON(), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("involved", sa.JSON(), nullable=False),
        sa.Column("involved_text", sa.Text(), nullable=False),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("held", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("escalated", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("step", sa.Integer(), server_default="1", nullable=False),
        sa.Column("form_key", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
        sa.UniqueConstraint("reference", name=op.f("uq_reports_reference")),
        sa.UniqueConstraint("receipt_digest", name=op.f("uq_reports_receipt_digest")),
        sa.UniqueConstraint("form_key", name=op.f("uq_reports_form_key")),
    )
    for column in ("kind", "state", "reporter_key", "held", "created_at"):
        op.create_index(op.f(f"ix_reports_{column}"), "reports", [column], unique=False)
    op.create_table(
        "report_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("actor_key", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["report_id"], ["reports.id"], name=op.f("fk_report_events_report_id_reports")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_events")),
    )
    op.create_index(
        op.f("ix_report_events_report_id"), "report_events", ["report_id"], unique=False
    )
    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.alter_column("post_id", existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column("report_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_attachments_report_id"), ["report_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_attachments_report_id_reports"), "reports", ["report_id"], ["id"]
        )
    _append_only_chronology()


def _append_only_chronology() -> None:
    # "Nothing is ever edited or deleted": a case's chronology is only added to, whatever
    # goes through the database.
    if op.get_context().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION report_events_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'report_events is append-only';
            END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER report_events_append_only BEFORE UPDATE OR DELETE ON report_events "
            "FOR EACH ROW EXECUTE FUNCTION report_events_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER report_events_no_{verb.lower()} BEFORE {verb} ON report_events "
                "BEGIN SELECT RAISE(ABORT, 'report_events is append-only'); END"
            )


def downgrade() -> None:
    evidence = op.get_bind().scalar(
        sa.text("SELECT COUNT(*) FROM attachments WHERE report_id IS NOT NULL")
    )
    if evidence:
        # Going back would have to throw away reports' evidence; that is for a person to do.
        raise RuntimeError(
            f"{evidence} attachments are evidence on reports, which the schema before 0005 "
            "cannot hold: remove them deliberately before downgrading"
        )
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS report_events_append_only ON report_events")
        op.execute("DROP FUNCTION IF EXISTS report_events_append_only()")
    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_attachments_report_id_reports"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_attachments_report_id"))
        batch_op.drop_column("report_id")
        batch_op.alter_column("post_id", existing_type=sa.Integer(), nullable=False)
    op.drop_index(op.f("ix_report_events_report_id"), table_name="report_events")
    op.drop_table("report_events")
    for column in ("kind", "state", "reporter_key", "held", "created_at"):
        op.drop_index(op.f(f"ix_reports_{column}"), table_name="reports")
    op.drop_table("reports")
