"""Deletions of a deleted person's media at Twilio, queued in the delete's transaction (`media_deletions`)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "media_deletions",
        sa.Column("message_sid", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("message_sid"),
    )
    with op.batch_alter_table("media_deletions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_media_deletions_next_attempt_at"), ["next_attempt_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("media_deletions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_media_deletions_next_attempt_at"))

    op.drop_table("media_deletions")
