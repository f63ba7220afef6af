"""Meals, their items, each day's totals and corrections kept as labelled examples: `MealStore` and
`LabelledExampleStore` on SQL."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.storage.records import ITEM_FIELDS, DayTotals, ItemRecord, MealRecord
from bot.storage.sql import tables as t
from bot.storage.sql.engine import SqlBase, ensure_row, iso

_NUMERIC_TOTALS = ("kcal", "protein_g", "fat_g", "carbs_g")
_SUMS = (*_NUMERIC_TOTALS, "grams")
_ITEM_FIELDS = ITEM_FIELDS


def _item_dict(item: t.MealItem | ItemRecord) -> dict:
    return {k: getattr(item, k) for k in _ITEM_FIELDS}


def _meal(row: t.Meal) -> MealRecord:
    items = tuple(ItemRecord(**_item_dict(i)) for i in row.items)
    return MealRecord(row.id, row.user_id, row.day, items, row.kcal, row.protein_g, row.fat_g, row.carbs_g, row.grams)


def _add_to_day(s: Session, user_id: int, day: str, meal: t.Meal, sign: int) -> None:
    ensure_row(s, t.DailyTotal, user_id=user_id, day=day)
    total = t.DailyTotal
    values = {k: getattr(total, k) + sign * getattr(meal, k) for k in _NUMERIC_TOTALS}
    s.execute(
        update(total).where(total.user_id == user_id, total.day == day).values(meals=total.meals + sign, **values)
    )


def _totals(s: Session, user_id: int, day: str) -> DayTotals:
    row = s.get(t.DailyTotal, (user_id, day), populate_existing=True)
    if row is None:
        return DayTotals(day)
    # float sums drift (1e-13) after undo; nobody eats a negative calorie
    return DayTotals(day, row.meals, *(max(0.0, getattr(row, k)) for k in _NUMERIC_TOTALS))


def _latest(s: Session, user_id: int) -> t.Meal | None:
    query = select(t.Meal).where(t.Meal.user_id == user_id, t.Meal.deleted_at.is_(None))
    return s.scalar(query.order_by(t.Meal.eaten_at.desc(), t.Meal.id.desc()).limit(1))


class SqlMeals(SqlBase):
    def save_meal(self, message_id, user_id, day, eaten_at, items, models, photos, source="photo"):
        try:
            with self._tx() as s:
                existing = s.scalar(select(t.Meal).where(t.Meal.message_id == message_id))
                if existing is not None:
                    return _meal(existing), _totals(s, user_id, existing.day)
                sums = {k: sum(getattr(i, k) for i in items) for k in _SUMS}
                meal = t.Meal(
                    user_id=user_id,
                    message_id=message_id,
                    day=day,
                    eaten_at=eaten_at,
                    source=source,
                    models=models,
                    photos=photos,
                    items=[t.MealItem(**vars(i)) for i in items],
                    **sums,
                )
                s.add(meal)
                s.flush()
                _add_to_day(s, user_id, day, meal, sign=1)
                return _meal(meal), _totals(s, user_id, day)
        except IntegrityError:
            with self._tx() as s:
                existing = s.scalar(select(t.Meal).where(t.Meal.message_id == message_id))
                if existing is None:
                    raise
                return _meal(existing), _totals(s, user_id, existing.day)

    def undo_last_meal(self, user_id: int, now: datetime) -> MealRecord | None:
        with self._tx() as s:
            meal = _latest(s, user_id)
            if meal is None:
                return None
            meal.deleted_at = now
            _add_to_day(s, user_id, meal.day, meal, sign=-1)
            return _meal(meal)

    def day_totals(self, user_id: int, day: str) -> DayTotals:
        with self._tx() as s:
            return _totals(s, user_id, day)

    def meals(self, user_id: int, include_deleted: bool = False) -> list[MealRecord]:
        with self._tx() as s:
            query = select(t.Meal).where(t.Meal.user_id == user_id).order_by(t.Meal.id)
            if not include_deleted:
                query = query.where(t.Meal.deleted_at.is_(None))
            return [_meal(row) for row in s.scalars(query)]

    def last_meal(self, user_id: int) -> MealRecord | None:
        with self._tx() as s:
            row = _latest(s, user_id)
            return _meal(row) if row else None

    def correct_last_meal(self, user_id, index, replacement, example, now):
        with self._tx() as s:
            meal = _latest(s, user_id)
            if meal is None or not 0 <= index < len(meal.items):
                return None
            item = meal.items[index]
            before = ItemRecord(**_item_dict(item))
            photo = None
            if meal.source == "photo" and meal.photos and item.photo_index < len(meal.photos):
                photo = meal.photos[item.photo_index]
            output = {**_item_dict(item), "models": (meal.models or {}).get(str(item.photo_index))}
            s.add(
                t.LabelledExample(
                    user_id=user_id,
                    meal_id=meal.id,
                    kind=example["kind"],
                    source=meal.source,
                    photo=photo,
                    model_output=output,
                    corrected=example["corrected"],
                    created_at=now,
                )
            )
            _add_to_day(s, user_id, meal.day, meal, sign=-1)
            if replacement is None:
                meal.items.remove(item)
            else:
                for key, value in _item_dict(replacement).items():
                    setattr(item, key, value)
            s.flush()
            for key in _SUMS:
                setattr(meal, key, sum(getattr(i, key) for i in meal.items))
            if not meal.items:  # nothing left: the meal goes, as with undo
                meal.deleted_at = now
            else:
                _add_to_day(s, user_id, meal.day, meal, sign=1)
            s.flush()
            return _meal(meal), before, _totals(s, user_id, meal.day)

    def labelled_examples(self, user_id: int | None = None) -> list[dict]:
        with self._tx() as s:
            query = select(t.LabelledExample).order_by(t.LabelledExample.id)
            if user_id is not None:
                query = query.where(t.LabelledExample.user_id == user_id)
            columns = ("id", "user_id", "meal_id", "kind", "source", "photo", "model_output", "corrected", "created_at")
            return [{c: iso(getattr(row, c)) for c in columns} for row in s.scalars(query)]
