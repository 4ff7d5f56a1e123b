"""Teams: where the bot can reach each person (their personal chat with it), and the files
sent with `post` until the draft form comes back.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "teams_conversations",
        sa.Column("aad_object_id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=True),
        sa.Column("service_url", sa.String(length=500), nullable=False),
        sa.Column("conversation_id", sa.String(length=500), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("bot_id", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("unreachable_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("unreachable_reason", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("aad_object_id", name=op.f("pk_teams_conversations")),
    )
    op.create_index(
        op.f("ix_teams_conversations_conversation_id"),
        "teams_conversations",
        ["conversation_id"],
        unique=False,
    )
    op.create_table(
        "teams_uploads",
        sa.Column("form_key", sa.String(length=64), nullable=False),
        sa.Column("aad_object_id", sa.String(length=64), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("form_key", name=op.f("pk_teams_uploads")),
    )
    op.create_index(
        op.f("ix_teams_uploads_created_at"), "teams_uploads", ["created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_teams_uploads_created_at"), table_name="teams_uploads")
    op.drop_table("teams_uploads")
    op.drop_index(op.f("ix_teams_conversations_conversation_id"), table_name="teams_conversations")
    op.drop_table("teams_conversations")
