"""Billing: Stripe subscriptions per person, the Stripe events applied, deleted people's subscriptions to cancel at
Stripe (`subscriptions`, `stripe_events`, `stripe_cancellations`); the usage ledger counts AI conversations, meal
plans and calendar syncs."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

USAGE_COUNTERS = ("ai_conversations", "meal_plans_generated", "calendar_syncs")
SUBSCRIPTION_INDEXES = ("cancel_at", "past_due_since", "stripe_subscription_id")


def upgrade() -> None:
    with op.batch_alter_table("usage", schema=None) as batch_op:
        for name in USAGE_COUNTERS:
            batch_op.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "subscriptions",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("current_period_start", sa.DateTime(), nullable=True),
        sa.Column("current_period_end", sa.DateTime(), nullable=True),
        sa.Column("cancel_at_period_end", sa.Boolean(), nullable=False),
        sa.Column("cancel_at", sa.DateTime(), nullable=True),
        sa.Column("stripe_customer_id", sa.String(length=64), nullable=True),
        sa.Column("stripe_subscription_id", sa.String(length=64), nullable=True),
        sa.Column("last_event_created", sa.BigInteger(), nullable=False),
        sa.Column("past_due_since", sa.DateTime(), nullable=True),
        sa.Column("comp_tier", sa.String(length=16), nullable=True),
        sa.Column("comp_reason", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("user_id"),
        sa.UniqueConstraint("stripe_customer_id"),
    )
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        for column in SUBSCRIPTION_INDEXES:
            batch_op.create_index(batch_op.f(f"ix_subscriptions_{column}"), [column], unique=False)
    op.create_table(
        "stripe_events",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "stripe_cancellations",
        sa.Column("stripe_subscription_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("stripe_subscription_id"),
    )
    with op.batch_alter_table("stripe_cancellations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stripe_cancellations_next_attempt_at"), ["next_attempt_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("stripe_cancellations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stripe_cancellations_next_attempt_at"))
    op.drop_table("stripe_cancellations")
    op.drop_table("stripe_events")
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        for column in reversed(SUBSCRIPTION_INDEXES):
            batch_op.drop_index(batch_op.f(f"ix_subscriptions_{column}"))
    op.drop_table("subscriptions")
    with op.batch_alter_table("usage", schema=None) as batch_op:
        for name in reversed(USAGE_COUNTERS):
            batch_op.drop_column(name)
