"""The outbox keeps every reply: whose it is (`user_id`, filled from the message for old rows) and when its last
REST send began (`attempt_started_at`, to look a send cut short by a crash up at Twilio)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbound", schema=None) as batch_op:
        batch_op.add_column(sa.Column("user_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("attempt_started_at", sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_outbound_user_id"), ["user_id"], unique=False)
    op.execute(
        "UPDATE outbound SET user_id = (SELECT messages.user_id FROM messages"
        " WHERE messages.message_sid = outbound.message_sid)"
    )


def downgrade() -> None:
    with op.batch_alter_table("outbound", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbound_user_id"))
        batch_op.drop_column("attempt_started_at")
        batch_op.drop_column("user_id")
