"""Meal plans: what each person wants of them (`meal_preferences`), plans per person per week (`meal_plans`),
ratings of planned meals (`plan_ratings`) and our grocery short links (`short_links`)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "meal_preferences",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_table(
        "meal_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("week_start", sa.String(length=10), nullable=False),
        sa.Column("start_day", sa.String(length=10), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("have", sa.JSON(), nullable=False),
        sa.Column("shown", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "week_start"),
    )
    with op.batch_alter_table("meal_plans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_meal_plans_user_id"), ["user_id"], unique=False)
    op.create_table(
        "plan_ratings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("day_index", sa.Integer(), nullable=False),
        sa.Column("slot", sa.String(length=16), nullable=False),
        sa.Column("recipe_id", sa.String(length=64), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["plan_id"], ["meal_plans.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("plan_ratings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_plan_ratings_plan_id"), ["plan_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_plan_ratings_recipe_id"), ["recipe_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_plan_ratings_user_id"), ["user_id"], unique=False)
    op.create_table(
        "short_links",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=24), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("basis", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["plan_id"], ["meal_plans.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("short_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_short_links_plan_id"), ["plan_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_short_links_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    for table, indexes in (
        ("short_links", ("user_id", "plan_id")),
        ("plan_ratings", ("user_id", "recipe_id", "plan_id")),
        ("meal_plans", ("user_id",)),
    ):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in indexes:
                batch_op.drop_index(batch_op.f(f"ix_{table}_{column}"))
        op.drop_table(table)
    op.drop_table("meal_preferences")
