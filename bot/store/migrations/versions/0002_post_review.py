"""Deciding on drafts: a step counter for exactly-once changes, approved version, the
attachments each version carries, live links, card revisions and timers.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("step", sa.Integer(), server_default="1", nullable=False))
        batch_op.add_column(sa.Column("approved_version", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("reminded_on", sa.Date(), nullable=True))
    with op.batch_alter_table("post_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attachment_ids", sa.JSON(), nullable=True))
    with op.batch_alter_table("cards", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revision", sa.Integer(), server_default="1", nullable=False))
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revision", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_outbox_card_key"), ["card_key"], unique=False)
    op.create_table(
        "post_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("account", sa.String(length=200), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["post_id"], ["posts.id"], name=op.f("fk_post_links_post_id_posts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_post_links")),
    )
    with op.batch_alter_table("post_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_post_links_post_id"), ["post_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("post_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_post_links_post_id"))
    op.drop_table("post_links")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_card_key"))
        batch_op.drop_column("revision")
    with op.batch_alter_table("cards", schema=None) as batch_op:
        batch_op.drop_column("revision")
    with op.batch_alter_table("post_versions", schema=None) as batch_op:
        batch_op.drop_column("attachment_ids")
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.drop_column("reminded_on")
        batch_op.drop_column("approved_version")
        batch_op.drop_column("step")
