"""Calendar and reminders: the scheduled jobs (check-ins, cooking reminders, plan-ready notices) and each person's
calendar settings (time zone source, the hash of their ICS feed token, their Google Calendar connection with the
refresh token encrypted)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scheduled_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("attempt_started_at", sa.DateTime(), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("via", sa.String(length=16), nullable=True),
        sa.Column("twilio_sid", sa.String(length=64), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_index("ix_scheduled_jobs_user_id", "scheduled_jobs", ["user_id"])
    op.create_index("ix_scheduled_jobs_due_at", "scheduled_jobs", ["due_at"])
    op.create_index("ix_scheduled_jobs_status", "scheduled_jobs", ["status"])
    op.create_table(
        "calendar_people",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("zone_source", sa.String(length=16), nullable=True),
        sa.Column("feed_token_sha256", sa.String(length=64), nullable=True),
        sa.Column("feed_generation", sa.Integer(), nullable=False),
        sa.Column("synced_plan", sa.String(length=64), nullable=True),
        sa.Column("google_refresh_token", sa.LargeBinary(), nullable=True),
        sa.Column("google_calendar_id", sa.String(length=255), nullable=True),
        sa.Column("google_status", sa.String(length=16), nullable=True),
        sa.Column("google_synced_plan", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("user_id"),
        sa.UniqueConstraint("feed_token_sha256"),
    )


def downgrade() -> None:
    op.drop_table("calendar_people")
    op.drop_index("ix_scheduled_jobs_status", table_name="scheduled_jobs")
    op.drop_index("ix_scheduled_jobs_due_at", table_name="scheduled_jobs")
    op.drop_index("ix_scheduled_jobs_user_id", table_name="scheduled_jobs")
    op.drop_table("scheduled_jobs")
