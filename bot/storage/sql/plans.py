"""Meal-plan preferences, plans, their ratings and our grocery short links: `PlanStore` on SQL."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select

from bot.storage.records import PlanRating, PlanRecord, ShortLink
from bot.storage.sql import tables as t
from bot.storage.sql.engine import SqlBase

_PLAN_UPDATES = frozenset({"plan", "request", "have", "shown"})


def _plan(row: t.MealPlan) -> PlanRecord:
    return PlanRecord(
        row.id,
        row.user_id,
        row.week_start,
        row.start_day,
        dict(row.plan),
        dict(row.request),
        tuple(row.have or ()),
        dict(row.shown) if row.shown else None,
        row.created_at,
        row.updated_at,
    )


def _link(row: t.ShortLink) -> ShortLink:
    return ShortLink(row.id, row.user_id, row.plan_id, row.provider, row.target, row.basis, row.created_at)


class SqlPlans(SqlBase):
    def meal_preferences(self, user_id: int) -> dict:
        with self._tx() as s:
            row = s.get(t.MealPreferences, user_id)
            return dict(row.values) if row else {}

    def set_meal_preferences(self, user_id: int, values: dict, now: datetime) -> dict:
        with self._tx() as s:
            row = s.get(t.MealPreferences, user_id)
            if row is None:
                row = t.MealPreferences(user_id=user_id)
                s.add(row)
            row.values, row.updated_at = dict(values), now
            return dict(values)

    def save_plan(
        self, user_id: int, week_start: str, start_day: str, plan: dict, request: dict, now: datetime
    ) -> PlanRecord:
        with self._tx() as s:
            row = s.scalar(select(t.MealPlan).where(t.MealPlan.user_id == user_id, t.MealPlan.week_start == week_start))
            if row is None:
                row = t.MealPlan(user_id=user_id, week_start=week_start, created_at=now)
                s.add(row)
            # a new plan for the week starts afresh: nothing had, nothing looked at yet
            row.start_day, row.plan, row.request, row.have, row.shown = start_day, plan, request, [], None
            row.updated_at = now
            s.flush()
            return _plan(row)

    def update_plan(self, plan_id: int, now: datetime, **values) -> PlanRecord:
        unknown = set(values) - _PLAN_UPDATES
        if unknown:
            raise ValueError(f"not plan fields: {sorted(unknown)}; expected some of {sorted(_PLAN_UPDATES)}")
        if "have" in values:
            values["have"] = list(values["have"])
        with self._tx() as s:
            row = s.get(t.MealPlan, plan_id)
            if row is None:
                raise KeyError(f"no meal plan with id {plan_id}")
            for key, value in values.items():
                setattr(row, key, value)
            row.updated_at = now
            s.flush()
            return _plan(row)

    def latest_plan(self, user_id: int) -> PlanRecord | None:
        with self._tx() as s:
            query = select(t.MealPlan).where(t.MealPlan.user_id == user_id)
            row = s.scalar(query.order_by(t.MealPlan.start_day.desc(), t.MealPlan.id.desc()).limit(1))
            return _plan(row) if row else None

    def add_plan_rating(
        self, user_id: int, plan_id: int, day_index: int, slot: str, recipe_id: str, rating: int, now: datetime
    ) -> None:
        if not 1 <= rating <= 5:
            raise ValueError(f"a rating is 1 to 5, not {rating}")
        with self._tx() as s:
            s.add(
                t.PlanRating(
                    user_id=user_id,
                    plan_id=plan_id,
                    day_index=day_index,
                    slot=slot,
                    recipe_id=recipe_id,
                    rating=rating,
                    created_at=now,
                )
            )

    def plan_ratings(self, user_id: int) -> list[PlanRating]:
        with self._tx() as s:
            query = select(t.PlanRating).where(t.PlanRating.user_id == user_id).order_by(t.PlanRating.id)
            return [
                PlanRating(r.id, r.user_id, r.plan_id, r.day_index, r.slot, r.recipe_id, r.rating, r.created_at)
                for r in s.scalars(query)
            ]

    def short_link(self, user_id: int, plan_id: int, provider: str, basis: str) -> ShortLink | None:
        with self._tx() as s:
            link = t.ShortLink
            query = select(link).where(
                link.user_id == user_id, link.plan_id == plan_id, link.provider == provider, link.basis == basis
            )
            row = s.scalar(query.order_by(link.created_at.desc()).limit(1))
            return _link(row) if row else None

    def add_short_link(
        self, user_id: int, plan_id: int, provider: str, target: str, basis: str, now: datetime
    ) -> ShortLink:
        with self._tx() as s:
            row = t.ShortLink(
                id=secrets.token_urlsafe(16),  # 128 random bits: unguessable, and names no one
                user_id=user_id,
                plan_id=plan_id,
                provider=provider,
                target=target,
                basis=basis,
                created_at=now,
            )
            s.add(row)
            s.flush()
            return _link(row)

    def get_short_link(self, link_id: str) -> ShortLink | None:
        with self._tx() as s:
            row = s.get(t.ShortLink, link_id)
            return _link(row) if row else None
